"""The NASNet-cell weight-sharing supernet (ENAS, Pham et al. 2018, Sec. 2.3; the cell of seed
000 Sec. 4.3), under the :class:`~lanas_jax.supernet.base.Supernet` protocol.

Weights are shared per cell position, block, branch and op, as ENAS shares them per node and op:
a branch gathers its chosen input among the cell's states (``arch.cells[b, branch, 0]``, traced)
and applies its chosen op (``arch.cells[b, branch, 1]``), selected by ``op_select``:
``"switch"`` (``flax.linen.switch``: only the chosen op runs, and only its BatchNorm statistics
move) or ``"onehot"`` (every op runs, the one-hot keeps one). Either way one compiled program
serves every cell and an unchosen op's weights get zero gradient.

Two departures from ENAS keep the function of the stand-alone
:class:`~lanas_jax.spaces.nasnet.NASNetNetwork` exactly:

* In a reduction cell an op reading a cell input runs at stride 2 and one reading a block at
  stride 1 (NASNet; ENAS instead reduces the inputs first). Inputs of the two resolutions cannot
  be gathered into one tensor, so a reduction cell's branch holds two sets of op weights, ``op``
  for block inputs and ``op_s2`` for cell inputs (``identity_s2`` is a factorized reduction).
* A cell's output concatenates its loose blocks (those no branch reads). The supernet
  concatenates all blocks with the read ones zeroed, so the 1x1 convolutions (and the dense head)
  that read a cell's output have ``num_blocks * channels`` input rows, and an architecture uses
  the rows of its loose blocks: weights shared by slicing, masked per row by :meth:`path_mask`.

BatchNorm is affine-free (``bn="batch"`` or ``"recalibrate"``, as
:mod:`lanas_jax.supernet.nb201`).
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces import nasnet
from lanas_jax.spaces.batch_norm import affine_free_batch_norm
from lanas_jax.spaces.nasnet import OPS, _FactorizedReduce, _ReLUConvBN, _SepConv
from lanas_jax.supernet.base import Variables, check_bn_mode

NUM_OPS = len(OPS)
OP_SELECTS = ("switch", "onehot")


def _op_fn(op: str, channels: int, stride: int, sep_repeats: int, bn: str, name: str):
    """``(module, x, train) -> y``: :data:`OPS` ``op`` as the stand-alone network builds it
    (:func:`lanas_jax.spaces.nasnet._apply_op`), its weights under ``name``."""
    def fn(mdl, x, train):
        if op.startswith("max_pool"):
            k = int(op[-1])
            return nn.max_pool(x, (k, k), strides=(stride, stride), padding="SAME")
        if op.startswith("sep_conv"):
            return _SepConv(channels, int(op[-1]), stride, sep_repeats, bn=bn, name=name)(x, train)
        if op == "conv_1x1":
            return _ReLUConvBN(channels, 1, stride, bn=bn, name=name)(x, train)
        return x if stride == 1 else _FactorizedReduce(channels, bn=bn, name=name)(x, train)
    return fn


class SupernetCell(nn.Module):
    """One cell position holding every block's every branch's every op; ``cells`` (traced
    ``[num_blocks, 2, 2]``) selects. Inputs and output as :class:`NASNetCell` but the output
    is all ``num_blocks`` blocks concatenated, the read ones zero."""

    num_blocks: int
    channels: int
    reduction: bool
    reduce_prev: bool
    sep_repeats: int
    bn: str
    op_select: str

    @nn.compact
    def __call__(self, h0, h1, cells, train: bool):
        c, bn = self.channels, self.bn
        s0 = (_FactorizedReduce(c, bn=bn, name="pre0") if self.reduce_prev
              else _ReLUConvBN(c, bn=bn, name="pre0"))(h0, train)
        states = [s0, _ReLUConvBN(c, bn=bn, name="pre1")(h1, train)]
        for b in range(self.num_blocks):
            outs = [self._branch(b, br, states, cells[b, br, 0], cells[b, br, 1], train)
                    for br in range(2)]
            states.append(outs[0] + outs[1])
        read = jnp.any(cells[:, :, 0, None] == jnp.arange(2, self.num_blocks + 2), axis=(0, 1))
        loose = 1.0 - read.astype(states[0].dtype)
        return jnp.concatenate([s * loose[i] for i, s in enumerate(states[2:])], -1)

    def _branch(self, b, br, states, inp, op, train):
        """Branch ``br`` of block ``b``: gather the input ``inp`` (same-resolution candidates
        only), apply op ``op``. ``xs[k]`` are the gathered inputs; ``fns`` the candidate ops,
        ``NUM_OPS`` of them per input in ``xs``."""
        c, reps, bn = self.channels, self.sep_repeats, self.bn
        if not self.reduction:
            xs = [jnp.stack(states)[inp]]
            fns = [_op_fn(o, c, 1, reps, bn, f"b{b}_{br}_{o}") for o in OPS]
            index = op
        else:
            # cell inputs at stride 2 (ops "..._s2"), then, from block 1 on, blocks at stride 1
            xs = [jnp.stack(states[:2])[jnp.minimum(inp, 1)]]
            fns = [_op_fn(o, c, 2, reps, bn, f"b{b}_{br}_{o}_s2") for o in OPS]
            index = op
            if b:
                xs.append(jnp.stack(states[2:])[jnp.clip(inp - 2, 0, b - 1)])
                fns += [_op_fn(o, c, 1, reps, bn, f"b{b}_{br}_{o}") for o in OPS]
                index = op + NUM_OPS * (inp >= 2)
        if self.op_select == "onehot" or self.is_initializing():
            # at init every op runs, so that the switch's branches find their variables
            outs = [fn(self, xs[k // NUM_OPS], train) for k, fn in enumerate(fns)]
            weights = jax.nn.one_hot(index, len(fns), dtype=outs[0].dtype)
            return sum(weights[k] * out for k, out in enumerate(outs))
        branches = [functools.partial(_switch_branch, fn, k // NUM_OPS, train)
                    for k, fn in enumerate(fns)]
        return nn.switch(index, branches, self, *xs)


def _switch_branch(fn, which, train, mdl, *xs):
    return fn(mdl, xs[which], train)


class SupernetNetwork(nn.Module):
    """:class:`~lanas_jax.spaces.nasnet.NASNetNetwork`'s skeleton with :class:`SupernetCell`
    cells named ``cell{k}``; called as ``(x, cells, train)`` with traced ``cells``."""

    num_blocks: int
    num_classes: int
    channels: int
    cells_per_stage: int
    stages: int
    stem_multiplier: int
    sep_repeats: int
    bn: str
    op_select: str

    @nn.compact
    def __call__(self, x, cells, train: bool):
        x = nn.Conv(self.stem_multiplier * self.channels, (3, 3), padding="SAME",
                    use_bias=False, name="stem")(x)
        h0 = h1 = affine_free_batch_norm(train, self.bn)(x)
        for k, (channels, reduction, reduce_prev) in enumerate(cell_layout(self)):
            out = SupernetCell(self.num_blocks, channels, reduction, reduce_prev,
                               self.sep_repeats, self.bn, self.op_select,
                               name=f"cell{k}")(h0, h1, cells, train)
            h0, h1 = h1, out
        return nn.Dense(self.num_classes, name="head")(jnp.mean(h1, axis=(1, 2)))


def cell_layout(net) -> list[tuple[int, bool, bool]]:
    """``(channels, reduction, reduce_prev)`` of every cell, as NASNetNetwork stacks them."""
    out, channels, reduce_prev = [], net.channels, False
    for stage in range(net.stages):
        kinds = [False] * net.cells_per_stage
        if stage > 0:
            channels, kinds = channels * 2, [True] + kinds
        for reduction in kinds:
            out.append((channels, reduction, reduce_prev))
            reduce_prev = reduction
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class NasnetSupernet:
    """The NASNet-cell supernet (see the module doc) of ``num_classes`` outputs; ``channels``,
    ``cells`` (per stage), ``stages``, ``stem_multiplier`` and ``sep_repeats`` as
    :meth:`~lanas_jax.spaces.nasnet.NASNet.network` (paper: 32, 6, 3, 3, 2); ``bn`` one of
    :data:`~lanas_jax.supernet.base.BN_MODES`; ``op_select`` one of :data:`OP_SELECTS`."""

    num_classes: int
    channels: int = 32
    cells: int = 6
    stages: int = 3
    stem_multiplier: int = 3
    sep_repeats: int = 2
    bn: str = "batch"
    op_select: str = "switch"
    space: nasnet.NASNet = nasnet.NASNet()

    def __post_init__(self):
        if not isinstance(self.space, nasnet.NASNet):
            raise ValueError(f"NasnetSupernet needs a NASNet space, got "
                             f"{type(self.space).__name__}")
        if self.num_classes < 1 or self.channels < 2:
            raise ValueError(f"need num_classes >= 1 and channels >= 2, got "
                             f"{self.num_classes} and {self.channels}")
        if self.stages < 1 or self.cells < 0 or self.stem_multiplier < 1 or self.sep_repeats < 1:
            raise ValueError("need stages, stem_multiplier and sep_repeats >= 1 and cells >= 0")
        check_bn_mode(self.bn)
        if self.op_select not in OP_SELECTS:
            raise ValueError(f"unknown op_select {self.op_select!r}; known: "
                             f"{', '.join(OP_SELECTS)}")

    @property
    def module(self) -> SupernetNetwork:
        """The flax network, called as ``(x, cells, train)``."""
        return SupernetNetwork(self.space.num_blocks, self.num_classes, self.channels,
                               self.cells, self.stages, self.stem_multiplier, self.sep_repeats,
                               self.bn, self.op_select)

    def init(self, key: jax.Array, x: jax.Array) -> Variables:
        """``{"params"}`` (plus ``{"batch_stats"}`` when ``bn="recalibrate"``); every op of
        every branch is initialised."""
        _check_input(x)
        cells = jnp.zeros((self.space.num_blocks, 2, 2), jnp.int32)
        return dict(_jitted_init(self.module)(key, x, cells))

    def apply(self, variables: Variables, arch: nasnet.NASNetArch, x: jax.Array, *,
              train: bool) -> tuple[jax.Array, object]:
        """Logits of ``arch`` on ``x`` and the new batch statistics (``None`` when
        ``bn="batch"``)."""
        _check_input(x)
        if self.bn == "batch":
            return self.module.apply({"params": variables["params"]}, x, arch.cells, True), None
        if not train:
            return (self.module.apply(variables, x, arch.cells, False),
                    variables["batch_stats"])
        logits, updates = self.module.apply(variables, x, arch.cells, True,
                                            mutable=["batch_stats"])
        return logits, updates["batch_stats"]

    def path_mask(self, arch: nasnet.NASNetArch) -> dict:
        """1 for the stem, the head's bias and the ops ``arch`` chooses (the ``_s2`` set for a
        reduction cell's branch reading a cell input); 0 for the other ops; for the weights
        reading a cell's output (the next cells' input convolutions, the head's kernel) a
        0/1 per input row: 1 on the rows of the loose blocks."""
        cells = jnp.asarray(arch.cells)
        nb = self.space.num_blocks
        read = jnp.any(cells[:, :, 0, None] == jnp.arange(2, nb + 2), axis=(0, 1))
        loose = 1.0 - read.astype(jnp.float32)
        layout = cell_layout(self.module)

        def rows(k):  # row mask of weights reading cell k's output (k < 0: the stem)
            return 1.0 if k < 0 else jnp.repeat(loose, layout[k][0])

        paths, treedef = _param_paths(self)
        leaves = []
        for path, ndim in paths:
            if path[0] == "head":
                m = rows(len(layout) - 1) if path[-1] == "kernel" else 1.0
                m = m if isinstance(m, float) else m[:, None]
            elif path[0].startswith("cell") and path[1] in ("pre0", "pre1"):
                k = int(path[0].removeprefix("cell"))
                m = rows(k - 2 if path[1] == "pre0" else k - 1)
                m = m if isinstance(m, float) else m.reshape((1,) * (ndim - 2) + (-1, 1))
            elif path[0].startswith("cell"):
                b, br, *op = path[1].removeprefix("b").split("_")
                strided = op[-1] == "s2"
                inp, chosen = cells[int(b), int(br), 0], cells[int(b), int(br), 1]
                m = chosen == OPS.index("_".join(op[:-1] if strided else op))
                if layout[int(path[0].removeprefix("cell"))][1]:  # reduction cell
                    m = m & ((inp < 2) == strided)
                m = m.astype(jnp.float32)
            else:
                m = 1.0
            leaves.append(jnp.asarray(m, jnp.float32))
        return jax.tree.unflatten(treedef, leaves)


def _check_input(x: jax.Array) -> None:
    if x.ndim != 4:
        raise ValueError(f"the NASNet supernet takes [B, H, W, C] images, got shape {x.shape}")


@functools.cache
def _jitted_init(module: SupernetNetwork):
    return jax.jit(lambda key, x, cells: module.init({"params": key}, x, cells, False))


@functools.cache
def _param_paths(supernet: NasnetSupernet):
    """Each params leaf's (path names, ndim) and the params treedef."""
    x = jax.ShapeDtypeStruct((1, 8, 8, 1), np.float32)
    cells = jax.ShapeDtypeStruct((supernet.space.num_blocks, 2, 2), np.int32)
    shapes = jax.eval_shape(
        lambda x, c: supernet.module.init({"params": jax.random.PRNGKey(0)}, x, c, False),
        x, cells)["params"]
    flat, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    return tuple((tuple(str(getattr(k, "key", k)) for k in path), leaf.ndim)
                 for path, leaf in flat), treedef
