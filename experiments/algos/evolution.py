"""Flags of regularized evolution (Real et al. 2019)."""

from absl import flags

from experiments.algos import builder
from lanas_jax.strategies.evolution import RegularizedEvolution

_POP = flags.DEFINE_integer("evolution_population", 50, "Regularized evolution population.")
_TOURNAMENT = flags.DEFINE_integer("evolution_tournament", 10, "Evolution tournament size.")


@builder("evolution")
def build():
    strategy = RegularizedEvolution(population_size=_POP.value, tournament_size=_TOURNAMENT.value)
    return strategy, strategy.default_params()
