"""REINFORCE (Williams 1992) with a per-edge categorical policy, as NAS-Bench-201's baseline.

Dong & Yang 2020 (NAS-Bench-201, Sec. 5 / App.; seed 003's table row "REINFORCE [12]"): the
policy is one logit vector per edge, ``theta [E, O]`` initialised to ``1e-3 * N(0, 1)``; a cell
is sampled op by op from ``softmax(theta[e])``; after it is evaluated, ``theta`` takes one Adam
step (lr 0.001) on ``-log pi(cell) * (r - b)`` where ``r`` is the validation accuracy in percent
and ``b`` an exponential moving average of the rewards (momentum 0.9, bias-corrected, updated
with ``r`` before the advantage is formed). Those numbers are NAS-Bench-201's published script
settings; the reported architecture is the best one by validation accuracy, as there.

What counts as a query (``repeats``), the same rule as L2NAS (``l2nas.py``): a sample is the
per-edge argmax of ``theta + Gumbel`` noise. ``"unseen"`` (default): when that cell was already
queried, the query is the unseen cell with the largest perturbed score ``sum_e g[e, op_e]``
(perturb-and-MAP restricted to the unseen cells) and ``state.repeats`` counts it; the gradient
uses the log-probability of the cell actually queried. ``"requery"``: the repeated cell is
queried again, costing one query, as NAS-Bench-201's own loop does.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax
from flax import struct

from lanas_jax.strategies import l2nas_parts as parts
from lanas_jax.strategies.base import TableStrategy, register

REPEAT_RULES = ("unseen", "requery")


@struct.dataclass
class ReinforceParams:
    """Numbers a user may vmap over (defaults: NAS-Bench-201's REINFORCE.sh)."""

    learning_rate: float = 1e-3
    ema_momentum: float = 0.9
    reward_scale: float = 100.0  # reward = reward_scale * metric (percent for accuracies)


@struct.dataclass
class ReinforceState:
    seen: jax.Array  # [N] bool
    logits: jax.Array  # [E, O] the policy theta
    opt: optax.OptState  # Adam state of theta
    ema_num: jax.Array  # () baseline numerator (momentum-weighted sum of rewards)
    ema_den: jax.Array  # () baseline denominator (bias correction)
    count: jax.Array  # () queries told
    repeats: jax.Array  # () times the policy's sample was an already-queried cell


_ADAM = optax.scale_by_adam()


def log_prob(logits: jax.Array, cell: jax.Array) -> jax.Array:
    """``log pi(cell)`` of an edge-major one-hot ``cell [E * O]`` under per-edge softmaxes."""
    return jnp.sum(cell.reshape(logits.shape) * jax.nn.log_softmax(logits, -1))


@register("reinforce")
@dataclasses.dataclass(frozen=True)
class Reinforce(TableStrategy):
    """NAS-Bench-201's REINFORCE over a table of one-hot cells (``num_ops`` ops per edge)."""

    num_ops: int = 5
    repeats: str = "unseen"

    def default_params(self) -> ReinforceParams:
        return ReinforceParams()

    def validate(self, bench, budget: int) -> None:
        if self.repeats not in REPEAT_RULES:
            raise ValueError(f"repeats must be one of {REPEAT_RULES}, got {self.repeats!r}")
        parts.check_one_hot_cells(bench.features, self.num_ops, "reinforce")

    @functools.partial(jax.jit, static_argnums=(0, 3))
    def init(self, key, bench, budget, params):
        logits = 1e-3 * jax.random.normal(key, (bench.dim // self.num_ops, self.num_ops))
        zero = jnp.zeros((), jnp.float32)
        return ReinforceState(
            seen=jnp.zeros((bench.size,), bool),
            logits=logits,
            opt=_ADAM.init(logits),
            ema_num=zero,
            ema_den=zero,
            count=jnp.zeros((), jnp.int32),
            repeats=jnp.zeros((), jnp.int32),
        )

    @functools.partial(jax.jit, static_argnums=0)
    def ask(self, key, state, bench, params):
        scores = (state.logits + jax.random.gumbel(key, state.logits.shape)).reshape(-1)
        raw, unseen = parts.propose(scores, state.seen, bench.features, self.num_ops)
        repeated = state.seen[raw]
        index = raw if self.repeats == "requery" else jnp.where(repeated, unseen, raw)
        return index.astype(jnp.int32), state.replace(repeats=state.repeats + repeated)

    @functools.partial(jax.jit, static_argnums=0)
    def tell(self, state, index, value, bench, params):
        reward = params.reward_scale * value
        m = params.ema_momentum
        ema_num = m * state.ema_num + (1 - m) * reward
        ema_den = m * state.ema_den + (1 - m)
        # On the first reward the bias-corrected baseline equals it: the advantage is exactly 0
        # (in floats it is a rounding residue, which Adam would scale up to a full step).
        advantage = jnp.where(state.count == 0, 0.0, reward - ema_num / ema_den)
        cell = bench.features[index]
        grads = jax.grad(lambda th: -log_prob(th, cell) * advantage)(state.logits)
        updates, opt = _ADAM.update(grads, state.opt, state.logits)
        return state.replace(
            seen=state.seen.at[index].set(True),
            logits=state.logits - params.learning_rate * updates,
            opt=opt,
            ema_num=ema_num,
            ema_den=ema_den,
            count=state.count + 1,
        )
