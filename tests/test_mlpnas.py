"""MLPNAS (seed 001 Sec. 4-5, issue 16): the controller samples valid sequences, REINFORCE
favours an above-baseline one, the bigram bank seeds and collects children, vmapped children
equal children trained alone, a search is a function of its key, and the binary's output."""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.data import load_dataset
from lanas_jax.mlpnas import children as ch
from lanas_jax.mlpnas import search as mlpnas
from lanas_jax.spaces import mlp as mlp_space
from lanas_jax.spaces.base import stack
from lanas_jax.training.masked_mlp import MaskedMLP
from tests.binary_driver import run_calls


@pytest.fixture(scope="module")
def splits():
    s = load_dataset("digits", n_val=64, n_test=64)
    s.x_train, s.y_train = s.x_train[:128], s.y_train[:128]
    return s


#: One tiny search setting: its children's program (3 slots padded to 512, 3 children) is the
#: one the vmapped-children test compiles, so the module compiles it once.
#: Its fine-tuning program (one child, 2 epochs, no early stop) trains the one-by-one children.
CHILD = ch.ChildConfig(epochs=2, batch_size=32, patience=2)
TINY = mlpnas.MLPNASConfig(controller_epochs=2, archs_per_epoch=3, max_layers=3, hidden=8,
                           child=CHILD, finetune_epochs=2, pad_width=512, controller_steps=2,
                           one_shot=True, predictor=True)


def test_controller_samples_only_valid_sequences() -> None:
    state = mlpnas.init_controller(TINY, jax.random.PRNGKey(0))
    draws = [mlpnas.sample(TINY, state["params"], jax.random.PRNGKey(k), 3) for k in range(60)]
    tokens = jnp.concatenate([t for t, _ in draws])
    preds = np.concatenate([p for _, p in draws])
    archs = jax.jit(jax.vmap(TINY.space.from_tokens))(tokens)
    tokens, lengths, layers = np.asarray(tokens), np.asarray(archs.length), np.asarray(archs.layers)
    assert tokens.shape == (180, 3) and np.all((0 <= preds) & (preds <= 1))
    assert np.all(tokens[:, 0] < mlp_space.NUM_DENSE)  # the first layer is dense
    assert np.all((1 <= lengths) & (lengths <= 3)) and np.all(layers < mlp_space.NUM_LAYER_IDS)
    pos = np.arange(3)[None, :]
    assert np.all(tokens[pos > lengths[:, None]] == 0)  # nothing drawn after END
    assert np.all(tokens[pos == lengths[:, None]] == mlp_space.END)
    ch.batch_width(archs)  # trainable networks
    assert len(set(lengths)) == 3 and mlp_space.DROPOUT in tokens  # lengths vary, dropouts occur


def test_reinforce_raises_an_above_baseline_sequence() -> None:
    state = mlpnas.init_controller(TINY, jax.random.PRNGKey(0))
    tokens, _ = mlpnas.sample(TINY, state["params"], jax.random.PRNGKey(3), 3)
    log_prob = jax.vmap(TINY.controller.log_prob, (None, 0))
    before = log_prob(state["params"]["lstm"], tokens)
    cap = TINY.controller_epochs * TINY.archs_per_epoch  # no observed accuracies yet
    none = (jnp.zeros((cap, 3), jnp.int32), jnp.zeros(cap), jnp.zeros(cap))
    new, metrics = mlpnas.update(TINY, state, tokens, jnp.array([1.0, 0.0, 0.0]), *none)
    after = log_prob(new["params"]["lstm"], tokens)
    adv = np.asarray(metrics["advantage"])
    assert adv[0] > 0 > adv[1]  # baseline 0 -> 0.1 -> 0.09 (decay 0.9)
    assert float(after[0]) > float(before[0])


