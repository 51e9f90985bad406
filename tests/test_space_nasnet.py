"""Seed 000 Sec. 4.3's NASNet cell as a Space (lanas_jax/spaces/nasnet.py): validity, canonical
keys, round trips, size by brute force on a 2-block cell, and the flax network."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.spaces import nasnet
from lanas_jax.spaces.base import get_space, unstack

SPACE = nasnet.NASNet()
N = 256
# A hand-checked cell: a chain b0 -> b1 -> ... -> b4, so only b4 is concatenated into the output.
CHAIN = ("b0: sep_conv_3x3(c_{k-1}) + identity(c_{k-2}) | b1: conv_1x1(b0) + max_pool_3x3(c_{k-1})"
         " | b2: identity(b1) + max_pool_5x5(b1) | b3: identity(b2) + max_pool_5x5(b2)"
         " | b4: identity(b3) + max_pool_5x5(b3)")


def _valid_canonical(cells):
    """Host check: inputs within reach, ops in range, each block's branches in canonical order."""
    cells = np.asarray(cells)
    blocks = cells.shape[-3]
    reach = (np.arange(blocks) + 2)[:, None]
    order = cells[..., 0] * nasnet.NUM_OPS + cells[..., 1]
    return bool(np.all(cells[..., 0] >= 0) and np.all(cells[..., 0] < reach)
                and np.all((cells[..., 1] >= 0) & (cells[..., 1] < nasnet.NUM_OPS))
                and np.all(order[..., 0] <= order[..., 1]))


@pytest.fixture(scope="module")
def batch():
    return jax.jit(jax.vmap(SPACE.sample))(jax.random.split(jax.random.PRNGKey(0), N))


def test_registry_and_existing_names():
    assert isinstance(get_space("nasnet"), nasnet.NASNet)
    assert SPACE.feature_dim == SPACE.relax_dim == nasnet.FEATURE_DIM == 120
    assert SPACE.vocab_sizes[:4] == (2, 8, 2, 8) and SPACE.vocab_sizes[-2:] == (6, 8)
    assert SPACE.num_tokens == 20
    with pytest.raises(ValueError, match="num_blocks"):
        nasnet.NASNet(num_blocks=6)


def test_sample_is_valid_canonical_deterministic_and_vmaps(batch):
    cells = np.asarray(batch.cells)
    assert cells.shape == (N, 5, 2, 2) and _valid_canonical(cells)
    assert cells[:, 4, :, 0].max() == 5 and len(np.unique(cells[..., 1])) == 8
    keys = jax.random.split(jax.random.PRNGKey(0), N)
    np.testing.assert_array_equal(jax.jit(SPACE.sample)(keys[3]).cells, cells[3])
    np.testing.assert_array_equal(jax.jit(jax.vmap(SPACE.sample))(keys).cells, cells)


def test_mutate_is_one_valid_edit_with_a_new_key_and_vmaps(batch):
    keys = jax.random.split(jax.random.PRNGKey(1), N)
    # Blocks with two identical branches: the case where a careless canonical form could map
    # an edit back onto its parent.
    twins = SPACE.parse(" | ".join(f"b{b}: conv_1x1(c_{{k-1}}) + conv_1x1(c_{{k-1}})"
                                   for b in range(5)))
    parents = jax.tree.map(lambda a, t: a.at[:64].set(t), batch, twins)
    children, pk, ck = jax.jit(jax.vmap(
        lambda k, p: (c := SPACE.mutate(k, p), SPACE.key(p), SPACE.key(c))))(keys, parents)
    assert _valid_canonical(children.cells)
    assert np.all(np.any(np.asarray(pk) != np.asarray(ck), axis=1))
    for p, c in zip(unstack(parents), unstack(children), strict=True):
        changed = [b for b in range(5) if not np.array_equal(p.cells[b], c.cells[b])]
        assert len(changed) == 1  # one block, and in it one branch's input or op
        pb, cb = p.cells[changed[0]], c.cells[changed[0]]
        diffs = min(np.sum(pb != cb), np.sum(pb != cb[::-1]))
        assert diffs == 1
    one = jax.jit(SPACE.mutate)(keys[9], jax.tree.map(lambda a: a[9], parents))
    np.testing.assert_array_equal(one.cells, children.cells[9])


