"""lanas_jax.progress: throttled, correct progress lines under a fake clock, and a reporter fed
by a host callback from a compiled scan leaves the scan's result unchanged."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.progress import ProgressReporter


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _reporter(total=100, seeds=4, optimum=0.9, interval=5.0):
    clock, lines = FakeClock(), []
    return ProgressReporter(total, seeds, optimum, interval, lines.append, clock), clock, lines


def test_lines_are_throttled_to_the_interval():
    rep, clock, lines = _reporter()
    for step in range(1, 60):  # one update per second
        clock.now = float(step)
        rep.update(step, np.zeros(4))
    assert len(lines) == 11  # at t = 5, 10, ..., 55
    assert [line.split()[2] for line in lines[:2]] == ["5/100", "10/100"]


def test_a_line_reports_progress_optimum_best_speed_and_time_left():
    rep, clock, lines = _reporter()
    rep.update(20, np.array([0.1, 0.2, 0.3, 0.4]))  # t = 0: the rate is measured from here
    assert lines == []
    clock.now = 10.0
    rep.update(np.array([40, 41, 40, 42]), np.array([0.5, 0.9, 0.95, 0.6]))  # slowest: 40
    (line,) = lines
    assert "step 40/100 (40.0%)" in line
    assert "2/4 seeds at the optimum" in line
    assert "best 0.75 (median over seeds)" in line
    assert "8 samples/s" in line  # 20 steps in 10 s, 4 seeds
    assert "0:00:30 left" in line  # 60 steps at 2 steps/s


def test_final_line_once_on_completion_even_inside_the_interval():
    rep, clock, lines = _reporter(total=50, seeds=2, optimum=None)
    rep.update(10, np.zeros(2))
    clock.now = 1.0
    rep.update(50, np.array([0.3, 0.5]))
    clock.now = 20.0
    rep.update(50, np.array([0.3, 0.5]))
    (line,) = lines
    assert line.startswith("progress: done, 50 steps x 2 seeds in 0:00:01")
    assert "80 samples/s" in line and "best 0.4" in line and "optimum" not in line


def test_without_a_second_update_the_time_left_is_unknown():
    rep, clock, lines = _reporter(interval=0.0)
    clock.now = 3.0
    rep.update(10, np.zeros(4))
    assert "? left" in lines[0] and "- samples/s" in lines[0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(total=0, num_seeds=1), "total"), (dict(total=5, num_seeds=0), "num_seeds"),
    (dict(total=5, num_seeds=1, min_interval_s=-1), "min_interval_s")])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProgressReporter(**kwargs)


def test_wrong_number_of_seeds_is_refused():
    rep, _, _ = _reporter(seeds=4)
    with pytest.raises(ValueError, match="3 values for 4 seeds"):
        rep.update(1, np.zeros(3))


def test_host_callback_in_a_compiled_scan_leaves_results_unchanged():
    steps, seeds, lines = 30, 3, []
    rep = ProgressReporter(steps, seeds, optimum=0.99, min_interval_s=0.0, log=lines.append)
    values = jax.random.uniform(jax.random.key(0), (steps, seeds))

    def search(report: bool):
        def step(carry, x):
            i, best = carry
            best = jnp.maximum(best, x)
            if report:
                jax.debug.callback(rep.update, i + 1, best, ordered=True)
            return (i + 1, best), best

        return jax.jit(lambda v: jax.lax.scan(step, (0, jnp.zeros(seeds)), v)[1])(values)

    quiet, loud = search(False), search(True)
    np.testing.assert_array_equal(np.asarray(quiet), np.asarray(loud))
    assert lines[-1].startswith(f"progress: done, {steps} steps x {seeds} seeds")
    assert f"best {np.median(np.asarray(quiet[-1])):.6g}" in lines[-1]


def test_slow_searches_report_samples_per_minute():
    """Trained networks arrive at well under one a second: the rate is per minute then."""
    lines, clock = [], iter([0.0, 0.0, 60.0, 120.0]).__next__
    reporter = ProgressReporter(total=10, num_seeds=1, min_interval_s=0, log=lines.append,
                                clock=clock)
    reporter.update(1, [0.5])
    reporter.update(4, [0.6])
    reporter.update(10, [0.7])
    assert "- samples/s" in lines[0]  # no interval yet
    assert "3.0 samples/min" in lines[1] and "0:02:00 left" in lines[1]
    assert "(4.5 samples/min)" in lines[-1]
