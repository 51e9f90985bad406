"""NAS-Bench-101 (Ying et al. 2019, "NAS-Bench-101: Towards Reproducible Neural Architecture
Search", ICML) from the user's own copy of the official file, without TensorFlow.

``nasbench_only108.tfrecord`` and ``nasbench_full.tfrecord`` are TFRecord files
(:mod:`lanas_jax.benchmarks.tfrecord`) whose every record is one training run: the UTF-8 JSON
list ``[module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]`` with the cell's
isomorphism hash, the epoch budget (4, 12, 36 or 108), the ``V x V`` adjacency as a 0/1
string, the comma-separated op names and the base64 ``ModelMetrics`` protobuf
(:mod:`lanas_jax.benchmarks.nb101_metrics`); :mod:`lanas_jax.benchmarks.nb101_records` reads
and writes records. Each cell was trained 3 times per budget.

:func:`load_nb101` makes one benchmark row per module hash with records at the chosen budget:
the search metric is the mean final validation accuracy over the repeats, the reported metric
the mean final test accuracy (fractions in [0, 1]); rows are sorted by hash. Parsing the
official file takes tens of seconds, so the parsed table is kept in a packed ``.npz`` cache
next to the file (or in ``cache_dir``), keyed on the file's size and modification time and the
cache format version: later loads read the cache in about a second, and a changed file
rebuilds it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from lanas_jax.benchmarks.base import Benchmark, BenchmarkError, from_arrays
from lanas_jax.benchmarks.nb101_records import (
    decode_metrics,
    json_rows,
    nb101_record,
    record_at,
    row_message,
    training_run,
    write_nb101,
)
from lanas_jax.benchmarks.tfrecord import TFRecordError, index_records, read_file
from lanas_jax.spaces import nb101 as space

#: Bumped whenever the cache's content or meaning changes; older caches are rebuilt.
CACHE_VERSION = 1
_CACHE_SUFFIX = ".lanas-nb101-cache.npz"


@dataclasses.dataclass(frozen=True)
class Nb101Table:
    """Everything parsed from one NAS-Bench-101 file (one row per module hash, sorted).

    Attributes:
      hashes: ``[H]`` ``S32`` module hashes.
      out_bits, labels: ``[H, 7]`` cells in the padded form of :mod:`lanas_jax.spaces.nb101`.
      trainable_parameters: ``[H]`` int64 (-1 where the file has none).
      epochs: ``[E]`` the epoch budgets present, ascending.
      validation, test, training_time: ``[E, H]`` float64 means over the repeats of the final
        evaluation; NaN where a cell has no record at that budget.
      repeats: ``[E, H]`` int32 records per cell and budget.
      neighbors: ``[H, K]`` int32 one-edit mutations present in the file, -1 padded.
      from_cache: whether this table was read from the cache.
    """

    hashes: np.ndarray
    out_bits: np.ndarray
    labels: np.ndarray
    trainable_parameters: np.ndarray
    epochs: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    training_time: np.ndarray
    repeats: np.ndarray
    neighbors: np.ndarray
    from_cache: bool = False


def load_nb101(
    path: str | os.PathLike,
    epochs: int = 108,
    encoding: str = "lanas49",
    cache_dir: str | os.PathLike | None = None,
) -> Benchmark:
    """NAS-Bench-101 at an epoch budget, from the official TFRecord file.

    Args:
      path: ``nasbench_only108.tfrecord``, ``nasbench_full.tfrecord`` or a file in that format.
      epochs: the training budget (108 in both official files; 4, 12, 36 too in the full one).
      encoding: the features, one of :data:`lanas_jax.spaces.nb101.ENCODINGS` (``lanas49``,
        ``vaenas26``, ``onehot56``; see :func:`lanas_jax.spaces.nb101.encode`).
      cache_dir: where the packed cache goes; by default next to the file.

    Returns:
      A benchmark named ``nb101_<epochs>``: one row per cell with records at that budget,
      ``metric`` the mean validation accuracy, ``test_metric`` the mean test accuracy,
      ``neighbors`` the one-edit mutations that are rows too.

    Raises:
      BenchmarkError: naming the file (and record / byte offset where one is at fault) when it
        is missing, truncated, fails a CRC check, holds bad JSON or malformed cells, lacks the
        final metrics, or has no record at ``epochs`` (the message lists the budgets present).
      ValueError: for an unknown encoding.
    """
    if encoding not in space.ENCODINGS:
        raise ValueError(
            f"unknown NB101 encoding {encoding!r}; choose from {', '.join(space.ENCODINGS)}"
        )
    table = read_nb101(path, cache_dir=cache_dir)
    present = table.epochs.tolist()
    if int(epochs) not in present:
        raise BenchmarkError(
            f"{path}: no records at epochs={epochs}; the file holds epochs "
            f"{', '.join(str(e) for e in present)}"
        )
    e = present.index(int(epochs))
    rows = np.flatnonzero(table.repeats[e] > 0)
    local = np.full(table.hashes.size + 1, -1, np.int64)  # global row -> local row (-1: absent)
    local[rows] = np.arange(rows.size)
    nb = local[table.neighbors[rows]] if table.neighbors.size else table.neighbors[rows]
    repeats = np.unique(table.repeats[e, rows])
    rep = "/".join(str(r) for r in repeats)
    return from_arrays(
        space.encode(table.out_bits[rows], table.labels[rows], encoding),
        table.validation[e, rows],
        table.test[e, rows],
        neighbors=_repack(nb),
        name=f"nb101_{int(epochs)}",
        space=space.Nb101Space.from_arrays(
            table.hashes[rows], table.out_bits[rows], table.labels[rows]
        ),
        metric_name=f"NAS-Bench-101 CIFAR-10 validation accuracy ({epochs} epochs, mean of {rep})",
        test_metric_name=f"NAS-Bench-101 CIFAR-10 test accuracy ({epochs} epochs, mean of {rep})",
    )


def _repack(nb: np.ndarray) -> np.ndarray:
    """Move -1 entries of each row to its end (rows keep their ascending order) and trim."""
    if nb.size == 0:
        return nb.astype(np.int32)
    key = np.where(nb < 0, np.iinfo(np.int64).max, nb)
    s = np.sort(key, axis=1)
    width = int((s != np.iinfo(np.int64).max).sum(axis=1).max(initial=0))
    s = s[:, : max(width, 1)]
    return np.where(s == np.iinfo(np.int64).max, -1, s).astype(np.int32)


# ------------------------------------------------------------------------------ the cache


def cache_path(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the cache of ``path`` lives: next to it, or in ``cache_dir`` under a name that
    includes a digest of the file's absolute path (two files never share a cache)."""
    p = Path(path)
    if cache_dir is None:
        return p.with_name(p.name + _CACHE_SUFFIX)
    digest = hashlib.sha1(str(p.resolve()).encode("utf-8")).hexdigest()[:12]
    return Path(cache_dir) / f"{p.name}.{digest}{_CACHE_SUFFIX}"


