"""One NAS-Bench-101 cell as ``jnp`` arrays: reachability, pruning, compaction into the standard
padded form, the best input -> output path, and the Weisfeiler-Lehman key (see
:mod:`lanas_jax.spaces.nb101`). Every function acts on one cell (``matrix [7, 7]`` 0/1 with the
input at vertex 0 and the output at vertex 6, ``labels [7]``) and is jittable; vmap for many.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces.nb101.cell import MISSING, NUM_VERTICES
from lanas_jax.spaces.nb101.many import _wl_lanes

_V = NUM_VERTICES
#: Row and column indices of the 21 upper-triangular pairs, in ``EDGES`` order.
IU = np.triu_indices(_V, 1)


def on_path(matrix: jax.Array) -> jax.Array:
    """``[7]`` bool: the vertices reachable from vertex 0 that reach vertex 6.

    Reachability by repeated boolean products, so any vertex order works (not only
    upper-triangular ones: permuted spellings of a cell prune the same way).
    """
    a = jnp.asarray(matrix, jnp.int32)

    def step(_, reach):
        fwd, bwd = reach
        return jnp.minimum(fwd + fwd @ a, 1), jnp.minimum(bwd + a @ bwd, 1)

    start = jnp.zeros((_V,), jnp.int32)
    # A simple path has at most 6 edges; a loop keeps the compiled program small.
    fwd, bwd = jax.lax.fori_loop(0, _V - 1, step, (start.at[0].set(1), start.at[-1].set(1)))
    return (fwd > 0) & (bwd > 0)


def prune(matrix: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Drop the vertices off every input -> output path (as the benchmark's ``ModelSpec``).

    Vertices are not renumbered: a pruned vertex loses its edges and its label becomes
    :data:`MISSING`. Returns ``(matrix, labels, connected)``; ``connected`` is False when the
    output is unreachable (then no edge is left).
    """
    keep = on_path(matrix)
    matrix = jnp.asarray(matrix, jnp.int32) * (keep[:, None] & keep[None, :])
    interior = jnp.arange(_V)
    gone = ~keep & (interior > 0) & (interior < _V - 1)
    return matrix, jnp.where(gone, MISSING, jnp.asarray(labels, jnp.int32)), keep[0] & keep[-1]


def compact(matrix: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Renumber a pruned cell's present vertices into the standard padded form.

    The present vertices keep their order in slots ``0, 1, ...``, the output stays at vertex 6
    and the slots between are missing (no edges, :data:`MISSING`), the padding of
    :func:`lanas_jax.spaces.nb101.pad`.
    """
    labels = jnp.asarray(labels, jnp.int32)
    present = labels != MISSING
    slot = (jnp.cumsum(present) - 1).at[-1].set(_V - 1)
    move = jax.nn.one_hot(slot, _V, dtype=jnp.int32) * present[:, None]  # move[v, slot[v]]
    matrix = move.T @ jnp.asarray(matrix, jnp.int32) @ move
    filled = move.sum(axis=0)
    return matrix, move.T @ labels + (1 - filled) * MISSING


def num_edges(matrix: jax.Array) -> jax.Array:
    return jnp.sum(jnp.asarray(matrix, jnp.int32))


def out_bits(matrix: jax.Array) -> jax.Array:
    """``[7]`` int32 out-edge bitmasks (bit ``w`` of entry ``v``: the edge ``v -> w``)."""
    return jnp.asarray(matrix, jnp.int32) @ (1 << jnp.arange(_V, dtype=jnp.int32))


def wl_key(matrix: jax.Array, labels: jax.Array) -> jax.Array:
    """``uint32[2]``: the two lanes of :func:`lanas_jax.spaces.nb101.wl_keys` of the pruned cell.

    Invariant under renumbering the interior vertices and under adding dangling vertices (the
    cell is pruned first). A hash: the existing test suite checks that it splits the whole space
    into the benchmark's 423,624 classes (``test_enumeration_finds_the_published_number_of_cells``
    with ``test_keys_partition_cells_like_the_benchmark_hash``), not a proof of injectivity.
    """
    return lanes(*prune(matrix, labels)[:2])


def lanes(matrix: jax.Array, labels: jax.Array) -> jax.Array:
    """:func:`wl_key` of a cell already pruned."""
    return _wl_lanes(out_bits(matrix)[None], labels[None])[0]


def best_path(score: jax.Array) -> jax.Array:
    """``[7, 7]`` 0/1: the input -> output path minimising ``sum(1 - score)`` over its edges.

    ``score [7, 7]`` in ``[0, 1]``, only its strict upper triangle is read (a forward path).
    A shortest-path recursion over vertices in order; ties go to the lower predecessor, so a
    flat score picks the direct edge ``0 -> 6``.
    """
    cost = jnp.where(jnp.triu(jnp.ones((_V, _V), bool), 1), 1.0 - score, jnp.inf)

    def relax(v, state):
        dist, pred = state
        through = dist + cost[:, v]
        u = jnp.argmin(through).astype(jnp.int32)
        return dist.at[v].set(through[u]), pred.at[v].set(u)

    init = (jnp.full((_V,), jnp.inf).at[0].set(0.0), jnp.zeros((_V,), jnp.int32))
    _, pred = jax.lax.fori_loop(1, _V, relax, init)

    def back(_, state):
        path, v = state
        u = pred[v]
        return jnp.where(v > 0, path.at[u, v].set(1), path), jnp.where(v > 0, u, v)

    # At most 6 edges back to the input.
    path, _ = jax.lax.fori_loop(0, _V - 1, back, (jnp.zeros((_V, _V), jnp.int32), _V - 1))
    return path
