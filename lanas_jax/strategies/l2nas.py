"""L2NAS (seed 003): DDPG with a quantile-regression critic, as an init/ask/tell strategy.

Seed 003, "Our method": at step t the actor maps the state ``s_t`` to a continuous architecture
``alpha_t = mu(s_t) + z_t`` (one score per op per edge), ``Discretize`` takes the argmax op of
every edge, the environment evaluates that cell, keeps the top-K cells seen ranked by accuracy
and returns ``s_{t+1}`` = the channel-wise average of the top-K one-hots. ``(s, alpha, r)`` goes
into an experience replay buffer; the critic ``Q(alpha)`` is fitted with the check loss
``rho_tau(r - Q(alpha))`` (so it learns the tau-quantile, tau = 0.9 or 0.95, of the reward an
action leads to) and the actor is trained to maximise ``Q(mu(s))`` on replayed states.

Choices the seed leaves open (BUILD_NOTES.md, issue 7):

* **No target networks.** The critic is ``Q(alpha)`` alone (one query is one episode, no
  bootstrapped next-state value), so there is no moving regression target to stabilise.
* **``num_updates`` = 3 gradient steps** (Adam, lr 3e-3), each a critic step then an actor step,
  after every query from query ``num_random`` on, on minibatches drawn with replacement from the
  replay ring buffer.
* **Exploration**: ``z_t ~ N(0, 0.3^2)`` on the tanh-bounded actor output; the first
  ``num_random`` actions are uniform in ``[-1, 1]^D`` (a uniformly random cell).
* **Reward**: ``"normalized"`` (default) is the seed's transfer reward
  ``100^(Acc / Acc(Env)) / 100 - 1`` with ``Acc(Env)`` = ``params.acc_env`` when positive, else
  the best accuracy seen so far (rewards are recomputed from the stored accuracies at every
  update, so they stay consistent as that maximum grows); ``"accuracy"`` is the raw metric.
* **What counts as a query** (``repeats``). Discretize is many-to-one, so it can land on a cell
  already evaluated. ``"unseen"`` (default): every query is a distinct cell -- when
  ``Discretize(alpha)`` was already queried, the query is the unseen cell with the largest
  ``sum_e alpha[e, op_e]`` (what Discretize returns once the queried cells are removed), and
  ``state.repeats`` counts how often that happened; the replay buffer then stores the action
  *repaired* to discretise to the cell actually queried (``l2nas_parts.repair``), so the critic
  never learns a reward against an action that does not lead to it. ``"requery"``: the
  repeated cell is queried again and costs one query of the budget (it is not re-inserted into
  the top-K).

The defaults (noise 0.3, lr 3e-3, 3 updates per query) were chosen on nb201_cifar10 with 10 seeds
of master seed 0 (BUILD_NOTES.md); the seed paper gives no hyper-parameters.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from lanas_jax.strategies import l2nas_parts as parts
from lanas_jax.strategies.base import TableStrategy, register

REWARDS = ("normalized", "accuracy")
REPEAT_RULES = ("unseen", "requery")


@struct.dataclass
class L2NASParams:
    """Numbers a user may vmap over."""

    tau: float = 0.9  # the critic's quantile (seed 003: 0.9 or 0.95)
    noise: float = 0.3  # std of the exploration noise z_t on the [-1, 1] actor output
    actor_lr: float = 3e-3
    critic_lr: float = 3e-3
    acc_env: float = 0.0  # Acc(Env) of the normalized reward; <= 0: best accuracy seen so far


@struct.dataclass
class L2NASState:
    seen: jax.Array  # [N] bool
    top: parts.TopK  # the environment's top-K
    replay: parts.Replay
    actor: Any  # actor parameters
    critic: Any  # critic parameters
    actor_opt: Any  # optax Adam state of the actor
    critic_opt: Any  # optax Adam state of the critic
    obs: jax.Array  # [D] the state s_t the last action was taken in
    action: jax.Array  # [D] the last action alpha_t (noisy)
    update_key: jax.Array  # key of the next update's minibatch, drawn by ask from its key
    count: jax.Array  # () queries told
    repeats: jax.Array  # () times Discretize(alpha) landed on an already-queried cell


_ADAM = optax.scale_by_adam()


def _adam_step(grads, opt_state, params, lr):
    updates, opt_state = _ADAM.update(grads, opt_state, params)
    return jax.tree.map(lambda p, u: p - lr * u, params, updates), opt_state


@register("l2nas")
@dataclasses.dataclass(frozen=True)
class L2NAS(TableStrategy):
    """L2NAS (seed 003) over a table of one-hot cells (``num_ops`` ops per edge).

    Attributes:
      top_k: K, architectures the environment keeps; the state is their mean one-hot.
      hidden: hidden widths of the actor and of the critic MLPs.
      batch_size: replayed transitions per gradient step.
      num_updates: gradient steps (critic, then actor) after every query.
      buffer_size: replay capacity (a ring buffer; the oldest transition is overwritten).
      num_random: initial uniformly random actions before the networks are trained.
      num_ops: ops per edge (5 on NAS-Bench-201).
      reward: ``"normalized"`` or ``"accuracy"`` (module doc).
      repeats: ``"unseen"`` or ``"requery"`` (module doc).
    """

    top_k: int = 10
    hidden: tuple[int, ...] = (64, 64)
    batch_size: int = 32
    num_updates: int = 3
    buffer_size: int = 1000
    num_random: int = 10
    num_ops: int = 5
    reward: str = "normalized"
    repeats: str = "unseen"

    def default_params(self) -> L2NASParams:
        return L2NASParams()

    def validate(self, bench, budget: int) -> None:
        for name in ("top_k", "batch_size", "num_updates", "buffer_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_random < 0:
            raise ValueError(f"num_random must be >= 0, got {self.num_random}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must be positive widths, got {self.hidden}")
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {self.reward!r}")
        if self.repeats not in REPEAT_RULES:
            raise ValueError(f"repeats must be one of {REPEAT_RULES}, got {self.repeats!r}")
        parts.check_one_hot_cells(bench.features, self.num_ops, "l2nas")

    def _nets(self, dim: int):
        return parts.Actor(tuple(self.hidden), dim), parts.Critic(tuple(self.hidden))

    @functools.partial(jax.jit, static_argnums=(0, 3))
    def init(self, key, bench, budget, params):
        actor_key, critic_key = jax.random.split(key)
        dim = bench.dim
        actor, critic = self._nets(dim)
        x = jnp.zeros((dim,), jnp.float32)
        actor_params = actor.init(actor_key, x)
        critic_params = critic.init(critic_key, x)
        return L2NASState(
            seen=jnp.zeros((bench.size,), bool),
            top=parts.topk_empty(self.top_k),
            replay=parts.replay_empty(self.buffer_size, dim),
            actor=actor_params,
            critic=critic_params,
            actor_opt=_ADAM.init(actor_params),
            critic_opt=_ADAM.init(critic_params),
            obs=x,
            action=x,
            update_key=jax.random.key(0),
            count=jnp.zeros((), jnp.int32),
            repeats=jnp.zeros((), jnp.int32),
        )

    def with_networks(self, state: L2NASState, source: L2NASState) -> L2NASState:
        """``state`` with the actor, the critic and their optimiser states of ``source``.

        Seed 003 (Transferability): a search on a new dataset starts from an agent pre-trained on
        another; its environment (top-K, seen cells) and replay buffer start empty.
        """
        return state.replace(
            actor=source.actor,
            critic=source.critic,
            actor_opt=source.actor_opt,
            critic_opt=source.critic_opt,
        )

    def act(self, key, state: L2NASState, bench, params) -> tuple[jax.Array, jax.Array]:
        """``(s_t, alpha_t)``: the state and the noisy (or, during warm-up, random) action."""
        noise_key, random_key = jax.random.split(key)
        actor, _ = self._nets(bench.dim)
        obs = parts.topk_state(state.top, bench.features, self.num_ops)
        mu = actor.apply(state.actor, obs)
        alpha = mu + params.noise * jax.random.normal(noise_key, mu.shape)
        uniform = jax.random.uniform(random_key, mu.shape, minval=-1.0, maxval=1.0)
        return obs, jnp.where(state.count < self.num_random, uniform, alpha)

    @functools.partial(jax.jit, static_argnums=0)
    def ask(self, key, state, bench, params):
        act_key, update_key = jax.random.split(key)
        obs, alpha = self.act(act_key, state, bench, params)
        raw, unseen = parts.propose(alpha, state.seen, bench.features, self.num_ops)
        repeated = state.seen[raw]
        index = raw if self.repeats == "requery" else jnp.where(repeated, unseen, raw)
        state = state.replace(
            obs=obs, action=alpha, update_key=update_key, repeats=state.repeats + repeated
        )
        return index.astype(jnp.int32), state

    def rewards(self, values: jax.Array, state: L2NASState, params) -> jax.Array:
        """The reward of stored accuracies under the current ``Acc(Env)``."""
        if self.reward == "accuracy":
            return values
        best = jnp.max(state.top.value)
        acc_env = jnp.where(params.acc_env > 0, params.acc_env, best)
        return parts.normalized_reward(values, acc_env)

    def update(self, key, state: L2NASState, bench, params) -> L2NASState:
        """One critic step (check loss) then one actor step (maximise Q(mu(s)))."""
        actor, critic = self._nets(bench.dim)
        obs, action, value = parts.replay_sample(key, state.replay, self.batch_size)
        reward = self.rewards(value, state, params)

        def critic_loss(cp):
            return jnp.mean(parts.check_loss(reward - critic.apply(cp, action), params.tau))

        def actor_loss(ap, cp):
            return -jnp.mean(critic.apply(cp, actor.apply(ap, obs)))

        grads = jax.grad(critic_loss)(state.critic)
        critic_params, critic_opt = _adam_step(
            grads, state.critic_opt, state.critic, params.critic_lr
        )
        grads = jax.grad(actor_loss)(state.actor, critic_params)
        actor_params, actor_opt = _adam_step(grads, state.actor_opt, state.actor, params.actor_lr)
        return state.replace(
            actor=actor_params, critic=critic_params, actor_opt=actor_opt, critic_opt=critic_opt
        )

    @functools.partial(jax.jit, static_argnums=0)
    def tell(self, state, index, value, bench, params):
        new = ~state.seen[index]
        action = parts.repair(state.action, bench.features[index], self.num_ops)
        inserted = parts.topk_insert(state.top, index, value)
        top = jax.tree.map(lambda a, b: jnp.where(new, a, b), inserted, state.top)
        state = state.replace(
            seen=state.seen.at[index].set(True),
            top=top,
            replay=parts.replay_add(state.replay, state.obs, action, value),
            count=state.count + 1,
        )

        # The count is the same for every vmapped seed, so the cond stays a real branch.
        def train(s):
            keys = jax.random.split(s.update_key, self.num_updates)
            return jax.lax.fori_loop(
                0, self.num_updates, lambda i, s: self.update(keys[i], s, bench, params), s
            )

        return jax.lax.cond(
            state.count >= self.num_random,
            train,
            lambda s: s,
            state,
        )
