"""How the Table 4 binary sees a table's rows as tokens and turns decodes back into rows.

A :class:`TokenSpace` is a static (hashable) description with four parts, all pure ``jnp`` under
``jit``/``vmap``; ``domain`` is the table's pool (:attr:`~lanas_jax.evaluators.table.
TableEvaluator.pool`):

* ``spec``: the token shape the VAE is built for;
* ``row_tokens(domain, rows)``: the tokens of table rows (the VAE's training data);
* ``decode(model, params, key, num)``: ``num`` architectures ``z ~ N(0, I) -> p_theta(alpha |
  z)`` and whether each is a valid architecture;
* ``find_rows(domain, tokens)``: the row holding each decode, if any (NAS-Bench-101; on
  NAS-Bench-201 every decode is a row and the binary indexes its code directly).

Two implementations:

* :class:`OneHotSlots` -- NAS-Bench-201 and any table whose features are one-hot slots: one
  token per slot, every decode valid, a decode's row the row holding exactly its tokens.
* :class:`Nb101Tokens` -- NAS-Bench-101 tables (pools of the NB101 space): the 26 tokens of
  :data:`lanas_jax.vaenas.nb101.NB101_SPEC`, Appendix A.5's top-9 decoding with connectivity
  resampling, rows found up to isomorphism by the pool's own lookup
  (:func:`lanas_jax.vaenas.nb101_cells.find_rows`).

The VAENAS strategy's own rule on any domain is :mod:`lanas_jax.vaenas.views`.
:func:`token_space` picks the implementation from the pool.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lanas_jax.spaces.nb101.space import NB101
from lanas_jax.strategies.core import draw
from lanas_jax.vaenas import nb101, nb101_cells
from lanas_jax.vaenas.model import VAE, sample_tokens
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
    return rows, jnp.any(hits, 1), _nearest(matches[0], candidate, priority)


def nearest_row(table: jax.Array, tokens: jax.Array, candidate: jax.Array,
                priority: jax.Array) -> jax.Array:
    """The candidate row of ``table [N, L]`` with the most tokens in common with ``tokens [L]``,
    ties broken by ``priority``."""
    return _nearest(jnp.sum(table == tokens[None, :], -1), candidate, priority)


def _nearest(matches, candidate, priority):
    best = jnp.max(jnp.where(candidate, matches, -1))
    return draw(priority, candidate & (matches == best))


class TokenSpace:
    """The interface (see the module doc); implementations are frozen dataclasses."""

    spec: TokenSpec

    def validate(self, domain) -> None:
        """Raise ValueError when ``domain`` cannot be tokenised this way (host)."""

    def row_tokens(self, domain, rows: jax.Array) -> jax.Array:
        raise NotImplementedError

    def decode(self, model: VAE, params, key: jax.Array, num: int):
        raise NotImplementedError

    def find_rows(self, domain, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``[M, L]`` tokens -> ``(rows [M], found [M])``, the row of each (0 where none)."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class OneHotSlots(TokenSpace):
    """One token per one-hot slot of the features (NAS-Bench-201: 6 edges x 5 ops)."""

    spec: TokenSpec

    @classmethod
    def of(cls, domain, vocab: int) -> OneHotSlots:
        return cls(TokenSpec(length=domain.features.shape[1] // vocab, vocab=vocab))

    def validate(self, domain) -> None:
        onehot_spec(domain.features, self.spec.vocab)

    def table(self, domain) -> jax.Array:
        return table_tokens(domain.features, self.spec)

    def row_tokens(self, domain, rows):
        return self.table(domain)[rows]

    def decode(self, model, params, key, num):
        return sample_tokens(model, params, key, num), jnp.ones((num,), bool)


@dataclasses.dataclass(frozen=True)
class Nb101Tokens(TokenSpace):
    """NAS-Bench-101 cells as Appendix A.5's 21 edge bits + 5 ops (see the module doc).

    Attributes:
      connect_tries: edge draws per decode before it is reported invalid (A.5 resamples until
        the cell connects input to output; :func:`lanas_jax.vaenas.nb101.decode`).
    """

    spec: TokenSpec = nb101.NB101_SPEC
    connect_tries: int = 16

    def validate(self, domain) -> None:
        if not (isinstance(domain.space, NB101) and domain.is_pool):
            raise ValueError("A.5 tokens need a NAS-Bench-101 table (a pool of the NB101 "
                             f"space), got a {domain.space.name} domain")

    def row_tokens(self, domain, rows):
        return jax.vmap(domain.space.tokens)(domain.arch(rows))

    def decode(self, model, params, key, num):
        z_key, dec_key = jax.random.split(key)
        z = jax.random.normal(z_key, (num, model.sizes.latent))
        logits = model.apply(params, z, method=VAE.decode)
        return jax.vmap(lambda k, lg: nb101.decode(k, lg, self.connect_tries))(
            jax.random.split(dec_key, num), logits
        )

    def find_rows(self, domain, tokens):
        return nb101_cells.find_rows(domain, tokens)

    def random(self, key: jax.Array, num: int) -> tuple[jax.Array, jax.Array]:
        """A.5's random sampling (``U(0, 1)`` edge scores, top 9, uniform ops): tokens, valid."""
        return nb101.random_cells(key, num, self.connect_tries)


def token_space(domain, vocab: int) -> TokenSpace:
    """:class:`Nb101Tokens` for a NAS-Bench-101 pool, else :class:`OneHotSlots` of ``vocab``
    choices per slot (static: depends on the pool's space and shape only)."""
    if isinstance(domain.space, NB101):
        return Nb101Tokens()
    return OneHotSlots.of(domain, vocab)
