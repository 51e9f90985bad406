"""Driving an architecture-protocol strategy on a table by hand, one query at a time, in the
runner's key order: tests look at the state between ``ask`` and ``tell``."""

from __future__ import annotations

import jax

from lanas_jax.scanned import table_evaluator


class TableDriver:
    """``ask(key) -> row`` and ``tell(row)`` over ``bench`` for a batch-1 strategy."""

    def __init__(self, strategy, bench, budget: int, key, params=None):
        self.strategy, self.bench = strategy, bench
        self.evaluator = table_evaluator(bench)
        self.domain = self.evaluator.domain
        self.params = strategy.default_params() if params is None else params
        self.state = strategy.init(key, self.domain, budget, self.params)
        self._archs = None

    def ask(self, key) -> int:
        self._archs, self.state = self.strategy.ask(key, self.state, self.domain, self.params)
        return int(self.evaluator.evaluate(self._archs).row[0])

    def tell(self, row: int | None = None, state=None):
        """Tell the last asked architecture; returns the new state (kept unless ``state`` is
        given, for a look at what a tell would do)."""
        ev = self.evaluator.evaluate(self._archs)
        new = self.strategy.tell(self.state if state is None else state, self._archs, ev.value,
                                 self.domain, self.params)
        if state is None:
            self.state = new
        return new

    @property
    def lanas(self):
        """The LaNAS part of the state."""
        return self.state.inner


def keys(seed: int, n: int):
    return jax.random.split(jax.random.key(seed), n)
