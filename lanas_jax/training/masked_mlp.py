"""Masked training of seed 001's MLP space (:mod:`lanas_jax.spaces.mlp`): one compiled program
for every architecture whose widest layer is ``max_width``.

Held at full size, slot ``i`` of an architecture is a dense ``max_width``-wide layer, a dropout or
absent, chosen by the traced layer id:

* a dense layer computes all four activations and selects one (seed 001 Sec. 5.1: sigmoid, tanh,
  ReLU, ELU), then multiplies by its width mask *after* the activation (``sigmoid(0) = 0.5``
  would otherwise leak through masked units). Masked units are then exactly 0, so their weights
  (output columns, and the next layer's input rows) get zero gradients and never move;
* a dropout (rate 0.2) multiplies by a Bernoulli keep mask scaled by ``1 / 0.8`` in training and
  is the identity in evaluation (flax's ``nn.Dropout``);
* an absent slot (at or past ``length``) is the identity.

Inputs are flattened, as :class:`~lanas_jax.spaces.mlp.MLP` does. Weights are drawn like flax's
``Dense`` defaults (LeCun truncated normal with the *true* fan-in, zero bias), so the masked
network has the distribution of :class:`~lanas_jax.spaces.mlp.MLP`'s, not its exact draws.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces import mlp as space

# jax.nn.initializers.truncated_normal's std correction for a normal truncated to [-2, 2].
_TRUNC_STD = 0.87962566103423978
_WIDTHS = np.array(space.WIDTHS)


def _lecun(key, shape, fan_in) -> jax.Array:
    """LeCun truncated normal (flax ``Dense``'s default kernel init) with a traced fan-in."""
    w = jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32) / _TRUNC_STD
    return w / jnp.sqrt(jnp.maximum(fan_in, 1.0))


def max_width(arch) -> int:
    """The widest dense layer of one host architecture (the masked program it trains in);
    raises a ValueError for an architecture outside the space."""
    layers, length = np.asarray(arch.layers), int(np.asarray(arch.length))
    ids = layers[:length]
    if not 1 <= length <= layers.shape[-1] or ids[0] >= space.NUM_DENSE or (
            (ids < 0) | (ids >= space.NUM_LAYER_IDS)).any():
        raise ValueError(f"not an MLP architecture: length {length}, layers {layers.tolist()} "
                         f"(1..{layers.shape[-1]} layers, the first dense, ids in "
                         f"[0, {space.NUM_LAYER_IDS}))")
    dense = ids[ids < space.NUM_DENSE]
    return int(_WIDTHS[dense // len(space.ACTIVATIONS)].max())


@dataclasses.dataclass(frozen=True)
class MaskedMLP:
    """Every MLP of ``max_layers`` slots whose widest layer is at most ``max_width``, on
    ``in_dim``-wide (flattened) inputs (a model of :mod:`lanas_jax.training.loop`)."""

    max_layers: int
    in_dim: int
    num_classes: int
    max_width: int = max(space.WIDTHS)
    dropout_rate: float = space.DROPOUT_RATE

    def _slots(self, arch):
        """Per slot: kind (0 absent, 1 dense, 2 dropout), width mask ``[S, W]``, activation."""
        pos = jnp.arange(self.max_layers)
        kind = jnp.where(pos >= arch.length, 0, jnp.where(arch.layers == space.DROPOUT, 2, 1))
        width_id, act = jnp.divmod(arch.layers, len(space.ACTIVATIONS))
        widths = jnp.asarray(_WIDTHS)[jnp.clip(width_id, 0, len(_WIDTHS) - 1)]
        masks = (jnp.arange(self.max_width)[None, :] < widths[:, None]).astype(jnp.float32)
        return kind, masks, act

    def init(self, key, arch, x):
        kind, masks, _ = self._slots(arch)
        keys = jax.random.split(key, self.max_layers + 1)
        live = jnp.ones((self.in_dim,), jnp.float32)  # the input, never masked
        layers = []
        for i in range(self.max_layers):
            rows = self.in_dim if i == 0 else self.max_width
            w = _lecun(keys[i], (rows, self.max_width), jnp.sum(live))
            layers.append({"w": w * live[:, None] * masks[i][None, :],
                           "b": jnp.zeros((self.max_width,), jnp.float32)})
            if i == 0:
                live = masks[0]
            else:
                live = jnp.where(kind[i] == 1, masks[i], live)
        head = _lecun(keys[-1], (self.max_width, self.num_classes), jnp.sum(live)) * live[:, None]
        return {"layers": layers, "head": {"w": head, "b": jnp.zeros((self.num_classes,))}}, {}

    def apply(self, params, state, arch, x, train, key):
        kind, masks, act = self._slots(arch)
        h = x.reshape((x.shape[0], -1))
        for i, layer in enumerate(params["layers"]):
            z = h @ layer["w"] + layer["b"]
            acts = jnp.stack([jax.nn.sigmoid(z), jnp.tanh(z), jax.nn.relu(z), jax.nn.elu(z)])
            dense = acts[jnp.clip(act[i], 0, 3)] * masks[i]
            if i == 0:  # the first layer is always dense (the space's rule)
                h = dense
                continue
            dropped = h
            if train:
                keep = jax.random.bernoulli(jax.random.fold_in(key, i), 1 - self.dropout_rate,
                                            h.shape)
                dropped = jnp.where(keep, h / (1 - self.dropout_rate), 0.0)
            h = jnp.where(kind[i] == 1, dense, jnp.where(kind[i] == 2, dropped, h))
        return h @ params["head"]["w"] + params["head"]["b"], state

    def param_count(self, arch) -> int:
        """Parameters of the true network (host architecture)."""
        ids = np.asarray(arch.layers)[: int(np.asarray(arch.length))]
        n, fan = 0, self.in_dim
        for i in ids:
            if i != space.DROPOUT:
                w = space.WIDTHS[int(i) // len(space.ACTIVATIONS)]
                n, fan = n + fan * w + w, w
        return n + fan * self.num_classes + self.num_classes
