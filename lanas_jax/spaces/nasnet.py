"""The open-domain NASNet-style cell of LaNAS (seed 000, Sec. 4.3), its relaxation and its size.

Seed 000 Sec. 4.3: "The operations are 3x3, 5x5 and 7x7 max pool, 3x3, 5x5, 7x7
depth-separable conv, 1x1 convolution and identity. The number of nodes within a cell is 5 ...
we follow NASBench-101 and PNAS to share the normal and reduction cell ... our search space
contains 4.36x10^13 architectures". A node (block) ``b = 0..4`` of the NASNet cell (Zoph et al.
2018) adds two branches, each an op applied to one input chosen among the cell's two inputs
and the outputs of blocks ``0..b-1`` (``b + 2`` choices); one cell serves as both the normal and
the reduction cell, so it alone is the architecture.

The relaxed encoding concatenates, for every block and each of its two branches, a one-hot of
the input (width ``b + 2``) and a one-hot of the op (width 8): ``2 * (20 + 40) = 120``
coordinates, box ``[0, 1]^120``. Discretisation is an argmax per group; every such cell is a
valid NASNet cell (unused states are concatenated into the cell's output, as in NASNet), so
nothing is repaired or rejected. The two branches of a block are summed, so swapping them gives
the same network: :func:`canonical` orders them, and :func:`space_size` counts both ways.

Size: ordered branches give ``prod_b (8 (b + 2))^2 = 5.57e14``; unordered (the network, up to
the branch swap) ``prod_b K_b (K_b + 1) / 2`` with ``K_b = 8 (b + 2)``, ``= 2.08e13``. Neither is
the paper's 4.36e13 (the unordered count is 0.48x it); the paper does not give its counting rule, so
the discrepancy is recorded in BUILD_NOTES.md rather than papered over.

:class:`NASNet` is the cell as a :class:`~lanas_jax.spaces.base.Space`; :class:`NASNetNetwork`
stacks it into the NASNet CIFAR network (Zoph et al. 2018, Sec. 3 and Fig. 2).
"""

from __future__ import annotations

import dataclasses
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lanas_jax.spaces.base import Space, SpaceSize
from lanas_jax.spaces.batch_norm import affine_free_batch_norm

OPS: tuple[str, ...] = (
    "max_pool_3x3", "max_pool_5x5", "max_pool_7x7",
    "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
    "conv_1x1", "identity",
)
NUM_OPS = len(OPS)
NUM_BLOCKS = 5
#: The paper's stated size of the space (Sec. 4.3).
PAPER_SIZE = 4.36e13


def _groups(num_blocks: int = NUM_BLOCKS) -> list[int]:
    """Widths of the one-hot groups in encoding order: per block, per branch, (input, op)."""
    return [w for b in range(num_blocks) for _ in range(2) for w in (b + 2, NUM_OPS)]


FEATURE_DIM = sum(_groups())  # 120


def space_size(num_blocks: int = NUM_BLOCKS, ordered: bool = False) -> int:
    """Number of cells: ordered branch pairs, or unordered (a block's branches commute)."""
    total = 1
    for b in range(num_blocks):
        k = NUM_OPS * (b + 2)
        total *= k * k if ordered else k * (k + 1) // 2
    return total


