"""The NAS-Bench-101 cell search space (Ying et al. 2019, "NAS-Bench-101: Towards Reproducible
Neural Architecture Search", ICML 2019).

A cell is a DAG given by an upper-triangular adjacency matrix on ``V <= 7`` vertices and one
label per vertex: vertex 0 is ``input``, vertex ``V - 1`` is ``output`` and every vertex between
holds one of :data:`OPS`. A cell is *valid* when it has at most 9 edges and every vertex lies on
a path from the input to the output. Vertices off every such path compute nothing and are
*pruned*; isomorphic cells are the same network, identified by :func:`module_hash` (the
benchmark's own MD5 graph hash). The benchmark holds 423,624 unique cells.

Two representations are used:

* one cell as ``(matrix, ops)``: a ``[V, V]`` 0/1 array and ``V`` op names, as the benchmark's
  files and API write it;
* many cells as arrays in the **standard padded form**: a cell with ``V < 7`` vertices keeps its
  vertices ``0 .. V-2`` in place, its output moves to vertex 6 and vertices ``V-1 .. 5`` are
  *missing* (no edges, label :data:`MISSING`), the padding naszilla's and NASLib's converters
  use. The adjacency is stored as ``out_bits [N, 7]`` uint8 (bit ``w`` of ``out_bits[:, v]`` is
  the edge ``v -> w``) and the labels as ``labels [N, 7]`` int8 (:data:`INPUT_LABEL`,
  :data:`OUTPUT_LABEL`, an index into :data:`OPS`, or :data:`MISSING`).

The feature encodings (:data:`ENCODINGS`, :func:`encode`) are documented on :func:`encode`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

NUM_VERTICES = 7
MAX_EDGES = 9
INPUT = "input"
OUTPUT = "output"
#: The interior ops in the benchmark's canonical order (``config['available_ops']``): a label
#: ``k`` in ``0..2`` is ``OPS[k]``, the integer labels the benchmark's hash uses.
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
INPUT_LABEL = -1
OUTPUT_LABEL = -2
MISSING = -3
#: The 21 upper-triangular vertex pairs ``(i, j)``, ``i < j``, row-major.
EDGES: tuple[tuple[int, int], ...] = tuple(
    (i, j) for i in range(NUM_VERTICES) for j in range(i + 1, NUM_VERTICES)
)
#: Encoding name -> feature width (see :func:`encode`).
ENCODINGS: dict[str, int] = {"lanas49": 49, "vaenas26": 26, "onehot56": 56}

_OP_LABEL = {op: k for k, op in enumerate(OPS)}
_NAME = {INPUT_LABEL: INPUT, OUTPUT_LABEL: OUTPUT, **{k: op for k, op in enumerate(OPS)}}


# ------------------------------------------------------------------------ one cell (host)


def _as_matrix(matrix) -> np.ndarray:
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"an adjacency matrix is square, got shape {m.shape}")
    return m


def check_cell(matrix, ops: Sequence[str]) -> str | None:
    """Why ``(matrix, ops)`` is not a valid NAS-Bench-101 cell, or ``None`` when it is.

    Valid (Ying et al. 2019, Sec. 2.1): 2..7 vertices, a 0/1 strictly upper-triangular matrix,
    ``input`` first, ``output`` last, interior ops from :data:`OPS`, at most 9 edges, and every
    vertex on an input -> output path (nothing to prune).
    """
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        return f"the adjacency matrix is not square (shape {m.shape})"
    v = m.shape[0]
    ops = list(ops)
    if len(ops) != v:
        return f"{len(ops)} ops for {v} vertices"
    if not 2 <= v <= NUM_VERTICES:
        return f"{v} vertices (a cell has 2..{NUM_VERTICES})"
    if not np.isin(m, (0, 1)).all():
        return "the adjacency matrix holds values other than 0 and 1"
    if np.tril(m).any():
        return "the adjacency matrix is not strictly upper-triangular"
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        return (
            f"the first op must be {INPUT!r} and the last {OUTPUT!r}, "
            f"got {ops[0]!r} and {ops[-1]!r}"
        )
    bad = [op for op in ops[1:-1] if op not in _OP_LABEL]
    if bad:
        return f"unknown op {bad[0]!r} (known: {', '.join(OPS)})"
    edges = int(m.sum())
    if edges > MAX_EDGES:
        return f"{edges} edges (at most {MAX_EDGES})"
    keep = _on_path(m)
    if not keep.all():
        if not keep[-1]:
            return "the output is not reachable from the input"
        return f"vertex {int(np.flatnonzero(~keep)[0])} is not on an input -> output path"
    return None


def is_valid(matrix, ops: Sequence[str]) -> bool:
    """Whether ``(matrix, ops)`` is a valid, pruned NAS-Bench-101 cell (see :func:`check_cell`)."""
    return check_cell(matrix, ops) is None


def _on_path(m: np.ndarray) -> np.ndarray:
    """``[V]`` bool: vertices reachable from vertex 0 and reaching vertex ``V - 1``."""
    v = m.shape[0]
    fwd = np.zeros(v, bool)
    fwd[0] = True
    for i in range(v):  # upper-triangular: one pass in vertex order settles reachability
        if fwd[i]:
            fwd |= m[i].astype(bool)
    bwd = np.zeros(v, bool)
    bwd[-1] = True
    for i in range(v - 1, -1, -1):
        if (m[i].astype(bool) & bwd).any():
            bwd[i] = True
    return fwd & bwd


def prune(matrix, ops: Sequence[str]) -> tuple[np.ndarray, list[str]] | None:
    """Drop the vertices off every input -> output path (as the benchmark's ``ModelSpec`` does).

    Returns:
      The pruned ``(matrix, ops)``, or ``None`` when the output is unreachable from the input.
    """
    m = _as_matrix(matrix).astype(np.int8)
    ops = list(ops)
    if len(ops) != m.shape[0]:
        raise ValueError(f"{len(ops)} ops for {m.shape[0]} vertices")
    keep = _on_path(m)
    if not (keep[0] and keep[-1]):
        return None
    idx = np.flatnonzero(keep)
    return m[np.ix_(idx, idx)], [ops[i] for i in idx]


def module_hash(matrix, ops: Sequence[str]) -> str:
    """The benchmark's isomorphism-invariant MD5 hash of a cell (its ``module_hash`` key).

    The cell is pruned first. Then, after the benchmark's ``graph_util.hash_module``: every
    vertex starts from the MD5 of its ``(out-degree, in-degree, label)`` (labels -1 input,
    -2 output, ``OPS`` index otherwise); ``V`` times, each vertex's hash becomes the MD5 of its
    in-neighbours' hashes (sorted, concatenated), ``|``, its out-neighbours' likewise, ``|``,
    its own; the result is the MD5 of the sorted list of vertex hashes.

    Raises:
      ValueError: when the output is unreachable from the input or an op is unknown.
    """
    pruned = prune(matrix, ops)
    if pruned is None:
        raise ValueError("the cell's output is not reachable from its input")
    m, names = pruned
    labels = [INPUT_LABEL] + [_label(op) for op in names[1:-1]] + [OUTPUT_LABEL]
    return _hash_labelled(m, labels)


def _label(op: str) -> int:
    if op not in _OP_LABEL:
        raise ValueError(f"unknown op {op!r} (known: {', '.join(OPS)})")
    return _OP_LABEL[op]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _hash_labelled(m: np.ndarray, labels: Sequence[int]) -> str:
    v = m.shape[0]
    ins = [[w for w in range(v) if m[w, u]] for u in range(v)]
    outs = [[w for w in range(v) if m[u, w]] for u in range(v)]
    # str() of a tuple of Python ints, e.g. "(2, 0, -1)", as the benchmark hashed it.
    h = [_md5(str((len(outs[u]), len(ins[u]), int(labels[u])))) for u in range(v)]
    for _ in range(v):
        h = [
            _md5(
                "".join(sorted(h[w] for w in ins[u]))
                + "|"
                + "".join(sorted(h[w] for w in outs[u]))
                + "|"
                + h[u]
            )
            for u in range(v)
        ]
    return _md5(str(sorted(h)))


def permute(matrix, ops: Sequence[str], perm: Sequence[int]) -> tuple[np.ndarray, list[str]]:
    """Relabel vertices: vertex ``v`` of the input becomes vertex ``perm[v]`` (for tests; the
    result need not be upper-triangular)."""
    m = _as_matrix(matrix)
    perm = np.asarray(perm)
    inv = np.argsort(perm)
    return m[np.ix_(inv, inv)], [list(ops)[i] for i in inv]


def pad(matrix, ops: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """One cell in the standard padded form: ``(out_bits [7] uint8, labels [7] int8)``."""
    m = _as_matrix(matrix).astype(np.uint8)
    v = m.shape[0]
    if not 2 <= v <= NUM_VERTICES or len(ops) != v:
        raise ValueError(f"cannot pad a cell with {v} vertices and {len(ops)} ops")
    slot = list(range(v - 1)) + [NUM_VERTICES - 1]  # old vertex -> padded vertex
    full = np.zeros((NUM_VERTICES, NUM_VERTICES), np.uint8)
    full[np.ix_(slot, slot)] = m
    labels = np.full(NUM_VERTICES, MISSING, np.int8)
    labels[0] = INPUT_LABEL
    labels[-1] = OUTPUT_LABEL
    for i in range(1, v - 1):
        labels[i] = _label(ops[i])
    return _bits_from_matrix(full[None])[0], labels


def unpad(out_bits, labels) -> tuple[np.ndarray, list[str]]:
    """Inverse of :func:`pad`: the compact ``(matrix, ops)`` of one padded cell."""
    labels = np.asarray(labels)
    full = matrices(np.asarray(out_bits, np.uint8)[None])[0]
    idx = np.flatnonzero(labels != MISSING)
    return full[np.ix_(idx, idx)].astype(np.int8), [_NAME[int(labels[i])] for i in idx]


def mutations(matrix, ops: Sequence[str]) -> list[tuple[np.ndarray, list[str]]]:
    """Every distinct valid cell one edit away from ``(matrix, ops)``, pruned.

    An edit flips one edge between two of the cell's vertices or changes one interior op to
    another op (the mutation of the benchmark's regularized-evolution baseline, Real et al.
    2019, restricted to a single change). Results isomorphic to the cell itself or to each other
    are dropped; so are invalid ones (more than 9 edges, output disconnected).
    """
    m = _as_matrix(matrix).astype(np.int8)
    ops = list(ops)
    v = m.shape[0]
    own = module_hash(m, ops)
    seen = {own}
    out = []
    candidates = []
    for i in range(v):
        for j in range(i + 1, v):
            e = m.copy()
            e[i, j] ^= 1
            candidates.append((e, ops))
    for i in range(1, v - 1):
        for op in OPS:
            if op != ops[i]:
                candidates.append((m, ops[:i] + [op] + ops[i + 1 :]))
    for e, o in candidates:
        pruned = prune(e, o)
        if pruned is None or pruned[0].sum() > MAX_EDGES:
            continue
        h = module_hash(*pruned)
        if h not in seen:
            seen.add(h)
            out.append(pruned)
    return out


def _as_generator(rng) -> np.random.Generator:
    """A NumPy Generator from a Generator, an int seed or a JAX PRNG key."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, jax.Array):
        data = jax.random.key_data(rng) if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key) else rng
        return np.random.default_rng(np.asarray(data, np.uint32).ravel().tolist())
    return np.random.default_rng(rng)


