"""Flags of REINFORCE (NAS-Bench-201's baseline: per-edge categorical policy, EMA baseline)."""

from absl import flags

from experiments.algos import builder
from lanas_jax.strategies.reinforce import REPEAT_RULES, Reinforce, ReinforceParams

_LR = flags.DEFINE_float("reinforce_lr", 1e-3, "REINFORCE Adam learning rate (NB201: 0.001).")
_EMA = flags.DEFINE_float("reinforce_ema", 0.9, "REINFORCE baseline EMA momentum (NB201: 0.9).")
_REPEATS = flags.DEFINE_enum(
    "reinforce_repeats",
    "unseen",
    list(REPEAT_RULES),
    "REINFORCE: when the sample is a queried cell, query the best unseen cell by the perturbed "
    "logits (unseen) or query it again at the cost of one query (requery).",
)


@builder("reinforce")
def build():
    if not 0.0 <= _EMA.value < 1.0:
        raise ValueError(f"--reinforce_ema must be in [0, 1), got {_EMA.value}")
    strategy = Reinforce(repeats=_REPEATS.value)
    return strategy, ReinforceParams(learning_rate=_LR.value, ema_momentum=_EMA.value)
