"""What the NAS-Bench-201 reports share: dataset names and the parsing of their list flags (the
returned architecture's accuracy after q queries is ``analysis.incumbents_at``)."""

from __future__ import annotations

from absl import app

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
