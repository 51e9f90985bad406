"""REINFORCE (Williams 1992) with a per-token categorical policy, as NAS-Bench-201's baseline.

Dong & Yang 2020 (NAS-Bench-201, Sec. 5 / App.; seed 003's table row "REINFORCE [12]"): the
policy is one logit vector per edge, ``theta [E, O]`` initialised to ``1e-3 * N(0, 1)``; a cell
is sampled op by op from ``softmax(theta[e])``; after it is evaluated, ``theta`` takes one Adam
step (lr 0.001) on ``-log pi(cell) * (r - b)`` where ``r`` is the validation accuracy in percent
and ``b`` an exponential moving average of the rewards (momentum 0.9, bias-corrected, updated
with ``r`` before the advantage is formed). Those numbers are NAS-Bench-201's published script
settings; the reported architecture is the best one by validation accuracy, as there.

Any space: the policy is one logit vector per token position of the space (``vocab_sizes``,
``tokens``, ``from_tokens``), ``theta [T, max vocab]`` with the entries past a position's vocab
masked out. On NAS-Bench-201 the tokens are the 6 edges' op ids, so this is the method above. A
table that names no space is read as tokens when its features are one-hot groups of ``num_ops``
columns (one token per group), as NAS-Bench-201's 30-d encoding is.

What counts as a query (``repeats``), the same rule as L2NAS (``l2nas.py``): a sample is the
per-position argmax of ``theta + Gumbel`` noise. ``"unseen"`` (default): when that architecture
is not new (the archive holds it as evaluated or pending, or a table lacks it), the proposal is,
on a pool, the unseen row with the largest perturbed score ``sum_t (theta + g)[t, token_t]``
(perturb-and-MAP restricted to the unseen rows) and, on an open domain, the first new one of
fresh policy samples (the policy conditioned on new architectures; a uniform new one if
:data:`~lanas_jax.strategies.core.MAX_OPEN_TRIES` samples all repeat); ``state.inner.repeats``
counts these. The gradient uses the log-probability of the architecture actually proposed.
``"requery"``: the repeated architecture is proposed again, costing one query, as
NAS-Bench-201's own loop does (the only strategy option that proposes a non-new architecture).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from lanas_jax import archive as archive_lib
from lanas_jax.domain import Domain, RowSpace
from lanas_jax.strategies import l2nas_parts as parts
from lanas_jax.strategies.base import register
from lanas_jax.strategies.core import MAX_OPEN_TRIES, Strategy, select

REPEAT_RULES = ("unseen", "requery")
_MASKED = -1e9  # logit of a token value outside its position's vocab


@struct.dataclass
class ReinforceParams:
    """Numbers a user may vmap over (defaults: NAS-Bench-201's REINFORCE.sh)."""

    learning_rate: float = 1e-3
    ema_momentum: float = 0.9
    reward_scale: float = 100.0  # reward = reward_scale * metric (percent for accuracies)


@struct.dataclass
class ReinforceState:
    logits: jax.Array  # [T, V] the policy theta
    opt: optax.OptState  # Adam state of theta
    ema_num: jax.Array  # () baseline numerator (momentum-weighted sum of rewards)
    ema_den: jax.Array  # () baseline denominator (bias correction)
    repeats: jax.Array  # () times the policy's sample was not a new architecture


_ADAM = optax.scale_by_adam()


def log_prob(logits: jax.Array, tokens: jax.Array) -> jax.Array:
    """``log pi(tokens)`` of a token sequence ``[T]`` under per-position softmaxes of
    ``logits [T, V]``."""
    logp = jax.nn.log_softmax(logits, -1)
    return jnp.sum(jnp.take_along_axis(logp, tokens[:, None].astype(jnp.int32), -1))


def _reads_features(domain: Domain) -> bool:
    """Whether the tokens are read off one-hot feature groups (a table naming no space)."""
    return domain.is_pool and (isinstance(domain.space, RowSpace)
                               or not domain.space.vocab_sizes)


@register("reinforce")
@dataclasses.dataclass(frozen=True)
class Reinforce(Strategy):
    """NAS-Bench-201's REINFORCE over any space with tokens (see the module doc).

    Attributes:
      num_ops: a table that names no space: the width of one one-hot feature group (one token).
      repeats: one of :data:`REPEAT_RULES`.
    """

    num_ops: int = 5
    repeats: str = "unseen"

    def default_params(self) -> ReinforceParams:
        return ReinforceParams()

    def validate(self, domain: Domain, budget: int) -> None:
        if self.repeats not in REPEAT_RULES:
            raise ValueError(f"repeats must be one of {REPEAT_RULES}, got {self.repeats!r}")
        if _reads_features(domain):
            parts.check_one_hot_cells(domain.features, self.num_ops, "reinforce")
        elif not domain.space.vocab_sizes:
            raise ValueError(f"reinforce samples token sequences: the {domain.space.name} "
                             "space defines no tokens (vocab_sizes)")

    # -- the token view of a domain --------------------------------------------------------------
    def _vocab(self, domain: Domain) -> tuple[int, ...]:
        if _reads_features(domain):
            return (self.num_ops,) * (domain.features.shape[1] // self.num_ops)
        return tuple(domain.space.vocab_sizes)

    def _valid(self, domain: Domain) -> np.ndarray:
        vocab = self._vocab(domain)
        return np.arange(max(vocab))[None, :] < np.asarray(vocab)[:, None]

    def _tokens(self, domain: Domain, arch) -> jax.Array:
        if _reads_features(domain):
            return jnp.argmax(domain.feature(arch).reshape(-1, self.num_ops), -1)
        return domain.space.tokens(arch).astype(jnp.int32)

    def _policy(self, logits: jax.Array, domain: Domain) -> jax.Array:
        return jnp.where(self._valid(domain), logits, _MASKED)

    # -- the strategy ----------------------------------------------------------------------------
    def _init(self, key, domain, budget, params):
        logits = 1e-3 * jax.random.normal(key, self._valid(domain).shape)
        zero = jnp.zeros((), jnp.float32)
        return ReinforceState(logits=logits, opt=_ADAM.init(logits), ema_num=zero,
                              ema_den=zero, repeats=jnp.zeros((), jnp.int32))

    def _sample(self, key, policy):
        scores = policy + jax.random.gumbel(key, policy.shape)
        return jnp.argmax(scores, -1).astype(jnp.int32), scores

    def _ask_one(self, key, state, domain, params):
        sample_key, retry_key = jax.random.split(key)
        inner = state.inner
        policy = self._policy(inner.logits, domain)
        tokens, scores = self._sample(sample_key, policy)
        if domain.is_pool:
            arch, repeated = self._pool_proposal(state, domain, tokens, scores)
        else:
            arch = domain.space.from_tokens(tokens)
            repeated = ~archive_lib.is_new(state.archive, domain, arch)
            if self.repeats == "unseen":
                arch = select(repeated, self._resample(retry_key, state, domain, policy), arch)
        inner = inner.replace(repeats=inner.repeats + repeated)
        return arch, state.replace(inner=inner)

    def _pool_proposal(self, state, domain, tokens, scores):
        """(proposal, whether the sample was not new): a sample the pool lacks is replaced
        under either rule."""
        pool_tokens = jax.vmap(lambda a: self._tokens(domain, a))(domain.archs)  # [N, T]
        match = jnp.all(pool_tokens == tokens, -1)
        found = jnp.any(match)
        raw = jnp.argmax(match)
        unseen = archive_lib.unseen_rows(state.archive)
        repeated = ~(found & unseen[raw])
        total = jnp.sum(jnp.take_along_axis(scores, pool_tokens.T, 1), 0)  # [N]
        best_unseen = jnp.argmax(jnp.where(unseen, total, -jnp.inf))
        keep = found if self.repeats == "requery" else ~repeated
        return domain.arch(jnp.where(keep, raw, best_unseen)), repeated

    def _resample(self, key, state, domain, policy):
        """Open domain: the first new architecture among fresh policy samples."""

        def cond(c):
            i, _, arch = c
            return (i < MAX_OPEN_TRIES) & ~archive_lib.is_new(state.archive, domain, arch)

        def body(c):
            i, k, _ = c
            k, sub = jax.random.split(k)
            return i + 1, k, domain.space.from_tokens(self._sample(sub, policy)[0])

        first, loop, uniform = jax.random.split(key, 3)
        _, _, arch = jax.lax.while_loop(
            cond, body, (0, loop, domain.space.from_tokens(self._sample(first, policy)[0])))
        fallback = self.propose_new(uniform, state, domain)
        return select(archive_lib.is_new(state.archive, domain, arch), arch, fallback)

    def _tell(self, state, archs, values, domain, params):
        first = state.archive.count - values.shape[0]  # archive slot of the batch's first

        def one(inner, item):
            arch, value, slot = item
            reward = params.reward_scale * value
            m = params.ema_momentum
            ema_num = m * inner.ema_num + (1 - m) * reward
            ema_den = m * inner.ema_den + (1 - m)
            # On the first reward the bias-corrected baseline equals it: the advantage is
            # exactly 0 (in floats a rounding residue, which Adam would scale to a full step).
            advantage = jnp.where(slot == 0, 0.0, reward - ema_num / ema_den)
            tokens = self._tokens(domain, arch)
            grads = jax.grad(
                lambda th: -log_prob(self._policy(th, domain), tokens) * advantage)(inner.logits)
            updates, opt = _ADAM.update(grads, inner.opt, inner.logits)
            return inner.replace(logits=inner.logits - params.learning_rate * updates, opt=opt,
                                 ema_num=ema_num, ema_den=ema_den), None

        slots = first + jnp.arange(values.shape[0])
        inner, _ = jax.lax.scan(one, state.inner, (archs, values, slots))
        return state.replace(inner=inner)
