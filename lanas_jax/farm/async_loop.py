"""The asynchronous ask / tell loop of an evaluation farm (issue 17 items 1-3).

As soon as a worker is free the strategy is asked for ONE architecture (``batch_size`` 1) and
it is submitted; results are told in the order they arrive. An architecture asked and not yet
told is pending in the strategy's :class:`~lanas_jax.archive.Archive` (``ask`` marks it), so it
is never proposed again while in flight; the in-flight cap ``max_pending`` is widened to hold
every worker's architecture and every failed one (below).

Rounds: a strategy with rounds (LaNAS's refit, seed 000 Alg. 1) begins one at the first ask
after the number of told evaluations crossed a round boundary (``round_due`` of any count since
the last ask), exactly once per boundary, on the evaluated samples only.

LaNAS's UCB counts with pending samples: a node's ``n`` and value sum (Sec. 3.3) are only ever
changed by ``tell`` (back-propagation of a told value along its leaf's path) and by the refit
(which recounts every evaluated sample), never by ``ask``. So ``n`` counts the completed
evaluations in the node's region and ``X̄`` is their mean: a pending sample contributes nothing
until its value arrives, and then exactly once. (The reference code's distributed LaNAS nulls
every sample, so UCB sees nothing; ours sees every completed one.) While samples are in flight
UCB may select the same leaf again, as synchronous LaNAS does within a batch; the archive keeps
each proposal new.

Faults: a worker that dies (an executor's ``died`` outcome) gets its architecture resubmitted,
at most ``max_retries`` times, then the architecture is recorded as failed with the reason. An
evaluation that raises, or returns a non-finite value, is recorded as failed with its error at
once (a deterministic error would only raise again). A failed architecture is never told to
the strategy (a made-up low value would bias LaNAS's regressions and UCB means, and would count
towards the budget): it stays pending in the archive for good, so it is never proposed again,
and the search goes on until ``budget`` evaluations have COMPLETED. More than ``max_failures``
failures stop the search with :class:`FarmFailed`.

Checkpoints: with ``checkpoint_path`` the whole state (strategy state, search key, completed
and failed evaluations, the architectures in flight with their attempt counts) is written after
every result (:mod:`~lanas_jax.farm.checkpoint`), after the result is told and before the freed
worker gets its next architecture. A search started again with ``resume=True`` reloads it,
resubmits only the architectures that were in flight and goes on to the same budget; since every
ask is a pure function of the saved key and state, a resumed search whose results arrive in the
same order (one worker, or :class:`~lanas_jax.farm.executor.InlineExecutor`) equals the
uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.farm import checkpoint as ckpt
from lanas_jax.host_loop import Evaluated


class FarmFailed(RuntimeError):
    """More evaluations failed than the search allows."""


@dataclasses.dataclass
class AsyncResult:
    """One asynchronous search.

    Attributes:
      records: the completed evaluations in the order they were told (``round`` = the ask
        index of the architecture).
      failed: ``{"ask", "arch", "attempts", "reason"}`` per failed architecture.
      archs: the completed architectures stacked ``[budget]`` (in ``records``' order).
      state: the strategy's final state.
      retries: attempts resubmitted after a worker death.
      restored: evaluations taken from a checkpoint (not evaluated by this call).
      rerun: architectures resubmitted because they were in flight when the checkpoint was
        written (evaluations a killed driver lost).
      wall_seconds: this call's wall time.
    """

    records: list[Evaluated]
    failed: list[dict]
    archs: Any
    state: Any
    retries: int = 0
    restored: int = 0
    rerun: int = 0
    wall_seconds: float = 0.0


def prepare(strategy, workers: int, max_failures: int):
    """``strategy`` asking one architecture at a time, with room for ``workers`` in flight
    and ``max_failures`` failed architectures kept pending (see the module doc)."""
    return dataclasses.replace(strategy, batch_size=1,
                               max_pending=max(strategy.max_pending, int(workers))
                               + int(max_failures))


@functools.partial(jax.jit, static_argnums=0)
def _begin(strategy, key, state, domain, params):
    return strategy._begin_round(key, state, domain, params)


@functools.partial(jax.jit, static_argnums=0)
def _ask(strategy, key, state, domain, params):
    archs, state = strategy.ask_batch(key, state, domain, params)
    return jax.tree.map(lambda a: a[0], archs), state


def search(strategy, domain, executor, key: jax.Array, budget: int, params: Any = None, *,
           seed_index: int = 0, max_retries: int = 2, max_failures: int | None = None,
           checkpoint_path: str | None = None, identity: dict | None = None,
           resume: bool = False, describe: Callable[[Any], str] | None = None,
           on_result: Callable[[int], None] | None = None) -> AsyncResult:
    """An asynchronous search of ``budget`` completed evaluations over ``executor``.

    Args:
      strategy: any strategy (it is :func:`prepare`-d: batch 1, room for the in-flight ones).
      domain: what may be proposed (``evaluator.domain``).
      executor: an :mod:`~lanas_jax.farm.executor` executor (``workers`` in flight at once).
      key: the search's key (the strategy's init key and the ask keys are split from it).
      seed_index: written into the records' ``seed``.
      max_retries: resubmissions of an architecture whose worker died.
      max_failures: failed architectures allowed (default ``budget``).
      checkpoint_path: where the state is written after every result.
      identity: what makes two searches the same (configuration); ``space``, ``strategy`` and
        ``budget`` are added.
      resume: continue from ``checkpoint_path`` when it exists (refused if it is another
        search's: :class:`~lanas_jax.farm.checkpoint.CheckpointMismatch`).
      describe: one architecture -> its string (default the space's).
      on_result: called with the number of completed evaluations after each checkpoint.

    Raises:
      ValueError: a bad budget, a strategy that cannot search the domain, a checkpoint of
        another search or an existing checkpoint without ``resume``.
      FarmFailed: more than ``max_failures`` failures.
    """
    t0 = time.perf_counter()
    if not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be a positive integer, got {budget!r}")
    if domain.is_pool and budget > domain.size:
        raise ValueError(f"budget {budget} is larger than the domain ({domain.size} entries)")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    max_failures = int(budget if max_failures is None else max_failures)
    strategy = prepare(strategy, executor.workers, max_failures)
    strategy.validate(domain, int(budget))
    params = strategy.default_params() if params is None else params
    describe = describe or domain.space.describe
    identity = identity_of(domain.space.name, strategy.name, budget, identity)
    init_key, key = jax.random.split(key)
    state = strategy.init(init_key, domain, int(budget), params)
    loop = {"asks": 0, "round_checked": -1, "records": [], "failed": [], "in_flight": [],
            "retries": 0}
    in_flight: dict[int, dict] = {}  # ask index -> {"ask", "arch", "attempt", "value"}
    restored = rerun = 0
    if checkpoint_path and os.path.exists(checkpoint_path):
        if not resume:
            raise ValueError(f"{checkpoint_path} exists: resume it, or use another checkpoint "
                             "directory")
        arch_template = jax.tree.map(np.asarray, _ask(strategy, key, state, domain, params)[0])
        state, key, loop, archs = ckpt.load(checkpoint_path, identity, state, arch_template)
        restored, rerun = len(loop["records"]), len(archs)
        for item, arch in zip(loop["in_flight"], archs, strict=True):
            in_flight[item["ask"]] = {**item, "value": arch}
            executor.submit(item["ask"], arch, item["ask"], item["attempt"])
    records = [Evaluated(**r) for r in loop["records"]]

    def save():
        if checkpoint_path:
            items = sorted(in_flight.values(), key=lambda p: p["ask"])
            loop.update(records=[dataclasses.asdict(r) for r in records],
                        in_flight=[{k: p[k] for k in ("ask", "arch", "attempt")} for p in items])
            ckpt.save(checkpoint_path, identity, state, key, loop, [p["value"] for p in items])

    while len(records) < budget:
        while (executor.in_flight < executor.workers
               and len(records) + len(in_flight) < budget):
            key, round_key, ask_key = jax.random.split(key, 3)
            state = _maybe_begin(strategy, round_key, state, domain, params, loop, len(records))
            arch, state = _ask(strategy, ask_key, state, domain, params)
            arch = jax.tree.map(np.asarray, arch)
            i = loop["asks"]
            loop["asks"] += 1
            in_flight[i] = {"ask": i, "arch": describe(arch), "attempt": 0, "value": arch}
            executor.submit(i, arch, i, 0)
        if executor.in_flight == 0:
            raise RuntimeError("the farm has nothing in flight before the budget is reached")
        out = executor.wait()
        p = in_flight[out.task]
        record = out.record or {}
        if out.kind == "ok" and not np.isfinite(record.get("val", np.nan)):
            out = dataclasses.replace(out, kind="raised",
                                      error=f"non-finite value {record.get('val')}")
        if out.kind == "ok":
            del in_flight[out.task]
            state = strategy.tell(state, jax.tree.map(lambda a: a[None], p["value"]),
                                  jnp.asarray([record["val"]], jnp.float32), domain, params)
            records.append(Evaluated(seed_index, p["ask"], p["arch"], float(record["val"]),
                                     float(record["test"]), record.get("params"),
                                     float(record["seconds"])))
        elif out.kind == "died" and p["attempt"] < max_retries:
            p["attempt"] += 1
            loop["retries"] += 1
            executor.submit(p["ask"], p["value"], p["ask"], p["attempt"])
        else:
            del in_flight[out.task]
            loop["failed"].append({"ask": p["ask"], "arch": p["arch"],
                                   "attempts": p["attempt"] + 1,
                                   "reason": f"{out.kind}: {out.error}"})
            if len(loop["failed"]) > max_failures:
                executor.close()
                raise FarmFailed(f"{len(loop['failed'])} evaluations failed (more than "
                                 f"max_failures={max_failures}); the last: "
                                 f"{loop['failed'][-1]}")
        save()
        if on_result is not None:
            on_result(len(records))
    executor.close()
    count = int(state.archive.count)
    archs = jax.tree.map(lambda a: np.asarray(a)[:count], state.archive.archs)
    return AsyncResult(records, loop["failed"], archs, state, loop["retries"], restored, rerun,
                       time.perf_counter() - t0)


def identity_of(space: str, strategy: str, budget: int, extra: dict | None = None) -> dict:
    """What a checkpoint must match: the space and strategy names, the budget, ``extra``."""
    return {"space": space, "strategy": strategy, "budget": int(budget), **(extra or {})}


def _maybe_begin(strategy, key, state, domain, params, loop: dict, count: int):
    """Begin a round when a boundary was crossed since the last ask (once per boundary)."""
    if not strategy.has_rounds:
        return state
    due = any(bool(strategy.round_due(jnp.asarray(c)))
              for c in range(loop["round_checked"] + 1, count + 1))
    loop["round_checked"] = count
    return _begin(strategy, key, state, domain, params) if due else state
