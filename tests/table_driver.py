"""Driving a strategy by hand through its public ``init / ask / tell``, in the runner's key
order, so tests can compare it with the scanned runner or look at the state between calls."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lanas_jax.scanned import table_evaluator


def by_hand(strategy, evaluator, key, budget: int):
    """``(archs [budget], final state)`` of the public init / ask / tell loop over any
    evaluator, with the keys the scanned runner derives from ``key``."""
    domain, params = evaluator.domain, strategy.default_params()
    init_key, scan_key = jax.random.split(key)
    state = strategy.init(init_key, domain, budget, params)
    out = []
    for k in jax.random.split(scan_key, budget // strategy.batch_size):
        archs, state = strategy.ask(k, state, domain, params)
        state = strategy.tell(state, archs, evaluator.evaluate(archs).value, domain, params)
        out.append(archs)
    return jax.tree.map(lambda *a: jnp.concatenate(a), *out), state


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
