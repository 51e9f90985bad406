"""Random search (uniform without replacement) has no flags."""

from experiments.algos import builder
from lanas_jax.strategies.random_search import RandomSearch


@builder("random")
def build():
    strategy = RandomSearch()
    return strategy, strategy.default_params()
