"""One-edit neighbours of padded NAS-Bench-101 cells, random valid cells, the enumeration of
the whole space and the row strings (see :mod:`lanas_jax.spaces.nb101`)."""

from __future__ import annotations

import itertools

import numpy as np

from lanas_jax.spaces.nb101.cell import (
    EDGES,
    INPUT_LABEL,
    MAX_EDGES,
    MISSING,
    NUM_VERTICES,
    OPS,
    OUTPUT_LABEL,
    _as_generator,
    _bits_from_matrix,
    unpad,
)
from lanas_jax.spaces.nb101.many import (
    _KEY_CHUNK,
    compact,
    num_edges,
    prune_many,
    wl_keys,
)

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