def mutate(matrix, ops: Sequence[str], rng) -> tuple[np.ndarray, list[str]]:
    """One of :func:`mutations`, uniformly at random (``rng``: Generator, seed or JAX key).

    Raises:
      ValueError: when the cell has no valid one-edit mutation.
    """
    options = mutations(matrix, ops)
    if not options:
        raise ValueError("the cell has no valid one-edit mutation")
    return options[int(_as_generator(rng).integers(len(options)))]


def random_cell(rng) -> tuple[np.ndarray, list[str]]:
    """A random valid cell, pruned (``rng``: Generator, seed or JAX key).

    As the benchmark's example notebook samples: each of the 21 edges of a 7-vertex matrix is
    present with probability 1/2 and each interior op is uniform over :data:`OPS`; the cell is
    pruned and redrawn until valid.
    """
    gen = _as_generator(rng)
    while True:
        m = np.triu(gen.integers(0, 2, (NUM_VERTICES, NUM_VERTICES)), 1).astype(np.int8)
        ops = [INPUT] + [OPS[k] for k in gen.integers(0, len(OPS), NUM_VERTICES - 2)] + [OUTPUT]
        pruned = prune(m, ops)
        if pruned is not None and pruned[0].sum() <= MAX_EDGES:
            return pruned


# ------------------------------------------------------------------ many cells (vectorised)

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def _bits_from_matrix(full: np.ndarray) -> np.ndarray:
    """``[N, 7, 7]`` 0/1 -> ``[N, 7]`` uint8 out-edge bitmasks."""
    weights = (1 << np.arange(NUM_VERTICES)).astype(np.uint8)
    return (np.asarray(full, np.uint8) * weights).sum(axis=2, dtype=np.uint8)


