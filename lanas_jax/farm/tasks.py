"""What a farm worker runs: picklable callables ``arch (host arrays) -> record``.

A record is ``{"val", "test", "params", "seconds"}`` (the fields of
:class:`~lanas_jax.host_loop.Evaluated` a worker measures). A task object is small and
hashable (a spec, not an evaluator): each worker process builds the evaluator it names once
and keeps it (:func:`evaluator_of`), so a Ray task ships a few bytes, not a dataset.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from typing import Any

import numpy as np

_CACHE: dict[Any, Any] = {}


def evaluator_of(spec) -> Any:
    """The evaluator ``spec.build()`` returns, built once per process."""
    if spec not in _CACHE:
        _CACHE[spec] = spec.build()
    return _CACHE[spec]


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """A :class:`~lanas_jax.evaluators.train.TrainEvaluator` by name: what
    ``experiments.open_search`` trains (space, dataset split, recipe, seed)."""

    space: str
    dataset: str
    n_val: int
    n_test: int
    split_seed: int
    recipe: Any  # a (frozen, hashable) Recipe
    seed: int
    tfds_data_dir: str | None = None

    def build(self):
        from lanas_jax.data.sources import load_dataset
        from lanas_jax.evaluators.train import TrainEvaluator
        from lanas_jax.spaces import get_space

        splits = load_dataset(self.dataset, n_val=self.n_val, n_test=self.n_test,
                              seed=self.split_seed, tfds_data_dir=self.tfds_data_dir)
        return TrainEvaluator(get_space(self.space), splits, self.recipe, seed=self.seed)


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """A :func:`~lanas_jax.evaluators.synthetic.synthetic` evaluator of a space by name."""

    space: str
    key_seed: int = 0

    def build(self):
        import jax

        from lanas_jax.evaluators.synthetic import synthetic
        from lanas_jax.spaces import get_space

        return synthetic(get_space(self.space), jax.random.key(self.key_seed))


@dataclasses.dataclass(frozen=True)
class EvaluatorTask:
    """Measure one architecture with the evaluator ``spec`` names, under ``eval_seed`` (the
    key :func:`lanas_jax.host_loop.search` is given as ``eval_key``: a ``TrainEvaluator``
    derives each network's keys from it and the architecture alone, so a value does not depend
    on which worker, batch or order trained it)."""

    spec: Any
    eval_seed: int = 0

    def __call__(self, arch) -> dict:
        import jax

        from lanas_jax import host_loop
        from lanas_jax.spaces.base import stack

        m = host_loop._measure(evaluator_of(self.spec), stack([arch]),
                               jax.random.key(self.eval_seed))
        return {name: host_loop._item(m, name, 0) for name in host_loop._FIELDS}


@dataclasses.dataclass(frozen=True)
class HashTask:
    """A trivial deterministic evaluator: the value is
    a hash of the architecture's arrays mapped to [0, 1). For tests and for measuring the
    farm's own overhead. Architectures whose value falls below ``raise_below`` raise
    :class:`~lanas_jax.evaluators.train.TrainingDiverged` (a failed evaluation); ``sleep``
    seconds are spent per evaluation."""

    salt: int = 0
    raise_below: float = 0.0
    sleep: float = 0.0

    def __call__(self, arch) -> dict:
        import jax

        t0 = time.perf_counter()
        data = b"".join(np.ascontiguousarray(a).tobytes() for a in jax.tree.leaves(arch))
        val = (zlib.crc32(data, self.salt) % 100_003) / 100_003
        if val < self.raise_below:
            from lanas_jax.evaluators.train import TrainingDiverged

            raise TrainingDiverged(f"synthetic divergence (hash value {val:.4f})")
        if self.sleep:
            time.sleep(self.sleep)
        return {"val": val, "test": val, "params": None,
                "seconds": time.perf_counter() - t0}

