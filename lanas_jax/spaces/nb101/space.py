"""The NAS-Bench-101 cell space under the :class:`~lanas_jax.spaces.base.Space` protocol (Ying
et al. 2019, "NAS-Bench-101: Towards Reproducible Neural Architecture Search", ICML 2019).

A cell (Sec. 2.1) is a DAG on at most 7 vertices with at most 9 edges: vertex 0 is the input,
the last the output, every other vertex holds one of :data:`OPS` (conv3x3-bn-relu,
conv1x1-bn-relu, maxpool3x3). Vertices off every input -> output path compute nothing and are
pruned; isomorphic cells are the same network. The benchmark counts 423,624 distinct cells.

An architecture is :class:`Nb101Arch`, one cell in the **standard padded form** of
:mod:`lanas_jax.spaces.nb101` (output at vertex 6, missing vertices edgeless and labelled
``MISSING``). Its canonical form is the *pruned* cell, compacted (present vertices in their
order at slots ``0, 1, ...``, the output at 6): what ``sample``, ``mutate``, ``discretise`` and
``from_tokens`` return, and what every other method first reduces its argument to. The vertex
order of a cell is not canonicalised (that would need a graph canonisation); isomorphic cells
in different orders are recognised as the same network by :meth:`NB101.key`, which (with
``canonical``) also accepts an interior order that is not upper-triangular; the host methods
(``cell``, ``describe``, ``network``) expect the documented upper-triangular form.

The space is not dense (no cheap numbering of the 423,624 classes), so an archive keeps keys.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lanas_jax.spaces.base import Space, SpaceSize
from lanas_jax.spaces.nb101 import jnp_cell as jc
from lanas_jax.spaces.nb101.cell import (
    _NAME,
    EDGES,
    ENCODINGS,
    INPUT,
    INPUT_LABEL,
    MAX_EDGES,
    MISSING,
    NUM_VERTICES,
    OPS,
    OUTPUT,
    OUTPUT_LABEL,
    check_cell,
    pad,
    prune,
)
from lanas_jax.spaces.nb101.encoding import encode_matrices
from lanas_jax.spaces.nb101.network import Nb101Network
from lanas_jax.vaenas.nb101 import VAENAS_OPS

_V = NUM_VERTICES
NUM_EDGE_SLOTS = len(EDGES)  # 21
NUM_INTERIOR = _V - 2  # 5
#: 21 edge scores, then a one-hot over :data:`OPS` for each of the 5 interior vertices.
RELAX_DIM = NUM_EDGE_SLOTS + NUM_INTERIOR * len(OPS)
#: Appendix A.5 of VAENAS (seed 002): 21 edge bits, then 5 ops in ``VAENAS_OPS`` order.
VOCAB_SIZES: tuple[int, ...] = (2,) * NUM_EDGE_SLOTS + (len(VAENAS_OPS),) * NUM_INTERIOR
#: The number of distinct cells, Ying et al. 2019, Sec. 2.2 (reproduced by ``enumerate_cells``).
SIZE = 423_624

# Token (VAENAS's op order) <-> label (index into OPS, the benchmark's order).
_TOKEN_LABEL = np.array([OPS.index(op) for op in VAENAS_OPS], np.int32)
_LABEL_TOKEN = np.argsort(_TOKEN_LABEL).astype(np.int32)


@struct.dataclass
class Nb101Arch:
    """One NAS-Bench-101 cell in the standard padded form.

    Attributes:
      matrix: ``int32 [7, 7]`` 0/1 adjacency, strictly upper-triangular; ``matrix[v, w]`` is the
        edge ``v -> w``; vertex 0 is the input and vertex 6 the output.
      labels: ``int32 [7]``: ``INPUT_LABEL`` (-1) at 0, ``OUTPUT_LABEL`` (-2) at 6, and for
        vertices 1..5 an index into :data:`OPS` or ``MISSING`` (-3, a vertex with no edges).
    """

    matrix: jax.Array
    labels: jax.Array


def _labels(ops: jax.Array) -> jax.Array:
    """``[5]`` interior labels -> ``[7]`` with the input and output labels around them."""
    return jnp.concatenate([
        jnp.array([INPUT_LABEL], jnp.int32), jnp.asarray(ops, jnp.int32),
        jnp.array([OUTPUT_LABEL], jnp.int32),
    ])


def _from_edge_bits(bits: jax.Array) -> jax.Array:
    return jnp.zeros((_V, _V), jnp.int32).at[jc.IU].set(jnp.asarray(bits, jnp.int32))


def _point(matrix: jax.Array, labels: jax.Array) -> jax.Array:
    """The relaxed point of a padded cell: edge bits, then interior op one-hots (zeros where
    a vertex is missing)."""
    edges = jnp.asarray(matrix, jnp.float32)[jc.IU]
    ops = jax.nn.one_hot(labels[1:-1], len(OPS), dtype=jnp.float32).reshape(-1)
    return jnp.concatenate([edges, ops])


def acceptable(matrix: jax.Array, labels: jax.Array) -> jax.Array:
    """Whether a padded cell is valid once pruned: the output reachable, at most 9 edges left."""
    pruned, _, connected = jc.prune(matrix, labels)
    return connected & (jc.num_edges(pruned) <= MAX_EDGES)


@dataclasses.dataclass(frozen=True)
class NB101(Space):
    """The NAS-Bench-101 cell space (see the module doc).

    Attributes:
      encoding: the feature encoding, one of ``lanas49`` (default), ``vaenas26``, ``onehot56``
        (:func:`lanas_jax.spaces.nb101.encode`, the encodings of the benchmark tables).
      max_tries: draws per :meth:`sample` before it falls back to input -> op -> output.
    """

    encoding: str = "lanas49"
    max_tries: int = 32

    name = "nb101"
    relax_dim = RELAX_DIM
    vocab_sizes = VOCAB_SIZES
    dense = False

    def __post_init__(self):
        if self.encoding not in ENCODINGS:
            raise ValueError(
                f"unknown NB101 encoding {self.encoding!r}; choose from {sorted(ENCODINGS)}"
            )
        if self.max_tries < 1:
            raise ValueError(f"max_tries must be at least 1, got {self.max_tries}")

    @property
    def feature_dim(self) -> int:
        return ENCODINGS[self.encoding]

    # -- jittable, one architecture ----------------------------------------------------------
    def canonical(self, arch: Nb101Arch) -> Nb101Arch:
        """The pruned, compacted spelling of ``arch`` (see the module doc)."""
        matrix, labels, _ = jc.prune(arch.matrix, arch.labels)
        return Nb101Arch(*jc.compact(matrix, labels))

    def sample(self, key: jax.Array) -> Nb101Arch:
        """A random valid cell, canonical.

        As the benchmark's example notebook samples: each of the 21 edges of a 7-vertex matrix
        is present with probability 1/2 and each interior op is uniform, redrawn until the
        pruned cell is valid. So the draw is uniform over the *unpruned* (matrix, ops) pairs
        that give a valid cell, not over the 423,624 isomorphism classes (cells with many
        spellings are likelier). About 73% of draws are valid; after ``max_tries`` invalid
        draws (probability ~1e-18 at 32) the cell is input -> op -> output, the op the last
        draw's first one.
        """

        def draw(k):
            edge_key, op_key = jax.random.split(k)
            bits = jax.random.bernoulli(edge_key, 0.5, (NUM_EDGE_SLOTS,))
            ops = jax.random.randint(op_key, (NUM_INTERIOR,), 0, len(OPS))
            return _from_edge_bits(bits), _labels(ops)

        def body(state):
            tries, k, _, _, _ = state
            k, sub = jax.random.split(k)
            matrix, labels = draw(sub)
            return tries + 1, k, matrix, labels, acceptable(matrix, labels)

        init = (0, key, jnp.zeros((_V, _V), jnp.int32), _labels(jnp.zeros(NUM_INTERIOR)),
                jnp.asarray(False))
        _, _, matrix, labels, good = jax.lax.while_loop(
            lambda s: ~s[4] & (s[0] < self.max_tries), body, init
        )
        chain = Nb101Arch(  # input -> op -> output, the fallback
            jnp.zeros((_V, _V), jnp.int32).at[0, 1].set(1).at[1, _V - 1].set(1),
            jnp.full((_V,), MISSING, jnp.int32).at[0].set(INPUT_LABEL).at[1].set(labels[1])
            .at[-1].set(OUTPUT_LABEL),
        )
        arch = self.canonical(Nb101Arch(matrix, labels))
        return jax.tree.map(lambda x, y: jnp.where(good, x, y), arch, chain)

    def mutate(self, key: jax.Array, arch: Nb101Arch) -> Nb101Arch:
        """One edit, uniform over the edits giving a valid cell with a different key.

        An edit flips one of the 21 edges of the padded matrix or sets one interior vertex's
        op (the mutation of the benchmark's regularized-evolution baseline, Real et al. 2019,
        one change at a time; the neighbours are :func:`lanas_jax.spaces.nb101.mutations`).
        All 36 edits are tried at once; edits reaching the same cell each count. The one cell
        with no such edit, input -> output alone, instead grows an interior vertex with a
        random op on a new path ``0 -> 1 -> 6`` (two edges).
        """
        arch = self.canonical(arch)
        own = self.key(arch)
        flips = jnp.zeros((NUM_EDGE_SLOTS, _V, _V), jnp.int32)
        flips = flips.at[jnp.arange(NUM_EDGE_SLOTS), jc.IU[0], jc.IU[1]].set(1)
        edge_m = arch.matrix[None] ^ flips
        edge_l = jnp.broadcast_to(arch.labels, (NUM_EDGE_SLOTS, _V))
        vertex = 1 + np.repeat(np.arange(NUM_INTERIOR), len(OPS))
        new_op = np.tile(np.arange(len(OPS)), NUM_INTERIOR)
        op_l = jnp.broadcast_to(arch.labels, (vertex.size, _V))
        op_l = op_l.at[np.arange(vertex.size), vertex].set(new_op)
        op_m = jnp.broadcast_to(arch.matrix, (vertex.size, _V, _V))
        cand_m = jnp.concatenate([edge_m, op_m])
        cand_l = jnp.concatenate([edge_l, op_l])
        pruned_m, pruned_l, connected = jax.vmap(jc.prune)(cand_m, cand_l)
        ok = connected & (jnp.sum(pruned_m, axis=(1, 2)) <= MAX_EDGES)
        ok &= jnp.any(jax.vmap(jc.lanes)(pruned_m, pruned_l) != own, axis=-1)
        pick_key, op_key = jax.random.split(key)
        pick = jax.random.categorical(pick_key, jnp.where(ok, 0.0, -jnp.inf))
        grown_m = arch.matrix.at[0, 1].set(1).at[1, _V - 1].set(1)
        grown_l = arch.labels.at[1].set(jax.random.randint(op_key, (), 0, len(OPS)))
        some = jnp.any(ok)
        return Nb101Arch(*jc.compact(
            jnp.where(some, pruned_m[pick], grown_m), jnp.where(some, pruned_l[pick], grown_l)
        ))

    def features(self, arch: Nb101Arch) -> jax.Array:
        """``f32[feature_dim]``: ``encode(out_bits, labels, self.encoding)`` of the canonical
        cell, the features of the benchmark tables' rows."""
        arch = self.canonical(arch)
        return encode_matrices(arch.matrix[None], arch.labels[None], self.encoding, jnp)[0]

    def relax(self, arch: Nb101Arch) -> jax.Array:
        """``f32[36]`` in ``[0, 1]``: the 21 upper-triangular edge bits (``EDGES`` order), then a
        one-hot over :data:`OPS` for each interior vertex (all zeros where it is missing)."""
        arch = self.canonical(arch)
        return _point(arch.matrix, arch.labels)

    def discretise(self, x: jax.Array) -> Nb101Arch:
        """A valid canonical cell from a point of ``[0, 1]^36`` (coordinates are clipped).

        The rule: each vertex takes the op of its largest one-hot score (ties: :data:`OPS`
        order); the edges are those scoring above 1/2; vertices off every input -> output path
        are pruned; of the edges left, the 9 with the largest scores stay (ties: ``EDGES``
        order) and the cell is pruned again. **Repair**: when no input -> output path is left
        (then no edge is), the cell is the single path minimising ``sum(1 - score)`` over its
        edges (:func:`~lanas_jax.spaces.nb101.jnp_cell.best_path`, at most 6 edges). A point of
        :meth:`relax` gives back its cell.
        """
        x = jnp.clip(jnp.asarray(x, jnp.float32), 0.0, 1.0)
        if x.shape != (RELAX_DIM,):
            raise ValueError(f"an NB101 relaxed point has shape ({RELAX_DIM},), got {x.shape}")
        ops = jnp.argmax(x[NUM_EDGE_SLOTS:].reshape(NUM_INTERIOR, len(OPS)), axis=-1)
        labels = _labels(ops)
        score = jnp.zeros((_V, _V), jnp.float32).at[jc.IU].set(x[:NUM_EDGE_SLOTS])
        matrix, _, _ = jc.prune((score > 0.5).astype(jnp.int32), labels)
        flat = jnp.where(matrix.reshape(-1) > 0, score.reshape(-1), -jnp.inf)
        _, top = jax.lax.top_k(flat, MAX_EDGES)  # lax.top_k puts the lower index first on ties
        kept = jnp.zeros((_V * _V,), jnp.int32).at[top].set(1).reshape(_V, _V)
        matrix, _, connected = jc.prune(matrix * kept, labels)
        matrix = jnp.where(connected, matrix, jc.best_path(score))
        return self.canonical(Nb101Arch(matrix, labels))

    def tokens(self, arch: Nb101Arch) -> jax.Array:
        """``i32[26]``, VAENAS Appendix A.5: the 21 edge bits, then each interior vertex's op
        in ``VAENAS_OPS`` order (conv1x1 0, conv3x3 1, maxpool 2; 0 where missing), as
        :func:`lanas_jax.vaenas.nb101.tokens_from_cells` writes a table row."""
        arch = self.canonical(arch)
        interior = arch.labels[1:-1]
        ops = jnp.where(interior >= 0, jnp.asarray(_LABEL_TOKEN)[jnp.clip(interior, 0)], 0)
        return jnp.concatenate([arch.matrix[jc.IU], ops]).astype(jnp.int32)

    def from_tokens(self, tokens: jax.Array) -> Nb101Arch:
        """The cell of 26 tokens (each clipped into its vocabulary), repaired as
        :meth:`discretise` repairs: token bits are edge scores 0/1, so more than 9 surviving
        edges keep the first 9 in ``EDGES`` order and a disconnected cell becomes the input ->
        output path with the fewest absent edges (the direct edge when none is present)."""
        t = jnp.clip(jnp.asarray(tokens, jnp.int32), 0, jnp.asarray(VOCAB_SIZES) - 1)
        labels = jnp.asarray(_TOKEN_LABEL)[t[NUM_EDGE_SLOTS:]]
        ops = jax.nn.one_hot(labels, len(OPS), dtype=jnp.float32).reshape(-1)
        return self.discretise(jnp.concatenate([t[:NUM_EDGE_SLOTS].astype(jnp.float32), ops]))

    def key(self, arch: Nb101Arch) -> jax.Array:
        """``u32[2]``: the Weisfeiler-Lehman key of the pruned cell (:func:`~lanas_jax.spaces.
        nb101.jnp_cell.wl_key`), equal for isomorphic cells in any vertex order.

        A hash, not an exact packing: checked to split all 423,624 cells as the benchmark's MD5
        hash does by the existing tests (``tests/test_nb101.py``), not proved collision-free.
        """
        return jc.wl_key(arch.matrix, arch.labels)

    # -- host ----------------------------------------------------------------------------------
    def cell(self, arch: Nb101Arch) -> tuple[np.ndarray, list[str]]:
        """The compact, pruned ``(matrix, ops)`` of an (upper-triangular) arch, as the benchmark
        writes a cell; a disconnected arch gives the edgeless ``input, output``."""
        arch = self.to_host(arch)
        idx = np.flatnonzero(arch.labels != MISSING)
        pruned = prune(arch.matrix[np.ix_(idx, idx)], [_NAME[int(x)] for x in arch.labels[idx]])
        if pruned is None:
            return np.zeros((2, 2), np.int8), [INPUT, OUTPUT]
        return pruned

    def describe(self, arch: Nb101Arch) -> str:
        """``ops=input,conv3x3-bn-relu,...,output adj=0110/0001/0001/0000``: the ``V`` op names
        (input first, output last) and the ``V`` rows of the compact adjacency matrix, ``/``
        separated (row ``v``'s character ``w`` is the edge ``v -> w``)."""
        matrix, ops = self.cell(arch)
        rows = "/".join("".join(str(int(b)) for b in row) for row in matrix)
        return f"ops={','.join(ops)} adj={rows}"

    def parse(self, text: str) -> Nb101Arch:
        """The cell :meth:`describe` writes (fields in either order, separated by spaces).

        Raises:
          ValueError: naming the problem: a missing, repeated or unknown field, a row count or
            row length that does not match the ops, characters other than 0/1, or an invalid
            cell (:func:`lanas_jax.spaces.nb101.check_cell`: an unknown op, misplaced
            input/output, more than 9 edges, a vertex off every input -> output path).
        """
        if not isinstance(text, str):
            raise ValueError(f"an NB101 cell string is a str, got {type(text).__name__}")
        fields: dict[str, str] = {}
        for part in text.split():
            name, sep, value = part.partition("=")
            if not sep or name not in ("ops", "adj"):
                raise ValueError(f"malformed NB101 field {part!r}: expected ops=... and adj=...")
            if name in fields:
                raise ValueError(f"the NB101 field {name!r} appears twice in {text!r}")
            fields[name] = value
        missing = [f for f in ("ops", "adj") if f not in fields]
        if missing:
            raise ValueError(f"the NB101 cell {text!r} has no {missing[0]}= field")
        ops = fields["ops"].split(",")
        rows = fields["adj"].split("/")
        if len(rows) != len(ops):
            raise ValueError(f"{len(rows)} adjacency rows for {len(ops)} ops in {text!r}")
        for v, row in enumerate(rows):
            if len(row) != len(ops) or set(row) - {"0", "1"}:
                raise ValueError(
                    f"adjacency row {v} {row!r} is not {len(ops)} characters of 0/1"
                )
        matrix = np.array([[int(c) for c in row] for row in rows], np.int32)
        reason = check_cell(matrix, ops)
        if reason is not None:
            raise ValueError(f"invalid NB101 cell {text!r}: {reason}")
        _, labels = pad(matrix, ops)
        slot = np.flatnonzero(labels != MISSING)
        full = np.zeros((_V, _V), np.int32)
        full[np.ix_(slot, slot)] = matrix
        return Nb101Arch(jnp.asarray(full), jnp.asarray(labels, jnp.int32))

    def size(self) -> SpaceSize:
        return SpaceSize(SIZE, True, "cells up to isomorphism (Ying et al. 2019, Sec. 2.2)")

    def network(self, arch: Nb101Arch, num_classes: int, **options) -> Nb101Network:
        """The NAS-Bench-101 network of one cell (:class:`~lanas_jax.spaces.nb101.network.
        Nb101Network`; options: ``stem_channels``, ``num_stacks``, ``cells_per_stack``).

        Raises:
          ValueError: for an invalid cell, a bad class count or an unknown option.
        """
        matrix, ops = self.cell(arch)
        reason = check_cell(matrix, ops)
        if reason is not None:
            raise ValueError(f"cannot build a network of an invalid NB101 cell: {reason}")
        known = {"stem_channels", "num_stacks", "cells_per_stack"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown NB101 network option {unknown[0]!r}; known: {sorted(known)}")
        for name, value in {"num_classes": num_classes, **options}.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"the NB101 network's {name} must be a positive int: {value!r}")
        return Nb101Network(
            matrix=tuple(tuple(int(b) for b in row) for row in matrix), ops=tuple(ops),
            num_classes=num_classes, **options,
        )
