"""An open (non-dense) domain with a jittable evaluator, for strategies' open-domain tests:
seed 001's MLP stacks of at most 3 layers, scored by the library's SyntheticEvaluator."""

from __future__ import annotations

import jax
import numpy as np

from lanas_jax.evaluators.synthetic import SyntheticEvaluator, synthetic
from lanas_jax.spaces.mlp import MLPStack


def mlp_evaluator(max_layers: int = 3) -> SyntheticEvaluator:
    return synthetic(MLPStack(max_layers=max_layers), jax.random.key(5))


def keys_of(evaluator: SyntheticEvaluator, archs) -> np.ndarray:
    """``[M, 2]`` canonical keys of stacked MLP architectures, leading axes flattened
    (``length`` is a scalar per architecture, so its rank is the number of leading axes)."""
    lead = np.ndim(archs.length)
    flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[lead:]), archs)
    return np.asarray(jax.vmap(evaluator.domain.space.key)(flat))
