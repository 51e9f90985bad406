"""The ConvNet Space (LaNAS Sec. 2 chain): index, mutation, encodings, keys, strings, network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.spaces import convnet
from lanas_jax.spaces.base import get_space, unstack
from lanas_jax.spaces.convnet import ConvNet, ConvNetArch
from lanas_jax.training.convnet import apply, param_count

SPACE = ConvNet()
KEYS = jax.random.split(jax.random.key(0), 256)


def _arch(depth, choice) -> ConvNetArch:
    return ConvNetArch(jnp.asarray(depth, jnp.int32), jnp.asarray(choice, jnp.int32))


def _canonical_and_valid(archs) -> bool:
    depth, choice = np.asarray(archs.depth), np.asarray(archs.choice)
    live = np.arange(5) < depth[..., None]
    return (depth.dtype == choice.dtype == np.int32 and ((depth >= 1) & (depth <= 5)).all()
            and ((choice >= 0) & (choice < 4)).all() and not choice[~live].any())


@pytest.fixture(scope="module")
def enumerated():
    return SPACE.enumerate()


@pytest.fixture(scope="module")
def sampled():
    return jax.jit(jax.vmap(SPACE.sample))(KEYS)


def test_registry_returns_the_space():
    assert isinstance(get_space("convnet"), ConvNet) and get_space("convnet") == SPACE


def test_index_is_the_enumeration_row_for_all_1364(enumerated):
    size = SPACE.size()
    assert size.exact and size.count == convnet.SIZE == 1364
    assert _canonical_and_valid(enumerated)
    assert [convnet.layers_of(a) for a in unstack(enumerated)] == list(convnet.enumerate_space())
    index = np.asarray(jax.jit(jax.vmap(SPACE.index))(enumerated))
    np.testing.assert_array_equal(index, np.arange(1364))
    keys = np.asarray(jax.vmap(SPACE.key)(enumerated))
    np.testing.assert_array_equal(keys, np.stack([np.arange(1364), np.zeros(1364)], 1))


def test_features_match_the_table_encoding(enumerated):
    feats = np.asarray(jax.vmap(SPACE.features)(enumerated))
    np.testing.assert_array_equal(feats, convnet.features(convnet.enumerate_space()))


def test_slots_beyond_the_depth_are_ignored():
    """Spellings that differ only past the depth are one network: one key, one description."""
    a, b = _arch(2, [3, 1, 0, 0, 0]), _arch(2, [3, 1, 2, 3, 1])
    assert SPACE.same(a, b) and SPACE.describe(b) == "conv64k5-conv32k5"
    np.testing.assert_array_equal(SPACE.features(a), SPACE.features(b))
    assert not SPACE.same(a, _arch(3, [3, 1, 2, 0, 0]))


def test_sample_is_valid_uniform_and_keyed(sampled):
    assert _canonical_and_valid(sampled)
    # Uniform over 1,364 nets: about 3/4 of them have depth 5.
    assert 0.65 < np.mean(np.asarray(sampled.depth) == 5) < 0.85
    again = jax.jit(jax.vmap(SPACE.sample))(KEYS)
    np.testing.assert_array_equal(jax.vmap(SPACE.key)(again), jax.vmap(SPACE.key)(sampled))
    for i in range(4):  # vmapped == per item
        np.testing.assert_array_equal(SPACE.key(SPACE.sample(KEYS[i])), SPACE.key(
            unstack(sampled)[i]))


def test_mutate_is_one_of_the_listed_mutations(enumerated):
    archs = unstack(enumerated)
    mkeys = jax.random.split(jax.random.key(1), 1364)
    mutated = jax.jit(jax.vmap(SPACE.mutate))(mkeys, enumerated)
    assert _canonical_and_valid(mutated)
    for arch, new in zip(archs, unstack(mutated), strict=True):
        options = [m for m in convnet.mutations(convnet.layers_of(arch)) if m is not None]
        assert convnet.layers_of(new) in options
    for i in (0, 5, 400, 1363):  # vmapped == per item
        one = SPACE.mutate(mkeys[i], archs[i])
        np.testing.assert_array_equal(SPACE.key(one), SPACE.key(unstack(mutated)[i]))


def test_mutate_reaches_every_listed_mutation_uniformly():
    mutate_many = jax.jit(jax.vmap(lambda k, a: SPACE.index(SPACE.mutate(k, a)), (0, None)))
    keys = jax.random.split(jax.random.key(2), 1200)
    for layers in (((32, 3),), ((64, 5), (32, 3), (64, 3)), ((32, 5),) * 5):
        got = np.asarray(mutate_many(keys, convnet.from_layers(layers)))
        options = [convnet.index_of(m) for m in convnet.mutations(layers) if m is not None]
        assert set(got.tolist()) == set(options)
        counts = np.array([np.sum(got == m) for m in options])
        assert counts.min() > 0.6 * 1200 / len(options)


def test_roundtrips_keep_the_key(sampled):
    keys = np.asarray(jax.vmap(SPACE.key)(sampled))
    back = jax.vmap(SPACE.discretise)(jax.vmap(SPACE.relax)(sampled))
    np.testing.assert_array_equal(jax.vmap(SPACE.key)(back), keys)
    back = jax.vmap(SPACE.from_tokens)(jax.vmap(SPACE.tokens)(sampled))
    np.testing.assert_array_equal(jax.vmap(SPACE.key)(back), keys)
    np.testing.assert_array_equal(jax.vmap(SPACE.from_index)(keys[:, 0]).choice, sampled.choice)
    for arch in unstack(sampled)[:16]:
        assert SPACE.same(SPACE.parse(SPACE.describe(arch)), arch)


def test_every_box_point_and_token_sequence_is_a_net():
    x = jax.random.uniform(jax.random.key(3), (256, 15))
    archs = jax.vmap(SPACE.discretise)(x)
    assert _canonical_and_valid(archs)
    present = (np.asarray(x).reshape(256, 5, 3)[:, :, 0] >= 0.5).sum(1)
    np.testing.assert_array_equal(archs.depth, np.maximum(present, 1))
    # Raising a coordinate never lowers the depth (the rule is monotone).
    higher = jax.vmap(SPACE.discretise)(x.at[:, 0].set(1.0))
    assert (np.asarray(higher.depth) >= np.asarray(archs.depth)).all()
    tokens = jax.random.randint(jax.random.key(4), (256, 6), 0, jnp.array(SPACE.vocab_sizes))
    archs = jax.vmap(SPACE.from_tokens)(tokens)
    assert _canonical_and_valid(archs)
    np.testing.assert_array_equal(archs.depth, np.asarray(tokens[:, 0]) + 1)
    with pytest.raises(ValueError, match="f32\\[15\\]"):
        SPACE.discretise(jnp.zeros(12))
    with pytest.raises(ValueError, match="int32\\[6\\]"):
        SPACE.from_tokens(jnp.zeros(5, jnp.int32))


def test_describe_parse_and_malformed_input():
    arch = SPACE.parse("conv64k5-conv32k3")
    assert int(arch.depth) == 2 and np.asarray(arch.choice).tolist() == [3, 0, 0, 0, 0]
    assert SPACE.describe(arch) == "conv64k5-conv32k3"
    for bad, problem in [("conv64k7", "outside"), ("conv64x3", "not 'conv<C>k<K>'"),
                         ("-".join(["conv32k3"] * 6), "1..5 layers")]:
        with pytest.raises(ValueError, match=problem):
            SPACE.parse(bad)
    with pytest.raises(ValueError, match="depth in"):
        SPACE.describe(_arch(0, [0] * 5))
    with pytest.raises(ValueError, match="choice ids"):
        SPACE.describe(_arch(1, [4, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="choice int32\\[5\\]"):
        SPACE.key(_arch(1, [0, 0, 0]))


def test_network_is_the_trained_network():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 8, 3)), jnp.float32)
    for layers in (((32, 3),), ((64, 5), (32, 3)), ((32, 5), (64, 3), (64, 5), (32, 3), (64, 3))):
        net = SPACE.network(convnet.from_layers(layers), 10)
        shapes = jax.eval_shape(net.init, jax.random.key(0), x)
        count = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes))
        assert count == param_count(layers, 3, 10)
    # conv64k5-conv32k3 on 3 channels, 10 classes, by hand: 5*5*3*64 + 64 = 4,864;
    # 3*3*64*32 + 32 = 18,464; head 32*10 + 10 = 330; total 23,658.
    net = SPACE.network(SPACE.parse("conv64k5-conv32k3"), 10)
    shapes = jax.eval_shape(net.init, jax.random.key(1), x)["params"]
    assert sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes)) == 23658
    # A forward pass with given weights (running init would compile its random draws, seconds
    # on a CPU): the module computes training.convnet.apply's function.
    rng = np.random.default_rng(1)
    params = jax.tree.map(lambda s: jnp.asarray(0.1 * rng.normal(size=s.shape), s.dtype), shapes)
    logits = jax.jit(net.apply)({"params": params}, x)
    assert logits.shape == (2, 10)
    flat = {"conv": [{"w": params[f"Conv_{j}"]["kernel"], "b": params[f"Conv_{j}"]["bias"]}
                     for j in range(2)],
            "head": {"w": params["Dense_0"]["kernel"], "b": params["Dense_0"]["bias"]}}
    np.testing.assert_allclose(logits, apply(flat, x), rtol=1e-4, atol=1e-5)
