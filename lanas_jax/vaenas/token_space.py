"""How VAENAS sees a benchmark's rows as tokens and turns decodes back into rows.

A :class:`TokenSpace` is a static (hashable) description with four parts used by the VAENAS
strategy and the Table 4 binary, all pure ``jnp`` under ``jit``/``vmap``:

* ``spec``: the token shape the VAE is built for;
* ``row_tokens(bench, rows)``: the tokens of table rows (the VAE's training data);
* ``decode(model, params, key, num)``: ``num`` architectures ``z ~ N(0, I) -> p_theta(alpha |
  z)`` and whether each is a valid architecture;
* ``resolve(bench, decoded, valid, candidate, priority)``: each decode's candidate row (if it
  is one) and the fallback row when none is (the Table 4 binary; the strategy's own rule on any
  domain is :mod:`lanas_jax.vaenas.views`).

Two implementations:

* :class:`OneHotSlots` -- NAS-Bench-201 and any table whose features are one-hot slots: one
  token per slot, every decode valid, a decode's row is the row holding exactly its tokens, the
  fallback is the candidate nearest to the first decode in Hamming distance (random tie-break).
* :class:`Nb101Tokens` -- NAS-Bench-101 benchmarks (``bench.space`` an ``Nb101Space``): the
  26 tokens of :data:`lanas_jax.vaenas.nb101.NB101_SPEC` (the training tokens come from the
  rows' cells), Appendix A.5's top-9 decoding with connectivity resampling, rows found up to
  isomorphism (:mod:`lanas_jax.vaenas.nb101_lookup`). The fallback is a **uniformly random
  candidate row**: a decode's tokens are an unpruned 7-vertex graph in one of many vertex
  orders and a row's are a pruned, padded cell in another, so a Hamming distance between them
  measures no architectural distance (two isomorphic cells can differ in most edge bits), and
  scanning 423,624 rows per query for it would cost more than the rest of a query.

:func:`token_space` picks the implementation from the benchmark.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lanas_jax.spaces.nb101 import Nb101Space
from lanas_jax.strategies.core import draw
from lanas_jax.vaenas import nb101
from lanas_jax.vaenas.model import VAE, sample_tokens
from lanas_jax.vaenas.nb101_lookup import find_rows, nb101_lookup
from lanas_jax.vaenas.tokens import TokenSpec, onehot_spec, table_tokens


def match_rows(table: jax.Array, decoded: jax.Array, candidate: jax.Array, priority: jax.Array):
    """Exact and nearest rows of ``decoded [R, L]`` in a token ``table [N, L]``.

    Returns ``(rows [R], hit [R], nearest ())``: ``rows[r]`` the first candidate row holding
    exactly ``decoded[r]`` where ``hit[r]``; ``nearest`` the candidate with the most tokens in
    common with ``decoded[0]``, ties broken by ``priority``.
    """
    matches = jnp.sum(table[None, :, :] == decoded[:, None, :], -1)  # [R, N]
    hits = (matches == table.shape[1]) & candidate[None, :]
    rows = jnp.argmax(hits, 1).astype(jnp.int32)
    best = jnp.max(jnp.where(candidate, matches[0], -1))
    nearest = draw(priority, candidate & (matches[0] == best))
    return rows, jnp.any(hits, 1), nearest


class TokenSpace:
    """The interface (see the module doc); implementations are frozen dataclasses."""

    spec: TokenSpec

    def validate(self, bench) -> None:
        """Raise ValueError when ``bench`` cannot be tokenised this way (host)."""

    def row_tokens(self, bench, rows: jax.Array) -> jax.Array:
        raise NotImplementedError

    def decode(self, model: VAE, params, key: jax.Array, num: int):
        raise NotImplementedError

    def resolve(self, bench, decoded, valid, candidate, priority):
        raise NotImplementedError

    def find_rows(self, bench, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``[M, L]`` tokens -> ``(rows [M], found [M])``, the row of each (any row)."""
        every = jnp.ones((bench.size,), bool)
        rows, found, _ = self.resolve(
            bench, tokens, jnp.ones(tokens.shape[:1], bool), every, jnp.zeros((bench.size,),
                                                                              jnp.int32)
        )
        return rows, found


@dataclasses.dataclass(frozen=True)
class OneHotSlots(TokenSpace):
    """One token per one-hot slot of the features (NAS-Bench-201: 6 edges x 5 ops)."""

    spec: TokenSpec

    @classmethod
    def of(cls, bench, vocab: int) -> OneHotSlots:
        return cls(TokenSpec(length=bench.dim // vocab, vocab=vocab))

    def validate(self, bench) -> None:
        onehot_spec(bench.features, self.spec.vocab)

    def table(self, bench) -> jax.Array:
        return table_tokens(bench.features, self.spec)

    def row_tokens(self, bench, rows):
        return self.table(bench)[rows]

    def decode(self, model, params, key, num):
        return sample_tokens(model, params, key, num), jnp.ones((num,), bool)

    def resolve(self, bench, decoded, valid, candidate, priority):
        rows, hit, nearest = match_rows(self.table(bench), decoded, candidate, priority)
        return rows, hit & valid, nearest


@dataclasses.dataclass(frozen=True)
class Nb101Tokens(TokenSpace):
    """NAS-Bench-101 cells as Appendix A.5's 21 edge bits + 5 ops (see the module doc).

    Attributes:
      connect_tries: edge draws per decode before it is reported invalid (A.5 resamples until
        the cell connects input to output; :func:`lanas_jax.vaenas.nb101.decode`).
    """

    spec: TokenSpec = nb101.NB101_SPEC
    connect_tries: int = 16

    def validate(self, bench) -> None:
        if not isinstance(bench.space, Nb101Space):
            raise ValueError(f"{bench.name} is not a NAS-Bench-101 benchmark")
        if len(bench.space) != bench.size:
            raise ValueError(
                f"{bench.name}: its NAS-Bench-101 space has {len(bench.space)} cells but the "
                f"table {bench.size} rows"
            )

    def row_tokens(self, bench, rows):
        return jnp.asarray(nb101_lookup(bench.space).tokens)[rows].astype(jnp.int32)

    def decode(self, model, params, key, num):
        z_key, dec_key = jax.random.split(key)
        z = jax.random.normal(z_key, (num, model.sizes.latent))
        logits = model.apply(params, z, method=VAE.decode)
        return jax.vmap(lambda k, lg: nb101.decode(k, lg, self.connect_tries))(
            jax.random.split(dec_key, num), logits
        )

    def resolve(self, bench, decoded, valid, candidate, priority):
        rows, found = self.find_rows(bench, decoded)
        return rows, found & valid & candidate[rows], draw(priority, candidate)

    def find_rows(self, bench, tokens):
        return find_rows(nb101_lookup(bench.space), tokens)

    def random(self, key: jax.Array, num: int) -> tuple[jax.Array, jax.Array]:
        """A.5's random sampling (``U(0, 1)`` edge scores, top 9, uniform ops): tokens, valid."""
        return nb101.random_cells(key, num, self.connect_tries)


def is_nb101(bench) -> bool:
    return isinstance(bench.space, Nb101Space)


def token_space(bench, vocab: int) -> TokenSpace:
    """:class:`Nb101Tokens` for a NAS-Bench-101 benchmark, else :class:`OneHotSlots` of
    ``vocab`` choices per slot (static: depends on the benchmark's space and shape only)."""
    if is_nb101(bench):
        return Nb101Tokens()
    return OneHotSlots.of(bench, vocab)
