"""Flags of predictor search (NAO adapted to a table; seed 000 Sec. 4.2, Baselines)."""

from absl import flags

from experiments.algos import builder
from lanas_jax.strategies.predictor import PredictorParams, PredictorSearch

_INIT = flags.DEFINE_integer("predictor_init", 100, "Predictor: random initial samples.")
_SELECTS = flags.DEFINE_integer(
    "predictor_selects", 100, "Predictor: queries per retraining round (#select, paper: 100)."
)
_HIDDEN = flags.DEFINE_list("predictor_hidden", ["64", "64"], "Predictor: MLP hidden widths.")
_STEPS = flags.DEFINE_integer("predictor_steps", 100, "Predictor: Adam steps per round.")
_BATCH = flags.DEFINE_integer("predictor_batch", 128, "Predictor: minibatch size.")
_LR = flags.DEFINE_float("predictor_lr", 1e-3, "Predictor: Adam learning rate.")
_WD = flags.DEFINE_float("predictor_weight_decay", 1e-4, "Predictor: L2 penalty.")


@builder("predictor")
def build():
    try:
        hidden = tuple(int(w) for w in _HIDDEN.value)
    except ValueError as e:
        raise ValueError(f"--predictor_hidden must be integers, got {_HIDDEN.value}") from e
    strategy = PredictorSearch(
        num_init=_INIT.value,
        num_selects=_SELECTS.value,
        hidden=hidden,
        train_steps=_STEPS.value,
        train_batch_size=_BATCH.value,
    )
    return strategy, PredictorParams(learning_rate=_LR.value, weight_decay=_WD.value)
