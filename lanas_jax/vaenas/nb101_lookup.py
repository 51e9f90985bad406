"""Decoded NAS-Bench-101 tokens -> the table row of the same network, on the device.

A decode of :mod:`lanas_jax.vaenas.nb101` is 21 edge bits and 5 op tokens on the 7 vertices of
an unpruned upper-triangular graph; a table row is a pruned cell in the standard padded form.
The same network is found up to isomorphism, in pure ``jnp`` (jit/vmap-able):

1. tokens -> padded ``out_bits [7]`` bitmasks and ``labels [7]`` (:func:`cells_from_tokens`);
2. vertices off every input -> output path lose their edges and become ``MISSING``
   (:func:`prune`, the ``jnp`` port of :func:`lanas_jax.spaces.nb101.prune_many`; vertices are
   not renumbered: the key below ignores missing vertices and vertex order);
3. the Weisfeiler-Lehman key of :func:`lanas_jax.spaces.nb101.wl_keys`, two uint32 lanes
   (``many._wl_lanes``);
4. a ``searchsorted`` of lane 0 in the table's keys sorted by (lane 0, lane 1), then a compare
   of both lanes over a window of ``window`` entries (the longest run of equal lane-0 values in
   the table, a static number: lane-0 collisions do occur among 423,624 rows).

A disconnected cell, one with more than 9 edges after pruning and one whose key is not in the
table are *not found*. The table side (:class:`Nb101Lookup`: sorted keys, their rows, the
window, every row's tokens) is computed once per benchmark space on the host and cached.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces import nb101 as space
from lanas_jax.spaces.nb101.many import _wl_lanes
from lanas_jax.vaenas.nb101 import NUM_EDGE_BITS, VAENAS_OPS, tokens_from_cells

_V = space.NUM_VERTICES
_EDGE_I = np.array([i for i, _ in space.EDGES], np.int32)
_EDGE_J = np.array([j for _, j in space.EDGES], np.int32)
#: Op token (VAENAS's order) -> the benchmark's label (index into ``space.OPS``).
_TOKEN_LABEL = np.array([space.OPS.index(op) for op in VAENAS_OPS], np.int32)


def cells_from_tokens(tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``[..., 26]`` tokens -> unpruned padded ``(out_bits [..., 7] int32, labels [..., 7])``."""
    tokens = jnp.asarray(tokens, jnp.int32)
    edge = tokens[..., :NUM_EDGE_BITS]
    # out_bits[v] = sum over edges (v, w) of bit << w: one [21, 7] 0/1 scatter matrix.
    place = np.zeros((NUM_EDGE_BITS, _V), np.int32)
    place[np.arange(NUM_EDGE_BITS), _EDGE_I] = 1 << _EDGE_J
    out_bits = edge @ jnp.asarray(place)
    ops = jnp.asarray(_TOKEN_LABEL)[tokens[..., NUM_EDGE_BITS:]]
    shape = ops.shape[:-1] + (1,)
    labels = jnp.concatenate([
        jnp.full(shape, space.INPUT_LABEL, jnp.int32), ops,
        jnp.full(shape, space.OUTPUT_LABEL, jnp.int32),
    ], -1)
    return out_bits, labels


def on_path(out_bits: jax.Array) -> jax.Array:
    """``[..., 7]`` bitmasks -> ``[...]`` int32 bitmask of the vertices on an input -> output
    path (the ``jnp`` form of :func:`lanas_jax.spaces.nb101.on_path`)."""
    b = jnp.asarray(out_bits, jnp.int32)
    fwd = jnp.ones(b.shape[:-1], jnp.int32)  # vertex 0
    for v in range(_V):  # upper-triangular: one pass in vertex order settles reachability
        fwd = fwd | jnp.where((fwd >> v) & 1, b[..., v], 0)
    bwd = jnp.full(b.shape[:-1], 1 << (_V - 1), jnp.int32)
    for v in range(_V - 2, -1, -1):
        bwd = bwd | ((b[..., v] & bwd) != 0).astype(jnp.int32) << v
    return fwd & bwd


