r"""Throughput of the evaluation farm (issue 17's measurements), all in one run.

1. Evaluations per minute of open-domain LaNAS (hit-and-run leaves, the library's defaults:
   height 5, 10 initial samples, 20 selects) training --space networks on --dataset with
   --recipe cut to --epochs (LaNAS's own compile done first, reported apart): the local
   executor (``host_loop.search``, one architecture per
   round as the farm asks them, and --local_batch per round as ``open_search`` batches them)
   against Ray with each of --ray_widths workers (a fresh local Ray per width; its start-up is
   reported apart). Every figure includes the first network's compilation in each process.
2. The Ray path's overhead per evaluation: the same search with a trivial evaluator
   (:class:`~lanas_jax.farm.tasks.HashTask`) inline vs on one Ray worker, after a warm-up.
3. Fault injection at --fault_p on Ray (trivial evaluator, 2 workers): evaluations lost must be 0.
4. Resume: a checkpointed inline search (trivial evaluator) stopped after half its budget and
   resumed; checkpoint write / load times and whether it equals the uninterrupted search.

  python -m experiments.bench_farm --budget=20 --epochs=1

Prints a table and writes --output_dir/bench_farm.json.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import tempfile
import time

import jax
import numpy as np
from absl import app

from experiments import common_flags, train_flags
from lanas_jax import host_loop
from lanas_jax.domain import open_domain
from lanas_jax.evaluators.synthetic import synthetic
from lanas_jax.evaluators.train import TrainEvaluator
from lanas_jax.farm import async_loop, executor, tasks
from lanas_jax.farm import checkpoint as ckpt
from lanas_jax.open_search import with_batch
from lanas_jax.partition.lanas import LaNAS
from lanas_jax.runner import seed_keys

_BUDGET = common_flags.DEFINE_integer("budget", 20, "Networks trained per configuration.")
_EPOCHS = common_flags.DEFINE_integer("epochs", 1, "Epochs of each network (the recipe's cut).")
_WORKERS = common_flags.DEFINE_list("ray_widths", ["1", "2"], "Ray worker counts to time.")
_LOCAL_BATCH = common_flags.DEFINE_integer(
    "local_batch", 10, "The local batched run's width (1: no batched run).")
_TRIVIAL = common_flags.DEFINE_integer("trivial_budget", 40, "Evaluations of parts 2-4.")
_FAULT_P = common_flags.DEFINE_float("fault_p", 0.2, "Worker death probability of part 3.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Search and training seed.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/bench_farm", "Where to write.")

LANAS = LaNAS(leaf_sampler="hit_and_run")


def _ray(workers: int) -> float:
    import ray

    if ray.is_initialized():
        ray.shutdown()
    t0 = time.perf_counter()
    executor.start_ray(workers)
    return time.perf_counter() - t0


def _warm_up(space, budget: int) -> float:
    """Compile the strategy's programs of both loops (with a synthetic evaluator and with
    :class:`HashTask`), so the timed runs time training and the farm, not LaNAS's compile."""
    t0 = time.perf_counter()
    for batch in sorted({1, _LOCAL_BATCH.value}):
        host_loop.search(with_batch(LANAS, batch), synthetic(space, jax.random.key(0)),
                         seed_keys(_SEED.value, 1), budget)
    async_loop.search(LANAS, open_domain(space), executor.InlineExecutor(tasks.HashTask()),
                      seed_keys(_SEED.value, 1)[0], budget)
    return time.perf_counter() - t0


def _trained(space, splits, recipe) -> list[dict]:
    budget, key = _BUDGET.value, jax.random.key(_SEED.value)
    rows = []
    for batch in sorted({1, _LOCAL_BATCH.value}):
        evaluator = TrainEvaluator(space, splits, recipe, seed=_SEED.value)
        t0 = time.perf_counter()
        host_loop.search(with_batch(LANAS, batch), evaluator, seed_keys(_SEED.value, 1), budget,
                         eval_key=key)
        rows.append({"config": f"local, batch {batch}", "seconds": time.perf_counter() - t0})
    spec = tasks.TrainSpec(space.name, train_flags.DATASET.value, len(splits.y_val),
                           len(splits.y_test), train_flags.SPLIT_SEED.value, recipe, _SEED.value,
                           train_flags.TFDS_DIR.value)
    domain = open_domain(space)
    for w in (int(x) for x in _WORKERS.value):
        start = _ray(w)
        ex = executor.RayExecutor(tasks.EvaluatorTask(spec, _SEED.value), w)
        t0 = time.perf_counter()
        r = async_loop.search(LANAS, domain, ex, seed_keys(_SEED.value, 1)[0], budget)
        rows.append({"config": f"ray, {w} worker(s)", "seconds": time.perf_counter() - t0,
                     "ray_start_seconds": start, "failed": len(r.failed)})
    for row in rows:
        row["evals_per_minute"] = 60 * budget / row["seconds"]
        row["ratio_to_local_batch_1"] = rows[0]["seconds"] / row["seconds"]
    return rows


