"""lanas_jax.dynamics (seed 000 Fig. 4's search dynamics, Sec. 2's children's reward spread) on
hand-worked cases, and the two study binaries (experiments/fig4.py, experiments/sec2.py) end to
end on tiny settings, with their refusals of bad flags."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from binary_driver import run_calls
from search_checks import linear_bench

from lanas_jax import dynamics
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.runner import seed_keys, sweep
from lanas_jax.strategies.mcts import actions_of, node_ids, radices
from lanas_jax.strategies.random_search import RandomSearch


def test_kl_is_zero_for_identical_histograms_and_positive_otherwise() -> None:
    h = np.array([1, 2, 3, 0])
    assert abs(dynamics.kl_divergence(h, h)) < 1e-12
    assert abs(dynamics.kl_divergence(h, 2 * h)) < 1e-12  # same distribution
    assert dynamics.kl_divergence(h, np.array([3, 2, 1, 0])) > 0.1
    # p = (1/2, 1/2), q = (1/4, 3/4): 0.5 ln 2 + 0.5 ln (2/3) = 0.143841 nats.
    kl = dynamics.kl_divergence(np.array([1, 1]), np.array([1, 3]), eps=1e-12)
    assert kl == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3), rel=1e-9)
    assert np.isnan(dynamics.kl_divergence(np.array([0, 0]), np.array([1, 1])))


def test_leaf_kl_averages_non_empty_leaves_weighted_by_samples() -> None:
    ref = np.array([[1, 3], [1, 1], [2, 2]])
    a = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)  # KL[(1/2,1/2) || (1/4,3/4)]
    b = math.log(2)  # KL[(1, 0) || (1/2, 1/2)]
    samples = np.array([[[1, 1], [2, 0], [0, 0]],     # 2 samples at KL a, 2 at KL b, leaf 2 empty
                        [[2, 2], [1, 0], [0, 0]]])    # 4 at a, 1 at b
    kl, per_leaf = dynamics.weighted_leaf_kl(samples, ref, eps=1e-12)
    np.testing.assert_allclose(per_leaf[:, :2], [[a, b], [a, b]], rtol=1e-6)
    assert np.isnan(per_leaf[:, 2]).all()
    np.testing.assert_allclose(kl, [(2 * a + 2 * b) / 4, (4 * a + b) / 5], rtol=1e-6)


def test_histograms_and_means_per_leaf_by_hand() -> None:
    edges = np.array([0.0, 0.5, 1.0])
    leaf = np.array([[0, 0, 1, 1], [1, 1, 1, 1]])
    values = np.array([[0.1, 0.6, 1.0, 0.5], [0.0, 0.2, 0.4, 0.9]])
    hist = dynamics.leaf_histograms(leaf, values, 3, edges)
    np.testing.assert_array_equal(hist, [[[1, 1], [0, 2], [0, 0]], [[0, 0], [3, 1], [0, 0]]])
    means, counts = dynamics.leaf_means(leaf, values, 3)
    np.testing.assert_allclose(means[0, :2], [0.35, 0.75])
    np.testing.assert_array_equal(counts, [[2, 2, 0], [0, 4, 0]])
    assert np.isnan(means[0, 2]) and np.isnan(means[1, 0])


def test_mean_gap_sign_on_a_hand_made_case() -> None:
    ref = np.array([0.8, 0.5, 0.2])
    # Leaf 0 sampled above its mean (+0.1), leaf 2 above too (+0.1), leaf 1 never sampled.
    assert dynamics.mean_gap(np.array([0.9, np.nan, 0.3]), ref) == pytest.approx(0.1)
    # Sampling only the bad half of each leaf gives a negative gap.
    assert dynamics.mean_gap(np.array([0.7, 0.45, np.nan]), ref) == pytest.approx(-0.075)
    assert np.isnan(dynamics.mean_gap(np.full(3, np.nan), ref))


def test_reference_partition_orders_the_first_level_as_the_tree_says() -> None:
    bench = linear_bench()  # 256 entries, metric additive in one-hot choices
    metric = np.asarray(bench.metric)
    part = dynamics.reference_partition(bench.features, metric, height=4)
    assert part.num_leaves == 8 and part.first_leaf_node == 7
    np.testing.assert_array_equal(part.leaf_nodes(), np.arange(7, 15))
    assert part.leaf_of.shape == (256,) and 0 <= part.leaf_of.min() and part.leaf_of.max() < 8
    left = part.leaf_of < 4  # below the root's left child (node 1)
    assert 0 < left.sum() < 256
    assert metric[left].mean() > metric[~left].mean()
    means, counts = dynamics.leaf_means(part.leaf_of, metric, 8)
    assert means[0] > means[-1]
    paths = dynamics.tree_paths(part.leaf_of, 4)
    assert paths.shape == (256, 4)
    np.testing.assert_array_equal(paths[:, 0], 0)
    np.testing.assert_array_equal(paths[:, 1] == 1, left)
    np.testing.assert_array_equal(paths[:, 3], part.leaf_of + 7)


def test_search_dynamics_of_the_whole_table_is_the_reference() -> None:
    bench = linear_bench()
    metric = np.asarray(bench.metric)
    part = dynamics.reference_partition(bench.features, metric, height=3)
    edges = dynamics.histogram_edges(metric, 10)
    order = np.stack([np.arange(256), np.arange(256)[::-1]])
    dyn = dynamics.search_dynamics(part, metric, order, [10, 256], edges)
    assert dyn["kl"].shape == (2, 2) and dyn["leaf_count"].shape == (2, 2, 4)
    np.testing.assert_allclose(dyn["kl"][1], 0.0, atol=1e-9)  # every entry queried: p^n = p*
    np.testing.assert_allclose(dyn["gap"][1], 0.0, atol=1e-9)
    assert (dyn["kl"][0] > 0).all()
    assert dyn["histograms"][1].sum() == 2 * 256
    with pytest.raises(ValueError, match="checkpoint 300"):
        dynamics.search_dynamics(part, metric, order, [300], edges)


def test_search_tree_leaves_refit_the_tree_on_the_queries() -> None:
    bench = linear_bench()
    metric = np.asarray(bench.metric)
    order = np.stack([np.arange(256), np.argsort(-metric)])  # all; best first

    def own(idx, n):
        return dynamics.search_tree_leaves(bench.features, metric, idx, 3, n=n)

    # Fitted on the whole table, a search's own tree is the reference tree.
    part = dynamics.reference_partition(bench.features, metric, height=3)
    leaves = own(order, 256)
    np.testing.assert_array_equal(leaves[0], part.leaf_of)
    np.testing.assert_array_equal(leaves[1], part.leaf_of[order[1]])
    # On the 64 best entries only, the own tree splits them again: its best leaf holds a
    # higher mean than the reference tree's, which lumps them together.
    top = own(order, 64)[1]
    assert top.shape == (64,) and len(np.unique(top)) == 4
    assert metric[order[1, :64]][top == 0].mean() > metric[order[1, :64]].mean()
    # The queries past n are masked out of the fit (equal up to rounding at a boundary).
    assert np.mean(top == own(order[:, :64], 64)[1]) > 0.95
    edges = dynamics.histogram_edges(metric, 10)
    dyn = dynamics.search_dynamics(part, metric, order, [64], edges, leaves_of=own)
    ref = dynamics.search_dynamics(part, metric, order, [64], edges)
    assert dyn["gap"][0, 1] > ref["gap"][0, 1]


def test_children_spread_on_a_hand_worked_table() -> None:
    # Root -> A (entries 0, 1), B (2, 3), C (4); below A and B one binary action each, below C a
    # forced move. Depth-2 ids repeat under different parents (children are keyed by parent).
    values = np.array([0.1, 0.3, 0.5, 0.9, 0.5])
    paths = np.array([[0, 1, 0], [0, 1, 1], [0, 2, 0], [0, 2, 1], [0, 3, 0]])
    rows = dynamics.children_spread(paths, values)
    assert len(rows) == 2
    # Depth 0: children means 0.2, 0.7, 0.5 -> std sqrt(0.126667 / 3) = 0.205480, range 0.5.
    # Variance: total 1.41/5 - 0.46^2 = 0.0704; between the 3 children (2*0.0676 + 2*0.0576 +
    # 0.0016) / 5 = 0.0504 -> 0.715909.
    r0 = rows[0]
    assert (r0["nodes"], r0["decision_nodes"], r0["decision_entries"], r0["children"]) == (
        1, 1, 5, 3)
    assert r0["mean_std"] == pytest.approx(0.205480, abs=1e-6)
    assert r0["mean_range"] == pytest.approx(0.5)
    assert r0["explained_variance"] == pytest.approx(0.0504 / 0.0704)
    # Depth 1: A's children 0.1 / 0.3 (std 0.1, range 0.2), B's 0.5 / 0.9 (0.2, 0.4), C forced
    # (not a decision): weighted by 2 and 2 entries -> 0.15 and 0.3; every entry its own node.
    r1 = rows[1]
    assert (r1["nodes"], r1["decision_nodes"], r1["decision_entries"], r1["children"]) == (
        3, 2, 4, 5)
    assert r1["mean_std"] == pytest.approx(0.15)
    assert r1["mean_range"] == pytest.approx(0.3)
    assert r1["explained_variance"] == pytest.approx(1.0)
    assert dynamics.overall_spread(rows) == pytest.approx((5 * 0.205480 + 4 * 0.15) / 9,
                                                          abs=1e-6)
    # A tree with no decision at all.
    flat = dynamics.children_spread(np.array([[0, 0], [0, 0]]), np.array([0.1, 0.2]))
    assert flat[0]["mean_std"] is None and dynamics.overall_spread(flat) is None


def test_children_spread_of_the_convnet_action_spaces() -> None:
    bench = load_benchmark("convnet1364_digits")
    metric = np.asarray(bench.metric, np.float64)
    depth = np.asarray(bench.features)[:, 0::3].sum(1)
    per_depth = np.array([metric[depth == d].mean() for d in range(1, 6)])
    spread = {}
    for space in ("convnet_sequential", "convnet_global"):
        paths = node_ids(actions_of(bench.features, space, 0), radices(space, 15, 0))
        spread[space] = dynamics.children_spread(np.asarray(paths), metric)
    # global's first action sets the depth: the root's children are the 5 depths.
    assert spread["convnet_global"][0]["mean_std"] == pytest.approx(per_depth.std(), rel=1e-6)
    # sequential's first action ("add layer 1") is forced: no decision at the root; its first
    # stop-or-continue decision is depth 3 (after layer 1's kernel and channels).
    assert spread["convnet_sequential"][0]["mean_std"] is None
    assert spread["convnet_sequential"][3]["children"] == 8  # 4 layer-1 nets x (stop, go on)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    bench = linear_bench()
    path = tmp_path_factory.mktemp("table") / "toy.npz"
    np.savez(path, features=np.asarray(bench.features), metric=np.asarray(bench.metric))
    return path


FIG4_BAD = [("--checkpoints=20,500", "--checkpoints [500] larger than --budget=100"),
            ("--budget=100000", "--budget=100000 is larger than toy (256 entries)")]


@pytest.fixture(scope="module")
def fig4_calls(table, tmp_path_factory):
    """(output dir, driver results): the end-to-end run, then each bad flag, one interpreter.
    The binary's orchestration is under test, not XLA's optimiser: cheaper compiles."""
    tmp = tmp_path_factory.mktemp("fig4")
    bad = [f"--benchmark={table}", "--seeds=2", "--budget=100", f"--output_dir={tmp / 'bad'}"]
    runs = [[f"--benchmark={table}", "--seeds=2", "--budget=120", "--checkpoints=20,60,120",
             "--bins=10", "--lanas_init=10", "--lanas_selects=10", "--lanas_height=3",
             f"--output_dir={tmp / 'out'}"],
            *[[*bad, flag] for flag, _ in FIG4_BAD]]
    return tmp, run_calls("experiments.fig4", runs, tmp, fast_compile=True)


def test_fig4_binary_end_to_end(table, fig4_calls) -> None:
    tmp, results = fig4_calls
    assert results[0]["error"] is None, results[0]
    out = tmp / "out"
    report = json.loads((out / "fig4.json").read_text())
    assert report["checkpoints"] == [20, 60, 120] and report["seeds"] == 2
    assert report["reference"]["leaf_nodes"] == [3, 4, 5, 6]
    assert report["hist_nodes"] == [3, 4, 5, 6] and report["hist_checkpoints"] == [20, 60, 120]
    assert [r["algo"] for r in report["runs"]] == ["lanas", "random"]
    assert report["partitions"] == ["reference", "search"]
    # The numbers are the library's on the same table and seeds: the reference tree's leaf
    # sizes, and random search's KL and gap per checkpoint (random search's queries do not
    # depend on XLA's optimisation level). Catches a wrong tree height or ridge, checkpoints
    # off by one, seeds derived differently, KL and gap swapped or averaged over the wrong axis.
    bench = linear_bench()
    metric = np.asarray(bench.metric)
    part = dynamics.reference_partition(bench.features, metric, height=3)
    _, counts = dynamics.leaf_means(part.leaf_of, metric, part.num_leaves)
    assert report["reference"]["entries"] == counts.tolist()
    indices = np.asarray(sweep(RandomSearch(), bench, seed_keys(0, 2), 120).indices)
    dyn = dynamics.search_dynamics(part, metric, indices, [20, 60, 120],
                                   dynamics.histogram_edges(metric, 10))
    random_ref = report["runs"][1]["partitions"]["reference"]
    np.testing.assert_allclose(random_ref["kl"]["median"], np.median(dyn["kl"], 1), rtol=1e-6)
    np.testing.assert_allclose(random_ref["gap"]["mean"], np.mean(dyn["gap"], 1), rtol=1e-6)
    for run in report["runs"]:
        for mode in ("reference", "search"):
            stats = run["partitions"][mode]
            assert len(stats["kl"]["median"]) == 3 and len(stats["gap"]["median"]) == 3
            # Queries per leaf, averaged over seeds, add up to the checkpoint.
            np.testing.assert_allclose(np.sum(stats["leaf_queries_mean"], 1), [20, 60, 120])
            assert sum(stats["histograms"]["3"]["120"]) > 0  # leaf node 3 holds queries
    config = report["runs"][0]["config"]
    assert config["partition"]["height"] == 3 and config["num_init"] == 10
    assert (out / "fig4.png").stat().st_size > 1000
    assert "KL" in results[0]["stdout"] and "gap" in results[0]["stdout"]


@pytest.mark.parametrize("case", range(len(FIG4_BAD)))
def test_fig4_bad_flags_fail_with_a_clear_message(fig4_calls, case) -> None:
    tmp, results = fig4_calls
    error = results[1 + case]["error"]
    assert error is not None and FIG4_BAD[case][1] in error, (FIG4_BAD[case], error)
    assert not (tmp / "bad" / "fig4.json").exists()


def test_sec2_binary_end_to_end_and_refusal(tmp_path) -> None:
    out = tmp_path / "out"
    results = run_calls("experiments.sec2", [
        ["--seeds=2", "--budget=50", "--references=random", "--ref_height=3",
         f"--output_dir={out}"],
        ["--seeds=2", "--budget=100", "--benchmark=nb201_cifar10",
         f"--output_dir={tmp_path / 'bad'}"]], tmp_path, fast_compile=True)
    assert results[0]["error"] is None, results[0]
    report = json.loads((out / "sec2.json").read_text())
    assert set(report["spread"]) == {"sequential", "global", "lanas_h3"}
    assert len(report["spread"]["sequential"]["depths"]) == 15
    assert len(report["spread"]["global"]["depths"]) == 11
    assert len(report["spread"]["lanas_h3"]["depths"]) == 2
    assert sum(report["lanas_reference"]["leaf_entries"]) == 1364
    # The global space's first action sets the depth: its root spread is the std of the
    # five per-depth mean metrics (a known answer; catches the two spaces swapped).
    bench = load_benchmark("convnet1364_digits")
    metric = np.asarray(bench.metric, np.float64)
    depth = np.asarray(bench.features)[:, 0::3].sum(1)
    per_depth = np.array([metric[depth == d].mean() for d in range(1, 6)])
    assert report["spread"]["global"]["depths"][0]["mean_std"] == pytest.approx(
        per_depth.std(), rel=1e-6)
    assert [e["algo"] for e in report["search"]] == ["mcts_sequential", "mcts_global", "random"]
    for e in report["search"]:
        assert len(e["best_so_far_median"]) == 50 and len(e["samples_to_optimum"]) == 2
    # Random search's curve is the library's on the same seeds.
    rs = np.asarray(sweep(RandomSearch(), bench, seed_keys(0, 2), 50).metric)
    np.testing.assert_allclose(report["search"][2]["best_so_far_median"],
                               np.median(np.maximum.accumulate(rs, 1), 0), atol=2e-6)
    assert (out / "curves.png").stat().st_size > 1000
    assert (out / "spread.png").stat().st_size > 1000
    assert results[1]["error"] is not None and "needs a ConvNet table" in results[1]["error"]
    assert not (tmp_path / "bad" / "sec2.json").exists()
