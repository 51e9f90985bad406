"""ConvNet tables built by ``experiments/build_convnet_table.py``: the LaNAS paper's Sec. 2 plain
ConvNet space (seed 000; depth 1-5, channels {32, 64}, kernels {3, 5}, 1,364 networks), every
network trained by this project. Two are embedded (recipes in their ``metadata`` and in
``data/NOTICE.md``): ``convnet1364`` (recipe ``convnet_w16_40ep``: 40 epochs, its two seeds agree
at Kendall 0.44 over the whole space) and ``convnet1364_digits`` (the first table: 4 epochs,
seeds agree at Kendall 0.128).

The search metric is the validation accuracy (a fraction, mean over the table's seeds); the test
metric is the accuracy on the fixed test split; ``neighbors`` are the one-edit mutations of
:func:`lanas_jax.spaces.convnet.mutations`.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources

import numpy as np

from lanas_jax.benchmarks.base import Benchmark, BenchmarkError, from_arrays
from lanas_jax.spaces import convnet as space

#: Embedded ConvNet tables: name -> file in ``lanas_jax/benchmarks/data``.
EMBEDDED: dict[str, str] = {"convnet1364_digits": "convnet1364_digits.npz",
                             "convnet1364": "convnet1364.npz"}
_KEYS = ("codes", "metric", "test_metric", "metadata")


def _read(source) -> dict[str, np.ndarray]:
    try:
        with source.open("rb") as f, np.load(f, allow_pickle=False) as z:
            missing = [k for k in _KEYS if k not in z.files]
            if missing:
                raise BenchmarkError(f"{source}: not a ConvNet table, missing {missing}")
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise BenchmarkError(f"{source}: no such file; build it with "
                             "python -m experiments.build_convnet_table") from None
    except BenchmarkError:
        raise
    except Exception as e:
        raise BenchmarkError(f"{source}: unreadable ConvNet table ({type(e).__name__}: {e})") \
            from None


def is_present(name: str) -> bool:
    """Whether the embedded table file ``name`` ships with this install."""
    return (resources.files("lanas_jax.benchmarks") / "data" / EMBEDDED[name]).is_file()


@functools.cache
def _embedded(name: str) -> dict[str, np.ndarray]:
    return _read(resources.files("lanas_jax.benchmarks") / "data" / EMBEDDED[name])


def metadata(table: dict[str, np.ndarray]) -> dict:
    """The build's recipe, dataset and timings (the table's JSON ``metadata`` string)."""
    return json.loads(str(table["metadata"]))


def from_table(table: dict[str, np.ndarray], name: str) -> Benchmark:
    """A :class:`Benchmark` from a ConvNet table's arrays (features and neighbours recomputed
    from the architecture codes, so they always match the space's definition)."""
    try:
        archs = space.decode(table["codes"])
    except ValueError as e:
        raise BenchmarkError(f"{name}: {e}") from None
    meta = metadata(table)
    return from_arrays(
        space.features(archs),
        table["metric"],
        table["test_metric"],
        neighbors=space.neighbors(archs),
        name=name,
        space=space.ConvNetSpace.from_archs(archs),
        metric_name=f"{meta.get('dataset', '?')} validation accuracy",
        test_metric_name=f"{meta.get('dataset', '?')} test accuracy",
    )


def reliability(table: dict[str, np.ndarray]) -> dict | None:
    """How far the table's training seeds agree on its ranking (issue 13 item 3): the
    ``reliability`` its builder stored in the metadata, else computed from its per-seed
    validation accuracies (``val_acc [N, seeds]``); None for a one-seed table."""
    meta = metadata(table)
    if "reliability" in meta:
        return meta["reliability"]
    val = table.get("val_acc")
    if val is None or np.ndim(val) != 2 or np.shape(val)[1] < 2:
        return None
    from lanas_jax.training.reliability import seed_agreement

    return seed_agreement(val)


def embedded_reliability(name: str) -> dict | None:
    """:func:`reliability` of an embedded table."""
    return reliability(_embedded(name))


@functools.cache
def load_convnet(name: str = "convnet1364_digits") -> Benchmark:
    """An embedded ConvNet table by name (cached: same name -> same object)."""
    if name not in EMBEDDED:
        raise ValueError(f"unknown ConvNet table {name!r}; embedded: {sorted(EMBEDDED)}")
    return from_table(_embedded(name), name)


def load_convnet_file(path: str | os.PathLike) -> Benchmark:
    """A ConvNet table the user built, with architecture strings for ``describe``."""
    from pathlib import Path

    path = Path(path)
    return from_table(_read(path), path.stem)
