"""Seed agreement of trained tables (issue 13 item 3): hand-checked Kendall values, the
published figures of ``convnet1364_digits``, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from lanas_jax.benchmarks.convnet import embedded_reliability
from lanas_jax.training.reliability import seed_agreement, split_half, stratified_sample


def test_hand_worked_kendall() -> None:
    # Seeds agree on 5 of the 6 pairs of 4 networks: tau = (5 - 1) / 6.
    x = np.array([[1, 1], [2, 3], [3, 2], [4, 4]], float)
    got = seed_agreement(x, top_fraction=1.0)
    assert got["kendall"] == pytest.approx(4 / 6) == got["kendall_top"]
    same = np.repeat(np.arange(10.0)[:, None], 4, 1)
    assert seed_agreement(same)["kendall"] == pytest.approx(1.0)
    assert split_half(same, 2) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(400, 4))
    assert abs(seed_agreement(noise)["kendall"]) < 0.1  # seeds that only add noise agree on nothing


def test_convnet1364_digits_reliability_is_the_published_one() -> None:
    rel = embedded_reliability("convnet1364_digits")
    assert rel["kendall"] == pytest.approx(0.128, abs=5e-4)
    assert rel["spearman"] == pytest.approx(0.187, abs=5e-4)
    assert rel["pearson"] == pytest.approx(0.357, abs=5e-4)
    assert rel["seed_spread"] > 0.5 * rel["network_spread"]


def test_refusals_and_the_stratified_sample() -> None:
    with pytest.raises(ValueError, match="seeds >= 2"):
        seed_agreement(np.zeros((5, 1)))
    with pytest.raises(ValueError, match="NaN"):
        seed_agreement(np.array([[0.1, np.nan]] * 4))
    with pytest.raises(ValueError, match="needs 4 seeds"):
        split_half(np.zeros((5, 3)), 2)
    depths = np.repeat([1, 2, 3], [2, 10, 30])
    idx = stratified_sample(depths, 5)
    assert np.bincount(depths[idx]).tolist() == [0, 2, 5, 5]
    assert np.array_equal(idx, stratified_sample(depths, 5)) and len(set(idx)) == idx.size
