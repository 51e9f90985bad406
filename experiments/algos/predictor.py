"""Flags of predictor search (NAO adapted to a table; seed 000 Sec. 4.2, Baselines)."""

from experiments.algos import register
from lanas_jax.config import ConfigFlags, FlagSpec
from lanas_jax.strategies.predictor import PredictorParams, PredictorSearch

STRATEGY = ConfigFlags(
    PredictorSearch,
    "predictor_",
    rename={"num_init": "predictor_init", "num_selects": "predictor_selects",
            "train_steps": "predictor_steps", "train_batch_size": "predictor_batch"},
    overrides={"num_init": FlagSpec(help="Predictor: random initial samples."),
               "num_selects": FlagSpec(
                   help="Predictor: queries per retraining round (#select, paper: 100).")},
)
PARAMS = ConfigFlags(
    PredictorParams,
    "predictor_",
    rename={"learning_rate": "predictor_lr"},
    overrides={"learning_rate": FlagSpec(help="Predictor: Adam learning rate."),
               "weight_decay": FlagSpec(help="Predictor: L2 penalty.")},
)
register("predictor", STRATEGY, PARAMS)
