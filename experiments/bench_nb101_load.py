r"""Load time of NAS-Bench-101 from a synthetic file in the official format: first and cached.

  python -m experiments.bench_nb101_load                  # 423,624 cells x 3 repeats at 108
  python -m experiments.bench_nb101_load --repeats=1      # 423,624 records
  python -m experiments.bench_nb101_load --epochs=4,12,36,108   # the full file's shape

Writes a TFRecord file of ``--cells`` distinct valid cells (every cell of the NB101 space, as
:func:`lanas_jax.spaces.nb101.enumerate_cells` finds them, or a random subset) x ``--repeats``
training runs x each budget of ``--epochs``, records framed, JSON-encoded and with base64
``ModelMetrics`` exactly as the official files are (``nasbench_only108.tfrecord``: 423,624
cells x 3 repeats = 1,270,872 records, ~500 MB). Module hashes are 32 hex digits derived from
the cells' isomorphism keys, not the benchmark's MD5 hashes (computing those takes ~0.3 ms per
cell in Python and the loader never recomputes them). Accuracies are synthetic.

Then times ``load_nb101`` with no cache (parse + neighbour lists + cache write) and again (the
cache), checks both give the same benchmark, prints a table and writes
``--output_dir/bench_nb101_load.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from absl import app

from experiments import common_flags
from lanas_jax.benchmarks import nb101
from lanas_jax.spaces import nb101 as space

_PATH = common_flags.DEFINE_string(
    "path", None, "Where to write the synthetic file (default: a temporary directory)."
)
_REUSE = common_flags.DEFINE_bool("reuse", False, "Use --path as it is if it already exists.")
_CELLS = common_flags.DEFINE_integer("cells", 423_624, "Distinct cells (at most 423,624).")
_REPEATS = common_flags.DEFINE_integer("repeats", 3, "Records per cell and budget.")
_EPOCHS = common_flags.DEFINE_string("epochs", "108", "Comma-separated epoch budgets in the file.")
_ENCODING = common_flags.DEFINE_string("encoding", "lanas49", "Encoding of the loaded benchmark.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Seed of the synthetic accuracies and cell subset.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/bench", "Where the JSON goes.")


def synthetic_records(cells: int, repeats: int, budgets: list[int], seed: int) -> list[bytes]:
    """Records of ``cells`` distinct cells in the official format (see the module doc)."""
    bits, labels = space.enumerate_cells()
    rng = np.random.default_rng(seed)
    if cells < bits.shape[0]:
        pick = np.sort(rng.choice(bits.shape[0], cells, replace=False))
        bits, labels = bits[pick], labels[pick]
    keys = space.wl_keys(bits, labels)
    hashes = [hashlib.md5(int(k).to_bytes(8, "little")).hexdigest() for k in keys]
    adjacency, operations = space.strings(bits, labels)
    quality = rng.random(len(hashes))
    records = []
    for e in budgets:
        level = 0.95 - 0.25 * np.exp(-e / 20)
        for r in range(repeats):
            noise = rng.normal(0, 0.005, len(hashes))
            val = np.clip(level - 0.1 * quality + noise, 0, 1)
            test = np.clip(val - 0.006 + rng.normal(0, 0.003, len(hashes)), 0, 1)
            for i, h in enumerate(hashes):
                run = nb101.training_run(
                    float(val[i]),
                    float(test[i]),
                    e,
                    training_time=10.0 * e + r,
                    parameters=10_000 + i,
                )
                records.append(nb101.nb101_record(h, e, adjacency[i], operations[i], run))
    return records


def main(argv):
    del argv
    budgets = [int(x) for x in _EPOCHS.value.split(",")]
    workdir = None
    if _PATH.value:
        path = Path(_PATH.value)
    else:
        workdir = tempfile.TemporaryDirectory(prefix="nb101_bench_")
        path = Path(workdir.name) / "synthetic_nasbench.tfrecord"
    write_seconds = None
    if not (_REUSE.value and path.exists()):
        t0 = time.perf_counter()
        records = synthetic_records(_CELLS.value, _REPEATS.value, budgets, _SEED.value)
        nb101.write_nb101(path, records)
        write_seconds = time.perf_counter() - t0
        del records
    cache = nb101.cache_path(path)
    cache.unlink(missing_ok=True)

    t0 = time.perf_counter()
    first = nb101.load_nb101(path, budgets[-1], _ENCODING.value)
    first_s = time.perf_counter() - t0
    table = nb101.read_nb101(path)
    assert table.from_cache, "the second load did not use the cache"
    second = nb101.load_nb101(path, budgets[-1], _ENCODING.value)
    for a, b in (
        (first.features, second.features),
        (first.metric, second.metric),
        (first.test_metric, second.test_metric),
        (first.neighbors, second.neighbors),
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    t0 = time.perf_counter()  # a cached load on its own (the checks above warmed nothing)
    nb101.load_nb101(path, budgets[-1], _ENCODING.value)
    cached_one_s = time.perf_counter() - t0

    size = path.stat().st_size
    nbr = np.asarray(first.neighbors)
    out = {
        "records": _CELLS.value * _REPEATS.value * len(budgets),
        "cells": first.size,
        "repeats": _REPEATS.value,
        "epochs": budgets,
        "file_mb": size / 1e6,
        "cache_mb": cache.stat().st_size / 1e6,
        "write_seconds": write_seconds,
        "first_load_seconds": first_s,
        "cached_load_seconds": cached_one_s,
        "encoding": _ENCODING.value,
        "feature_dim": first.dim,
        "neighbors_width": int(nbr.shape[1]),
        "neighbors_mean": float((nbr >= 0).sum(axis=1).mean()),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
    }
    print(
        f"NAS-Bench-101 load, synthetic file: {out['records']:,} records, {out['cells']:,} "
        f"cells, {out['file_mb']:.0f} MB, {os.cpu_count()} CPUs"
    )
    print(f"{'step':<28} {'seconds':>8}")
    if write_seconds is not None:
        print(f"{'write synthetic file':<28} {write_seconds:>8.1f}")
    print(f"{'first load (parse + cache)':<28} {first_s:>8.1f}")
    print(f"{'cached load':<28} {cached_one_s:>8.2f}")
    print(
        f"neighbors: up to {out['neighbors_width']} per cell, {out['neighbors_mean']:.1f} on "
        f"average; cache {out['cache_mb']:.0f} MB"
    )
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    with open(os.path.join(_OUTPUT_DIR.value, "bench_nb101_load.json"), "w") as f:
        json.dump(out, f, indent=1)
    if workdir is not None:
        workdir.cleanup()


if __name__ == "__main__":
    app.run(main)
