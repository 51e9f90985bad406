"""One NAS-Bench-101 cell on the host: validity, pruning, the isomorphism hash, padding,
one-edit mutations and random cells (see :mod:`lanas_jax.spaces.nb101`)."""

from __future__ import annotations

import hashlib
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


def _bits_from_matrix(full: np.ndarray) -> np.ndarray:
    """``[N, 7, 7]`` 0/1 -> ``[N, 7]`` uint8 out-edge bitmasks."""
    weights = (1 << np.arange(NUM_VERTICES)).astype(np.uint8)
    return (np.asarray(full, np.uint8) * weights).sum(axis=2, dtype=np.uint8)


def matrices(out_bits: np.ndarray) -> np.ndarray:
    """``[N, 7]`` out-edge bitmasks -> ``[N, 7, 7]`` uint8 adjacency matrices (padded form)."""
    b = np.asarray(out_bits, np.uint8)
    return (b[:, :, None] >> np.arange(NUM_VERTICES, dtype=np.uint8)) & np.uint8(1)