def matrices(out_bits: np.ndarray) -> np.ndarray:
    """``[N, 7]`` out-edge bitmasks -> ``[N, 7, 7]`` uint8 adjacency matrices (padded form)."""
    b = np.asarray(out_bits, np.uint8)
    return (b[:, :, None] >> np.arange(NUM_VERTICES, dtype=np.uint8)) & np.uint8(1)


def num_edges(out_bits: np.ndarray) -> np.ndarray:
    """``[N]`` edge counts."""
    return _POPCOUNT[np.asarray(out_bits, np.uint8)].sum(axis=1, dtype=np.int64)


def on_path(out_bits: np.ndarray) -> np.ndarray:
    """``[N]`` uint8 bitmask of the vertices on an input -> output path of every cell."""
    b = np.asarray(out_bits, np.uint8)
    n = b.shape[0]
    fwd = np.ones(n, np.uint8)  # vertex 0
    for v in range(NUM_VERTICES):
        fwd |= np.where((fwd >> v) & 1, b[:, v], 0).astype(np.uint8)
    bwd = np.full(n, 1 << (NUM_VERTICES - 1), np.uint8)
    for v in range(NUM_VERTICES - 2, -1, -1):
        bwd |= ((b[:, v] & bwd) != 0).astype(np.uint8) << v
    return fwd & bwd


