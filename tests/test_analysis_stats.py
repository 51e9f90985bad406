"""The NaN-aware statistics over seeds that the study binaries report (moved from
experiments/fig4.py into lanas_jax.analysis)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from lanas_jax import analysis


def test_band_is_median_mean_and_quartiles_over_the_last_axis_ignoring_nan():
    x = np.array([[1.0, 2.0, 3.0, 4.0, np.nan], [5.0, 5.0, 5.0, 5.0, 5.0]])
    out = analysis.band(x)
    assert out["median"] == [2.5, 5.0] and out["mean"] == [2.5, 5.0]
    assert out["q25"] == [1.75, 5.0] and out["q75"] == [3.25, 5.0]


def test_nan_mean_and_median_give_nan_without_a_warning_where_every_value_is_nan():
    x = np.array([[1.0, np.nan], [3.0, np.nan], [8.0, np.nan]])  # [seeds, leaves]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, median = analysis.nanmean(x, 0), analysis.nanmedian(x, 0)
    assert mean[0] == 4.0 and median[0] == 3.0
    assert np.isnan(mean[1]) and np.isnan(median[1])
    assert analysis.nanmedian(x, 1).tolist() == [1.0, 3.0, 8.0]


def test_nan_to_none_writes_json_without_nan():
    out = analysis.nan_to_none(np.array([[0.5, np.nan], [np.float32(2), 1]]))
    assert out == [[0.5, None], [2.0, 1.0]]
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert analysis.nan_to_none(np.float64("nan")) is None


def test_incumbents_at_reports_the_returned_architecture_after_q_queries():
    metric = np.array([[0.5, 0.7, 0.6, 0.9], [0.8, 0.2, 0.3, 0.1]])
    test = np.array([[0.4, 0.6, 0.95, 0.85], [0.7, 0.9, 0.9, 0.9]])
    out = analysis.incumbents_at(metric, test, [1, 3, 4])
    assert out["1"]["valid_mean"] == 65.0 and out["1"]["test_mean"] == 55.0
    # after 3 queries: seed 0 returns its 2nd draw (0.7 -> test 0.6), seed 1 its 1st (0.8 -> 0.7)
    assert out["3"]["valid_mean"] == 75.0 and np.isclose(out["3"]["test_mean"], 65.0)
    assert np.isclose(out["4"]["valid_std"], 5.0) and np.isclose(out["4"]["test_mean"], 77.5)
    with pytest.raises(ValueError, match="budget 5 is outside"):
        analysis.incumbents_at(metric, test, [5])
