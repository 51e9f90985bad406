"""The NB201 Space: sampling, mutation, encodings, keys, strings, size and network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.benchmarks.nb201 import nb201_space
from lanas_jax.spaces import nb201
from lanas_jax.spaces.base import get_space, unstack
from lanas_jax.spaces.nb201 import NB201, Nb201Arch

SPACE = NB201()
KEYS = jax.random.split(jax.random.key(0), 256)
CELL = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"


def _valid(archs) -> bool:
    ops = np.asarray(archs.ops)
    return ops.dtype == np.int32 and ((ops >= 0) & (ops < nb201.NUM_OPS)).all()


@pytest.fixture(scope="module")
def sampled():
    return jax.jit(jax.vmap(SPACE.sample))(KEYS)


def test_registry_returns_the_space():
    assert isinstance(get_space("nb201"), NB201)
    assert get_space("nb201") == SPACE and hash(get_space("nb201")) == hash(SPACE)


def test_sample_is_valid_uniform_ish_and_keyed(sampled):
    assert sampled.ops.shape == (256, 6) and _valid(sampled)
    # 256 x 6 draws over 5 ops: every op appears on every edge.
    for e in range(6):
        assert set(np.asarray(sampled.ops[:, e]).tolist()) == set(range(5))
    again = jax.jit(jax.vmap(SPACE.sample))(KEYS)
    np.testing.assert_array_equal(sampled.ops, again.ops)
    for i in range(4):  # vmapped == per item
        np.testing.assert_array_equal(SPACE.sample(KEYS[i]).ops, sampled.ops[i])


def test_mutate_is_one_edit_with_a_new_key(sampled):
    mkeys = jax.random.split(jax.random.key(1), 256)
    mutated = jax.jit(jax.vmap(SPACE.mutate))(mkeys, sampled)
    assert _valid(mutated)
    changed = np.asarray(mutated.ops != sampled.ops).sum(1)
    assert (changed == 1).all()
    keys0, keys1 = jax.vmap(SPACE.key)(sampled), jax.vmap(SPACE.key)(mutated)
    assert (np.asarray(keys0[:, 0]) != np.asarray(keys1[:, 0])).all()
    for i in range(4):  # vmapped == per item
        one = SPACE.mutate(mkeys[i], unstack(sampled)[i])
        np.testing.assert_array_equal(one.ops, mutated.ops[i])
    # Each of the 24 neighbours of one cell is reachable, and nothing else is.
    cell = unstack(sampled)[0]
    many = jax.vmap(SPACE.mutate, (0, None))(jax.random.split(jax.random.key(2), 2000), cell)
    seen = set(np.asarray(jax.vmap(SPACE.index)(many)).tolist())
    table = nb201.neighbors(np.asarray(SPACE.enumerate().ops))  # row i = code i here
    assert seen == set(table[int(SPACE.index(cell))].tolist())


def test_roundtrips_keep_the_key(sampled):
    keys = np.asarray(jax.vmap(SPACE.key)(sampled))
    assert (keys[:, 1] == 0).all() and (keys[:, 0] < 5**6).all()
    back = jax.vmap(SPACE.discretise)(jax.vmap(SPACE.relax)(sampled))
    np.testing.assert_array_equal(jax.vmap(SPACE.key)(back), keys)
    back = jax.vmap(SPACE.from_tokens)(jax.vmap(SPACE.tokens)(sampled))
    np.testing.assert_array_equal(jax.vmap(SPACE.key)(back), keys)
    back = jax.vmap(SPACE.from_index)(jax.vmap(SPACE.index)(sampled))
    np.testing.assert_array_equal(back.ops, sampled.ops)
    for arch in unstack(sampled)[:16]:
        assert SPACE.same(SPACE.parse(SPACE.describe(arch)), arch)


def test_every_box_point_discretises_to_its_argmax_cell():
    x = jax.random.uniform(jax.random.key(3), (256, 30))
    archs = jax.vmap(SPACE.discretise)(x)
    assert _valid(archs)
    np.testing.assert_array_equal(archs.ops, np.argmax(np.asarray(x).reshape(256, 6, 5), -1))
    with pytest.raises(ValueError, match="f32\\[30\\]"):
        SPACE.discretise(jnp.zeros(29))


def test_describe_parse_and_malformed_strings():
    arch = SPACE.parse(CELL)
    assert np.asarray(arch.ops).tolist() == [3, 1, 2, 4, 0, 3]
    assert SPACE.describe(arch) == CELL
    for bad, problem in [
        ("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|", "3 '\\+'-separated"),
        (CELL.replace("avg_pool_3x3", "max_pool_3x3"), "unknown op"),
        (CELL.replace("none~1", "none~2"), "should be 'op~1'"),
    ]:
        with pytest.raises(ValueError, match=problem):
            SPACE.parse(bad)
    with pytest.raises(ValueError, match="op ids"):
        SPACE.describe(Nb201Arch(jnp.array([0, 1, 2, 3, 4, 5], jnp.int32)))
    with pytest.raises(ValueError, match="int32\\[6\\]"):
        SPACE.key(Nb201Arch(jnp.zeros(5, jnp.int32)))


def test_size_and_enumeration_agree():
    size = SPACE.size()
    assert size.exact and size.count == 15625
    archs = SPACE.enumerate()
    idx = np.asarray(jax.vmap(SPACE.index)(archs))
    np.testing.assert_array_equal(idx, np.arange(15625))
    np.testing.assert_array_equal(nb201.codes(np.asarray(archs.ops)), np.arange(15625))
    assert len(np.unique(np.asarray(archs.ops), axis=0)) == 15625


def test_features_match_the_embedded_table():
    """The table's rows are in NATS-Bench order; row r holds the cell whose index is its code."""
    table_ops = nb201_space().ops
    feats = np.asarray(jax.vmap(SPACE.features)(SPACE.enumerate()))
    np.testing.assert_array_equal(feats[nb201.codes(table_ops)], nb201.one_hot(table_ops))


