"""From VAE samples to table rows (seed 002, Sec. 3.2 sampling; Eq. 5's ``p_theta(alpha | z)``).

A tabular search may only query rows it has not seen (and LaNAS only rows inside its selected
leaf), so decoded architectures are turned into a row by :func:`propose_in`:

1. decode ``tries`` architectures ``z ~ N(0, I) -> p_theta(alpha | z)`` (the token space's
   decoder: one categorical draw per position, or NAS-Bench-101's top-9 rule);
2. answer the first one that is a valid architecture whose row is a *candidate* (e.g. unseen,
   or unseen and in the leaf);
3. if none is, answer the token space's fallback candidate: on one-hot tables (NB201) the
   candidate nearest to the first decode (fewest differing tokens), ties broken by the caller's
   random ``priority``; on NAS-Bench-101 a uniformly random candidate (see
   :mod:`lanas_jax.vaenas.token_space` for why).

:func:`propose` is the one-hot form with an explicit token table (LaNAS's leaf sampler uses
it). Both report which case happened, so a strategy can count repeats and fallbacks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.vaenas.model import sample_tokens
from lanas_jax.vaenas.token_space import TokenSpace, match_rows
from lanas_jax.vaenas.tokens import TokenSpec
from lanas_jax.vaenas.train import TrainConfig, make_model


@struct.dataclass
class Proposal:
    """What :func:`propose` chose and how."""

    index: jax.Array  # () int32, the row to query
    first_hit: jax.Array  # () bool, the first decode's own row was a candidate
    any_hit: jax.Array  # () bool, some decode's own row was a candidate (else: the fallback)


def _choose(rows: jax.Array, hit: jax.Array, fallback: jax.Array) -> Proposal:
    any_hit = jnp.any(hit)
    exact = rows[jnp.argmax(hit)]
    return Proposal(jnp.where(any_hit, exact, fallback).astype(jnp.int32), hit[0], any_hit)


def propose_in(
    space: TokenSpace,
    key: jax.Array,
    bench,
    config: TrainConfig,
    params,
    candidate: jax.Array,
    priority: jax.Array,
    tries: int,
) -> Proposal:
    """A candidate row drawn from the VAE on any token space (see the module doc).

    Args:
      space: how the benchmark's rows are tokens (``token_space.token_space(bench, vocab)``).
      key: PRNG key.
      bench: the benchmark.
      config: the VAE's training config (its sizes).
      params: VAE parameters.
      candidate: ``[N]`` bool, rows that may be answered; at least one must be True.
      priority: ``[N]`` int32 random tie-break (``strategies.base.random_priority``).
      tries: decodes per proposal.
    """
    decoded, valid = space.decode(make_model(space.spec, config), params, key, tries)
    return _choose(*space.resolve(bench, decoded, valid, candidate, priority))


def propose(
    key: jax.Array,
    spec: TokenSpec,
    config: TrainConfig,
    params,
    table: jax.Array,
    candidate: jax.Array,
    priority: jax.Array,
    tries: int,
) -> Proposal:
    """A candidate row of a one-hot token table drawn from the VAE (see the module doc).

    Args:
      key: PRNG key.
      spec, config: the VAE's token spec and training config (its sizes).
      params: VAE parameters.
      table: ``[N, L]`` int32, every row's tokens (``tokens.table_tokens``).
      candidate: ``[N]`` bool, rows that may be answered; at least one must be True.
      priority: ``[N]`` int32 random tie-break (``strategies.base.random_priority``).
      tries: decodes per proposal.
    """
    decoded = sample_tokens(make_model(spec, config), params, key, tries)  # [R, L]
    return _choose(*match_rows(table, decoded, candidate, priority))
