"""The Fig. 6 ablation binary end to end on a small table, and its refusals of bad flags."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    return subprocess.run(
        [sys.executable, "-m", "experiments.fig6", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(0)
    codes = np.stack(np.meshgrid(*[np.arange(4)] * 4, indexing="ij"), -1).reshape(-1, 4)
    features = np.eye(4)[codes].reshape(len(codes), -1)
    metric = features @ rng.normal(size=16) + 0.1 * rng.normal(size=len(codes))
    path = tmp_path_factory.mktemp("table") / "toy.npz"
    np.savez(path, features=features, metric=metric)
    return path


def test_writes_every_part(table, tmp_path):
    out = tmp_path / "out"
    # --lanas_* make the node-model study's linear LaNAS a grid cell and an init setting,
    # which the binary runs once (fewer compiles).
    proc = _run(f"--benchmark={table}", "--seeds=2", "--budget=200", "--heights=2,3",
                "--selects=20,50", "--inits=0,20", "--lanas_height=3", "--lanas_selects=20",
                "--lanas_init=20", "--lanas_mlp_steps=20", "--lanas_mlp_hidden=8",
                f"--output_dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "fig6.json").read_text())
    assert report["benchmark"] == "toy" and report["budget"] == 200 and report["seeds"] == 2
    assert report["parts"] == ["grid", "node_model", "init"]

    grid = report["grid"]
    assert grid["heights"] == [2, 3] and grid["selects"] == [20, 50]
    assert [(c["height"], c["selects"]) for c in grid["cells"]] == [(2, 20), (2, 50), (3, 20),
                                                                    (3, 50)]
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
    assert "Fig. 6a" in proc.stdout and "reused" in proc.stdout
    by_cell = {(c["height"], c["selects"]): c for c in grid["cells"]}
    assert models[0]["samples_to_optimum"] == by_cell[(3, 20)]["samples_to_optimum"]


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

# Every bad flag set in one process (absl flags re-parsed between cases): one JAX start-up.
_DRIVER = """
import json, sys
from absl import app, flags
from experiments import fig6
for args in json.loads(sys.argv[1]):
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["fig6", *args])
    try:
        fig6.main(["fig6"])
        print("no error")
    except app.UsageError as e:
        print("UsageError:", str(e).replace(chr(10), " "))
"""


@pytest.fixture(scope="module")
def bad_flag_messages(table, tmp_path_factory):
    out = tmp_path_factory.mktemp("bad")
    common = [f"--benchmark={table}", "--seeds=2", "--budget=200", f"--output_dir={out}"]
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps([common + f for f, _ in BAD_FLAGS])],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("UsageError", "no error"))]
    assert len(lines) == len(BAD_FLAGS), proc.stdout
    assert not (out / "fig6.json").exists()
    return lines


@pytest.mark.parametrize("case", range(len(BAD_FLAGS)))
def test_bad_flags_fail_with_a_clear_message(bad_flag_messages, case):
    flags, message = BAD_FLAGS[case]
    assert bad_flag_messages[case].startswith("UsageError"), (flags, bad_flag_messages[case])
    assert message in bad_flag_messages[case], (flags, bad_flag_messages[case])


def test_a_bad_flag_exits_non_zero(table, tmp_path):
    proc = _run(f"--benchmark={table}", "--parts=grid,bogus", f"--output_dir={tmp_path}")
    assert proc.returncode != 0 and "unknown part(s) ['bogus']" in proc.stderr