def test_bigram_child_starts_from_the_bank_and_writes_back(splits) -> None:
    data = mlpnas.flat_data(splits)
    arch = TINY.space.parse("(16, relu), dropout, (8, tanh)")  # (in,16), (16,8), (8,out)
    model = MaskedMLP(3, 64, 10, max_width=512)  # TINY's children program
    fresh, _ = model.init(jax.random.PRNGKey(0), arch, data[0][:1])
    bank = ch.empty_bank(64, 10)
    rng = np.random.default_rng(0)

    def rand(shape):
        return jnp.asarray(rng.normal(size=shape), jnp.float32)

    seeded = bank.replace(
        input_w=bank.input_w.at[1].set(rand((64, 512))), input_seen=bank.input_seen.at[1].set(True),
        hidden_w=bank.hidden_w.at[1, 0].set(rand((512, 512))),
        hidden_seen=bank.hidden_seen.at[1, 0].set(True),
        head_w=bank.head_w.at[0].set(rand((512, 10))), head_seen=bank.head_seen.at[0].set(True))
    params, flags = jax.jit(ch.from_bank, static_argnums=3)(seeded, arch, fresh, 512)
    assert np.asarray(flags).tolist() == [True, False, True, True]
    np.testing.assert_array_equal(params["layers"][0]["w"], seeded.input_w[1])
    np.testing.assert_array_equal(params["layers"][2]["w"], seeded.hidden_w[1, 0])
    np.testing.assert_array_equal(params["head"]["w"], seeded.head_w[0])
    np.testing.assert_array_equal(params["layers"][1]["w"], fresh["layers"][1]["w"])

    # trained children write back: the later of two wins, a padding child never writes, only
    # a pair's true block is kept; a new child then starts from every pair
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    archs, valid = stack([arch, arch, arch]), jnp.array([True, True, False])
    res, flags, out = ch.train_children(keys, archs, valid, bank, data, model=model, cfg=CHILD,
                                        share=True)
    assert not np.asarray(flags).any()
    p = jax.tree.map(lambda x: x[1], res.params)
    np.testing.assert_allclose(out.input_w[1, :, :16], p["layers"][0]["w"][:, :16])
    assert float(jnp.abs(out.input_w[1, :, 16:]).max()) == 0.0
    np.testing.assert_allclose(out.hidden_w[1, 0, :16, :8], p["layers"][2]["w"][:16, :8])
    np.testing.assert_allclose(out.head_w[0, :8], p["head"]["w"][:8])
    np.testing.assert_allclose(out.head_b[0], p["head"]["b"])
    assert int(out.hidden_seen.sum()) == 1 and int(out.input_seen.sum()) == 1
    assert bool(out.head_seen[0]) and int(out.head_seen.sum()) == 1
    assert not np.allclose(res.params["head"]["w"][1], res.params["head"]["w"][0])
    _, flags, _ = ch.train_children(keys, archs, valid, out, data, model=model, cfg=CHILD,
                                    share=True)
    assert np.asarray(flags)[:, [0, 2, 3]].all() and not np.asarray(flags)[:, 1].any()


def test_vmapped_children_equal_children_trained_alone(splits) -> None:
    data = mlpnas.flat_data(splits)
    sp = TINY.space
    archs = [sp.parse(t) for t in ("(16, relu)", "(32, tanh), dropout, (8, elu)",
                                   "(8, sigmoid), (16, relu)")]
    model = MaskedMLP(3, 64, 10, max_width=512)  # TINY's children program
    bank = ch.empty_bank(64, 10)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    res, _, _ = ch.train_children(keys, stack(archs), jnp.ones(3, bool), bank, data,
                                  model=model, cfg=CHILD, share=True)
    for i, arch in enumerate(archs):  # alone: not vmapped (the search's fine-tuning program)
        k_init, k_fit = jax.random.split(keys[i])
        params, _ = model.init(k_init, arch, data[0][:1])
        one = ch.finetune(k_fit, arch, params, data, model=model, cfg=CHILD)
        assert int(one.epochs) == int(res.epochs[i]) == 2
        np.testing.assert_allclose(one.val_acc, res.val_acc[i], atol=1e-6)
        np.testing.assert_allclose(one.acc_hist, res.acc_hist[i], atol=1e-6)
        for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(res.params), strict=True):
            np.testing.assert_allclose(a, b[i], atol=1e-5)


