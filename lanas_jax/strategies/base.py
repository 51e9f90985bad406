"""The registry of strategies, and the first (table-row) protocol still used by the strategies
not yet moved to :class:`~lanas_jax.strategies.core.Strategy` (architectures in and out).

The row protocol, in the style of evosax:

    state = strategy.init(key, bench, budget, params)
    index, state = strategy.ask(key, state, bench, params)
    state = strategy.tell(state, index, value, bench, params)

``ask`` proposes one unseen entry of the tabular benchmark ``bench`` (an int32 index);
``tell`` receives its search metric. ``params`` is a pytree of the numbers a user may want
to vmap over (Cp, ridge strength, ...).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import jax

from lanas_jax.strategies.core import NoParams, Strategy, draw, random_priority  # noqa: F401


class TableStrategy:
    """The first protocol, on table rows (``ask`` returns a row index); strategies not yet
    moved to :class:`Strategy` (issue 12) still use it, and the runner drives both."""

    name: str = "strategy"

    def default_params(self) -> Any:
        return NoParams()

    def init(self, key: jax.Array, bench, budget: int, params: Any) -> Any:
        raise NotImplementedError

    def ask(self, key: jax.Array, state: Any, bench, params: Any) -> tuple[jax.Array, Any]:
        raise NotImplementedError

    def tell(self, state: Any, index: jax.Array, value: jax.Array, bench, params: Any) -> Any:
        raise NotImplementedError

    def validate(self, bench, budget: int) -> None:
        """Raise ValueError if this strategy cannot run ``budget`` samples on ``bench``."""


_REGISTRY: dict[str, Callable[..., Strategy | TableStrategy]] = {}

# Modules whose import registers a strategy; imported lazily to keep the packages free of
# import cycles (the LaNAS strategy lives in lanas_jax.partition).
_STRATEGY_MODULES = (
    "lanas_jax.strategies.random_search",
    "lanas_jax.strategies.evolution",
    "lanas_jax.partition.lanas",
    "lanas_jax.strategies.l2nas",
    "lanas_jax.strategies.reinforce",
    "lanas_jax.strategies.predictor",
    "lanas_jax.strategies.bo",
    "lanas_jax.strategies.mcts",
    "lanas_jax.vaenas.strategy",
)


def _import_all() -> None:
    for module in _STRATEGY_MODULES:
        importlib.import_module(module)


def register(name: str):
    """Class decorator adding a strategy to the registry under ``name``."""

    def deco(cls):
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def registered() -> list[str]:
    """Names of every strategy, in alphabetical order."""
    _import_all()
    return sorted(_REGISTRY)


def make(name: str, **config) -> Strategy | TableStrategy:
    """Build a registered strategy by name; unknown names raise with the known ones listed."""
    _import_all()
    if name not in _REGISTRY:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(registered())}")
    return _REGISTRY[name](**config)
