"""Train plain Conv-ReLU stacks (the LaNAS paper's Sec. 2 space, seed 000) with flax + optax.

A network is ``L`` Conv-ReLU layers (SAME padding, stride 1), then global average pooling and a
dense 10-way (``num_classes``) head, trained with Adam on softmax cross-entropy.

Every network of one depth shares every array shape once it is held at full size: a 3x3
kernel is a 5x5 kernel whose outer ring is masked to zero, and a 32-channel layer is a 64-channel
layer whose last 32 channels (and the matching input rows of the next layer and of the head) are
masked. The masks multiply the parameters in the forward pass, so masked entries get zero
gradients and Adam never moves them; the live part is initialised with the true fan-in. A whole
depth (all channel x kernel choices x seeds) then runs as one compiled function, ``jax.vmap``-ed
on accelerators or ``lax.map``-ed (sequential, one compile) on CPU. Convolutions are im2col +
matmul (:func:`conv_same`): XLA:CPU's convolution (its weight gradient above all) is far slower.
The masking trades compute (about 2x over true shapes on average) for 5 compiles instead of 1,364.
:func:`train_reference` trains one network with true-size kernels, for parity tests.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax
from jax import lax

MAX_KERNEL = 5
MAX_CHANNELS = 64


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The training recipe (hashable: it is a static argument of the compiled group trainer)."""

    epochs: int = 1
    batch_size: int = 64
    learning_rate: float = 3e-3
    num_classes: int = 10

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or not self.learning_rate > 0:
            raise ValueError(f"bad recipe {self}: epochs, batch_size >= 1, learning_rate > 0")


def _ring_mask(large) -> jax.Array:
    """``[5, 5]`` mask: all ones for a 5x5 kernel, the centred 3x3 block for a 3x3 one."""
    m3 = jnp.zeros((MAX_KERNEL, MAX_KERNEL), jnp.float32).at[1:4, 1:4].set(1.0)
    return jnp.where(large, jnp.ones((MAX_KERNEL, MAX_KERNEL), jnp.float32), m3)


def _chan_mask(wide) -> jax.Array:
    """``[64]`` mask: all channels for a 64-channel layer, the first 32 for a 32-channel one."""
    return (jnp.arange(MAX_CHANNELS) < jnp.where(wide, MAX_CHANNELS, 32)).astype(jnp.float32)


def masks_for(large, wide, in_channels: int) -> dict:
    """Masks of a network held at full size (5x5 kernels, 64 channels), traceable.

    ``large[j]`` / ``wide[j]`` are layer ``j``'s kernel-5 / 64-channel flags. Weights, biases and
    the head are multiplied by these in the forward pass, so masked entries get zero gradients.
    """
    conv, cin_mask = [], jnp.ones((in_channels,), jnp.float32)
    for j in range(len(large)):
        cout_mask = _chan_mask(wide[j])
        w = (_ring_mask(large[j])[:, :, None, None] * cin_mask[None, None, :, None]
             * cout_mask[None, None, None, :])
        conv.append({"w": w, "b": cout_mask})
        cin_mask = cout_mask
    return {"conv": conv, "head": {"w": cin_mask[:, None], "b": jnp.float32(1.0)}}


