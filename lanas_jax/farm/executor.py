"""Where a farm's evaluations run: :class:`InlineExecutor` (in the driver, one at a time) or
:class:`RayExecutor` (one Ray task per evaluation, ``workers`` at once; seed 000 Sec. 4.3
evaluated its open-domain samples on many GPUs).

Both take ``submit(task, arch, ask_index, attempt)`` and answer ``wait()`` with the next
:class:`Outcome` to finish, in the order they finish: ``ok`` (a record), ``died`` (the worker
process was lost: retry the architecture) or ``raised`` (the evaluation raised, e.g.
:class:`~lanas_jax.evaluators.train.TrainingDiverged`: retrying would raise again).

:class:`Faults` injects worker deaths for tests (``--inject_worker_failures``): an attempt
dies with probability ``p``, decided by a hash of ``(seed, ask_index, attempt)`` so a run is
reproducible. On Ray the worker process ends itself with ``os._exit`` (Ray reports a
``WorkerCrashedError`` and starts a new worker); inline, where the worker is the driver, the
death is a :class:`WorkerDied` exception.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np

#: The exit status of an injected worker death.
INJECTED_EXIT = 17


class WorkerDied(RuntimeError):
    """An inline executor's stand-in for a worker process that exited mid-evaluation."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One finished attempt: ``kind`` is ``ok`` (``record`` holds val, test, params, seconds),
    ``died`` or ``raised`` (``error`` says why)."""

    task: int
    kind: str
    record: dict | None = None
    error: str = ""


@dataclasses.dataclass(frozen=True)
class Faults:
    """Injected worker deaths: each attempt dies with probability ``p`` (deterministic in
    ``seed``, the architecture's ask index and the attempt number)."""

    p: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if not 0.0 <= self.p < 1.0:
            raise ValueError(f"the worker failure probability must be in [0, 1), got {self.p}")

    def strikes(self, ask_index: int, attempt: int) -> bool:
        if self.p <= 0.0:
            return False
        return bool(np.random.default_rng([self.seed, ask_index, attempt]).random() < self.p)


def run_attempt(fn: Callable[[Any], dict], arch, ask_index: int, attempt: int,
                faults: Faults, hard: bool) -> dict:
    """What a worker runs: ``fn(arch)``, unless ``faults`` strike this attempt (then the
    process exits at once when ``hard``, else :class:`WorkerDied` is raised)."""
    if faults.strikes(ask_index, attempt):
        if hard:
            os._exit(INJECTED_EXIT)
        raise WorkerDied(f"injected worker death (ask {ask_index}, attempt {attempt})")
    return fn(arch)


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


class InlineExecutor:
    """Evaluations run in the driver, one at a time, in submission order; ``workers``
    submissions may wait at once (a deterministic stand-in for a farm of that width: the loop
    keeps that many in flight, and they finish first in, first out)."""

    def __init__(self, fn: Callable[[Any], dict], faults: Faults = Faults(), workers: int = 1):
        if workers < 1:
            raise ValueError(f"an executor needs >= 1 worker, got {workers}")
        self.fn, self.faults, self.workers = fn, faults, int(workers)
        self._queue: collections.deque = collections.deque()

    def submit(self, task: int, arch, ask_index: int, attempt: int) -> None:
        self._queue.append((task, arch, ask_index, attempt))

    @property
    def in_flight(self) -> int:
        return len(self._queue)

    def wait(self) -> Outcome:
        task, arch, ask_index, attempt = self._queue.popleft()
        try:
            return Outcome(task, "ok", run_attempt(self.fn, arch, ask_index, attempt,
                                                   self.faults, hard=False))
        except WorkerDied as e:
            return Outcome(task, "died", error=str(e))
        except Exception as e:  # noqa: BLE001 - any evaluation error is recorded, not fatal
            return Outcome(task, "raised", error=_describe(e))

    def close(self) -> None:
        self._queue.clear()


def start_ray(workers: int, address: str | None = None) -> bool:
    """Connect to Ray: the cluster at ``address`` (``auto``, ``HOST:PORT``) or, with none, a
    local one of ``workers`` CPUs (this repository put on the workers' ``PYTHONPATH``; on a
    cluster, install the package on every node). Returns whether this call started it (the
    caller shuts it down); a Ray already initialised is used as it is."""
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        path = os.environ.get("PYTHONPATH", "")
        if root not in path.split(os.pathsep):
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, path) if p)
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        ray.init(num_cpus=int(workers), include_dashboard=False, log_to_driver=False)
    return True


class RayExecutor:
    """One Ray task (``num_cpus=1``, no Ray-level retries: the loop retries and counts) per
    evaluation, at most ``workers`` in flight; ``wait`` returns the first to finish."""

    def __init__(self, fn: Callable[[Any], dict], workers: int, faults: Faults = Faults()):
        import ray

        if workers < 1:
            raise ValueError(f"a Ray executor needs >= 1 worker, got {workers}")
        if not ray.is_initialized():
            raise ValueError("Ray is not initialised: call farm.executor.start_ray first")
        self.workers, self.faults = int(workers), faults
        self._ray = ray
        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_attempt)
        self._fn = ray.put(fn)
        self._refs: dict[Any, int] = {}

    def submit(self, task: int, arch, ask_index: int, attempt: int) -> None:
        ref = self._remote.remote(self._fn, arch, ask_index, attempt, self.faults, True)
        self._refs[ref] = task

    @property
    def in_flight(self) -> int:
        return len(self._refs)

    def wait(self) -> Outcome:
        ray = self._ray
        ready, _ = ray.wait(list(self._refs), num_returns=1)
        task = self._refs.pop(ready[0])
        try:
            return Outcome(task, "ok", ray.get(ready[0]))
        except ray.exceptions.RayTaskError as e:  # the evaluation itself raised
            cause = e.cause if getattr(e, "cause", None) is not None else e
            return Outcome(task, "raised", error=_describe(cause))
        except ray.exceptions.RayError as e:  # the worker (or its node, or the object) was lost
            return Outcome(task, "died", error=_describe(e).splitlines()[0])

    def close(self) -> None:
        for ref in self._refs:
            self._ray.cancel(ref, force=True)
        self._refs.clear()


def make_executor(kind: str, fn: Callable[[Any], dict], workers: int,
                  faults: Faults = Faults()):
    """``inline`` or ``ray`` (Ray must be initialised: :func:`start_ray`)."""
    if kind == "inline":
        return InlineExecutor(fn, faults, workers)
    if kind == "ray":
        return RayExecutor(fn, workers, faults)
    raise ValueError(f"unknown executor {kind!r}; known: inline, ray")
