"""A trained supernet as a table: every architecture of an enumerable space with its one-shot
score, written as a ``.npz`` that ``experiments.search --benchmark=PATH`` reads (the keys of
:mod:`lanas_jax.benchmarks.npz`), so every tabular strategy searches a supernet unchanged.

Rows are in the space's index order. ``features`` are the space's; ``neighbors`` its one-edit
mutations (the ConvNet chain's :func:`~lanas_jax.spaces.convnet.neighbors`, NAS-Bench-201's
:func:`~lanas_jax.spaces.nb201.neighbors`), so evolution mutates as on the trained tables.
``metric`` is the supernet's validation accuracy; ``test_metric`` is the ground truth's
validation accuracy where the whole space has one (else absent).
"""

from __future__ import annotations

import json

import jax
import numpy as np

from lanas_jax.benchmarks.base import Benchmark, from_arrays


def _features_neighbors(space):
    archs = space.enumerate()
    features = np.asarray(jax.vmap(space.features)(archs))
    if space.name == "convnet":
        from lanas_jax.spaces import convnet

        return features, convnet.neighbors(convnet.enumerate_space())
    if space.name == "nb201":
        from lanas_jax.spaces import nb201

        return features, nb201.neighbors(np.asarray(archs.ops))
    return features, None


def table_arrays(space, scores, truth=None, metadata: dict | None = None) -> dict:
    """The arrays of a supernet table (see the module docstring)."""
    scores = np.asarray(scores, np.float32)
    n = int(space.size().count)
    if scores.shape != (n,):
        raise ValueError(f"scores must be [{n}] (every architecture of {space.name}), got "
                         f"{scores.shape}")
    features, neighbors = _features_neighbors(space)
    out = {"features": features, "metric": scores,
           "metadata": np.array(json.dumps(metadata or {}))}
    if truth is not None:
        out["test_metric"] = np.asarray(truth, np.float32)
    if neighbors is not None:
        out["neighbors"] = np.asarray(neighbors, np.int32)
    return out


def write_table(path: str, space, scores, truth=None, metadata: dict | None = None) -> None:
    np.savez_compressed(path, **table_arrays(space, scores, truth, metadata))


def as_benchmark(space, scores, truth=None, name: str = "supernet") -> Benchmark:
    """The supernet table as an in-memory :class:`Benchmark` (what a strategy searches)."""
    a = table_arrays(space, scores, truth)
    return from_arrays(a["features"], a["metric"], a.get("test_metric"),
                       neighbors=a.get("neighbors"), name=name,
                       metric_name="supernet validation accuracy",
                       test_metric_name="ground-truth validation accuracy")
