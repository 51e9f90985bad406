"""Ground-truth tables of stand-alone trained architectures, to rank a supernet against.

A weight-sharing supernet is judged by how well its ranking of architectures agrees with the
ranking of the same architectures trained alone (Yu et al. 2020, "Evaluating the Search Phase of
Neural Architecture Search", Sec. 4; Zela et al. 2020, NAS-Bench-1Shot1, Sec. 5: Kendall tau
against stand-alone accuracy). Two files give such a ground truth:

* a **sample table** from ``experiments/build_sample_table.py``: ``n`` distinct architectures of
  any space drawn uniformly, keys ``arch_keys`` (``u32[n, 2]``, the space's canonical
  :meth:`~lanas_jax.spaces.base.Space.key`), ``tokens``, ``describe``, ``val_acc`` /
  ``test_acc`` ``[n, seeds]``, ``metric`` / ``test_metric`` (their means), ``metadata`` JSON;
* the **whole-space ConvNet table** from ``experiments/build_convnet_table.py`` (every one of
  the LaNAS Sec. 2 space's 1,364 networks; rows stored as ``codes`` that
  :func:`lanas_jax.spaces.convnet.decode` reads), whose keys are computed here.

:func:`load_sample_table` reads either into one :class:`SampleTable`. Files are read with
``allow_pickle=False``; every failure is a :class:`ValueError` naming the file and the problem.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from lanas_jax.spaces.base import KEY_WORDS, Space, get_space, stack

#: Per-architecture arrays every table needs (beyond its keys).
_COMMON = ("metric", "test_metric", "val_acc", "test_acc", "metadata")


@dataclasses.dataclass(frozen=True, eq=False)
class SampleTable:
    """Stand-alone accuracies of some architectures of one space (arrays are read-only).

    Attributes:
      path: the file it was read from.
      space_name: the registered space (:func:`~lanas_jax.spaces.get_space`) of its keys.
      arch_keys: ``u32[n, 2]`` canonical keys, distinct.
      metric, test_metric: ``[n]`` validation / test accuracy, mean over training seeds.
      val_per_seed, test_per_seed: ``[n, seeds]``.
      describe: ``n`` human-readable architecture strings (``space.describe``).
      metadata: the builder's JSON metadata (recipe, dataset, splits, machine, reliability).
    """

    path: str
    space_name: str
    arch_keys: np.ndarray
    metric: np.ndarray
    test_metric: np.ndarray
    val_per_seed: np.ndarray
    test_per_seed: np.ndarray
    describe: tuple[str, ...]
    metadata: dict[str, Any]
    _rows: dict[tuple[int, int], int] = dataclasses.field(repr=False)

    def __len__(self) -> int:
        return int(self.arch_keys.shape[0])

    def check_space(self, space: Space) -> None:
        """Raise ValueError unless the table holds ``space``'s architectures."""
        if space.name != self.space_name:
            raise ValueError(f"{self.path} holds {self.space_name} architectures, not "
                             f"{space.name} ones")

    def row_of(self, space: Space, arch: Any) -> int | None:
        """The table row of one architecture (matched by ``space.key``), None if absent."""
        self.check_space(space)
        key = np.asarray(space.key(arch))
        if key.shape != (KEY_WORDS,):
            raise ValueError(f"row_of takes one architecture, got a key of shape {key.shape}")
        return self._rows.get((int(key[0]), int(key[1])))

    def lookup(self, space: Space, arch: Any) -> tuple[float, float] | None:
        """``(validation, test)`` accuracy of one architecture, or None if it is not in the
        table."""
        row = self.row_of(space, arch)
        if row is None:
            return None
        return float(self.metric[row]), float(self.test_metric[row])

    def rank_of(self, val: float) -> int:
        """Rank of validation accuracy ``val`` among the table's (1 = best): one plus the number
        of entries strictly better, so equal values share a rank."""
        return 1 + int(np.sum(self.metric > float(val)))

    def archs(self, space: Space) -> Any:
        """Every architecture of the table, stacked in row order (by ``space.parse`` of its
        description, checked against its key)."""
        self.check_space(space)
        archs = stack([space.parse(d) for d in self.describe])
        keys = np.asarray(jax.vmap(space.key)(archs))
        if not np.array_equal(keys, self.arch_keys):
            raise ValueError(f"{self.path}: descriptions do not parse back to the stored keys")
        return archs


