"""Masked full-size training of the ConvNet space equals true-size training (same key)."""

import jax
import numpy as np
import pytest

from lanas_jax.data import avg_pool, load_dataset
from lanas_jax.training import convnet as T


@pytest.fixture(scope="module")
def data():
    s = load_dataset("digits", n_val=40, n_test=40, seed=0)
    arrays = list(s.arrays())
    arrays[0], arrays[1] = arrays[0][:64], arrays[1][:64]
    return tuple(avg_pool(a, 2) if a.ndim == 4 else a for a in arrays)


RECIPE = T.Recipe(epochs=1, batch_size=16, learning_rate=0.01)


def test_im2col_conv_matches_lax_conv():
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 4, 4, 2))
    for k in (3, 5):
        w = jax.random.normal(jax.random.PRNGKey(k), (k, k, 2, 5))
        ref = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                           dimension_numbers=("NHWC", "HWIO", "NHWC"))
        np.testing.assert_allclose(T.conv_same(x, w), ref, rtol=1e-5, atol=1e-5)


_masked = jax.jit(T.train_masked, static_argnames=("recipe",))
_reference = jax.jit(T.train_reference, static_argnames=("arch", "recipe"))


def test_masked_training_equals_true_size_training(data):
    # one 3x3 and one 32-channel layer: both the kernel ring and the channel masks are exercised
    arch = ((32, 3), (64, 5))
    key = jax.random.PRNGKey(7)
    large = np.array([k == 5 for _, k in arch])
    wide = np.array([c == 64 for c, _ in arch])
    masked = _masked(key, large, wide, data, RECIPE)
    ref = _reference(key, arch, data, RECIPE)
    # same final loss to float rounding, hence the same predictions
    np.testing.assert_allclose(masked[2], ref[2], rtol=1e-4)
    np.testing.assert_allclose(masked[:2], ref[:2], atol=1 / 40 + 1e-6)
    # a different key trains a different network
    other = _reference(jax.random.PRNGKey(8), arch, data, RECIPE)
    assert abs(float(other[2]) - float(ref[2])) > 1e-6
    # and a different architecture gives a different result from the same key
    flipped = _masked(key, ~large, wide, data, RECIPE)
    assert abs(float(flipped[2]) - float(masked[2])) > 1e-6


def test_vmapped_group_equals_sequential_group(data):
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    large = np.array([[True, False], [False, False]])
    wide = np.array([[False, True], [True, False]])
    seq = T.train_group(keys, large, wide, data, recipe=RECIPE, vectorize=False)
    vec = T.train_group(keys, large, wide, data, recipe=RECIPE, vectorize=True)
    np.testing.assert_allclose(seq[2], vec[2], rtol=1e-4)
    one = _masked(keys[1], large[1], wide[1], data, RECIPE)
    np.testing.assert_allclose(seq[2][1], one[2], rtol=1e-4)


def test_param_count():
    # conv 3x3 1->32: 288+32; conv 5x5 32->64: 51200+64; head 64*10+10
    assert T.param_count(((32, 3), (64, 5)), 1, 10) == 320 + 51264 + 650


def test_bad_recipe_and_batch():
    with pytest.raises(ValueError):
        T.Recipe(epochs=0)
