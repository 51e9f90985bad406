"""Behaviour of the embedded NAS-Bench-201 tables, the NB201 space and user .npz tables."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

from lanas_jax.benchmarks import (
    EMBEDDED,
    BenchmarkError,
    list_benchmarks,
    load_benchmark,
    load_nb201,
    load_npz,
)
from lanas_jax.benchmarks.neighbors import nearest_neighbors
from lanas_jax.spaces import nb201

C10_VAL_OPT = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)
# The two cells tied at the CIFAR-10 test maximum (94.3733): the validation optimum and the
# cell with its last two ops swapped (NATS-Bench indices 6111 and 13714).
C10_TEST_OPTS = {
    C10_VAL_OPT,
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
}


def _ops(bench) -> np.ndarray:
    return bench.space.ops.astype(np.int64)


# ---------------------------------------------------------------- embedded NAS-Bench-201


@pytest.mark.parametrize(
    "name, test_max",
    [("nb201_cifar10", 0.943733), ("nb201_cifar100", 0.735133), ("nb201_imagenet16", 0.473111)],
)
def test_nb201_tables(name, test_max):
    b = load_benchmark(name)
    assert b.name == name and b.size == 15625 and b.dim == 30 and b.has_test
    assert b.neighbors.shape == (15625, 24)
    m, t = np.asarray(b.metric), np.asarray(b.test_metric)
    assert 0 < m.min() and m.max() < 1 and 0 < t.min() and t.max() < 1  # fractions, not percent
    assert t.max() == pytest.approx(test_max, abs=1e-6)
    assert load_benchmark(name) is b  # cached: same object, same jit cache entries


def test_cifar10_validation_optimum_is_unique_cell():
    b = load_nb201("cifar10")
    assert b.optimum == pytest.approx(0.916067, abs=1e-6)
    (idx,) = b.optimum_indices
    assert b.describe(idx) == C10_VAL_OPT
    t = np.asarray(b.test_metric)
    tied = np.flatnonzero(t == t.max())
    assert tied.tolist() == [6111, 13714]
    assert {b.describe(i) for i in tied} == C10_TEST_OPTS


def test_every_row_round_trips_and_covers_the_space():
    b = load_nb201("cifar10")
    ops = _ops(b)
    for i in range(b.size):
        s = b.describe(i)
        assert nb201.parse_arch(s) == tuple(ops[i])
        assert nb201.format_arch(nb201.parse_arch(s)) == s
    assert np.array_equal(np.sort(nb201.codes(ops)), np.arange(5**6))


def test_neighbors_are_the_24_one_edit_mutations():
    b = load_nb201("cifar10")
    ops, nbr = _ops(b), np.asarray(b.neighbors)
    diff = (ops[nbr] != ops[:, None, :]).sum(-1)  # [N, 24] edges that differ
    assert (diff == 1).all()
    assert all(len(set(row)) == 24 for row in nbr[::97].tolist())
    assert (np.sort(nbr, 1)[:, 1:] != np.sort(nbr, 1)[:, :-1]).all()  # 24 distinct per row
    # Mutation is symmetric: i is a neighbor of each of its neighbors.
    assert ((nbr[nbr] == np.arange(b.size)[:, None, None]).sum(-1) == 1).all()


def test_one_hot_features_decode_to_the_ops():
    b = load_nb201("cifar100")
    f = np.asarray(b.features).reshape(b.size, 6, 5)
    assert set(np.unique(f)) == {0.0, 1.0} and (f.sum(-1) == 1).all()
    assert np.array_equal(f.argmax(-1), _ops(b))
    assert nb201.one_hot(np.array([[0, 1, 2, 3, 4, 0]])).nonzero()[1].tolist() == [
        0,
        6,
        12,
        18,
        24,
        25,
    ]


def test_benchmark_passes_through_jit_with_the_space_static():
    b = load_nb201("cifar10")
    assert hash(b.space) == hash(load_nb201("imagenet16").space)
    traces = []

    @jax.jit
    def best(bench):
        traces.append(1)  # runs only while tracing
        return bench.metric.max()

    assert float(best(b)) == pytest.approx(b.optimum)
    best(load_nb201("cifar10"))
    best(b.replace(metric=b.test_metric))  # new values, same static fields: no retrace
    assert len(traces) == 1


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|",  # two nodes
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|none~1|none~2|",  # node 2 short
        "|nor_conv_3x3~0|+|none~1|none~0|+|none~0|none~1|none~2|",  # wrong source order
        "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # unknown op
        "nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # missing bar
        "|none0|+|none~0|none~1|+|none~0|none~1|none~2|",  # missing ~
    ],
)
def test_parse_arch_rejects_malformed(bad):
    with pytest.raises(ValueError, match="malformed NB201 architecture"):
        nb201.parse_arch(bad)


def test_space_describe_and_format_errors():
    space = load_nb201("cifar10").space
    with pytest.raises(IndexError):
        space.describe(15625)
    with pytest.raises(ValueError):
        nb201.format_arch([0, 1, 2, 3, 4, 5])


def test_load_benchmark_and_list():
    with pytest.raises(ValueError, match="nb201_cifar10.*\\.npz"):
        load_benchmark("nb201_mnist")
    rows = list_benchmarks()
    assert [r[0] for r in rows] == list(EMBEDDED)
    shapes = {name: (size, dim) for name, size, dim, _ in rows}
    assert all(shapes[n] == (15625, 30) for n in shapes if n.startswith("nb201_"))
    assert shapes.get("convnet1364_digits", (1364, 15)) == (1364, 15)
    assert rows[0][3] == pytest.approx(0.916067, abs=1e-6)


# ---------------------------------------------------------------- user .npz tables


def _grid(edges: int = 3, ops: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Every cell of a small categorical space, one-hot encoded, plus its op ids."""
    cells = np.array(list(itertools.product(range(ops), repeat=edges)))
    feats = np.eye(ops, dtype=np.float32)[cells].reshape(len(cells), edges * ops)
    return feats, cells


