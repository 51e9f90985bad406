"""Masked full-size training of the ConvNet space equals true-size training (same key), and
the datasets the table builder reads."""

import jax
import numpy as np
import pytest

from lanas_jax.data import avg_pool, load_dataset
from lanas_jax.spaces import convnet as space
from lanas_jax.training import convnet as T
from lanas_jax.training.loop import fit
from lanas_jax.training.recipe import Recipe


@pytest.fixture(scope="module")
def data():
    s = load_dataset("digits", n_val=40, n_test=40, seed=0)
    arrays = list(s.arrays())
    arrays[0], arrays[1] = arrays[0][:64], arrays[1][:64]
    return tuple(avg_pool(a, 2) if a.ndim == 4 else a for a in arrays)


RECIPE = Recipe(epochs=1, batch_size=16, learning_rate=0.01)


def test_im2col_conv_matches_lax_conv():
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 4, 4, 2))
    for k in (3, 5):
        w = jax.random.normal(jax.random.PRNGKey(k), (k, k, 2, 5))
        ref = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                           dimension_numbers=("NHWC", "HWIO", "NHWC"))
        np.testing.assert_allclose(T.conv_same(x, w), ref, rtol=1e-5, atol=1e-5)


_fit = jax.jit(fit, static_argnames=("model", "recipe"))


@pytest.mark.parametrize("width", [16])  # 64 (the table's) is the builder test's
def test_masked_training_equals_true_size_training(data, width):
    # one narrow 3x3 and one wide 5x5 layer: the kernel ring and the channel masks are exercised
    layers = ((32, 3), (64, 5))
    arch = space.from_layers(layers)
    key = jax.random.PRNGKey(7)
    masked_model = T.MaskedConvNet(2, 1, 10, width)
    masked = _fit(masked_model, key, arch, data, RECIPE)
    ref = _fit(T.TrueConvNet(T.scaled(layers, width), 1, 10, width), key, arch, data, RECIPE)
    # same final loss to float rounding, hence the same predictions
    np.testing.assert_allclose(masked[2], ref[2], rtol=1e-4)
    np.testing.assert_allclose(masked[:2], ref[:2], atol=1 / 40 + 1e-6)
    assert bool(masked[3]) and bool(ref[3])
    # a different architecture gives a different result from the same key
    flipped = _fit(masked_model, key, space.from_layers(((64, 5), (32, 3))), data, RECIPE)
    assert abs(float(flipped[2]) - float(masked[2])) > 1e-6


def test_param_count():
    # conv 3x3 1->32: 288+32; conv 5x5 32->64: 51200+64; head 64*10+10
    assert T.param_count(((32, 3), (64, 5)), 1, 10) == 320 + 51264 + 650
    arch = space.from_layers(((32, 3), (64, 5)))
    assert T.MaskedConvNet(2, 1, 10).param_count(arch) == 320 + 51264 + 650
    # width 16: conv 3x3 1->8: 72+8; conv 5x5 8->16: 3200+16; head 16*10+10
    assert T.MaskedConvNet(2, 1, 10, 16).param_count(arch) == 80 + 3216 + 170

