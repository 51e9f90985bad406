"""A trained supernet as an :class:`~lanas_jax.evaluators.base.Evaluator`: an architecture is
worth its validation accuracy with the supernet's inherited weights (one-shot NAS's ranking
step; seed 002 Sec. 4.2, Guo et al. 2020 Sec. 3.3).

It is a jittable pytree (weights and validation data are leaves, the supernet static), so any
strategy searches it through the scanned runner or :func:`lanas_jax.host_loop.search`, on the
whole space (:func:`~lanas_jax.domain.open_domain`): the route for spaces too large to score
exhaustively (NASNet). A batch is scored as one vmapped call
(:func:`lanas_jax.supernet.score.score_archs`).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.domain import Domain, open_domain
from lanas_jax.evaluators.base import Evaluation, Evaluator
from lanas_jax.supernet.score import default_chunk, score_archs

_domain = functools.cache(open_domain)


@struct.dataclass
class SupernetEvaluator(Evaluator):
    """Scores with inherited weights: ``value`` = supernet validation accuracy, ``test`` = NaN
    (a supernet's test accuracy is not the network's), ``row`` = -1."""

    variables: Any
    x_val: jax.Array
    y_val: jax.Array
    x_calib: jax.Array | None = None
    supernet: Any = struct.field(pytree_node=False, default=None)
    chunk: int = struct.field(pytree_node=False, default=1)

    jittable = True

    @classmethod
    def create(cls, supernet, variables, x_val, y_val, x_calib=None,
               chunk: int | None = None) -> SupernetEvaluator:
        if jnp.shape(x_val)[0] != jnp.shape(y_val)[0] or jnp.shape(x_val)[0] == 0:
            raise ValueError(f"x_val and y_val must hold the same non-zero number of examples, "
                             f"got {jnp.shape(x_val)[0]} and {jnp.shape(y_val)[0]}")
        return cls(variables, jnp.asarray(x_val), jnp.asarray(y_val),
                   None if x_calib is None else jnp.asarray(x_calib), supernet,
                   default_chunk() if chunk is None else int(chunk))

    @property
    def domain(self) -> Domain:
        return _domain(self.supernet.space)

    def evaluate(self, archs: Any, key: jax.Array | None = None) -> Evaluation:
        del key  # scoring is deterministic
        value = score_archs(self.supernet, self.variables, archs, self.x_val, self.y_val,
                            chunk=self.chunk, x_calib=self.x_calib)
        n = value.shape[0]
        return Evaluation(value, jnp.full((n,), jnp.nan), jnp.full((n,), -1, jnp.int32))
