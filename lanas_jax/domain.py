"""What a search may propose: a whole space, or a finite pool of its architectures (a table).

A :class:`Domain` is the pytree every strategy receives with ``init/ask/tell``. It holds the
(static) :class:`~lanas_jax.spaces.base.Space` and, for a *pool* domain, the pool's
architectures stacked ``[N]``, their features ``[N, D]`` and a jittable row lookup. A table's
rows are a pool (a tabular study may only propose what the table holds); a dense space searched
by training is its own pool (every architecture enumerated, row = index), so strategies that rank
candidates (LaNAS's uniform leaf draw, BO, predictors) work on it unchanged; a large space
(NB101 without its table, NASNet, MLP stacks) is an open domain where proposals come from the
space's ``sample`` / ``mutate`` / ``discretise``.

:class:`RowSpace` is the space of a plain table with no known architecture space (a user's
``.npz``): an architecture is a row number, and mutation follows the table's ``neighbors``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lanas_jax.spaces.base import Space, SpaceSize, dense_key


@struct.dataclass
class RowArch:
    """An architecture of a :class:`RowSpace`: a table row."""

    row: jax.Array  # () int32


@dataclasses.dataclass(frozen=True)
class RowSpace(Space):
    """The rows of a table that names no architecture space: architectures are row numbers.

    Only what needs no table data is here (sample, index, describe/parse as ``#row``); features
    and mutations come from the :class:`Domain`, which holds the table's arrays.
    """

    num_rows: int = 1
    table: str = "table"
    name = "rows"
    dense = True

    def sample(self, key):
        return RowArch(jax.random.randint(key, (), 0, self.num_rows, jnp.int32))

    def key(self, arch):
        return dense_key(arch.row)

    def index(self, arch):
        return arch.row.astype(jnp.int32)

    def from_index(self, index):
        return RowArch(jnp.asarray(index, jnp.int32))

    def size(self) -> SpaceSize:
        return SpaceSize(self.num_rows, True, f"rows of {self.table}")

    def describe(self, arch) -> str:
        return f"#{int(np.asarray(arch.row))}"

    def parse(self, text: str):
        body = str(text).strip().removeprefix("#")
        if not body.isdigit() or not 0 <= int(body) < self.num_rows:
            raise ValueError(f"{self.table}: an entry is written #row with row in "
                             f"[0, {self.num_rows}), got {text!r}")
        return RowArch(jnp.asarray(int(body), jnp.int32))


@struct.dataclass
class Domain:
    """A space, and optionally the finite pool of its architectures a search is confined to.

    Attributes:
      space: the architecture space (static).
      archs: pool only: every pool architecture stacked, leading axis ``N``.
      features: pool only: ``[N, D]`` float32, what LaNAS's node models regress on (for a table,
        the table's encoding).
      neighbors: pool only, optional: ``[N, K]`` int32 rows of each entry's one-edit mutations,
        ``-1`` padded (a :class:`RowSpace` mutates through it).
      lut: dense spaces: ``[space size]`` int32 pool row of each architecture index (``-1`` where
        the pool lacks it); otherwise ``[N, 2]`` uint32 pool keys sorted lexicographically.
      order: non-dense spaces: ``[N]`` int32 pool row of each sorted key.
    """

    space: Space = struct.field(pytree_node=False)
    archs: Any = None
    features: Any = None
    neighbors: Any = None
    lut: Any = None
    order: Any = None

    @property
    def is_pool(self) -> bool:
        return self.archs is not None

    @property
    def size(self) -> int:
        """Pool size, or the space's size (possibly an estimate, possibly huge)."""
        if self.is_pool:
            return int(self.features.shape[0])
        return int(self.space.size().count)

    def row(self, arch) -> tuple[jax.Array, jax.Array]:
        """Pool only: ``(row, found)`` of one architecture (row 0 where not found)."""
        if self.space.dense:
            r = self.lut[self.space.index(arch)]
            return jnp.maximum(r, 0), r >= 0
        pos, found = sorted_find(self.lut, self.space.key(arch))
        return self.order[pos], found

    def arch(self, row: jax.Array) -> Any:
        """Pool only: the architecture at ``row``."""
        return jax.tree.map(lambda a: a[row], self.archs)

    def feature(self, arch) -> jax.Array:
        """The features of one architecture: the pool's row where it is a pool member, else the
        space's encoding."""
        if self.is_pool:
            r, _ = self.row(arch)
            return self.features[r]
        return self.space.features(arch)

    def mutate(self, key: jax.Array, arch) -> Any:
        """One edit: a uniform listed neighbour for a :class:`RowSpace` table (itself if it has
        none), otherwise the space's ``mutate``."""
        if isinstance(self.space, RowSpace):
            nb = self.neighbors[arch.row]
            valid = nb >= 0
            pick = jnp.argmax(jnp.where(valid, jax.random.uniform(key, nb.shape), -1.0))
            return RowArch(jnp.where(valid.any(), nb[pick], arch.row).astype(jnp.int32))
        return self.space.mutate(key, arch)

    def can_mutate(self) -> bool:
        return not isinstance(self.space, RowSpace) or self.neighbors is not None


def sorted_find(sorted_keys: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Binary search of a ``u32[2]`` key in ``[N, 2]`` keys sorted lexicographically:
    ``(position, found)``."""
    n = sorted_keys.shape[0]

    def less(i):  # sorted_keys[i] < key, lexicographically
        k = sorted_keys[i]
        return (k[0] < key[0]) | ((k[0] == key[0]) & (k[1] < key[1]))

    def step(_, lo_hi):
        lo, hi = lo_hi
        mid = (lo + hi) // 2
        go_right = less(mid)
        return jnp.where(go_right, mid + 1, lo), jnp.where(go_right, hi, mid)

    steps = max(1, int(np.ceil(np.log2(n + 1))))
    lo, _ = jax.lax.fori_loop(0, steps, step, (jnp.int32(0), jnp.int32(n)))
    pos = jnp.minimum(lo, n - 1)
    return pos, jnp.all(sorted_keys[pos] == key)


def pool_domain(space: Space, archs: Any, features, neighbors=None) -> Domain:
    """A pool domain over ``archs`` (stacked, host or device) with their ``features``.

    Raises:
      ValueError: when the pool lists one architecture twice, or shapes disagree.
    """
    features = jnp.asarray(features, jnp.float32)
    n = features.shape[0]
    leaves = jax.tree.leaves(archs)
    if not leaves or any(np.shape(a)[0] != n for a in leaves):
        raise ValueError(f"pool: {n} feature rows but architectures of leading sizes "
                         f"{[np.shape(a)[0] for a in leaves]}")
    archs = jax.tree.map(jnp.asarray, archs)
    if isinstance(space, RowSpace):  # rows are their own keys: nothing to check, jittable
        return Domain(space, archs, features, _neighbors(neighbors), jnp.arange(n, dtype=jnp.int32))
    keys = np.asarray(jax.jit(jax.vmap(space.key))(archs))
    if space.dense:
        idx = keys[:, 0].astype(np.int64)
        lut = np.full(int(space.size().count), -1, np.int32)
        lut[idx] = np.arange(n, dtype=np.int32)
        if np.unique(idx).size != n:
            raise ValueError(f"pool: the {space.name} pool lists an architecture twice")
        return Domain(space, archs, features, _neighbors(neighbors), jnp.asarray(lut))
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    sk = keys[order]
    if n > 1 and np.any(np.all(sk[1:] == sk[:-1], axis=1)):
        raise ValueError(f"pool: the {space.name} pool lists an architecture twice "
                         "(two rows share a canonical key)")
    return Domain(space, archs, features, _neighbors(neighbors), jnp.asarray(sk),
                  jnp.asarray(order.astype(np.int32)))


def _neighbors(neighbors):
    return None if neighbors is None else jnp.asarray(neighbors, jnp.int32)


def open_domain(space: Space, max_pool: int = 1 << 16) -> Domain:
    """The whole space: a pool of every architecture when the space is dense and has at most
    ``max_pool`` of them (so ranking strategies work), otherwise an open domain."""
    if space.dense and space.size().count <= max_pool:
        archs = space.enumerate()
        feats = jax.jit(jax.vmap(space.features))(archs)
        return pool_domain(space, archs, feats)
    return Domain(space)
