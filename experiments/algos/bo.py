"""Flags of the BO baseline (GP + expected improvement; seed 000 Sec. 4.2, Baselines)."""

from absl import flags

from experiments.algos import builder
from lanas_jax.strategies.bo import KEEP_RULES, BayesOpt, BOParams

_INIT = flags.DEFINE_integer("bo_init", 100, "BO: random initial samples.")
_SELECTS = flags.DEFINE_integer("bo_selects", 100, "BO: proposals per round (#select, paper: 100).")
_CAP = flags.DEFINE_integer("bo_cap", 2000, "BO: most evaluated entries the GP trains on.")
_KEEP = flags.DEFINE_enum("bo_keep", "recent", list(KEEP_RULES), "BO: which entries past the cap.")
_FIT_CAP = flags.DEFINE_integer("bo_fit_cap", 256, "BO: rows of the marginal-likelihood fit.")
_FIT_STEPS = flags.DEFINE_integer("bo_fit_steps", 10, "BO: Adam steps on the hypers per round.")
_XI = flags.DEFINE_float("bo_xi", 0.01, "BO: EI margin (standardised metric units).")
_LR = flags.DEFINE_float("bo_lr", 0.05, "BO: Adam step size on the log hyper-parameters.")


@builder("bo")
def build():
    strategy = BayesOpt(
        num_init=_INIT.value,
        num_selects=_SELECTS.value,
        cap=_CAP.value,
        keep=_KEEP.value,
        fit_cap=_FIT_CAP.value,
        fit_steps=_FIT_STEPS.value,
    )
    return strategy, BOParams(xi=_XI.value, learning_rate=_LR.value)
