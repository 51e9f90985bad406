"""Flags of the VAENAS sampler (seed 002, Eq. 5, Alg. 1-2).

The paper gives no values for the VAE's sizes or optimisation; the defaults here are this
project's (BUILD_NOTES.md). ``--vaenas_top_frac`` is Alg. 1's K (Fig. 1: top 50%; Table 4:
1500 of 6000 = 25%).
"""

from experiments.algos import register
from lanas_jax.config import ConfigFlags, FlagSpec
from lanas_jax.vaenas.strategy import VAENAS, VAENASParams
from lanas_jax.vaenas.train import TrainConfig

STRATEGY = ConfigFlags(
    VAENAS,
    "vaenas_",
    rename={"n_iters": "vaenas_iters", "vae_batch_size": "vaenas_batch",
            "learning_rate": "vaenas_lr"},
)
PARAMS = ConfigFlags(
    VAENASParams,
    "vaenas_",
    overrides={"eps_inc": FlagSpec(
        help="VAENAS: growth of eps (the VAE's share of Eq. 5) per query.")},
)


def _check(strategy: VAENAS, params: VAENASParams) -> None:
    strategy.train.validate()


register("vaenas", STRATEGY, PARAMS, _check)


def train_config() -> TrainConfig:
    """The VAE's sizes and Alg. 1's settings from the flags (shared with the Table 4 binary)."""
    config = STRATEGY.parse().train
    config.validate()
    return config
