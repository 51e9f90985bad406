"""The ConvNet-chain supernet: every network of the LaNAS Sec. 2 space in one set of weights.

Seed 000 Sec. 2's space is Conv-ReLU stacks of depth 1-5, each layer ``(channels, kernel)`` in
``{narrow, wide} x {3, 5}`` (:mod:`lanas_jax.spaces.convnet`). Weight sharing is per layer
position, as in single-path one-shot chains (SPOS, Guo et al. 2020, Sec. 3.2's channel search)
and Once-for-All's elastic kernels and widths (Cai et al. 2020, Sec. 3.2): layer ``j`` holds one
``[5, 5, C_in, width]`` kernel; a 3x3 layer uses its centre ``3 x 3`` block and a narrow layer its
first ``width / 2`` output channels (OFA's "most important channels first" without the
re-ordering; the masks are those of :func:`lanas_jax.training.convnet.masks_for`). Layers at or
beyond the depth are skipped (identity), and one head serves every depth. The architecture is a
traced input: choice by masking, so one compiled program serves all 1,364 networks. The chain
has no BatchNorm, so ``apply`` returns ``None`` statistics.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lanas_jax.spaces import convnet as space
from lanas_jax.training import convnet as cn


def _flags(arch):
    """``(depth, large [5], wide [5])`` of a (traced) ConvNet architecture."""
    choice = jnp.asarray(arch.choice)
    return (jnp.asarray(arch.depth), jnp.asarray(cn._LARGE)[choice],
            jnp.asarray(cn._WIDE)[choice])


@dataclasses.dataclass(frozen=True)
class ConvNetSupernet:
    """The weight-sharing ConvNet chain (see the module docstring).

    Attributes:
      num_classes: outputs of the head.
      width: the wide channel count (narrow = ``width // 2``); 64 is the paper's 32/64 and
        16 is the ``convnet_w16_40ep`` recipe of the ``convnet1364`` table.
      conv: ``"im2col"`` (shifted views and one matmul: XLA:CPU's convolution gradient is far
        slower), ``"xla"`` (``lax.conv_general_dilated``) or ``"auto"``: im2col when training,
        XLA's convolution when scoring (3x faster forward on this CPU: BUILD_NOTES 2026-12-04).
    """

    num_classes: int
    width: int = 64
    conv: str = "auto"
    space: space.ConvNet = space.ConvNet()

    def __post_init__(self):
        if self.width < 2 or self.width % 2:
            raise ValueError(f"width must be an even number >= 2, got {self.width}")
        if self.conv not in ("auto", "im2col", "xla"):
            raise ValueError(f"conv must be 'auto', 'im2col' or 'xla', got {self.conv!r}")

    def init(self, key: jax.Array, x: jax.Array) -> dict:
        """He-normal kernels scaled by the full ``5 x 5 x C_in`` fan-in, zero biases."""
        cin = x.shape[-1]
        keys = jax.random.split(key, space.MAX_DEPTH + 1)
        conv = []
        for j in range(space.MAX_DEPTH):
            c = cin if j == 0 else self.width
            w = jax.random.normal(keys[j], (cn.MAX_KERNEL, cn.MAX_KERNEL, c, self.width))
            conv.append({"w": w * jnp.sqrt(2.0 / (cn.MAX_KERNEL**2 * c)),
                         "b": jnp.zeros((self.width,), jnp.float32)})
        head = jax.random.normal(keys[-1], (self.width, self.num_classes)) / jnp.sqrt(self.width)
        return {"params": {"conv": conv, "head": {"w": head, "b": jnp.zeros(self.num_classes)}}}

    def path_mask(self, arch) -> dict:
        """1 on the entries ``arch`` uses: each live layer's centre block and first channels,
        the head rows of the last live layer's channels; 0 on layers beyond the depth."""
        depth, large, wide = _flags(arch)
        cin = None
        conv = []
        for j in range(space.MAX_DEPTH):
            live = (j < depth).astype(jnp.float32)
            cout = cn._chan_mask(wide[j], self.width)
            w = cn._ring_mask(large[j])[:, :, None, None] * cout[None, None, None, :]
            if cin is not None:
                w = w * cin[None, None, :, None]
            conv.append({"w": w * live, "b": cout * live})
            cin = cout
        last = cn._chan_mask(wide[depth - 1], self.width)
        return {"conv": conv, "head": {"w": last[:, None], "b": jnp.float32(1.0)}}

    def apply(self, variables: dict, arch, x: jax.Array, *, train: bool = False):
        """Logits ``[B, num_classes]`` of ``arch`` on ``x`` ``[B, H, W, C]``, and ``None`` (the
        chain has no BatchNorm; ``train`` only picks the convolution of ``conv="auto"``)."""
        im2col = self.conv == "im2col" or (self.conv == "auto" and train)
        params = variables["params"]
        depth, _, _ = _flags(arch)
        mask = self.path_mask(arch)
        for j, (layer, m) in enumerate(zip(params["conv"], mask["conv"], strict=True)):
            w = layer["w"] * m["w"]
            y = cn.conv_same(x, w) if im2col else jax.lax.conv_general_dilated(
                x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
            y = jax.nn.relu(y + layer["b"] * m["b"])
            x = y if j == 0 else jnp.where(j < depth, y, x)
        h = jnp.mean(x, axis=(1, 2))
        return h @ (params["head"]["w"] * mask["head"]["w"]) + params["head"]["b"], None

    def standalone_params(self, variables: dict, layers) -> dict:
        """The true-size parameters of the network ``layers`` (``((channels, kernel), ...)`` in
        the paper's 32/64 units scaled to ``width``) cut out of the supernet: the weights a
        stand-alone :func:`lanas_jax.training.convnet.apply` network inherits."""
        params = variables["params"]
        out, cin = {"conv": []}, None
        for j, (c, k) in enumerate(space.validate_arch(layers)):
            cout = self.width if c == max(space.CHANNELS) else self.width // 2
            lo = (cn.MAX_KERNEL - k) // 2
            w = params["conv"][j]["w"][lo:lo + k, lo:lo + k]
            w = w[:, :, :cin] if cin is not None else w
            out["conv"].append({"w": w[..., :cout], "b": params["conv"][j]["b"][:cout]})
            cin = cout
        out["head"] = {"w": params["head"]["w"][:cin], "b": params["head"]["b"]}
        return out
