"""The strategy protocol shared by every search method, and the registry of strategies.

Every method is an immutable, hashable configuration object (static under ``jit``) with
three pure functions, in the style of evosax:

    state = strategy.init(key, bench, budget, params)
    index, state = strategy.ask(key, state, bench, params)
    state = strategy.tell(state, index, value, bench, params)

``ask`` proposes one unseen entry of the tabular benchmark ``bench`` (an int32 index);
``tell`` receives its search metric. ``params`` is a pytree of the numbers a user may want
to vmap over (Cp, ridge strength, ...). The benchmark is an argument rather than part of
the configuration because its arrays must be traced, not hashed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class NoParams:
    """Params for strategies that have nothing worth vmapping over."""


class Strategy:
    """Base class: subclasses are frozen dataclasses implementing the three methods."""

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


def random_priority(key: jax.Array, n: int) -> jax.Array:
    """31 random bits per entry, for uniform draws without replacement by masked argmax.

    The candidate with the largest priority is a uniform draw among the candidates. With one
    priority vector kept fixed, successive draws from a shrinking unseen set stay uniform:
    every entry still unseen was a candidate at every earlier draw, so what those draws
    revealed about the priorities is symmetric in the remaining entries. (Ties break towards
    the lower index and occur with probability ~n^2 / 2^32; a fresh random vector per draw
    or a permutation would cost several times more on a CPU.)
    """
    return (jax.random.bits(key, (n,), jnp.uint32) >> 1).astype(jnp.int32)


def draw(priority: jax.Array, candidate: jax.Array) -> jax.Array:
    """The candidate with the largest priority (an int32 index); assumes one exists."""
    return jnp.argmax(jnp.where(candidate, priority, -1)).astype(jnp.int32)


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
