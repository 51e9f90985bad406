"""Turn any strategy and any tabular benchmark (or jittable evaluator) into search histories.

``run_search`` is one compiled search; ``sweep`` runs many seeds in one compiled call with the
seeds spread over all devices (the purejaxrl pattern; every process's after
``jax.distributed.initialize``, see :mod:`lanas_jax.devices`), so a 100-seed study is one call.
Both go through :mod:`lanas_jax.scanned`: ``scan`` over the strategy's rounds, of ``scan`` over
the asks of a round, of ``vmap`` over seeds. Row ``i`` of a sweep equals the single search
with key ``i``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from lanas_jax import scanned
from lanas_jax.benchmarks.base import Benchmark
from lanas_jax.devices import padded_rows
from lanas_jax.strategies.core import Strategy


@struct.dataclass
class History:
    """What a search queried, in order. Leading axis: seeds (after ``sweep``)."""

    indices: jax.Array  # [..., budget] int32, the table rows queried
    metric: jax.Array  # [..., budget] their search metric
    test_metric: jax.Array  # [..., budget] their test metric (NaN where the table has none)
    archs: Any = None  # [..., budget] the architectures (a pytree of the space's)


def _strategy(strategy) -> Strategy:
    if not isinstance(strategy, Strategy):
        raise TypeError(f"{type(strategy).__name__} is not a lanas_jax Strategy "
                        "(lanas_jax.strategies.core.Strategy)")
    return strategy


def check_budget(strategy, bench: Benchmark, budget: int) -> None:
    """Reject budgets the table cannot serve without repeating a query (and what the strategy
    itself refuses)."""
    scanned.check_budget(_strategy(strategy), scanned.table_evaluator(bench), budget)


def run_search(
    strategy, bench: Benchmark, key: jax.Array, budget: int, params: Any = None
) -> History:
    """One search of ``budget`` queries as a single compiled call."""
    history = sweep(strategy, bench, key[None], budget, params)
    return jax.tree.map(lambda a: a[0], history)


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """``num_seeds`` independent keys derived from one integer seed."""
    return jax.random.split(jax.random.key(seed), num_seeds)


def _spread(keys: jax.Array) -> tuple[jax.Array, int]:
    """Pad the seed axis to a multiple of the device count and shard it over every device of
    every process (:mod:`lanas_jax.devices`; after ``jax.distributed.initialize`` each process
    passes the same keys and holds its own block)."""
    devices = jax.devices()
    n = keys.shape[0]
    if len(devices) == 1:
        return keys, n
    rows = padded_rows(n, len(devices))
    if len(rows) != n:  # repeat seeds (cycling: fewer seeds than devices is fine)
        keys = keys[jnp.asarray(rows)]
    sharding = NamedSharding(Mesh(np.asarray(devices), ("seeds",)), PartitionSpec("seeds"))
    if jax.process_count() == 1:
        return jax.device_put(keys, sharding), n
    data = np.asarray(jax.random.key_data(keys))  # a global array is built from host blocks
    global_data = jax.make_array_from_callback(data.shape, sharding, lambda idx: data[idx])
    impl = jax.random.key_impl(keys)
    wrap = jax.jit(lambda d: jax.random.wrap_key_data(d, impl=impl), out_shardings=sharding)
    return wrap(global_data), n


class _Unpadded:
    """A progress reporter shown the real seeds only (not the padding rows of :func:`_spread`)."""

    def __init__(self, progress, num_seeds: int):
        self.progress, self.num_seeds = progress, num_seeds

    def update(self, done, best) -> None:
        self.progress.update(done, np.asarray(best)[:self.num_seeds])


def _gather(tree):
    """Every process's blocks of a sweep's outputs, as host arrays on every process."""
    if jax.process_count() == 1:
        return tree
    return multihost_utils.process_allgather(tree, tiled=True)


def sweep(strategy, bench: Benchmark, keys: jax.Array, budget: int, params: Any = None,
          progress=None) -> History:
    """``run_search`` for every key in ``keys`` as one compiled call.

    Row ``i`` of the result equals ``run_search(strategy, bench, keys[i], budget, params)``.
    ``progress``: a :class:`~lanas_jax.progress.ProgressReporter` (or any object with
    ``update(done, best)``), fed once per round from inside the compiled scan; it changes no
    result.
    """
    history, _, _ = timed_sweep(strategy, bench, keys, budget, params, progress)
    return history


def timed_sweep(
    strategy, bench: Benchmark, keys: jax.Array, budget: int, params: Any = None, progress=None
) -> tuple[History, float, float]:
    """``sweep`` that also returns (compile seconds, run seconds), measured separately."""
    check_budget(strategy, bench, budget)
    params = strategy.default_params() if params is None else params
    keys, n = _spread(keys)
    evaluator = scanned.table_evaluator(bench)
    progress = None if progress is None else _Unpadded(progress, n)
    history, compile_s, run_s = scanned.timed(strategy, evaluator, keys, int(budget), params,
                                              progress)
    history = _gather(history)
    return _history(jax.tree.map(lambda a: a[:n], history)), compile_s, run_s


def _history(h: scanned.ArchHistory) -> History:
    return History(h.rows, h.value, h.test, h.archs)


def sweep_with_state(
    strategy, bench: Benchmark, keys: jax.Array, budget: int, params: Any = None
) -> tuple[History, Any]:
    """``sweep`` that also returns every seed's final strategy state (for diagnostics such
    as continuous LaNAS's proposal counters)."""
    check_budget(strategy, bench, budget)
    params = strategy.default_params() if params is None else params
    history, state = scanned.sweep(strategy, scanned.table_evaluator(bench), keys, int(budget),
                                   params, with_state=True)
    return _history(history), state


__all__ = ["History", "check_budget", "run_search", "seed_keys", "sweep", "sweep_with_state",
           "timed_sweep"]
