"""Searches whose first queries come from a given list of rows (seed 002, Sec. 5.3).

Sec. 5.3 ("Combination with evolution search") replaces the random initial population of an
evolution search by VAE samples. :class:`Seeded` wraps any strategy: its first ``num_init``
proposals are taken from ``params.rows`` (pool rows, in order, skipping rows that are not new
or not ``params.ok``); when the list runs out, or after ``num_init`` proposals, the wrapped
strategy proposes. Everything is told to the wrapped strategy, so e.g. regularized evolution
builds its population from these rows. It is a strategy, so the runner runs it
(:func:`seeded_search`, :func:`seeded_run`): no second search loop.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax import archive as archive_lib
from lanas_jax import scanned
from lanas_jax.runner import History
from lanas_jax.strategies.core import Segment, Strategy


@struct.dataclass
class SeededParams:
    """The wrapped strategy's params and the rows to start from (vmappable per seed)."""

    base: Any
    rows: jax.Array  # [M] int32 pool rows, in the order they are to be proposed
    ok: jax.Array  # [M] bool, which of them may be used (e.g. VAE decodes found in the table)


@struct.dataclass
class SeededState:
    base: Any  # the wrapped strategy's own state
    pointer: jax.Array  # () int32, the next entry of ``rows`` to consider
    asked: jax.Array  # () int32, proposals made
    used: jax.Array  # () int32, proposals taken from ``rows``


@dataclasses.dataclass(frozen=True)
class Seeded(Strategy):
    """``base`` whose first ``num_init`` proposals come from ``params.rows`` (module doc).

    Attributes:
      base: the wrapped strategy (its ``batch_size`` is this one's).
      num_init: proposals taken from the list at most.
    """

    base: Strategy | None = None
    num_init: int = 0
    name = "seeded"

    @property
    def has_rounds(self) -> bool:
        return self.base.has_rounds

    def validate(self, domain, budget: int) -> None:
        if not isinstance(self.base, Strategy):
            raise ValueError(f"Seeded wraps an architecture-protocol strategy, got "
                             f"{type(self.base).__name__}")
        if self.batch_size != self.base.batch_size:
            raise ValueError(f"Seeded's batch_size ({self.batch_size}) must be its base's "
                             f"({self.base.batch_size})")
        if not domain.is_pool:
            raise ValueError("Seeded starts from pool rows: the domain must be a pool (a table)")
        if not 0 <= self.num_init <= budget:
            raise ValueError(f"num_init must be in [0, budget={budget}], got {self.num_init}")
        self.base.validate(domain, budget)

    def default_params(self):
        raise ValueError("Seeded needs SeededParams(base params, rows, ok)")

    def _wrapped(self, state):
        return state.replace(inner=state.inner.base)

    def _rewrap(self, state, wrapped):
        return state.replace(archive=wrapped.archive, inner=state.inner.replace(
            base=wrapped.inner))

    def _init(self, key, domain, budget, params):
        zero = jnp.zeros((), jnp.int32)
        return SeededState(self.base._init(key, domain, budget, params.base), zero, zero, zero)

    def _ask_one(self, key, state, domain, params):
        inner = state.inner
        new = jax.vmap(lambda r: archive_lib.is_new(state.archive, domain, domain.arch(r)))(
            params.rows)
        avail = (jnp.arange(params.rows.shape[0]) >= inner.pointer) & new & params.ok
        j = jnp.argmax(avail)
        use = (inner.asked < self.num_init) & jnp.any(avail)

        def given(state):
            return domain.arch(params.rows[j]), state

        def own(state):
            arch, wrapped = self.base._ask_one(key, self._wrapped(state), domain, params.base)
            return arch, self._rewrap(state, wrapped)

        arch, state = jax.lax.cond(use, given, own, state)
        inner = state.inner.replace(pointer=jnp.where(use, j + 1, inner.pointer),
                                    asked=inner.asked + 1, used=inner.used + use)
        return arch, state.replace(inner=inner)

    def _tell(self, state, archs, values, domain, params):
        wrapped = self.base._tell(self._wrapped(state), archs, values, domain, params.base)
        return self._rewrap(state, wrapped)

    def round_due(self, count: jax.Array) -> jax.Array:
        return self.base.round_due(count)

    def schedule(self, budget: int) -> tuple[Segment, ...]:
        return self.base.schedule(budget)

    def _begin_round(self, key, state, domain, params):
        wrapped = self.base._begin_round(key, self._wrapped(state), domain, params.base)
        return self._rewrap(state, wrapped)


def seeded_run(strategy: Strategy, budget: int, num_init: int, key: jax.Array, evaluator,
               init_rows: jax.Array, params: Any, init_ok: jax.Array | None = None):
    """One seeded search through the runner: ``(ArchHistory of one search, used)``.

    Traceable (``experiments/vaenas_table4.py`` vmaps it over seeds with per-seed rows); pass
    the table's ``evaluator`` built on the host.
    """
    ok = jnp.ones(init_rows.shape, bool) if init_ok is None else init_ok
    seeded = Seeded(base=strategy, num_init=num_init, batch_size=strategy.batch_size)
    history, state = scanned.sweep(seeded, evaluator, key[None], budget,
                                   SeededParams(params, init_rows, ok), with_state=True)
    return jax.tree.map(lambda a: a[0], history), state.inner.used[0]


def seeded_search(strategy, bench, key, budget: int, init_rows, num_init: int, params=None):
    """``budget`` queries of ``strategy`` whose first ``num_init`` come from ``init_rows``.

    Returns ``(History, used)``: ``used`` counts the queries answered from ``init_rows`` (fewer
    than ``num_init`` when the list holds repeats).
    """
    if not isinstance(strategy, Strategy):
        raise ValueError(f"seeded_search needs an architecture-protocol strategy, got "
                         f"{type(strategy).__name__}")
    params = strategy.default_params() if params is None else params
    rows = jnp.asarray(init_rows, jnp.int32)
    if rows.ndim != 1 or rows.shape[0] == 0:
        raise ValueError(f"init_rows must be a non-empty [M] array, got shape {rows.shape}")
    if int(rows.min()) < 0 or int(rows.max()) >= bench.size:
        raise ValueError(f"init_rows must index the table [0, {bench.size})")
    history, used = seeded_run(strategy, int(budget), int(num_init), key,
                               scanned.table_evaluator(bench), rows, params)
    return History(history.rows, history.value, history.test, history.archs), used
