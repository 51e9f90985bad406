"""Decoded NAS-Bench-101 tokens (seed 002, Appendix A.5) as cells of the NB101 space.

A decode of :mod:`lanas_jax.vaenas.nb101` is 21 edge bits and 5 op tokens on the 7 vertices of
an unpruned upper-triangular graph. :func:`arch_of_tokens` writes it as a padded
:class:`~lanas_jax.spaces.nb101.space.Nb101Arch`; the space's ``key`` prunes it and hashes it up
to isomorphism, so a table's row of the same network is the pool's own lookup
(:meth:`lanas_jax.domain.Domain.row`): :func:`find_rows`. A disconnected cell and one with more
than 9 edges after pruning are never found (no table holds them).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces import nb101 as space
from lanas_jax.spaces.nb101.space import Nb101Arch, acceptable
from lanas_jax.vaenas.nb101 import NUM_EDGE_BITS, VAENAS_OPS

_V = space.NUM_VERTICES
_EDGE_I = np.array([i for i, _ in space.EDGES], np.int32)
_EDGE_J = np.array([j for _, j in space.EDGES], np.int32)
#: Op token (VAENAS's order) -> the benchmark's label (index into ``space.OPS``).
_TOKEN_LABEL = np.array([space.OPS.index(op) for op in VAENAS_OPS], np.int32)


def arch_of_tokens(tokens: jax.Array) -> Nb101Arch:
    """``[26]`` tokens -> the unpruned padded cell (every interior vertex labelled)."""
    t = jnp.asarray(tokens, jnp.int32)
    matrix = jnp.zeros((_V, _V), jnp.int32).at[_EDGE_I, _EDGE_J].set(t[:NUM_EDGE_BITS])
    labels = jnp.concatenate([
        jnp.array([space.INPUT_LABEL], jnp.int32), jnp.asarray(_TOKEN_LABEL)[t[NUM_EDGE_BITS:]],
        jnp.array([space.OUTPUT_LABEL], jnp.int32),
    ])
    return Nb101Arch(matrix, labels)


def find_rows(domain, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``[M, 26]`` decoded tokens -> ``(rows [M] int32, found [M] bool)`` in an NB101 pool
    (``rows`` 0 where not found)."""

    def one(t):
        arch = arch_of_tokens(t)
        row, found = domain.row(arch)
        ok = found & acceptable(arch.matrix, arch.labels)
        return jnp.where(ok, row, 0).astype(jnp.int32), ok

    return jax.vmap(one)(tokens)