def test_features_are_the_existing_encoding_and_relax_round_trips(batch):
    f = jax.vmap(SPACE.features)(batch)
    np.testing.assert_array_equal(f, nasnet.nasnet_encode(batch.cells))
    np.testing.assert_array_equal(jax.vmap(SPACE.relax)(batch), f)
    back = jax.vmap(SPACE.discretise)(f)
    np.testing.assert_array_equal(jax.vmap(SPACE.key)(back), jax.vmap(SPACE.key)(batch))
    u = jax.random.uniform(jax.random.PRNGKey(2), (N, SPACE.relax_dim))
    d = jax.vmap(SPACE.discretise)(u)
    assert _valid_canonical(d.cells)
    np.testing.assert_array_equal(d.cells, nasnet.canonical(nasnet.nasnet_cells(u)))
    with pytest.raises(ValueError, match="120 coordinates"):
        SPACE.discretise(jnp.zeros(7))


def test_tokens_round_trip_and_swapped_branches_share_a_key(batch):
    t = jax.vmap(SPACE.tokens)(batch)
    assert t.shape == (N, 20) and np.all(np.asarray(t) < np.array(SPACE.vocab_sizes))
    back = jax.vmap(SPACE.from_tokens)(t)
    np.testing.assert_array_equal(jax.vmap(SPACE.key)(back), jax.vmap(SPACE.key)(batch))
    # The isomorph: every block's branches swapped (tokens spelling the other order).
    swapped = batch.cells[:, :, ::-1].reshape(N, -1)
    iso = jax.vmap(SPACE.from_tokens)(swapped)
    np.testing.assert_array_equal(jax.vmap(SPACE.key)(iso), jax.vmap(SPACE.key)(batch))


def test_key_is_the_exact_bit_packing():
    cell = SPACE.parse(CHAIN)
    # Canonical branches (input, op): b0 (0,7),(1,3); b1 (1,0),(2,6); b2 (3,1),(3,7);
    # b3 (4,1),(4,7); b4 (5,1),(5,7); each input << 3 | op, five 6-bit fields a word.
    fields = [(0, 7), (1, 3), (1, 0), (2, 6), (3, 1), (3, 7), (4, 1), (4, 7), (5, 1), (5, 7)]
    codes = [i << 3 | o for i, o in fields]
    want = [sum(c << 6 * k for k, c in enumerate(codes[w * 5:w * 5 + 5])) for w in range(2)]
    np.testing.assert_array_equal(SPACE.key(cell), np.array(want, np.uint32))


def test_describe_parse_round_trip(batch):
    for a in unstack(batch)[:64]:
        text = SPACE.describe(a)
        assert text == nasnet.describe(a.cells)
        np.testing.assert_array_equal(SPACE.key(SPACE.parse(text)), SPACE.key(a))


@pytest.mark.parametrize("text, problem", [
    ("b0: identity(c_{k-2}) + identity(c_{k-1})", "5 blocks"),
    (CHAIN.replace("b1: conv", "b2: conv"), "block 1 must read"),
    (CHAIN.replace("b0: sep_conv_3x3(c_{k-1}) + ", "b0: "), "2 branches"),
    (CHAIN.replace("conv_1x1(b0)", "conv_3x3(b0)"), "unknown op 'conv_3x3'"),
    (CHAIN.replace("conv_1x1(b0)", "conv_1x1(b1)"), "input 'b1' is not one of"),
    (CHAIN.replace("conv_1x1(b0)", "conv_1x1 b0"), "cannot read branch"),
])
def test_parse_names_the_problem(text, problem):
    with pytest.raises(ValueError, match=problem):
        SPACE.parse(text)


