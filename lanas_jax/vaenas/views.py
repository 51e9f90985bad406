"""How VAENAS sees a search domain as token sequences, and turns VAE decodes into proposals.

A :class:`TokenView` is a static (hashable) description of a :class:`~lanas_jax.domain.Domain`
for the VAE (seed 002, Sec. 3.2: an architecture is a sequence of tokens), with three parts, all
pure ``jnp`` under ``jit``/``vmap``:

* ``spec``: the token shape the VAE is built for;
* ``arch_tokens(domain, archs)``: the tokens of evaluated architectures (the training data);
* ``propose(domain, archive, priority, model, params, key, tries)``: a :class:`Proposal`, the
  first of ``tries`` decodes that may be queried, else a fallback (module
  :mod:`lanas_jax.vaenas.sampler` explains the rule).

Views:

* :class:`SpaceTokens` -- any space with ``tokens`` / ``from_tokens``: the VAE's vocabulary is
  the space's (``vocab_sizes``; a position never emits a token beyond its own vocabulary), and a
  decode is ``from_tokens`` of it. On a pool (a table, e.g. NAS-Bench-201's) a decode the pool
  lacks, or one already evaluated or pending, falls back to the unseen row nearest to the first
  decode in Hamming distance over the canonical tokens (random tie-break), as before the
  architecture protocol; in an open domain to a uniformly random new architecture.
* :class:`OneHotRows` -- a table that names no space, whose features are one-hot slots of
  ``vocab`` choices: one token per slot, the same nearest-row fallback.
* :class:`Nb101Cells` -- the NAS-Bench-101 space, a table (a pool of its cells) or open:
  Appendix A.5's 26 tokens and top-9 decoder (:class:`~lanas_jax.vaenas.token_space.
  Nb101Tokens`), decodes looked up up to isomorphism by the pool's own lookup; the fallback is
  a uniformly random unseen row (on a pool: a Hamming distance between an unpruned decode and a
  pruned cell in another vertex order measures no architectural distance) or, open, the
  caller's new architecture.

:func:`token_view` picks the view of a domain.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lanas_jax import archive as archive_lib
from lanas_jax.domain import RowSpace
from lanas_jax.spaces.nb101.space import NB101, acceptable
from lanas_jax.strategies.core import draw, select
from lanas_jax.vaenas import nb101_cells
from lanas_jax.vaenas.model import sample_tokens
from lanas_jax.vaenas.token_space import Nb101Tokens, match_rows, nearest_row
from lanas_jax.vaenas.tokens import TokenSpec, onehot_spec, table_tokens


@struct.dataclass
class Proposal:
    """What a view proposed and how (``first_hit``: the first decode could be queried;
    ``any_hit``: some decode could, else the fallback was taken)."""

    arch: object
    first_hit: jax.Array
    any_hit: jax.Array


def _rows_proposal(domain, rows, hit, fallback) -> Proposal:
    any_hit = jnp.any(hit)
    row = jnp.where(any_hit, rows[jnp.argmax(hit)], fallback).astype(jnp.int32)
    return Proposal(domain.arch(row), hit[0], any_hit)


class TokenView:
    """The interface (see the module doc); implementations are frozen dataclasses."""

    spec: TokenSpec

    def validate(self, domain) -> None:
        """Raise ValueError when ``domain`` cannot be tokenised this way (host)."""

    def arch_tokens(self, domain, archs) -> jax.Array:
        raise NotImplementedError

    def propose(self, domain, archive, priority, model, params, key, tries,
                fallback) -> Proposal:
        """``fallback``: open domains only, the new architecture answered when no decode is."""
        raise NotImplementedError


def space_spec(vocab_sizes: tuple[int, ...]) -> TokenSpec:
    """The VAE's token spec of a space: vocabulary = the largest position's, and each position
    allowed only its own tokens."""
    vocab = max(max(vocab_sizes), 2)
    allowed = None
    if len(set(vocab_sizes)) > 1:
        allowed = tuple(tuple(t < size for t in range(vocab)) for size in vocab_sizes)
    return TokenSpec(length=len(vocab_sizes), vocab=vocab, allowed=allowed)


@dataclasses.dataclass(frozen=True)
class SpaceTokens(TokenView):
    """The space's own tokens (see the module doc)."""

    spec: TokenSpec

    def arch_tokens(self, domain, archs):
        return jax.vmap(domain.space.tokens)(archs).astype(jnp.int32)

    def propose(self, domain, archive, priority, model, params, key, tries, fallback):
        space = domain.space
        decoded = sample_tokens(model, params, key, tries)
        archs = jax.vmap(space.from_tokens)(decoded)
        if domain.is_pool:
            unseen = archive_lib.unseen_rows(archive)
            rows, found = jax.vmap(domain.row)(archs)
            # Nearest to the first decode over canonical tokens (two spellings of one
            # architecture are one row).
            first = self.arch_tokens(domain, jax.tree.map(lambda a: a[:1], archs))
            nearest = nearest_row(self.arch_tokens(domain, domain.archs), first[0], unseen,
                                  priority)
            return _rows_proposal(domain, rows, found & unseen[rows], nearest)
        hit = jax.vmap(lambda a: archive_lib.is_new(archive, domain, a))(archs)
        any_hit = jnp.any(hit)
        first = jax.tree.map(lambda a: a[jnp.argmax(hit)], archs)
        return Proposal(select(any_hit, first, fallback), hit[0], any_hit)