def read_nb101(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Nb101Table:
    """The parsed table of a NAS-Bench-101 file, from its cache when the cache is current.

    A current cache has this module's :data:`CACHE_VERSION` and the file's size and
    modification time; otherwise the file is parsed and the cache (re)written. A cache that
    cannot be written is skipped with a warning.

    Raises:
      BenchmarkError: as :func:`load_nb101`.
    """
    p = Path(path)
    if not p.exists():
        raise BenchmarkError(f"{p}: no such file")
    if p.is_dir():
        raise BenchmarkError(f"{p}: is a directory, not a NAS-Bench-101 .tfrecord file")
    stat = p.stat()
    stamp = (CACHE_VERSION, stat.st_size, stat.st_mtime_ns)
    cpath = cache_path(p, cache_dir)
    table = _read_cache(cpath, stamp)
    if table is not None:
        return table
    table = parse_nb101(p)
    _write_cache(cpath, stamp, table)
    return table


def _read_cache(cpath: Path, stamp: tuple[int, int, int]) -> Nb101Table | None:
    if not cpath.is_file():
        return None
    try:
        with np.load(cpath, allow_pickle=False) as z:
            if tuple(int(x) for x in z["stamp"]) != stamp:
                return None
            fields = {f.name: z[f.name] for f in dataclasses.fields(Nb101Table)
                      if f.name != "from_cache"}
    except Exception:  # a damaged or foreign cache is rebuilt, never trusted
        return None
    return Nb101Table(**fields, from_cache=True)


def _write_cache(cpath: Path, stamp: tuple[int, int, int], table: Nb101Table) -> None:
    arrays = {f.name: getattr(table, f.name) for f in dataclasses.fields(Nb101Table)
              if f.name != "from_cache"}
    tmp = cpath.with_name(cpath.name + f".tmp{os.getpid()}")
    try:
        cpath.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, stamp=np.asarray(stamp, np.int64), **arrays)
        os.replace(tmp, cpath)  # atomic: a reader never sees a half-written cache
    except OSError as e:
        tmp.unlink(missing_ok=True)
        warnings.warn(
            f"could not write the NAS-Bench-101 cache {cpath} ({e}); the next load parses the "
            "file again (pass cache_dir= / ?cache_dir= to put the cache elsewhere)",
            stacklevel=3,
        )


