"""Scoring architectures with inherited supernet weights (one-shot NAS's ranking step).

Guo et al. 2020 (SPOS, Sec. 3.3) score a path by its validation accuracy with the supernet's
weights, after recalibrating BatchNorm's statistics on training batches; NAS-Bench-201's
weight-sharing baselines (Dong & Yang 2020, Sec. 5) keep affine-free BatchNorm on batch
statistics and score on validation batches directly. Both are here: a supernet whose ``bn`` is
``"batch"`` scores with batch statistics; one with ``"recalibrate"`` first runs
:func:`recalibrate` on a training batch for each path.

:func:`score_archs` scores a stacked batch of paths as one ``vmap`` inside one ``lax.map`` over
chunks (bounded memory); :func:`score_space` scores every architecture of a dense space.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def recalibrate(supernet, variables: dict, arch, x_calib: jax.Array) -> dict:
    """``variables`` with BatchNorm running statistics set by one training-mode pass of
    ``arch`` over ``x_calib`` (SPOS Sec. 3.3). Unchanged for a supernet without BatchNorm."""
    if "batch_stats" not in variables:
        return variables
    _, stats = supernet.apply(variables, arch, x_calib, train=True)
    return {**variables, "batch_stats": stats}


def accuracy(supernet, variables: dict, arch, x: jax.Array, y: jax.Array,
             x_calib: jax.Array | None = None) -> jax.Array:
    """Validation accuracy of one path (recalibrated on ``x_calib`` when given)."""
    if x_calib is not None:
        variables = recalibrate(supernet, variables, arch, x_calib)
    logits, _ = supernet.apply(variables, arch, x, train=False)
    return jnp.mean(jnp.argmax(logits, -1) == y)


def score_archs(supernet, variables: dict, archs, x: jax.Array, y: jax.Array, *,
                chunk: int = 64, x_calib: jax.Array | None = None) -> jax.Array:
    """Accuracies ``[N]`` of the stacked paths ``archs`` on ``(x, y)``, ``chunk`` paths per
    ``vmap`` (padding the last chunk with the first path). Jittable."""
    n = jax.tree.leaves(archs)[0].shape[0]
    chunk = max(1, min(chunk, n))
    pad = -n % chunk
    padded = jax.tree.map(
        lambda a: jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)]) if pad else a, archs)
    grouped = jax.tree.map(lambda a: a.reshape((-1, chunk) + a.shape[1:]), padded)
    one = functools.partial(accuracy, supernet, variables, x=x, y=y, x_calib=x_calib)
    acc = jax.lax.map(jax.vmap(lambda a: one(a)), grouped)
    return acc.reshape(-1)[:n]


@functools.partial(jax.jit, static_argnums=(0,), static_argnames=("chunk",))
def _score_jit(supernet, variables, archs, x, y, x_calib, chunk):
    return score_archs(supernet, variables, archs, x, y, chunk=chunk, x_calib=x_calib)


def default_chunk() -> int:
    """Paths per ``vmap`` when scoring: 1 on a CPU (a vmapped group's activations only cost
    memory traffic there: 128 ConvNets score 3-5x faster one by one), 64 on an accelerator."""
    return 1 if jax.default_backend() == "cpu" else 64


def score_space(supernet, variables: dict, x: jax.Array, y: jax.Array, *,
                chunk: int | None = None, x_calib: jax.Array | None = None) -> np.ndarray:
    """Accuracy of every architecture of a dense space, in index order (host array)."""
    chunk = default_chunk() if chunk is None else chunk
    space = supernet.space
    if not getattr(space, "dense", False):
        raise ValueError(f"space {space.name!r} is not enumerable; score a sample with "
                         "score_archs instead")
    archs = space.enumerate()
    return np.asarray(_score_jit(supernet, variables, archs, x, y, x_calib, chunk=chunk))
