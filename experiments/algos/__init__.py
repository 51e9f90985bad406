"""Per-strategy absl flags for the experiment binaries.

Each module here defines its strategy's flags and registers a builder
``build() -> (strategy, params)`` under the strategy's name with :func:`builder`. A binary
imports this package (which imports every module, so every flag exists) and calls
:func:`build`. Adding a strategy to the binaries = one module + one line in ``_MODULES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_BUILDERS: dict[str, Callable[[], tuple[Any, Any]]] = {}

_MODULES = (
    "experiments.algos.lanas",
    "experiments.algos.random_search",
    "experiments.algos.evolution",
    "experiments.algos.l2nas",
    "experiments.algos.reinforce",
    "experiments.algos.predictor",
    "experiments.algos.bo",
    "experiments.algos.mcts",
    "experiments.algos.vaenas",
)


def builder(name: str):
    """Decorator registering ``fn() -> (strategy, params)`` as the flag-built ``name``."""

    def deco(fn):
        _BUILDERS[name] = fn
        return fn

    return deco


def names() -> list[str]:
    """The strategies the binaries can build, sorted."""
    return sorted(_BUILDERS)


def build(name: str) -> tuple[Any, Any]:
    """The strategy ``name`` and its params, configured from the parsed flags.

    Raises:
      ValueError: for an unknown name (the message lists the known ones) or flag values the
        strategy refuses.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(names())}")
    return _BUILDERS[name]()


for _module in _MODULES:
    importlib.import_module(_module)
