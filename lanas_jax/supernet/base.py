"""The Supernet protocol: one set of shared weights holding every architecture of a space.

A supernet (Guo et al. 2020, SPOS; Chu et al. 2021, FairNAS; seed 002 Sec. 4.1, VAENAS-OS;
Dong & Yang 2020 for NAS-Bench-201) is a frozen, hashable dataclass (static under ``jit``) with

* ``space``: the :class:`~lanas_jax.spaces.base.Space` whose architectures it holds;
* ``init(key, x) -> variables``: ``{"params": ...}`` plus ``{"batch_stats": ...}`` where the
  network has BatchNorm running statistics; ``x`` is an example batch ``[B, H, W, C]`` (or
  ``[B, D]``);
* ``apply(variables, arch, x, *, train) -> (logits, new_batch_stats)``: the forward pass of one
  architecture (a traced arch pytree of the space: changing it never recompiles). BatchNorm
  uses batch statistics when ``train`` or when the supernet's ``bn`` is ``"batch"``; otherwise
  the running statistics, which :func:`lanas_jax.supernet.score.recalibrate` sets for a subnet
  before it is scored (SPOS). ``new_batch_stats`` is ``variables.get("batch_stats")`` updated
  (or ``None`` without BatchNorm);
* ``path_mask(arch) -> params-shaped pytree``: 1 where a parameter takes part in ``arch``'s
  forward pass, 0 where it does not (a scalar per leaf, or an array broadcastable to the leaf
  for weights shared by slicing). SPOS's update touches only the masked-in entries.

Weight sharing follows the literature: per layer position for chains, smaller kernels and
channel counts being the centre / first slice of the largest (OFA, Cai et al. 2020; SPOS's
channel search); per edge and op for cells (NAS-Bench-201's and DARTS's supernets).
"""

from __future__ import annotations

from typing import Any, Protocol

import jax

Variables = dict[str, Any]


class Supernet(Protocol):
    """What every supernet gives (see the module docstring)."""

    space: Any

    def init(self, key: jax.Array, x: jax.Array) -> Variables: ...

    def apply(self, variables: Variables, arch: Any, x: jax.Array, *,
              train: bool) -> tuple[jax.Array, Any]: ...

    def path_mask(self, arch: Any) -> Any: ...


BN_MODES = ("batch", "recalibrate")


def check_bn_mode(bn: str) -> None:
    """ValueError unless ``bn`` is one of :data:`BN_MODES`."""
    if bn not in BN_MODES:
        raise ValueError(f"unknown bn {bn!r}; known: {', '.join(BN_MODES)}")
