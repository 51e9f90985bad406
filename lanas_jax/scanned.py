"""The scanned runner of architecture-protocol strategies over a jittable evaluator.

A sweep of ``S`` seeds is ``scan`` over the strategy's rounds (its :meth:`schedule`), inside
each a ``scan`` over the asks of the round, of ``vmap`` over the seeds: the round's
``_begin_round`` (e.g. LaNAS's refit) runs once per round as straight-line code, never under a
per-seed ``lax.cond`` that ``vmap`` would turn into "compute both sides every step", and an
optional progress callback sees every seed once per round. Keys are derived exactly as a
hand-written loop over the public ``init / ask / tell`` derives them, so the two agree.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lanas_jax.evaluators.table import TableEvaluator, from_benchmark


@struct.dataclass
class ArchHistory:
    """What a search evaluated, in order (leading axes ``[seeds, budget]``)."""

    archs: Any
    value: jax.Array
    test: jax.Array
    rows: jax.Array


def check_budget(strategy, evaluator, budget: int) -> None:
    """Reject a budget the domain cannot serve without an architecture twice, or that is not
    whole batches; then the strategy's own checks."""
    if not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be a positive integer, got {budget!r}")
    domain = evaluator.domain
    if domain.is_pool and budget > domain.size:
        raise ValueError(
            f"budget {budget} is larger than the search space of {evaluator.name} "
            f"({domain.size} entries): a search never queries an entry twice"
        )
    if budget % strategy.batch_size:
        raise ValueError(f"budget {budget} is not a multiple of the batch size "
                         f"{strategy.batch_size}")
    strategy.validate(domain, int(budget))


_TABLES: dict[int, tuple[Any, TableEvaluator]] = {}


def table_evaluator(bench) -> TableEvaluator:
    """The (cached) :class:`TableEvaluator` of a benchmark; an evaluator passes through."""
    if isinstance(bench, TableEvaluator):
        return bench
    if isinstance(bench.metric, jax.core.Tracer):  # inside a trace: build, never cache
        return from_benchmark(bench)
    hit = _TABLES.get(id(bench))
    if hit is None or hit[0] is not bench:
        if len(_TABLES) >= 16:
            _TABLES.pop(next(iter(_TABLES)))
        hit = (bench, from_benchmark(bench))
        _TABLES[id(bench)] = hit
    return hit[1]


class _Progress:
    """The reporter of the sweep running now: the compiled function calls :func:`_emit`, a
    fixed module function, so one compilation serves every reporter."""

    reporter = None
    num_seeds = 0  # the real seeds (a single search runs padded to two)


def _emit(done, best) -> None:
    reporter = _Progress.reporter
    if reporter is not None:
        reporter.update(int(done), np.asarray(best)[:_Progress.num_seeds])


