"""Small NAS-Bench-101 files in the official format, for tests (the real file cannot be
fetched): distinct random valid cells, their benchmark module hashes and synthetic metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lanas_jax.benchmarks import nb101 as loader
from lanas_jax.spaces import nb101 as sp

C3, C1, MP = sp.OPS  # conv3x3-bn-relu, conv1x1-bn-relu, maxpool3x3
IN, OUT = sp.INPUT, sp.OUTPUT

# The Inception-like cell of the benchmark's README (7 vertices, 8 edges).
INCEPTION = (
    np.array(
        [
            [0, 1, 1, 1, 0, 1, 0],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 1, 0, 0],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 0],
        ]
    ),
    [IN, C1, C3, C3, C3, MP, OUT],
)
# A 5-vertex cell: 0 -> 1 -> 3 -> 4, 0 -> 2 -> 3, 0 -> 4.
SMALL = (
    np.array(
        [
            [0, 1, 1, 0, 1],
            [0, 0, 0, 1, 0],
            [0, 0, 0, 1, 0],
            [0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0],
        ]
    ),
    [IN, C3, C1, MP, OUT],
)


def random_table(num: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``num`` distinct random valid cells in padded form (``sp.random_cells``)."""
    bits, labels = sp.random_cells(num, np.random.default_rng(seed))
    assert bits.shape[0] == num
    return bits, labels


def synthetic_metric(bits: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """A learnable validation accuracy: more conv3x3 and edges help, maxpool hurts."""
    rng = np.random.default_rng(seed)
    conv3 = (labels == 0).sum(1)
    pool = (labels == 2).sum(1)
    return 0.85 + 0.01 * conv3 - 0.01 * pool + 0.003 * sp.num_edges(bits) + rng.normal(
        0, 0.002, bits.shape[0])


def write_table(path: Path, bits: np.ndarray, labels: np.ndarray, validation: np.ndarray,
                epochs: int = 108, repeats: int = 1) -> Path:
    """A TFRecord of one record per cell and repeat (test accuracy = validation - 0.005)."""
    adjacency, operations = sp.strings(bits, labels)
    records = []
    for i, (adj, ops) in enumerate(zip(adjacency, operations, strict=True)):
        h = sp.module_hash(*sp.unpad(bits[i], labels[i]))
        for r in range(repeats):
            val = float(validation[i]) + 0.001 * r
            run = loader.training_run(val, val - 0.005, epochs, training_time=100.0 + r)
            records.append(loader.nb101_record(h, epochs, adj, ops, run))
    loader.write_nb101(path, records)
    return path
