"""Many NAS-Bench-101 cells as padded arrays: adjacency, validity, pruning, parsing of the
benchmark's row strings, and vectorised isomorphism keys (see :mod:`lanas_jax.spaces.nb101`)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces.nb101.cell import (
    INPUT,
    INPUT_LABEL,
    MAX_EDGES,
    MISSING,
    NUM_VERTICES,
    OPS,
    OUTPUT,
    OUTPUT_LABEL,
    _label,
)

# ------------------------------------------------------------------ many cells (vectorised)

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


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


