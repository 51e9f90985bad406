"""MLPNAS's children (seed 001 Sec. 4, 4.1, 5.1): one controller epoch's MLPs trained together,
and the bigram weight bank of its "one-shot" feature.

Training (Sec. 4: "each architecture is trained on its dataset of choice for approximately 10
epochs with an early stopping of 3"; Sec. 5.1: Adam at 0.001): every child of a batch is the
masked network of :class:`~lanas_jax.training.masked_mlp.MaskedMLP`, padded to the batch's widest
layer, and the batch is ``jax.vmap``-ed into **one** compiled program. Each epoch draws a fresh
permutation (minibatches of 32, Keras's default; the remainder dropped), then measures the
validation loss; early stopping is Keras's ``EarlyStopping(monitor="val_loss", patience=3)``:
after ``patience`` epochs without a strictly lower validation loss a child stops, its weights as
they are then (no restoring of the best). A stopped child's updates are masked, so the batch
runs ``epochs`` epochs and each child reports the validation accuracy of its last trained epoch.

Output layer (Sec. 5.1): a softmax over the classes, or one sigmoid unit for a binary task.

Bigram weight sharing (Sec. 4.1: "identical pairs of layers (also addressed as *bigrams*) share
weights connecting them ... transferred to newly sampled architectures whenever the opportunity
arises"): :class:`Bank` holds, for every pair of consecutive dense layers, the kernel and bias
of the second one as arrays indexed by (width_in, width_out): the first layer's pair is (input,
width), a hidden layer's (width of the previous dense layer, its width; dropouts skipped), the
output layer's (last width, output). A child's layer starts from the bank when its pair has
been written, from a fresh draw otherwise; after training, every child writes its layers back,
in batch order then layer order, the last write of a pair winning (the reference code's
sequential order, made deterministic). Keyed by widths (the weights' shapes), as issue 16 asks;
the reference code also keys by activation.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from lanas_jax.spaces import mlp as space
from lanas_jax.training.masked_mlp import MaskedMLP

NW = len(space.WIDTHS)
_WIDTHS = jnp.asarray(space.WIDTHS)


@dataclasses.dataclass(frozen=True)
class ChildConfig:
    """How a child trains (Sec. 4 and 5.1): ``epochs`` at most, minibatch ``batch_size``,
    Adam at ``learning_rate``, early stopping after ``patience`` epochs without a lower
    validation loss (``patience >= epochs`` never stops early)."""

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 3

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError(f"child epochs, batch_size and patience must be >= 1, got "
                             f"{self.epochs}, {self.batch_size}, {self.patience}")
        if not self.learning_rate > 0:
            raise ValueError(f"child learning_rate must be > 0, got {self.learning_rate}")


def output_units(num_classes: int) -> int:
    """Sec. 5.1: one sigmoid unit for a binary task, a softmax over the classes otherwise."""
    if num_classes < 2:
        raise ValueError(f"a classification task needs >= 2 classes, got {num_classes}")
    return 1 if num_classes == 2 else num_classes


class Bank(struct.PyTreeNode):
    """Bigram weights: ``input_*`` ``[7, ...]`` by first width, ``hidden_*`` ``[7, 7, ...]`` by
    (previous width, width), ``head_*`` ``[7, ...]`` by last width; ``*_seen`` whether a pair
    was written. Kernels are held at the space's widest (512) and are zero outside their pair's
    true ``[width_in, width_out]`` block."""

    input_w: jax.Array
    input_b: jax.Array
    input_seen: jax.Array
    hidden_w: jax.Array
    hidden_b: jax.Array
    hidden_seen: jax.Array
    head_w: jax.Array
    head_b: jax.Array
    head_seen: jax.Array


def empty_bank(in_dim: int, num_classes: int, max_width: int = max(space.WIDTHS)) -> Bank:
    """A bank with no pair written yet."""
    out, f = output_units(num_classes), jnp.float32
    return Bank(jnp.zeros((NW, in_dim, max_width), f), jnp.zeros((NW, max_width), f),
                jnp.zeros((NW,), bool), jnp.zeros((NW, NW, max_width, max_width), f),
                jnp.zeros((NW, NW, max_width), f), jnp.zeros((NW, NW), bool),
                jnp.zeros((NW, max_width, out), f), jnp.zeros((NW, out), f),
                jnp.zeros((NW,), bool))


def bigrams(arch) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Per slot: ``dense`` (bool), ``prev`` (width index of the previous dense layer, -1 for the
    input), ``width`` (its own width index); and ``last``, the last dense layer's width index."""
    n = arch.layers.shape[-1]
    pos = jnp.arange(n)
    dense = (pos < arch.length) & (arch.layers < space.NUM_DENSE)
    width = jnp.clip(arch.layers // len(space.ACTIVATIONS), 0, NW - 1)
    before = dense[None, :] & (pos[None, :] < pos[:, None])  # [i, j]: j dense and before i
    last_j = jnp.max(jnp.where(before, pos[None, :], -1), axis=1)
    prev = jnp.where(last_j >= 0, width[jnp.maximum(last_j, 0)], -1)
    last = width[jnp.max(jnp.where(dense, pos, 0))]
    return dense, prev, width, last


def from_bank(bank: Bank, arch, params: dict, mw: int) -> tuple[dict, jax.Array]:
    """``params`` (a fresh draw) with every layer whose bigram the bank holds replaced by the
    bank's weights; also the per-layer flags ``[slots + 1]`` (output layer last) of replaced
    layers."""
    dense, prev, width, last = bigrams(arch)
    layers, flags = [], []
    for i, layer in enumerate(params["layers"]):
        if i == 0:
            seen = bank.input_seen[width[0]]
            w, b = bank.input_w[width[0], :, :mw], bank.input_b[width[0], :mw]
        else:
            p = jnp.maximum(prev[i], 0)
            seen = dense[i] & bank.hidden_seen[p, width[i]]
            w, b = bank.hidden_w[p, width[i], :mw, :mw], bank.hidden_b[p, width[i], :mw]
        layers.append({"w": jnp.where(seen, w, layer["w"]), "b": jnp.where(seen, b, layer["b"])})
        flags.append(seen)
    seen = bank.head_seen[last]
    head = {"w": jnp.where(seen, bank.head_w[last, :mw], params["head"]["w"]),
            "b": jnp.where(seen, bank.head_b[last], params["head"]["b"])}
    return {"layers": layers, "head": head}, jnp.stack(flags + [seen])


def _last_wins(keys: jax.Array, ok: jax.Array, size: int) -> jax.Array:
    """Scatter indices: a write's key where no later write has the same key, else ``size``
    (out of range: dropped)."""
    n = keys.shape[0]
    later = jnp.arange(n)[None, :] > jnp.arange(n)[:, None]
    shadowed = jnp.any(later & ok[None, :] & (keys[None, :] == keys[:, None]), axis=1)
    return jnp.where(ok & ~shadowed, keys, size)


def _block(v: jax.Array, rows, cols, shape) -> jax.Array:
    """``v`` cut to its true ``[rows, cols]`` block and zero-padded to ``shape``."""
    pad = [(0, s - d) for s, d in zip(shape, v.shape, strict=True)]
    v = jnp.pad(v, pad)
    r = jnp.arange(shape[0])[:, None] < rows
    if len(shape) == 1:
        return jnp.where(r[:, 0], v, 0.0)
    return jnp.where(r & (jnp.arange(shape[1])[None, :] < cols), v, 0.0)


def write_back(bank: Bank, archs, params: dict, valid: jax.Array) -> Bank:
    """Write every valid child's trained layers into the bank (batch then layer order; the
    last write of a pair wins). ``archs``/``params`` carry a leading batch axis ``[B]``."""
    dense, prev, width, last = jax.vmap(bigrams)(archs)  # [B, S] ... and [B]
    wm, in_dim, out = bank.hidden_w.shape[-1], bank.input_w.shape[1], bank.head_w.shape[-1]
    b, s = dense.shape
    w_of = _WIDTHS  # width index -> units

    # first layer: key = its width index
    idx = _last_wins(width[:, 0], valid, NW)
    l0 = params["layers"][0]
    cut = jax.vmap(lambda w, q: _block(w, in_dim, w_of[q], (in_dim, wm)))(l0["w"], width[:, 0])
    cutb = jax.vmap(lambda v, q: _block(v, w_of[q], 0, (wm,)))(l0["b"], width[:, 0])
    bank = bank.replace(input_w=bank.input_w.at[idx].set(cut, mode="drop"),
                        input_b=bank.input_b.at[idx].set(cutb, mode="drop"),
                        input_seen=bank.input_seen.at[idx].set(True, mode="drop"))
    # hidden layers 1..S-1: key = prev * 7 + width, batch-major then slot order
    if s > 1:
        keys = (jnp.maximum(prev[:, 1:], 0) * NW + width[:, 1:]).reshape(-1)
        ok = (dense[:, 1:] & valid[:, None]).reshape(-1)
        idx = _last_wins(keys, ok, NW * NW)
        ws = jnp.stack([layer["w"] for layer in params["layers"][1:]], 1)  # [B, S-1, mw, mw]
        bs = jnp.stack([layer["b"] for layer in params["layers"][1:]], 1)
        rows = w_of[jnp.maximum(prev[:, 1:], 0)].reshape(-1)
        cols = w_of[width[:, 1:]].reshape(-1)
        cut = jax.vmap(lambda w, r, c: _block(w, r, c, (wm, wm)))(
            ws.reshape((-1,) + ws.shape[2:]), rows, cols)
        cutb = jax.vmap(lambda v, c: _block(v, c, 0, (wm,)))(bs.reshape(-1, bs.shape[-1]), cols)
        flat = (NW * NW,)
        bank = bank.replace(
            hidden_w=bank.hidden_w.reshape(flat + (wm, wm)).at[idx].set(cut, mode="drop")
            .reshape(bank.hidden_w.shape),
            hidden_b=bank.hidden_b.reshape(flat + (wm,)).at[idx].set(cutb, mode="drop")
            .reshape(bank.hidden_b.shape),
            hidden_seen=bank.hidden_seen.reshape(flat).at[idx].set(True, mode="drop")
            .reshape(bank.hidden_seen.shape))
    # output layer: key = last width
    idx = _last_wins(last, valid, NW)
    cut = jax.vmap(lambda w, q: _block(w, w_of[q], out, (wm, out)))(params["head"]["w"], last)
    return bank.replace(head_w=bank.head_w.at[idx].set(cut, mode="drop"),
                        head_b=bank.head_b.at[idx].set(params["head"]["b"], mode="drop"),
                        head_seen=bank.head_seen.at[idx].set(True, mode="drop"))


def _loss_acc(logits: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean cross-entropy and accuracy: sigmoid on one unit (binary), softmax otherwise."""
    if logits.shape[-1] == 1:
        z = logits[:, 0]
        loss = optax.sigmoid_binary_cross_entropy(z, y.astype(jnp.float32)).mean()
        return loss, jnp.mean((z > 0).astype(jnp.int32) == y)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, jnp.mean(jnp.argmax(logits, -1) == y)


class FitResult(struct.PyTreeNode):
    """One child's training: final ``params``; ``val_acc``/``val_loss`` of its last trained
    epoch; ``epochs`` trained; per-epoch ``acc_hist``/``loss_hist`` ``[E]`` (NaN after the stop);
    ``test_acc`` of the final weights; ``finite`` (no NaN/inf loss or weight)."""

    params: dict
    val_acc: jax.Array
    val_loss: jax.Array
    epochs: jax.Array
    acc_hist: jax.Array
    loss_hist: jax.Array
    test_acc: jax.Array
    finite: jax.Array


def fit(model: MaskedMLP, key: jax.Array, arch, params: dict, data, cfg: ChildConfig
        ) -> FitResult:
    """Train one child from ``params`` (see the module doc); ``data`` is
    ``(x_train, y_train, x_val, y_val, x_test, y_test)`` with flat inputs."""
    xtr, ytr, xva, yva, xte, yte = data
    n = xtr.shape[0]
    bs = min(cfg.batch_size, n)
    steps = n // bs
    opt = optax.adam(cfg.learning_rate)

    def loss_fn(p, xb, yb, k):
        return _loss_acc(model.apply(p, {}, arch, xb, True, k)[0], yb)[0]

    def evaluate(p, x, y):
        return _loss_acc(model.apply(p, {}, arch, x, False, key)[0], y)

    def epoch(carry, e):
        p, o, best, wait, active, acc, vloss, n_ep, ok = carry
        ke = jax.random.fold_in(key, e)
        batches = jax.random.permutation(ke, n)[: steps * bs].reshape(steps, bs)

        def step(c, inp):
            q, s, fin = c
            i, ids = inp
            value, g = jax.value_and_grad(loss_fn)(q, xtr[ids], ytr[ids],
                                                   jax.random.fold_in(ke, i + 1))
            upd, s = opt.update(g, s, q)
            return (optax.apply_updates(q, upd), s, fin & jnp.isfinite(value)), None

        (p2, o2, fin), _ = jax.lax.scan(step, (p, o, ok), (jnp.arange(steps), batches))
        p, o = jax.tree.map(lambda a, b: jnp.where(active, a, b), (p2, o2), (p, o))
        vl, va = evaluate(p, xva, yva)
        improved = vl < best
        carry = (p, o, jnp.where(active & improved, vl, best),
                 jnp.where(active, jnp.where(improved, 0, wait + 1), wait),
                 active & (jnp.where(improved, 0, wait + 1) < cfg.patience),
                 jnp.where(active, va, acc), jnp.where(active, vl, vloss), n_ep + active,
                 jnp.where(active, fin, ok))
        return carry, (jnp.where(active, va, jnp.nan), jnp.where(active, vl, jnp.nan))

    f32 = jnp.float32
    init = (params, opt.init(params), jnp.array(jnp.inf, f32), jnp.array(0), jnp.array(True),
            jnp.array(0.0, f32), jnp.array(jnp.nan, f32), jnp.array(0), jnp.array(True))
    (p, _, _, _, _, acc, vloss, n_ep, ok), (acc_h, loss_h) = jax.lax.scan(
        epoch, init, jnp.arange(cfg.epochs))
    finite = ok & jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(p)]))
    return FitResult(p, acc, vloss, n_ep, acc_h, loss_h, evaluate(p, xte, yte)[1], finite)


@functools.partial(jax.jit, static_argnames=("model", "cfg", "share"))
def train_children(keys: jax.Array, archs, valid: jax.Array, bank: Bank | None, data, *,
                   model: MaskedMLP, cfg: ChildConfig, share: bool):
    """Train a batch of children as one vmapped program: ``keys [B, 2]``, ``archs`` stacked
    ``[B]``, ``valid [B]`` (False marks a padding child: trained, never written back).
    With ``share``, layers start from ``bank`` and are written back to it.
    Returns ``(FitResult [B], from_bank [B, slots + 1] flags, bank)``."""

    def one(key, arch):
        k_init, k_fit = jax.random.split(key)
        params, _ = model.init(k_init, arch, data[0][:1])
        flags = jnp.zeros((model.max_layers + 1,), bool)
        if share:
            params, flags = from_bank(bank, arch, params, model.max_width)
        return fit(model, k_fit, arch, params, data, cfg), flags

    res, flags = jax.vmap(one)(keys, archs)
    if share:
        bank = write_back(bank, archs, res.params, valid)
    return res, flags, bank


@functools.partial(jax.jit, static_argnames=("model", "cfg", "share"))
def train_children_seeds(keys: jax.Array, archs, valid: jax.Array, banks: Bank | None, data, *,
                         model: MaskedMLP, cfg: ChildConfig, share: bool):
    """:func:`train_children` for ``S`` independent searches as one program: ``keys [S, B, 2]``,
    ``archs``/``valid`` ``[S, B]``, ``banks`` (with ``share``) stacked ``[S]``; each search's
    children start from, and write back to, its own bank."""
    one = functools.partial(train_children, model=model, cfg=cfg, share=share)
    return jax.vmap(one, in_axes=(0, 0, 0, 0, None))(keys, archs, valid, banks, data)


@functools.partial(jax.jit, static_argnames=("model", "cfg"))
def finetune(key: jax.Array, arch, params: dict, data, *, model: MaskedMLP, cfg: ChildConfig
             ) -> FitResult:
    """Continue training one child from ``params`` (Sec. 5.2's "50 additional epochs of
    fine-tuning" of the best architecture; pass ``patience >= epochs`` for no early stop)."""
    return fit(model, key, arch, params, data, cfg)


def batch_width(archs) -> int:
    """The widest dense layer of a stacked host batch (the padding of its program)."""
    layers, length = np.asarray(archs.layers), np.asarray(archs.length)
    live = (np.arange(layers.shape[-1])[None, :] < length[:, None]) & (layers < space.NUM_DENSE)
    return int(np.asarray(space.WIDTHS)[(layers // len(space.ACTIVATIONS))[live]].max())
