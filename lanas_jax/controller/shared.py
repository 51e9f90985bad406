"""The shared-weight phase and the reward of controller methods (ENAS, NASES) on a supernet.

ENAS (Pham et al. 2018, Sec. 2.2; seed 001 Sec. 3.2.3) alternates two phases each epoch: (a) the
shared weights ``w`` take one pass over the training data, one architecture sampled from the
controller per minibatch (``M = 1``, "works just fine"); (b) the controller is trained on
rewards = the validation-minibatch accuracy of its samples with ``w`` fixed. NASES (seed 004
Alg. 1, Sec. 4.2) follows ENAS's child-network setting. Phase (a) is :func:`weight_phase` (one
``lax.scan``), the reward :func:`rewards`.

How the shared weights are updated (``update``):

* ``"all"`` (default, ENAS): a plain optimiser step on the whole supernet. ENAS's code applies
  its momentum-SGD step and its L2 weight decay to every shared variable each step, sampled or
  not; on our supernets an unsampled op gets zero gradient, so it only decays and coasts on its
  momentum, as in ENAS (and NAS-Bench-201's ENAS baseline).
* ``"masked"``: SPOS's masked step (:func:`lanas_jax.supernet.train.masked_update`): entries
  outside the sampled path keep their weights and optimiser moments.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lanas_jax.supernet.score import default_chunk, score_archs
from lanas_jax.supernet.train import masked_update

UPDATES = ("all", "masked")


def check_update(update: str) -> None:
    """ValueError unless ``update`` is one of :data:`UPDATES`."""
    if update not in UPDATES:
        raise ValueError(f"unknown weight update {update!r}; known: {', '.join(UPDATES)}")


def check_data(batch_size: int, x_train, x_val) -> int:
    """The number of training steps of an epoch (the last partial batch dropped)."""
    steps = x_train.shape[0] // batch_size
    if batch_size < 1 or steps < 1:
        raise ValueError(f"batch_size {batch_size} must be in [1, {x_train.shape[0]}] (the "
                         "training images)")
    if x_val.shape[0] < 1:
        raise ValueError("the validation split is empty: the controller's reward needs it")
    return steps


def weight_step(supernet, tx, update: str, variables, opt_state, arch, x, y):
    """One minibatch of cross-entropy on ``arch``; returns ``(variables, opt_state, loss, acc)``."""

    def loss_fn(params):
        logits, stats = supernet.apply({**variables, "params": params}, arch, x, train=True)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, (stats, jnp.mean(jnp.argmax(logits, -1) == y))

    params = variables["params"]
    (loss, (stats, acc)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, new_opt = tx.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    if update == "masked":
        new_params, new_opt = masked_update(supernet.path_mask(arch), params, new_params,
                                            opt_state, new_opt)
    variables = {**variables, "params": new_params}
    if stats is not None:
        variables["batch_stats"] = stats
    return variables, new_opt, loss, acc


def weight_phase(supernet, tx, update: str, batch_size: int, variables, opt_state, x, y,
                 key: jax.Array, draw):
    """One epoch of shared-weight training as one ``lax.scan``: a fresh permutation, one
    architecture ``draw(key)`` per minibatch. Returns ``(variables, opt_state, {"loss",
    "accuracy"})``, the metrics per step."""
    steps = x.shape[0] // batch_size
    k_perm, k_steps = jax.random.split(key)
    order = jax.random.permutation(k_perm, x.shape[0])[: steps * batch_size]
    order = order.reshape(steps, batch_size)

    def body(carry, inp):
        idx, k = inp
        v, o, loss, acc = weight_step(supernet, tx, update, *carry, draw(k), x[idx], y[idx])
        return (v, o), (loss, acc)

    (variables, opt_state), (loss, acc) = jax.lax.scan(
        body, (variables, opt_state), (order, jax.random.split(k_steps, steps)))
    return variables, opt_state, {"loss": loss, "accuracy": acc}


def minibatch(key: jax.Array, x, y, size: int):
    """``size`` rows drawn without replacement (all rows when there are fewer)."""
    n = x.shape[0]
    rows = jax.random.permutation(key, n)[: min(size, n)]
    return x[rows], y[rows]


def rewards(supernet, variables, tokens, x_val, y_val, x_calib, key: jax.Array,
            val_batch: int):
    """Validation-minibatch accuracies ``[M]`` of the token rows ``tokens [M, L]`` with the
    shared weights (ENAS's reward). One minibatch per call, shared by the ``M`` samples; a
    supernet with running BatchNorm statistics is recalibrated on ``x_calib`` per path (SPOS)."""
    archs = jax.vmap(supernet.space.from_tokens)(tokens)
    xv, yv = minibatch(key, x_val, y_val, val_batch)
    calib = x_calib if "batch_stats" in variables else None
    return score_archs(supernet, variables, archs, xv, yv, chunk=default_chunk(), x_calib=calib)
