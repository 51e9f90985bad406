"""Intra-task transfer (seed 000 Fig. 7a): sub-tables, the learned/rest split, the frozen-tree
search, and the fig7a binary."""

import json
import re

import jax
import numpy as np
import pytest
from binary_driver import run_calls

from lanas_jax.benchmarks import BenchmarkError, from_arrays, take_rows
from lanas_jax.partition.transfer import (
    FrozenLaNAS,
    FrozenParams,
    fit_partition,
    rest_table,
    split_table,
)
from lanas_jax.partition.tree import route
from lanas_jax.runner import run_search, seed_keys, sweep
from lanas_jax.strategies.random_search import RandomSearch
from tests.search_checks import assert_never_repeats, linear_bench, ratio_to_random_search


def test_take_rows_remaps_neighbours_and_drops_the_ones_left_out():
    feats = np.eye(4, dtype=np.float32)
    nbrs = np.array([[1, 2], [0, -1], [3, 0], [2, 1]])
    bench = from_arrays(feats, [0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0], neighbors=nbrs)
    sub = take_rows(bench, [3, 0, 2])
    np.testing.assert_allclose(sub.metric, [0.4, 0.1, 0.3])
    np.testing.assert_allclose(sub.test_metric, [4.0, 1.0, 3.0])
    # old 3 -> new 0, old 0 -> new 1, old 2 -> new 2; old 1 is gone.
    np.testing.assert_array_equal(sub.neighbors, [[2, -1], [-1, 2], [0, 1]])
    assert sub.space is None and sub.has_test


@pytest.mark.parametrize("rows, message", [([], "non-empty"), ([0, 0], "repeated"),
                                           ([0, 9], r"\[0, 4\)"), ([0.5], "integers")])
