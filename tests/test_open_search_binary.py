"""The training binaries end to end on digits with the ``tiny`` recipe: ``experiments.
open_search`` (results schema, never evaluates an architecture twice, values are the
library's, a rerun resumes from the journal) and ``experiments.evaluate``; and their refusals
of bad input. Each binary runs its calls in one interpreter (``binary_driver``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from binary_driver import run_calls

BUDGET, BATCH, SEEDS = 4, 2, 2
COMMON = ["--space=mlp", "--dataset=digits", "--recipe=tiny"]
SEARCH_BAD = [
    ("--algo=bogus", "unknown strategy 'bogus'"),
    ("--algo=mcts", "pool"),
    ("--budget=5", "not a multiple of --batch=2"),
    ("--dataset=npz:/nonexistent/data.npz", "/nonexistent/data.npz"),
    ("--dataset=cifar11", "unknown dataset 'cifar11'"),
    ("--space=nb999", "nb999"),
]
EVAL_BAD = [
    ("--arch=(128, relu), (64, rleu)", "rleu"),
    ("--space=convnet", "not a convnet architecture"),
]


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("open_search")
    out = tmp / "out"
    good = [*COMMON, "--algo=random,evolution", f"--budget={BUDGET}", f"--batch={BATCH}",
            f"--seeds={SEEDS}", "--final_epochs=1", f"--output_dir={out}",
            "--evolution_population=2", "--evolution_tournament=2"]
    bad = [[*COMMON, "--batch=2", f"--output_dir={tmp / 'bad'}", flag] for flag, _ in SEARCH_BAD]
    results = run_calls("experiments.open_search", [good, good, *bad], tmp, fast_compile=True)
    return out, results


def test_results_schema_and_never_twice(search) -> None:
    out, results = search
    assert results[0]["error"] is None, results[0]
    entries = json.loads((out / "results.json").read_text())
    assert [e["algo"] for e in entries] == ["random", "evolution"]
    for e in entries:
        assert (e["space"], e["budget"], e["batch"], e["seeds"]) == ("mlp", BUDGET, BATCH, SEEDS)
        assert e["recipe"]["name"] == "tiny" and e["dataset"]["name"] == "digits"
        assert len(e["evaluations"]) == SEEDS and len(e["best"]) == len(e["final"]) == SEEDS
        for seed, best, final in zip(e["evaluations"], e["best"], e["final"], strict=True):
            assert len(seed) == BUDGET and len({r["arch"] for r in seed}) == BUDGET
            assert [r["round"] for r in seed] == [0, 0, 1, 1]
            assert best["val"] == max(r["val"] for r in seed)
            assert final["arch"] == best["arch"] and final["epochs"] == 1
            assert all(0 <= r["val"] <= 1 and r["params"] > 0 for r in seed)
    assert (out / "curves.png").stat().st_size > 0


def test_a_rerun_resumes_from_the_journals(search) -> None:
    out, results = search
    assert results[1]["error"] is None, results[1]
    # The second call found every round and the final trainings in its journals: it trained
    # nothing and wrote the same results.
    again = json.loads((out / "results.json").read_text())  # the second call's
    assert [e["replayed_evaluations"] for e in again] == [BUDGET * SEEDS] * 2
    assert _replayed_column(results[0]["stdout"]) == [0, 0]
    assert _replayed_column(results[1]["stdout"]) == [BUDGET * SEEDS] * 2
    assert [e["final"] for e in again] == [e["final"] for e in _first_results(out)]


def _first_results(out):
    """The first call's results, rebuilt from the journals it wrote (the second call
    overwrote results.json)."""
    entries = []
    for algo in ("random", "evolution"):
        lines = [json.loads(x) for x in (out / f"journal_{algo}.jsonl").read_text().splitlines()
                 if x]
        entries.append({"final": next(e["value"] for e in lines if e.get("extra") == "final_1")})
    return entries


def _replayed_column(stdout: str) -> list[int]:
    rows = [line.split() for line in stdout.splitlines()
            if line.split()[:1] in (["random"], ["evolution"]) and "seed" not in line]
    return [int(r[4]) for r in rows]


def test_open_search_refuses_bad_input(search) -> None:
    _, results = search
    for (flag, words), result in zip(SEARCH_BAD, results[2:], strict=True):
        assert result["error"] is not None and words in result["error"], (flag, result)


def test_evaluate_trains_what_was_typed_and_reproduces_a_search(search, tmp_path) -> None:
    """``evaluate --seed=S`` trains an architecture exactly as ``open_search --seed=S`` did."""
    found = json.loads((search[0] / "results.json").read_text())[0]["evaluations"][0]
    found = found[:2]
    typed = ["(16, relu), dropout, (8, tanh)", "(16, elu)"]  # one widest layer: one program
    archs = typed + [r["arch"] for r in found]
    out = tmp_path / "eval"
    good = [*COMMON, *[f"--arch={a}" for a in archs], f"--output_dir={out}"]
    bad = [[*COMMON, "--arch=(16, relu)", f"--output_dir={tmp_path / 'bad'}", flag]
           for flag, _ in EVAL_BAD]
    results = run_calls("experiments.evaluate", [good, *bad], tmp_path, fast_compile=True)
    assert results[0]["error"] is None, results[0]
    report = json.loads((out / "evaluate.json").read_text())["architectures"]
    assert [r["arch"] for r in report] == archs
    # Parameter counts by hand: 64 inputs -> 16 -> 8 -> 10 classes; 64 -> 16 -> 10.
    assert [r["params"] for r in report[:2]] == [
        64 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10, 64 * 16 + 16 + 16 * 10 + 10]
    np.testing.assert_allclose([r["val"] for r in report[2:]], [r["val"] for r in found],
                               atol=1e-6)
    assert [r["params"] for r in report[2:]] == [r["params"] for r in found]
    for (flag, words), result in zip(EVAL_BAD, results[1:], strict=True):
        assert result["error"] is not None and words in result["error"], (flag, result)