def load_sample_table(path: str | os.PathLike) -> SampleTable:
    """Read a sample table or a whole-space ConvNet table (see the module doc).

    Raises:
      ValueError: naming ``path``, when the file is missing or not an ``.npz`` archive, lacks a
        needed array, holds arrays of inconsistent shapes or non-finite accuracies, has
        duplicate keys, or keys that disagree with its architectures' own.
    """
    path = Path(path)
    z = _read(path)
    try:
        meta = json.loads(str(z["metadata"]))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: metadata is not JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: metadata is not a JSON object")
    if "arch_keys" in z:
        space_name, keys, describe = _sample_keys(path, z, meta)
    elif "codes" in z:
        space_name, keys, describe = _convnet_keys(path, z)
    else:
        raise ValueError(f"{path}: neither a sample table (arch_keys) nor a ConvNet table "
                         f"(codes); it holds {sorted(z)}")
    n = keys.shape[0]
    arrays = {k: np.asarray(z[k]) for k in ("metric", "test_metric", "val_acc", "test_acc")}
    for k in ("metric", "test_metric"):
        if arrays[k].shape != (n,):
            raise ValueError(f"{path}: {k} has shape {arrays[k].shape}, expected ({n},)")
    for k in ("val_acc", "test_acc"):
        if arrays[k].ndim != 2 or arrays[k].shape[0] != n or arrays[k].shape[1] < 1:
            raise ValueError(f"{path}: {k} has shape {arrays[k].shape}, expected ({n}, seeds)")
    if not all(np.issubdtype(a.dtype, np.number) for a in arrays.values()):
        raise ValueError(f"{path}: accuracies must be numbers")
    if not np.isfinite(arrays["metric"]).all():
        raise ValueError(f"{path}: metric holds NaN or inf (a diverged training?)")
    rows = {(int(a), int(b)): i for i, (a, b) in enumerate(keys.tolist())}
    if len(rows) != n:
        raise ValueError(f"{path}: {n - len(rows)} duplicate architecture key(s)")
    for a in (keys, *arrays.values()):
        a.setflags(write=False)
    return SampleTable(str(path), space_name, keys, arrays["metric"], arrays["test_metric"],
                       arrays["val_acc"], arrays["test_acc"], describe, meta, rows)


def _read(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("a single array (.npy), not an .npz archive")
            out = {k: z[k] for k in z.files}
    except Exception as e:  # a damaged file fails in many ways (BadZipFile, EOFError, ...)
        raise ValueError(f"{path}: not a readable .npz table ({type(e).__name__}: {e})") from None
    missing = [k for k in _COMMON if k not in out]
    if missing:
        raise ValueError(f"{path}: missing array(s) {', '.join(missing)}")
    return out


def _sample_keys(path: Path, z: dict, meta: dict) -> tuple[str, np.ndarray, tuple[str, ...]]:
    """A sample table's space, keys and descriptions, keys checked against its tokens."""
    name = meta.get("space")
    try:
        space = get_space(str(name), **meta.get("space_options", {}))
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: metadata names no usable space ({e})") from None
    keys, tokens = np.asarray(z["arch_keys"]), np.asarray(z.get("tokens", np.zeros(0)))
    if keys.dtype != np.uint32 or keys.ndim != 2 or keys.shape[1] != KEY_WORDS:
        raise ValueError(f"{path}: arch_keys must be uint32[n, {KEY_WORDS}], got "
                         f"{keys.dtype}{list(keys.shape)}")
    n = keys.shape[0]
    if tokens.shape != (n, space.num_tokens) or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"{path}: tokens must be int[{n}, {space.num_tokens}], got "
                         f"{tokens.dtype}{list(tokens.shape)}")
    own = np.asarray(jax.vmap(lambda t: space.key(space.from_tokens(t)))(tokens))
    bad = np.flatnonzero((own != keys).any(1))
    if bad.size:
        raise ValueError(f"{path}: arch_keys disagree with the tokens' own keys at {bad.size} "
                         f"row(s), first row {bad[0]}")
    describe = tuple(str(d) for d in np.asarray(z.get("describe", np.zeros(0))).tolist())
    if len(describe) != n:
        raise ValueError(f"{path}: describe holds {len(describe)} strings for {n} rows")
    return space.name, keys, describe


