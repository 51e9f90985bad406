"""The tabular benchmark type: a search space whose every member is already evaluated.

A benchmark is a pytree of device arrays (querying is indexing) plus static metadata.
Every loader (embedded NAS-Bench-201, a user's ``.npz``, tables the project builds)
produces this one type, so every strategy runs on every benchmark.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import struct


class BenchmarkError(ValueError):
    """A benchmark table is missing, malformed or holds unusable values."""


@struct.dataclass
class Benchmark:
    """A tabular NAS benchmark held on device.

    Attributes:
      features: ``[N, D]`` float32, the encoding the strategies see.
      metric: ``[N]`` float32, the search signal (higher is better).
      test_metric: ``[N]`` float32, reported for the incumbent; NaN where the table has none.
      neighbors: ``[N, K]`` int32 indices of each entry's one-edit mutations, ``-1`` padded
        (used by evolution); ``None`` when the table defines no mutation.
      name: short name, e.g. ``nb201_cifar10``.
      space: a hashable description of the space (e.g. ``Nb201Space()``) able to print an
        entry as an architecture string, or ``None`` for a plain table.
      has_test: whether ``test_metric`` holds real values.
      metric_name / test_metric_name: what the two metrics are, for reports.
    """

    features: Any
    metric: Any
    test_metric: Any
    neighbors: Any = None
    name: str = struct.field(pytree_node=False, default="table")
    space: Any = struct.field(pytree_node=False, default=None)
    has_test: bool = struct.field(pytree_node=False, default=False)
    metric_name: str = struct.field(pytree_node=False, default="metric")
    test_metric_name: str = struct.field(pytree_node=False, default="test_metric")

    @property
    def size(self) -> int:
        return int(self.features.shape[0])

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def optimum(self) -> float:
        """The best search metric in the table."""
        return float(np.max(np.asarray(self.metric)))

    @property
    def optimum_indices(self) -> np.ndarray:
        """Every entry whose metric equals the best one (ties all count as the optimum)."""
        m = np.asarray(self.metric)
        return np.flatnonzero(m == m.max())

    def describe(self, index: int) -> str:
        """A human-readable form of entry ``index`` (the cell string where the space knows it)."""
        if self.space is not None:
            return self.space.describe(int(index))
        return f"#{int(index)}"


def from_arrays(
    features,
    metric,
    test_metric=None,
    *,
    neighbors=None,
    name: str = "table",
    space=None,
    metric_name: str = "metric",
    test_metric_name: str = "test_metric",
) -> Benchmark:
    """Validate host arrays and build a :class:`Benchmark`.

    Raises:
      BenchmarkError: on wrong ranks, mismatched lengths, an empty table, or NaN/inf in the
        features or metrics (a NaN metric would silently never be the optimum).
    """
    features = np.asarray(features)
    metric = np.asarray(metric)
    if features.ndim != 2:
        raise BenchmarkError(f"{name}: `features` must be [N, D], got shape {features.shape}")
    if metric.ndim != 1:
        raise BenchmarkError(f"{name}: `metric` must be [N], got shape {metric.shape}")
    n = features.shape[0]
    if n == 0 or features.shape[1] == 0:
        raise BenchmarkError(f"{name}: the table is empty (features shape {features.shape})")
    if metric.shape[0] != n:
        raise BenchmarkError(
            f"{name}: `metric` has {metric.shape[0]} entries but `features` has {n} rows"
        )
    _check_numeric(name, "features", features)
    _check_finite(name, "features", features)
    _check_numeric(name, "metric", metric)
    _check_finite(name, "metric", metric)
    has_test = test_metric is not None
    if has_test:
        test_metric = np.asarray(test_metric)
        if test_metric.shape != (n,):
            raise BenchmarkError(
                f"{name}: `test_metric` must have shape ({n},), got {test_metric.shape}"
            )
        _check_numeric(name, "test_metric", test_metric)
        _check_finite(name, "test_metric", test_metric)
    else:
        test_metric = np.full((n,), np.nan, np.float32)
    if neighbors is not None:
        neighbors = np.asarray(neighbors)
        if neighbors.ndim != 2 or neighbors.shape[0] != n:
            raise BenchmarkError(f"{name}: `neighbors` must be [{n}, K], got {neighbors.shape}")
        if neighbors.size and (neighbors.min() < -1 or neighbors.max() >= n):
            raise BenchmarkError(f"{name}: `neighbors` holds indices outside [-1, {n})")
        neighbors = jnp.asarray(neighbors, jnp.int32)
    return Benchmark(
        features=jnp.asarray(features, jnp.float32),
        metric=jnp.asarray(metric, jnp.float32),
        test_metric=jnp.asarray(test_metric, jnp.float32),
        neighbors=neighbors,
        name=name,
        space=space,
        has_test=has_test,
        metric_name=metric_name,
        test_metric_name=test_metric_name,
    )


def take_rows(bench: Benchmark, rows, name: str | None = None) -> Benchmark:
    """The sub-table of ``bench`` holding ``rows`` (in that order), e.g. the part of a table
    left to search after a partition was learned on the rest (seed 000 Fig. 7a).

    Neighbours are remapped to the new row numbers; a neighbour outside ``rows`` becomes
    ``-1`` (no such mutation). The sub-table has no ``space``: its rows are not the space's
    enumeration any more, so entries print as ``#i``.

    Raises:
      BenchmarkError: for an empty selection, repeated rows or rows outside the table.
    """
    rows = np.asarray(rows)
    n = bench.size
    if rows.ndim != 1 or rows.size == 0:
        raise BenchmarkError(f"{bench.name}: take_rows needs a non-empty 1-d list of rows")
    if not np.issubdtype(rows.dtype, np.integer) or rows.min() < 0 or rows.max() >= n:
        raise BenchmarkError(f"{bench.name}: rows must be integers in [0, {n})")
    if np.unique(rows).size != rows.size:
        raise BenchmarkError(f"{bench.name}: take_rows got repeated rows")
    neighbors = None
    if bench.neighbors is not None:
        new_id = np.full((n + 1,), -1, np.int64)  # slot n maps the -1 padding
        new_id[rows] = np.arange(rows.size)
        old = np.asarray(bench.neighbors)[rows]
        neighbors = new_id[np.where(old < 0, n, old)]
    return from_arrays(
        np.asarray(bench.features)[rows],
        np.asarray(bench.metric)[rows],
        np.asarray(bench.test_metric)[rows] if bench.has_test else None,
        neighbors=neighbors,
        name=name or f"{bench.name}[{rows.size} rows]",
        metric_name=bench.metric_name,
        test_metric_name=bench.test_metric_name,
    )


def _check_numeric(name: str, key: str, a: np.ndarray) -> None:
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise BenchmarkError(f"{name}: `{key}` must be numeric, got dtype {a.dtype}")


def _check_finite(name: str, key: str, a: np.ndarray) -> None:
    bad = ~np.isfinite(a.astype(np.float64))
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise BenchmarkError(
            f"{name}: `{key}` holds {int(bad.sum())} NaN/inf values "
            f"(first rows: {rows[:5].tolist()})"
        )