def test_size_matches_brute_force_on_two_blocks():
    space = nasnet.NASNet(num_blocks=2)
    seqs = np.array(list(itertools.product(*[range(v) for v in space.vocab_sizes])), np.int32)
    assert len(seqs) == nasnet.space_size(2, ordered=True) == 8 ** 4 * (2 * 3) ** 2
    keys = np.asarray(jax.jit(jax.vmap(lambda t: space.key(space.from_tokens(t))))(seqs))
    size = space.size()
    assert size.exact and len(np.unique(keys, axis=0)) == size.count == 136 * 300
    full = SPACE.size()
    assert full.exact and full.count == 20_773_767_168_000
    assert "4.36e+13" in full.note and "5.57e+14" in full.note


def test_network_shapes_and_hand_counted_parameters():
    net = SPACE.network(SPACE.parse(CHAIN), num_classes=10, channels=4, cells_per_stage=1,
                        stages=2)
    x = jnp.ones((2, 8, 8, 3))
    shapes = jax.eval_shape(net.init, jax.random.PRNGKey(0), x)
    # BN has scale + bias (2 per channel); convolutions have no bias. C = 4, stem 3C = 12.
    # stem: 3*3*3*12 = 324 + BN 24                                          = 348
    # normal cell (C=4): preprocess 12->4 twice 2*(48+8) = 112; b0 sep_conv_3x3 twice
    #   2*(9*4 depthwise + 16 pointwise + 8 BN) = 120; b1 conv_1x1 16+8 = 24   = 256
    # reduction cell (C=8): preprocess 12->8 (96+16) and 4->8 (32+16) = 160; b0 sep_conv
    #   stride 2: 2*(72+64+16) = 304; identity(c_{k-2}) at stride 2, factorized reduction
    #   2*(8*4) + 16 = 80; b1 conv_1x1 on b0: 64+16 = 80                      = 624
    # normal cell after the reduction (C=8): c_{k-2} (4 ch) factorized 2*(4*4) + 16 = 48;
    #   c_{k-1} 8->8: 64+16 = 80; sep_conv 304; conv_1x1 80                   = 512
    # head: dense 8->10: 80 + 10                                             = 90
    # total 348 + 256 + 624 + 512 + 90 = 1830
    assert sum(p.size for p in jax.tree.leaves(shapes["params"])) == 1830
    # Constant weights instead of net.init: its truncated-normal initialiser compiles once per
    # kernel shape, seconds each on a small CPU; eval_shape above already traced init.
    variables = jax.tree.map(lambda s: jnp.full(s.shape, 0.1, s.dtype), shapes)
    y = net.apply(variables, x)
    assert y.shape == (2, 10) and np.all(np.isfinite(np.asarray(y)))
    # Training mode uses batch statistics and updates the running ones.
    _, new = net.apply(variables, x, train=True, mutable=["batch_stats"])
    assert not np.allclose(jax.tree.leaves(new)[0], jax.tree.leaves(variables["batch_stats"])[0])
    # Odd resolutions survive two reductions (7 -> 4 -> 2) with every op in the cell.
    every_op = SPACE.parse(" | ".join(
        f"b{b}: {nasnet.OPS[2 * b % 8]}(c_{{k-2}}) + {nasnet.OPS[(2 * b + 1) % 8]}(c_{{k-1}})"
        for b in range(4)) + " | b4: identity(b3) + sep_conv_7x7(b0)")
    small = SPACE.network(every_op, num_classes=3, channels=2, cells_per_stage=0, stages=3)
    out, _ = jax.eval_shape(small.init_with_output, jax.random.PRNGKey(1), jnp.ones((1, 7, 7, 3)))
    assert out.shape == (1, 3)
    with pytest.raises(ValueError, match="channels"):
        SPACE.network(SPACE.parse(CHAIN), num_classes=10, channels=1)