def _hamming1(cells: np.ndarray) -> list[set[int]]:
    d = (cells[:, None, :] != cells[None, :, :]).sum(-1)
    return [set(np.flatnonzero(row == 1).tolist()) for row in d]


def test_npz_good_file_computes_neighbors(tmp_path):
    feats, cells = _grid()
    metric = np.linspace(0, 1, len(feats))
    path = tmp_path / "grid.npz"
    np.savez(path, features=feats, metric=metric, extra=np.zeros(2))
    b = load_benchmark(str(path))
    assert b.name == "grid" and b.size == 27 and b.dim == 9 and not b.has_test
    assert np.isnan(np.asarray(b.test_metric)).all()
    assert b.neighbors.shape == (27, 24)  # k = min(24, N - 1)
    nbr = np.asarray(b.neighbors)
    # The 6 nearest rows of a one-hot table are the Hamming-1 cells.
    assert [set(r[:6].tolist()) for r in nbr] == _hamming1(cells)
    assert b.optimum == pytest.approx(1.0)


def test_npz_with_test_metric_and_neighbors(tmp_path):
    feats, cells = _grid()
    nbr = np.array([sorted(s) for s in _hamming1(cells)], np.int16)
    test = np.arange(27.0) / 27
    path = tmp_path / "full.npz"
    np.savez_compressed(path, features=feats, metric=-test, test_metric=test, neighbors=nbr)
    b = load_npz(path)
    assert b.has_test and np.allclose(np.asarray(b.test_metric), test)
    assert np.array_equal(np.asarray(b.neighbors), nbr)


def test_npz_tiny_tables(tmp_path):
    path = tmp_path / "one.npz"
    np.savez(path, features=np.ones((1, 2)), metric=np.ones(1))
    assert load_npz(path).neighbors is None  # no other row to mutate into
    np.savez(path, features=np.eye(3), metric=np.ones(3))
    assert load_npz(path).neighbors.shape == (3, 2)


def _good(**over):
    arrays = {"features": np.eye(4), "metric": np.arange(4.0)}
    arrays.update(over)
    return {k: v for k, v in arrays.items() if v is not None}


