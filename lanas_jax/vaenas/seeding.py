"""Searches whose first queries come from a given list of rows (seed 002, Sec. 5.3).

Sec. 5.3 ("Combination with evolution search") replaces the random initial population of an
evolution search by VAE samples. :func:`seeded_search` runs any strategy for ``budget`` queries
but answers its first ``num_init`` queries from ``init_rows`` (in order, skipping rows already
queried); when the list runs out the strategy's own proposal is used. Everything is told to the
strategy, so e.g. regularized evolution builds its population from these rows.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from lanas_jax.runner import History, check_budget
from lanas_jax.scanned import table_evaluator
from lanas_jax.strategies.core import Strategy


def rows_of_tokens(tokens: jax.Array, table: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``[M, L]`` tokens -> ``([M] int32 rows, [M] bool found)`` by exact match in ``table``."""
    hit = jnp.all(table[None, :, :] == tokens[:, None, :], -1)  # [M, N]
    return jnp.argmax(hit, 1).astype(jnp.int32), jnp.any(hit, 1)


def _seeded(strategy, budget, num_init, key, bench, init_rows, params, init_ok=None,
            evaluator=None):
    """See :func:`seeded_search`; ``init_ok [M]`` bool (default all) marks the usable entries
    of ``init_rows`` (e.g. VAE decodes that are table rows), the others are skipped.
    ``evaluator``: the table's evaluator, built outside when ``bench`` is traced (a pool's
    keys are computed on the host, which a traced table cannot give)."""
    if isinstance(strategy, Strategy):
        return _seeded_archs(strategy, budget, num_init, key, bench, init_rows, params, init_ok,
                             evaluator)
    init_key, scan_key = jax.random.split(key)
    state = strategy.init(init_key, bench, budget, params)
    slots = jnp.arange(init_rows.shape[0])
    ok = jnp.ones(init_rows.shape, bool) if init_ok is None else init_ok

    def step(carry, xs):
        state, seen, ptr, used = carry
        step_key, t = xs
        own, state = strategy.ask(step_key, state, bench, params)
        avail = (slots >= ptr) & ~seen[init_rows] & ok
        j = jnp.argmax(avail)
        use = (t < num_init) & jnp.any(avail)
        index = jnp.where(use, init_rows[j], own).astype(jnp.int32)
        state = strategy.tell(state, index, bench.metric[index], bench, params)
        carry = (state, seen.at[index].set(True), jnp.where(use, j + 1, ptr), used + use)
        return carry, index

    carry = (state, jnp.zeros((bench.size,), bool), jnp.zeros((), jnp.int32),
             jnp.zeros((), jnp.int32))
    xs = (jax.random.split(scan_key, budget), jnp.arange(budget))
    (_, _, _, used), indices = jax.lax.scan(step, carry, xs)
    return History(indices, bench.metric[indices], bench.test_metric[indices]), used


def _seeded_archs(strategy, budget, num_init, key, bench, init_rows, params, init_ok,
                  evaluator=None):
    """:func:`_seeded` for architecture-protocol strategies: a given row is told without an
    ``ask`` (so nothing is left pending), the strategy's own proposal otherwise."""
    evaluator = table_evaluator(bench) if evaluator is None else evaluator
    domain = evaluator.domain
    init_key, scan_key = jax.random.split(key)
    state = strategy.init(init_key, domain, budget, params)
    slots = jnp.arange(init_rows.shape[0])
    ok = jnp.ones(init_rows.shape, bool) if init_ok is None else init_ok

    def step(carry, xs):
        state, ptr, used = carry
        step_key, t = xs
        avail = (slots >= ptr) & ~state.archive.seen[init_rows] & ok
        j = jnp.argmax(avail)
        use = (t < num_init) & jnp.any(avail)

        def own(state):
            archs, state = strategy.ask(step_key, state, domain, params)
            return archs, state

        def given(state):
            return jax.tree.map(lambda a: a[None], domain.arch(init_rows[j])), state

        archs, state = jax.lax.cond(use, given, own, state)
        ev = evaluator.evaluate(archs)
        state = strategy.tell(state, archs, ev.value, domain, params)
        return (state, jnp.where(use, j + 1, ptr), used + use), ev.row[0]

    carry = (state, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    xs = (jax.random.split(scan_key, budget), jnp.arange(budget))
    (_, _, used), indices = jax.lax.scan(step, carry, xs)
    return History(indices, bench.metric[indices], bench.test_metric[indices]), used


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _jitted(strategy, key, bench, budget, num_init, init_rows, params):
    return _seeded(strategy, budget, num_init, key, bench, init_rows, params)


def seeded_search(strategy, bench, key, budget: int, init_rows, num_init: int, params=None):
    """``budget`` queries of ``strategy`` whose first ``num_init`` come from ``init_rows``.

    Returns ``(History, used)``: ``used`` counts the queries answered from ``init_rows`` (fewer
    than ``num_init`` when the list holds repeats). Pure and jit-compatible: call ``_seeded``
    under ``vmap`` for many seeds (as ``experiments/vaenas_table4.py`` does).
    """
    check_budget(strategy, bench, budget)
    if not 0 <= num_init <= budget:
        raise ValueError(f"num_init must be in [0, budget={budget}], got {num_init}")
    params = strategy.default_params() if params is None else params
    rows = jnp.asarray(init_rows, jnp.int32)
    if rows.ndim != 1 or rows.shape[0] == 0:
        raise ValueError(f"init_rows must be a non-empty [M] array, got shape {rows.shape}")
    if int(rows.min()) < 0 or int(rows.max()) >= bench.size:
        raise ValueError(f"init_rows must index the table [0, {bench.size})")
    return _jitted(strategy, key, bench, int(budget), int(num_init), rows, params)