def _shapes(net, image: int = 8):
    """The variables' shapes: ``init`` traced, not run (compiling its random draws costs
    seconds on a CPU)."""
    return jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((1, image, image, 3))))


def _param_count(arch, **options) -> int:
    shapes = _shapes(SPACE.network(arch, 10, **options))
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"]))


def test_small_network_runs_and_has_the_hand_counted_parameters():
    arch = SPACE.parse(CELL)
    net = SPACE.network(arch, 10, channels=4, cells=1)
    shapes = _shapes(net)
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda s: jnp.asarray(0.3 * rng.normal(size=s.shape), s.dtype),
                          shapes["params"])
    stats = jax.tree_util.tree_map_with_path(
        lambda path, s: jnp.full(s.shape, float(path[-1].key == "var"), s.dtype),
        shapes["batch_stats"])
    variables = {"params": params, "batch_stats": stats}
    x = jnp.asarray(rng.normal(size=(2, 8, 8, 3)), jnp.float32)
    logits, updates = jax.jit(
        lambda v, x: net.apply(v, x, train=True, mutable=["batch_stats"]))(variables, x)
    assert logits.shape == (2, 10) and np.isfinite(np.asarray(logits)).all()
    # Training mode moved the running means of the stem's BatchNorm off their zero start.
    assert np.abs(np.asarray(updates["batch_stats"]["BatchNorm_0"]["mean"])).max() > 0
    # C=4, N=1, 3 input channels, 10 classes; a ReLUConvBN k x k from c to c' is k*k*c*c' + 2c'.
    # stem 3*3*3*4 + 8 = 116; cell(C) = two 3x3 convs + one 1x1 = 2(9C^2 + 2C) + C^2 + 2C:
    # C=4: 328, C=8: 1264, C=16: 4960; reduction c -> 2c = 9*c*2c + 4c + 9*(2c)^2 + 4c + 2c^2:
    # 4->8: 928, 8->16: 3648; last BN 32; classifier 16*10 + 10 = 170. Total 11,446.
    assert _param_count(arch, channels=4, cells=1) == 11446


def test_default_network_has_nas_bench_201_sizes():
    # At C=16, N=5: 1,531,546 parameters for the all-3x3 cell and 73,306 when every edge is
    # parameter-free (NAS-Bench-201's reported 1.53 M / 0.07 M extremes on CIFAR-10).
    assert _param_count(Nb201Arch(jnp.full(6, 3, jnp.int32))) == 1531546
    assert _param_count(Nb201Arch(jnp.zeros(6, jnp.int32))) == 73306
    with pytest.raises(ValueError, match="channels"):
        SPACE.network(SPACE.parse(CELL), 10, channels=0)
