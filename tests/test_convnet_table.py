"""ConvNet tables: the builder binary, shard merging and the embedded convnet1364_digits."""

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
import pytest
from absl import flags

from experiments import build_convnet_table as builder
from lanas_jax.benchmarks import EMBEDDED, list_benchmarks, load_benchmark
from lanas_jax.benchmarks.convnet import _embedded, load_convnet_file, metadata
from lanas_jax.benchmarks.npz import load_npz
from lanas_jax.data import avg_pool, load_dataset
from lanas_jax.evaluators.train import TrainEvaluator
from lanas_jax.spaces import convnet as space
from lanas_jax.spaces.base import stack
from lanas_jax.training.recipe import Recipe
from lanas_jax.training.reliability import seed_agreement


def test_builder_tiny_run_writes_a_loadable_table(tmp_path):
    out = tmp_path / "tiny.npz"
    # In this process: the builder is imported here anyway, and the only binary imported into
    # the pytest process (see binary_driver for the flag clash that keeps the others out).
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["build_convnet_table", "--limit=4", "--epochs=1", "--pool=2",
                 "--train_subset=32", "--batch_size=16", "--n_val=40", "--n_test=40",
                 "--seeds=2", "--max_group=3", f"--output={out}"])
    try:
        builder.main(["build_convnet_table"])
    finally:
        flags.FLAGS.unparse_flags()
    z = dict(np.load(out, allow_pickle=False))
    assert z["val_acc"].shape == (4, 2)
    np.testing.assert_allclose(z["metric"], z["val_acc"].mean(1))
    assert ((z["val_acc"] >= 0) & (z["val_acc"] <= 1)).all()
    meta = json.loads(str(z["metadata"]))
    assert meta["recipe"]["epochs"] == 1 and meta["n_val"] == 40 and meta["dataset"] == "digits"
    assert len(np.intersect1d(z["idx_val"], z["idx_test"])) == 0
    bench = load_npz(out)  # the generic user-table path accepts it
    assert bench.size == 4 and bench.has_test
    named = load_convnet_file(out)
    assert [named.describe(i) for i in range(4)] == [
        "conv32k3", "conv32k5", "conv64k3", "conv64k5"]
    # depth-1 nets have no depth-1 neighbours by flipping slots 1..4 or dropping a layer
    assert (np.asarray(named.neighbors)[:, 1:5] == -1).all()
    _reproduce_with_the_evaluator(z, meta)


def _reproduce_with_the_evaluator(z, meta):
    """The table's recorded recipe, seeds and splits, given to a fresh TrainEvaluator, give its
    per-seed values bitwise (the same lax.map program on the same CPU)."""
    recipe = Recipe(**meta["recipe"])
    assert recipe.seeds == (0, 1)
    s = load_dataset(meta["dataset"], n_val=meta["n_val"], n_test=meta["n_test"],
                     seed=meta["split_seed"])
    assert np.array_equal(s.idx_train[: meta["n_train"]], z["idx_train"])
    s = dataclasses.replace(
        s, x_train=avg_pool(s.x_train[: meta["n_train"]], meta["pool"]),
        y_train=s.y_train[: meta["n_train"]], x_val=avg_pool(s.x_val, meta["pool"]),
        x_test=avg_pool(s.x_test, meta["pool"]))
    ev = TrainEvaluator(space.ConvNet(), s, recipe, vectorize=False)
    archs = stack([space.from_layers(a) for a in space.decode(z["codes"])])
    res = ev.train(archs, jax.random.PRNGKey(meta["master_seed"]))
    np.testing.assert_array_equal(res.val_per_seed, z["val_acc"])
    np.testing.assert_array_equal(res.test_per_seed, z["test_acc"])
    np.testing.assert_array_equal(res.params, z["params"])


def _shard(path, rows, seed_offset=0.0, **meta_extra):
    archs = [space.enumerate_space()[i] for i in rows]
    n = len(archs)
    data = {
        "codes": space.encode(archs),
        # Two seeds: the second ranks the networks in reverse for odd rows.
        "val_acc": np.stack([0.5 + np.asarray(rows) / 1e4,
                             0.5 + np.where(np.asarray(rows) % 2, -1, 1) * np.asarray(rows) / 1e4],
                            1).astype(np.float32),
        "test_acc": np.full((n, 1), 0.4, np.float32),
        "final_loss": np.ones((n, 1), np.float32),
        "params": np.arange(n),
        "train_seconds": np.ones(n),
    }
    meta = {"recipe": {"epochs": 1}, "wall_seconds": 1.0, "compile_seconds": 0.5,
            "command": "x", "rows": "", **meta_extra}
    idx = {"idx_train": np.arange(3), "idx_val": np.arange(3, 5), "idx_test": np.arange(5, 7)}
    builder.write_table(path, archs, data, meta, idx)


def test_merge_orders_rows_and_rejects_mismatches(tmp_path, capsys):
    a, b, out = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "out.npz"
    _shard(a, [5, 6, 7])
    _shard(b, [0, 1, 2, 3, 4])
    builder.merge_tables([str(a), str(b)], str(out))
    z = dict(np.load(out))
    assert [space.index_of(x) for x in space.decode(z["codes"])] == list(range(8))
    np.testing.assert_allclose(z["val_acc"][:, 0], 0.5 + np.arange(8) / 1e4, rtol=1e-6)
    meta = json.loads(str(z["metadata"]))
    assert len(meta["shards"]) == 2
    # The merged table records how far its seeds agree (issue 13 item 3).
    assert meta["reliability"]["kendall"] == pytest.approx(
        seed_agreement(z["val_acc"])["kendall"], abs=1e-4)
    assert meta["reliability"]["networks"] == 8 and meta["reliability"]["seeds"] == 2
    _shard(b, [0, 1], recipe={"epochs": 2})
    with pytest.raises(ValueError, match="another recipe"):
        builder.merge_tables([str(a), str(b)], str(out))
    _shard(b, [5, 9])
    with pytest.raises(ValueError, match="more than one shard"):
        builder.merge_tables([str(a), str(b)], str(out))


_TABLE = Path(__file__).resolve().parents[1] / "lanas_jax/benchmarks/data/convnet1364_digits.npz"


def test_embedded_table_covers_the_space_with_sane_values():
    assert _TABLE.exists(), "the embedded convnet1364_digits.npz is missing from the package"
    bench = load_benchmark("convnet1364_digits")
    assert "convnet1364_digits" in EMBEDDED
    assert bench.size == 1364 and bench.dim == space.FEATURE_DIM
    assert len(np.unique(np.asarray(bench.features), axis=0)) == 1364
    m, t = np.asarray(bench.metric), np.asarray(bench.test_metric)
    assert bench.has_test and ((m > 0) & (m <= 1)).all() and ((t >= 0) & (t <= 1)).all()
    assert m.max() - m.min() > 0.2  # discriminative
    # rows are the space's enumeration; describe prints the layer string
    table = _embedded("convnet1364_digits")
    assert space.decode(table["codes"]) == list(space.enumerate_space())
    assert bench.describe(1363) == "-".join(["conv64k5"] * 5)
    assert (table["params"] > 0).all() and (table["train_seconds"] > 0).all()
    meta = metadata(table)
    assert meta["dataset"] == "digits" and "recipe" in meta
    nb = np.asarray(bench.neighbors)
    assert nb.shape == (1364, space.NUM_NEIGHBORS) and nb.max() < 1364
    assert ("convnet1364_digits", 1364) in [(n, s) for n, s, _, _ in list_benchmarks()]
