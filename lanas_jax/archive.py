"""The archive a strategy owns: what was evaluated (in order, with values) and what is pending.

"Never evaluate an architecture twice" and "never re-propose one a worker is still training"
are written once, here, for every strategy (the base class in
:mod:`lanas_jax.strategies.base` keeps the archive up to date around ``ask`` and ``tell``).

Identity is the space's canonical ``key`` (isomorphs are one architecture). Over a pool domain
(a table, or an enumerated dense space) membership is a bitmap over pool rows, so tabular studies
pay O(1) per query; over an open domain it is a compare against the ``[capacity, 2]`` key list,
O(capacity) per query, which is nothing next to training a network.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.domain import Domain
from lanas_jax.spaces.base import KEY_WORDS


@struct.dataclass
class Archive:
    """Evaluated architectures in the order they were told, and the pending ones.

    Attributes:
      archs: every evaluated architecture, stacked ``[capacity]`` (slots past ``count`` unused).
      values: ``[capacity]`` float32 their values (``-inf`` past ``count``).
      rows: ``[capacity]`` int32 their pool rows (``-1`` in an open domain).
      count: () int32 architectures evaluated.
      seen / pending: pool domains: ``[N]`` bool over pool rows.
      keys: open domains: ``[capacity, 2]`` uint32 canonical keys of the evaluated ones.
      pending_keys / pending_live: open domains: ``[max_pending, 2]`` keys of the pending ones
        and which slots hold one.
    """

    archs: Any
    values: jax.Array
    rows: jax.Array
    count: jax.Array
    seen: Any = None
    pending: Any = None
    keys: Any = None
    pending_keys: Any = None
    pending_live: Any = None

    @property
    def capacity(self) -> int:
        return int(self.values.shape[-1])


def init(domain: Domain, capacity: int, max_pending: int = 1) -> Archive:
    """An empty archive for at most ``capacity`` evaluations and ``max_pending`` in flight."""
    space = domain.space
    template = domain.arch(0) if domain.is_pool else space.sample(jax.random.key(0))
    archs = jax.tree.map(lambda a: jnp.zeros((capacity,) + a.shape, a.dtype), template)
    common = dict(
        archs=archs,
        values=jnp.full((capacity,), -jnp.inf, jnp.float32),
        rows=jnp.full((capacity,), -1, jnp.int32),
        count=jnp.zeros((), jnp.int32),
    )
    if domain.is_pool:
        n = domain.size
        return Archive(**common, seen=jnp.zeros((n,), bool), pending=jnp.zeros((n,), bool))
    return Archive(
        **common,
        keys=jnp.zeros((capacity, KEY_WORDS), jnp.uint32),
        pending_keys=jnp.zeros((max_pending, KEY_WORDS), jnp.uint32),
        pending_live=jnp.zeros((max_pending,), bool),
    )


def is_evaluated(archive: Archive, domain: Domain, arch) -> jax.Array:
    """Whether ``arch`` was evaluated already."""
    if domain.is_pool:
        row, found = domain.row(arch)
        return found & archive.seen[row]
    live = jnp.arange(archive.capacity) < archive.count
    return jnp.any(live & jnp.all(archive.keys == domain.space.key(arch), -1))


def is_pending(archive: Archive, domain: Domain, arch) -> jax.Array:
    """Whether ``arch`` was proposed and is not told yet."""
    if domain.is_pool:
        row, found = domain.row(arch)
        return found & archive.pending[row]
    hit = jnp.all(archive.pending_keys == domain.space.key(arch), -1)
    return jnp.any(archive.pending_live & hit)


def is_new(archive: Archive, domain: Domain, arch) -> jax.Array:
    """Whether ``arch`` may be proposed: in the domain, neither evaluated nor pending."""
    if domain.is_pool:
        row, found = domain.row(arch)
        return found & ~archive.seen[row] & ~archive.pending[row]
    return ~is_evaluated(archive, domain, arch) & ~is_pending(archive, domain, arch)


def unseen_rows(archive: Archive) -> jax.Array:
    """Pool domains: ``[N]`` bool, rows neither evaluated nor pending."""
    return ~archive.seen & ~archive.pending


def mark_pending(archive: Archive, domain: Domain, arch) -> Archive:
    """Record that ``arch`` was proposed (it may not be proposed again until told)."""
    if domain.is_pool:
        row, found = domain.row(arch)
        return archive.replace(pending=archive.pending.at[row].set(archive.pending[row] | found))
    slot = jnp.argmin(archive.pending_live)
    return archive.replace(
        pending_keys=archive.pending_keys.at[slot].set(domain.space.key(arch)),
        pending_live=archive.pending_live.at[slot].set(True),
    )


def add(archive: Archive, domain: Domain, archs, values: jax.Array) -> Archive:
    """Append a batch of evaluated architectures (leading axis ``B``) with their values, in
    order; they stop being pending. Slots past ``capacity`` are dropped (the runner sizes the
    archive to the budget)."""
    def one(archive, item):
        arch, value = item
        i = archive.count
        archive = archive.replace(
            archs=jax.tree.map(lambda buf, a: buf.at[i].set(a), archive.archs, arch),
            values=archive.values.at[i].set(value.astype(jnp.float32)),
            count=i + 1,
        )
        if domain.is_pool:
            row, found = domain.row(arch)
            return archive.replace(
                rows=archive.rows.at[i].set(jnp.where(found, row, -1)),
                seen=archive.seen.at[row].set(archive.seen[row] | found),
                pending=archive.pending.at[row].set(archive.pending[row] & ~found),
            ), None
        key = domain.space.key(arch)
        hit = archive.pending_live & jnp.all(archive.pending_keys == key, -1)
        return archive.replace(
            keys=archive.keys.at[i].set(key),
            pending_live=archive.pending_live & ~hit,
        ), None

    archive, _ = jax.lax.scan(one, archive, (archs, jnp.asarray(values)))
    return archive


def best(archive: Archive) -> tuple[Any, jax.Array]:
    """The best evaluated architecture and its value (the first one among ties)."""
    i = jnp.argmax(archive.values)
    return jax.tree.map(lambda a: a[i], archive.archs), archive.values[i]
