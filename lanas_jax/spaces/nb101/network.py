"""The NAS-Bench-101 network of one cell, as a ``flax.linen`` Module (Ying et al. 2019, Sec. 2.1
and Fig. 1; the benchmark's ``model_builder`` fixes the details the text leaves out).

Skeleton: a 3x3 conv-BN-ReLU stem with 128 channels; 3 stacks of 3 cells; before every stack
but the first, a 2x2 max-pool of stride 2 and the channels doubled; a global average pool and
a dense layer to the classes. A conv is conv (no bias) -> batch norm -> ReLU throughout.

Inside a cell with ``C`` output channels (:func:`vertex_channels`): the output concatenates the
vertices feeding it, which split ``C`` between them as evenly as possible (the first ones get
one channel more when it does not divide); every other interior vertex has the largest channel
count among its successors. A vertex sums its inputs: the cell input through a 1x1 conv-BN-ReLU
projection to the vertex's channels, other vertices sliced to its channels (they have at most
one more), then applies its op (maxpool keeps the channels). When the input feeds the output,
its projection to ``C`` channels is added to the concatenation (or is the whole output when no
interior vertex feeds it).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces.nb101.cell import OPS

_CONV_INIT = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")


def vertex_channels(in_channels: int, out_channels: int, matrix: np.ndarray) -> list[int]:
    """Channels of every vertex of a compact, pruned cell (see the module doc)."""
    matrix = np.asarray(matrix)
    v = matrix.shape[0]
    channels = [0] * v
    channels[0], channels[-1] = in_channels, out_channels
    feeders = [u for u in range(1, v - 1) if matrix[u, -1]]
    if feeders:
        share, extra = divmod(out_channels, len(feeders))
        for rank, u in enumerate(feeders):
            channels[u] = share + (rank < extra)
    for u in range(v - 2, 0, -1):  # successors have larger numbers: settle them first
        if not matrix[u, -1]:
            channels[u] = max(channels[w] for w in range(u + 1, v - 1) if matrix[u, w])
    return channels


class ConvBnRelu(nn.Module):
    """``kernel x kernel`` conv (no bias, same padding) -> batch norm -> ReLU."""

    channels: int
    kernel: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = nn.Conv(self.channels, (self.kernel, self.kernel), padding="SAME", use_bias=False,
                    kernel_init=_CONV_INIT)(x)
        # The benchmark's batch-norm constants (momentum 0.997, epsilon 1e-5).
        x = nn.BatchNorm(use_running_average=not train, momentum=0.997, epsilon=1e-5)(x)
        return nn.relu(x)


class Nb101Cell(nn.Module):
    """One cell (see the module doc); ``matrix`` compact and pruned, ``ops`` its op names."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]
    channels: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        m = np.asarray(self.matrix)
        v = m.shape[0]
        ch = vertex_channels(x.shape[-1], self.channels, m)
        values = [x]
        for t in range(1, v - 1):
            inputs = [values[s][..., : ch[t]] for s in range(1, t) if m[s, t]]
            if m[0, t]:
                inputs.append(ConvBnRelu(ch[t], 1, name=f"project_{t}")(x, train))
            total = sum(inputs[1:], inputs[0])
            op = self.ops[t]
            if op == OPS[2]:  # maxpool3x3
                values.append(nn.max_pool(total, (3, 3), strides=(1, 1), padding="SAME"))
            else:
                kernel = 3 if op == OPS[0] else 1
                values.append(ConvBnRelu(ch[t], kernel, name=f"vertex_{t}")(total, train))
        feeding = [values[t] for t in range(1, v - 1) if m[t, -1]]
        if m[0, -1]:
            skip = ConvBnRelu(self.channels, 1, name="project_out")(x, train)
            return skip if not feeding else jnp.concatenate(feeding, -1) + skip
        return jnp.concatenate(feeding, -1)


class Nb101Network(nn.Module):
    """The NAS-Bench-101 network of one cell (see the module doc).

    Attributes:
      matrix, ops: the compact, pruned cell (as hashable tuples).
      num_classes: outputs of the final dense layer.
      stem_channels: the stem's channels, also the first stack's (128 in the benchmark).
      num_stacks, cells_per_stack: 3 and 3 in the benchmark.
    """

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]
    num_classes: int
    stem_channels: int = 128
    num_stacks: int = 3
    cells_per_stack: int = 3

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """``[B, H, W, C]`` images -> ``[B, num_classes]`` logits."""
        x = ConvBnRelu(self.stem_channels, 3, name="stem")(x, train)
        channels = self.stem_channels
        for stack in range(self.num_stacks):
            if stack > 0:
                x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
                channels *= 2
            for i in range(self.cells_per_stack):
                x = Nb101Cell(self.matrix, self.ops, channels, name=f"stack{stack}_cell{i}")(
                    x, train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, kernel_init=nn.initializers.glorot_uniform())(x)
