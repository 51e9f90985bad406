"""Flags of MCTS over a hand-designed action space (seed 000 Sec. 2 and 4.2, Baselines)."""

from absl import flags

from experiments.algos import builder
from lanas_jax.strategies.mcts import ACTION_SPACES, MCTS, MCTSParams

_SPACE = flags.DEFINE_enum(
    "mcts_action_space", "onehot", list(ACTION_SPACES),
    "MCTS actions: onehot = one slot (NB201 edge) per action; convnet_sequential / "
    "convnet_global = the Sec. 2 orders on the ConvNet table.",
)
_CHOICES = flags.DEFINE_integer("mcts_choices", 5, "MCTS onehot: columns per one-hot group.")
_CP = flags.DEFINE_float("mcts_cp", 0.1, "MCTS UCT exploration constant Cp.")


@builder("mcts")
def build():
    strategy = MCTS(action_space=_SPACE.value, choices=_CHOICES.value)
    return strategy, MCTSParams(cp=_CP.value)