def prune(out_bits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``jnp`` :func:`lanas_jax.spaces.nb101.prune_many`: ``(out_bits, labels, connected)``
    with the vertices off every input -> output path edgeless and :data:`MISSING`."""
    b = jnp.asarray(out_bits, jnp.int32)
    keep = on_path(b)
    kept = ((keep[..., None] >> jnp.arange(_V, dtype=jnp.int32)) & 1).astype(bool)
    b = jnp.where(kept, b & keep[..., None], 0)
    lab = jnp.where(kept, jnp.asarray(labels, jnp.int32), space.MISSING)
    connected = ((keep >> (_V - 1)) & 1).astype(bool) & (keep & 1).astype(bool)
    return b, lab, connected


def _popcount7(b: jax.Array) -> jax.Array:
    return sum((b >> w) & 1 for w in range(_V))


def lanes(out_bits: jax.Array, labels: jax.Array) -> jax.Array:
    """``[..., 7]`` cells -> ``[..., 2]`` uint32 WL key lanes (``wl_keys`` = lane 0 << 32 | 1)."""
    lead = out_bits.shape[:-1]
    flat = _wl_lanes(out_bits.reshape(-1, _V), labels.reshape(-1, _V))
    return flat.reshape(*lead, 2)


@dataclasses.dataclass(frozen=True, eq=False)  # compared and hashed by identity
class Nb101Lookup:
    """The table side of the lookup, host arrays (see the module doc).

    Attributes:
      lane0, lane1: ``[N]`` uint32 WL key lanes of the rows, sorted by (lane 0, lane 1).
      rows: ``[N]`` int32, the row of each sorted key.
      window: the longest run of equal lane-0 values (>= 1), a static loop length.
      tokens: ``[N, 26]`` int8, each row's tokens (:func:`tokens_from_cells`), for training.
    """

    lane0: np.ndarray
    lane1: np.ndarray
    rows: np.ndarray
    window: int
    tokens: np.ndarray


@functools.lru_cache(maxsize=4)
def nb101_lookup(nb_space: space.Nb101Space) -> Nb101Lookup:
    """The cached table side of an NB101 benchmark's space (``bench.space``)."""
    if not isinstance(nb_space, space.Nb101Space):
        raise ValueError(
            f"an NB101 row lookup needs a NAS-Bench-101 space, got {type(nb_space).__name__}"
        )
    n = len(nb_space)
    bits = np.frombuffer(nb_space.bits_bytes, np.uint8).reshape(n, _V)
    labels = np.frombuffer(nb_space.labels_bytes, np.int8).reshape(n, _V)
    with jax.ensure_compile_time_eval():  # may be first called while tracing a strategy
        keys = space.wl_keys(bits, labels)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    lane0 = (sk >> np.uint64(32)).astype(np.uint32)
    lane1 = (sk & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    _, counts = np.unique(lane0, return_counts=True)
    return Nb101Lookup(
        lane0=lane0,
        lane1=lane1,
        rows=order.astype(np.int32),
        window=int(counts.max(initial=1)),
        tokens=tokens_from_cells(bits, labels).astype(np.int8),
    )


def find_rows(table: Nb101Lookup, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``[..., 26]`` decoded tokens -> ``(rows [...] int32, found [...] bool)``.

    ``rows`` is 0 where not found. Pure ``jnp`` given the (static, host) ``table``.
    """
    bits, labels = cells_from_tokens(tokens)
    bits, labels, connected = prune(bits, labels)
    ok = connected & (_popcount7(bits).sum(-1) <= space.MAX_EDGES)
    key = lanes(bits, labels)
    lane0, lane1 = jnp.asarray(table.lane0), jnp.asarray(table.lane1)
    n = lane0.shape[0]
    pos = jnp.searchsorted(lane0, key[..., 0], side="left")
    idx = jnp.minimum(pos[..., None] + jnp.arange(table.window), n - 1)  # [..., W]
    hit = (lane0[idx] == key[..., :1]) & (lane1[idx] == key[..., 1:])
    found = ok & jnp.any(hit, -1)
    first = jnp.take_along_axis(idx, jnp.argmax(hit, -1)[..., None], -1)[..., 0]
    rows = jnp.where(found, jnp.asarray(table.rows)[first], 0)
    return rows.astype(jnp.int32), found