@dataclasses.dataclass(frozen=True)
class OneHotRows(TokenView):
    """A rows-only table of one-hot slot features (see the module doc)."""

    spec: TokenSpec

    def validate(self, domain) -> None:
        onehot_spec(domain.features, self.spec.vocab)

    def arch_tokens(self, domain, archs):
        return table_tokens(domain.features[archs.row], self.spec)

    def propose(self, domain, archive, priority, model, params, key, tries, fallback):
        decoded = sample_tokens(model, params, key, tries)
        table = table_tokens(domain.features, self.spec)
        rows, hit, nearest = match_rows(table, decoded, archive_lib.unseen_rows(archive),
                                        priority)
        return _rows_proposal(domain, rows, hit, nearest)


@dataclasses.dataclass(frozen=True)
class Nb101Cells(TokenView):
    """The NAS-Bench-101 space through A.5's tokens (see the module doc)."""

    tokens: Nb101Tokens = Nb101Tokens()

    @property
    def spec(self) -> TokenSpec:
        return self.tokens.spec

    def arch_tokens(self, domain, archs):
        return jax.vmap(domain.space.tokens)(archs).astype(jnp.int32)

    def propose(self, domain, archive, priority, model, params, key, tries, fallback):
        decoded, valid = self.tokens.decode(model, params, key, tries)
        if domain.is_pool:
            unseen = archive_lib.unseen_rows(archive)
            rows, found = nb101_cells.find_rows(domain, decoded)
            hit = found & valid & unseen[rows]
            return _rows_proposal(domain, rows, hit, draw(priority, unseen))
        archs = jax.vmap(nb101_cells.arch_of_tokens)(decoded)
        ok = valid & jax.vmap(acceptable)(archs.matrix, archs.labels)
        hit = ok & jax.vmap(lambda a: archive_lib.is_new(archive, domain, a))(archs)
        any_hit = jnp.any(hit)
        first = domain.space.canonical(jax.tree.map(lambda a: a[jnp.argmax(hit)], archs))
        return Proposal(select(any_hit, first, fallback), hit[0], any_hit)


def token_view(domain, vocab: int) -> TokenView:
    """:class:`Nb101Cells` for the NAS-Bench-101 space, :class:`SpaceTokens` for another space
    with tokens; for a rows-only table :class:`OneHotRows` of ``vocab`` choices per slot
    (static: depends on the domain's space and shapes only)."""
    space = domain.space
    if isinstance(space, NB101):
        return Nb101Cells()
    if not isinstance(space, RowSpace):
        if not space.vocab_sizes:
            raise ValueError(f"the {space.name} space has no tokens")
        return SpaceTokens(space_spec(tuple(space.vocab_sizes)))
    width = int(np.shape(domain.features)[1])
    if vocab < 2 or width % vocab:
        raise ValueError(f"features of width {width} are not one-hot slots of {vocab} choices "
                         f"(the width must be a multiple of {vocab})")
    return OneHotRows(TokenSpec(length=width // vocab, vocab=vocab))
