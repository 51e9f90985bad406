"""Turn any strategy and any jittable evaluator (a tabular benchmark) into search histories.

``run_search`` is one compiled ``lax.scan`` over the budget; ``sweep`` runs many seeds in one
compiled call with the seeds spread over all local devices (the purejaxrl pattern), so a
100-seed study is one call. Strategies on the architecture protocol
(:class:`~lanas_jax.strategies.core.Strategy`) run as ``scan`` over rounds of ``scan`` over
the asks of a round of ``vmap`` over seeds, so a strategy's per-round refit is a real branch
and a progress callback sees every seed at once; strategies still on the row protocol
(:class:`~lanas_jax.strategies.base.TableStrategy`) run as ``vmap(scan)``. Both give row ``i``
of a sweep equal to the single search with key ``i``.
"""

from __future__ import annotations

import functools
import time
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

    indices: jax.Array  # [..., budget] int32, the entries queried
    metric: jax.Array  # [..., budget] their search metric
    test_metric: jax.Array  # [..., budget] their test metric (NaN where the table has none)
    archs: Any = None  # architecture protocol: [..., budget] the architectures (a pytree)


def check_budget(strategy, bench: Benchmark, budget: int) -> None:
    """Reject budgets the table cannot serve without repeating a query."""
    if isinstance(strategy, Strategy):
        scanned.check_budget(strategy, scanned.table_evaluator(bench), budget)
        return
    if not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be a positive integer, got {budget!r}")
    if budget > bench.size:
        raise ValueError(
            f"budget {budget} is larger than the search space of {bench.name} "
            f"({bench.size} entries): a search never queries an entry twice"
        )
    strategy.validate(bench, int(budget))


def _run(strategy, budget: int, key: jax.Array, bench: Benchmark, params: Any) -> History:
    return _run_with_state(strategy, budget, key, bench, params)[0]


def _run_with_state(strategy, budget: int, key, bench: Benchmark, params: Any):
    init_key, scan_key = jax.random.split(key)
    state = strategy.init(init_key, bench, budget, params)

    def step(state, key):
        index, state = strategy.ask(key, state, bench, params)
        value = bench.metric[index]
        state = strategy.tell(state, index, value, bench, params)
        return state, index

    state, indices = jax.lax.scan(step, state, jax.random.split(scan_key, budget))
    return History(indices, bench.metric[indices], bench.test_metric[indices]), state


def run_search(
    strategy, bench: Benchmark, key: jax.Array, budget: int, params: Any = None
) -> History:
    """One search of ``budget`` queries as a single jit-compiled ``lax.scan``."""
    check_budget(strategy, bench, budget)
    params = strategy.default_params() if params is None else params
    if isinstance(strategy, Strategy):
        history = scanned.sweep(strategy, scanned.table_evaluator(bench), key[None],
                                    int(budget), params)
        return _history(jax.tree.map(lambda a: a[0], history))
    return _jitted_run(strategy, int(budget))(key, bench, params)


@functools.lru_cache(maxsize=64)
def _jitted_run(strategy, budget: int):
    return jax.jit(functools.partial(_run, strategy, budget))


@functools.lru_cache(maxsize=64)
def _jitted_sweep(strategy, budget: int):
    return jax.jit(jax.vmap(functools.partial(_run, strategy, budget), in_axes=(0, None, None)))


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
    if pad:
        keys = jnp.concatenate([keys, keys[:pad]])
    mesh = Mesh(np.asarray(devices), ("seeds",))
    return jax.device_put(keys, NamedSharding(mesh, PartitionSpec("seeds"))), n


def sweep(strategy, bench: Benchmark, keys: jax.Array, budget: int, params: Any = None,
          progress=None) -> History:
    """``run_search`` for every key in ``keys`` as one compiled, vmapped call.

    Row ``i`` of the result equals ``run_search(strategy, bench, keys[i], budget, params)``.
    ``progress`` (architecture-protocol strategies): a
    :class:`~lanas_jax.progress.ProgressReporter` (or any object with ``update(done, best)``),
    fed once per round from inside the compiled scan; it changes no result.
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
    if isinstance(strategy, Strategy):
        evaluator = scanned.table_evaluator(bench)
        history, compile_s, run_s = scanned.timed(strategy, evaluator, keys, int(budget),
                                                      params, progress)
        return _history(jax.tree.map(lambda a: a[:n], history)), compile_s, run_s
    fn = _jitted_sweep(strategy, int(budget))
    t0 = time.perf_counter()
    compiled = fn.lower(keys, bench, params).compile()
    t1 = time.perf_counter()
    history = jax.block_until_ready(compiled(keys, bench, params))
    t2 = time.perf_counter()
    history = jax.tree.map(lambda a: a[:n], history)
    return history, t1 - t0, t2 - t1


def _history(h: scanned.ArchHistory) -> History:
    return History(h.rows, h.value, h.test, h.archs)


def sweep_with_state(
    strategy, bench: Benchmark, keys: jax.Array, budget: int, params: Any = None
) -> tuple[History, Any]:
    """``sweep`` that also returns every seed's final strategy state (for diagnostics such
    as continuous LaNAS's proposal counters); one compiled call, not cached."""
    check_budget(strategy, bench, budget)
    params = strategy.default_params() if params is None else params
    if isinstance(strategy, Strategy):
        history, state = scanned.sweep(strategy, scanned.table_evaluator(bench), keys,
                                           int(budget), params, with_state=True)
        return _history(history), state
    fn = jax.jit(jax.vmap(functools.partial(_run_with_state, strategy, int(budget)),
                          in_axes=(0, None, None)))
    return fn(keys, bench, params)