def _same(a, b, atol=0.0) -> None:
    assert [r["arch"] for r in a.archive] == [r["arch"] for r in b.archive]
    np.testing.assert_allclose([r["val"] for r in a.archive], [r["val"] for r in b.archive],
                               atol=atol)
    assert a.best["arch"] == b.best["arch"]
    np.testing.assert_allclose(a.best["test"], b.best["test"], atol=atol)
    assert [h["new"] for h in a.history] == [h["new"] for h in b.history]


@pytest.fixture(scope="module")
def seed0(splits):
    return mlpnas.search(TINY, splits, jax.random.PRNGKey(0))


def test_same_key_same_search(splits, seed0) -> None:
    a, b = seed0, mlpnas.search(TINY, splits, jax.random.PRNGKey(0))
    assert a.archive == b.archive and a.best == b.best
    _same(a, b)
    assert sum(h["new"] for h in a.history) == len(a.archive)  # nothing trained twice
    assert any(r["from_bank"] > 0 for r in a.archive)  # epoch 1 reused epoch 0's bigrams


def test_vmapped_seeds_equal_searches_alone(splits, seed0) -> None:
    keys = jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(5)])
    both = mlpnas.search_seeds(TINY, splits, keys)
    _same(both[0], seed0, atol=1e-5)
    _same(both[1], mlpnas.search(TINY, splits, keys[1]), atol=1e-5)
    assert [r["arch"] for r in both[0].archive] != [r["arch"] for r in both[1].archive]


def test_killed_search_resumes_to_the_same_result(splits, seed0, tmp_path) -> None:
    import shutil

    d = str(tmp_path / "ckpt")
    full = mlpnas.search(TINY, splits, jax.random.PRNGKey(0), checkpoint_dir=d)
    _same(full, seed0)
    assert sorted(os.listdir(d)) == ["0", "1"]
    shutil.rmtree(os.path.join(d, "1"))  # killed during controller epoch 1
    logs = []
    again = mlpnas.search(TINY, splits, jax.random.PRNGKey(0), log=logs.append,
                          checkpoint_dir=d)
    assert "resumed after controller epoch 0" in logs[0]
    _same(again, full, atol=1e-6)
    other = dataclasses.replace(TINY, controller_steps=3)
    with pytest.raises(ValueError, match="different run config"):
        mlpnas.search(other, splits, jax.random.PRNGKey(0), checkpoint_dir=d)


def test_binary_writes_results(tmp_path) -> None:
    out = str(tmp_path / "out")
    good = ["--dataset=breast_cancer", "--variant=oneshot", "--controller_epochs=1",
            "--archs_per_epoch=2", "--child_epochs=1", "--finetune_epochs=1", "--max_layers=2",
            "--hidden=8", f"--output_dir={out}"]
    calls = run_calls("experiments.mlpnas", [good, ["--dataset=nope"],
                                             ["--dataset=digits", "--seeds=0"], good,
                                             good + ["--resume"]],
                      tmp_path, fast_compile=True)
    assert calls[0]["error"] is None, calls[0]
    assert "pass --resume" in calls[3]["error"]
    assert calls[4]["error"] is None  # every controller epoch restored, the best fine-tuned again
    assert calls[4]["stdout"].split("best test")[0] == calls[0]["stdout"].split("best test")[0]
    assert "Scikit-learn MLP test accuracy" in calls[0]["stdout"]
    assert "(1, sigmoid)" in calls[0]["stdout"]  # binary task: one sigmoid unit
    assert "unknown dataset 'nope'" in calls[1]["error"]
    assert "--seeds must be >= 1" in calls[2]["error"]
    with open(os.path.join(out, "results.json")) as f:
        r = json.load(f)
    assert {"dataset", "variant", "seeds", "top5", "best", "best_test", "sklearn_test",
            "seconds"} <= set(r)
    assert r["dataset"] == "breast_cancer" and r["variant"] == "oneshot" and r["seeds"] == 1
    assert 1 <= len(r["top5"]) <= 2 and set(r["best"]) == {"arch", "val", "test"}
    assert 0.0 <= r["best_test"] <= 1.0 and 0.5 < r["sklearn_test"] <= 1.0


