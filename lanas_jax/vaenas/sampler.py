"""From VAE samples to table rows (seed 002, Sec. 3.2 sampling; Eq. 5's ``p_theta(alpha | z)``).

A tabular search may only query rows it has not seen (and LaNAS only rows inside its selected
leaf), so a decoded architecture is turned into a row by :func:`propose`:

1. decode ``tries`` architectures ``z ~ N(0, I) -> p_theta(alpha | z)``;
2. answer the first one whose row is a *candidate* (e.g. unseen, or unseen and in the leaf);
3. if none is, answer the candidate nearest to the first decode (fewest differing tokens),
   ties broken by the caller's random ``priority``.

``propose`` reports which case happened, so a strategy can count repeats and fallbacks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.strategies.base import draw
from lanas_jax.vaenas.model import sample_tokens
from lanas_jax.vaenas.tokens import TokenSpec
from lanas_jax.vaenas.train import TrainConfig, make_model


@struct.dataclass
class Proposal:
    """What :func:`propose` chose and how."""

    index: jax.Array  # () int32, the row to query
    first_hit: jax.Array  # () bool, the first decode's own row was a candidate
    any_hit: jax.Array  # () bool, some decode's own row was a candidate (else: nearest)


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
    """A candidate row drawn from the VAE (see the module doc).

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
    matches = jnp.sum(table[None, :, :] == decoded[:, None, :], -1)  # [R, N]
    hits = (matches == spec.length) & candidate[None, :]
    found = jnp.any(hits, 1)
    exact = jnp.argmax(hits[jnp.argmax(found)]).astype(jnp.int32)
    best = jnp.max(jnp.where(candidate, matches[0], -1))
    nearest = draw(priority, candidate & (matches[0] == best))
    any_hit = jnp.any(found)
    return Proposal(jnp.where(any_hit, exact, nearest), found[0], any_hit)
