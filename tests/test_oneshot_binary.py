"""``experiments.oneshot`` end to end on digits (ConvNet supernet, recipe ``tiny``, ground
truth ``convnet1364``): results schema, the supernet table readable by ``experiments.search``,
ground-truth lookups, ``--resume``, and refusals of bad input (issue 14 item 6)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from binary_driver import run_calls

from lanas_jax.benchmarks import load_benchmark
from lanas_jax.spaces import convnet

COMMON = ["--space=convnet", "--supernet_recipe=tiny", "--epochs=2", "--score_images=32",
          "--budget=20", "--population=10"]
BAD = [
    ("--search=vaenas", "--method=vaenas_os"),
    ("--ground_truth=/nonexistent/t.npz", "/nonexistent/t.npz"),
    ("--budget=5", "below one population"),
    ("--space=nb101", "nb101"),
    ("--n_val=100", "n_val 350"),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oneshot")
    out = tmp / "out"
    good = [*COMMON, "--ground_truth=convnet1364", f"--output_dir={out}"]
    again = [*good, "--resume", "--search=lanas"]
    bad = [[*COMMON, "--ground_truth=convnet1364", f"--output_dir={tmp / f'bad{i}'}", flag]
           for i, (flag, _) in enumerate(BAD)]
    results = run_calls("experiments.oneshot", [good, good, again, *bad], tmp,
                        fast_compile=True)
    return out, results


def test_results_schema_and_ground_truth(runs):
    out, results = runs
    assert results[0]["error"] is None, results[0]
    r = json.loads((out / "results.json").read_text())
    for k in ("space", "dataset", "method", "search", "recipe", "epochs", "train_seconds",
              "search_seconds", "kendall_tau", "spearman", "found", "top_k"):
        assert k in r, k
    assert (r["space"], r["method"], r["epochs"], r["recipe"]["name"]) == (
        "convnet", "spos", 2, "tiny")
    assert -1 <= r["kendall_tau"] <= 1 and len(r["history"]["loss"]) == 2
    truth = load_benchmark("convnet1364")
    for e in [r["found"], *r["top_k"]]:
        row = convnet.index_of(convnet.parse_arch(e["arch"]))
        assert e["true_from"] == "table"
        assert e["true_val"] == pytest.approx(float(truth.metric[row]))
        assert e["true_rank"] == 1 + int(np.sum(np.asarray(truth.metric) > truth.metric[row]))
    s = [e["supernet_val"] for e in r["top_k"]]
    assert s == sorted(s, reverse=True) and r["found"] == r["top_k"][0]
    assert (out / "curve.png").stat().st_size > 0 and (out / "scatter.png").stat().st_size > 0


def test_supernet_table_is_a_benchmark(runs):
    out, _ = runs
    bench = load_benchmark(str(out / "supernet_table.npz"))
    assert bench.size == 1364 and bench.neighbors is not None
    r = json.loads((out / "results.json").read_text())
    row = convnet.index_of(convnet.parse_arch(r["found"]["arch"]))
    assert float(bench.metric[row]) == pytest.approx(r["found"]["supernet_val"])


def test_checkpoints_refuse_a_rerun_and_resume_reuses_the_supernet(runs):
    out, results = runs
    assert "pass --resume" in results[1]["error"]
    assert results[2]["error"] is None, results[2]
    r = json.loads((out / "results.json").read_text())
    assert r["search"] == "lanas" and len(r["history"]["loss"]) == 2


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input_is_refused_by_name(runs, i):
    _, results = runs
    flag, words = BAD[i]
    assert results[3 + i]["error"] is not None, flag
    assert words in results[3 + i]["error"], (flag, results[3 + i]["error"])