def init_params(key, arch_or_flags, in_channels: int, num_classes: int, full: bool = True):
    """Parameters of one network.

    Every conv weight is drawn as a ``[5, 5, Cin_max, 64]`` standard normal (``Cin_max`` = the
    input's channels for layer 1, else 64), cropped to the network's centred ``K x K`` block and
    first ``C_in`` x ``C_out`` channels and scaled by He's ``sqrt(2 / (K * K * C_in))``; the head
    ``[64, classes]`` normal is cropped to ``C_last`` rows and scaled by ``1 / sqrt(C_last)``.
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
        m = masks_for(large, wide, in_channels)
    for j in range(depth):
        w = jax.random.normal(keys[j], (MAX_KERNEL, MAX_KERNEL, cin_max, MAX_CHANNELS))
        if full:
            fan_in = jnp.where(large[j], 25.0, 9.0) * cin
            params["conv"].append({"w": w * m["conv"][j]["w"] * jnp.sqrt(2.0 / fan_in),
                                   "b": jnp.zeros((MAX_CHANNELS,), jnp.float32)})
            cin = jnp.where(wide[j], MAX_CHANNELS, 32)
        else:
            c, k = arch_or_flags[j]
            lo = (MAX_KERNEL - k) // 2
            w = w[lo:lo + k, lo:lo + k, :cin, :c] * jnp.sqrt(2.0 / (k * k * cin))
            params["conv"].append({"w": w, "b": jnp.zeros((c,), jnp.float32)})
            cin = c
        cin_max = MAX_CHANNELS
    wh = jax.random.normal(keys[-1], (MAX_CHANNELS, num_classes), jnp.float32)
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


def _batches(key, n: int, recipe: Recipe) -> jax.Array:
    """``[steps, batch]`` example indices: a fresh permutation per epoch, remainder dropped."""
    per_epoch = n // recipe.batch_size
    if per_epoch < 1:
        raise ValueError(f"batch_size {recipe.batch_size} exceeds the {n} training examples")
    keys = jax.random.split(key, recipe.epochs)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(keys)
    idx = perms[:, : per_epoch * recipe.batch_size]
    return idx.reshape(recipe.epochs * per_epoch, recipe.batch_size)


def _accuracy(params, x, y, masks, chunk: int = 128):
    """Accuracy over ``x`` evaluated ``chunk`` images at a time (``lax.map``), so that the
    im2col patches of a vmapped group of networks stay ``chunk``-sized, not split-sized."""
    n = x.shape[0]
    pad = -n % chunk
    xs = jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)).reshape((-1, chunk) + x.shape[1:])
    pred = lax.map(lambda xb: jnp.argmax(apply(params, xb, masks), -1), xs).reshape(-1)[:n]
    return jnp.mean(pred == y)


def _train(key, params, masks, data, recipe: Recipe):
    """Adam on cross-entropy; returns ``(val_acc, test_acc, final train loss)``."""
    xtr, ytr, xva, yva, xte, yte = (jnp.asarray(a) for a in data)
    opt = optax.adam(recipe.learning_rate)

    def loss_fn(p, xb, yb):
        logits = apply(p, xb, masks)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def step(carry, idx):
        p, s = carry
        loss, g = jax.value_and_grad(loss_fn)(p, xtr[idx], ytr[idx])
        upd, s = opt.update(g, s, p)
        return (optax.apply_updates(p, upd), s), loss

    (params, _), losses = lax.scan(step, (params, opt.init(params)),
                                   _batches(key, xtr.shape[0], recipe))
    return _accuracy(params, xva, yva, masks), _accuracy(params, xte, yte, masks), losses[-1]


def train_masked(key, large, wide, data, recipe: Recipe):
    """One network held at full size, its kernels / channels given by the (traceable) flags.

    ``key`` is split into the init key and the data-order key, as in :func:`train_reference`.
    """
    k_init, k_data = jax.random.split(key)
    cin = data[0].shape[-1]
    params = init_params(k_init, (large, wide), cin, recipe.num_classes)
    return _train(k_data, params, masks_for(large, wide, cin), data, recipe)


def train_reference(key, arch, data, recipe: Recipe):
    """One network ``((C, K), ...)`` with true-size weights and no masks (parity reference)."""
    k_init, k_data = jax.random.split(key)
    params = init_params(k_init, tuple(arch), data[0].shape[-1], recipe.num_classes, full=False)
    return _train(k_data, params, None, data, recipe)


@functools.partial(jax.jit, static_argnames=("recipe", "vectorize"))
def train_group(keys, large, wide, data, *, recipe: Recipe, vectorize: bool):
    """Train ``M`` networks of one depth ``L``: ``keys`` ``[M, 2]``, ``large`` / ``wide``
    ``[M, L]`` bool; returns ``(val_acc, test_acc, final_loss)``, each ``[M]``.

    ``vectorize`` vmaps the M networks (accelerators); otherwise ``lax.map`` runs them one after
    another inside one compiled program (CPU). Both give the same numbers per network.
    """
    depth = large.shape[1]

    def one(args):
        k, lg, wd = args
        return train_masked(k, [lg[j] for j in range(depth)], [wd[j] for j in range(depth)],
                            data, recipe)

    if vectorize:
        return jax.vmap(lambda *a: one(a))(keys, large, wide)
    return lax.map(one, (keys, large, wide))


def param_count(arch, in_channels: int, num_classes: int) -> int:
    """Trainable parameters of ``arch`` with its true kernel sizes (the ring is not counted)."""
    n, cin = 0, in_channels
    for c, k in arch:
        n += k * k * cin * c + c
        cin = c
    return n + cin * num_classes + num_classes