@pytest.mark.parametrize(
    "arrays, message",
    [
        (_good(metric=None), r"missing required key\(s\) metric; the file holds: features"),
        (_good(features=None, metric=None, x=np.ones(1)), "features, metric; .*holds: x"),
        (_good(metric=np.arange(3.0)), "`metric` has 3 entries but `features` has 4"),
        (_good(features=np.ones(4)), r"`features` must be \[N, D\]"),
        (_good(test_metric=np.ones(5)), r"`test_metric` must have shape \(4,\)"),
        (_good(metric=np.array([0, np.nan, 1, 2])), "`metric` holds 1 NaN/inf"),
        (_good(features=np.diag([1, np.inf, 1, 1])), "`features` holds 1 NaN/inf"),
        (_good(test_metric=np.full(4, np.nan)), "`test_metric` holds 4 NaN/inf"),
        (_good(metric=np.array(["a", "b", "c", "d"])), "`metric` must be numeric"),
        (_good(neighbors=np.ones((4, 2)) * 0.5), "`neighbors` must hold integer"),
        (_good(neighbors=np.full((4, 2), 7)), r"`neighbors` holds indices outside \[-1, 4\)"),
        (_good(neighbors=np.zeros((3, 2), int)), r"`neighbors` must be \[4, K\]"),
    ],
)
def test_npz_bad_contents(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(BenchmarkError, match=message) as err:
        load_npz(path)
    assert str(path) in str(err.value)


def test_npz_object_array_is_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, features=np.eye(2), metric=np.array([1.0, {"x": 1}], dtype=object))
    with pytest.raises(BenchmarkError, match="`metric` is an object array"):
        load_npz(path)


def test_npz_unreadable_files(tmp_path):
    with pytest.raises(BenchmarkError, match="no such file"):
        load_benchmark(str(tmp_path / "absent.npz"))
    good = tmp_path / "good.npz"
    np.savez_compressed(
        good, features=np.random.default_rng(0).normal(size=(200, 8)), metric=np.arange(200.0)
    )
    data = good.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BenchmarkError, match=f"{cut}: not a valid .npz"):
        load_npz(cut)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip archive at all")
    with pytest.raises(BenchmarkError, match="not a valid .npz"):
        load_npz(junk)
    # A damaged member (zip directory intact, compressed bytes flipped) fails on access.
    damaged = tmp_path / "damaged.npz"
    mid = data.index(b"metric.npy") - 1000  # inside features.npy's compressed payload
    flipped = bytes(b ^ 0xFF for b in data[mid : mid + 50])
    damaged.write_bytes(data[:mid] + flipped + data[mid + 50 :])
    with pytest.raises(BenchmarkError, match="damaged.npz: `features` is unreadable"):
        load_npz(damaged)
    single = tmp_path / "single.npz"
    with open(single, "wb") as f:
        np.save(f, np.eye(3))
    with pytest.raises(BenchmarkError, match="single array"):
        load_npz(single)


# ---------------------------------------------------------------- nearest_neighbors


def test_nearest_neighbors_one_hot_are_hamming_1():
    feats, cells = _grid(edges=4, ops=3)  # 81 cells, 8 one-edit mutations each
    nn = nearest_neighbors(feats, 8)
    assert [set(r.tolist()) for r in nn] == _hamming1(cells)


@pytest.mark.parametrize("n, k, block", [(1000, 5, 4096), (300, 24, 1 << 21), (10, 24, 3)])
def test_nearest_neighbors_matches_brute_force(n, k, block):
    x = np.random.default_rng(n).integers(0, 4, (n, 3)).astype(np.float32)  # many exact ties
    nn = nearest_neighbors(x, k, block_elements=block)
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    k = min(k, n - 1)
    ref = np.argsort(d, axis=1, kind="stable")[:, :k]
    assert nn.shape == (n, k) and (nn != np.arange(n)[:, None]).all()
    # Same distances in the same order; ties may pick different (equally near) rows.
    assert np.array_equal(np.take_along_axis(d, nn, 1), np.take_along_axis(d, ref, 1))
