"""Masked training of the NAS-Bench-201 space: every cell of one network shape is one compiled
program, the cell's op ids a traced input.

Each of a cell's 6 edges computes all 5 candidate operations (Dong & Yang 2020, Sec. 2.1:
``none``, ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``) and the edge's
one-hot op selects one: ``sum_k onehot[k] op_k(x)``. An unselected convolution's output is
multiplied by 0, so its weights get zero gradients and never move, and its BatchNorm statistics
never reach the output; the selected path computes exactly the static
:class:`~lanas_jax.spaces.nb201.Nb201Network`'s function (the skeleton is shared through its
:class:`~lanas_jax.spaces.nb201.ReLUConvBN` and :class:`~lanas_jax.spaces.nb201.ResidualReduction`).
The price is compute: every edge runs both convolutions.
:meth:`MaskedNb201.param_count` counts the selected operations only, which equals the static
network's count (tested).
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces import nb201 as space
from lanas_jax.spaces.batch_norm import batch_norm
from lanas_jax.training.static import FlaxModel

_CONV_OPS = {"conv1": space.OPS.index("nor_conv_1x1"), "conv3": space.OPS.index("nor_conv_3x3")}


class MaskedCell(nn.Module):
    """One NB201 cell with every op on every edge; ``onehot`` ``[6, 5]`` selects. ``bn`` is the
    BatchNorm kind of the convolutions (:data:`~lanas_jax.spaces.batch_norm.BN_KINDS`)."""

    channels: int
    bn: str = "affine"

    @nn.compact
    def __call__(self, x: jax.Array, onehot: jax.Array, train: bool) -> jax.Array:
        nodes = [x]
        for i in range(1, 4):
            total = jnp.zeros_like(x)
            for e, (dst, src) in enumerate(space.EDGES):
                if dst != i:
                    continue
                h = nodes[src]
                pool = nn.avg_pool(h, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)),
                                   count_include_pad=False)
                outs = (jnp.zeros_like(h), h,
                        space.ReLUConvBN(self.channels, 1, bn=self.bn, name=f"edge{e}_conv1")(
                            h, train),
                        space.ReLUConvBN(self.channels, 3, bn=self.bn, name=f"edge{e}_conv3")(
                            h, train),
                        pool)
                total = total + sum(onehot[e, k] * out for k, out in enumerate(outs))
            nodes.append(total)
        return nodes[3]


class MaskedNb201Network(nn.Module):
    """:class:`~lanas_jax.spaces.nb201.Nb201Network` with :class:`MaskedCell` cells; called as
    ``(x, arch, train=)`` with a traced :class:`~lanas_jax.spaces.nb201.Nb201Arch`. ``bn`` is
    every BatchNorm's kind (:data:`~lanas_jax.spaces.batch_norm.BN_KINDS`; the supernet's are
    affine-free). ``op_weights`` ``[6, 5]``, when given, replaces the one-hot of ``arch.ops``
    (``arch`` is then unused): DARTS's mixed op ``sum_k w[e, k] op_k(x)`` on the same parameters
    (Liu et al. 2019, Sec. 2.2; :mod:`lanas_jax.gradient.mixed`)."""

    num_classes: int
    channels: int = 16
    cells: int = 5
    bn: str = "affine"

    @nn.compact
    def __call__(self, x: jax.Array, arch, train: bool = False,
                 op_weights: jax.Array | None = None) -> jax.Array:
        if op_weights is None:
            onehot = jax.nn.one_hot(arch.ops, space.NUM_OPS, dtype=x.dtype)
        else:
            onehot = jnp.asarray(op_weights, x.dtype)
        x = nn.Conv(self.channels, (3, 3), padding=((1, 1), (1, 1)), use_bias=False)(x)
        x = batch_norm(train, self.bn)(x)
        for stage in range(3):
            width = self.channels * 2**stage
            if stage:
                x = space.ResidualReduction(width, bn=self.bn)(x, train)
            for _ in range(self.cells):
                x = MaskedCell(width, bn=self.bn)(x, onehot, train)
        x = nn.relu(batch_norm(train, self.bn)(x))
        return nn.Dense(self.num_classes)(jnp.mean(x, axis=(1, 2)))


@dataclasses.dataclass(frozen=True)
class MaskedNb201(FlaxModel):
    """The masked NB201 network on images of ``image_shape`` (a loop model)."""

    image_shape: tuple[int, ...] = ()

    @classmethod
    def build(cls, image_shape, num_classes: int, channels: int = 16,
              cells: int = 5) -> MaskedNb201:
        return cls(MaskedNb201Network(num_classes, channels, cells), True, tuple(image_shape))

    def param_count(self, arch) -> int:
        """Parameters of the selected operations (the true network's count)."""
        ops = np.asarray(arch.ops)
        total = 0
        for path, n in _param_sizes(self.module, self.image_shape):
            edge = next((p for p in path if p.startswith("edge")), None)
            if edge is not None:
                e, op = edge.removeprefix("edge").split("_")
                if ops[int(e)] != _CONV_OPS[op]:
                    continue
            total += n
        return total


@functools.cache
def _param_sizes(module: nn.Module, image_shape: tuple[int, ...]) -> tuple:
    """``(path names, size)`` of every parameter of the masked network (shapes only)."""
    x = jax.ShapeDtypeStruct((1,) + image_shape, np.float32)
    arch = space.Nb201Arch(jnp.zeros((space.NUM_EDGES,), jnp.int32))
    shapes = jax.eval_shape(lambda x: module.init({"params": jax.random.PRNGKey(0)}, x, arch,
                                                  train=False), x)["params"]
    flat = jax.tree_util.tree_flatten_with_path(shapes)[0]
    return tuple((tuple(str(getattr(k, "key", k)) for k in path), int(np.prod(leaf.shape)))
                 for path, leaf in flat)
