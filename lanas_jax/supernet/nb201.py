"""The NAS-Bench-201 weight-sharing supernet (Dong & Yang 2020, Sec. 5; AutoDL-Projects' search
networks), under the :class:`~lanas_jax.supernet.base.Supernet` protocol.

Weights are shared per cell, edge and op: every edge of every cell holds one ReLU-Conv-BN per
convolution op (``nor_conv_1x1``, ``nor_conv_3x3``); ``none``, ``skip_connect`` and
``avg_pool_3x3`` hold none. The network is
:class:`~lanas_jax.training.masked_nb201.MaskedNb201Network`: every edge computes its 5 ops and
the one-hot of the traced ``arch.ops`` selects one, so one compiled program serves all 15,625
cells and an unselected convolution's weights get exactly zero gradient.

BatchNorm is affine-free everywhere (no scale or bias, as the search recipe's ``affine=False``
and SPOS): ``bn="batch"`` normalises with the batch's statistics always (the NAS-Bench-201 search
recipe, ``track_running_stats=False``: "BN with batch statistics is much better"), so there are
no running statistics; ``bn="recalibrate"`` keeps running statistics with momentum 0, so one
train-mode pass sets them to that batch's and ``apply(train=False)`` uses them (SPOS's
recalibration before scoring a subnet). Unlike AutoDL-Projects, whose stem, residual blocks and
final BN are affine with running statistics, every BN here is of the one kind.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces import nb201
from lanas_jax.supernet.base import Variables, check_bn_mode
from lanas_jax.training.masked_nb201 import MaskedNb201Network

_CONV_OPS = {"conv1": nb201.OPS.index("nor_conv_1x1"), "conv3": nb201.OPS.index("nor_conv_3x3")}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Nb201Supernet:
    """The NB201 supernet of ``num_classes`` outputs; ``channels`` (C) and ``cells`` (N per
    stage) as :meth:`~lanas_jax.spaces.nb201.NB201.network` (benchmark C=16, N=5); ``bn`` one of
    :data:`~lanas_jax.supernet.base.BN_MODES` (see the module doc). Input ``[B, H, W, C_in]``
    with ``H`` and ``W`` multiples of 4."""

    num_classes: int
    channels: int = 16
    cells: int = 5
    bn: str = "batch"
    space: nb201.NB201 = nb201.NB201()

    def __post_init__(self):
        if not isinstance(self.space, nb201.NB201):
            raise ValueError(f"Nb201Supernet needs the NB201 space, got "
                             f"{type(self.space).__name__}")
        if self.num_classes < 1 or self.channels < 1 or self.cells < 1:
            raise ValueError(f"num_classes, channels and cells must be >= 1, got "
                             f"{self.num_classes}, {self.channels}, {self.cells}")
        check_bn_mode(self.bn)

    @property
    def module(self) -> MaskedNb201Network:
        """The flax network, called as ``(x, arch, train)``."""
        return MaskedNb201Network(self.num_classes, self.channels, self.cells, bn=self.bn)

    def init(self, key: jax.Array, x: jax.Array) -> Variables:
        """``{"params"}`` (plus ``{"batch_stats"}`` when ``bn="recalibrate"``) for inputs like
        ``x``; every edge's convolutions are initialised."""
        _check_input(x)
        arch = nb201.Nb201Arch(jnp.zeros((nb201.NUM_EDGES,), jnp.int32))
        return dict(_jitted_init(self.module)(key, x, arch))

    def apply(self, variables: Variables, arch: nb201.Nb201Arch, x: jax.Array, *,
              train: bool) -> tuple[jax.Array, object]:
        """Logits of ``arch`` on ``x`` and the new batch statistics (``None`` when
        ``bn="batch"``; updated by a ``train`` pass when ``bn="recalibrate"``)."""
        _check_input(x)
        if self.bn == "batch":
            return self.module.apply({"params": variables["params"]}, x, arch, True), None
        if not train:
            return self.module.apply(variables, x, arch, False), variables["batch_stats"]
        logits, updates = self.module.apply(variables, x, arch, True, mutable=["batch_stats"])
        return logits, updates["batch_stats"]

    def path_mask(self, arch: nb201.Nb201Arch) -> dict:
        """A scalar per params leaf: 1 for the shared layers (stem, residual blocks, head) and
        the convolutions ``arch`` selects on each edge, 0 for the other edges' convolutions."""
        ops = jnp.asarray(arch.ops)
        paths, treedef = _param_paths(self)
        leaves = []
        for path in paths:
            edge = next((p for p in path if p.startswith("edge")), None)
            if edge is None:
                leaves.append(jnp.ones((), jnp.float32))
                continue
            e, op = edge.removeprefix("edge").split("_")
            leaves.append((ops[int(e)] == _CONV_OPS[op]).astype(jnp.float32))
        return jax.tree.unflatten(treedef, leaves)


def _check_input(x: jax.Array) -> None:
    if x.ndim != 4 or x.shape[1] % 4 or x.shape[2] % 4:
        raise ValueError(f"the NB201 supernet takes [B, H, W, C] images with H and W multiples "
                         f"of 4 (two reductions), got shape {x.shape}")


@functools.cache
def _jitted_init(module: MaskedNb201Network):
    return jax.jit(lambda key, x, arch: module.init({"params": key}, x, arch, False))


@functools.cache
def _param_paths(supernet: Nb201Supernet) -> tuple[tuple[tuple[str, ...], ...], object]:
    """Each params leaf's path names and the params treedef (shapes do not matter: a mask is a
    scalar per leaf, so a 1-channel 4x4 example input gives the structure)."""
    x = jax.ShapeDtypeStruct((1, 4, 4, 1), np.float32)
    arch = nb201.Nb201Arch(jax.ShapeDtypeStruct((nb201.NUM_EDGES,), np.int32))
    shapes = jax.eval_shape(
        lambda x, arch: supernet.module.init({"params": jax.random.PRNGKey(0)}, x, arch, False),
        x, arch)["params"]
    flat, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    paths = tuple(tuple(str(getattr(k, "key", k)) for k in path) for path, _ in flat)
    return paths, treedef
