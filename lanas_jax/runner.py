"""Turn any strategy and any tabular benchmark (or jittable evaluator) into search histories.

``run_search`` is one compiled search; ``sweep`` runs many seeds in one compiled call with the
seeds spread over all local devices (the purejaxrl pattern), so a 100-seed study is one call.
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
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from lanas_jax import scanned
from lanas_jax.benchmarks.base import Benchmark
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
    """Pad the seed axis to a multiple of the local device count and shard it over them."""
    devices = jax.local_devices()
    n = keys.shape[0]
    if len(devices) == 1:
        return keys, n
    pad = (-n) % len(devices)
    if pad:  # repeat seeds (cycling: fewer seeds than devices is fine)
        keys = keys[jnp.arange(n + pad) % n]
    mesh = Mesh(np.asarray(devices), ("seeds",))
    return jax.device_put(keys, NamedSharding(mesh, PartitionSpec("seeds"))), n


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
    history, compile_s, run_s = scanned.timed(strategy, evaluator, keys, int(budget), params,
                                              progress)
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
