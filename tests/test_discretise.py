"""Discretising relaxed points to NAS-Bench-101 and NASNet cells (seed 000 Sec. 3.2, 4.3)."""

import itertools

import numpy as np

from lanas_jax.spaces import nasnet, nb101
from lanas_jax.spaces.discretise_nb101 import nb101_discretise, nb101_encode


def _padded(rng, num):
    cells = [nb101.pad(*nb101.random_cell(rng)) for _ in range(num)]
    return np.stack([c[0] for c in cells]), np.stack([c[1] for c in cells])


def test_nb101_round_trip_of_valid_cells():
    bits, labels = _padded(np.random.default_rng(0), 40)
    code = nb101.encode(bits, labels, "vaenas26")
    noise = np.random.default_rng(1).uniform(-0.12, 0.12, code.shape)
    cell = nb101_discretise(np.clip(code + noise, 0, 1))
    assert np.all(cell.valid) and not np.any(cell.repaired)
    np.testing.assert_array_equal(np.asarray(cell.adjacency), nb101.matrices(bits))
    np.testing.assert_array_equal(np.asarray(cell.labels), labels)
    np.testing.assert_allclose(np.asarray(nb101_encode(cell)), code, atol=1e-6)


def test_nb101_uniform_points_are_valid_or_counted_as_rejected():
    x = np.random.default_rng(2).uniform(size=(500, 26)).astype(np.float32)
    cell = nb101_discretise(x)
    valid, repaired = np.asarray(cell.valid), np.asarray(cell.repaired)
    assert 0 < valid.sum() < len(x) and repaired.sum() > 0  # both rules fire on uniform points
    adj, lab = np.asarray(cell.adjacency), np.asarray(cell.labels)
    for i in range(len(x)):
        if valid[i]:
            matrix, ops = _compact(adj[i], lab[i])
            assert nb101.check_cell(matrix, ops) is None, (i, nb101.check_cell(matrix, ops))
        else:
            # Rejected: no input -> output path is left (pruning removed every edge).
            assert adj[i].sum() == 0


def _compact(adj, labels):
    keep = np.flatnonzero(labels != nb101.MISSING)
    names = {nb101.INPUT_LABEL: nb101.INPUT, nb101.OUTPUT_LABEL: nb101.OUTPUT}
    ops = [names.get(int(labels[k]), nb101.OPS[int(labels[k])] if labels[k] >= 0 else "?")
           for k in keep]
    return adj[np.ix_(keep, keep)], ops


def test_nb101_repair_keeps_the_nine_strongest_edges():
    strong = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (4, 5), (5, 6), (1, 6), (0, 6)]
    pairs = list(zip(*np.triu_indices(7, 1), strict=True))
    x = np.full(26, 0.6, np.float32)  # every edge on: 21 > 9
    for e in strong:
        x[pairs.index(e)] = 0.9
    x[21:] = 2 / 3  # all five interior vertices conv3x3
    cell = nb101_discretise(x[None])
    assert bool(cell.repaired[0]) and bool(cell.valid[0])
    adj = np.asarray(cell.adjacency[0])
    assert {(int(i), int(j)) for i, j in zip(*np.nonzero(adj), strict=True)} == set(strong)
    # A cell whose strongest edges miss the input is rejected, not silently returned.
    y = np.full(26, 0.6, np.float32)
    y[15:21] = 0.9  # the last 6 pairs, none from vertex 0
    y[:6] = 0.55
    y[21:] = 2 / 3
    bad = nb101_discretise(y[None])
    assert bool(bad.repaired[0]) and not bool(bad.valid[0])


def test_nasnet_size_formula_matches_enumeration_and_is_reported_against_the_paper():
    # Enumerate a 2-block cell: every (input, op) per branch, counting networks up to the swap.
    blocks = 2
    choices = [[(i, o) for i in range(b + 2) for o in range(nasnet.NUM_OPS)] for b in range(blocks)]
    ordered = unordered = 1
    for c in choices:
        pairs = list(itertools.product(c, c))
        ordered *= len(pairs)
        unordered *= len({tuple(sorted(p)) for p in pairs})
    assert nasnet.space_size(blocks, ordered=True) == ordered
    assert nasnet.space_size(blocks) == unordered
    assert nasnet.space_size(ordered=True) == 556_627_761_561_600
    assert nasnet.space_size() == 20_773_767_168_000  # 2.08e13 vs the paper's 4.36e13


def test_nasnet_discretisation_round_trips_and_is_canonical():
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(64, nasnet.FEATURE_DIM)).astype(np.float32)
    cells = np.asarray(nasnet.nasnet_cells(x))
    assert cells.shape == (64, 5, 2, 2)
    for b in range(5):
        assert cells[:, b, :, 0].max() <= b + 1 and cells[:, b, :, 1].max() < nasnet.NUM_OPS
    back = np.asarray(nasnet.nasnet_cells(nasnet.nasnet_encode(cells)))
    np.testing.assert_array_equal(back, cells)
    canon = np.asarray(nasnet.canonical(cells))
    np.testing.assert_array_equal(np.asarray(nasnet.canonical(canon[:, :, ::-1])), canon)
    assert "sep_conv" in nasnet.describe(cells[0]) or "pool" in nasnet.describe(cells[0])
