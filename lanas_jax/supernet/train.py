"""Supernet training: one compiled step per minibatch, one compiled scan per epoch.

Methods (:data:`METHODS`), each the paper's default:

* ``spos`` (Guo et al. 2020, Sec. 3.2): one uniform path per step; only the entries the path
  uses change. Parameters *and* optimiser state outside :meth:`path_mask` are kept as they were,
  so an unsampled block gets neither a momentum nor a weight-decay update (optax's moment trees
  are selected leaf by leaf; the optimiser's scalar step count is global, so Adam's bias
  correction counts every step).
* ``fairnas`` (Chu et al. 2021, Sec. 3.2, Alg. 1): ``m`` strictly fair paths per step
  (:func:`lanas_jax.supernet.paths.fair`), their gradients summed into one update (masked to the
  union of the paths).
* ``rsps`` (Li & Talwalkar 2019; NAS-Bench-201's weight-sharing baseline): a random path per
  batch and a plain optimiser step on the whole supernet (every entry decays and keeps its
  momentum).
* ``vaenas_os`` (seed 002 Sec. 4.2, Alg. 2): SPOS's step on a path drawn from
  ``(1 - eps) U + eps p_theta``; every ``n_vae`` epochs ``N_s`` paths drawn from the mixture are
  scored on validation data with the supernet's weights, the VAE is retrained on their top
  ``K``% (Alg. 1, :func:`lanas_jax.vaenas.train.fit_top`) and ``eps`` grows by ``eps_inc``
  (Alg. 2 line 11 grows it each iteration; here per VAE update, capped at 1. The paper gives
  no value: 0.2 per update collapsed our ConvNet supernet onto the VAE's few shallow paths,
  so the default is 0.02: see BUILD_NOTES 2026-12-04).

Data parallelism (``mesh``): the minibatch is split over the mesh's ``"data"`` axis with
``jax.shard_map``; the loss is averaged over devices with ``lax.pmean`` before differentiation
(so the gradient is the global batch's), accuracy and BatchNorm statistics after it; the
supernets' BatchNorm normalises by the whole batch's moments (SyncBN,
``lanas_jax.spaces.batch_norm.sync_batch_norm``),
so the update equals the one-device update up to float summation order (tested with 4 host
devices). The path is drawn from the step key outside the map, identical on every device.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.sharding import Mesh, PartitionSpec

from lanas_jax.spaces.batch_norm import sync_batch_norm
from lanas_jax.supernet import paths
from lanas_jax.vaenas.model import VAE, VAESizes
from lanas_jax.vaenas.tokens import TokenSpec
from lanas_jax.vaenas.train import TrainConfig, fit_top, init_vae

METHODS = ("spos", "fairnas", "rsps", "vaenas_os")
DATA_AXIS = "data"


@dataclasses.dataclass(frozen=True)
class OneShotConfig:
    """How a supernet is trained (static under ``jit``).

    Attributes:
      method: one of :data:`METHODS`.
      n_vae, n_samples, eps_inc, vae: VAENAS-OS's ``n_vae`` (epochs between VAE updates),
        ``N_s`` (paths scored per update), ``eps_inc`` and the VAE's Alg. 1 settings
        (``vae.top_frac`` is ``K``). The paper gives no values for them on small data; ours
        are recorded in BUILD_NOTES.md.
      score_batch: validation images per scored path in a VAENAS-OS update.
    """

    method: str = "spos"
    n_vae: int = 2
    n_samples: int = 256
    eps_inc: float = 0.02
    vae: TrainConfig = TrainConfig(sizes=VAESizes(16, 32, 8), n_iters=100, top_frac=0.1)
    score_batch: int = 256

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown one-shot method {self.method!r}; known: "
                             f"{', '.join(METHODS)}")
        if self.n_vae < 1 or self.n_samples < 2 or not 0 <= self.eps_inc <= 1:
            raise ValueError(f"VAENAS-OS needs n_vae >= 1, n_samples >= 2 and eps_inc in "
                             f"[0, 1], got {self.n_vae}, {self.n_samples}, {self.eps_inc}")
        self.vae.validate()


class SupernetState(struct.PyTreeNode):
    """Everything a run needs to continue: the supernet's variables, the optimiser state, the
    step, and VAENAS-OS's VAE and ``eps`` (a VAE is held by every method, unused but by
    ``vaenas_os``, so every state has one structure)."""

    variables: Any
    opt_state: Any
    step: jax.Array
    vae_params: Any
    vae_opt_state: Any
    eps: jax.Array


def token_spec(space) -> TokenSpec:
    """The VAE's token sequence of ``space``: its tokens, each position limited to its vocab."""
    vocab = tuple(int(v) for v in space.vocab_sizes)
    v = max(vocab)
    return TokenSpec(len(vocab), v, tuple(tuple(t < n for t in range(v)) for n in vocab))