def nasnet_cells(x: jax.Array, num_blocks: int = NUM_BLOCKS) -> jax.Array:
    """``[..., D]`` relaxed points -> ``[..., num_blocks, 2, 2]`` int32 cells: for every block
    and branch ``(input, op)``, input 0/1 being the cell's inputs and ``i + 2`` block ``i``."""
    widths = _groups(num_blocks)
    x = jnp.asarray(x)
    if x.shape[-1] != sum(widths):
        raise ValueError(f"a NASNet point has {sum(widths)} coordinates, got {x.shape}")
    bounds = np.cumsum([0] + widths)
    picks = [jnp.argmax(x[..., lo:hi], -1) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    return jnp.stack(picks, -1).reshape(*x.shape[:-1], num_blocks, 2, 2).astype(jnp.int32)


def canonical(cells: jax.Array) -> jax.Array:
    """Order each block's two branches by ``(input, op)`` (the same network)."""
    key = cells[..., 0] * NUM_OPS + cells[..., 1]  # [..., blocks, 2]
    swap = key[..., 0] > key[..., 1]
    return jnp.where(swap[..., None, None], cells[..., ::-1, :], cells)


def nasnet_encode(cells: jax.Array, num_blocks: int = NUM_BLOCKS) -> jax.Array:
    """``[..., blocks, 2, 2]`` cells -> ``[..., D]`` one-hot codes (inverse of the argmax)."""
    flat = cells.reshape(*cells.shape[:-3], -1)
    parts = [jax.nn.one_hot(flat[..., g], w, dtype=jnp.float32)
             for g, w in enumerate(_groups(num_blocks))]
    return jnp.concatenate(parts, -1)


#: How :func:`describe` names a branch's input: the cell's two inputs, then the blocks.
INPUT_NAMES: tuple[str, ...] = ("c_{k-2}", "c_{k-1}") + tuple(f"b{i}" for i in range(NUM_BLOCKS))


def describe(cell) -> str:
    """A readable form of one cell: ``b0: op(in) + op(in) | ...``."""
    cell = np.asarray(cell)
    return " | ".join(
        f"b{b}: " + " + ".join(f"{OPS[op]}({INPUT_NAMES[inp]})" for inp, op in cell[b])
        for b in range(cell.shape[0])
    )


_BLOCK = re.compile(r"\s*b(\d+)\s*:(.*)")
_BRANCH = re.compile(r"\s*(\w+)\s*\(\s*([^()]*?)\s*\)\s*")


def parse(text: str, num_blocks: int = NUM_BLOCKS) -> np.ndarray:
    """The inverse of :func:`describe`: int32 ``[num_blocks, 2, 2]`` (branches as written);
    raises :class:`ValueError` naming the malformed block or branch."""
    blocks = text.split("|")
    if len(blocks) != num_blocks:
        raise ValueError(f"a NASNet cell has {num_blocks} blocks separated by '|', "
                         f"got {len(blocks)} in {text!r}")
    cell = np.zeros((num_blocks, 2, 2), np.int32)
    for b, block in enumerate(blocks):
        m = _BLOCK.fullmatch(block)
        if m is None or int(m.group(1)) != b:
            raise ValueError(f"block {b} must read 'b{b}: op(input) + op(input)', got {block!r}")
        branches = m.group(2).split("+")
        if len(branches) != 2:
            raise ValueError(f"block b{b} needs 2 branches joined by '+', got {len(branches)}")
        for i, branch in enumerate(branches):
            m = _BRANCH.fullmatch(branch)
            if m is None:
                raise ValueError(f"block b{b}: cannot read branch {branch.strip()!r} as op(input)")
            op, inp = m.groups()
            if op not in OPS:
                raise ValueError(f"block b{b}: unknown op {op!r}; known: {', '.join(OPS)}")
            if inp not in INPUT_NAMES[: b + 2]:
                raise ValueError(f"block b{b}: input {inp!r} is not one of "
                                 f"{', '.join(INPUT_NAMES[: b + 2])} (a block reads the cell's "
                                 "inputs and earlier blocks)")
            cell[b, i] = INPUT_NAMES.index(inp), OPS.index(op)
    return cell


# -- the network (Zoph et al. 2018) -------------------------------------------------------------
def _batch_norm(train: bool, bn: str):
    """flax's default BatchNorm for ``bn="affine"`` (the stand-alone network); a supernet's
    affine-free kinds (:data:`~lanas_jax.spaces.batch_norm.BN_KINDS`) otherwise."""
    if bn == "affine":
        return nn.BatchNorm(use_running_average=not train)
    return affine_free_batch_norm(train, bn)


class _ReLUConvBN(nn.Module):
    """ReLU, a ``kernel x kernel`` convolution without bias, batch norm (NASNet's conv unit)."""

    channels: int
    kernel: int = 1
    stride: int = 1
    bn: str = "affine"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        k, s = (self.kernel,) * 2, (self.stride,) * 2
        x = nn.Conv(self.channels, k, strides=s, padding="SAME", use_bias=False)(nn.relu(x))
        return _batch_norm(train, self.bn)(x)


class _SepConv(nn.Module):
    """ReLU, depthwise ``kernel x kernel`` (``feature_group_count``), pointwise 1x1, batch norm;
    ``repeats`` times, the first at ``stride`` (NASNet and DARTS apply it twice)."""

    channels: int
    kernel: int
    stride: int
    repeats: int
    bn: str = "affine"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        for r in range(self.repeats):
            s = (self.stride if r == 0 else 1,) * 2
            c_in = x.shape[-1]
            x = nn.Conv(c_in, (self.kernel,) * 2, strides=s, padding="SAME", use_bias=False,
                        feature_group_count=c_in)(nn.relu(x))
            x = nn.Conv(self.channels, (1, 1), use_bias=False)(x)
            x = _batch_norm(train, self.bn)(x)
        return x


class _FactorizedReduce(nn.Module):
    """Halves the resolution without losing every other pixel: two stride-2 1x1 convolutions,
    the second on the input shifted by one pixel, concatenated (NASNet's path for identity at
    stride 2 and for a ``h_{k-2}`` input one reduction behind)."""

    channels: int
    bn: str = "affine"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = nn.relu(x)
        half = self.channels // 2
        a = nn.Conv(half, (1, 1), strides=(2, 2), use_bias=False)(x)
        shifted = jnp.pad(x[:, 1:, 1:], ((0, 0), (0, 1), (0, 1), (0, 0)))
        b = nn.Conv(self.channels - half, (1, 1), strides=(2, 2), use_bias=False)(shifted)
        return _batch_norm(train, self.bn)(jnp.concatenate([a, b], -1))


def _apply_op(op: str, x: jax.Array, channels: int, stride: int, sep_repeats: int,
              train: bool) -> jax.Array:
    """One of :data:`OPS` (inputs already have ``channels``); called inside a compact module."""
    if op.startswith("max_pool"):
        kernel = int(op[-1])
        return nn.max_pool(x, (kernel, kernel), strides=(stride, stride), padding="SAME")
    if op.startswith("sep_conv"):
        return _SepConv(channels, int(op[-1]), stride, sep_repeats)(x, train)
    if op == "conv_1x1":
        return _ReLUConvBN(channels, 1, stride)(x, train)
    return x if stride == 1 else _FactorizedReduce(channels)(x, train)


class NASNetCell(nn.Module):
    """One cell: ``h_{k-2}``, ``h_{k-1}`` projected to ``channels`` (factorized reduction when
    ``h_{k-2}`` is a reduction behind), five blocks each summing two ops, and the output the
    concatenation of the blocks no block reads. As a reduction cell, ops on the cell's inputs
    run at stride 2 (Zoph et al. 2018, Sec. 3); the next cell's 1x1 projection fixes the width."""

    cell: tuple[tuple[tuple[int, int], ...], ...]
    channels: int
    reduction: bool
    reduce_prev: bool
    sep_repeats: int

    @nn.compact
    def __call__(self, h0: jax.Array, h1: jax.Array, train: bool) -> jax.Array:
        c = self.channels
        s0 = _FactorizedReduce(c)(h0, train) if self.reduce_prev else _ReLUConvBN(c)(h0, train)
        states = [s0, _ReLUConvBN(c)(h1, train)]
        used = set()
        for branches in self.cell:
            outs = [_apply_op(OPS[op], states[inp], c, 2 if self.reduction and inp < 2 else 1,
                              self.sep_repeats, train) for inp, op in branches]
            used.update(inp for inp, _ in branches)
            states.append(outs[0] + outs[1])
        return jnp.concatenate([s for i, s in enumerate(states) if i >= 2 and i not in used], -1)


class NASNetNetwork(nn.Module):
    """NASNet's CIFAR skeleton (Zoph et al. 2018, Fig. 2): a 3x3 stem convolution with
    ``stem_multiplier * channels`` filters, then ``stages`` stages of ``cells_per_stage`` normal
    cells, a reduction cell (channels doubled) between stages, global average pooling and a
    dense layer (logits). One cell is both the normal and the reduction cell (seed 000 Sec. 4.3);
    the paper stacks it 6 times a stage with 32 filters (the defaults). No auxiliary head and no
    drop-path: those belong to training."""

    cell: tuple[tuple[tuple[int, int], ...], ...]
    num_classes: int
    channels: int = 32
    cells_per_stage: int = 6
    stages: int = 3
    stem_multiplier: int = 3
    sep_repeats: int = 2

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.Conv(self.stem_multiplier * self.channels, (3, 3), padding="SAME",
                    use_bias=False)(x)
        h0 = h1 = nn.BatchNorm(use_running_average=not train)(x)
        channels, reduce_prev = self.channels, False
        for stage in range(self.stages):
            kinds = [False] * self.cells_per_stage
            if stage > 0:
                channels, kinds = channels * 2, [True] + kinds
            for reduction in kinds:
                out = NASNetCell(self.cell, channels, reduction, reduce_prev,
                                 self.sep_repeats)(h0, h1, train)
                h0, h1, reduce_prev = h1, out, reduction
        return nn.Dense(self.num_classes)(jnp.mean(h1, axis=(1, 2)))


# -- the Space ----------------------------------------------------------------------------------
@struct.dataclass
class NASNetArch:
    """One cell: ``cells`` int32 ``[num_blocks, 2, 2]``, per block and branch ``(input, op)``
    (input 0/1 the cell's inputs, ``i + 2`` block ``i``; op an index of :data:`OPS`), each
    block's branches in :func:`canonical` order."""

    cells: jax.Array


@dataclasses.dataclass(frozen=True)
class NASNet(Space):
    """Seed 000 Sec. 4.3's NASNet cell (see the module doc). ``num_blocks`` (default 5) shrinks
    it for brute-force checks. Isomorphism: only the branch swap is merged (as
    :func:`space_size` counts); relabelling independent blocks is not."""

    num_blocks: int = NUM_BLOCKS

    name = "nasnet"
    dense = False

    def __post_init__(self):
        if not 1 <= self.num_blocks <= NUM_BLOCKS:
            raise ValueError(f"num_blocks must be in 1..{NUM_BLOCKS}, got {self.num_blocks}")

    @property
    def feature_dim(self) -> int:
        return sum(_groups(self.num_blocks))

    @property
    def relax_dim(self) -> int:
        return self.feature_dim

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        """Per block and branch: input (``b + 2`` choices), op (8)."""
        return tuple(_groups(self.num_blocks))

    def _arch(self, cells: jax.Array) -> NASNetArch:
        return NASNetArch(canonical(jnp.asarray(cells, jnp.int32)))

    # -- jittable, one architecture ----------------------------------------------------------
    def sample(self, key: jax.Array) -> NASNetArch:
        """Every branch's input uniform over its block's ``b + 2`` choices, its op over 8 (so
        uniform over ordered cells; a block with two equal branches is half as likely)."""
        k_in, k_op = jax.random.split(key)
        choices = (jnp.arange(self.num_blocks) + 2)[:, None]
        inputs = jax.random.randint(k_in, (self.num_blocks, 2), 0, choices)
        ops = jax.random.randint(k_op, (self.num_blocks, 2), 0, NUM_OPS)
        return self._arch(jnp.stack([inputs, ops], -1))

    def mutate(self, key: jax.Array, arch: NASNetArch) -> NASNetArch:
        """One branch (uniform over all), its input or op (uniform), set to another value
        (uniform). The key always changes: a block is the multiset of its two branches, and
        replacing one element of a multiset by a different value changes the multiset."""
        k_branch, k_field, k_value = jax.random.split(key, 3)
        flat = arch.cells.reshape(-1, 2)
        j = jax.random.randint(k_branch, (), 0, 2 * self.num_blocks)
        field = jax.random.randint(k_field, (), 0, 2)
        n = jnp.where(field == 0, j // 2 + 2, NUM_OPS)
        new = (flat[j, field] + 1 + jax.random.randint(k_value, (), 0, n - 1)) % n
        return self._arch(flat.at[j, field].set(new).reshape(arch.cells.shape))

    def features(self, arch: NASNetArch) -> jax.Array:
        """:func:`nasnet_encode`: one-hot input and op per branch (120 wide for 5 blocks)."""
        return nasnet_encode(arch.cells, self.num_blocks)

    def relax(self, arch: NASNetArch) -> jax.Array:
        """The :meth:`features` one-hots, a vertex of ``[0, 1]^relax_dim``."""
        return self.features(arch)

    def discretise(self, x: jax.Array) -> NASNetArch:
        """Argmax per one-hot group (:func:`nasnet_cells`); every point is a valid cell."""
        return self._arch(nasnet_cells(x, self.num_blocks))

    def tokens(self, arch: NASNetArch) -> jax.Array:
        """Per block and branch: input, op (``2 * 2 * num_blocks`` tokens)."""
        return arch.cells.reshape(-1)

    def from_tokens(self, tokens: jax.Array) -> NASNetArch:
        """The cell the tokens spell (out-of-vocab tokens clipped into it), canonical."""
        tokens = jnp.clip(tokens, 0, jnp.array(self.vocab_sizes) - 1)
        return self._arch(tokens.reshape(self.num_blocks, 2, 2))

    def key(self, arch: NASNetArch) -> jax.Array:
        """Exact packing of the canonical cell: branch ``j`` as ``input << 3 | op`` (6 bits) at
        bit ``6 (j mod 5)`` of word ``j // 5`` (60 bits for 5 blocks)."""
        flat = arch.cells.reshape(-1, 2).astype(jnp.uint32)
        j = np.arange(2 * self.num_blocks)
        code = (flat[:, 0] << 3 | flat[:, 1]) << (6 * (j % 5)).astype(np.uint32)
        return jnp.stack([jnp.sum(jnp.where(j // 5 == w, code, 0), dtype=jnp.uint32)
                          for w in range(2)])

    # -- host ----------------------------------------------------------------------------------
    def describe(self, arch: NASNetArch) -> str:
        """:func:`describe`: ``b0: op(in) + op(in) | b1: ...``."""
        return describe(self.to_host(arch).cells)

    def parse(self, text: str) -> NASNetArch:
        """:func:`parse`, canonical; raises :class:`ValueError` naming the problem."""
        return self._arch(parse(text, self.num_blocks))

    def size(self) -> SpaceSize:
        """:func:`space_size`: cells up to the branch swap, exact."""
        return SpaceSize(space_size(self.num_blocks), exact=True, note=(
            f"branch pairs unordered; the paper states {PAPER_SIZE:.3g}, ordered branches give "
            f"{space_size(self.num_blocks, ordered=True):.3g}"))

    def network(self, arch: NASNetArch, num_classes: int, channels: int = 32,
                cells_per_stage: int = 6, stages: int = 3, stem_multiplier: int = 3,
                sep_repeats: int = 2) -> NASNetNetwork:
        """:class:`NASNetNetwork` of one cell (the defaults are the paper's: 32 filters, the
        cell stacked 6 times a stage); smaller options give a network a test can build."""
        if num_classes < 1 or channels < 2:
            raise ValueError(f"need num_classes >= 1 and channels >= 2 (a factorized reduction "
                             f"splits them in two), got {num_classes} and {channels}")
        if stages < 1 or cells_per_stage < 0 or stem_multiplier < 1 or sep_repeats < 1:
            raise ValueError("a NASNet network needs stages, stem_multiplier and sep_repeats "
                             ">= 1 and cells_per_stage >= 0")
        cell = tuple(tuple((int(i), int(o)) for i, o in block)
                     for block in self.to_host(arch).cells)
        return NASNetNetwork(cell, num_classes, channels, cells_per_stage, stages,
                             stem_multiplier, sep_repeats)