def test_take_rows_refuses_bad_rows(rows, message):
    bench = from_arrays(np.eye(4), [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(BenchmarkError, match=message):
        take_rows(bench, np.asarray(rows))


def test_split_is_a_disjoint_cover_of_the_requested_size():
    bench = linear_bench()
    learn, rest = split_table(bench, 0.1, jax.random.key(3))
    assert learn.size == round(0.1 * bench.size) and learn.size + rest.size == bench.size
    np.testing.assert_array_equal(np.sort(np.concatenate([learn, rest])), np.arange(bench.size))
    again, _ = split_table(bench, 0.1, jax.random.key(3))
    np.testing.assert_array_equal(learn, again)
    for bad in (0.0, 1.0, -0.2, 1e-6):
        with pytest.raises(ValueError, match="fraction"):
            split_table(bench, bad, jax.random.key(0))


def test_frozen_search_keeps_the_tree_never_repeats_and_matches_vmapped():
    bench = linear_bench()
    learn, rest_rows = split_table(bench, 0.25, jax.random.key(0))
    tree = fit_partition(bench, learn, height=3)
    rest = rest_table(bench, rest_rows)
    strategy, params = FrozenLaNAS(tree_height=3), FrozenParams(tree=tree)
    keys = seed_keys(0, 2)  # run_search pads one key to two: the sweep's compiled program
    hist = sweep(strategy, rest, keys, rest.size, params)
    assert_never_repeats(hist.indices, rest.size)
    single = run_search(strategy, rest, keys[1], rest.size, params)
    np.testing.assert_array_equal(hist.indices[1], single.indices)
    # Empty statistics: the second query goes to the half of the tree the first did not visit.
    leaves = np.asarray(route(rest.features, tree, 3))
    assert {0, 1} <= set(leaves) and {2, 3} & set(leaves)
    for row in np.asarray(hist.indices):
        assert leaves[row[0]] // 2 != leaves[row[1]] // 2


def test_a_partition_learned_on_part_of_a_linear_table_finds_the_rest_optimum_fast():
    bench = linear_bench()
    learn, rest_rows = split_table(bench, 0.2, jax.random.key(1))
    tree = fit_partition(bench, learn, height=4)
    rest = rest_table(bench, rest_rows)
    keys = seed_keys(1, 8)
    for warm in (False, True):
        hist = sweep(FrozenLaNAS(tree_height=4, warm_stats=warm), rest, keys, rest.size,
                     FrozenParams(tree=tree))
        ours, rs = ratio_to_random_search(hist.metric, rest, keys)
        assert ours < 0.5 * rs, (warm, ours, rs)


def test_frozen_lanas_refuses_missing_or_mismatched_trees():
    bench = linear_bench()
    with pytest.raises(ValueError, match="no default params"):
        run_search(FrozenLaNAS(), bench, jax.random.key(0), 10)
    tree = fit_partition(bench, np.arange(50), height=3)
    with pytest.raises(ValueError, match="tree_height"):
        run_search(FrozenLaNAS(tree_height=4), bench, jax.random.key(0), 10,
                   FrozenParams(tree=tree))
    with pytest.raises(ValueError, match="tabular"):
        run_search(FrozenLaNAS(tree_height=3, leaf_sampler="hit_and_run"), bench,
                   jax.random.key(0), 10, FrozenParams(tree=tree))


FIG7A_BAD = [("--fractions=0.1,1.5", "not in \\(0, 1\\)"),
             ("--arms=frozen,bogus", "unknown arm 'bogus'"),
             ("--budget=-1", "--budget")]


@pytest.fixture(scope="module")
def fig7a_calls(tmp_path_factory):
    """(output dir, table, driver results): the end-to-end run on a 40-sample budget (below
    every rest table's size, so reaching the optimum is not automatic), then each bad flag, in
    one interpreter with cheap compiles (the binary's orchestration is under test). The arms
    are compile-bound: --lanas_init=0 with #selects (20) dividing the budget gives the scratch
    arm one scanned segment to compile, not three."""
    tmp = tmp_path_factory.mktemp("fig7a")
    table = tmp / "toy.npz"
    bench = linear_bench()
    np.savez(table, features=np.asarray(bench.features), metric=np.asarray(bench.metric))
    runs = [[f"--benchmark={table}", "--seeds=3", "--fractions=0.1,0.5", "--budget=40",
             "--lanas_height=3", "--lanas_init=0", f"--output_dir={tmp / 'out'}"],
            *[[flag, f"--output_dir={tmp / 'bad'}"] for flag, _ in FIG7A_BAD]]
    return tmp, run_calls("experiments.fig7a", runs, tmp, fast_compile=True)


def test_fig7a_binary_writes_every_arm_and_fraction(fig7a_calls):
    tmp, results = fig7a_calls
    assert results[0]["error"] is None, results[0]
    report = json.loads((tmp / "out" / "fig7a.json").read_text())
    bench = linear_bench()
    assert [r["fraction"] for r in report["fractions"]] == [0.1, 0.5]
    for r in report["fractions"]:
        assert r["learned_rows"] + r["rest_rows"] == bench.size
        assert set(r["arms"]) == {"frozen", "frozen_warm", "warm_refit", "scratch", "random"}
        # The split, the rest's optimum and random search's curve are the library's on the
        # same split seed and search seeds: catches a split drawn differently, a searched
        # table that is not the rest, seeds derived differently or a curve misaligned.
        learn, rest_rows = split_table(bench, r["fraction"], jax.random.key(0))
        rest = rest_table(bench, rest_rows)
        assert (r["learned_rows"], r["rest_rows"], r["budget"]) == (learn.size, rest.size, 40)
        assert r["rest_optimum"] == pytest.approx(float(np.max(np.asarray(rest.metric))))
        rs = np.asarray(sweep(RandomSearch(), rest, seed_keys(0, 3), 40).metric)
        np.testing.assert_allclose(r["arms"]["random"]["best_so_far_median"],
                                   np.median(np.maximum.accumulate(rs, 1), 0), atol=2e-6)
        for arm in r["arms"].values():
            curve = np.asarray(arm["best_so_far_median"])
            assert curve.shape == (40,) and curve[-1] <= r["rest_optimum"] + 1e-6
            assert len(arm["samples_to_optimum"]) == 3
    assert (tmp / "out" / "fig7a.png").stat().st_size > 1000


@pytest.mark.parametrize("case", range(len(FIG7A_BAD)))
def test_fig7a_binary_refuses_bad_flags(fig7a_calls, case):
    tmp, results = fig7a_calls
    flag, message = FIG7A_BAD[case]
    error = results[1 + case]["error"]
    assert error is not None and re.search(message, error), (flag, error)
    assert not (tmp / "bad" / "fig7a.json").exists()


def test_warm_refit_search_uses_the_learned_samples_from_the_first_query():
    from lanas_jax.partition.transfer import WarmLaNAS, warm_params

    bench = linear_bench()
    # 76 learned rows, 180 in the rest: #selects 10 divides the budget, so the search compiles
    # one scanned segment (no partial last round).
    learn, rest_rows = split_table(bench, 0.297, jax.random.key(2))
    rest = rest_table(bench, rest_rows)
    assert rest.size % 10 == 0
    keys = seed_keys(2, 8)
    strategy = WarmLaNAS(tree_height=4, num_init=0, num_selects=10)
    hist = sweep(strategy, rest, keys, rest.size, warm_params(bench, learn))
    assert_never_repeats(hist.indices, rest.size)
    ours, rs = ratio_to_random_search(hist.metric, rest, keys)
    assert ours < 0.3 * rs, (ours, rs)
    # The very first query already comes from the learned good region, unlike a cold start.
    first = np.asarray(hist.metric)[:, 0]
    assert np.median(first) > np.median(np.asarray(rest.metric)), first
    with pytest.raises(ValueError, match="no default params"):
        run_search(strategy, rest, keys[0], 10)