def init_state(supernet, tx: optax.GradientTransformation, cfg: OneShotConfig, key: jax.Array,
               x: jax.Array) -> SupernetState:
    """A fresh state: supernet variables from ``supernet.init(key, x)``, a fresh VAE."""
    k_net, k_vae = jax.random.split(key)
    variables = supernet.init(k_net, x)
    vae_params, vae_opt = init_vae(k_vae, token_spec(supernet.space), cfg.vae)
    return SupernetState(variables, tx.init(variables["params"]), jnp.zeros((), jnp.int32),
                         vae_params, vae_opt, jnp.zeros((), jnp.float32))


def _select(mask, new, old):
    return jnp.where(jnp.broadcast_to(mask, jnp.shape(new)) != 0, new, old)


def masked_update(mask, params, new_params, opt_state, new_opt_state):
    """Keep ``params`` and every params-shaped subtree of the optimiser state where ``mask`` is
    0 (SPOS: an unsampled block's weights, moments and decay are untouched)."""
    treedef = jax.tree.structure(params)
    kept = jax.tree.map(_select, mask, new_params, params)

    def fix(new, old):
        if jax.tree.structure(new) == treedef:
            return jax.tree.map(_select, mask, new, old)
        return new

    opt = jax.tree.map(fix, new_opt_state, opt_state,
                       is_leaf=lambda t: jax.tree.structure(t) == treedef)
    return kept, opt


def _loss_grads(supernet, variables, arch, x, y, axis: str | None):
    """Cross-entropy gradient of one path on one (per-device) batch; pmean'd over ``axis``."""

    def loss_fn(params):
        logits, stats = supernet.apply({**variables, "params": params}, arch, x, train=True)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        if axis is not None:
            # The mean over devices inside the loss: shard_map's autodiff then returns the
            # global-batch gradient for the replicated parameters (already summed over devices).
            loss = jax.lax.pmean(loss, axis)
        return loss, (stats, jnp.mean(jnp.argmax(logits, -1) == y))

    (loss, (stats, acc)), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables["params"])
    if axis is not None:
        acc, stats = jax.lax.pmean((acc, stats), axis)
    return grads, loss, acc, stats


def _path_grads(supernet, variables, archs, x, y, axis):
    """Summed gradients of the stacked paths ``archs`` (scanned: one path's memory)."""

    def body(carry, arch):
        grads, loss, acc, stats = _loss_grads(supernet, carry[3], arch, x, y, axis)
        variables = carry[3] if stats is None else {**carry[3], "batch_stats": stats}
        g = jax.tree.map(jnp.add, carry[0], grads)
        return (g, carry[1] + loss, carry[2] + acc, variables), None

    zeros = jax.tree.map(jnp.zeros_like, variables["params"])
    n = jax.tree.leaves(archs)[0].shape[0]
    (grads, loss, acc, variables), _ = jax.lax.scan(
        body, (zeros, jnp.float32(0), jnp.float32(0), variables), archs)
    return grads, loss / n, acc / n, variables.get("batch_stats")


def _grad_fn(supernet, mesh: Mesh | None):
    """``(variables, archs, x, y) -> (grads, loss, acc, stats)``, data-parallel over ``mesh``."""
    if mesh is None:
        return lambda v, a, x, y: _path_grads(supernet, v, a, x, y, None)
    spec = PartitionSpec(DATA_AXIS)

    def per_device(v, a, x, y):
        with sync_batch_norm(DATA_AXIS):
            return _path_grads(supernet, v, a, x, y, DATA_AXIS)

    return jax.shard_map(
        per_device, mesh=mesh,
        in_specs=(PartitionSpec(), PartitionSpec(), spec, spec),
        out_specs=(PartitionSpec(), PartitionSpec(), PartitionSpec(), PartitionSpec()))


