"""Which architectures (paths) a supernet training step trains.

* **Uniform** (SPOS, Guo et al. 2020, Sec. 3.2; RSPS, Li & Talwalkar 2019): one architecture
  drawn by the space's ``sample`` (uniform over the space for the dense spaces).
* **Strict fairness** (FairNAS, Chu et al. 2021, Sec. 3.2, Alg. 1): ``m`` paths per step, where
  token position ``i`` of the ``m`` paths is a random permutation of its ``V_i`` choices, so
  every choice of every position is trained exactly once per step when ``V_i = m``. A position
  with fewer choices than ``m = max V_i`` (the ConvNet chain's layers: 4 choices beside 5
  depths) holds each of its choices once and the remaining ``m - V_i`` slots uniform draws; a
  choice beyond a network's depth is ignored by ``from_tokens``, so on the chain fairness is
  per position of the token sequence, not per trained layer.
* **The VAENAS mixture** (seed 002 Alg. 2, line 1): ``Gamma = (1 - eps) U + eps p_theta(alpha|z)``:
  with probability ``eps`` the VAE's decoder samples the tokens, otherwise the space's uniform.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lanas_jax.vaenas.model import VAE, sample_tokens


def uniform(space, key: jax.Array):
    """One architecture from the space's ``sample``."""
    return space.sample(key)


def fair_tokens(vocab_sizes: tuple[int, ...], key: jax.Array) -> jax.Array:
    """``int32 [m, L]`` token sequences with ``m = max(vocab_sizes)``: column ``i`` holds every
    one of its ``V_i`` choices once (the rest uniform), in a random order (FairNAS Alg. 1)."""
    m = max(vocab_sizes)
    cols = []
    for i, v in enumerate(vocab_sizes):
        k_perm, k_fill = jax.random.split(jax.random.fold_in(key, i))
        col = jnp.concatenate([jnp.arange(v, dtype=jnp.int32),
                               jax.random.randint(k_fill, (m - v,), 0, v, dtype=jnp.int32)])
        cols.append(jax.random.permutation(k_perm, col))
    return jnp.stack(cols, axis=1)


def fair(space, key: jax.Array):
    """The ``m`` strictly fair paths of one step, stacked (a batched arch pytree)."""
    return jax.vmap(space.from_tokens)(fair_tokens(tuple(space.vocab_sizes), key))


def mixture(space, vae: VAE, vae_params, eps: jax.Array, key: jax.Array):
    """One draw from ``(1 - eps) U + eps p_theta`` (seed 002 Alg. 2, line 1)."""
    k_coin, k_uni, k_vae = jax.random.split(key, 3)
    tokens_vae = sample_tokens(vae, vae_params, k_vae, 1)[0]
    tokens_uni = space.tokens(space.sample(k_uni))
    use_vae = jax.random.uniform(k_coin) < eps
    return space.from_tokens(jnp.where(use_vae, tokens_vae, tokens_uni).astype(jnp.int32))
