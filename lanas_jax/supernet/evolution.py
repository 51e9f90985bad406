"""SPOS's evolutionary architecture search on a trained supernet (Guo et al. 2020, Sec. 3.4,
Alg. 1), over any space's token sequences, as one ``lax.scan``.

A population of ``P`` architectures is scored; the top ``k`` of everything scored so far are
the parents; the next population is ``P / 2`` mutants (each token of a parent redrawn uniformly
among its position's choices with probability ``mutation_prob``) and ``P / 2`` crossovers
(each token from one of two parents, uniformly). The paper's defaults: ``P = 50``, ``k = 10``,
``mutation_prob = 0.1``, 20 iterations. VAENAS-OS (seed 002 Alg. 2, lines 13-15) starts the same
search from a population drawn from its VAE (``init_tokens``) instead of the uniform one.

Deviation: SPOS rejects candidates that break a FLOPs constraint and re-draws duplicates; there
is no constraint here and a duplicate is simply scored again (its score is the same), so the
budget counts scorings, not distinct architectures.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class SposEvolution:
    """Settings of the search (static)."""

    population: int = 50
    top_k: int = 10
    iterations: int = 20
    mutation_prob: float = 0.1

    def __post_init__(self):
        if self.population < 2 or not 1 <= self.top_k <= self.population or self.iterations < 1:
            raise ValueError(f"SPOS evolution needs population >= 2, 1 <= top_k <= population "
                             f"and iterations >= 1, got {self.population}, {self.top_k}, "
                             f"{self.iterations}")
        if not 0.0 <= self.mutation_prob <= 1.0:
            raise ValueError(f"mutation_prob must be in [0, 1], got {self.mutation_prob}")


def _canonical(space, tokens):
    return jax.vmap(lambda t: space.tokens(space.from_tokens(t)))(tokens).astype(jnp.int32)


def _random_tokens(vocab, key, shape):
    keys = jax.random.split(key, len(vocab))
    return jnp.stack([jax.random.randint(k, shape, 0, v, dtype=jnp.int32)
                      for k, v in zip(keys, vocab, strict=True)], axis=-1)


def offspring(space, cfg: SposEvolution, parents: jax.Array, key: jax.Array) -> jax.Array:
    """``P`` children of the ``[k, L]`` parent tokens: half mutants, half crossovers."""
    vocab = tuple(int(v) for v in space.vocab_sizes)
    n_mut = cfg.population // 2
    n_cross = cfg.population - n_mut
    k_pm, k_mask, k_new, k_pa, k_pb, k_coin = jax.random.split(key, 6)
    k = parents.shape[0]
    mut_parents = parents[jax.random.randint(k_pm, (n_mut,), 0, k)]
    redraw = jax.random.uniform(k_mask, mut_parents.shape) < cfg.mutation_prob
    mutants = jnp.where(redraw, _random_tokens(vocab, k_new, (n_mut,)), mut_parents)
    a = parents[jax.random.randint(k_pa, (n_cross,), 0, k)]
    b = parents[jax.random.randint(k_pb, (n_cross,), 0, k)]
    cross = jnp.where(jax.random.bernoulli(k_coin, 0.5, a.shape), a, b)
    return _canonical(space, jnp.concatenate([mutants, cross]))


def evolve(space, cfg: SposEvolution, score_fn, key: jax.Array, init_tokens=None):
    """Run the search. ``score_fn(tokens [P, L]) -> scores [P]`` (higher is better, jittable);
    ``init_tokens`` ``[P, L]`` replaces the uniform first population.

    Returns ``(tokens [iterations * P, L], scores [iterations * P])``: everything scored, in
    order; the found architecture is the argmax.
    """
    k_init, k_loop = jax.random.split(key)
    if init_tokens is None:
        init = jax.vmap(lambda k: space.tokens(space.sample(k)))(
            jax.random.split(k_init, cfg.population)).astype(jnp.int32)
    else:
        init = _canonical(space, jnp.asarray(init_tokens, jnp.int32))
        if init.shape[0] != cfg.population:
            raise ValueError(f"init_tokens must hold {cfg.population} architectures, got "
                             f"{init.shape[0]}")
    k = cfg.top_k

    def body(carry, step_key):
        pop, best_t, best_s = carry
        s = score_fn(pop)
        all_t = jnp.concatenate([best_t, pop])
        all_s = jnp.concatenate([best_s, s])
        top = jnp.argsort(-all_s, stable=True)[:k]
        best_t, best_s = all_t[top], all_s[top]
        return (offspring(space, cfg, best_t, step_key), best_t, best_s), (pop, s)

    start = (init, jnp.zeros((k, init.shape[1]), jnp.int32), jnp.full((k,), -jnp.inf))
    _, (pops, scores) = jax.lax.scan(body, start, jax.random.split(k_loop, cfg.iterations))
    return pops.reshape(-1, init.shape[1]), scores.reshape(-1)