def _run(strategy, budget: int, progress: bool, with_state: bool,
         keys: jax.Array, evaluator, params):
    domain = evaluator.domain
    num_asks = budget // strategy.batch_size
    pairs = jax.vmap(jax.random.split)(keys)
    state = jax.vmap(lambda k: strategy.init(k, domain, budget, params))(pairs[:, 0])
    ask_keys = jnp.swapaxes(jax.vmap(lambda k: jax.random.split(k, num_asks))(pairs[:, 1]), 0, 1)

    def one(state, key, begin: bool):
        round_key, ask_key = jax.random.split(key)
        if begin:
            state = strategy._begin_round(round_key, state, domain, params)
        archs, state = strategy.ask_batch(ask_key, state, domain, params)
        ev = evaluator.evaluate(archs)
        state = strategy.record(state, archs, ev.value, domain, params)
        return state, (archs, ev.value, ev.test, ev.row)

    def step(carry, key, begin: bool):
        state, best = carry
        state, out = jax.vmap(functools.partial(one, begin=begin))(state, key)
        return (state, jnp.maximum(best, jnp.max(out[1], -1))), out

    carry = (state, jnp.full((keys.shape[0],), -jnp.inf, jnp.float32))
    outs, start = [], 0
    for seg in strategy.schedule(budget):
        seg_keys = ask_keys[start:start + seg.rounds * seg.asks]
        seg_keys = seg_keys.reshape((seg.rounds, seg.asks) + seg_keys.shape[1:])

        def round_fn(carry, xs, seg=seg, start=start):
            ks, r = xs
            carry, first = step(carry, ks[0], seg.begin)
            first = jax.tree.map(lambda a: a[None], first)
            if seg.asks > 1:
                carry, rest = jax.lax.scan(lambda c, k: step(c, k, False), carry, ks[1:])
                first = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), first, rest)
            if progress:
                done = (start + (r + 1) * seg.asks) * strategy.batch_size
                jax.debug.callback(_emit, done, carry[1])
            return carry, first

        carry, out = jax.lax.scan(round_fn, carry, (seg_keys, jnp.arange(seg.rounds)))
        outs.append(jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), out))
        start += seg.rounds * seg.asks
    if start != num_asks:
        raise ValueError(f"{strategy.name}: schedule covers {start} asks, budget needs "
                         f"{num_asks}")
    out = jax.tree.map(lambda *a: jnp.concatenate(a), *outs)  # [asks, seeds, batch, ...]
    out = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1).reshape(
        (a.shape[1], budget) + a.shape[3:]), out)
    history = ArchHistory(*out)
    return (history, carry[0]) if with_state else history


def clear_cache() -> None:
    """Drop the compiled sweeps kept for reuse (and the tables' evaluators), e.g. to release
    their memory in a long process that compiles many searches."""
    _jitted.cache_clear()
    _TABLES.clear()


@functools.lru_cache(maxsize=64)
def _jitted(strategy, budget: int, progress, with_state: bool):
    return jax.jit(functools.partial(_run, strategy, budget, progress, with_state))


def sweep(strategy, evaluator, keys: jax.Array, budget: int, params: Any = None,
          progress=None, with_state: bool = False):
    """Histories ``[len(keys), budget]`` of one search per key, in one compiled call (and the
    final states with ``with_state``). ``progress``: an object with ``update(done, best)``
    (e.g. :class:`~lanas_jax.progress.ProgressReporter`), called once per round from inside
    the compiled scan; it reads values only, so results are the same with it or without."""
    check_budget(strategy, evaluator, budget)
    params = strategy.default_params() if params is None else params
    fn = _jitted(strategy, int(budget), progress is not None, with_state)
    keys, n = _at_least_two(keys)
    with _reporting(progress, n):
        out = jax.block_until_ready(fn(keys, evaluator, params))
    return jax.tree.map(lambda a: a[:n], out)


def _at_least_two(keys):
    """XLA compiles a batch of one seed differently from a batch of several (a network's
    training can then differ in the last bit and a search take another branch), so a single
    search runs as a batch of two and keeps the first: row ``i`` of a sweep then equals the
    search of key ``i`` alone."""
    n = keys.shape[0]
    return (jnp.concatenate([keys, keys]) if n == 1 else keys), n


def timed(strategy, evaluator, keys, budget: int, params: Any, progress=None):
    """:func:`sweep` with its (compile seconds, run seconds) measured apart."""
    fn = _jitted(strategy, int(budget), progress is not None, False)
    keys, n = _at_least_two(keys)
    t0 = time.perf_counter()
    compiled = fn.lower(keys, evaluator, params).compile()
    t1 = time.perf_counter()
    with _reporting(progress, n):
        history = jax.block_until_ready(compiled(keys, evaluator, params))
    return jax.tree.map(lambda a: a[:n], history), t1 - t0, time.perf_counter() - t1


@contextlib.contextmanager
def _reporting(progress, num_seeds: int):
    _Progress.reporter, _Progress.num_seeds = progress, num_seeds
    try:
        yield
    finally:
        _Progress.reporter = None
