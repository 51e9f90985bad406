"""VAENAS on NAS-Bench-101: decoded cells found in a table (a pool of the NB101 space) up to
isomorphism by the pool's own lookup, and the strategy on a small table written in the official
file format."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from nb101_files import random_table, synthetic_metric, write_table

from lanas_jax import runner
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.domain import pool_domain
from lanas_jax.scanned import table_evaluator
from lanas_jax.spaces import nb101 as sp
from lanas_jax.spaces.nb101 import jnp_cell as jc
from lanas_jax.spaces.nb101.space import NB101, Nb101Arch
from lanas_jax.vaenas import nb101, nb101_cells
from lanas_jax.vaenas.strategy import VAENAS, VAENASParams
from lanas_jax.vaenas.token_space import Nb101Tokens, OneHotSlots, token_space
from lanas_jax.vaenas.views import Nb101Cells

N_TABLE, N_ABSENT = 300, 60
# Label (sp.OPS index) -> token (VAENAS's op order).
_LABEL_TOKEN = {sp.OPS.index(op): k for k, op in enumerate(nb101.VAENAS_OPS)}

_find = jax.jit(nb101_cells.find_rows)
_random200 = jax.jit(lambda k: nb101.random_cells(k, 200))  # A.5's random sampling
_keys = jax.jit(jax.vmap(lambda t: NB101().key(nb101_cells.arch_of_tokens(t))))


@pytest.fixture(scope="module")
def cells():
    """N_TABLE + N_ABSENT distinct (non-isomorphic) random valid cells, padded."""
    return random_table(N_TABLE + N_ABSENT, seed=0)


@pytest.fixture(scope="module")
def table(cells):
    """The first N_TABLE cells as a pool of the NB101 space, row i = cell i."""
    bits, labels = cells[0][:N_TABLE], cells[1][:N_TABLE]
    archs = Nb101Arch(jnp.asarray(sp.matrices(bits), jnp.int32), jnp.asarray(labels, jnp.int32))
    return pool_domain(NB101(), archs, np.zeros((N_TABLE, 1), np.float32))


def _tokens(bits: np.ndarray, labels: np.ndarray, rng) -> np.ndarray:
    """Tokens of one padded cell; a missing vertex gets a random op token."""
    m = sp.matrices(np.asarray(bits, np.uint8)[None])[0]
    edges = m[np.triu_indices(7, 1)]
    ops = [_LABEL_TOKEN[int(x)] if x >= 0 else int(rng.integers(3)) for x in labels[1:-1]]
    return np.concatenate([edges, ops]).astype(np.int32)


def _relabel(bits, labels, rng):
    """An isomorphic copy: interior vertices renumbered in a random topological order (so the
    matrix stays upper-triangular; missing vertices land anywhere)."""
    m = sp.matrices(np.asarray(bits, np.uint8)[None])[0]
    order, rest = [0], set(range(1, 6))
    while rest:
        ready = sorted(v for v in rest if not any(m[u, v] for u in rest))
        v = int(rng.choice(ready))
        order.append(v)
        rest.remove(v)
    new = np.empty(7, int)
    new[order + [6]] = np.arange(7)
    m2 = np.zeros_like(m)
    i, j = np.nonzero(m)
    m2[new[i], new[j]] = 1
    lab2 = np.empty_like(labels)
    lab2[new] = labels
    assert not np.tril(m2).any()
    return (m2 * (1 << np.arange(7))).sum(1).astype(np.uint8), lab2


def _dangle(bits, labels, rng):
    """The cell plus an edge into (or out of) a missing vertex: it is off every path."""
    missing = np.flatnonzero(labels == sp.MISSING)
    if missing.size == 0:
        return None
    v = int(rng.choice(missing))
    b = np.array(bits, np.uint8)
    present_after = [w for w in range(v + 1, 7) if labels[w] != sp.MISSING]
    if rng.random() < 0.5:
        u = int(rng.choice([w for w in range(v) if labels[w] != sp.MISSING]))
        b[u] |= np.uint8(1 << v)  # reachable from the input, reaches nothing
    else:
        b[v] |= np.uint8(1 << int(rng.choice(present_after)))  # reaches the output only
    return b, labels


# --------------------------------------------------------------------------------- lookup


def test_jax_pruning_equals_prune_many() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    m = np.triu(rng.random((n, 7, 7)) < rng.uniform(0.1, 0.6, (n, 1, 1)), 1).astype(np.uint8)
    bits = (m * (1 << np.arange(7))).sum(2).astype(np.uint8)
    labels = rng.integers(0, 3, (n, 7)).astype(np.int8)
    labels[:, 0], labels[:, -1] = sp.INPUT_LABEL, sp.OUTPUT_LABEL
    want_bits, want_labels, want_connected = sp.prune_many(bits, labels)
    got_m, got_labels, got_connected = jax.jit(jax.vmap(jc.prune))(
        jnp.asarray(m, jnp.int32), jnp.asarray(labels, jnp.int32))
    np.testing.assert_array_equal(np.asarray(got_connected), want_connected)
    ok = want_connected  # a disconnected cell is no network (its labels differ by convention)
    np.testing.assert_array_equal(np.asarray(got_m)[ok], sp.matrices(want_bits)[ok])
    np.testing.assert_array_equal(np.asarray(got_labels)[ok], want_labels[ok])
    assert 0.2 < want_connected.mean() < 0.95  # both connected and disconnected cells


def test_decoded_cells_key_as_the_host_pruned_cell() -> None:
    """tokens -> cell -> jnp prune -> key equals the host path (to_cell, pad, wl_keys)."""
    toks, valid = _random200(jax.random.key(0))
    toks = np.asarray(toks)
    got = np.asarray(_keys(jnp.asarray(toks)))  # the space's key of the unpruned decode
    got = (got[:, 0].astype(np.uint64) << np.uint64(32)) | got[:, 1].astype(np.uint64)
    padded = [sp.pad(*nb101.to_cell(t)) for t in toks]
    want = sp.wl_keys(np.stack([p[0] for p in padded]), np.stack([p[1] for p in padded]))
    np.testing.assert_array_equal(got, want)
    assert np.asarray(valid).all()


def test_lookup_finds_every_row_from_its_tokens_a_relabelling_and_a_dangling_vertex(
        cells, table) -> None:
    bits, labels = cells[0][:N_TABLE], cells[1][:N_TABLE]
    rng = np.random.default_rng(1)
    own = np.stack([_tokens(b, lab, rng) for b, lab in zip(bits, labels, strict=True)])
    rows, found = _find(table, jnp.asarray(own))
    assert np.asarray(found).all()
    np.testing.assert_array_equal(np.asarray(rows), np.arange(N_TABLE))

    perm = np.stack([_tokens(*_relabel(b, lab, rng), rng)
                     for b, lab in zip(bits, labels, strict=True)])
    assert (perm != own).any(1).mean() > 0.5  # most copies are other token strings
    rows, found = _find(table, jnp.asarray(perm))
    assert np.asarray(found).all()
    np.testing.assert_array_equal(np.asarray(rows), np.arange(N_TABLE))

    dangled = [(i, _dangle(b, lab, rng)) for i, (b, lab) in enumerate(zip(bits, labels,
                                                                          strict=True))]
    dangled = [(i, c) for i, c in dangled if c is not None]
    assert len(dangled) >= 50
    idx = np.array([i for i, _ in dangled])
    toks = np.stack([_tokens(*c, rng) for _, c in dangled])
    assert (toks[:, :21].sum(1) == own[idx, :21].sum(1) + 1).all()  # one more edge
    rows, found = _find(table, jnp.asarray(toks))
    assert np.asarray(found).all()
    np.testing.assert_array_equal(np.asarray(rows), idx)

    # One decode at a time under jit(vmap) gives the batched answer.
    one = jax.jit(jax.vmap(lambda t: nb101_cells.find_rows(table, t[None])))
    r1, f1 = (a[:, 0] for a in one(jnp.asarray(perm[:40])))
    np.testing.assert_array_equal(np.asarray(r1), np.arange(40))
    assert np.asarray(f1).all()


def test_absent_disconnected_and_oversized_cells_are_not_found(cells, table) -> None:
    rng = np.random.default_rng(2)
    absent = np.stack([_tokens(b, lab, rng) for b, lab in zip(cells[0][N_TABLE:],
                                                               cells[1][N_TABLE:], strict=True)])
    _, found = _find(table, jnp.asarray(absent))
    assert not np.asarray(found).any()
    disconnected = np.zeros((1, 26), np.int32)
    disconnected[0, :5] = 1  # 0 -> 1..5, nothing reaches the output
    full = np.zeros((1, 26), np.int32)
    full[0, :21] = 1  # 21 edges, all on a path
    rows, found = _find(table, jnp.asarray(np.concatenate([disconnected, full])))
    assert not np.asarray(found).any() and (np.asarray(rows) == 0).all()


# ------------------------------------------------------------------------------ strategy

SMALL = VAENAS(n_vae=50, tries=4, n_iters=30, vae_batch_size=16, embed=8, hidden=16, latent=4,
               learning_rate=1e-2)


@pytest.fixture(scope="module")
def bench(cells, tmp_path_factory):
    bits, labels = cells[0][:N_TABLE], cells[1][:N_TABLE]
    path = tmp_path_factory.mktemp("nb101") / "small.tfrecord"
    write_table(path, bits, labels, synthetic_metric(bits, labels))
    return load_benchmark(f"nb101:{path}")  # lanas49 features: not one-hot slots


def test_token_space_and_resolve_on_a_loaded_table(bench) -> None:
    assert isinstance(bench.space, sp.Nb101Space) and bench.size == N_TABLE
    evaluator = table_evaluator(bench)
    SMALL.validate(evaluator.domain, bench.size)
    domain = evaluator.domain
    assert isinstance(domain.space, NB101) and domain.is_pool
    view = SMALL.view(domain)
    assert isinstance(view, Nb101Cells) and view.spec == nb101.NB101_SPEC
    space = token_space(domain, 5)
    assert isinstance(space, Nb101Tokens)
    rows = jnp.array([5, 7, 9, 11])
    toks = jax.jit(space.row_tokens)(domain, rows)  # the rows' own cells
    # The space's tokens of a row are the table's A.5 tokens of its cell.
    want = nb101.tokens_from_cells(np.frombuffer(bench.space.bits_bytes, np.uint8).reshape(-1, 7),
                                   np.frombuffer(bench.space.labels_bytes, np.int8).reshape(-1, 7))
    np.testing.assert_array_equal(np.asarray(toks), want[np.asarray(rows)])
    found_rows, found = jax.jit(space.find_rows)(domain, toks)
    np.testing.assert_array_equal(np.asarray(found_rows), [5, 7, 9, 11])
    assert np.asarray(found).all()
    assert isinstance(token_space(table_evaluator(load_benchmark("nb201_cifar10")).pool, 5),
                      OneHotSlots)  # NB201's path


def test_device_lookup_agrees_with_the_benchmark_module_hash(bench) -> None:
    """A.5's random cells (mostly small after pruning, so many are rows of a 300-cell table):
    found exactly when their MD5 module hash is a row's, and then that row."""
    toks, valid = _random200(jax.random.key(7))
    domain = table_evaluator(bench).pool
    rows, found = jax.jit(token_space(domain, 5).find_rows)(domain, toks)
    by_hash = {bench.space.hash(i): i for i in range(bench.size)}
    want = [by_hash.get(sp.module_hash(*nb101.to_cell(t)), -1) for t in np.asarray(toks)]
    np.testing.assert_array_equal(np.where(np.asarray(found), np.asarray(rows), -1), want)
    assert 0.2 < np.mean(np.asarray(want) >= 0) < 1 and np.asarray(valid).all()


