"""Flags of the BO baseline (GP + expected improvement; seed 000 Sec. 4.2, Baselines)."""

from experiments.algos import register
from lanas_jax.config import ConfigFlags, FlagSpec
from lanas_jax.strategies.bo import KEEP_RULES, BayesOpt, BOParams

STRATEGY = ConfigFlags(
    BayesOpt,
    "bo_",
    rename={"num_init": "bo_init", "num_selects": "bo_selects"},
    overrides={"num_init": FlagSpec(help="BO: random initial samples."),
               "num_selects": FlagSpec(help="BO: proposals per round (#select, paper: 100)."),
               "keep": FlagSpec(choices=KEEP_RULES)},
    exclude=("chunk",),
)
PARAMS = ConfigFlags(
    BOParams,
    "bo_",
    rename={"learning_rate": "bo_lr"},
    overrides={"xi": FlagSpec(help="BO: EI margin (standardised metric units)."),
               "learning_rate": FlagSpec(help="BO: Adam step size on the log hyper-parameters.")},
)
register("bo", STRATEGY, PARAMS)
