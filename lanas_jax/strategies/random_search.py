"""Uniform random search without replacement (the baseline of every NAS paper; seed 000
Sec. 4.2: it finds one of k optima among N entries in (N + 1) / (k + 1) samples on average)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.archive import unseen_rows
from lanas_jax.strategies.base import register
from lanas_jax.strategies.core import Strategy


@struct.dataclass
class RandomSearchState:
    order: jax.Array | None  # pool: [N] a random permutation of the rows
    pointer: jax.Array  # () next position of ``order`` to try


@register("random")
@dataclasses.dataclass(frozen=True)
class RandomSearch(Strategy):
    """A pool is walked in the order of one random permutation drawn at ``init`` (rows already
    evaluated or pending, e.g. told by a warm start, are skipped); an open domain is sampled
    with the space's ``sample`` until a new architecture comes up."""

    def _init(self, key, domain, budget, params):
        order = None
        if domain.is_pool:
            order = jax.random.permutation(key, domain.size).astype(jnp.int32)
        return RandomSearchState(order=order, pointer=jnp.zeros((), jnp.int32))

    def _ask_one(self, key, state, domain, params):
        inner = state.inner
        if not domain.is_pool:
            return self.propose_new(key, state, domain), state
        free = unseen_rows(state.archive)
        n = domain.size
        pointer = jax.lax.while_loop(
            lambda p: (p < n - 1) & ~free[inner.order[p]], lambda p: p + 1, inner.pointer)
        arch = domain.arch(inner.order[pointer])
        return arch, state.replace(inner=inner.replace(pointer=pointer + 1))
