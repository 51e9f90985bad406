"""Ground truth for a one-shot run: stand-alone trained accuracies to rank the supernet against.

Two kinds of table serve (both written by this project's builders, both for dense spaces whose
architectures are numbered by ``space.index``):

* a whole-space ConvNet table (``experiments/build_convnet_table.py``; the embedded
  ``convnet1364``): keys ``codes``, ``metric`` (mean validation accuracy over seeds),
  ``test_metric``, ``metadata``;
* a sample table (``experiments/build_sample_table.py``, e.g. NAS-Bench-201 cells on digits):
  keys ``arch_keys`` (the space's canonical key; ``key[0]`` is the index of a dense space),
  ``metric``, ``test_metric``, ``metadata``.

The table's ``metadata`` names the dataset and split it was trained on; a one-shot run must
score on the same split, which :func:`check_dataset` enforces.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np


@dataclasses.dataclass(frozen=True)
class GroundTruth:
    """Rows of a trained table: the space index, validation and test accuracy of each."""

    name: str
    index: np.ndarray  # int64 [N]
    val: np.ndarray  # float [N]
    test: np.ndarray  # float [N]
    metadata: dict

    def row_of(self, index: int) -> int | None:
        """The row holding the architecture numbered ``index``, or None."""
        hit = np.flatnonzero(self.index == int(index))
        return int(hit[0]) if hit.size else None

    def rank_of(self, val: float) -> int:
        """1 + the number of rows strictly better than ``val`` by validation accuracy (ties
        take the best rank)."""
        return 1 + int(np.sum(self.val > val))


def _read(spec: str) -> tuple[str, dict]:
    from lanas_jax.benchmarks import convnet as convnet_tables

    if spec in convnet_tables.EMBEDDED:
        return spec, dict(convnet_tables._embedded(spec))
    if not os.path.isfile(spec):
        raise ValueError(f"ground truth {spec!r}: no such file and not an embedded table "
                         f"({', '.join(convnet_tables.EMBEDDED)})")
    try:
        with np.load(spec, allow_pickle=False) as z:
            return os.path.basename(spec), {k: z[k] for k in z.files}
    except Exception as e:
        raise ValueError(f"ground truth {spec}: unreadable ({type(e).__name__}: {e})") from None


def load_ground_truth(spec: str, space) -> GroundTruth:
    """The table ``spec`` (an embedded ConvNet table's name or a ``.npz`` path) for ``space``.

    Raises:
      ValueError: naming the file, when it is missing, unreadable, lacks the keys, holds NaN
        accuracies, or was built for another space.
    """
    name, t = _read(spec)
    if not getattr(space, "dense", False):
        raise ValueError(f"ground truth {name}: space {space.name!r} is not numbered; only "
                         "dense spaces (convnet, nb201) have ground-truth tables")
    missing = [k for k in ("metric", "test_metric", "metadata") if k not in t]
    if missing:
        raise ValueError(f"ground truth {name}: not a trained table, missing {missing}")
    meta = json.loads(str(t["metadata"]))
    if "codes" in t:
        if space.name != "convnet":
            raise ValueError(f"ground truth {name} is a ConvNet table, the space is "
                             f"{space.name!r}")
        from lanas_jax.spaces import convnet

        index = np.array([convnet.index_of(a) for a in convnet.decode(t["codes"])], np.int64)
    elif "arch_keys" in t:
        if meta.get("space", space.name) != space.name:
            raise ValueError(f"ground truth {name} was built for space {meta.get('space')!r}, "
                             f"the search space is {space.name!r}")
        index = np.asarray(t["arch_keys"])[:, 0].astype(np.int64)
    else:
        raise ValueError(f"ground truth {name}: neither `codes` nor `arch_keys`: not a table "
                         "of this project's builders")
    val, test = np.asarray(t["metric"], np.float64), np.asarray(t["test_metric"], np.float64)
    if val.shape != index.shape or test.shape != index.shape:
        raise ValueError(f"ground truth {name}: metric / test_metric / architectures have "
                         f"different lengths")
    if not np.isfinite(val).all():
        raise ValueError(f"ground truth {name}: {int(np.sum(~np.isfinite(val)))} validation "
                         "accuracies are NaN or infinite")
    return GroundTruth(name, index, val, test, meta)


def check_dataset(gt: GroundTruth, dataset: str, n_val: int, split_seed: int) -> None:
    """Refuse a run whose validation split is not the one the table was measured on."""
    meta = gt.metadata
    want = (meta.get("dataset"), meta.get("n_val"), meta.get("split_seed", 0))
    if want != (dataset, n_val, split_seed):
        raise ValueError(f"ground truth {gt.name} was measured on dataset {want[0]!r} with "
                         f"n_val {want[1]} and split seed {want[2]}; this run uses "
                         f"{dataset!r}, {n_val}, {split_seed}: its ranking would not compare")
