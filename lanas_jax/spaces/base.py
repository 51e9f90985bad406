"""The Space protocol: what an architecture is, independent of how it is evaluated.

An architecture is a small fixed-shape pytree of integer arrays (a ``flax.struct`` dataclass
per space). A space is a frozen, hashable dataclass (static under ``jit``) whose methods act on
**one** architecture and are jittable and vmappable; batch them with ``jax.vmap``. Host-side
methods (``describe``, ``parse``, ``size``, ``enumerate``) are marked as such.

Every space gives (see ``DESIGN.md``):

* ``sample(key) -> arch``: a valid architecture (the space's own "uniform", documented per space);
* ``mutate(key, arch) -> arch``: one edit, always a valid architecture with a different ``key``;
* ``features(arch) -> f32[feature_dim]``: the encoding LaNAS's node models regress on;
* ``relax(arch) -> f32[relax_dim]`` and ``discretise(x) -> arch``: an architecture as a point of
  the box ``[0, 1]^relax_dim`` and back, so ``discretise(relax(a))`` has ``a``'s key (polytope
  samplers, actor-critic methods);
* ``tokens(arch) -> i32[num_tokens]`` with ``vocab_sizes`` (one per token position) and
  ``from_tokens(tokens) -> arch`` (VAEs and controllers); every token sequence within the vocab
  decodes to a valid architecture (repaired where needed, documented per space);
* ``key(arch) -> u32[2]``: canonical identity (equal for isomorphic architectures), used to
  de-duplicate; for a *dense* space ``key[0]`` is ``index(arch)`` and ``key[1]`` is 0;
* ``describe(arch) -> str`` / ``parse(text) -> arch`` (host): a string a person can read and
  type back; ``parse`` raises :class:`ValueError` naming what is malformed;
* ``size() -> SpaceSize`` (host): the number of distinct architectures (by ``key``), exact or
  estimated, saying which;
* ``network(arch, num_classes, **options) -> flax.linen.Module``: a network to train.

A space is **dense** when its architectures are numbered ``0 .. size - 1``: it then also gives
``index(arch) -> i32`` and ``from_index(i) -> arch`` (jittable) and ``enumerate()`` (host, every
architecture stacked in index order). Archives of dense spaces use a bitmap instead of a key list.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

#: Words in a canonical architecture key.
KEY_WORDS = 2


@dataclasses.dataclass(frozen=True)
class SpaceSize:
    """How many distinct architectures a space holds, and whether that is an exact count."""

    count: float
    exact: bool
    note: str = ""

    def __str__(self) -> str:
        if self.exact:
            text = f"{int(self.count):,}"
        else:
            text = f"~{self.count:.3g} (estimated)"
        return f"{text}{' — ' + self.note if self.note else ''}"


class Space:
    """Base class of every search space; subclasses are frozen dataclasses.

    Class attributes a subclass sets: ``name`` (the registry name), ``feature_dim``,
    ``relax_dim``, ``vocab_sizes`` (a tuple, one entry per token position) and ``dense``.
    """

    name: str = "space"
    feature_dim: int = 0
    relax_dim: int = 0
    vocab_sizes: tuple[int, ...] = ()
    dense: bool = False

    @property
    def num_tokens(self) -> int:
        return len(self.vocab_sizes)

    # -- jittable, one architecture ----------------------------------------------------------
    def sample(self, key: jax.Array) -> Any:
        raise NotImplementedError

    def mutate(self, key: jax.Array, arch: Any) -> Any:
        raise NotImplementedError

    def features(self, arch: Any) -> jax.Array:
        raise NotImplementedError

    def relax(self, arch: Any) -> jax.Array:
        raise NotImplementedError

    def discretise(self, x: jax.Array) -> Any:
        raise NotImplementedError

    def tokens(self, arch: Any) -> jax.Array:
        raise NotImplementedError

    def from_tokens(self, tokens: jax.Array) -> Any:
        raise NotImplementedError

    def key(self, arch: Any) -> jax.Array:
        raise NotImplementedError

    def index(self, arch: Any) -> jax.Array:
        """Dense spaces only: the architecture's number in ``[0, size)``."""
        raise NotImplementedError(f"the {self.name} space is not dense: it has no index")

    def from_index(self, index: jax.Array) -> Any:
        """Dense spaces only: the inverse of :meth:`index`."""
        raise NotImplementedError(f"the {self.name} space is not dense: it has no index")

    # -- host ----------------------------------------------------------------------------------
    def describe(self, arch: Any) -> str:
        raise NotImplementedError

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    def size(self) -> SpaceSize:
        raise NotImplementedError

    def enumerate(self) -> Any:
        """Dense spaces only: every architecture stacked (leading axis ``size``), index order."""
        if not self.dense:
            raise NotImplementedError(f"the {self.name} space is too large to enumerate")
        n = int(self.size().count)
        return jax.jit(jax.vmap(self.from_index))(jnp.arange(n, dtype=jnp.int32))

    def network(self, arch: Any, num_classes: int, **options) -> Any:
        raise NotImplementedError(f"the {self.name} space has no network builder yet")

    # -- helpers shared by every space ---------------------------------------------------------
    def same(self, a: Any, b: Any) -> jax.Array:
        """Whether two architectures are the same network (equal canonical keys)."""
        return jnp.all(self.key(a) == self.key(b))

    def to_host(self, arch: Any) -> Any:
        """One architecture as host numpy arrays (for ``describe``)."""
        return jax.tree.map(np.asarray, arch)


def dense_key(index: jax.Array) -> jax.Array:
    """The canonical key of a dense space's architecture number."""
    return jnp.stack([jnp.asarray(index).astype(jnp.uint32), jnp.zeros((), jnp.uint32)])


def stack(archs: list[Any]) -> Any:
    """A list of architectures as one batched pytree (leading axis = list position).

    Stacked on the host and moved once: ``jnp.stack`` of thousands of device arrays compiles
    one concatenation with as many operands (minutes for NAS-Bench-201's 15,625 cells)."""
    if not archs:
        raise ValueError("stack() needs at least one architecture")
    return jax.tree.map(lambda *xs: jnp.asarray(np.stack([np.asarray(x) for x in xs])), *archs)


def unstack(archs: Any) -> list[Any]:
    """A batched pytree of architectures as a list of host architectures."""
    leaves = jax.tree.leaves(archs)
    n = int(np.shape(leaves[0])[0]) if leaves else 0
    host = jax.tree.map(np.asarray, archs)
    return [jax.tree.map(lambda a, i=i: a[i], host) for i in range(n)]


# Registry: a space is looked up by name; modules are imported lazily (no import cycles, and
# ``import lanas_jax.spaces`` stays cheap).
_SPACES: dict[str, str] = {
    "nb201": "lanas_jax.spaces.nb201:NB201",
    "nb101": "lanas_jax.spaces.nb101.space:NB101",
    "convnet": "lanas_jax.spaces.convnet:ConvNet",
    "nasnet": "lanas_jax.spaces.nasnet:NASNet",
    "mlp": "lanas_jax.spaces.mlp:MLPStack",
}


def space_names() -> list[str]:
    """Every registered space name, sorted."""
    return sorted(_SPACES)


def get_space(name: str, **options) -> Space:
    """The space registered as ``name`` (``nb201``, ``nb101``, ``convnet``, ``nasnet``, ``mlp``),
    built with ``options``; an unknown name raises with the known ones listed."""
    if name not in _SPACES:
        raise ValueError(f"unknown space {name!r}; known: {', '.join(space_names())}")
    module, cls = _SPACES[name].split(":")
    return getattr(importlib.import_module(module), cls)(**options)
