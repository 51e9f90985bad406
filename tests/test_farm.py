"""The evaluation farm (issue 17 items 1-3): the asynchronous loop never evaluates an
architecture twice and ends with exactly the budget of completed evaluations; injected worker
deaths lose nothing (in the driver and on Ray); an evaluation that raises is recorded as failed;
a search stopped (or SIGKILLed) and resumed equals the uninterrupted one; a checkpoint of another
search is refused (by the library and by ``experiments.open_search``).

LaNAS (a small tree, hit-and-run leaves) searches seed 001's open MLP space; the evaluator is
:class:`~lanas_jax.farm.tasks.HashTask` (deterministic, no training). One local Ray of 2 CPUs is
started for the module's Ray test and shut down after it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest
from binary_driver import ROOT, run_calls

from lanas_jax.domain import open_domain
from lanas_jax.farm import async_loop, executor, tasks
from lanas_jax.farm import checkpoint as ckpt
from lanas_jax.partition.lanas import LaNAS
from lanas_jax.spaces import get_space
from lanas_jax.strategies.random_search import RandomSearch

BUDGET = 12
DOMAIN = open_domain(get_space("mlp"))
LANAS = LaNAS(leaf_sampler="hit_and_run", num_init=4, num_selects=4, tree_height=2)
TASK = tasks.HashTask(raise_below=0.1)  # about one architecture in ten "diverges"


def _search(ex, strategy=LANAS, **kw) -> async_loop.AsyncResult:
    return async_loop.search(strategy, DOMAIN, ex, jax.random.key(0), BUDGET, **kw)


def _check_complete(r: async_loop.AsyncResult) -> None:
    """Exactly the budget completed, no architecture twice (canonical keys), every ask either
    completed or failed (nothing dropped), failures carry their reason."""
    assert len(r.records) == BUDGET
    keys = np.asarray(jax.vmap(DOMAIN.space.key)(r.archs))
    assert len({tuple(k) for k in keys}) == BUDGET
    asks = [e.round for e in r.records] + [f["ask"] for f in r.failed]
    assert sorted(asks) == list(range(len(asks)))
    assert len({e.arch for e in r.records} | {f["arch"] for f in r.failed}) == len(asks)
    for f in r.failed:
        assert f["reason"].startswith(("died: ", "raised: "))


def _plain(r: async_loop.AsyncResult) -> tuple:
    return ([(e.round, e.arch, e.val) for e in r.records], r.failed)


def test_async_never_twice_exact_budget_and_failures_recorded() -> None:
    r = _search(executor.InlineExecutor(TASK, workers=3))
    _check_complete(r)
    assert r.failed and all("TrainingDiverged" in f["reason"] for f in r.failed)
    assert all(f["attempts"] == 1 for f in r.failed)  # an evaluation that raises: no retry


def test_injected_worker_deaths_lose_nothing() -> None:
    faults = executor.Faults(0.3, seed=1)
    r = _search(executor.InlineExecutor(TASK, faults, workers=2), max_retries=1)
    _check_complete(r)
    assert r.retries > 0
    died = [f for f in r.failed if f["reason"].startswith("died: ")]
    assert all(f["attempts"] == 2 for f in died)  # max_retries=1: two attempts, then failed
    again = _search(executor.InlineExecutor(TASK, faults, workers=2), max_retries=1)
    assert _plain(again) == _plain(r)  # the deaths are reproducible


class _Stop(Exception):
    pass


def _stop_at(k: int):
    def on_result(done: int) -> None:
        if done == k:
            raise _Stop
    return on_result


def test_stopped_and_resumed_equals_uninterrupted(tmp_path) -> None:
    faults = executor.Faults(0.2, seed=3)
    whole = _search(executor.InlineExecutor(TASK, faults, workers=2))
    path = str(tmp_path / "lanas.npz")
    with pytest.raises(_Stop):
        _search(executor.InlineExecutor(TASK, faults, workers=2), checkpoint_path=path,
                on_result=_stop_at(5))
    evaluated = []

    def counting(arch):
        evaluated.append(DOMAIN.space.describe(arch))
        return TASK(arch)

    resumed = _search(executor.InlineExecutor(counting, faults, workers=2),
                      checkpoint_path=path, resume=True)
    assert _plain(resumed) == _plain(whole)
    assert (resumed.restored, resumed.rerun) == (5, 1)
    assert not set(evaluated) & {e.arch for e in resumed.records[:5]}  # only the in-flight rerun
    with pytest.raises(ValueError, match="exists"):
        _search(executor.InlineExecutor(TASK), checkpoint_path=path)


_KILLED_DRIVER = """
import os, signal, sys, jax
from lanas_jax.domain import open_domain
from lanas_jax.farm import async_loop, executor, tasks
from lanas_jax.spaces import get_space
from lanas_jax.strategies.random_search import RandomSearch

