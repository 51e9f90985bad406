"""Ground-truth sample tables: build -> load -> lookup, resuming, bad input, ConvNet tables.

The binaries run in one fresh interpreter each (tests/binary_driver.py) with XLA's LLVM
optimisations off: these tests check what is trained and written, not XLA's code. The trained
sample is of the ConvNet space (seed 5 draws five depth-5 networks: one compiled program);
NB201's masked program takes minutes to compile on a CPU, so NB201 is only sampled here.
"""

import json
import shutil

import jax
import numpy as np
import pytest

from experiments.build_sample_table import draw_sample
from lanas_jax.benchmarks.sample_table import load_sample_table
from lanas_jax.spaces import convnet, get_space
from tests.binary_driver import run_calls

SPACE = get_space("convnet")
TINY = ["--space=convnet", "--recipe=tiny", "--seeds=2", "--n=5", "--chunk=2", "--seed=5",
        "--n_val=1357", "--n_test=400"]  # 40 training images


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A build killed after its first chunk and resumed (``a``), an uninterrupted one (``b``),
    and the refused flags, all in one interpreter."""
    d = tmp_path_factory.mktemp("sample")
    a, b = d / "a.npz", d / "b.npz"
    calls = [[*TINY, f"--output={a}", "--max_chunks=1"], [*TINY, f"--output={a}"],
             [*TINY, f"--output={b}"],
             [*TINY, "--n=1365", f"--output={d / 'c.npz'}"],
             [*TINY, "--seeds=0", f"--output={d / 'c.npz'}"],
             [*TINY, "--space=nb301", f"--output={d / 'c.npz'}"],
             [*TINY, "--recipe=nope", f"--output={d / 'c.npz'}"]]
    return d, run_calls("experiments.build_sample_table", calls, d, fast_compile=True)


def test_build_load_lookup_round_trip(built):
    d, results = built
    assert results[2]["error"] is None, results[2]
    z = dict(np.load(d / "b.npz", allow_pickle=False))
    assert z["arch_keys"].dtype == np.uint32 and z["arch_keys"].shape == (5, 2)
    assert z["val_acc"].shape == z["test_acc"].shape == (5, 2)
    assert len({tuple(k) for k in z["arch_keys"].tolist()}) == 5  # distinct
    np.testing.assert_allclose(z["metric"], z["val_acc"].mean(1))
    meta = json.loads(str(z["metadata"]))
    assert meta["space"] == "convnet" and meta["recipe_name"] == "tiny" and meta["n_val"] == 1357
    assert meta["reliability"]["seeds"] == 2 and meta["recipe"]["seeds"] == [0, 1]
    table = load_sample_table(d / "b.npz")
    assert len(table) == 5 and table.space_name == "convnet"
    for i, text in enumerate(table.describe):
        arch = SPACE.parse(text)
        assert np.array_equal(np.asarray(SPACE.tokens(arch)), z["tokens"][i])
        assert table.lookup(SPACE, arch) == (float(z["metric"][i]), float(z["test_metric"][i]))
    absent = next(i for i in range(convnet.SIZE) if i not in z["arch_keys"][:, 0])
    assert table.lookup(SPACE, SPACE.from_index(absent)) is None
    best = float(table.metric.max())
    assert table.rank_of(best) == 1 and table.rank_of(-1.0) == 6
    assert table.rank_of(float(table.metric.min())) == 1 + int((table.metric > table.metric.min()
                                                               ).sum())
    nb201 = get_space("nb201")
    with pytest.raises(ValueError, match="convnet architectures, not nb201"):
        table.lookup(nb201, nb201.from_index(0))
    keys = np.asarray(jax.vmap(SPACE.key)(table.archs(SPACE)))
    assert np.array_equal(keys, table.arch_keys)


def test_resume_retrains_nothing_and_matches_an_uninterrupted_run(built):
    d, results = built
    assert results[0]["error"] is None and "chunk 1/3" in results[0]["stdout"]
    assert "rerun to finish" in results[0]["stdout"]
    resumed = results[1]["stdout"]
    assert "2 of 5 networks already trained" in resumed
    assert "chunk 1/3" not in resumed and "chunk 3/3" in resumed
    assert not (d / "a.npz.partial.npz").exists()
    a, b = (dict(np.load(d / f, allow_pickle=False)) for f in ("a.npz", "b.npz"))
    for k in ("arch_keys", "tokens", "describe", "val_acc", "test_acc", "params"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert json.loads(str(a["metadata"]))["resumed_rows"] == 2


def test_bad_flags_are_refused(built):
    _, results = built
    assert "UsageError" in results[3]["error"] and "1,364" in results[3]["error"]
    assert "--seeds must be >= 1" in results[4]["error"]
    assert "nb301" in results[5]["error"] and "nb201" in results[5]["error"]
    assert "nope" in results[6]["error"]


def test_corrupt_missing_or_wrongly_keyed_files_are_refused(built, tmp_path):
    d, _ = built
    with pytest.raises(ValueError, match=r"nothere\.npz: no such file"):
        load_sample_table(tmp_path / "nothere.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match=r"bad\.npz: not a readable \.npz"):
        load_sample_table(bad)
    shutil.copy(d / "b.npz", tmp_path / "ok.npz")
    z = dict(np.load(tmp_path / "ok.npz", allow_pickle=False))
    z["arch_keys"] = z["arch_keys"][::-1].copy()
    np.savez(tmp_path / "keys.npz", **z)
    with pytest.raises(ValueError, match=r"keys\.npz: arch_keys disagree with the tokens"):
        load_sample_table(tmp_path / "keys.npz")
    del z["metric"]
    np.savez(tmp_path / "nometric.npz", **z)
    with pytest.raises(ValueError, match=r"nometric\.npz: missing array\(s\) metric"):
        load_sample_table(tmp_path / "nometric.npz")


def test_loader_reads_a_convnet_table(tmp_path):
    out = tmp_path / "convnet.npz"
    (res,) = run_calls("experiments.build_convnet_table",
                       [["--limit=3", "--recipe=tiny", "--seeds=2", "--train_subset=64",
                         "--n_val=40", "--n_test=40", f"--output={out}"]],
                       tmp_path, fast_compile=True)
    assert res["error"] is None, res
    table = load_sample_table(out)
    z = dict(np.load(out, allow_pickle=False))
    space = get_space("convnet")
    assert table.space_name == "convnet" and len(table) == 3
    for i, layers in enumerate(convnet.decode(z["codes"])):
        arch = convnet.from_layers(layers)
        assert table.lookup(space, arch) == (float(z["metric"][i]), float(z["test_metric"][i]))
        assert table.describe[i] == space.describe(arch)
    assert table.lookup(space, convnet.from_layers(((64, 5), (64, 5)))) is None
    np.testing.assert_array_equal(table.val_per_seed, z["val_acc"])


def test_nb201_sample_is_distinct_uniform_and_keyed():
    space, key = get_space("nb201"), jax.random.PRNGKey(0)
    archs, keys = draw_sample(space, 300, key)
    assert keys.dtype == np.uint32 and keys.shape == (300, 2)
    assert len({tuple(k) for k in keys.tolist()}) == 300
    assert [int(space.index(a)) for a in archs] == keys[:, 0].tolist()
    again, keys2 = draw_sample(space, 300, key)
    assert np.array_equal(keys, keys2)
    # uniform: each edge's op is spread over all 5 ops (300 draws: ~60 each)
    ops = np.stack([np.asarray(a.ops) for a in archs])
    assert all(np.bincount(ops[:, e], minlength=5).min() > 30 for e in range(6))
    with pytest.raises(ValueError, match="15,625"):
        draw_sample(space, 15626, key)


def test_loader_reads_the_embedded_whole_space_table():
    from importlib import resources

    path = resources.files("lanas_jax.benchmarks") / "data" / "convnet1364_digits.npz"
    table = load_sample_table(path)
    assert len(table) == convnet.SIZE and table.val_per_seed.shape[1] >= 2
    assert np.array_equal(table.arch_keys[:, 0], np.arange(convnet.SIZE))  # rows = index
    best = int(np.argmax(table.metric))
    arch = SPACE.from_index(best)
    assert table.lookup(SPACE, arch)[0] == float(table.metric.max())
    assert table.rank_of(table.metric[best]) == 1


def test_the_real_nb201_table_is_a_ground_truth():
    from lanas_jax.benchmarks import load_benchmark
    from lanas_jax.benchmarks.sample_table import nb201_table

    gt, bench = nb201_table("nb201_cifar10"), load_benchmark("nb201_cifar10")
    space = get_space("nb201")
    assert len(gt) == bench.size == 15625
    for row in (0, 777, 15624):
        val, test = gt.lookup(space, space.parse(gt.describe[row]))
        assert val == pytest.approx(float(bench.metric[row]), abs=1e-6)
        assert test == pytest.approx(float(bench.test_metric[row]), abs=1e-6)
    assert gt.rank_of(float(np.max(gt.metric))) == 1
    with pytest.raises(ValueError, match="unknown NAS-Bench-201 table"):
        nb201_table("nb201_mnist")


def test_the_embedded_nb201_digits_sample_is_a_ground_truth():
    """The 300-cell table trained on an H200 (issue 14 item 5) loads by name, its rows parse
    back to their keys, and its recorded seed agreement is the one its seeds give."""
    from scipy import stats

    from lanas_jax.benchmarks.sample_table import embedded_sample_table

    gt = embedded_sample_table("nb201_digits_sample")
    space = get_space("nb201")
    gt.check_space(space)
    assert len(gt) == 300 and gt.val_per_seed.shape == (300, 2)
    assert gt.metadata["recipe_name"] == "nb201_digits" and gt.metadata["dataset"] == "digits"
    archs = gt.archs(space)  # raises unless every description parses back to its key
    first = jax.tree.map(lambda a: a[0], archs)
    assert gt.lookup(space, first)[0] == pytest.approx(float(gt.metric[0]))
    tau = stats.kendalltau(gt.val_per_seed[:, 0], gt.val_per_seed[:, 1]).statistic
    assert tau == pytest.approx(gt.metadata["reliability"]["kendall"], abs=1e-3)
    with pytest.raises(ValueError, match="unknown embedded sample table"):
        embedded_sample_table("nb201_cifar10_sample")
