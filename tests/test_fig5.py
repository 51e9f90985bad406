"""The Fig. 5 binary end to end on a small user table: JSON, figures and the speed-up table."""

import json
import os
import subprocess
import sys

import numpy as np

from tests.search_checks import linear_bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_fig5_writes_the_speedup_table_and_figures(tmp_path):
    bench = linear_bench()
    table = tmp_path / "toy.npz"
    np.savez(table, features=np.asarray(bench.features), metric=np.asarray(bench.metric))
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.fig5", f"--benchmarks={table}", "--algos=lanas,random",
         "--seeds=3", "--budget=0", "--lanas_height=3", f"--output_dir={tmp_path}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (report,) = json.loads((tmp_path / "fig5.json").read_text())
    assert report["budget"] == bench.size and [e["algo"] for e in report["entries"]] == [
        "lanas", "random"]
    for e in report["entries"]:  # the whole table: every seed reaches the optimum
        assert e["summary"]["seeds_reached"] == 3
        assert len(e["best_so_far_median"]) == bench.size
        assert e["best_so_far_median"][-1] == max(e["best_so_far_median"])
    assert report["lanas_speedup"]["random"].endswith("x")
    assert (tmp_path / "curves_toy.png").exists() and (tmp_path / "samples_toy.png").exists()
