"""The continuous relaxation of DARTS (Liu et al. 2019, Sec. 2.1-2.2) on our supernets.

Architecture logits ``alpha`` are one ``f32[L, V]`` array aligned with the space's tokens
(``L = len(space.vocab_sizes)``, ``V = max(vocab_sizes)``); entries past a position's vocabulary
are masked out of every softmax (:func:`arch_weights`). The mixed network is evaluated on the
SAME variables as the supernet's single-path ``apply`` (same params tree), so a derived
architecture is scored with ``supernet.apply`` afterwards.

* **NAS-Bench-201** (``Nb201Supernet``): tokens are the 6 edges' op ids, so ``alpha`` is the
  ``[6, 5]`` per-edge logits and the mixed op is ``sum_k softmax(alpha_e)_k op_k(x)`` (Eq. 2),
  computed by :class:`~lanas_jax.training.masked_nb201.MaskedNb201Network` with
  ``op_weights`` in place of its one-hot: a one-hot ``alpha`` gives bit-identical logits.
* **ConvNet chain** (``ConvNetSupernet``): tokens are ``[depth - 1, choice_1..choice_5]``.
  Layer ``j``'s relaxation mixes its 4 choices by mixing their masked kernels:
  ``conv(x, W * sum_c p_jc mask_c) = sum_c p_jc conv(x, W * mask_c)`` (one convolution, the
  "superkernel" of Single-Path NAS, Stamoulis et al. 2019; the sum is before the ReLU, where
  DARTS's would be after it). DARTS has no chain depth; ours is a softmax ``q`` over the 5 depths
  mixing the head's output at each depth, ``sum_d q_d head(pool(x_d))`` with ``x_d`` the output
  of layer ``d`` (the head is linear, so this is the head of the mixed pooled features). A
  one-hot ``alpha`` is the single-path network of that architecture.

Derivation (Sec. 2.4): the argmax per token position, NB201's ``none`` excluded unless asked
(DARTS excludes the zero op when it derives a cell; AutoDL-Projects' NB201 search keeps it);
:func:`ranked` lists that pick first, then the rest of the space by the relaxation's joint
probability (NB201: the product of the edges' op probabilities; ConvNet:
``q_d * prod_{j < d} p_j(c_j)``, positions past the depth not counting).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces import nb201
from lanas_jax.supernet.convnet import ConvNetSupernet
from lanas_jax.supernet.nb201 import Nb201Supernet
from lanas_jax.training import convnet as cn

_MASKED = -1e30  # a logit no softmax or Gumbel sample picks (finite: no inf - inf in gradients)
_NONE = nb201.OPS.index("none")


def _check_space(space) -> None:
    if space.name not in ("nb201", "convnet"):
        raise ValueError(f"the gradient methods support the nb201 and convnet spaces, got "
                         f"{space.name!r}")


def valid_mask(space) -> np.ndarray:
    """``bool[L, V]``: entry ``(i, v)`` is a choice of token position ``i``."""
    vocab = tuple(int(v) for v in space.vocab_sizes)
    return np.arange(max(vocab))[None, :] < np.asarray(vocab)[:, None]


def init_alpha(space, key: jax.Array, scale: float = 1e-3) -> jax.Array:
    """``f32[L, V]`` logits ``scale * N(0, 1)`` (DARTS's ``1e-3 * randn``), 0 off-vocabulary."""
    _check_space(space)
    mask = valid_mask(space)
    return scale * jax.random.normal(key, mask.shape, jnp.float32) * mask


def masked_logits(space, alpha: jax.Array, exclude_none: bool = False) -> jax.Array:
    """``alpha`` with the off-vocabulary entries (and NB201's ``none`` when ``exclude_none``)
    set to a large negative logit."""
    alpha = jnp.asarray(alpha)
    mask = valid_mask(space)
    if alpha.shape != mask.shape:
        raise ValueError(f"{space.name} architecture logits are f32{list(mask.shape)}, got "
                         f"shape {alpha.shape}")
    if exclude_none and space.name == "nb201":
        mask = mask & (np.arange(mask.shape[1]) != _NONE)[None, :]
    return jnp.where(mask, alpha, _MASKED)


def arch_weights(space, alpha: jax.Array) -> jax.Array:
    """The mixing weights: a softmax per token position (Eq. 2), 0 off-vocabulary."""
    return jax.nn.softmax(masked_logits(space, alpha), axis=-1)


def mixed_apply(supernet, variables, weights: jax.Array, x: jax.Array, *, train: bool):
    """Logits of the relaxed network with mixing ``weights`` ``[L, V]`` (see the module doc) and
    the new BatchNorm statistics (``None`` without running statistics), as ``supernet.apply``."""
    if isinstance(supernet, Nb201Supernet):
        return _nb201_apply(supernet, variables, weights, x, train)
    if isinstance(supernet, ConvNetSupernet):
        return _convnet_apply(supernet, variables, weights, x, train), None
    raise ValueError(f"no mixed op for {type(supernet).__name__} (have: Nb201Supernet, "
                     f"ConvNetSupernet)")


def _nb201_apply(supernet: Nb201Supernet, variables, weights, x, train: bool):
    if x.ndim != 4 or x.shape[1] % 4 or x.shape[2] % 4:
        raise ValueError(f"the NB201 supernet takes [B, H, W, C] images with H and W multiples "
                         f"of 4, got shape {x.shape}")
    if weights.shape != (nb201.NUM_EDGES, nb201.NUM_OPS):
        raise ValueError(f"NB201 op weights are [6, 5], got shape {weights.shape}")
    module = supernet.module
    if supernet.bn == "batch":
        return module.apply({"params": variables["params"]}, x, None, True,
                            op_weights=weights), None
    if not train:
        return module.apply(variables, x, None, False, op_weights=weights), \
            variables["batch_stats"]
    logits, updates = module.apply(variables, x, None, True, op_weights=weights,
                                   mutable=["batch_stats"])
    return logits, updates["batch_stats"]


def _convnet_apply(supernet: ConvNetSupernet, variables, weights, x, train: bool):
    width = supernet.width
    if weights.shape != (6, 5):
        raise ValueError(f"ConvNet weights are [6, 5] (depth row, then 5 layers), got shape "
                         f"{weights.shape}")
    depth_w, layer_w = weights[0], weights[1:, :len(cn._LARGE)]
    rings = jnp.stack([cn._ring_mask(bool(v)) for v in cn._LARGE])  # [4, 5, 5]
    chans = jnp.stack([cn._chan_mask(bool(v), width) for v in cn._WIDE])  # [4, width]
    im2col = supernet.conv == "im2col" or (supernet.conv == "auto" and train)
    params = variables["params"]
    pooled = 0.0
    for j, layer in enumerate(params["conv"]):
        kmask = jnp.einsum("c,cij,co->ijo", layer_w[j], rings, chans)
        w = layer["w"] * kmask[:, :, None, :]
        y = cn.conv_same(x, w) if im2col else jax.lax.conv_general_dilated(
            x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        x = jax.nn.relu(y + layer["b"] * (layer_w[j] @ chans))
        pooled = pooled + depth_w[j] * jnp.mean(x, axis=(1, 2))
    return pooled @ params["head"]["w"] + params["head"]["b"]


def derive(space, alpha: jax.Array, *, exclude_none: bool = True):
    """The discrete architecture: the argmax per token position (Sec. 2.4), NB201's ``none``
    excluded unless ``exclude_none`` is False."""
    _check_space(space)
    logits = masked_logits(space, alpha, exclude_none)
    return space.from_tokens(jnp.argmax(logits, axis=-1).astype(jnp.int32))


def log_prob(space, alpha: jax.Array, tokens: jax.Array, *, exclude_none: bool = True):
    """The relaxation's joint log-probability of the architecture ``tokens`` (module doc)."""
    logp = jax.nn.log_softmax(masked_logits(space, alpha, exclude_none), axis=-1)
    per_pos = jnp.take_along_axis(logp, tokens[:, None], axis=-1)[:, 0]
    if space.name == "convnet":
        live = jnp.arange(per_pos.shape[0] - 1) <= tokens[0]
        return per_pos[0] + jnp.sum(jnp.where(live, per_pos[1:], 0.0))
    return jnp.sum(per_pos)


def ranked(space, alpha: jax.Array, num: int, *, exclude_none: bool = True) -> jax.Array:
    """``int32[num, L]`` tokens: :func:`derive`'s pick first, then the most probable others
    (every architecture of the space is scored: both supported spaces are small)."""
    _check_space(space)
    masked_logits(space, alpha)  # checks the shape
    allowed = int(space.size().count)
    if exclude_none and space.name == "nb201":
        allowed = (nb201.NUM_OPS - 1) ** nb201.NUM_EDGES
    if not 1 <= num <= allowed:
        raise ValueError(f"num must be in [1, {allowed}] (the architectures the derivation can "
                         f"give), got {num}")
    return _top(space, alpha, num, exclude_none)


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _top(space, alpha, num: int, exclude_none: bool) -> jax.Array:
    archs = jax.vmap(space.from_index)(jnp.arange(int(space.size().count), dtype=jnp.int32))
    tokens = jax.vmap(space.tokens)(archs).astype(jnp.int32)
    scores = jax.vmap(lambda t: log_prob(space, alpha, t, exclude_none=exclude_none))(tokens)
    pick = space.index(derive(space, alpha, exclude_none=exclude_none))
    scores = scores.at[pick].set(jnp.inf)
    return tokens[jax.lax.top_k(scores, num)[1]]
