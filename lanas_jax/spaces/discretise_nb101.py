"""From a continuous point to a NAS-Bench-101 cell, with counted repair and rejection.

Seed 000 (LaNAS), Sec. 3.2 step 2: a point drawn in a leaf's polytope is turned into an
architecture. The relaxed encoding is VAENAS's (Appendix A.5; :func:`lanas_jax.spaces.nb101.
encode` ``"vaenas26"``): 21 upper-triangular edge bits of the padded 7-vertex matrix (row-major
pairs ``i < j``) and 5 interior op codes, conv1x1 1/3, conv3x3 2/3, maxpool 1 and 0 for a
missing vertex; its box is ``[0, 1]^26``.

:func:`nb101_discretise` (pure JAX, jit/vmap-able):

1. each op code is rounded to the nearest of ``{0, 1/3, 2/3, 1}`` (0: the vertex is missing,
   and its edges go);
2. each edge bit is ``x > 1/2``;
3. vertices off every input -> output path are pruned with their edges (the benchmark's own
   canonical form, not counted as a repair);
4. **repair** (counted): when more than 9 edges remain, only the 9 with the largest ``x`` are
   kept, and step 3 runs again;
5. **rejection** (counted): a cell whose output is unreachable from its input is invalid.

The result is in the standard padded form of :mod:`lanas_jax.spaces.nb101` (output at vertex 6,
missing vertices labelled ``MISSING``) plus ``valid`` and ``repaired`` flags.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lanas_jax.spaces.nb101.cell import INPUT_LABEL, MAX_EDGES, MISSING, NUM_VERTICES, OUTPUT_LABEL
from lanas_jax.spaces.nb101.jnp_cell import prune as _prune

FEATURE_DIM = 26
_IU = np.triu_indices(NUM_VERTICES, 1)
# Rounded code level 0..3 -> label: missing, conv1x1 (1), conv3x3 (0), maxpool (2).
_LEVEL_LABEL = np.array([MISSING, 1, 0, 2], np.int32)


@struct.dataclass
class Nb101Cell:
    adjacency: jax.Array  # [..., 7, 7] int32 0/1, padded form
    labels: jax.Array  # [..., 7] int32: INPUT_LABEL, op index, OUTPUT_LABEL or MISSING
    valid: jax.Array  # [...] bool
    repaired: jax.Array  # [...] bool, more than 9 edges were cut down to 9


def _discretise_one(x: jax.Array) -> Nb101Cell:
    edge_x, op_x = x[:21], x[21:]
    level = jnp.clip(jnp.round(jnp.clip(op_x, 0.0, 1.0) * 3.0), 0, 3).astype(jnp.int32)
    labels = jnp.concatenate([
        jnp.array([INPUT_LABEL], jnp.int32),
        jnp.asarray(_LEVEL_LABEL)[level],
        jnp.array([OUTPUT_LABEL], jnp.int32),
    ])
    present = labels != MISSING
    score = jnp.zeros((NUM_VERTICES, NUM_VERTICES), x.dtype).at[_IU].set(edge_x)
    adj = ((score > 0.5) & present[:, None] & present[None, :]).astype(jnp.int32)
    adj, labels, _ = _prune(adj, labels)
    too_many = jnp.sum(adj) > MAX_EDGES
    # Keep the MAX_EDGES present edges with the largest scores (ties: lower flat index).
    flat = jnp.where(adj.reshape(-1) > 0, score.reshape(-1), -jnp.inf)
    _, top = jax.lax.top_k(flat, MAX_EDGES)
    kept = jnp.zeros((NUM_VERTICES * NUM_VERTICES,), jnp.int32).at[top].set(1).reshape(adj.shape)
    adj = jnp.where(too_many, adj * kept, adj)
    adj, labels, connected = _prune(adj, labels)
    return Nb101Cell(adj, labels, connected, too_many)


_discretise_rows = jax.jit(jax.vmap(_discretise_one))


def nb101_discretise(x: jax.Array) -> Nb101Cell:
    """``[..., 26]`` relaxed VAENAS points -> padded NB101 cells with validity flags."""
    x = jnp.asarray(x, jnp.float32)
    if x.shape[-1] != FEATURE_DIM:
        raise ValueError(f"a vaenas26 point has {FEATURE_DIM} coordinates, got {x.shape}")
    flat = x.reshape(-1, FEATURE_DIM)
    out = _discretise_rows(flat)
    return jax.tree.map(lambda a: a.reshape(*x.shape[:-1], *a.shape[1:]), out)


def nb101_encode(cell: Nb101Cell) -> jax.Array:
    """The ``vaenas26`` code of discretised cells (``[..., 26]``; inverse of the rounding)."""
    code = jnp.array([2 / 3, 1 / 3, 1.0], jnp.float32)  # label 0 conv3x3, 1 conv1x1, 2 maxpool
    lab = cell.labels[..., 1:-1]
    ops = jnp.where(lab >= 0, code[jnp.clip(lab, 0, 2)], 0.0)
    edges = cell.adjacency[..., _IU[0], _IU[1]].astype(jnp.float32)
    return jnp.concatenate([edges, ops], -1)
