"""An open (non-dense) domain with a jittable evaluator, for strategies' open-domain tests:
seed 001's MLP stacks of at most 3 layers, scored by a fixed random linear function of their
features."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lanas_jax.domain import Domain
from lanas_jax.evaluators.base import Evaluation, Evaluator
from lanas_jax.spaces.mlp import MLPStack


@struct.dataclass
class LinearEvaluator(Evaluator):
    """``value = features(arch) . weights`` (jittable)."""

    open: Domain
    weights: jax.Array
    name: str = struct.field(pytree_node=False, default="linear")
    jittable = True

    @property
    def domain(self) -> Domain:
        return self.open

    def evaluate(self, archs, key=None) -> Evaluation:
        value = jax.vmap(self.open.space.features)(archs) @ self.weights
        return Evaluation(value, value, jnp.full(value.shape, -1, jnp.int32))


def mlp_evaluator(max_layers: int = 3) -> LinearEvaluator:
    space = MLPStack(max_layers=max_layers)
    weights = jax.random.normal(jax.random.key(5), (space.feature_dim,))
    return LinearEvaluator(Domain(space), weights)


def keys_of(evaluator: LinearEvaluator, archs) -> np.ndarray:
    """``[M, 2]`` canonical keys of stacked MLP architectures, leading axes flattened
    (``length`` is a scalar per architecture, so its rank is the number of leading axes)."""
    lead = np.ndim(archs.length)
    flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[lead:]), archs)
    return np.asarray(jax.vmap(evaluator.open.space.key)(flat))
