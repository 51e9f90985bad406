"""From VAE samples to table rows (seed 002, Sec. 3.2 sampling; Eq. 5's ``p_theta(alpha | z)``).

A tabular search may only query rows it has not seen (and LaNAS only rows inside its selected
leaf), so decoded architectures are turned into a row by :func:`propose` (LaNAS's VAE leaf
sampler; the VAENAS strategy's own rule, on any domain, is :mod:`lanas_jax.vaenas.views`):

1. decode ``tries`` architectures ``z ~ N(0, I) -> p_theta(alpha | z)`` (one categorical draw
   per position);
2. answer the first one that is a valid architecture whose row is a *candidate* (e.g. unseen,
   or unseen and in the leaf);
3. if none is, answer the candidate nearest to the first decode (fewest differing tokens), ties
   broken by the caller's random ``priority``.

It reports which case happened, so a caller can count repeats and fallbacks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.vaenas.model import sample_tokens
from lanas_jax.vaenas.token_space import match_rows
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
