"""Flags of LA-MCTS (Wang, Fonseca & Tian, NeurIPS 2020) over a discrete domain."""

from experiments.algos import register
from lanas_jax.config import ConfigFlags, FlagSpec
from lanas_jax.strategies.lamcts import LEAF_SAMPLERS, LaMCTS, LaMCTSParams

STRATEGY = ConfigFlags(
    LaMCTS,
    "lamcts_",
    rename={"num_init": "lamcts_init", "num_selects": "lamcts_selects"},
    overrides={"sampler": FlagSpec(
        choices=LEAF_SAMPLERS,
        help="LA-MCTS leaf sampler: in-leaf mutations of the leaf's best (mutation) or the "
             "best of them under a ridge surrogate (surrogate).")},
)
PARAMS = ConfigFlags(
    LaMCTSParams, "lamcts_",
    overrides={"cp": FlagSpec(help="LA-MCTS UCB Cp, in units of the std of the values.")})
register("lamcts", STRATEGY, PARAMS)
