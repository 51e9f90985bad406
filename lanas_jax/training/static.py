"""A flax network as a model of :mod:`lanas_jax.training.loop`.

:class:`FlaxModel` wraps a flax module called ``module(x, [arch,] train=...)``; BatchNorm
statistics (``batch_stats``) are the loop's ``state`` and dropout draws from the loop's step key.
With ``takes_arch=False`` the module *is* one architecture (``space.network(arch, ...)``): the
static path for spaces with no masked form (NASNet, NB101), where every architecture is its own
compiled program. Flax modules are hashable dataclasses, so equal architectures share a compile.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class FlaxModel:
    """``module`` called as ``module(x, arch, train=)`` (``takes_arch``) or
    ``module(x, train=)``."""

    module: nn.Module
    takes_arch: bool = False

    def _args(self, arch, x):
        return (x, arch) if self.takes_arch else (x,)

    def init(self, key, arch, x):
        variables = self.module.init({"params": key}, *self._args(arch, x), train=False)
        state = {k: v for k, v in variables.items() if k != "params"}
        return variables["params"], state

    def apply(self, params, state, arch, x, train, key):
        variables = {"params": params, **state}
        if train:
            logits, new_state = self.module.apply(variables, *self._args(arch, x), train=True,
                                                  rngs={"dropout": key}, mutable=list(state))
            return logits, dict(new_state)
        return self.module.apply(variables, *self._args(arch, x), train=False), state


def count_params(module: nn.Module, x_shape: tuple[int, ...], *extra: Any) -> int:
    """Trainable parameters of ``module`` (BatchNorm statistics excluded), from shapes only."""
    x = jax.ShapeDtypeStruct((1,) + tuple(x_shape), np.float32)
    shapes = jax.eval_shape(lambda x: module.init({"params": jax.random.PRNGKey(0)}, x, *extra,
                                                  train=False), x)
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"]))
