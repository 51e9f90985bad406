"""Flags of LaNAS (seed 000, Sec. 3 and 4.2)."""

from absl import flags

from experiments.algos import builder
from lanas_jax.partition.lanas import EMPTY_LEAF_RULES, LaNAS, LaNASParams

_HEIGHT = flags.DEFINE_integer("lanas_height", 5, "LaNAS tree height (levels).")
_SELECTS = flags.DEFINE_integer(
    "lanas_selects", 20, "LaNAS #selects between refits (paper Sec. 4.2: 100)."
)
_INIT = flags.DEFINE_integer(
    "lanas_init", 10, "LaNAS uniformly random initial samples (paper Sec. 4.2: 400)."
)
_CP = flags.DEFINE_float("lanas_cp", 0.1, "LaNAS UCB exploration constant Cp.")
_RIDGE = flags.DEFINE_float("lanas_ridge", 1e-3, "LaNAS relative ridge strength.")
_EMPTY = flags.DEFINE_enum(
    "lanas_empty_leaf", "first_nonempty", list(EMPTY_LEAF_RULES), "LaNAS empty-leaf rule."
)


@builder("lanas")
def build():
    strategy = LaNAS(
        tree_height=_HEIGHT.value,
        num_selects=_SELECTS.value,
        num_init=_INIT.value,
        empty_leaf=_EMPTY.value,
    )
    return strategy, LaNASParams(cp=_CP.value, ridge=_RIDGE.value)
