"""The BatchNorm variants of the networks and supernets: the stand-alone network's affine
BatchNorm with PyTorch's defaults (as NAS-Bench-201 trains), the weight-sharing supernets'
affine-free kinds, and SyncBN for data-parallel supernet steps.

The supernet kinds follow the NAS-Bench-201 search recipe (``affine=False,
track_running_stats=False``: batch statistics always) and SPOS (Guo et al. 2020, Sec. 3.3:
running statistics recalibrated by one train-mode pass before a path is scored).
"""

from __future__ import annotations

import contextlib
import contextvars

import flax.linen as nn
import jax
import jax.numpy as jnp

#: BatchNorm kinds: ``"affine"`` the stand-alone network's (scale, bias, running statistics);
#: the weight-sharing supernet's ``"batch"`` (no scale or bias, batch statistics always: the
#: NAS-Bench-201 search recipe, ``affine=False, track_running_stats=False``) and
#: ``"recalibrate"`` (no scale or bias, running statistics that one train-mode pass sets: SPOS).
BN_KINDS = ("affine", "batch", "recalibrate")


def batch_norm(train: bool, kind: str = "affine"):
    """The BatchNorm of ``kind`` (see :data:`BN_KINDS`), eps 1e-5 as PyTorch."""
    if kind == "affine":
        # PyTorch's BatchNorm2d defaults (momentum 0.1 of the new batch), as the benchmark.
        return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)
    return affine_free_batch_norm(train, kind)


#: The mesh axis over which a supernet's BatchNorm averages its statistics (SyncBN), set while
#: a data-parallel step is traced (:func:`sync_batch_norm`); None: this device's batch alone.
_SYNC_AXIS: contextvars.ContextVar[str | None] = contextvars.ContextVar("bn_axis", default=None)


@contextlib.contextmanager
def sync_batch_norm(axis_name: str):
    """While tracing inside it, affine-free BatchNorm takes its statistics over the whole
    batch split across ``axis_name`` (``lax.pmean`` of the per-device moments), so a
    data-parallel step normalises exactly as one device would."""
    token = _SYNC_AXIS.set(axis_name)
    try:
        yield
    finally:
        _SYNC_AXIS.reset(token)


def affine_free_batch_norm(train: bool, kind: str):
    """A supernet's BatchNorm without scale or bias (eps 1e-5): ``kind="batch"`` normalises by
    the batch's statistics always (a function, no variables); ``"recalibrate"`` is a flax
    BatchNorm whose running statistics a train-mode pass replaces (momentum 0)."""
    if kind == "recalibrate":
        # momentum 0: a train-mode pass replaces the running statistics with its batch's
        return nn.BatchNorm(use_running_average=not train, momentum=0.0, epsilon=1e-5,
                            use_scale=False, use_bias=False, axis_name=_SYNC_AXIS.get())
    if kind == "batch":
        return _batch_statistics_norm
    raise ValueError(f"unknown BatchNorm kind {kind!r}; known: {', '.join(BN_KINDS)}")


def _batch_statistics_norm(x: jax.Array, eps: float = 1e-5) -> jax.Array:
    """Normalise by the batch's per-channel mean and (biased) variance; no parameters."""
    axes = tuple(range(x.ndim - 1))
    axis = _SYNC_AXIS.get()
    mean = jnp.mean(x, axes)
    if axis is not None:
        mean = jax.lax.pmean(mean, axis)
    var = jnp.mean(jnp.square(x - mean), axes)
    if axis is not None:
        var = jax.lax.pmean(var, axis)
    return (x - mean) * jax.lax.rsqrt(var + eps)


__all__ = ["BN_KINDS", "affine_free_batch_norm", "batch_norm", "sync_batch_norm"]