def draw_paths(supernet, cfg: OneShotConfig, state: SupernetState, key: jax.Array):
    """The stacked paths of one step (``[1]`` but for FairNAS's ``[m]``)."""
    space = supernet.space
    if cfg.method == "fairnas":
        return paths.fair(space, key)
    if cfg.method == "vaenas_os":
        vae = VAE(token_spec(space), cfg.vae.sizes)
        arch = paths.mixture(space, vae, state.vae_params, state.eps, key)
    else:
        arch = paths.uniform(space, key)
    return jax.tree.map(lambda a: a[None], arch)


def train_step(supernet, cfg: OneShotConfig, tx, state: SupernetState, x, y, key,
               mesh: Mesh | None = None):
    """One minibatch: draw the paths, sum their gradients, update (masked but for RSPS).

    Returns ``(state, (loss, accuracy))``: the training loss and accuracy averaged over paths.
    """
    archs = draw_paths(supernet, cfg, state, key)
    grads, loss, acc, stats = _grad_fn(supernet, mesh)(state.variables, archs, x, y)
    params = state.variables["params"]
    updates, opt_state = tx.update(grads, state.opt_state, params)
    new_params = optax.apply_updates(params, updates)
    if cfg.method != "rsps":
        masks = jax.vmap(supernet.path_mask)(archs)
        mask = jax.tree.map(lambda m: jnp.max(m, axis=0), masks)
        new_params, opt_state = masked_update(mask, params, new_params, state.opt_state,
                                              opt_state)
    variables = {**state.variables, "params": new_params}
    if stats is not None:
        variables["batch_stats"] = stats
    return state.replace(variables=variables, opt_state=opt_state, step=state.step + 1), (loss, acc)


def train_epoch(supernet, cfg: OneShotConfig, tx, batch_size: int, state: SupernetState,
                x: jax.Array, y: jax.Array, key: jax.Array, mesh: Mesh | None = None):
    """One epoch as one ``lax.scan``: a fresh permutation, the last partial batch dropped.

    Returns ``(state, {"loss": [steps], "accuracy": [steps]})``.
    """
    n = x.shape[0]
    steps = n // batch_size
    if steps < 1:
        raise ValueError(f"batch_size {batch_size} exceeds the {n} training images")
    k_perm, k_steps = jax.random.split(key)
    order = jax.random.permutation(k_perm, n)[: steps * batch_size].reshape(steps, batch_size)

    def body(state, inp):
        idx, k = inp
        return train_step(supernet, cfg, tx, state, x[idx], y[idx], k, mesh)

    state, (loss, acc) = jax.lax.scan(body, state, (order, jax.random.split(k_steps, steps)))
    return state, {"loss": loss, "accuracy": acc}


def vae_update(supernet, cfg: OneShotConfig, state: SupernetState, x_val, y_val,
               key: jax.Array, score_fn):
    """VAENAS-OS's Alg. 2 lines 5-11: draw ``N_s`` paths from the mixture, score them with
    ``score_fn(variables, archs, x, y) -> accuracies``, retrain the VAE on the top ``K``%, grow
    ``eps``. Returns ``(state, scores)``."""
    space = supernet.space
    vae = VAE(token_spec(space), cfg.vae.sizes)
    k_draw, k_fit, k_val = jax.random.split(key, 3)
    archs = jax.vmap(lambda k: paths.mixture(space, vae, state.vae_params, state.eps, k))(
        jax.random.split(k_draw, cfg.n_samples))
    rows = jax.random.choice(k_val, x_val.shape[0], (min(cfg.score_batch, x_val.shape[0]),),
                             replace=False)
    scores = score_fn(state.variables, archs, x_val[rows], y_val[rows])
    tokens = jax.vmap(space.tokens)(archs).astype(jnp.int32)
    valid = jnp.ones((cfg.n_samples,), bool)
    vae_params, vae_opt, _ = fit_top(token_spec(space), cfg.vae, k_fit, state.vae_params,
                                     state.vae_opt_state, tokens, scores, valid)
    eps = jnp.minimum(state.eps + cfg.eps_inc, 1.0)
    return state.replace(vae_params=vae_params, vae_opt_state=vae_opt, eps=eps), scores


def data_mesh(devices=None) -> Mesh:
    """A 1-d mesh named ``"data"`` over ``devices`` (default: every local device)."""
    devices = jax.local_devices() if devices is None else devices
    return Mesh(np.asarray(devices), (DATA_AXIS,))
