"""The continuous-vs-tabular benchmark binary and the runner's final-state sweep behind it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lanas_jax.partition.lanas import LaNAS
from lanas_jax.runner import seed_keys, sweep, sweep_with_state
from tests.search_checks import linear_bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_sweep_with_state_returns_the_same_history_and_the_final_states():
    bench, keys = linear_bench(), seed_keys(4, 3)
    strategy = LaNAS(tree_height=3, num_selects=10, num_init=10)
    history, state = sweep_with_state(strategy, bench, keys, 60)
    np.testing.assert_array_equal(history.indices, sweep(strategy, bench, keys, 60).indices)
    np.testing.assert_array_equal(np.asarray(state.archive.count), [60, 60, 60])
    assert np.asarray(state.archive.seen).sum(1).tolist() == [60, 60, 60]


def _run(*args):
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", "experiments.bench_continuous", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_binary_reports_counters_for_the_continuous_configs(tmp_path):
    out = tmp_path / "bc.json"
    proc = _run("--configs=tabular,hit_and_run:4", "--seeds=2", "--budget=40",
                "--lanas_selects=10", f"--output={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["config"] for r in rows] == ["tabular", "hit_and_run:4"]
    assert "counters" not in rows[0]
    c = rows[1]["counters"]
    assert c["proposals"] >= 2 * 30 and 0.0 <= rows[1]["fallback_share"] <= 1.0
    assert "fallback" in proc.stdout


@pytest.mark.parametrize("configs, message", [("tabular,bogus", "unknown sampler 'bogus'"),
                                              ("tabular:4", "takes no proposal count"),
                                              ("nuts:0", "positive integer")])
def test_binary_refuses_bad_configs(configs, message):
    proc = _run(f"--configs={configs}", "--seeds=1", "--budget=10")
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-1000:]
