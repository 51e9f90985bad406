"""The NAS-Bench-101 cell space under the Space protocol (lanas_jax/spaces/nb101/space.py)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.spaces import nb101 as cells
from lanas_jax.spaces.base import get_space, unstack
from lanas_jax.spaces.nb101.network import vertex_channels
from lanas_jax.spaces.nb101.space import NB101, Nb101Arch
from lanas_jax.vaenas.nb101 import tokens_from_cells

N = 256
SP = NB101()
C3, C1, MP = cells.OPS
INCEPTION = (
    "ops=input,conv1x1-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,maxpool3x3,output "
    "adj=0111010/0000001/0000001/0000100/0000001/0000001/0000000"
)

_sample = jax.jit(jax.vmap(SP.sample))
_mutate = jax.jit(jax.vmap(SP.mutate))
_key = jax.jit(jax.vmap(SP.key))
_canonical = jax.jit(jax.vmap(SP.canonical))
_discretise = jax.jit(jax.vmap(SP.discretise))
_relax = jax.jit(jax.vmap(SP.relax))
_tokens = jax.jit(jax.vmap(SP.tokens))
_from_tokens = jax.jit(jax.vmap(SP.from_tokens))
key1 = jax.jit(SP.key)
canonical1 = jax.jit(SP.canonical)
discretise1 = jax.jit(SP.discretise)


@pytest.fixture(scope="module")
def samples():
    return _sample(jax.random.split(jax.random.key(0), N))


@pytest.fixture(scope="module")
def mutants(samples):
    return _mutate(jax.random.split(jax.random.key(1), N), samples)


def _row(archs, i):
    return jax.tree.map(lambda x: x[i], archs)


def _assert_valid_and_canonical(archs):
    """Every architecture is a valid cell (``check_cell``) and equals its canonical form."""
    canon = _canonical(archs)
    assert np.array_equal(canon.matrix, archs.matrix)
    assert np.array_equal(canon.labels, archs.labels)
    for arch in unstack(archs):
        reason = cells.check_cell(*SP.cell(arch))
        assert reason is None, (reason, SP.describe(arch))


def _hash(arch):
    return cells.module_hash(*SP.cell(arch))


def _padded(arch):
    """The arch as ``pad`` writes its compact cell (an independent route to the padded form)."""
    return cells.pad(*SP.cell(arch))


def test_registry_and_options():
    space = get_space("nb101")
    assert isinstance(space, NB101) and space.name == "nb101" and not space.dense
    assert get_space("nb101", encoding="vaenas26").feature_dim == 26
    assert space.feature_dim == 49 and space.relax_dim == 36
    assert space.vocab_sizes == (2,) * 21 + (3,) * 5
    assert hash(space) == hash(NB101())  # static under jit
    with pytest.raises(ValueError, match="unknown NB101 encoding"):
        NB101(encoding="nope")
    size = space.size()
    assert size.exact and size.count == 423_624


def test_samples_are_valid_canonical_and_keyed(samples):
    _assert_valid_and_canonical(samples)
    keys = jax.random.split(jax.random.key(0), N)
    # Same key -> same sample; vmapped == one at a time.
    again = _sample(keys)
    assert np.array_equal(again.matrix, samples.matrix)
    one = jax.jit(SP.sample)
    for i in (0, 7, 200):
        a = one(keys[i])
        assert np.array_equal(a.matrix, samples.matrix[i])
        assert np.array_equal(a.labels, samples.labels[i])
    # Keys split the samples exactly as the benchmark's MD5 hash does.
    hashes = [_hash(a) for a in unstack(samples)]
    k = np.asarray(_key(samples))
    words = [tuple(x) for x in k.tolist()]
    assert k.dtype == np.uint32 and k.shape == (N, 2)
    for i, j in itertools.combinations(range(N), 2):
        assert (words[i] == words[j]) == (hashes[i] == hashes[j])
    assert len(set(hashes)) > N // 2  # not a degenerate sampler


def test_mutate_is_one_edit_to_a_different_valid_cell(samples, mutants):
    _assert_valid_and_canonical(mutants)
    assert np.all(np.any(_key(samples) != _key(mutants), axis=1))
    for i in range(32):  # host hashing: a subset
        parent, child = _row(samples, i), _row(mutants, i)
        neighbours = {cells.module_hash(*c) for c in cells.mutations(*SP.cell(parent))}
        if neighbours:
            assert _hash(child) in neighbours
        else:  # input -> output alone (see test_the_bare_cell_grows_a_vertex)
            assert SP.describe(parent) == "ops=input,output adj=01/00"
    keys = jax.random.split(jax.random.key(1), N)
    for i in (3, 99):
        m = jax.jit(SP.mutate)(keys[i], _row(samples, i))
        assert np.array_equal(m.matrix, mutants.matrix[i])
        assert np.array_equal(m.labels, mutants.labels[i])


def test_the_bare_cell_grows_a_vertex():
    bare = SP.parse("ops=input,output adj=01/00")
    assert not cells.mutations(*SP.cell(bare))  # no single edit gives a valid, different cell
    # N copies: the compiled batch of the other tests.
    grown = _mutate(jax.random.split(jax.random.key(2), N), jax.tree.map(
        lambda x: jnp.broadcast_to(x, (N, *x.shape)), bare))
    _assert_valid_and_canonical(grown)
    assert set(np.asarray(grown.labels[:, 1]).tolist()) == {0, 1, 2}  # the op is random
    for arch in unstack(grown)[:16]:
        m, ops = SP.cell(arch)
        assert m.tolist() == [[0, 1, 1], [0, 0, 1], [0, 0, 0]] and ops[1] in cells.OPS


def test_isomorphic_and_unpruned_spellings_share_a_key(samples):
    rng = np.random.default_rng(0)
    relabelled = 0
    for arch in unstack(samples)[:24]:
        m, ops = SP.cell(arch)
        own = np.asarray(key1(arch))
        v = len(ops)
        # cell.permute with input and output fixed: any interior order, triangular or not.
        for perm in [[0, *rng.permutation(np.arange(1, v - 1)), v - 1] for _ in range(4)]:
            pm, pops = cells.permute(m, ops, perm)
            bits, labels = cells.pad(pm, pops)
            full = cells.matrices(bits[None])[0]
            assert np.array_equal(key1(Nb101Arch(jnp.asarray(full), jnp.asarray(labels))), own)
            if not np.tril(pm).any() and perm != sorted(perm):
                assert np.array_equal(key1(SP.parse(_text(pm, pops))), own)
                relabelled += 1
        if v < 7:  # an unpruned spelling: a dangling vertex from the input, with an op
            bits, labels = _padded(arch)
            full = cells.matrices(bits[None])[0].astype(np.int32)
            full[0, v - 1] = 1
            labels = labels.astype(np.int32)
            labels[v - 1] = 2
            loose = Nb101Arch(jnp.asarray(full), jnp.asarray(labels))
            assert np.array_equal(key1(loose), own)
            canon = canonical1(loose)
            assert np.array_equal(canon.matrix, arch.matrix)
            assert np.array_equal(canon.labels, arch.labels)
    assert relabelled > 0


def _text(matrix, ops):
    return f"ops={','.join(ops)} adj={'/'.join(''.join(map(str, row)) for row in matrix)}"


def test_relax_discretise_round_trip_and_repair(samples):
    x = _relax(samples)
    assert x.shape == (N, 36) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    back = _discretise(x)
    assert np.array_equal(_key(back), _key(samples))
    # Any point of the box gives a valid cell, including the extremes.
    pts = jax.random.uniform(jax.random.key(3), (N, 36))
    pts = pts.at[0].set(0.0).at[1].set(1.0).at[2].set(0.5)
    cells_x = _discretise(pts)
    _assert_valid_and_canonical(cells_x)
    assert SP.describe(_row(cells_x, 0)) == "ops=input,output adj=01/00"
    assert SP.describe(_row(cells_x, 2)) == "ops=input,output adj=01/00"  # 1/2 is not above 1/2
    assert int(_row(cells_x, 1).matrix.sum()) <= 9
    # Repair: only 0->2 scores above 1/2 (pruned away), so the best path is 0->2->6 (cost
    # 0.1 + 0.55) rather than the direct edge (0.7); vertex 2 takes its top op, maxpool.
    p = np.zeros(36, np.float32)
    p[cells.EDGES.index((0, 2))] = 0.9
    p[cells.EDGES.index((2, 6))] = 0.45
    p[cells.EDGES.index((0, 6))] = 0.3
    p[21 + 3 * 1 + 2] = 1.0  # vertex 2: maxpool
    assert SP.describe(discretise1(p)) == "ops=input,maxpool3x3,output adj=010/001/000"
    with pytest.raises(ValueError, match="shape"):
        discretise1(np.zeros(26))


def test_tokens_are_vaenas_a5_and_round_trip(samples):
    t = _tokens(samples)
    padded = [_padded(a) for a in unstack(samples)]
    bits = np.stack([b for b, _ in padded])
    labels = np.stack([lab for _, lab in padded])
    assert np.array_equal(t, tokens_from_cells(bits, labels))
    assert np.all(np.asarray(t) < np.asarray(SP.vocab_sizes))
    back = _from_tokens(t)
    assert np.array_equal(_key(back), _key(samples))
    # Every token sequence in the vocabulary decodes to a valid cell.
    rand = jax.random.randint(jax.random.key(4), (N, 26), 0, jnp.asarray(SP.vocab_sizes))
    decoded = _from_tokens(rand.at[0].set(0).at[1].set(1))
    _assert_valid_and_canonical(decoded)
    assert SP.describe(_row(decoded, 0)) == "ops=input,output adj=01/00"


@pytest.mark.parametrize("encoding", ["lanas49", "vaenas26", "onehot56"])
def test_features_are_the_table_encodings(samples, encoding):
    space = NB101(encoding=encoding)
    f = jax.jit(jax.vmap(space.features))(samples)
    padded = [_padded(a) for a in unstack(samples)]
    bits = np.stack([b for b, _ in padded])
    labels = np.stack([lab for _, lab in padded])
    assert f.shape == (N, space.feature_dim)
    assert np.array_equal(np.asarray(f), cells.encode(bits, labels, encoding))


def test_describe_and_parse(samples):
    for arch in unstack(samples)[:32]:
        back = SP.parse(SP.describe(arch))
        assert np.array_equal(back.matrix, arch.matrix)
        assert np.array_equal(back.labels, arch.labels)
    arch = SP.parse(INCEPTION)
    assert SP.describe(arch) == INCEPTION
    assert SP.parse("adj=011/001/000 ops=input,maxpool3x3,output").labels.tolist() == [
        -1, 2, -3, -3, -3, -3, -2]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "no ops= field"),
        ("ops=input,output", "no adj= field"),
        ("ops=input,output adj=01/00 ops=input,output", "appears twice"),
        ("ops=input,output adj=01/00 edges=1", "malformed NB101 field"),
        ("input,output 01/00", "malformed NB101 field"),
        ("ops=input,output adj=01", "1 adjacency rows for 2 ops"),
        ("ops=input,output adj=012/00", "row 0"),
        ("ops=input,output adj=0x/00", "row 0"),
        ("ops=input,conv5x5,output adj=011/001/000", "unknown op 'conv5x5'"),
        ("ops=conv3x3-bn-relu,input,output adj=011/001/000", "first op"),
        ("ops=input,output adj=00/00", "output is not reachable"),
        ("ops=input,maxpool3x3,output adj=011/000/000", "vertex 1 is not on an input"),
        ("ops=input,output adj=00/10", "upper-triangular"),
        (
            "ops=input," + ",".join([C3] * 5) + ",output adj="
            + "/".join("0" * (i + 1) + "1" * (6 - i) for i in range(7)),
            "21 edges",
        ),
    ],
)
def test_parse_names_what_is_malformed(text, problem):
    with pytest.raises(ValueError, match=problem):
        SP.parse(text)


def test_parse_rejects_non_strings():
    with pytest.raises(ValueError, match="is a str"):
        SP.parse(None)


def test_size_by_brute_force_on_cells_of_at_most_five_vertices():
    """Every 5-vertex matrix and labelling, pruned: the distinct keys by vertex count are the
    published split of the 423,624 cells (``test_nb101``: 1, 6, 84, 2441 cells of 2..5 vertices)."""
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    codes = np.arange(1 << len(pairs))
    m5 = np.zeros((codes.size, 5, 5), np.int32)
    for e, (i, j) in enumerate(pairs):
        m5[:, i, j] = (codes >> e) & 1
    slot = [0, 1, 2, 3, 6]  # the padded positions of a 5-vertex cell
    full = np.zeros((codes.size, 7, 7), np.int32)
    full[:, np.array(slot)[:, None], np.array(slot)[None, :]] = m5
    ops = np.array(list(itertools.product(range(3), repeat=3)), np.int32)
    labels = np.full((ops.shape[0], 7), cells.MISSING, np.int32)
    labels[:, 0], labels[:, 6], labels[:, 1:4] = cells.INPUT_LABEL, cells.OUTPUT_LABEL, ops
    archs = Nb101Arch(
        jnp.asarray(np.repeat(full, ops.shape[0], axis=0)),
        jnp.asarray(np.tile(labels, (codes.size, 1))),
    )

    @jax.jit
    def keyed(a):
        canon = jax.vmap(SP.canonical)(a)
        edges = canon.matrix.sum((1, 2))
        ok = (edges > 0) & (edges <= 9)  # a disconnected cell prunes to no edge
        return jax.vmap(SP.key)(canon), (canon.labels != cells.MISSING).sum(1), ok

    k, v, ok = (np.asarray(x) for x in keyed(archs))
    counts = [len({tuple(r) for r in k[ok & (v == n)].tolist()}) for n in range(2, 6)]
    assert counts == [1, 6, 84, 2441]


def _num_params(net, size=8):
    shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes["params"]))


def test_vertex_channels_split_the_output():
    # The output is fed by vertices 2 and 3 (5 = 3 + 2, the first gets the spare channel);
    # vertex 1 feeds only them, so it takes the larger of their counts.
    m = np.zeros((5, 5), int)
    m[0, 1] = m[1, 2] = m[1, 3] = m[2, 4] = m[3, 4] = 1
    assert vertex_channels(7, 5, m) == [7, 3, 3, 2, 5]
    assert vertex_channels(7, 5, np.array([[0, 1], [0, 0]])) == [7, 5]


def test_network_forward_and_parameter_counts():
    # Hand count, stem 5 channels, 1 stack of 1 cell, 3 -> 10 classes, the cell
    # input -> conv1x1 (v1) -> maxpool (v2), v1 and v2 -> output, input -> output; C = 5:
    #   stem conv 3*3*3*5 = 135, BN 2*5 = 10                                        145
    #   v1 and v2 split 5 as 3 + 2; v1: projection 5->3 (15 + 6), conv1x1 3->3 (9 + 6)  36
    #   v2: maxpool of v1 sliced to 2 channels, no parameters                          0
    #   output: concat (3 + 2) + projection of the input 5->5 (25 + 10)               35
    #   dense 5*10 + 10                                                               60
    # total 145 + 36 + 35 + 60 = 276.
    arch = SP.parse("ops=input,conv1x1-bn-relu,maxpool3x3,output adj=0101/0011/0001/0000")
    net = SP.network(arch, 10, stem_channels=5, num_stacks=1, cells_per_stack=1)
    assert _num_params(net) == 276
    x = jnp.ones((2, 8, 8, 3))
    variables = net.init(jax.random.key(0), x)
    logits = net.apply(variables, x)
    assert logits.shape == (2, 10) and bool(jnp.all(jnp.isfinite(logits)))
    logits, updates = net.apply(variables, x, train=True, mutable=["batch_stats"])
    assert logits.shape == (2, 10) and "batch_stats" in updates
    # Two stacks (max-pool, channels 4 -> 8), cell input -> conv3x3 -> output plus
    # input -> output: stem 108 + 8; stack 0 (4 -> 4): projections 2 * (16 + 8), conv3x3
    # 144 + 8; stack 1 (4 -> 8): projections 2 * (32 + 16), conv3x3 576 + 16; dense 8*10 + 10.
    small = SP.parse("ops=input,conv3x3-bn-relu,output adj=011/001/000")
    net = SP.network(small, 10, stem_channels=4, num_stacks=2, cells_per_stack=1)
    assert _num_params(net) == 116 + 48 + 152 + 96 + 592 + 90
    # The full-size network (128 channels, 3 x 3 cells) of the benchmark README's
    # Inception-like cell: 2,694,282 trainable parameters, the count the benchmark reports for
    # it (the value test_nb101's metrics fixture also carries).
    assert _num_params(SP.network(SP.parse(INCEPTION), 10), 32) == 2_694_282
    with pytest.raises(ValueError, match="unknown NB101 network option"):
        SP.network(arch, 10, width=3)
    with pytest.raises(ValueError, match="num_classes"):
        SP.network(arch, 0)
