"""Random search (uniform without replacement) has no flags."""

from experiments.algos import register
from lanas_jax.config import ConfigFlags
from lanas_jax.strategies.random_search import RandomSearch

register("random", ConfigFlags(RandomSearch, "random_"))