def _convnet_keys(path: Path, z: dict) -> tuple[str, np.ndarray, tuple[str, ...]]:
    """A ConvNet table's keys: its ``codes`` decoded, keyed by ``space.key``."""
    from lanas_jax.spaces import convnet

    try:
        layers = convnet.decode(z["codes"])
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    space = convnet.ConvNet()
    archs = stack([convnet.from_layers(a) for a in layers])
    keys = np.asarray(jax.jit(jax.vmap(space.key))(archs)).astype(np.uint32)
    return space.name, keys, tuple(convnet.format_arch(a) for a in layers)


#: Embedded sample tables built by this project (``--ground_truth=NAME``) -> file under
#: ``lanas_jax/benchmarks/data`` (NOTICE.md there says how each was built).
EMBEDDED_SAMPLES = {"nb201_digits_sample": "nb201_digits_sample.npz"}


def embedded_sample_table(name: str) -> SampleTable:
    """An embedded sample table by name (:data:`EMBEDDED_SAMPLES`)."""
    from importlib import resources

    if name not in EMBEDDED_SAMPLES:
        raise ValueError(f"unknown embedded sample table {name!r}; known: "
                         f"{', '.join(EMBEDDED_SAMPLES)}")
    return load_sample_table(str(resources.files("lanas_jax.benchmarks") / "data"
                                 / EMBEDDED_SAMPLES[name]))


#: Embedded NAS-Bench-201 ground truths (``--ground_truth=nb201_cifar10`` ...) -> dataset key.
NB201_TABLES = {"nb201_cifar10": "cifar10", "nb201_cifar100": "cifar100",
                "nb201_imagenet16": "imagenet16"}


def nb201_table(name: str) -> SampleTable:
    """The real NAS-Bench-201 table (all 15,625 cells, 200-epoch accuracies as fractions) as a
    ground truth, for a supernet trained on CIFAR-10/100 or ImageNet16-120 (e.g. through
    ``tfds:cifar10``). Its ``metadata`` has no split digest: NAS-Bench-201's own split
    (cifar10-valid: 25k/25k of the training set) is not ours, so only the ranking compares."""
    from lanas_jax.benchmarks.nb201 import _table
    from lanas_jax.spaces import nb201

    if name not in NB201_TABLES:
        raise ValueError(f"unknown NAS-Bench-201 table {name!r}; known: "
                         f"{', '.join(NB201_TABLES)}")
    ds, t = NB201_TABLES[name], _table()
    ops = np.asarray(t["ops"], np.int64)
    keys = np.stack([nb201.codes(ops), np.zeros(len(ops), np.int64)], 1).astype(np.uint32)
    val = np.asarray(t[f"{ds}_val"], np.float64) / 100.0
    test = np.asarray(t[f"{ds}_test"], np.float64) / 100.0
    describe = tuple(nb201.format_arch(o) for o in ops)
    meta = {"space": "nb201", "dataset": f"NAS-Bench-201 {ds}", "source": "NATS-Bench",
            "note": "200-epoch accuracies on NAS-Bench-201's own split",
            "split": "NAS-Bench-201's own (not reproducible here)"}
    rows = {(int(a), 0): i for i, a in enumerate(keys[:, 0].tolist())}
    for a in (keys, val, test):
        a.setflags(write=False)
    return SampleTable(f"embedded:{name}", "nb201", keys, val, test, val[:, None], test[:, None],
                       describe, meta, rows)
