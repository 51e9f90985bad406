"""Masked training of plain Conv-ReLU stacks (the LaNAS paper's Sec. 2 space, seed 000).

A network is ``L`` Conv-ReLU layers (SAME padding, stride 1), then global average pooling and a
dense ``num_classes`` head (:class:`~lanas_jax.spaces.convnet.ConvNetNetwork`).

Every network of one depth shares every array shape once it is held at full size: a 3x3
kernel is a 5x5 kernel whose outer ring is masked to zero, and a narrow (``width / 2``-channel)
layer is a ``width``-channel layer whose last half of channels (and the matching input rows of
the next layer and of the head) are masked; ``width`` = 64 is the paper's 32/64. The masks
multiply the parameters in the forward pass, so masked entries get zero gradients and Adam never
moves them; the live part is initialised with the true fan-in. A whole depth then trains as one
compiled program (:class:`MaskedConvNet` under :func:`lanas_jax.training.loop.train_batch`).
The depth stays static (one compile per depth): the initialisation splits the key ``depth + 1``
ways, which a traced depth cannot do without changing the recorded table's draws.
Convolutions are im2col + matmul (:func:`conv_same`): XLA:CPU's convolution (its weight
gradient above all) is far slower. :class:`TrueConvNet` trains one network with true-size
weights, for parity tests.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces import convnet as space

MAX_KERNEL = 5
MAX_CHANNELS = 64
# Per choice id (an index into space.CHOICES): whether it is a 5x5 / a wide layer.
_LARGE = np.array([k == 5 for _, k in space.CHOICES])
_WIDE = np.array([c == max(space.CHANNELS) for c, _ in space.CHOICES])


def _ring_mask(large) -> jax.Array:
    """``[5, 5]`` mask: all ones for a 5x5 kernel, the centred 3x3 block for a 3x3 one."""
    m3 = jnp.zeros((MAX_KERNEL, MAX_KERNEL), jnp.float32).at[1:4, 1:4].set(1.0)
    return jnp.where(large, jnp.ones((MAX_KERNEL, MAX_KERNEL), jnp.float32), m3)


def _chan_mask(wide, width: int) -> jax.Array:
    """``[width]`` mask: all channels for a wide layer, the first half for a narrow one."""
    return (jnp.arange(width) < jnp.where(wide, width, width // 2)).astype(jnp.float32)


def masks_for(large, wide, in_channels: int, width: int = MAX_CHANNELS) -> dict:
    """Masks of a network held at full size (5x5 kernels, ``width`` channels), traceable.

    ``large[j]`` / ``wide[j]`` are layer ``j``'s kernel-5 / 64-channel flags. Weights, biases and
    the head are multiplied by these in the forward pass, so masked entries get zero gradients.
    """
    conv, cin_mask = [], jnp.ones((in_channels,), jnp.float32)
    for j in range(len(large)):
        cout_mask = _chan_mask(wide[j], width)
        w = (_ring_mask(large[j])[:, :, None, None] * cin_mask[None, None, :, None]
             * cout_mask[None, None, None, :])
        conv.append({"w": w, "b": cout_mask})
        cin_mask = cout_mask
    return {"conv": conv, "head": {"w": cin_mask[:, None], "b": jnp.float32(1.0)}}


def init_params(key, arch_or_flags, in_channels: int, num_classes: int, full: bool = True,
                width: int = MAX_CHANNELS):
    """Parameters of one network.

    Every conv weight is drawn as a ``[5, 5, Cin_max, width]`` standard normal (``Cin_max`` =
    the input's channels for layer 1, else ``width``), cropped to the network's centred
    ``K x K`` block and first ``C_in`` x ``C_out`` channels and scaled by He's
    ``sqrt(2 / (K * K * C_in))``; the head ``[width, classes]`` normal is cropped to
    ``C_last`` rows and scaled by ``1 / sqrt(C_last)``.
    With ``full`` (``arch_or_flags`` = ``(large, wide)`` bool sequences, may be traced) the crop
    is zero-padded back to full size; otherwise (``arch_or_flags`` = ``((C, K), ...)``) weights
    keep their true shapes. Same key -> the same effective network either way.
    """
    depth = len(arch_or_flags[0]) if full else len(arch_or_flags)
    keys = jax.random.split(key, depth + 1)
    params = {"conv": [], "head": None}
    cin_max, cin = in_channels, in_channels
    if full:
        large, wide = arch_or_flags
        m = masks_for(large, wide, in_channels, width)
    for j in range(depth):
        w = jax.random.normal(keys[j], (MAX_KERNEL, MAX_KERNEL, cin_max, width))
        if full:
            fan_in = jnp.where(large[j], 25.0, 9.0) * cin
            params["conv"].append({"w": w * m["conv"][j]["w"] * jnp.sqrt(2.0 / fan_in),
                                   "b": jnp.zeros((width,), jnp.float32)})
            cin = jnp.where(wide[j], width, width // 2)
        else:
            c, k = arch_or_flags[j]
            lo = (MAX_KERNEL - k) // 2
            w = w[lo:lo + k, lo:lo + k, :cin, :c] * jnp.sqrt(2.0 / (k * k * cin))
            params["conv"].append({"w": w, "b": jnp.zeros((c,), jnp.float32)})
            cin = c
        cin_max = width
    wh = jax.random.normal(keys[-1], (width, num_classes), jnp.float32)
    if full:
        wh = wh * m["head"]["w"] / jnp.sqrt(cin)
    else:
        wh = wh[:cin] / jnp.sqrt(cin)
    params["head"] = {"w": wh, "b": jnp.zeros((num_classes,), jnp.float32)}
    return params


def conv_same(x, w):
    """Stride-1 SAME convolution ``[B, H, W, Cin] * [K, K, Cin, Cout]`` as im2col + one matmul.

    XLA:CPU's convolution emitter (its weight gradient above all) is orders of magnitude slower
    than its matmul on these tiny images, so the K*K shifted views are concatenated and
    multiplied once; the gradient is then matmuls, pads and slices too.
    """
    k = w.shape[0]
    p = k // 2
    h, wd = x.shape[1], x.shape[2]
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    cols = [xp[:, i:i + h, j:j + wd, :] for i in range(k) for j in range(k)]
    patches = jnp.concatenate(cols, axis=-1)  # [B, H, W, K*K*Cin], (i, j, c) order = HWIO
    return patches @ w.reshape(-1, w.shape[-1])


def apply(params, x, masks=None):
    """Logits ``[B, num_classes]`` of images ``x`` ``[B, H, W, C]``; ``masks`` from
    :func:`masks_for` (full-size parameters) or None (true-size parameters)."""
    if masks is not None:
        params = jax.tree.map(lambda p, m: p * m, params, masks)
    for layer in params["conv"]:
        x = jax.nn.relu(conv_same(x, layer["w"]) + layer["b"])
    x = jnp.mean(x, axis=(1, 2))
    return x @ params["head"]["w"] + params["head"]["b"]


def param_count(arch, in_channels: int, num_classes: int) -> int:
    """Trainable parameters of ``arch`` with its true kernel sizes (the ring is not counted)."""
    n, cin = 0, in_channels
    for c, k in arch:
        n += k * k * cin * c + c
        cin = c
    return n + cin * num_classes + num_classes


def scaled(layers, width: int) -> tuple[tuple[int, int], ...]:
    """``((channels, kernel), ...)`` with the space's 32/64 channels scaled to ``width`` / 2 and
    ``width``."""
    return tuple((width if c == max(space.CHANNELS) else width // 2, k) for c, k in layers)


@dataclasses.dataclass(frozen=True)
class MaskedConvNet:
    """Every ConvNet of one ``depth`` held at full size; the architecture is a traced
    :class:`~lanas_jax.spaces.convnet.ConvNetArch` (a model of :mod:`lanas_jax.training.loop`)."""

    depth: int
    in_channels: int
    num_classes: int
    width: int = MAX_CHANNELS

    def _flags(self, arch):
        choice = arch.choice[: self.depth]
        large, wide = jnp.asarray(_LARGE)[choice], jnp.asarray(_WIDE)[choice]
        return [large[j] for j in range(self.depth)], [wide[j] for j in range(self.depth)]

    def init(self, key, arch, x):
        return init_params(key, self._flags(arch), self.in_channels, self.num_classes,
                           width=self.width), {}

    def apply(self, params, state, arch, x, train, key):
        return apply(params, x, masks_for(*self._flags(arch), self.in_channels, self.width)), state

    def param_count(self, arch) -> int:
        """Parameters of the true network (host architecture)."""
        return param_count(scaled(space.layers_of(arch), self.width), self.in_channels,
                           self.num_classes)


@dataclasses.dataclass(frozen=True)
class TrueConvNet:
    """One ConvNet ``layers`` (``((channels, kernel), ...)``, true channel counts) with true-size
    weights and no masks: the parity reference of :class:`MaskedConvNet`."""

    layers: tuple[tuple[int, int], ...]
    in_channels: int
    num_classes: int
    width: int = MAX_CHANNELS

    def init(self, key, arch, x):
        return init_params(key, self.layers, self.in_channels, self.num_classes, full=False,
                           width=self.width), {}

    def apply(self, params, state, arch, x, train, key):
        return apply(params, x), state
