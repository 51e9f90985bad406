"""Flags of MCTS over a hand-designed action space (seed 000 Sec. 2 and 4.2, Baselines)."""

from experiments.algos import register
from lanas_jax.config import ConfigFlags, FlagSpec
from lanas_jax.strategies.mcts import ACTION_SPACES, MCTS, MCTSParams

STRATEGY = ConfigFlags(
    MCTS,
    "mcts_",
    overrides={"action_space": FlagSpec(
        choices=tuple(ACTION_SPACES),
        help="MCTS actions: onehot = one slot (NB201 edge) per action; convnet_sequential / "
             "convnet_global = the Sec. 2 orders on the ConvNet table.")},
)
PARAMS = ConfigFlags(MCTSParams, "mcts_",
                     overrides={"cp": FlagSpec(help="MCTS UCT exploration constant Cp.")})
register("mcts", STRATEGY, PARAMS)
