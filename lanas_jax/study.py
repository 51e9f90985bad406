"""One vmapped sweep and what every study binary reports of it (seed 000 Sec. 4.2's measure:
samples to the global optimum)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lanas_jax import analysis
from lanas_jax.config import config_dict
from lanas_jax.progress import ProgressReporter
from lanas_jax.runner import timed_sweep
from lanas_jax.strategies.core import Strategy


def _log(strategy):
    def log(line: str) -> None:
        print(f"  [{strategy.name}] {line}", flush=True)
    return log


def sweep_report(strategy, bench, keys, budget: int, params: Any = None,
                 progress: bool = False) -> dict:
    """``timed_sweep`` of ``strategy`` over ``keys``, summarised.

    Returns a dict with ``config`` (the strategy's :func:`~lanas_jax.config.config_dict`),
    ``history`` (the raw :class:`~lanas_jax.runner.History`), ``metric`` (``[seeds, budget]``),
    ``samples_to_optimum`` and ``summary`` (:func:`analysis.summarize`), and the compile / run
    seconds. Callers drop what they do not write out. ``progress`` logs a line every few
    seconds while the sweep runs (strategies on the architecture protocol).
    """
    reporter = None
    if progress and isinstance(strategy, Strategy):
        reporter = ProgressReporter(budget, len(keys), bench.optimum, log=_log(strategy))
    history, compile_s, run_s = timed_sweep(strategy, bench, keys, budget, params, reporter)
    metric = np.asarray(history.metric)
    samples = analysis.samples_to_optimum(metric, bench.optimum)
    return {
        "config": config_dict(strategy),
        "history": history,
        "metric": metric,
        "samples_to_optimum": samples,
        "summary": analysis.summarize(samples, budget),
        "compile_seconds": compile_s,
        "run_seconds": run_s,
    }