def prune_many(out_bits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """Prune many padded cells in place of their positions (vertices are not renumbered).

    Returns:
      ``(out_bits, labels, connected)``: pruned vertices lose their edges and become
      :data:`MISSING`; ``connected [N]`` is False where the output is unreachable.
    """
    b = np.asarray(out_bits, np.uint8)
    keep = on_path(b)
    kept = ((keep[:, None] >> np.arange(NUM_VERTICES, dtype=np.uint8)) & 1).astype(bool)
    b = np.where(kept, b & keep[:, None], 0).astype(np.uint8)
    lab = np.where(kept, labels, MISSING).astype(np.int8)
    return b, lab, (keep >> (NUM_VERTICES - 1)).astype(bool) & (keep & 1).astype(bool)


def compact(out_bits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber the present vertices of pruned cells into the standard padded form."""
    b = np.asarray(out_bits, np.uint8)
    lab = np.asarray(labels, np.int8)
    present = lab != MISSING
    slot = np.cumsum(present, axis=1) - 1  # rank among present vertices
    slot[:, -1] = NUM_VERTICES - 1  # the output always sits at vertex 6
    new_bits = np.zeros_like(b)
    new_lab = np.full_like(lab, MISSING)
    rows = np.arange(b.shape[0])
    for v in range(NUM_VERTICES):
        pv = present[:, v]
        new_lab[rows[pv], slot[pv, v]] = lab[pv, v]
        for w in range(v + 1, NUM_VERTICES):
            e = pv & (((b[:, v] >> w) & 1) == 1)
            new_bits[rows[e], slot[e, v]] |= (1 << slot[e, w]).astype(np.uint8)
    return new_bits, new_lab


def parse_cells(adjacency: Sequence[str], operations: Sequence[str]) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """The benchmark's row strings -> padded ``(out_bits [N, 7], labels [N, 7])``.

    ``adjacency[i]`` is the row-major 0/1 string of a ``V x V`` matrix (``V * V`` characters),
    ``operations[i]`` the comma-separated op names.

    Raises:
      ValueError: naming the first row whose strings are malformed (length not a square of
        2..7, characters other than 0/1, op count != V, unknown op, misplaced input/output).
    """
    n = len(adjacency)
    if len(operations) != n:
        raise ValueError(f"{n} adjacency strings but {len(operations)} op strings")
    out_bits = np.zeros((n, NUM_VERTICES), np.uint8)
    labels = np.full((n, NUM_VERTICES), MISSING, np.int8)
    adj = np.asarray(adjacency, dtype=object)
    lengths = np.fromiter((len(a) for a in adjacency), np.int64, n)
    dims = np.rint(np.sqrt(lengths)).astype(np.int64)
    bad = np.flatnonzero((dims * dims != lengths) | (dims < 2) | (dims > NUM_VERTICES))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"row {i}: an adjacency string of {lengths[i]} characters is not a V x V matrix "
            f"with 2 <= V <= {NUM_VERTICES}"
        )
    weights = (1 << np.arange(NUM_VERTICES)).astype(np.uint8)
    for d in np.unique(dims):
        rows = np.flatnonzero(dims == d)
        text = "".join(adj[rows]).encode("ascii", errors="replace")
        m = np.frombuffer(text, np.uint8).reshape(rows.size, d, d) - np.uint8(ord("0"))
        bad = np.flatnonzero((m > 1).any(axis=(1, 2)))
        if bad.size:
            raise ValueError(
                f"row {int(rows[bad[0]])}: the adjacency string holds characters other than 0/1"
            )
        bad = np.flatnonzero(np.tril(m).any(axis=(1, 2)))
        if bad.size:
            raise ValueError(
                f"row {int(rows[bad[0]])}: the adjacency matrix is not strictly upper-triangular"
            )
        slot = list(range(d - 1)) + [NUM_VERTICES - 1]
        full = np.zeros((rows.size, NUM_VERTICES, NUM_VERTICES), np.uint8)
        full[:, np.asarray(slot)[:, None], np.asarray(slot)[None, :]] = m
        out_bits[rows] = (full * weights).sum(axis=2, dtype=np.uint8)
    # Op strings repeat a lot (at most a few hundred distinct ones): parse each once.
    distinct, inverse = np.unique(np.asarray(operations, dtype=object), return_inverse=True)
    parsed = np.full((distinct.size, NUM_VERTICES), MISSING, np.int8)
    count = np.zeros(distinct.size, np.int64)
    for k, text in enumerate(distinct):
        names = str(text).split(",")
        count[k] = len(names)
        if names[0] != INPUT or names[-1] != OUTPUT or len(names) < 2:
            parsed[k, 0] = 99  # flagged below
            continue
        try:
            parsed[k, : len(names) - 1] = [INPUT_LABEL] + [_label(o) for o in names[1:-1]]
        except (ValueError, IndexError):
            parsed[k, 0] = 99
            continue
        parsed[k, -1] = OUTPUT_LABEL
    labels[:] = parsed[inverse]
    bad = np.flatnonzero((count[inverse] != dims) | (labels[:, 0] == 99))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"row {i}: malformed operations {operations[i]!r} for a {dims[i]}-vertex matrix "
            f"(expected {dims[i]} comma-separated ops, {INPUT!r} first, {OUTPUT!r} last, "
            f"others from {', '.join(OPS)})"
        )
    return out_bits, labels


def check_many(out_bits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Rows of padded cells that are not valid, pruned cells, and the reason for each."""
    b = np.asarray(out_bits, np.uint8)
    lab = np.asarray(labels)
    present = (lab != MISSING).astype(np.uint8)
    present_bits = (present * (1 << np.arange(NUM_VERTICES))).sum(axis=1).astype(np.uint8)
    too_many = num_edges(b) > MAX_EDGES
    dangling = on_path(b) != present_bits
    bad = np.flatnonzero(too_many | dangling)
    reach = on_path(b)
    reasons = [
        f"{int(num_edges(b[i : i + 1])[0])} edges (at most {MAX_EDGES})"
        if too_many[i]
        else "the output is not reachable from the input"
        if not reach[i] >> (NUM_VERTICES - 1) & 1
        else "a vertex is not on an input -> output path"
        for i in bad
    ]
    return bad, reasons


# ------------------------------------------------------------ isomorphism keys (vectorised)

_LANE_SEEDS = (0x9E3779B9, 0x7F4A7C15)


def _fmix(h):
    """MurmurHash3's 32-bit finaliser (a bijection with good avalanche)."""
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


@jax.jit
def _wl_lanes(out_bits: jax.Array, labels: jax.Array) -> jax.Array:
    """``[M, 7]`` bitmasks and labels -> ``[M, 2]`` uint32 (two independent 32-bit lanes)."""
    w = jnp.arange(NUM_VERTICES, dtype=jnp.uint32)
    adj = (out_bits.astype(jnp.uint32)[:, :, None] >> w) & 1  # adj[m, v, u]: edge v -> u
    present = labels != MISSING
    rounds = present.sum(axis=1)  # the benchmark iterates once per vertex
    outdeg = adj.sum(axis=2)
    indeg = adj.sum(axis=1)
    seed = jnp.asarray(_LANE_SEEDS, jnp.uint32)
    lab = (labels.astype(jnp.int32) + 8).astype(jnp.uint32)
    base = outdeg * jnp.uint32(0x01000193) + indeg * jnp.uint32(0x27D4EB2F) + lab * jnp.uint32(
        0x165667B1
    )
    h = _fmix(base[:, :, None] ^ seed)  # [M, 7, 2]
    adjl = adj[:, :, :, None]

    def body(r, h):
        g_in = _fmix(h ^ jnp.uint32(0x68E31DA4))
        g_out = _fmix(h ^ jnp.uint32(0xB5297A4D))
        s_in = (adjl * g_in[:, :, None, :]).sum(axis=1)  # over in-neighbours v of u
        s_out = (adjl * g_out[:, None, :, :]).sum(axis=2)  # over out-neighbours u of v
        new = _fmix(_fmix(s_in + jnp.uint32(0x1B873593)) ^ (_fmix(s_out) * jnp.uint32(3)) ^ h)
        return jnp.where((r < rounds)[:, None, None], new, h)

    h = jax.lax.fori_loop(0, NUM_VERTICES, body, h)
    total = jnp.where(present[:, :, None], _fmix(h ^ jnp.uint32(0x2545F491)), 0).sum(axis=1)
    return _fmix(total ^ (rounds.astype(jnp.uint32)[:, None] * jnp.uint32(0x61C88647)))


_KEY_CHUNK = 1 << 18


def wl_keys(out_bits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``[N]`` uint64 isomorphism-invariant keys of pruned padded cells.

    The same Weisfeiler-Lehman refinement as :func:`module_hash` (start from (out-degree,
    in-degree, label), refine ``V`` times from the in-neighbour multiset, the out-neighbour
    multiset and the vertex itself, then take the multiset of vertex values) with 64-bit
    integer hashing instead of MD5 strings, compiled with JAX: it partitions cells as the
    benchmark's hash does (up to a ~2**-64 chance of a collision per pair), millions of cells
    per second. Missing vertices are ignored.
    """
    b = np.asarray(out_bits, np.uint8)
    lab = np.asarray(labels, np.int8)
    n = b.shape[0]
    out = np.empty((n, 2), np.uint32)
    # Power-of-two chunk sizes: a handful of compiled shapes whatever the table size.
    chunk = min(_KEY_CHUNK, 1 << max(8, int(np.ceil(np.log2(max(n, 1))))))
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        pb = np.zeros((chunk, NUM_VERTICES), np.uint8)
        pl = np.full((chunk, NUM_VERTICES), MISSING, np.int8)
        pb[: hi - lo] = b[lo:hi]
        pl[: hi - lo] = lab[lo:hi]
        out[lo:hi] = np.asarray(_wl_lanes(pb, pl))[: hi - lo]
    return (out[:, 0].astype(np.uint64) << np.uint64(32)) | out[:, 1].astype(np.uint64)


# --------------------------------------------------------------------------- neighbours


def neighbors(out_bits: np.ndarray, labels: np.ndarray, keys: np.ndarray | None = None) -> (
    np.ndarray
):
    """Every row's one-edit mutations (see :func:`mutations`) that are rows of the table.

    Args:
      out_bits, labels: ``[N, 7]`` pruned cells in padded form (the table).
      keys: their :func:`wl_keys`, if already computed.

    Returns:
      ``[N, K]`` int32 row indices, ascending, ``-1`` padded; ``K`` is the largest count (at
      most 31: 21 edge flips and 10 op changes). A mutation that is invalid, isomorphic to the
      row itself or absent from the table is left out; two edits reaching the same row count
      once.
    """
    b = np.asarray(out_bits, np.uint8)
    lab = np.asarray(labels, np.int8)
    n = b.shape[0]
    if keys is None:
        keys = wl_keys(b, lab)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    present = lab != MISSING
    edits = _edit_list()
    cols = []
    for lo in range(0, n, max(1, _KEY_CHUNK // len(edits))):
        hi = min(n, lo + max(1, _KEY_CHUNK // len(edits)))
        cols.append(_neighbor_block(b[lo:hi], lab[lo:hi], present[lo:hi], edits, sorted_keys,
                                    order, np.arange(lo, hi)))
    nb = np.concatenate(cols, axis=0) if cols else np.zeros((0, len(edits)), np.int64)
    return _pack_rows(nb)


def _edit_list() -> list[tuple[str, int, int]]:
    """The 31 edits of a padded cell: ("edge", i, j) flips and ("op", v, new_label) changes."""
    edits = [("edge", i, j) for i, j in EDGES]
    edits += [("op", v, k) for v in range(1, NUM_VERTICES - 1) for k in range(len(OPS))]
    return edits


def _neighbor_block(b, lab, present, edits, sorted_keys, order, rows) -> np.ndarray:
    """``[n, E]`` int64 table rows (or -1) of every edit of a block of rows."""
    n = b.shape[0]
    mb = np.repeat(b[:, None, :], len(edits), axis=1)  # [n, E, 7]
    ml = np.repeat(lab[:, None, :], len(edits), axis=1)
    applicable = np.zeros((n, len(edits)), bool)
    for e, (kind, x, y) in enumerate(edits):
        if kind == "edge":
            applicable[:, e] = present[:, x] & present[:, y]
            mb[:, e, x] ^= np.uint8(1 << y)
        else:
            applicable[:, e] = present[:, x] & (lab[:, x] != y)
            ml[:, e, x] = y
    flat_b = mb.reshape(-1, NUM_VERTICES)[applicable.reshape(-1)]
    flat_l = ml.reshape(-1, NUM_VERTICES)[applicable.reshape(-1)]
    pb, pl, connected = prune_many(flat_b, flat_l)
    valid = connected & (num_edges(pb) <= MAX_EDGES)
    found = np.full(flat_b.shape[0], -1, np.int64)
    if valid.any():
        k = wl_keys(pb[valid], pl[valid])
        pos = np.minimum(np.searchsorted(sorted_keys, k), sorted_keys.size - 1)
        hit = sorted_keys[pos] == k
        found[np.flatnonzero(valid)] = np.where(hit, order[pos], -1)
    out = np.full((n, len(edits)), -1, np.int64)
    out[applicable] = found
    out[out == rows[:, None]] = -1  # the row itself (e.g. an isomorphic relabelling)
    return out


def _pack_rows(nb: np.ndarray) -> np.ndarray:
    """Sort each row, drop repeats and -1s to the end, trim to the widest row."""
    if nb.size == 0:
        return np.zeros((nb.shape[0], 0), np.int32)
    big = np.iinfo(np.int64).max
    s = np.sort(np.where(nb < 0, big, nb), axis=1)
    dup = np.zeros_like(s, bool)
    dup[:, 1:] = s[:, 1:] == s[:, :-1]
    s = np.sort(np.where(dup, big, s), axis=1)
    width = int((s != big).sum(axis=1).max(initial=0))
    s = s[:, :width]
    return np.where(s == big, -1, s).astype(np.int32)


def random_cells(num: int, rng, *, edge_prob: float = 0.3, max_draws: int = 50_000_000) -> (
    tuple[np.ndarray, np.ndarray]
):
    """Up to ``num`` distinct (non-isomorphic) random valid cells in padded form, vectorised.

    Edges are drawn independently with ``edge_prob`` (lower than :func:`random_cell`'s 1/2 so
    that most draws have at most 9 edges), ops uniformly; cells are pruned, compacted and
    deduplicated by :func:`wl_keys`. Stops after ``max_draws`` draws even if fewer than ``num``
    distinct cells were found (the space holds 423,624).

    Returns:
      ``(out_bits [n, 7], labels [n, 7])`` with ``n <= num``, in order of discovery.
    """
    gen = _as_generator(rng)
    batch = 1 << 18
    iu = np.triu_indices(NUM_VERTICES, 1)
    seen = np.zeros(0, np.uint64)
    bits_out, labels_out = [], []
    count = draws = 0
    while count < num and draws < max_draws:
        full = np.zeros((batch, NUM_VERTICES, NUM_VERTICES), np.uint8)
        full[:, iu[0], iu[1]] = gen.random((batch, len(EDGES))) < edge_prob
        lab = np.empty((batch, NUM_VERTICES), np.int8)
        lab[:, 0] = INPUT_LABEL
        lab[:, -1] = OUTPUT_LABEL
        lab[:, 1:-1] = gen.integers(0, len(OPS), (batch, NUM_VERTICES - 2))
        draws += batch
        b, lab, ok = prune_many(_bits_from_matrix(full), lab)
        ok &= num_edges(b) <= MAX_EDGES
        b, lab = compact(b[ok], lab[ok])
        keys = wl_keys(b, lab)
        _, first = np.unique(keys, return_index=True)
        first = np.sort(first)
        first = first[~np.isin(keys[first], seen)][: num - count]
        seen = np.union1d(seen, keys[first])
        bits_out.append(b[first])
        labels_out.append(lab[first])
        count += first.size
    if not bits_out:
        return np.zeros((0, NUM_VERTICES), np.uint8), np.zeros((0, NUM_VERTICES), np.int8)
    return np.concatenate(bits_out), np.concatenate(labels_out)


def enumerate_cells() -> tuple[np.ndarray, np.ndarray]:
    """Every valid cell of the space once (one representative per isomorphism class).

    All 2**21 upper-triangular 7-vertex matrices are pruned and deduplicated as unlabelled
    graphs, then every shape gets all ``3**(V-2)`` op labellings, deduplicated by
    :func:`wl_keys`. The benchmark reports 423,624 classes (Ying et al. 2019, Sec. 2.2), which
    this reproduces when the keys partition cells as the benchmark's hash does. Takes several
    seconds; for synthetic files and checks.

    Returns:
      ``(out_bits [N, 7], labels [N, 7])``, sorted by key.
    """
    codes = np.arange(1 << len(EDGES), dtype=np.int64)
    bits = np.zeros((codes.size, NUM_VERTICES), np.uint8)
    for e, (i, j) in enumerate(EDGES):
        bits[:, i] |= (((codes >> e) & 1) << j).astype(np.uint8)
    lab = np.zeros((codes.size, NUM_VERTICES), np.int8)
    lab[:, 0] = INPUT_LABEL
    lab[:, -1] = OUTPUT_LABEL
    bits, lab, ok = prune_many(bits, lab)
    ok &= num_edges(bits) <= MAX_EDGES
    bits, lab = compact(bits[ok], lab[ok])
    _, first = np.unique(wl_keys(bits, lab), return_index=True)
    shapes, shape_labels = bits[first], lab[first]
    interior = (shape_labels[:, 1:-1] != MISSING).sum(axis=1)
    all_bits, all_labels = [], []
    for k in np.unique(interior):
        rows = np.flatnonzero(interior == k)
        combos = list(itertools.product(range(len(OPS)), repeat=int(k)))  # 3**k tuples
        combos = np.array(combos, np.int8).reshape(len(combos), int(k))
        b = np.repeat(shapes[rows], combos.shape[0], axis=0)
        lab_k = np.repeat(shape_labels[rows], combos.shape[0], axis=0)
        lab_k[:, 1 : 1 + int(k)] = np.tile(combos, (rows.size, 1))
        all_bits.append(b)
        all_labels.append(lab_k)
    bits = np.concatenate(all_bits)
    lab = np.concatenate(all_labels)
    keys = wl_keys(bits, lab)
    _, first = np.unique(keys, return_index=True)
    return bits[first], lab[first]


def strings(out_bits: np.ndarray, labels: np.ndarray) -> tuple[list[str], list[str]]:
    """Padded cells -> the benchmark's ``(raw_adjacency, raw_operations)`` row strings."""
    adj, ops = [], []
    for b, lab in zip(np.asarray(out_bits), np.asarray(labels), strict=True):
        m, names = unpad(b, lab)
        adj.append("".join("1" if x else "0" for x in m.reshape(-1)))
        ops.append(",".join(names))
    return adj, ops


# ---------------------------------------------------------------------------- encodings

# LaNAS's node codes: input -1, output +1, missing 0, each op a fraction in between.
_LANAS_CODE = {INPUT_LABEL: -1.0, OUTPUT_LABEL: 1.0, MISSING: 0.0, 0: 0.25, 1: 0.5, 2: 0.75}
# VAENAS lists its ops as {conv1x1, conv3x3, maxpool}: codes 1/3, 2/3, 1; a missing vertex 0.
_VAENAS_CODE = {INPUT_LABEL: 0.0, OUTPUT_LABEL: 0.0, MISSING: 0.0, 1: 1 / 3, 0: 2 / 3, 2: 1.0}
# AlphaX's meta-DNN node codes: input 2, conv1x1 3, maxpool 4, conv3x3 5, output 6, padding 9.
_ALPHAX_CODE = {INPUT_LABEL: 2.0, 1: 3.0, 2: 4.0, 0: 5.0, OUTPUT_LABEL: 6.0, MISSING: 9.0}


def _codes(labels: np.ndarray, table: dict[int, float]) -> np.ndarray:
    lut = np.zeros(16, np.float32)
    for label, code in table.items():
        lut[label + 8] = code
    return lut[np.asarray(labels, np.int64) + 8]


def encode(out_bits: np.ndarray, labels: np.ndarray, encoding: str = "lanas49") -> np.ndarray:
    """``[N, D]`` float32 features of padded cells.

    * ``lanas49`` (LaNAS, Wang et al. 2019/2021, its NAS-Bench-101 runs): the first 6 rows of the
      padded 7x7 adjacency matrix (42 entries, row-major; the output row is always 0 and left
      out), then 7 node codes: input -1, output +1, missing 0, and the ops as fractions in
      between (conv3x3 0.25, conv1x1 0.5, maxpool 0.75: LaNAS's preprocessed file is not in its
      repository, so the exact fractions are this project's choice).
    * ``vaenas26`` (VAENAS, Appendix A.5): the 21 upper-triangular edge bits (row-major pairs
      ``(i, j)``, ``i < j``, as :data:`EDGES`) then the ops of the 5 interior vertices, coded
      in VAENAS's listed order conv1x1 1/3, conv3x3 2/3, maxpool 1, and 0 for a missing vertex.
    * ``onehot56`` (the 56-d input of AlphaX's meta-DNN, Wang et al. 2019, which LaNAS's MCTS
      baseline uses): the full padded 7x7 adjacency (49 0/1 entries, row-major) then 7 integer
      node codes input 2, conv1x1 3, maxpool 4, conv3x3 5, output 6, missing 9. Only the 49
      edge entries are one-hot; AlphaX flattened the unpadded matrix and zero-filled its tail
      and dropped a 7-vertex cell's output code, quirks not reproduced here.

    Raises:
      ValueError: for an unknown encoding name.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown NB101 encoding {encoding!r}; choose from {sorted(ENCODINGS)}")
    adj = matrices(out_bits).astype(np.float32)
    n = adj.shape[0]
    if encoding == "lanas49":
        feats = [adj[:, : NUM_VERTICES - 1, :].reshape(n, -1), _codes(labels, _LANAS_CODE)]
    elif encoding == "vaenas26":
        iu = np.triu_indices(NUM_VERTICES, 1)
        feats = [adj[:, iu[0], iu[1]], _codes(labels, _VAENAS_CODE)[:, 1:-1]]
    else:
        feats = [adj.reshape(n, -1), _codes(labels, _ALPHAX_CODE)]
    return np.concatenate(feats, axis=1).astype(np.float32)


# -------------------------------------------------------------------------------- space


@dataclasses.dataclass(frozen=True)
class Nb101Space:
    """The cells of an NB101 table as a benchmark's static metadata (prints row ``index``).

    Holds the module hashes and padded cells as immutable ``bytes`` so that hashing (cached by
    Python) and equality stay cheap as a static field of the jitted benchmark pytree.
    """

    hashes_bytes: bytes = dataclasses.field(repr=False)
    bits_bytes: bytes = dataclasses.field(repr=False)
    labels_bytes: bytes = dataclasses.field(repr=False)

    @classmethod
    def from_arrays(cls, hashes: np.ndarray, out_bits: np.ndarray, labels: np.ndarray) -> (
        Nb101Space
    ):
        """From ``[N]`` 32-character hashes and ``[N, 7]`` padded cells."""
        h = np.asarray(hashes, "S32")
        return cls(
            np.ascontiguousarray(h).tobytes(),
            np.ascontiguousarray(out_bits, np.uint8).tobytes(),
            np.ascontiguousarray(labels, np.int8).tobytes(),
        )

    def __len__(self) -> int:
        return len(self.hashes_bytes) // 32

    def hash(self, index: int) -> str:
        """The module hash of row ``index``."""
        i = self._check(index)
        return self.hashes_bytes[32 * i : 32 * (i + 1)].decode("ascii")

    def cell(self, index: int) -> tuple[np.ndarray, list[str]]:
        """The compact ``(matrix, ops)`` of row ``index``."""
        i = self._check(index)
        bits = np.frombuffer(self.bits_bytes, np.uint8, NUM_VERTICES, NUM_VERTICES * i)
        labels = np.frombuffer(self.labels_bytes, np.int8, NUM_VERTICES, NUM_VERTICES * i)
        return unpad(bits, labels)

    def describe(self, index: int) -> str:
        """``<hash> ops=input,...,output edges=0>1,0>2,...``."""
        m, ops = self.cell(index)
        edges = ",".join(f"{i}>{j}" for i, j in zip(*np.nonzero(m), strict=True))
        return f"{self.hash(index)} ops={','.join(ops)} edges={edges}"

    def _check(self, index: int) -> int:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"NB101 row {index} out of range [0, {len(self)})")
        return index
