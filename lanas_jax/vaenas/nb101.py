"""NAS-Bench-101 as VAENAS tokens and its sampling rule (seed 002, Appendix A.5).

A.5 writes a cell as ``alpha = concat(a, op)``: the 21 upper-triangular edge bits of the 7x7
adjacency (row-major pairs, :data:`lanas_jax.spaces.nb101.EDGES`) and the ops of the 5 interior
vertices from ``{conv1x1, conv3x3, maxpool}``. Tokens here are the bits (0/1) and the op
indices in that listed order (0 conv1x1, 1 conv3x3, 2 maxpool), read from the project's
``vaenas26`` encoding; a *missing* vertex of a padded cell (no edges) gets token 0.

Sampling (A.5): 21 numbers in [0, 1] come from random sampling or the VAE, the 9 largest become
the edges, and the draw is repeated while the cell does not connect input to output. Here the
VAE's number for edge ``i`` is a relaxed Bernoulli draw ``sigmoid(l_i + Logistic noise)`` of
the decoder's log-odds ``l_i`` (so a larger decoder probability ranks the edge higher), and
random sampling is the same draw with ``l_i = 0``, i.e. ``U(0, 1)``. A fixed number of
``tries`` is drawn at once and the first connected one kept; a decode with none connected is
reported invalid. Vertices off every input -> output path are pruned afterwards
(:func:`to_cell`), as the benchmark does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces import nb101 as space
from lanas_jax.vaenas.tokens import TokenSpec

NUM_EDGE_BITS = len(space.EDGES)  # 21
NUM_INTERIOR = space.NUM_VERTICES - 2  # 5
#: A.5's op order; token ``k`` is ``VAENAS_OPS[k]`` (names of :data:`space.OPS`).
VAENAS_OPS: tuple[str, ...] = ("conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3")
#: 21 binary edge positions, then 5 op positions of 3 tokens.
NB101_SPEC = TokenSpec(
    length=NUM_EDGE_BITS + NUM_INTERIOR,
    vocab=3,
    allowed=((True, True, False),) * NUM_EDGE_BITS + ((True, True, True),) * NUM_INTERIOR,
)

_EDGE_I = np.array([i for i, _ in space.EDGES])
_EDGE_J = np.array([j for _, j in space.EDGES])


def tokens_from_cells(out_bits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``[N, 26]`` int32 tokens of padded cells, via ``encode(..., "vaenas26")``."""
    f = space.encode(out_bits, labels, "vaenas26")
    edges = np.rint(f[:, :NUM_EDGE_BITS]).astype(np.int32)
    ops = np.rint(f[:, NUM_EDGE_BITS:] * 3.0).astype(np.int32) - 1  # 1/3, 2/3, 1 -> 0, 1, 2
    return np.concatenate([edges, np.maximum(ops, 0)], 1)


def adjacency(bits: jax.Array) -> jax.Array:
    """``[..., 21]`` edge bits -> ``[..., 7, 7]`` bool upper-triangular adjacency."""
    m = jnp.zeros((*bits.shape[:-1], space.NUM_VERTICES, space.NUM_VERTICES), bool)
    return m.at[..., _EDGE_I, _EDGE_J].set(bits.astype(bool))


def connected(bits: jax.Array) -> jax.Array:
    """Whether the output (vertex 6) is reachable from the input (vertex 0); ``[...]`` bool."""
    m = adjacency(bits).astype(jnp.float32)
    reach = jnp.zeros(m.shape[:-1], jnp.float32).at[..., 0].set(1.0)
    for _ in range(space.NUM_VERTICES - 1):  # a path has at most 6 edges
        reach = jnp.maximum(reach, jnp.minimum(jnp.einsum("...i,...ij->...j", reach, m), 1.0))
    return reach[..., -1] > 0


def top_edges(scores: jax.Array) -> jax.Array:
    """``[..., 21]`` scores -> int32 bits, 1 on the :data:`space.MAX_EDGES` largest."""
    _, idx = jax.lax.top_k(scores, space.MAX_EDGES)
    return jnp.sum(jax.nn.one_hot(idx, NUM_EDGE_BITS, dtype=jnp.int32), -2)


def decode(key: jax.Array, logits: jax.Array, tries: int = 16) -> tuple[jax.Array, jax.Array]:
    """One cell from the decoder's ``[26, 3]`` logits by A.5's top-9 rule (see the module doc).

    Returns ``(tokens [26] int32, valid () bool)``; ``valid`` is False when none of the
    ``tries`` edge draws connects input to output (the tokens are then the last draw's).
    """
    edge_key, op_key = jax.random.split(key)
    log_odds = logits[:NUM_EDGE_BITS, 1] - logits[:NUM_EDGE_BITS, 0]
    noise = jax.random.logistic(edge_key, (tries, NUM_EDGE_BITS))
    bits = top_edges(jax.nn.sigmoid(log_odds + noise))  # [tries, 21]
    ok = connected(bits)
    pick = jnp.where(jnp.any(ok), jnp.argmax(ok), tries - 1)
    ops = jax.random.categorical(op_key, logits[NUM_EDGE_BITS:]).astype(jnp.int32)
    return jnp.concatenate([bits[pick], ops]), jnp.any(ok)


def random_cells(key: jax.Array, num: int, tries: int = 16) -> tuple[jax.Array, jax.Array]:
    """``num`` cells by A.5's random sampling: ``U(0, 1)`` edge scores, uniform ops."""
    zero = jnp.zeros((NB101_SPEC.length, NB101_SPEC.vocab))
    return jax.vmap(lambda k: decode(k, zero, tries))(jax.random.split(key, num))


def to_cell(tokens) -> tuple[np.ndarray, list[str]] | None:
    """The pruned ``(matrix, ops)`` of one token row (host), or ``None`` if disconnected."""
    t = NB101_SPEC.check(np.asarray(tokens).reshape(1, -1))[0]
    m = np.zeros((space.NUM_VERTICES, space.NUM_VERTICES), np.int8)
    m[_EDGE_I, _EDGE_J] = t[:NUM_EDGE_BITS]
    ops = [space.INPUT, *(VAENAS_OPS[k] for k in t[NUM_EDGE_BITS:]), space.OUTPUT]
    return space.prune(m, ops)
