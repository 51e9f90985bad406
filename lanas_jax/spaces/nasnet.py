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
the paper's 4.36e13 (0.48x the unordered count); the paper does not give its counting rule, so
the discrepancy is recorded in BUILD_NOTES.md rather than papered over.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

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


def describe(cell) -> str:
    """A readable form of one cell: ``b0: op(in) + op(in) | ...``."""
    names = ["c_{k-2}", "c_{k-1}"] + [f"b{i}" for i in range(NUM_BLOCKS)]
    cell = np.asarray(cell)
    return " | ".join(
        f"b{b}: " + " + ".join(f"{OPS[op]}({names[inp]})" for inp, op in cell[b])
        for b in range(cell.shape[0])
    )
