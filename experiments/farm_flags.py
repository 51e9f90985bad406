"""``experiments.open_search --executor=ray``: the flags' checks and one strategy's farm run
(:mod:`lanas_jax.farm`), kept out of the binary's ``main``."""

from __future__ import annotations

import dataclasses

import jax
from absl import app, logging

from lanas_jax.farm import async_loop, executor, run
from lanas_jax.farm.checkpoint import CheckpointMismatch
from lanas_jax.farm.tasks import EvaluatorTask
from lanas_jax.open_search import best_archs, final_training, result_entry


def check(kind: str, workers: int, failures: float, max_retries: int,
          checkpoint_dir: str | None, resume: bool) -> None:
    """UsageErrors for farm flags that do not fit together."""
    if workers < 1:
        raise app.UsageError(f"--workers must be >= 1, got {workers}")
    if max_retries < 0:
        raise app.UsageError(f"--max_retries must be >= 0, got {max_retries}")
    if not 0.0 <= failures < 1.0:
        raise app.UsageError(f"--inject_worker_failures must be in [0, 1), got {failures}")
    if kind != "ray":
        for name, given in (("inject_worker_failures", failures > 0),
                            ("checkpoint_dir", bool(checkpoint_dir)), ("resume", resume)):
            if given:
                raise app.UsageError(f"--{name} needs --executor=ray (the local executor "
                                     "resumes from its journals in --output_dir)")
    if resume and not checkpoint_dir:
        raise app.UsageError("--resume needs --checkpoint_dir")


@dataclasses.dataclass
class Farm:
    """The Ray farm of one ``open_search`` call (started on first use, stopped by
    :meth:`close`)."""

    spec: object
    seed: int
    workers: int
    address: str | None
    failures: float
    max_retries: int
    checkpoint_dir: str | None
    resume: bool
    final_epochs: int
    _owned: bool = False
    _started: bool = False

    def check(self, strategies: dict, space: str, budget: int, seeds: int, identity) -> None:
        """Refuse checkpoints of another search before Ray starts."""
        for name, (strategy, params, flat) in strategies.items():
            try:
                run.check_checkpoints(self.checkpoint_dir, name, strategy, space, budget, seeds,
                                      identity(flat, params), self.resume)
            except ValueError as e:  # CheckpointMismatch too
                raise app.UsageError(str(e)) from None

    def _executor(self):
        if not self._started:
            self._owned = executor.start_ray(self.workers, self.address)
            self._started = True
        task = EvaluatorTask(self.spec, self.seed)
        return executor.make_executor("ray", task, self.workers,
                                      executor.Faults(self.failures, self.seed))

    def run(self, name, strategy, params, domain, keys, budget, identity, space, splits,
            recipe, recipe_record, dataset) -> dict:
        """One strategy's searches, its final training and its results.json entry (with the
        farm's ``executor``, ``workers``, ``failed``, ``retries``, ``restored`` and
        ``rerun_in_flight``)."""
        logging.info("%s: %d asynchronous searches of %d %s networks on %d Ray workers", name,
                     keys.shape[0], budget, space.name, self.workers)
        try:
            algo_run, farm = run.run_algo(
                name, strategy, domain, self._executor, keys, budget, params,
                identity=identity, checkpoint_dir=self.checkpoint_dir, resume=self.resume,
                max_retries=self.max_retries)
        except (CheckpointMismatch, async_loop.FarmFailed) as e:
            raise app.UsageError(f"--algo={name}: {e}") from None
        except ValueError as e:
            raise app.UsageError(f"--algo={name} on the {space.name} space: {e}") from None
        final = final_training(space, splits, recipe, self.final_epochs,
                               best_archs(algo_run.history),
                               jax.random.fold_in(jax.random.key(self.seed), 2))
        entry = result_entry(algo_run, space=space.name, dataset=dataset, recipe=recipe_record,
                             budget=budget, batch=1, final=final)
        return {**entry, "executor": "ray", "workers": self.workers, **farm}

    def close(self) -> None:
        if self._owned:
            import ray

            ray.shutdown()
            self._owned = False
