"""``experiments.oneshot_table``: finished runs are read back (never run again), the table's
means and spreads, a failing run is recorded with its log and never hides the others, bad flags
are refused (issue 15 item 6)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from binary_driver import run_calls

from experiments import oneshot_table


def _result(method, seed, val, test, sval, tau):
    return {"method": method, "seed": seed, "search": "own", "kendall_tau": tau,
            "train_seconds": 10.0 + seed, "search_seconds": 1.0,
            "found": {"arch": "(32, 3)", "supernet_val": sval, "true_val": val,
                      "true_test": test, "true_rank": 3 + seed, "true_from": "table"}}


FAKE = {("spos", 0): (0.90, 0.95, 0.5, 0.4), ("spos", 1): (0.94, 0.97, 0.6, 0.5),
        ("darts", 0): (0.80, 0.85, 0.7, 0.3), ("darts", 1): (0.84, 0.83, 0.9, 0.1)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("table")
    done = tmp / "done"
    for (m, s), v in FAKE.items():
        d = done / "runs" / f"{m}_seed{s}"
        d.mkdir(parents=True)
        (d / "results.json").write_text(json.dumps(_result(m, s, *v)))
    calls = [["--methods=spos,darts", "--seeds=2", f"--output_dir={done}"],
             # a run that fails at once (oneshot refuses --budget=0): recorded, not hidden
             ["--methods=spos", "--seeds=1", "--oneshot_flags=--budget=0",
              f"--output_dir={tmp / 'fail'}"],
             ["--methods=spos,dartz", f"--output_dir={tmp / 'bad'}"],
             ["--seeds=0", f"--output_dir={tmp / 'bad'}"],
             ["--oneshot_flags=budget=3", f"--output_dir={tmp / 'bad'}"]]
    return tmp, run_calls("experiments.oneshot_table", calls, tmp)


def test_finished_runs_are_read_back_and_aggregated(runs):
    tmp, results = runs
    assert results[0]["error"] is None, results[0]
    assert results[0]["stdout"].count("already done") == 4
    out = json.loads((tmp / "done" / "results.json").read_text())
    rows = {r["method"]: r for r in out["rows"]}
    assert list(rows) == ["spos", "darts"] and out["failed"] == []
    for m in ("spos", "darts"):
        vals = [FAKE[(m, s)] for s in (0, 1)]
        for i, name in enumerate(("true_val", "true_test", "supernet_val", "kendall_tau")):
            assert rows[m][name] == pytest.approx(np.mean([v[i] for v in vals]))
            assert rows[m][f"{name}_std"] == pytest.approx(np.std([v[i] for v in vals]))
        assert rows[m]["seconds"] == pytest.approx(11.5) and rows[m]["true_rank"] == 3.5
    table = (tmp / "done" / "table.md").read_text()
    assert "| spos | 2 | 55.00 ± 5.00 | 92.00 ± 2.00 | 96.00 ± 1.00 |" in table


def test_a_failing_run_is_recorded_with_its_log(runs):
    tmp, results = runs
    assert "SystemExit: 1 run(s) failed: spos seed 0" in results[1]["error"], results[1]
    out = json.loads((tmp / "fail" / "results.json").read_text())
    assert [(f["method"], f["seed"]) for f in out["failed"]] == [("spos", 0)]
    assert "--budget" in out["failed"][0]["log_tail"]
    assert "FAILED" in results[1]["stdout"]


def test_bad_flags_are_refused(runs):
    _, results = runs
    assert "dartz" in results[2]["error"] and "UsageError" in results[2]["error"]
    assert "--seeds must be >= 1" in results[3]["error"]
    assert "budget=3" in results[4]["error"]


def test_a_begun_run_resumes_and_the_published_rows_are_labelled(tmp_path):
    d = tmp_path / "r"
    cmd = oneshot_table.oneshot_command("enas", 2, str(d), space="nb201", dataset="digits",
                                        ground_truth="nb201_digits_sample", epochs=5, extra=[])
    assert cmd[:3] == [sys.executable, "-m", "experiments.oneshot"] and "--resume" not in cmd
    assert {"--method=enas", "--seed=2", "--epochs=5",
            "--ground_truth=nb201_digits_sample"} <= set(cmd)
    (d / "checkpoints" / "3").mkdir(parents=True)
    assert "--resume" in oneshot_table.oneshot_command(
        "enas", 2, str(d), space="nb201", dataset="digits", ground_truth=None, epochs=None,
        extra=[])
    rows = oneshot_table.aggregate([_result("darts", 0, 0.5, 0.5, 0.5, 0.1)])
    text = oneshot_table.format_table(rows, space="nb201", dataset="digits")
    assert "Published, not ours" in text and "54.30 (all skip)" in text
    assert "not ours" not in oneshot_table.format_table(rows, space="convnet",
                                                        dataset="digits")
