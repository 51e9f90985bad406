"""One strategy's asynchronous searches as ``experiments.open_search --executor=ray`` runs
them: one :func:`~lanas_jax.farm.async_loop.search` per seed, in turn (each seed's search
keeps every worker busy; seeds are not interleaved), each checkpointed to its own file, and
the results gathered into the :class:`~lanas_jax.host_loop.HostHistory` that
:func:`lanas_jax.open_search.result_entry` writes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from lanas_jax import host_loop
from lanas_jax.farm import async_loop
from lanas_jax.farm import checkpoint as ckpt
from lanas_jax.open_search import AlgoRun


def checkpoint_path(checkpoint_dir: str | None, algo: str, seed: int) -> str | None:
    """Where seed ``seed`` of ``algo`` keeps its state (None without a directory)."""
    return None if not checkpoint_dir else os.path.join(checkpoint_dir, f"{algo}_seed{seed}.npz")


def check_checkpoints(checkpoint_dir: str | None, algo: str, strategy, space: str,
                      budget: int, num_seeds: int, identity: dict, resume: bool) -> None:
    """Refuse, before any work starts, checkpoints of another search (or existing ones
    without ``resume``): :class:`~lanas_jax.farm.checkpoint.CheckpointMismatch` or
    ValueError naming the file."""
    for s in range(num_seeds):
        path = checkpoint_path(checkpoint_dir, algo, s)
        if path and os.path.exists(path):
            if not resume:
                raise ValueError(f"{path} exists: pass --resume to continue that search, or "
                                 "use another --checkpoint_dir")
            mine = async_loop.identity_of(space, strategy.name, budget,
                                          {**identity, "seed_index": s})
            ckpt.check_identity(path, ckpt.read_meta(path), mine)


def run_algo(name: str, strategy, domain, make_executor: Callable[[], Any], keys: jax.Array,
             budget: int, params: Any = None, *, identity: dict | None = None,
             checkpoint_dir: str | None = None, resume: bool = False, max_retries: int = 2,
             max_failures: int | None = None) -> tuple[AlgoRun, dict]:
    """``len(keys)`` asynchronous searches; returns the :class:`AlgoRun` (``round`` of a
    record = its ask index) and the farm's own record: failed evaluations per seed, retries,
    evaluations restored from checkpoints and in-flight ones re-run."""
    t0 = time.perf_counter()
    results = []
    for s in range(keys.shape[0]):
        results.append(async_loop.search(
            strategy, domain, make_executor(), keys[s], budget, params, seed_index=s,
            max_retries=max_retries, max_failures=max_failures,
            checkpoint_path=checkpoint_path(checkpoint_dir, name, s),
            identity={**(identity or {}), "seed_index": s}, resume=resume))
    history = history_of(results)
    farm = {"failed": [r.failed for r in results], "retries": sum(r.retries for r in results),
            "restored": sum(r.restored for r in results),
            "rerun_in_flight": sum(r.rerun for r in results)}
    return AlgoRun(name, history, time.perf_counter() - t0), farm


def history_of(results: list[async_loop.AsyncResult]) -> host_loop.HostHistory:
    """The seeds' searches as one host history (evaluations in the order told)."""
    archs = jax.tree.map(lambda *a: np.stack(a), *[r.archs for r in results])
    value = np.array([[e.val for e in r.records] for r in results])
    test = np.array([[e.test for e in r.records] for r in results])
    return host_loop.HostHistory(archs, value, test, [r.records for r in results],
                                 replayed=sum(r.restored for r in results))
