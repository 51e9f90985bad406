"""Host-side progress of a long sweep (issue 12 item 5: ``experiments.search`` used to be
silent for minutes on a 26,000-entry table).

A :class:`ProgressReporter` is fed from inside the compiled scan by a host callback, e.g.
``jax.debug.callback(reporter.update, step + 1, best)`` every few percent of the budget (a
``lax.cond`` on the step keeps the host round trip off the other steps); it only reads the
values it is given, so a search's results are the same with or without it. It logs at most
every ``min_interval_s``: steps done / total, percent, seeds at the optimum, the median best so
far, samples per second and the time left, and one final line when the sweep completes.

Call it where the seeds are one array: under ``vmap``, ``jax.debug.callback`` runs once per
seed with that seed's values, so the callback belongs in a scan over steps whose body vmaps the
step over seeds (``scan(vmap(step))``), not inside ``vmap(scan(step))``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np


class ProgressReporter:
    """Throttled progress lines for ``num_seeds`` searches of ``total`` steps each.

    Args:
      total: steps per search (the budget).
      num_seeds: searches run together (one sample per search per step).
      optimum: the table's best metric; with it, lines count the seeds whose best so far
        reached it (``best >= optimum``, ties count as in :mod:`lanas_jax.analysis`).
      min_interval_s: least time between two lines (the final line is always written).
      log: where lines go (``print``, ``logging.info``, ``absl.logging.info``).
      clock: seconds as a float; injectable for tests.

    The rate (and so the time left) is measured from the first :meth:`update`, which
    excludes the compilation that precedes the first step.
    """

    def __init__(self, total: int, num_seeds: int, optimum: float | None = None,
                 min_interval_s: float = 5.0, log: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.monotonic):
        if total < 1:
            raise ValueError(f"total must be >= 1 step, got {total}")
        if num_seeds < 1:
            raise ValueError(f"num_seeds must be >= 1, got {num_seeds}")
        if min_interval_s < 0:
            raise ValueError(f"min_interval_s must be >= 0, got {min_interval_s}")
        self.total, self.num_seeds, self.optimum = int(total), int(num_seeds), optimum
        self.min_interval_s, self._log, self._clock = float(min_interval_s), log, clock
        self._lock = threading.Lock()
        self._start: tuple[float, int] | None = None  # (time, steps) at the first update
        self._last_log = clock()
        self._finished = False

    def update(self, done, best_per_seed) -> None:
        """Record that ``done`` steps are complete (a scalar, or one count per seed: the
        slowest counts) with ``best_per_seed`` (``[num_seeds]``) the best metric so far; log a
        line if ``min_interval_s`` has passed, and the final line at ``done == total``."""
        steps = int(np.min(np.asarray(done)))
        best = np.asarray(best_per_seed, np.float64).reshape(-1)
        if best.size != self.num_seeds:
            raise ValueError(f"best_per_seed has {best.size} values for {self.num_seeds} seeds")
        with self._lock:
            now = self._clock()
            if self._start is None:
                self._start = (now, steps)
            if self._finished:
                return
            if steps >= self.total:
                self._finished = True
                self._log(self._final_line(now, best))
            elif now - self._last_log >= self.min_interval_s:
                self._last_log = now
                self._log(self._line(now, steps, best))

    def _rate(self, now: float, steps: int) -> float | None:
        """Steps per second since the first update, or None before there is an interval."""
        t0, s0 = self._start
        if now <= t0 or steps <= s0:
            return None
        return (steps - s0) / (now - t0)

    def _line(self, now: float, steps: int, best: np.ndarray) -> str:
        rate = self._rate(now, steps)
        speed = "- samples/s" if rate is None else _speed(rate * self.num_seeds)
        left = "?" if rate is None else _duration((self.total - steps) / rate)
        return (f"progress: step {steps:,}/{self.total:,} ({100 * steps / self.total:.1f}%)"
                f"{self._at_optimum(best)}, best {np.median(best):.6g} (median over seeds), "
                f"{speed}, {left} left")

    def _final_line(self, now: float, best: np.ndarray) -> str:
        elapsed = now - self._start[0]
        rate = self._rate(now, self.total)
        speed = "" if rate is None else f" ({_speed(rate * self.num_seeds)})"
        return (f"progress: done, {self.total:,} steps x {self.num_seeds} seeds in "
                f"{_duration(elapsed)}{speed}{self._at_optimum(best)}, best "
                f"{np.median(best):.6g} (median over seeds)")

    def _at_optimum(self, best: np.ndarray) -> str:
        if self.optimum is None:
            return ""
        return f", {int(np.sum(best >= self.optimum))}/{self.num_seeds} seeds at the optimum"


def _speed(per_second: float) -> str:
    """Samples per second, or per minute when fewer than one a second (trained networks)."""
    if per_second >= 1:
        return f"{per_second:,.0f} samples/s"
    return f"{60 * per_second:,.1f} samples/min"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