@pytest.fixture(scope="module")
def swept(bench):
    """2 seeds over the whole table, eps = 1 after the first training."""
    keys = runner.seed_keys(0, 2)
    hist, state = runner.sweep_with_state(SMALL, bench, keys, bench.size, VAENASParams(1.0))
    return keys, hist, state


def test_never_repeats_over_the_whole_table_and_the_lookup_answers(bench, swept) -> None:
    _, hist, state = swept
    for i in range(2):
        np.testing.assert_array_equal(np.sort(np.asarray(hist.indices[i])),
                                      np.arange(bench.size))
    draws, repeats = np.asarray(state.inner.vae_draws), np.asarray(state.inner.vae_repeats)
    fallbacks = np.asarray(state.inner.vae_fallbacks)
    assert (draws == bench.size - SMALL.n_vae).all()
    assert ((fallbacks <= repeats) & (repeats <= draws)).all()
    assert (fallbacks < draws).all()  # some decodes were unseen table rows


def _alone(bench, key, params):
    """One search of ``key`` alone (the runner pads it to a batch of two, as ``run_search``
    does): with state, so it runs the swept fixture's compiled program (the search compiles
    in ~25 s and runs in well under one)."""
    hist, _ = runner.sweep_with_state(SMALL, bench, key[None], bench.size, params)
    return jax.tree.map(lambda a: a[0], hist)