def test_csv_and_bundled_tables(tmp_path) -> None:
    from lanas_jax.data import DatasetError

    path = tmp_path / "t.csv"
    rows = ["a,label,b"] + [f"{i},{'yes' if i % 2 else 'no'},{i * 0.5}" for i in range(20)]
    path.write_text("\n".join(rows) + "\n")
    s = load_dataset(f"csv:{path}", n_val=4, n_test=4, label_column=1)
    assert s.num_classes == 2 and s.x_train.shape == (12, 2)
    x = np.concatenate([s.x_train, s.x_val, s.x_test])
    y = np.concatenate([s.y_train, s.y_val, s.y_test])
    np.testing.assert_array_equal(y, (x[:, 0] % 2).astype(int))  # "no" < "yes"
    with pytest.raises(DatasetError, match="non-numeric feature"):
        load_dataset(f"csv:{path}", n_val=4, n_test=4)  # the last column is not the label
    w = load_dataset("wine", n_val=36, n_test=36)
    assert w.num_classes == 3 and w.x_train.shape == (106, 13)


def test_csv_separators_are_detected(tmp_path) -> None:
    """UCI's winequality-red.csv as downloaded (quoted header, ';' separators, the quality
    score last) and a tab-separated file read like the comma-separated one; a binary file or
    one csv cannot parse is a DatasetError naming it."""
    from lanas_jax.data import DatasetError

    rng = np.random.default_rng(0)
    feats = rng.uniform(0, 10, (30, 3)).round(3)
    quality = rng.choice([5, 6, 7], 30)
    head = ['"fixed acidity"', '"volatile acidity"', '"alcohol"', '"quality"']
    body = [";".join([*map(str, f), str(q)]) for f, q in zip(feats, quality, strict=True)]
    (tmp_path / "wq.csv").write_text("\n".join([";".join(head), *body]) + "\n")
    tab = ["\t".join([*map(str, f), str(q)]) for f, q in zip(feats, quality, strict=True)]
    (tmp_path / "t.tsv").write_text("\n".join(tab) + "\n")
    for name in ("wq.csv", "t.tsv"):
        s = load_dataset(f"csv:{tmp_path / name}", n_val=5, n_test=5)
        assert s.num_classes == 3 and s.x_train.shape == (20, 3)
        x = np.concatenate([s.x_train, s.x_val, s.x_test])
        y = np.concatenate([s.y_train, s.y_val, s.y_test])
        order = np.lexsort(feats.T[::-1])
        np.testing.assert_allclose(x[np.lexsort(x.T[::-1])], feats[order], rtol=1e-6)
        np.testing.assert_array_equal(np.sort(y), np.sort(quality - 5))
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x81 not text\n")
    with pytest.raises(DatasetError, match="not a text file"):
        load_dataset(f"csv:{tmp_path / 'bin.csv'}", n_val=1, n_test=1)
    (tmp_path / "huge.csv").write_text('1,2\n3,"' + "4" * 200_000 + '"\n')  # > csv's field limit
    with pytest.raises(DatasetError, match="unreadable as CSV"):
        load_dataset(f"csv:{tmp_path / 'huge.csv'}", n_val=1, n_test=1)


def test_bigram_curve_binary(tmp_path) -> None:
    from experiments.mlpnas_bigram_curve import epochs_to_reach

    hist = np.array([[0.5, 0.85, 0.95], [0.9, np.nan, np.nan], [0.1, 0.2, 0.3]])
    assert epochs_to_reach(hist, 0.8).tolist() == [2, 1, 4]
    out = str(tmp_path / "bg")
    calls = run_calls("experiments.mlpnas_bigram_curve",
                      [["--dataset=iris", "--archs=2", "--epochs=2", "--repeats=2",
                        "--max_layers=2", f"--output_dir={out}"], ["--dataset=iris", "--archs=0"]],
                      tmp_path, fast_compile=True)
    assert calls[0]["error"] is None, calls[0]
    assert "| threshold |" in calls[0]["stdout"] and "must be >= 1" in calls[1]["error"]
    with open(os.path.join(out, "results.json")) as f:
        r = json.load(f)
    assert np.asarray(r["acc_hist"]["shared"]).shape == (2, 2, 2)
    assert len(r["curves"]["scratch"]) == 2 and os.path.exists(os.path.join(out, "curve.png"))
