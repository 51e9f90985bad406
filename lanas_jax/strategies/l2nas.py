"""L2NAS (seed 003): DDPG with a quantile-regression critic, on any space with a relaxation.

Seed 003, "Our method": at step t the actor maps the state ``s_t`` to a continuous architecture
``alpha_t = mu(s_t) + z_t``, ``Discretize`` turns it into an architecture, the environment
evaluates it, keeps the top-K architectures seen ranked by accuracy and returns ``s_{t+1}`` =
the channel-wise average of the top-K encodings. ``(s, alpha, r)`` goes into an experience
replay buffer; the critic ``Q(alpha)`` is fitted with the check loss ``rho_tau(r - Q(alpha))``
(so it learns the tau-quantile, tau = 0.9 or 0.95, of the reward an action leads to) and the
actor is trained to maximise ``Q(mu(s))`` on replayed states.

The seed writes alpha as one score per op per edge of a DARTS cell. Here the actor acts in the
space's relaxed box: ``alpha`` in ``[-1, 1]^relax_dim`` (tanh), ``Discretize(alpha) =
space.discretise((alpha + 1) / 2)``, and the top-K state averages ``space.relax`` of the kept
architectures. On NAS-Bench-201 the relaxation is the 30-wide edge-major one-hot and
``discretise`` the per-edge argmax, which is the seed's method exactly. A table that names no
space (rows only) is relaxed by its features, which must then be one-hot groups of ``num_ops``.

Choices the seed leaves open (BUILD_NOTES.md, issue 7):

* **No target networks.** The critic is ``Q(alpha)`` alone (one query is one episode, no
  bootstrapped next-state value), so there is no moving regression target to stabilise.
* **``num_updates`` = 3 gradient steps** (Adam, lr 3e-3), each a critic step then an actor step,
  before every ask once ``num_random`` architectures were evaluated, on minibatches drawn with
  replacement from the replay ring buffer. These are structural rounds (one ask each after the
  warm-up, :meth:`L2NAS.schedule`): under ``vmap`` no seed pays for a branch it does not take.
* **Exploration**: ``z_t ~ N(0, 0.3^2)`` on the tanh-bounded actor output; the first
  ``num_random`` actions are uniform in ``[-1, 1]^D``.
* **Reward**: ``"normalized"`` (default) is the seed's transfer reward
  ``100^(Acc / Acc(Env)) / 100 - 1`` with ``Acc(Env)`` = ``params.acc_env`` when positive, else
  the best accuracy seen so far (rewards are recomputed from the stored accuracies at every
  update, so they stay consistent as that maximum grows); ``"accuracy"`` is the raw metric.
* **What counts as a query** (``repeats``). Discretize is many-to-one, so it can land on an
  architecture already evaluated (or pending, or outside a table). ``"unseen"`` (default): every
  query is new -- on a pool (a table) it is the unseen row with the largest total score
  ``relax(row) . alpha`` (what Discretize returns once the queried ones are removed); in an open
  domain the best-scoring new one-edit mutation of ``Discretize(alpha)`` among
  ``mutation_tries`` (else a uniformly random new one). ``state.repeats`` counts these. The
  replay buffer stores the action *repaired* to discretise to the architecture actually
  queried (:meth:`L2NAS.repair`), so the critic never learns a reward against an action that
  does not lead to it. ``"requery"``: the evaluated architecture is queried again and costs one
  query of the budget (it is not re-inserted into the top-K); the only strategy that breaks the
  archive's "never twice" rule, on purpose.

The defaults (noise 0.3, lr 3e-3, 3 updates per query) were chosen on nb201_cifar10 with 10 seeds
of master seed 0 (BUILD_NOTES.md); the seed paper gives no hyper-parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from lanas_jax import archive as archive_lib
from lanas_jax.domain import RowArch, RowSpace
from lanas_jax.strategies import l2nas_parts as parts
from lanas_jax.strategies.base import register
from lanas_jax.strategies.core import Segment, Strategy, select

REWARDS = ("normalized", "accuracy")
REPEAT_RULES = ("unseen", "requery")
#: Random architectures whose mean relaxation is the state of an open domain's empty top-K.
START_SAMPLES = 256
#: Bisection steps of the generic repair (num_ops = 0).
REPAIR_STEPS = 12


@struct.dataclass
class L2NASParams:
    """Numbers a user may vmap over."""

    tau: float = 0.9  # the critic's quantile (seed 003: 0.9 or 0.95)
    noise: float = 0.3  # std of the exploration noise z_t on the [-1, 1] actor output
    actor_lr: float = 3e-3
    critic_lr: float = 3e-3
    acc_env: float = 0.0  # Acc(Env) of the normalized reward; <= 0: best accuracy seen so far


@struct.dataclass
class Agent:
    """The learned part of an L2NAS state: what seed 003's transfer carries to a new task."""

    actor: Any
    critic: Any
    actor_opt: Any  # optax Adam state of the actor
    critic_opt: Any  # optax Adam state of the critic