def test_vmapped_equals_looped_and_same_key_same_result(bench, swept) -> None:
    keys, hist, _ = swept
    params = VAENASParams(1.0)
    singles = [_alone(bench, keys[i], params) for i in range(2)]
    for i, single in enumerate(singles):
        np.testing.assert_array_equal(np.asarray(hist.indices[i]), np.asarray(single.indices))
    again = _alone(bench, keys[0], params)
    np.testing.assert_array_equal(np.asarray(again.indices), np.asarray(singles[0].indices))
    assert not np.array_equal(np.asarray(singles[0].indices), np.asarray(singles[1].indices))


def test_on_the_open_nb101_space_decodes_are_valid_new_cells() -> None:
    """No table: VAENAS decodes A.5 cells and proposes only valid cells never seen before
    (isomorphic spellings count as seen), through the space's canonical form."""
    from lanas_jax import scanned
    from lanas_jax.evaluators.synthetic import synthetic
    from lanas_jax.spaces.nb101.space import acceptable

    evaluator = synthetic(NB101(), jax.random.key(3))
    # One batch of 6 per VAE round: each of the two rounds is one ask, so the compiled search
    # holds two copies of the ask, not four (batch_size 1: a first ask and a scan of the rest).
    strategy = VAENAS(n_vae=6, tries=4, n_iters=3, vae_batch_size=6, embed=4, hidden=8, latent=2,
                      batch_size=6)
    assert isinstance(strategy.view(evaluator.domain), Nb101Cells)
    budget = 12
    history, state = scanned.sweep(strategy, evaluator, jax.random.split(jax.random.key(0), 2),
                                   budget, VAENASParams(1.0), with_state=True)
    space = evaluator.domain.space
    keys = np.asarray(jax.vmap(jax.vmap(space.key))(history.archs))
    valid = jax.vmap(jax.vmap(lambda a: acceptable(a.matrix, a.labels)))(history.archs)
    assert np.asarray(valid).all()
    for seed in range(2):
        assert len({tuple(k) for k in keys[seed]}) == budget
    assert (np.asarray(state.inner.vae_draws) == budget - 6).all()

