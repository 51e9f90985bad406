"""What the NAS-Bench-201 reports share: dataset names and the returned architecture's accuracy
after q queries (seed 003's table protocol)."""

from __future__ import annotations

import numpy as np
from absl import app

from lanas_jax import analysis

DATASETS = ("cifar10", "cifar100", "imagenet16")
DATASET_TITLES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet16-120"}


def parse_datasets(values: list[str], flag: str) -> list[str]:
    """The dataset names of a list flag; an unknown one raises UsageError naming ``flag``."""
    datasets = [d.strip() for d in values if d.strip()]
    for d in datasets:
        if d not in DATASETS:
            raise app.UsageError(f"{flag}: unknown dataset {d!r}; choose from {DATASETS}")
    return datasets


def parse_budgets(values: list[str], flag: str) -> list[int]:
    """The sorted distinct query budgets of a list flag; non-integers raise UsageError."""
    try:
        return sorted({int(b) for b in values})
    except ValueError as e:
        raise app.UsageError(f"{flag} must be integers, got {values}") from e


def incumbents(metric: np.ndarray, test: np.ndarray, budgets: list[int]) -> dict:
    """Validation / test accuracy (percent) of the returned architecture at each budget."""
    best = analysis.best_so_far(metric)
    inc_test = analysis.incumbent_test(metric, test)
    out = {}
    for q in budgets:
        v, t = 100.0 * best[:, q - 1], 100.0 * inc_test[:, q - 1]
        out[str(q)] = {
            "valid_mean": float(v.mean()),
            "valid_std": float(v.std()),
            "test_mean": float(t.mean()),
            "test_std": float(t.std()),
        }
    return out