def on_result(done):
    if done == 4:
        os.kill(os.getpid(), signal.SIGKILL)

async_loop.search(RandomSearch(), open_domain(get_space("mlp")),
                  executor.InlineExecutor(tasks.HashTask(raise_below=0.1), workers=2),
                  jax.random.key(0), 12, checkpoint_path=sys.argv[1], on_result=on_result)
"""


def test_sigkilled_driver_resumes_to_the_uninterrupted_result(tmp_path) -> None:
    path = str(tmp_path / "random.npz")
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", _KILLED_DRIVER, path], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert len(ckpt.read_meta(path)["loop"]["records"]) == 4
    whole = _search(executor.InlineExecutor(TASK, workers=2), RandomSearch())
    resumed = _search(executor.InlineExecutor(TASK, workers=2), RandomSearch(),
                      checkpoint_path=path, resume=True)
    assert _plain(resumed) == _plain(whole) and resumed.restored == 4
    # Another strategy's checkpoint is refused, naming the difference.
    with pytest.raises(ckpt.CheckpointMismatch, match="strategy is 'random'.*'lanas'"):
        _search(executor.InlineExecutor(TASK), checkpoint_path=path, resume=True)
    # ... and so does the binary, before it starts Ray.
    farm = tmp_path / "ck"
    farm.mkdir()
    shutil.copy(path, farm / "lanas_seed0.npz")
    common = ["--space=mlp", "--dataset=digits", "--recipe=tiny", "--algo=lanas",
              f"--output_dir={tmp_path / 'out'}"]
    calls = [[*common, "--executor=ray", f"--checkpoint_dir={farm}", "--resume"],
             [*common, "--executor=ray", f"--checkpoint_dir={farm}"],
             [*common, "--inject_worker_failures=0.2"],
             [*common, "--executor=ray", "--resume"]]
    results = run_calls("experiments.open_search", calls, tmp_path)
    errors = [r["error"] or "" for r in results]
    assert "its strategy is 'random'" in errors[0], errors[0]
    assert "pass --resume" in errors[1], errors[1]
    assert "needs --executor=ray" in errors[2], errors[2]
    assert "--resume needs --checkpoint_dir" in errors[3], errors[3]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    started = executor.start_ray(2)  # ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    if started:
        ray.shutdown()


def test_ray_farm_survives_worker_deaths(ray_cluster) -> None:
    # Seed 0 at P = 0.3 kills the workers of asks 2 and 7, and ask 7's retry too: three worker
    # processes exit, ask 7 is recorded as failed after its two attempts (max_retries=1).
    faults = executor.Faults(0.3, seed=0)
    r = _search(executor.RayExecutor(TASK, 2, faults), max_retries=1)
    _check_complete(r)
    assert r.retries == 2
    died = [f for f in r.failed if f["reason"].startswith("died: ")]
    assert [(f["ask"], f["attempts"]) for f in died] == [(7, 2)]
    assert "WorkerCrashedError" in died[0]["reason"]
    raised = [f for f in r.failed if f["reason"].startswith("raised: ")]
    assert all("TrainingDiverged" in f["reason"] for f in raised)
    # The workers' values are the driver's.
    assert all(e.val == TASK(jax.tree.map(lambda a, i=i: a[i], r.archs))["val"]
               for i, e in enumerate(r.records))
