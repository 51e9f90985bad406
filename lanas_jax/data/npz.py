"""A user's own dataset as an ``.npz`` file (``load_dataset("npz:PATH")``).

Keys: ``x_train, y_train, x_test, y_test`` and optionally both ``x_val, y_val``; any other key
is refused, so a misspelt ``x_valid`` cannot silently fall back to a carved validation split.
Inputs are images ``[N, H, W]`` (a channel axis is added), ``[N, H, W, C]``, or flat features
``[N, D]``; ``uint8`` inputs are scaled to [0, 1], floating inputs are kept as float32, other
dtypes are refused. Labels are integers ``[N]``; the number of classes K is one more than the
largest training label, and a validation or test label outside ``0..K-1`` is refused (a class
never seen in training cannot be learned). Every problem is a :class:`DatasetError` that names
the file, the key and what is wrong.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from lanas_jax.data.splits import CARVE_RULE, GIVEN_RULE, DatasetError, Splits, carve_split

REQUIRED = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL = ("x_val", "y_val")


def _read(path: str) -> dict[str, np.ndarray]:
    if not os.path.isfile(path):
        raise DatasetError(f"npz:{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"npz:{path}: not an .npz archive (write it with numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        # object arrays need pickle, which a data file must not run
        raise DatasetError(f"npz:{path}: unreadable ({e})") from None
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise DatasetError(f"npz:{path}: missing key(s) {missing}; it has {sorted(arrays)}")
    extra = sorted(set(arrays) - set(REQUIRED) - set(OPTIONAL))
    if extra:
        raise DatasetError(f"npz:{path}: unexpected key(s) {extra}; allowed are "
                           f"{list(REQUIRED + OPTIONAL)}")
    if ("x_val" in arrays) != ("y_val" in arrays):
        raise DatasetError(f"npz:{path}: x_val and y_val come together; only one is present")
    return arrays


def _inputs(where: str, x: np.ndarray) -> np.ndarray:
    if x.ndim not in (2, 3, 4):
        raise DatasetError(f"{where}: inputs must be [N, H, W], [N, H, W, C] or [N, D], "
                           f"got shape {list(x.shape)}")
    if x.shape[0] == 0:
        raise DatasetError(f"{where}: empty split")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
        bad = ~np.isfinite(x)
        if bad.any():
            raise DatasetError(f"{where}: {int(bad.sum())} NaN/inf values (first in example "
                               f"{int(np.argwhere(bad)[0, 0])})")
    else:
        raise DatasetError(f"{where}: dtype {x.dtype} not supported; use uint8 images "
                           f"(0-255) or floats")
    return x[..., None] if x.ndim == 3 else x


def _labels(where: str, y: np.ndarray, n: int) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] > 1:
        raise DatasetError(f"{where}: labels must be class indices [N], got shape "
                           f"{list(y.shape)} (one-hot? store argmax)")
    if y.ndim != 1:
        raise DatasetError(f"{where}: labels must be [N], got shape {list(y.shape)}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{where}: labels must be integers, got dtype {y.dtype}")
    if y.shape[0] != n:
        raise DatasetError(f"{where}: {y.shape[0]} labels for {n} inputs")
    if y.min() < 0:
        raise DatasetError(f"{where}: negative label {int(y.min())}")
    return y.astype(np.int32)


def load_npz(path: str, *, n_val: int, seed: int = 0) -> Splits:
    """The splits of a user's ``.npz`` (see the module doc). ``n_val`` images are carved from
    ``x_train`` by a seeded permutation when the file has no validation split."""
    arrays = _read(path)
    names = ("train", "val", "test") if "x_val" in arrays else ("train", "test")
    data = {}
    for s in names:
        x = _inputs(f"npz:{path}: x_{s}", arrays[f"x_{s}"])
        data[s] = (x, _labels(f"npz:{path}: y_{s}", arrays[f"y_{s}"], x.shape[0]))
    shape = data["train"][0].shape[1:]
    for s in names[1:]:
        if data[s][0].shape[1:] != shape:
            raise DatasetError(f"npz:{path}: x_{s} has inputs {list(data[s][0].shape[1:])} but "
                               f"x_train has {list(shape)}")
    k = int(data["train"][1].max()) + 1
    if k < 2:
        raise DatasetError(f"npz:{path}: y_train has a single class; a classifier needs two")
    for s in names[1:]:
        top = int(data[s][1].max())
        if top >= k:
            raise DatasetError(f"npz:{path}: y_{s} has label {top}, outside 0..{k - 1} (K={k} "
                               f"inferred from y_train: that class never appears in training)")
    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    i_te = np.arange(xte.shape[0])
    if "val" in data:
        (xva, yva), rule = data["val"], GIVEN_RULE
        i_tr, i_va = np.arange(xtr.shape[0]), np.arange(xva.shape[0])
    else:
        i_tr, i_va = carve_split(xtr.shape[0], n_val, seed)
        (xtr, ytr), (xva, yva), rule = (xtr[i_tr], ytr[i_tr]), (xtr[i_va], ytr[i_va]), CARVE_RULE
    source = f"user file {os.path.abspath(path)}"
    return Splits(f"npz:{path}", xtr, ytr, xva, yva, xte, yte, i_tr, i_va, i_te, k, source,
                  seed, rule)
