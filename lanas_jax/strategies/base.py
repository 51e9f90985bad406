"""The registry of strategies. Every strategy is a :class:`~lanas_jax.strategies.core.Strategy`
(architectures in and out, the archive kept by the base); ``make(name, **config)`` builds one
by name, ``registered()`` lists the names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from lanas_jax.strategies.core import Strategy

_REGISTRY: dict[str, Callable[..., Strategy]] = {}

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
    "lanas_jax.strategies.lamcts",
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


def make(name: str, **config) -> Strategy:
    """Build a registered strategy by name; unknown names raise with the known ones listed."""
    _import_all()
    if name not in _REGISTRY:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(registered())}")
    return _REGISTRY[name](**config)