@struct.dataclass
class WarmL2NASParams(L2NASParams):
    """:class:`L2NASParams` plus a pre-trained :class:`Agent` the search starts from (seed 003,
    Transferability); vmap it over seeds to give each seed its own agent."""

    agent: Agent | None = None


@struct.dataclass
class L2NASState:
    top: parts.TopK  # the environment's top-K
    start: jax.Array  # [D] the state while the top-K is empty: the domain's mean relaxation
    replay: parts.Replay
    agent: Agent
    obs: jax.Array  # [B, D] the state each proposal of the batch in flight was made in
    action: jax.Array  # [B, D] its action, repaired to discretise to the proposal
    requeried: jax.Array  # [B] bool, the proposal had been evaluated (requery rule)
    slot: jax.Array  # () int32, the batch position of the next proposal
    repeats: jax.Array  # () times Discretize(alpha) was not a new architecture


_ADAM = optax.scale_by_adam()


def _adam_step(grads, opt_state, params, lr):
    updates, opt_state = _ADAM.update(grads, opt_state, params)
    return jax.tree.map(lambda p, u: p - lr * u, params, updates), opt_state


@register("l2nas")
@dataclasses.dataclass(frozen=True)
class L2NAS(Strategy):
    """L2NAS (seed 003) in the relaxed box of the domain's space (see the module doc).

    Attributes:
      top_k: K, architectures the environment keeps; the state is their mean relaxation.
      hidden: hidden widths of the actor and of the critic MLPs.
      replay_batch_size: replayed transitions per gradient step (``batch_size`` before the
        architecture protocol, whose ``batch_size`` is architectures per ask).
      num_updates: gradient steps (critic, then actor) before every ask after the warm-up.
      buffer_size: replay capacity (a ring buffer; the oldest transition is overwritten).
      num_random: initial uniformly random actions before the networks are trained.
      num_ops: the relaxation is one-hot groups of ``num_ops`` (5 ops per edge on
        NAS-Bench-201): the repair swaps scores within a group, and a rows-only table is
        discretised per group. 0: any relaxation; the repair is a line search (module doc).
      reward: ``"normalized"`` or ``"accuracy"`` (module doc).
      repeats: ``"unseen"`` or ``"requery"`` (module doc).
      mutation_tries: open domains: mutations of ``Discretize(alpha)`` scored per repeat.
    """

    top_k: int = 10
    hidden: tuple[int, ...] = (64, 64)
    replay_batch_size: int = 32
    num_updates: int = 3
    buffer_size: int = 1000
    num_random: int = 10
    num_ops: int = 5
    reward: str = "normalized"
    repeats: str = "unseen"
    mutation_tries: int = 32

    has_rounds = True

    def default_params(self) -> L2NASParams:
        return L2NASParams()

    def validate(self, domain, budget: int) -> None:
        for name in ("top_k", "replay_batch_size", "num_updates", "buffer_size",
                     "mutation_tries"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_random < 0 or self.num_ops < 0:
            raise ValueError(f"num_random and num_ops must be >= 0, got {self.num_random}, "
                             f"{self.num_ops}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must be positive widths, got {self.hidden}")
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {self.reward!r}")
        if self.repeats not in REPEAT_RULES:
            raise ValueError(f"repeats must be one of {REPEAT_RULES}, got {self.repeats!r}")
        space = domain.space
        if isinstance(space, RowSpace):
            if self.num_ops == 0:
                raise ValueError("l2nas on a table that names no space relaxes its features as "
                                 "one-hot groups: num_ops must be > 0")
            parts.check_one_hot_cells(domain.features, self.num_ops, "l2nas")
            return
        if space.relax_dim < 1:
            raise ValueError(f"l2nas acts in the space's relaxed box; the {space.name} space "
                             "has no relaxation (relax_dim 0)")
        if self.num_ops:
            try:
                parts.check_one_hot_cells(self._host_points(domain), self.num_ops, "l2nas")
            except ValueError as e:
                raise ValueError(f"{e}; on the {space.name} space set num_ops=0 (a relaxation "
                                 "that is not one-hot groups of equal size)") from e

    def _host_points(self, domain) -> np.ndarray:
        """Relaxed points to check the one-hot grouping on: the pool, or space samples (host;
        computed eagerly even when the search is built inside an outer trace)."""
        with jax.ensure_compile_time_eval():
            archs = domain.archs if domain.is_pool else jax.vmap(domain.space.sample)(
                jax.random.split(jax.random.key(0), START_SAMPLES))
            return np.asarray(jax.vmap(domain.space.relax)(archs))

    # -- the relaxation of the domain ---------------------------------------------------------
    def dim(self, domain) -> int:
        if isinstance(domain.space, RowSpace):
            return int(domain.features.shape[1])
        return int(domain.space.relax_dim)

    def relax(self, domain, arch) -> jax.Array:
        """``arch`` as a point of ``[0, 1]^D`` (a rows-only table: its features)."""
        if isinstance(domain.space, RowSpace):
            return domain.features[arch.row]
        return domain.space.relax(arch)

    def discretise(self, domain, alpha: jax.Array):
        """``(Discretize(alpha), ok)`` for an action in ``[-1, 1]^D``; ``ok`` is False where a
        rows-only table lacks the discretised cell."""
        if isinstance(domain.space, RowSpace):
            cell = parts.discretize(alpha, self.num_ops)
            match = domain.features @ cell
            row = jnp.argmax(match).astype(jnp.int32)
            return RowArch(row), match[row] == jnp.sum(cell)
        return domain.space.discretise((alpha + 1.0) / 2.0), jnp.ones((), bool)

    def same(self, domain, a, b) -> jax.Array:
        if isinstance(domain.space, RowSpace):
            return a.row == b.row
        return domain.space.same(a, b)

    def repair(self, domain, alpha: jax.Array, arch) -> jax.Array:
        """The action closest to ``alpha`` that discretises to ``arch``.

        One-hot groups (``num_ops > 0``): on every group whose argmax differs from ``arch``'s
        choice the two scores are swapped (:func:`l2nas_parts.repair`). Otherwise: the point
        nearest ``alpha`` on the segment to ``arch``'s vertex ``2 relax(arch) - 1`` that
        discretises to ``arch`` (bisection; the vertex itself always does, since
        ``discretise(relax(a)) == a``)."""
        target = self.relax(domain, arch)
        if self.num_ops:
            return parts.repair(alpha, target, self.num_ops)
        vertex = 2.0 * target - 1.0

        def lands(t):
            got, _ = self.discretise(domain, (1.0 - t) * alpha + t * vertex)
            return self.same(domain, got, arch)

        def step(_, lo_hi):
            lo, hi = lo_hi
            mid = (lo + hi) / 2
            ok = lands(mid)
            return jnp.where(ok, lo, mid), jnp.where(ok, mid, hi)

        _, t = jax.lax.fori_loop(0, REPAIR_STEPS, step, (jnp.float32(0.0), jnp.float32(1.0)))
        t = jnp.where(lands(jnp.float32(0.0)), 0.0, t)
        return (1.0 - t) * alpha + t * vertex

    # -- the protocol ---------------------------------------------------------------------------
    def _nets(self, dim: int):
        return parts.Actor(tuple(self.hidden), dim), parts.Critic(tuple(self.hidden))

    def _init(self, key, domain, budget, params):
        actor_key, critic_key, start_key = jax.random.split(key, 3)
        dim = self.dim(domain)
        actor, critic = self._nets(dim)
        x = jnp.zeros((dim,), jnp.float32)
        if isinstance(params, WarmL2NASParams) and params.agent is not None:
            agent = params.agent
        else:
            actor_params = actor.init(actor_key, x)
            critic_params = critic.init(critic_key, x)
            agent = Agent(actor_params, critic_params, _ADAM.init(actor_params),
                          _ADAM.init(critic_params))
        if domain.is_pool:
            start = jnp.mean(jax.vmap(lambda a: self.relax(domain, a))(domain.archs), 0)
        else:
            samples = jax.vmap(domain.space.sample)(jax.random.split(start_key, START_SAMPLES))
            start = jnp.mean(jax.vmap(domain.space.relax)(samples), 0)
        batch = jnp.zeros((self.batch_size, dim), jnp.float32)
        return L2NASState(
            top=parts.topk_empty(self.top_k, dim),
            start=start.astype(jnp.float32),
            replay=parts.replay_empty(self.buffer_size, dim),
            agent=agent,
            obs=batch,
            action=batch,
            requeried=jnp.zeros((self.batch_size,), bool),
            slot=jnp.zeros((), jnp.int32),
            repeats=jnp.zeros((), jnp.int32),
        )

    def act(self, key, state, domain, params) -> tuple[jax.Array, jax.Array]:
        """``(s_t, alpha_t)``: the state and the noisy (or, during warm-up, random) action."""
        noise_key, random_key = jax.random.split(key)
        inner = state.inner
        actor, _ = self._nets(self.dim(domain))
        obs = parts.topk_state(inner.top, inner.start)
        mu = actor.apply(inner.agent.actor, obs)
        alpha = mu + params.noise * jax.random.normal(noise_key, mu.shape)
        uniform = jax.random.uniform(random_key, mu.shape, minval=-1.0, maxval=1.0)
        return obs, jnp.where(state.archive.count < self.num_random, uniform, alpha)

    def _best_new(self, key, state, domain, raw, alpha):
        """The new architecture with the largest total score ``relax . alpha`` (module doc)."""
        if domain.is_pool:
            points = jax.vmap(lambda a: self.relax(domain, a))(domain.archs)
            score = jnp.where(archive_lib.unseen_rows(state.archive), points @ alpha, -jnp.inf)
            return domain.arch(jnp.argmax(score).astype(jnp.int32))
        mut_key, rand_key = jax.random.split(key)
        children = jax.vmap(domain.mutate, in_axes=(0, None))(
            jax.random.split(mut_key, self.mutation_tries), raw)
        new = jax.vmap(lambda a: archive_lib.is_new(state.archive, domain, a))(children)
        score = jax.vmap(domain.space.relax)(children) @ alpha
        best = jax.tree.map(lambda a: a[jnp.argmax(jnp.where(new, score, -jnp.inf))], children)
        return select(jnp.any(new), best, self.propose_new(rand_key, state, domain))

    def _ask_one(self, key, state, domain, params):
        act_key, new_key = jax.random.split(key)
        obs, alpha = self.act(act_key, state, domain, params)
        raw, ok = self.discretise(domain, alpha)
        evaluated = ok & archive_lib.is_evaluated(state.archive, domain, raw)
        keep = ok & archive_lib.is_new(state.archive, domain, raw)
        if self.repeats == "requery":
            keep = keep | evaluated
        arch = select(keep, raw, self._best_new(new_key, state, domain, raw, alpha))
        inner = state.inner
        slot = inner.slot
        inner = inner.replace(
            obs=inner.obs.at[slot].set(obs),
            action=inner.action.at[slot].set(self.repair(domain, alpha, arch)),
            requeried=inner.requeried.at[slot].set(keep & evaluated),
            slot=(slot + 1) % self.batch_size,
            repeats=inner.repeats + (~keep | evaluated).astype(jnp.int32),
        )
        return arch, state.replace(inner=inner)

    def _tell(self, state, archs, values, domain, params):
        def one(inner, item):
            arch, value, obs, action, requeried = item
            inserted = parts.topk_insert(inner.top, self.relax(domain, arch), value)
            top = jax.tree.map(lambda a, b: jnp.where(requeried, b, a), inserted, inner.top)
            replay = parts.replay_add(inner.replay, obs, action, value)
            return inner.replace(top=top, replay=replay), None

        inner = state.inner
        inner, _ = jax.lax.scan(
            one, inner, (archs, values, inner.obs, inner.action, inner.requeried))
        return state.replace(inner=inner)

    # -- training rounds ------------------------------------------------------------------------
    def _first_round(self) -> int:
        """Evaluations before the first training round (at least one: nothing to replay)."""
        return max(self.num_random, 1)

    def round_due(self, count: jax.Array) -> jax.Array:
        return count >= self._first_round()

    def schedule(self, budget: int) -> tuple[Segment, ...]:
        asks = budget // self.batch_size
        warm = min(-(-self._first_round() // self.batch_size), asks)
        segments = (Segment(warm, 1, False),) if warm else ()
        return segments + ((Segment(asks - warm, 1, True),) if asks > warm else ())

    def _begin_round(self, key, state, domain, params):
        keys = jax.random.split(key, self.num_updates)
        inner = jax.lax.fori_loop(
            0, self.num_updates, lambda i, s: self.update(keys[i], s, domain, params),
            state.inner)
        return state.replace(inner=inner)

    def rewards(self, values: jax.Array, inner: L2NASState, params) -> jax.Array:
        """The reward of stored accuracies under the current ``Acc(Env)``."""
        if self.reward == "accuracy":
            return values
        best = jnp.max(inner.top.value)
        acc_env = jnp.where(params.acc_env > 0, params.acc_env, best)
        return parts.normalized_reward(values, acc_env)

    def update(self, key, inner: L2NASState, domain, params) -> L2NASState:
        """One critic step (check loss) then one actor step (maximise Q(mu(s)))."""
        actor, critic = self._nets(self.dim(domain))
        obs, action, value = parts.replay_sample(key, inner.replay, self.replay_batch_size)
        reward = self.rewards(value, inner, params)
        agent = inner.agent

        def critic_loss(cp):
            return jnp.mean(parts.check_loss(reward - critic.apply(cp, action), params.tau))

        def actor_loss(ap, cp):
            return -jnp.mean(critic.apply(cp, actor.apply(ap, obs)))

        grads = jax.grad(critic_loss)(agent.critic)
        critic_params, critic_opt = _adam_step(grads, agent.critic_opt, agent.critic,
                                               params.critic_lr)
        grads = jax.grad(actor_loss)(agent.actor, critic_params)
        actor_params, actor_opt = _adam_step(grads, agent.actor_opt, agent.actor,
                                             params.actor_lr)
        return inner.replace(agent=Agent(actor_params, critic_params, actor_opt, critic_opt))
