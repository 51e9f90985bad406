"""The continuous-vs-tabular benchmark binary and the runner's final-state sweep behind it."""

import json

import numpy as np
import pytest
from binary_driver import run_calls

from lanas_jax.partition.lanas import LaNAS
from lanas_jax.runner import seed_keys, sweep, sweep_with_state
from tests.search_checks import linear_bench


def test_sweep_with_state_returns_the_same_history_and_the_final_states():
    bench, keys = linear_bench(), seed_keys(4, 3)
    strategy = LaNAS(tree_height=3, num_selects=10, num_init=10)
    history, state = sweep_with_state(strategy, bench, keys, 60)
    np.testing.assert_array_equal(history.indices, sweep(strategy, bench, keys, 60).indices)
    np.testing.assert_array_equal(np.asarray(state.archive.count), [60, 60, 60])
    assert np.asarray(state.archive.seen).sum(1).tolist() == [60, 60, 60]


BAD_CONFIGS = [("tabular,bogus", "unknown sampler 'bogus'"),
               ("tabular:4", "takes no proposal count"),
               ("nuts:0", "positive integer")]


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    """(output file, driver results): the run, then each bad --configs, one interpreter."""
    tmp = tmp_path_factory.mktemp("bench_continuous")
    out = tmp / "bc.json"
    runs = [["--configs=tabular,hit_and_run:4", "--seeds=2", "--budget=40",
             "--lanas_selects=10", f"--output={out}"],
            *[[f"--configs={c}", "--seeds=1", "--budget=10", f"--output={tmp / 'bad.json'}"]
              for c, _ in BAD_CONFIGS]]
    return out, run_calls("experiments.bench_continuous", runs, tmp, fast_compile=True)


def test_binary_reports_counters_for_the_continuous_configs(calls):
    out, results = calls
    assert results[0]["error"] is None, results[0]
    rows = json.loads(out.read_text())["rows"]
    assert [r["config"] for r in rows] == ["tabular", "hit_and_run:4"]
    assert "counters" not in rows[0]
    c = rows[1]["counters"]
    # 2 seeds x (40 - 10 initial) queries after the first fit, up to 4 proposals each: the
    # counters are consistent with that, and the share is fallbacks per query (catches
    # counters summed over the wrong axis or the initial queries counted as asks).
    asks = 2 * 30
    assert asks <= c["proposals"] <= 4 * asks
    assert c["resampled"] + c["off_leaf"] <= c["proposals"]
    assert c["empty"] <= c["fallback"] <= asks
    assert rows[1]["fallback_share"] == pytest.approx(c["fallback"] / asks)
    assert "fallback" in results[0]["stdout"]


@pytest.mark.parametrize("case", range(len(BAD_CONFIGS)))
def test_binary_refuses_bad_configs(calls, case):
    configs, message = BAD_CONFIGS[case]
    error = calls[1][1 + case]["error"]
    assert error is not None and message in error, (configs, error)
