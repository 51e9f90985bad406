"""From a continuous point of a leaf polytope to a NAS-Bench-201 cell (seed 000 Sec. 3.2 step 2).

LaNAS draws a point uniformly inside a leaf's polytope in the *relaxed* encoding and turns it
into an architecture. NAS-Bench-201's encoding is 6 edges x 5 ops one-hot (edge-major, feature
``e * 5 + o``, :func:`lanas_jax.spaces.nb201.one_hot`); its relaxation is the box ``[0, 1]^30``
and a point is rounded edge by edge to its largest coordinate. Every rounded cell is valid (all
``5^6`` cells exist), so there is nothing to repair; ties (probability zero for a continuous
point) go to the lower op id.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces import nb201

_PLACE = nb201.NUM_OPS ** np.arange(nb201.NUM_EDGES - 1, -1, -1)


def nb201_ops(x: jax.Array) -> jax.Array:
    """``[..., 30]`` relaxed points -> ``[..., 6]`` int32 op ids (argmax per edge)."""
    x = jnp.asarray(x)
    if x.shape[-1] != nb201.FEATURE_DIM:
        raise ValueError(f"an NB201 point has {nb201.FEATURE_DIM} coordinates, got {x.shape}")
    groups = x.reshape(*x.shape[:-1], nb201.NUM_EDGES, nb201.NUM_OPS)
    return jnp.argmax(groups, -1).astype(jnp.int32)


def nb201_one_hot(ops: jax.Array) -> jax.Array:
    """``[..., 6]`` op ids -> ``[..., 30]`` float32 one-hot (the benchmark's features)."""
    out = jax.nn.one_hot(ops, nb201.NUM_OPS, dtype=jnp.float32)
    return out.reshape(*ops.shape[:-1], nb201.FEATURE_DIM)


def nb201_codes(ops: jax.Array) -> jax.Array:
    """``[..., 6]`` op ids -> base-5 codes in ``[0, 5^6)`` (as :func:`nb201.codes`)."""
    return jnp.sum(ops * jnp.asarray(_PLACE, jnp.int32), -1)
