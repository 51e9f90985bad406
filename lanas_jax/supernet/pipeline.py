"""The one-shot pipeline as library calls (seed 002 Sec. 4.2; Guo et al. 2020): train a
supernet epoch by epoch (checkpointed, resumable), score architectures with its weights, search
on the scores. ``experiments/oneshot.py`` is a thin ``main()`` over these.

Keys: epoch ``e`` trains with ``fold_in(key, e)`` and the VAE update after it with
``fold_in(key, 10_000 + e)``, so a run resumed from a checkpoint draws exactly what an
uninterrupted one draws (and ends with bitwise the same weights: tested).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.supernet import score as score_mod
from lanas_jax.supernet.checkpoint import resume
from lanas_jax.supernet.train import (
    OneShotConfig,
    SupernetState,
    init_state,
    token_spec,
    train_epoch,
    vae_update,
)
from lanas_jax.vaenas.model import VAE, sample_tokens

_VAE_KEY_OFFSET = 10_000


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 8))
def _epoch(supernet, cfg, tx, batch_size, state, x, y, key, mesh):
    state, m = train_epoch(supernet, cfg, tx, batch_size, state, x, y, key, mesh)
    return state, {k: jnp.mean(v) for k, v in m.items()}


_init = jax.jit(init_state, static_argnums=(0, 1, 2))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _vae(supernet, cfg, state, x_val, y_val, key):
    def scorer(variables, archs, x, y):
        return score_mod.score_archs(supernet, variables, archs, x, y,
                                     chunk=score_mod.default_chunk())

    return vae_update(supernet, cfg, state, x_val, y_val, key, scorer)


def train_supernet(supernet, cfg: OneShotConfig, tx, batch_size: int, splits, key: jax.Array,
                   epochs: int, *, checkpointer=None, mesh=None,
                   log: Callable[[str], None] = print,
                   on_epoch: Callable[[int], None] | None = None) -> tuple[SupernetState, dict]:
    """Train ``epochs`` epochs on ``splits.x_train``; returns ``(state, history)``.

    ``history`` holds per-epoch ``loss``, ``accuracy``, ``seconds`` and, for VAENAS-OS,
    ``eps``. With a :class:`~lanas_jax.supernet.checkpoint.Checkpointer` the state and history
    are saved after every epoch and a run restarts from the latest saved epoch (a finished run
    only reloads). ``on_epoch(e)`` is called after epoch ``e`` is saved (tests kill runs there).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    x, y = jnp.asarray(splits.x_train), jnp.asarray(splits.y_train)
    x_val, y_val = jnp.asarray(splits.x_val), jnp.asarray(splits.y_val)
    state = _init(supernet, tx, cfg, key, x[:2])
    history: dict = {"loss": [], "accuracy": [], "seconds": [], "eps": []}
    state, history, start = resume(checkpointer, state, history, log)
    for e in range(start, epochs):
        t0 = time.perf_counter()
        state, m = _epoch(supernet, cfg, tx, batch_size, state, x, y, jax.random.fold_in(key, e),
                          mesh)
        if cfg.method == "vaenas_os" and (e + 1) % cfg.n_vae == 0:
            state, _ = _vae(supernet, cfg, state, x_val, y_val,
                            jax.random.fold_in(key, _VAE_KEY_OFFSET + e))
        loss, acc = float(m["loss"]), float(m["accuracy"])
        if not np.isfinite(loss):
            raise FloatingPointError(f"supernet training diverged at epoch {e + 1} (loss "
                                     f"{loss}); lower the learning rate")
        seconds = time.perf_counter() - t0
        for name, v in (("loss", loss), ("accuracy", acc), ("seconds", seconds),
                        ("eps", float(state.eps))):
            history[name].append(v)
        left = (epochs - e - 1) * float(np.median(history["seconds"][-3:]))
        eps = f", eps {float(state.eps):.2f}" if cfg.method == "vaenas_os" else ""
        log(f"epoch {e + 1}/{epochs}: loss {loss:.4f} train acc {acc:.3f} ({seconds:.1f} s"
            f"{eps}; ~{left:.0f} s left)")
        if checkpointer is not None:
            checkpointer.save(e + 1, state, {"history": history})
        if on_epoch is not None:
            on_epoch(e + 1)
    return state, history


def vae_seed_tokens(supernet, cfg: OneShotConfig, state: SupernetState, key: jax.Array,
                    num: int) -> jax.Array:
    """``num`` token sequences from VAENAS-OS's trained VAE (Alg. 2 line 13: the search's
    seeds), canonicalised through the space."""
    space = supernet.space
    tokens = sample_tokens(VAE(token_spec(space), cfg.vae.sizes), state.vae_params, key, num)
    return jax.vmap(lambda t: space.tokens(space.from_tokens(t)))(tokens).astype(jnp.int32)
