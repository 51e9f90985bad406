"""Flags of regularized evolution (Real et al. 2019)."""

from experiments.algos import register
from lanas_jax.config import ConfigFlags
from lanas_jax.strategies.evolution import RegularizedEvolution

STRATEGY = ConfigFlags(
    RegularizedEvolution,
    "evolution_",
    rename={"population_size": "evolution_population",
            "tournament_size": "evolution_tournament"},
)
register("evolution", STRATEGY)