# ------------------------------------------------------------------------------ parsing


def parse_nb101(path: str | os.PathLike) -> Nb101Table:
    """Parse a NAS-Bench-101 file (no cache): framing and CRCs, JSON rows, metrics, cells,
    per-budget means and the neighbour lists.

    Raises:
      BenchmarkError: as :func:`load_nb101`.
    """
    p = Path(path)
    buf = read_file(p)
    starts, lengths = index_records(buf, p)
    if starts.size == 0:
        raise BenchmarkError(f"{p}: holds no records")
    raw = buf.tobytes()
    del buf
    rows = json_rows(p, raw, starts, lengths)
    hashes, epochs_col, adjacency, operations, metrics = rows
    val, test, ttime, params = decode_metrics(p, metrics, starts, hashes)
    del metrics

    hash_arr = np.asarray(hashes, "S32")
    uniq, first, inverse = np.unique(hash_arr, return_index=True, return_inverse=True)
    budgets, ep_inv = np.unique(np.asarray(epochs_col, np.int64), return_inverse=True)
    adj_arr = np.asarray(adjacency, dtype=object)
    ops_arr = np.asarray(operations, dtype=object)
    same = (adj_arr == adj_arr[first][inverse]) & (ops_arr == ops_arr[first][inverse])
    if not same.all():
        i = int(np.flatnonzero(~same)[0])
        raise BenchmarkError(
            f"{p}: {record_at(i, starts[i])} gives module hash {hashes[i]} a "
            "different cell than its first record"
        )
    try:
        out_bits, labels = space.parse_cells(adj_arr[first].tolist(), ops_arr[first].tolist())
    except ValueError as e:
        raise BenchmarkError(f"{p}: {row_message(e, first, starts, hashes)}") from None
    bad, reasons = space.check_many(out_bits, labels)
    if bad.size:
        i = int(first[bad[0]])
        raise BenchmarkError(
            f"{p}: {record_at(i, starts[i], hashes[i])} is not a "
            f"valid NAS-Bench-101 cell: {reasons[0]} ({bad.size} cell(s) affected)"
        )

    shape = (budgets.size, uniq.size)
    flat = ep_inv * uniq.size + inverse
    repeats = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape).astype(np.int32)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = [
            np.bincount(flat, weights=col, minlength=shape[0] * shape[1]).reshape(shape) / repeats
            for col in (val, test, ttime)
        ]
    param_col = np.full(uniq.size, -1, np.int64)
    param_col[inverse] = params  # the same network everywhere; any record's count will do

    keys = space.wl_keys(out_bits, labels)
    if np.unique(keys).size != keys.size:
        warnings.warn(
            f"{p}: some distinct module hashes describe isomorphic cells; neighbour lists link "
            "each mutation to one of them",
            stacklevel=3,
        )
    return Nb101Table(
        hashes=uniq,
        out_bits=out_bits,
        labels=labels,
        trainable_parameters=param_col,
        epochs=budgets,
        validation=means[0],
        test=means[1],
        training_time=means[2],
        repeats=repeats,
        neighbors=space.neighbors(out_bits, labels, keys),
    )


__all__ = [
    "CACHE_VERSION",
    "Nb101Table",
    "TFRecordError",
    "cache_path",
    "load_nb101",
    "nb101_record",
    "parse_nb101",
    "read_nb101",
    "training_run",
    "write_nb101",
]
