"""Seed 001's MLP space (lanas_jax/spaces/mlp.py): validity, canonical keys, round trips, size by
brute force on reduced spaces, and the flax network."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.spaces import mlp
from lanas_jax.spaces.base import get_space, stack, unstack

SPACE = mlp.MLPStack()
N = 256


def _valid(a, m=SPACE.max_layers):
    """Host check of the validity rules and the canonical form of one architecture."""
    length, layers = int(a.length), np.asarray(a.layers)
    return (layers.shape == (m,) and 1 <= length <= m and layers[0] < mlp.NUM_DENSE
            and np.all(layers[:length] < mlp.NUM_LAYER_IDS) and np.all(layers[length:] == 0)
            and np.all(layers >= 0))


def _one_edit(a, b):
    """Whether b is a with one layer changed, inserted or deleted."""
    x = list(a.layers[: int(a.length)])
    y = list(b.layers[: int(b.length)])
    if len(x) == len(y):
        return sum(u != v for u, v in zip(x, y, strict=True)) == 1
    short, long_ = sorted([x, y], key=len)
    if len(long_) - len(short) != 1:
        return False
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


@pytest.fixture(scope="module")
def batch():
    return jax.jit(jax.vmap(SPACE.sample))(jax.random.split(jax.random.PRNGKey(0), N))


def test_registry_and_options():
    space = get_space("mlp")
    assert isinstance(space, mlp.MLPStack) and space.max_layers == 9
    assert get_space("mlp", max_layers=3).vocab_sizes == (28, 30, 30)
    assert SPACE.feature_dim == 63 and SPACE.relax_dim == 126 and SPACE.num_tokens == 9
    assert hash(SPACE) == hash(mlp.MLPStack())
    with pytest.raises(ValueError, match="max_layers"):
        mlp.MLPStack(max_layers=12)


def test_sample_is_valid_canonical_deterministic_and_vmaps(batch):
    archs = unstack(batch)
    assert all(_valid(a) for a in archs)
    lengths = np.asarray(batch.length)
    assert set(lengths) == set(range(1, 10))  # every length is drawn
    assert np.any(np.asarray(batch.layers) == mlp.DROPOUT)
    keys = jax.random.split(jax.random.PRNGKey(0), N)
    one = jax.jit(SPACE.sample)(keys[7])
    np.testing.assert_array_equal(one.layers, batch.layers[7])
    assert int(one.length) == int(batch.length[7])
    again = jax.jit(jax.vmap(SPACE.sample))(keys)
    np.testing.assert_array_equal(again.layers, batch.layers)


def test_mutate_is_one_valid_edit_with_a_new_key_and_vmaps(batch):
    keys = jax.random.split(jax.random.PRNGKey(1), N)
    # Length-1 and full-length architectures exercise the infeasible insert/delete edits, and
    # deleting the first layer of "(16, relu), dropout" would put the dropout first.
    edge = [SPACE.parse("(8, sigmoid)"), SPACE.parse(", ".join(["(512, elu)"] * 9)),
            SPACE.parse("(16, relu), dropout")]
    parents = jax.tree.map(lambda a, b: jnp.concatenate([a, b])[:N], stack(edge * 32), batch)
    children = jax.jit(jax.vmap(SPACE.mutate))(keys, parents)
    pk = np.asarray(jax.vmap(SPACE.key)(parents))
    ck = np.asarray(jax.vmap(SPACE.key)(children))
    assert np.all(np.any(pk != ck, axis=1))
    pairs = list(zip(unstack(parents), unstack(children), strict=True))
    assert all(_valid(c) and _one_edit(p, c) for p, c in pairs)
    delta = np.asarray(children.length) - np.asarray(parents.length)
    assert set(delta) == {-1, 0, 1}  # all three kinds of edit occur
    assert set(delta[0:96:3]) == {0, 1} and set(delta[1:96:3]) == {-1, 0}
    one = jax.jit(SPACE.mutate)(keys[100], jax.tree.map(lambda a: a[100], parents))
    np.testing.assert_array_equal(one.layers, children.layers[100])


def test_relax_discretise_round_trip_and_any_point_is_valid(batch):
    x = jax.vmap(SPACE.relax)(batch)
    assert x.shape == (N, SPACE.relax_dim) and float(x.min()) >= 0 and float(x.max()) <= 1
    back = jax.vmap(SPACE.discretise)(x)
    np.testing.assert_array_equal(jax.vmap(SPACE.key)(back), jax.vmap(SPACE.key)(batch))
    u = jax.random.uniform(jax.random.PRNGKey(2), (N, SPACE.relax_dim))
    assert all(_valid(a) for a in unstack(jax.vmap(SPACE.discretise)(u)))
    with pytest.raises(ValueError, match="126 coordinates"):
        SPACE.discretise(jnp.zeros(5))


def test_tokens_round_trip_and_any_token_sequence_decodes(batch):
    t = jax.vmap(SPACE.tokens)(batch)
    assert np.all(np.asarray(t) < np.array(SPACE.vocab_sizes))
    back = jax.vmap(SPACE.from_tokens)(t)
    np.testing.assert_array_equal(jax.vmap(SPACE.key)(back), jax.vmap(SPACE.key)(batch))
    np.testing.assert_array_equal(SPACE.tokens(SPACE.parse("(8, tanh), dropout"))[:3],
                                  [1, mlp.DROPOUT, mlp.END])
    r = jax.random.randint(jax.random.PRNGKey(3), (N, SPACE.num_tokens), 0,
                           jnp.array(SPACE.vocab_sizes))
    assert all(_valid(a) for a in unstack(jax.vmap(SPACE.from_tokens)(r)))


def test_describe_parse_round_trip_and_the_papers_notation(batch):
    for a in unstack(batch)[:64]:
        np.testing.assert_array_equal(SPACE.key(SPACE.parse(SPACE.describe(a))), SPACE.key(a))
    table6 = ("(512, sigmoid), (512, relu), dropout, (512, relu), (256, elu), (256, elu), "
              "(256, tanh), (512, elu), (256, elu), (3, softmax)")
    a = SPACE.parse(table6)
    assert int(a.length) == 9 and int(a.layers[2]) == mlp.DROPOUT
    assert SPACE.describe(a) == table6.rsplit(", (3", 1)[0]
    quoted = SPACE.parse("(64, 'sigmoid'), (512, 'relu'), (10, 'softmax')")
    assert SPACE.describe(quoted) == "(64, sigmoid), (512, relu)"


@pytest.mark.parametrize("text, problem", [
    ("", "at least one layer"),
    ("(10, softmax)", "at least one layer"),
    ("(24, relu)", "width 24"),
    ("(8, gelu)", "activation 'gelu'"),
    ("dropout, (8, relu)", "first layer must be dense"),
    ("(8, relu), pooling", "unknown layer 'pooling'"),
    ("(8, relu) (16, relu)", "expected ','"),
    ("(8, relu),", "trailing ','"),
    ("(8, relu), (16 relu)", "cannot read"),
    (", ".join(["(8, relu)"] * 10), "exceed max_layers=9"),
])
def test_parse_names_the_problem(text, problem):
    with pytest.raises(ValueError, match=problem):
        SPACE.parse(text)


@pytest.mark.parametrize("m", [1, 2, 3])
def test_size_matches_brute_force_on_reduced_spaces(m):
    space = mlp.MLPStack(max_layers=m)
    # Every token sequence within the vocabulary decodes; the distinct keys are the space.
    seqs = np.array(list(itertools.product(*[range(v) for v in space.vocab_sizes])), np.int32)
    archs = jax.jit(jax.vmap(space.from_tokens))(seqs)
    keys = np.asarray(jax.vmap(space.key)(archs))
    assert all(_valid(a, m) for a in unstack(archs)[::97])
    size = space.size()
    assert size.exact and len(np.unique(keys, axis=0)) == size.count == 29 ** m - 1
    # Canonical round trip: distinct architectures have distinct tokens.
    assert len(np.unique(np.asarray(jax.vmap(space.tokens)(archs)), axis=0)) == size.count
    assert SPACE.size().count == 14_507_145_975_868  # 29^9 - 1


def test_features_encode_depth_width_activation_and_dropout():
    f = np.asarray(SPACE.features(SPACE.parse("(512, elu), dropout, (8, tanh)")))
    assert f.shape == (63,)
    np.testing.assert_array_equal(f[:7], [1, 1, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(f[7:14], [1, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(f[14:21], [1, 0, 0, 1, 0, 0, 0])
    assert not f[21:].any()
    mid = SPACE.features(SPACE.parse("(64, relu)"))
    assert float(mid[1]) == pytest.approx(0.5)  # log2 64 = 6: halfway between 8 and 512


def test_network_shapes_parameters_and_dropout():
    arch = SPACE.parse("(8, relu), dropout, (16, tanh)")
    net = SPACE.network(arch, num_classes=3)
    x = jnp.ones((5, 2, 2))  # flattened to 4 inputs
    params = net.init(jax.random.PRNGKey(0), x)
    # Dense 4->8: 4*8 + 8 = 40; Dense 8->16: 8*16 + 16 = 144; Dense 16->3: 16*3 + 3 = 51;
    # dropout has none: 40 + 144 + 51 = 235.
    assert sum(p.size for p in jax.tree.leaves(params)) == 235
    y = net.apply(params, x)
    assert y.shape == (5, 3)
    np.testing.assert_array_equal(net.apply(params, x), y)  # eval mode is deterministic
    drop = [net.apply(params, x, train=True, rngs={"dropout": jax.random.PRNGKey(i)})
            for i in range(2)]
    assert not np.allclose(drop[0], drop[1])
