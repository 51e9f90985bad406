"""Flags of REINFORCE (NAS-Bench-201's baseline: per-edge categorical policy, EMA baseline)."""

from experiments.algos import register
from lanas_jax.config import ConfigFlags, FlagSpec
from lanas_jax.strategies.reinforce import REPEAT_RULES, Reinforce, ReinforceParams

STRATEGY = ConfigFlags(
    Reinforce,
    "reinforce_",
    overrides={"repeats": FlagSpec(
        choices=REPEAT_RULES,
        help="REINFORCE: when the sample is a queried cell, query the best unseen cell by the "
             "perturbed logits (unseen) or query it again at the cost of one query (requery).")},
    exclude=("num_ops",),
)
PARAMS = ConfigFlags(
    ReinforceParams,
    "reinforce_",
    rename={"learning_rate": "reinforce_lr", "ema_momentum": "reinforce_ema"},
    overrides={"learning_rate": FlagSpec(help="REINFORCE Adam learning rate (NB201: 0.001)."),
               "ema_momentum": FlagSpec(help="REINFORCE baseline EMA momentum (NB201: 0.9).")},
    exclude=("reward_scale",),
)


def _check(strategy: Reinforce, params: ReinforceParams) -> None:
    if not 0.0 <= params.ema_momentum < 1.0:
        raise ValueError(f"--reinforce_ema must be in [0, 1), got {params.ema_momentum}")


register("reinforce", STRATEGY, PARAMS, _check)
