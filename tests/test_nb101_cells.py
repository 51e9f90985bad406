"""NAS-Bench-101 cells: validity, pruning, the benchmark's module hash, isomorphism keys,
enumeration, random cells and mutations, padding and encodings."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from nb101_files import C1, C3, IN, INCEPTION, MP, OUT, SMALL

from lanas_jax.spaces import nb101 as sp


def test_validity_reasons():
    assert sp.is_valid(*INCEPTION) and sp.is_valid(*SMALL)
    m, ops = SMALL
    assert "output" in sp.check_cell(np.zeros((5, 5), int), ops)
    dangling = m.copy()
    dangling[3, 4] = 0  # vertex 3 no longer reaches the output; 1 and 2 only lead to 3
    assert "not on an input -> output path" in sp.check_cell(dangling, ops)
    assert "upper-triangular" in sp.check_cell(m.T, ops)
    assert "edges" in sp.check_cell(np.triu(np.ones((7, 7), int), 1), [IN] + [C3] * 5 + [OUT])
    assert "vertices" in sp.check_cell(np.zeros((8, 8), int), [IN] + [C3] * 6 + [OUT])
    assert "unknown op" in sp.check_cell(m, [IN, C3, "conv5x5", MP, OUT])
    assert "first op" in sp.check_cell(m, [C3, C3, C1, MP, OUT])


def test_pruning_drops_dangling_vertices():
    m = np.zeros((6, 6), int)
    m[0, 1] = m[1, 5] = 1  # the only path: 0 -> 1 -> 5
    m[0, 2] = 1  # 2 never reaches the output
    m[3, 4] = m[4, 5] = 1  # 3 and 4 are not reachable from the input
    pm, pops = sp.prune(m, [IN, C3, C1, MP, C3, OUT])
    assert pm.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]] and pops == [IN, C3, OUT]
    assert sp.module_hash(m, [IN, C3, C1, MP, C3, OUT]) == sp.module_hash(pm, pops)
    assert sp.prune(np.zeros((3, 3), int), [IN, C3, OUT]) is None


def test_hash_follows_the_benchmark_cases():
    """Equal and unequal pairs from the benchmark's own graph_util tests (labels as ints)."""
    h = sp.cell._hash_labelled
    diamond = np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    assert h(diamond, [-1, 1, 2, -2]) == h(diamond, [-1, 2, 1, -2])
    a = np.array([[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0] * 5])
    b = np.array([[0, 1, 0, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0] * 5])
    assert h(a, [-1, 1, 2, 3, -2]) == h(b, [-1, 2, 3, 1, -2])
    assert h(a, [-1, 2, 3, 1, -2]) != h(a, [-1, 1, 2, 3, -2])
    chain = np.eye(5, k=1, dtype=int)
    assert h(chain, [-1, 1, 0, 0, -2]) != h(chain, [-1, 0, 0, 1, -2])  # needs the vertex itself
    skip = np.array([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
    assert h(skip, [-1, 1, 0, -2]) != h(skip, [-1, 0, 1, -2])  # needs edge directions
    # The digest format: MD5 hex of the sorted vertex digests.
    assert len(sp.module_hash(*INCEPTION)) == 32


def test_hash_and_keys_are_invariant_under_vertex_permutations():
    rng = np.random.default_rng(2)
    for _ in range(20):
        m, ops = sp.random_cell(rng)
        v = len(ops)
        labels = [-1] + [sp.OPS.index(o) for o in ops[1:-1]] + [-2]
        perm = rng.permutation(v)
        pm, pops = sp.permute(m, ops, perm)
        plabels = [labels[i] for i in np.argsort(perm)]
        assert [sp.cell._NAME[x] for x in plabels] == pops
        assert sp.cell._hash_labelled(pm, plabels) == sp.module_hash(m, ops)


def test_keys_partition_cells_like_the_benchmark_hash():
    bits, labels = sp.random_cells(400, 3)
    cells = [sp.unpad(b, lab) for b, lab in zip(bits, labels, strict=True)]
    hashes = [sp.module_hash(*c) for c in cells]
    keys = sp.wl_keys(bits, labels)
    assert len(set(hashes)) == len(hashes) == len(set(keys.tolist()))  # random_cells dedupes
    # An isomorphic relabelling that stays upper-triangular (vertices 1 and 2 swapped) keeps
    # both the hash and the key.
    m, ops = INCEPTION
    swapped = m[np.ix_([0, 2, 1, 3, 4, 5, 6], [0, 2, 1, 3, 4, 5, 6])]
    sops = [ops[i] for i in (0, 2, 1, 3, 4, 5, 6)]
    assert sp.module_hash(swapped, sops) == sp.module_hash(m, ops)
    k1 = sp.wl_keys(*[x[None] for x in sp.pad(m, ops)])
    k2 = sp.wl_keys(*[x[None] for x in sp.pad(swapped, sops)])
    assert k1[0] == k2[0]


def test_enumeration_finds_the_published_number_of_cells():
    """423,624 unique cells (Ying et al. 2019): the keys split the space as the hash does."""
    bits, labels = sp.enumerate_cells()
    assert bits.shape == (423_624, 7)
    counts = np.bincount((labels != sp.MISSING).sum(axis=1), minlength=8)
    assert counts.tolist() == [0, 0, 1, 6, 84, 2441, 62010, 359082]


def test_random_cells_and_mutations():
    a = sp.random_cell(7)
    assert sp.is_valid(*a)
    b = sp.random_cell(np.random.default_rng(7))
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]  # an int seeds a default_rng
    c = sp.random_cell(jax.random.key(0))
    assert sp.is_valid(*c)
    own = sp.module_hash(*SMALL)
    muts = sp.mutations(*SMALL)
    hashes = [sp.module_hash(*x) for x in muts]
    assert own not in hashes and len(set(hashes)) == len(hashes)
    assert all(sp.is_valid(*x) for x in muts)
    # A 5-vertex cell: flips of its 10 vertex pairs and 2 other ops at each of 3 vertices.
    assert 0 < len(muts) <= 10 + 6
    m2 = sp.mutate(*SMALL, rng=0)
    assert sp.module_hash(*m2) in hashes


def test_padding_is_the_standard_one():
    bits, labels = sp.pad(*SMALL)
    full = sp.matrices(bits[None])[0]
    # Vertices 0..3 stay, the output moves to vertex 6, vertices 4 and 5 are missing.
    assert labels.tolist() == [-1, 0, 1, 2, sp.MISSING, sp.MISSING, -2]
    assert full[0].tolist() == [0, 1, 1, 0, 0, 0, 1]
    assert full[3].tolist() == [0, 0, 0, 0, 0, 0, 1]
    assert not full[4:6].any()
    back = sp.unpad(bits, labels)
    assert np.array_equal(back[0], SMALL[0]) and back[1] == SMALL[1]


def test_encodings():
    bits, labels = sp.pad(*SMALL)
    b, lab = bits[None], labels[None]
    full = sp.matrices(b)[0].astype(np.float32)
    lanas = sp.encode(b, lab, "lanas49")[0]
    assert lanas.shape == (49,)
    assert np.array_equal(lanas[:42], full[:6].reshape(-1))
    assert lanas[42:].tolist() == [-1.0, 0.25, 0.5, 0.75, 0.0, 0.0, 1.0]
    vae = sp.encode(b, lab, "vaenas26")[0]
    iu = np.triu_indices(7, 1)
    assert vae.shape == (26,) and np.array_equal(vae[:21], full[iu])
    assert np.allclose(vae[21:], [2 / 3, 1 / 3, 1.0, 0.0, 0.0])
    one = sp.encode(b, lab, "onehot56")[0]
    assert one.shape == (56,) and np.array_equal(one[:49], full.reshape(-1))
    assert one[49:].tolist() == [2.0, 5.0, 3.0, 4.0, 9.0, 9.0, 6.0]
    with pytest.raises(ValueError, match="unknown NB101 encoding"):
        sp.encode(b, lab, "nope")
