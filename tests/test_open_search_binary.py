"""The training binaries end to end on digits with the ``tiny`` recipe: ``experiments.
open_search`` (results schema, never evaluates an architecture twice, values are the
library's, a rerun resumes from the journal) and ``experiments.evaluate``; and their refusals
of bad input. Each binary runs its calls in one interpreter (``binary_driver``)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from binary_driver import run_calls

from lanas_jax.data import load_dataset
from lanas_jax.evaluators.train import TrainEvaluator
from lanas_jax.open_search import stack_parsed
from lanas_jax.spaces import get_space
from lanas_jax.training.recipe import get_recipe

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


def test_values_are_the_library_training_and_a_rerun_resumes(search) -> None:
    out, results = search
    assert results[1]["error"] is None, results[1]
    # The second call found every round in its journals: nothing trained again.
    first = json.loads((out / "results.json").read_text())  # the second call's
    assert [e["replayed_evaluations"] for e in first] == [BUDGET * SEEDS] * 2
    assert _replayed_column(results[0]["stdout"]) == [0, 0]
    assert _replayed_column(results[1]["stdout"]) == [BUDGET * SEEDS] * 2
    space = get_space("mlp")
    splits = load_dataset("digits", n_val=350, n_test=350)
    evaluator = TrainEvaluator(space, splits, get_recipe("tiny"))
    seed0 = first[0]["evaluations"][0]
    archs = stack_parsed(space, [r["arch"] for r in seed0])
    got = evaluator.train(archs, jax.random.fold_in(jax.random.key(0), 1))
    np.testing.assert_allclose(got.val, [r["val"] for r in seed0], atol=1e-6)
    np.testing.assert_array_equal(got.params, [r["params"] for r in seed0])


def _replayed_column(stdout: str) -> list[int]:
    rows = [line.split() for line in stdout.splitlines()
            if line.split()[:1] in (["random"], ["evolution"]) and "seed" not in line]
    return [int(r[4]) for r in rows]


def test_open_search_refuses_bad_input(search) -> None:
    _, results = search
    for (flag, words), result in zip(SEARCH_BAD, results[2:], strict=True):
        assert result["error"] is not None and words in result["error"], (flag, result)


def test_evaluate_trains_what_was_typed_and_refuses_bad_strings(tmp_path) -> None:
    archs = ["(16, relu), dropout, (8, tanh)", "(32, elu)"]
    out = tmp_path / "eval"
    good = [*COMMON, *[f"--arch={a}" for a in archs], f"--output_dir={out}"]
    bad = [[*COMMON, "--arch=(16, relu)", f"--output_dir={tmp_path / 'bad'}", flag]
           for flag, _ in EVAL_BAD]
    results = run_calls("experiments.evaluate", [good, *bad], tmp_path, fast_compile=True)
    assert results[0]["error"] is None, results[0]
    report = json.loads((out / "evaluate.json").read_text())
    assert [r["arch"] for r in report["architectures"]] == archs
    # Parameter counts by hand: 64 inputs -> 16 -> 8 -> 10 classes; 64 -> 32 -> 10.
    assert [r["params"] for r in report["architectures"]] == [
        64 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10, 64 * 32 + 32 + 32 * 10 + 10]
    for (flag, words), result in zip(EVAL_BAD, results[1:], strict=True):
        assert result["error"] is not None and words in result["error"], (flag, result)
