"""The VAE of VAENAS (seed 002, Sec. 3.2, Alg. 1) and its tokenisations."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.spaces import nb101 as space101
from lanas_jax.vaenas import nb101, tokens
from lanas_jax.vaenas.model import VAESizes, elbo_terms, reconstruct, sample_tokens
from lanas_jax.vaenas.train import TrainConfig, fit_top, init_vae, make_model, ranked, top_count

SPEC = tokens.NB201_SPEC
CONFIG = TrainConfig(
    sizes=VAESizes(embed=8, hidden=32, latent=4), n_iters=800, batch_size=32,
    learning_rate=5e-3, top_frac=0.25,
)
MODEL = make_model(SPEC, CONFIG)

_fit_top = jax.jit(functools.partial(fit_top, SPEC, CONFIG))
_sample = jax.jit(lambda p, key: sample_tokens(MODEL, p, key, 256))
_reconstruct = jax.jit(lambda p, t: reconstruct(MODEL, p, t))


@jax.jit
def _mean_neg_elbo(params, toks):
    keys = jax.random.split(jax.random.key(99), 32)
    recon, kl = jax.vmap(lambda k: elbo_terms(MODEL, params, toks, k))(keys)
    return jnp.mean(recon + kl)


@pytest.fixture(scope="module")
def trained():
    """A VAE trained by Alg. 1 on the top 25% (10 cells) of 40 fixed NB201 cells."""
    toks = jax.random.randint(jax.random.key(1), (40, SPEC.length), 0, SPEC.vocab)
    values = jax.random.uniform(jax.random.key(2), (40,))
    valid = jnp.ones((40,), bool)
    top = toks[jnp.argsort(-values)[:10]]
    params, opt_state = init_vae(jax.random.key(0), SPEC, CONFIG)
    new, _, losses = _fit_top(jax.random.key(3), params, opt_state, toks, values, valid)
    return toks, top, params, new, np.asarray(losses)


def test_elbo_increases_during_training_on_a_fixed_set(trained) -> None:
    _, top, before, after, losses = trained
    assert float(_mean_neg_elbo(after, top)) < float(_mean_neg_elbo(before, top)) - 3.0
    assert losses[-100:].mean() < losses[:100].mean() - 3.0


def test_decoding_the_mean_z_returns_each_training_architecture(trained) -> None:
    _, top, before, after, _ = trained
    np.testing.assert_array_equal(np.asarray(_reconstruct(after, top)), np.asarray(top))
    assert not np.array_equal(np.asarray(_reconstruct(before, top)), np.asarray(top))


def test_samples_concentrate_on_the_top_fraction(trained) -> None:
    toks, top, before, after, _ = trained
    top_set = {tuple(t) for t in np.asarray(top).tolist()}
    rest = {tuple(t) for t in np.asarray(toks).tolist()} - top_set

    def share(p, cells):
        return np.mean([tuple(s) in cells for s in np.asarray(_sample(p, jax.random.key(5)))])

    # 10 of 5**6 cells: a uniform sampler hits them with probability 6.4e-4.
    assert share(after, top_set) > 0.5 > share(before, top_set)
    assert share(after, rest) < 0.02  # Alg. 1 never trained on the bottom 75%


def test_same_key_same_samples_and_samples_are_valid(trained) -> None:
    _, _, _, params, _ = trained
    a, b = _sample(params, jax.random.key(3)), _sample(params, jax.random.key(3))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(_sample(params, jax.random.key(4))))
    SPEC.check(np.asarray(a))  # every token in range: every NB201 decode is a valid cell


def test_top_k_selection_follows_alg1() -> None:
    assert int(top_count(jnp.int32(6000), 0.25)) == 1500
    assert int(top_count(jnp.int32(3), 0.25)) == 1
    assert int(top_count(jnp.int32(0), 0.25)) == 1
    values = jnp.array([0.3, 0.9, 0.5, 0.99])
    valid = jnp.array([True, True, True, False])
    np.testing.assert_array_equal(np.asarray(ranked(values, valid)), [1, 2, 0, 3])


# ------------------------------------------------------------------------- tokenisation


def test_onehot_tokens_round_trip_and_bad_features_are_rejected() -> None:
    cells = np.array(list(itertools.product(range(3), repeat=3)))
    feats = np.eye(3, dtype=np.float32)[cells].reshape(len(cells), 9)
    spec = tokens.onehot_spec(feats, 3)
    assert (spec.length, spec.vocab) == (3, 3)
    table = tokens.table_tokens(jnp.asarray(feats), spec)
    np.testing.assert_array_equal(np.asarray(table), cells)
    np.testing.assert_array_equal(np.asarray(tokens.one_hot_tokens(table, spec)), feats)
    with pytest.raises(ValueError, match="multiple of 4"):
        tokens.onehot_spec(feats, 4)
    with pytest.raises(ValueError, match="one-hot slots"):
        tokens.onehot_spec(feats * 0.5, 3)
    with pytest.raises(ValueError, match="must lie in"):
        SPEC.check(np.full((1, 6), 5))


def test_nb101_tokens_round_trip_through_the_module_hash() -> None:
    bits, labels = space101.random_cells(40, np.random.default_rng(0))
    toks = nb101.tokens_from_cells(bits, labels)
    nb101.NB101_SPEC.check(toks)
    for t, b, lab in zip(toks, bits, labels, strict=True):
        cell = nb101.to_cell(t)
        assert space101.module_hash(*cell) == space101.module_hash(*space101.unpad(b, lab))


def test_nb101_connectivity_matches_pruning() -> None:
    rng = np.random.default_rng(1)
    bits = (rng.random((300, 21)) < 0.25).astype(np.int32)
    got = np.asarray(nb101.connected(jnp.asarray(bits)))
    ops = [space101.INPUT] + ["conv3x3-bn-relu"] * 5 + [space101.OUTPUT]
    want = []
    for b in bits:
        m = np.zeros((7, 7), np.int8)
        m[np.triu_indices(7, 1)] = b
        want.append(space101.prune(m, ops) is not None)
    np.testing.assert_array_equal(got, want)
    assert 0 < got.mean() < 1


_random_cells = jax.jit(lambda key: nb101.random_cells(key, 100))


def test_nb101_top9_samples_are_valid_cells() -> None:
    toks, valid = _random_cells(jax.random.key(0))
    toks, valid = np.asarray(toks), np.asarray(valid)
    assert valid.all()
    assert (toks[:, :21].sum(1) == 9).all()  # A.5: exactly the top 9 edges, pruned later
    for t in toks:
        assert space101.is_valid(*nb101.to_cell(t))
    again, _ = _random_cells(jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(again), toks)


def test_nb101_decodes_are_valid_and_follow_the_decoder() -> None:
    model = make_model(nb101.NB101_SPEC, CONFIG)

    @jax.jit
    def decode(key):
        init_key, z_key, dec_key = jax.random.split(key, 3)
        params, _ = init_vae(init_key, nb101.NB101_SPEC, CONFIG)
        z = jax.random.normal(z_key, (20, CONFIG.sizes.latent))
        logits = model.apply(params, z, method=model.decode)
        toks, valid = jax.vmap(nb101.decode)(jax.random.split(dec_key, 20), logits)
        return logits, toks, valid

    logits, toks, valid = decode(jax.random.key(0))
    assert np.all(np.asarray(logits[:, :21, 2]) < -1e8)  # an edge is a bit: token 2 masked
    assert np.asarray(valid).all()
    for t in np.asarray(toks):
        assert space101.is_valid(*nb101.to_cell(t))
    # Strong log-odds on the first 9 edges (0->1..6, 1->2..4; 0->6 connects): exactly those.
    first9 = jnp.arange(21) < 9
    forced = jnp.zeros((26, 3)).at[:21, 1].set(jnp.where(first9, 20.0, -20.0))
    t, ok = jax.jit(nb101.decode)(jax.random.key(3), forced)
    assert bool(ok)
    np.testing.assert_array_equal(np.asarray(t[:21]), np.asarray(first9).astype(int))
