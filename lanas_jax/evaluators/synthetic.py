"""A synthetic, jittable evaluator over any space: for testing and benchmarking strategies on
spaces no table covers, without training a network.

The value of an architecture is a fixed random linear function of the space's ``features``
squashed into (0, 1), plus a fixed random pairwise interaction of the first features (so a
purely additive model is not exactly right): deterministic per key, the same for isomorphic
architectures (features are canonical), and cheap enough to run inside the scanned runner.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.domain import Domain, open_domain
from lanas_jax.evaluators.base import Evaluation, Evaluator
from lanas_jax.spaces.base import Space


@struct.dataclass
class SyntheticEvaluator(Evaluator):
    """``value = sigmoid(f . w + 0.5 f_i f_j)`` over the space's features ``f``."""

    open: Domain
    weights: jax.Array  # [D]
    pair: jax.Array  # [2] int32 feature indices of the interaction
    name: str = struct.field(pytree_node=False, default="synthetic")
    jittable = True

    @property
    def domain(self) -> Domain:
        return self.open

    def value(self, arch) -> jax.Array:
        f = self.open.space.features(arch)
        return jax.nn.sigmoid(f @ self.weights + 0.5 * f[self.pair[0]] * f[self.pair[1]])

    def evaluate(self, archs, key=None) -> Evaluation:
        v = jax.vmap(self.value)(archs)
        return Evaluation(v, v, jnp.full(v.shape, -1, jnp.int32))


def synthetic(space: Space, key: jax.Array, max_pool: int = 1 << 16) -> SyntheticEvaluator:
    """A synthetic evaluator of ``space`` drawn from ``key`` (a dense space of at most
    ``max_pool`` architectures is searched as a pool, see :func:`~lanas_jax.domain.open_domain`)."""
    w_key, p_key = jax.random.split(key)
    d = space.feature_dim
    weights = jax.random.normal(w_key, (d,)) / jnp.sqrt(max(d, 1))
    pair = jax.random.randint(p_key, (2,), 0, d, jnp.int32)
    return SyntheticEvaluator(open_domain(space, max_pool), weights, pair,
                              name=f"synthetic-{space.name}")
