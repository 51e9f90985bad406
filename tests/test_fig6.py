"""The Fig. 6 ablation binary end to end on a small table, and its refusals of bad flags."""

import json

import numpy as np
import pytest
from binary_driver import run_calls, run_module


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(0)
    codes = np.stack(np.meshgrid(*[np.arange(4)] * 4, indexing="ij"), -1).reshape(-1, 4)
    features = np.eye(4)[codes].reshape(len(codes), -1)
    metric = features @ rng.normal(size=16) + 0.1 * rng.normal(size=len(codes))
    path = tmp_path_factory.mktemp("table") / "toy.npz"
    np.savez(path, features=features, metric=metric)
    return path


@pytest.fixture(scope="module")
def calls(table, tmp_path_factory):
    """(output dir, driver results): the run of every part, then each bad flag set, in one
    interpreter (absl flags re-parsed between calls): one JAX start-up, and cheap compiles
    (the binary's orchestration is under test, not XLA's optimiser)."""
    tmp = tmp_path_factory.mktemp("fig6")
    # --lanas_* make the node-model study's linear LaNAS a grid cell and an init setting,
    # which the binary runs once (fewer compiles). Every search is compile-bound: no initial
    # samples in the base setting and a budget that #selects divides give each grid search one
    # scanned segment (fewer copies of the step to compile), and a height-1 tree is the
    # smallest program.
    run = [f"--benchmark={table}", "--seeds=2", "--budget=200", "--heights=1,2",
           "--selects=20,50", "--inits=0,20", "--lanas_height=2", "--lanas_selects=20",
           "--lanas_init=0", "--lanas_mlp_steps=20", "--lanas_mlp_hidden=8",
           f"--output_dir={tmp / 'out'}"]
    common = [f"--benchmark={table}", "--seeds=2", "--budget=200", f"--output_dir={tmp / 'bad'}"]
    return tmp, run_calls("experiments.fig6", [run, *[common + f for f, _ in BAD_FLAGS]], tmp,
                          fast_compile=True)


def test_writes_every_part(table, calls):
    tmp, results = calls
    out = tmp / "out"
    assert results[0]["error"] is None, results[0]
    report = json.loads((out / "fig6.json").read_text())
    assert report["benchmark"] == "toy" and report["budget"] == 200 and report["seeds"] == 2
    assert report["parts"] == ["grid", "node_model", "init"]

    grid = report["grid"]
    assert grid["heights"] == [1, 2] and grid["selects"] == [20, 50]
    assert [(c["height"], c["selects"]) for c in grid["cells"]] == [(1, 20), (1, 50), (2, 20),
                                                                    (2, 50)]
    assert np.asarray(grid["mean_table"]).shape == (2, 2)
    for c in grid["cells"]:
        assert len(c["samples_to_optimum"]) == 2
        assert c["summary"]["num_seeds"] == 2

    models = report["node_model"]["entries"]
    assert [e["node_model"] for e in models] == ["linear", "mlp"]
    assert models[1]["config"]["partition"]["steps"] == 20
    for e in models:
        assert len(e["best_so_far_median"]) == 200

    inits = report["init"]["entries"]
    assert [e["num_init"] for e in inits] == [0, 20]
    assert report["init"]["top_fraction"] == 0.05
    metric = np.load(table)["metric"]
    assert report["init"]["top_threshold"] == pytest.approx(np.sort(metric)[::-1][12])
    for e in inits:
        # The top 5% is reached no later than the optimum.
        for top, opt in zip(e["samples_to_top"], e["samples_to_optimum"], strict=True):
            assert top is not None and (opt is None or top <= opt)
        assert set(e["top_summary"]) == set(e["summary"])
    for name in ("grid", "node_model", "node_model_curves", "init", "init_curves"):
        assert (out / f"{name}.png").stat().st_size > 1000
    assert "Fig. 6a" in results[0]["stdout"] and "reused" in results[0]["stdout"]
    by_cell = {(c["height"], c["selects"]): c for c in grid["cells"]}
    assert models[0]["samples_to_optimum"] == by_cell[(2, 20)]["samples_to_optimum"]


BAD_FLAGS = [
    (["--parts=grid,bogus"], "unknown part(s) ['bogus']"),
    (["--budget=100000"], "--budget=100000 is larger than toy"),
    (["--parts=grid", "--heights=0,3"], "--heights must be positive, got [0]"),
    (["--parts=grid", "--selects=-5"], "--selects must be positive, got [-5]"),
    (["--parts=grid", "--heights=3,x"], "--heights: expected integers"),
    (["--parts=grid", "--heights=3,13"], "LaNAS height 13, #selects 10: tree_height 13"),
    (["--parts=init", "--inits=0,200"], "--inits [200] >= --budget=200"),
    (["--parts=node_model", "--node_models=linear,svm"], "--node_models: unknown ['svm']"),
    (["--parts=node_model", "--node_models=mlp", "--leaf_sampler=hit_and_run"],
     "not a polytope"),
]

@pytest.mark.parametrize("case", range(len(BAD_FLAGS)))
def test_bad_flags_fail_with_a_clear_message(calls, case):
    tmp, results = calls
    flags, message = BAD_FLAGS[case]
    error = results[1 + case]["error"]
    assert error is not None and error.startswith("UsageError"), (flags, error)
    assert message in error, (flags, error)
    assert not (tmp / "bad" / "fig6.json").exists()


def test_a_bad_flag_exits_non_zero(table, tmp_path):
    proc = run_module("experiments.fig6", f"--benchmark={table}", "--parts=grid,bogus",
                      f"--output_dir={tmp_path}")
    assert proc.returncode != 0 and "unknown part(s) ['bogus']" in proc.stderr