def _timed(ex, domain, budget, **kw) -> tuple[async_loop.AsyncResult, float]:
    t0 = time.perf_counter()
    r = async_loop.search(LANAS, domain, ex, jax.random.key(_SEED.value), budget, **kw)
    return r, time.perf_counter() - t0


def _overhead(domain) -> dict:
    n, task = _TRIVIAL.value, tasks.HashTask()
    _timed(executor.InlineExecutor(task), domain, n)  # compiles the strategy
    _, inline = _timed(executor.InlineExecutor(task), domain, n)
    _ray(1)
    _timed(executor.RayExecutor(task, 1), domain, 2)  # the worker imports JAX
    _, ray_s = _timed(executor.RayExecutor(task, 1), domain, n)
    return {"evaluations": n, "inline_seconds": inline, "ray_seconds": ray_s,
            "ray_overhead_ms_per_eval": 1e3 * (ray_s - inline) / n}


def _faults(domain) -> dict:
    n, p = _TRIVIAL.value, _FAULT_P.value
    _ray(2)
    ex = executor.RayExecutor(tasks.HashTask(), 2, executor.Faults(p, _SEED.value))
    r, wall = _timed(ex, domain, n)
    asks = len(r.records) + len(r.failed)
    told = {e.round for e in r.records} | {f["ask"] for f in r.failed}
    return {"p": p, "completed": len(r.records), "retries": r.retries, "failed": len(r.failed),
            "asks": asks, "lost": asks - len(told & set(range(asks))), "seconds": wall}


class _Stop(Exception):
    pass


def _resume(domain) -> dict:
    n, task = _TRIVIAL.value, tasks.HashTask()
    whole, _ = _timed(executor.InlineExecutor(task, workers=2), domain, n)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "state.npz")

        def stop(done):
            if done == n // 2:
                raise _Stop

        t0 = time.perf_counter()
        try:
            _timed(executor.InlineExecutor(task, workers=2), domain, n, checkpoint_path=path,
                   on_result=stop)
        except _Stop:
            pass
        first = time.perf_counter() - t0
        size = os.path.getsize(path)
        state = async_loop.prepare(LANAS, 2, n).init(jax.random.key(0), domain, n,
                                                     LANAS.default_params())
        arch = jax.tree.map(np.asarray, domain.space.sample(jax.random.key(0)))
        identity = async_loop.identity_of(domain.space.name, LANAS.name, n)
        t0 = time.perf_counter()
        ckpt.load(path, identity, state, arch)
        load = time.perf_counter() - t0
        meta = ckpt.read_meta(path)
        t0 = time.perf_counter()
        for _ in range(5):
            ckpt.save(path + ".bench", identity, state, jax.random.key(0), meta["loop"], [])
        save = (time.perf_counter() - t0) / 5
        resumed, second = _timed(executor.InlineExecutor(task, workers=2), domain, n,
                                 checkpoint_path=path, resume=True)
    same = ([(e.round, e.arch, e.val) for e in resumed.records]
            == [(e.round, e.arch, e.val) for e in whole.records])
    return {"evaluations": n, "stopped_after": n // 2, "first_part_seconds": first,
            "resumed_part_seconds": second, "rerun_in_flight": resumed.rerun,
            "checkpoint_bytes": size, "save_ms": 1e3 * save, "load_ms": 1e3 * load,
            "equals_uninterrupted": same}


def main(argv):
    del argv
    if _BUDGET.value < 1 or _EPOCHS.value < 1 or _TRIVIAL.value < 2:
        raise app.UsageError("--budget, --epochs must be >= 1 and --trivial_budget >= 2")
    space, splits = train_flags.space(), train_flags.splits()
    recipe = dataclasses.replace(train_flags.recipe(), epochs=_EPOCHS.value)
    out = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                       "load_average": os.getloadavg()},
           "space": space.name, "dataset": splits.name, "epochs": _EPOCHS.value,
           "budget": _BUDGET.value}
    try:
        out["strategy_compile_seconds"] = _warm_up(space, _BUDGET.value)
        out["trained"] = _trained(space, splits, recipe)
        domain = open_domain(space)
        out["overhead"] = _overhead(domain)
        out["faults"] = _faults(domain)
        out["resume"] = _resume(domain)
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    print(f"{'configuration':<22} {'seconds':>8} {'evals/min':>10} {'x local b1':>11}")
    for row in out["trained"]:
        print(f"{row['config']:<22} {row['seconds']:>8.1f} {row['evals_per_minute']:>10.2f} "
              f"{row['ratio_to_local_batch_1']:>11.2f}")
    out["load_average_after"] = os.getloadavg()
    print(f"LaNAS compile (excluded above): {out['strategy_compile_seconds']:.1f} s; "
          f"load average {out['machine']['load_average'][0]:.1f} -> "
          f"{out['load_average_after'][0]:.1f}")
    print("ray start-up s:", [round(r.get("ray_start_seconds", 0), 1) for r in out["trained"]])
    print("overhead:", json.dumps(out["overhead"]))
    print("faults:", json.dumps(out["faults"]))
    print("resume:", json.dumps(out["resume"]))
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    path = os.path.join(_OUTPUT_DIR.value, "bench_farm.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
