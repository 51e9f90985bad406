"""VAENAS's sampler (seed 002, Eq. 5 and Alg. 2) as a strategy on a tabular benchmark.

Every query is drawn from ``Gamma(alpha) = (1 - eps) U(alpha) + eps p_theta(alpha | z)``:
with probability ``1 - eps`` a uniformly random unseen row, otherwise a row proposed by the
VAE (:func:`lanas_jax.vaenas.sampler.propose`: the first of ``tries`` decodes that is unseen,
else the unseen row nearest to the first decode). ``eps`` starts at 0 and grows by
``eps_inc`` per query (Alg. 2, line 11), capped at 1. Every ``n_vae`` queries the VAE is
trained (Alg. 1, ``n_iters`` steps, continuing from its current parameters and Adam state as
Alg. 2 passes ``phi, theta`` on) on the top ``K``% of all architectures evaluated so far.

Adaptations to a tabular search (Alg. 2 trains a supernet between VAE updates; here every query
is an exact evaluation): the VAE is only sampled once it has been trained (an untrained decoder
is not a learned distribution; before that ``Gamma = U``); a query is never repeated. The state
counts how often the VAE answered (``vae_draws``), how often its first decode was already seen
(``vae_repeats``) and how often no decode was unseen so the nearest unseen row was taken
(``vae_fallbacks``).

Benchmarks (:mod:`lanas_jax.vaenas.token_space`): NAS-Bench-201 and other tables whose features
are one-hot slots (one token per slot, a decode's row found by exact match, the nearest unseen
row as fallback); NAS-Bench-101 (``bench.space`` an ``Nb101Space``, any encoding): Appendix
A.5's 26 tokens taken from the rows' cells, the top-9 decoder (a decode that never connects
input to output after its resampling is not a row), rows found up to isomorphism on the device
(:mod:`lanas_jax.vaenas.nb101_lookup`; a decode absent from the table is not a row either) and
a uniformly random unseen row as fallback. On NAS-Bench-101, ``vae_repeats`` counts first
decodes that were seen, invalid or absent from the table.

Retraining runs under ``lax.cond`` on the query counter, which does not depend on the key, so
under ``vmap`` over seeds it stays unbatched and all seeds retrain in the same step (the
other steps skip the training branch).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.strategies.base import TableStrategy, draw, random_priority, register
from lanas_jax.vaenas.model import VAESizes
from lanas_jax.vaenas.sampler import propose_in
from lanas_jax.vaenas.token_space import TokenSpace, token_space
from lanas_jax.vaenas.tokens import TokenSpec
from lanas_jax.vaenas.train import TrainConfig, fit_top, init_vae


@struct.dataclass
class VAENASParams:
    """Numbers a user may vmap over."""

    eps_inc: float = 1e-3  # Alg. 2's exploitation increase per query


@struct.dataclass
class VAENASState:
    seen: jax.Array  # [N] bool
    priority: jax.Array  # [N] int32, order of the uniform draws and the nearest-row tie-break
    rows: jax.Array  # [budget] int32, evaluated rows in order
    values: jax.Array  # [budget] their metrics
    count: jax.Array  # () int32, queries told so far
    params: dict  # VAE parameters
    opt_state: tuple  # their Adam state
    trained: jax.Array  # () bool
    vae_draws: jax.Array  # () int32
    vae_repeats: jax.Array  # () int32
    vae_fallbacks: jax.Array  # () int32


@register("vaenas")
@dataclasses.dataclass(frozen=True)
class VAENAS(TableStrategy):
    """Eq. 5's mixture sampler with the VAE retrained every ``n_vae`` queries.

    Attributes:
      vocab: choices per slot of the table's one-hot features (NB201: 5 ops per edge); the
        tokens are the slots (NB201: the 6 edges). Unused on NAS-Bench-101 (26 A.5 tokens).
      n_vae: queries between two VAE trainings (Alg. 2's ``n_vae``).
      tries: decodes per VAE proposal before falling back (nearest / random unseen row).
      top_frac, n_iters, batch_size, learning_rate: Alg. 1's ``K`` (a fraction) and its
        optimisation; embed, hidden, latent: the VAE's widths (see :class:`TrainConfig`;
        flat fields so that the configuration is a plain JSON-able record).
    """

    vocab: int = 5
    n_vae: int = 100
    tries: int = 4
    top_frac: float = 0.25
    n_iters: int = 200
    batch_size: int = 64
    learning_rate: float = 3e-3
    embed: int = 16
    hidden: int = 32
    latent: int = 8

    @property
    def train(self) -> TrainConfig:
        return TrainConfig(
            sizes=VAESizes(embed=self.embed, hidden=self.hidden, latent=self.latent),
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            n_iters=self.n_iters,
            top_frac=self.top_frac,
        )

    def default_params(self) -> VAENASParams:
        return VAENASParams()

    def validate(self, bench, budget: int) -> None:
        if self.n_vae < 1:
            raise ValueError(f"n_vae must be >= 1, got {self.n_vae}")
        if self.tries < 1:
            raise ValueError(f"tries must be >= 1, got {self.tries}")
        self.train.validate()
        try:
            self.tokens(bench).validate(bench)
        except ValueError as e:
            raise ValueError(
                "vaenas tokenises a table whose features are one-hot slots or a "
                f"NAS-Bench-101 benchmark; {bench.name}: {e}"
            ) from e

    def tokens(self, bench) -> TokenSpace:
        """How ``bench``'s rows are tokens (static: from its space type and shape)."""
        return token_space(bench, self.vocab)

    def spec(self, bench) -> TokenSpec:
        return self.tokens(bench).spec

    @functools.partial(jax.jit, static_argnums=(0, 3))
    def init(self, key, bench, budget, params):
        prio_key, vae_key = jax.random.split(key)
        vae_params, opt_state = init_vae(vae_key, self.spec(bench), self.train)
        zero = jnp.zeros((), jnp.int32)
        return VAENASState(
            seen=jnp.zeros((bench.size,), bool),
            priority=random_priority(prio_key, bench.size),
            rows=jnp.zeros((budget,), jnp.int32),
            values=jnp.zeros((budget,), bench.metric.dtype),
            count=zero,
            params=vae_params,
            opt_state=opt_state,
            trained=jnp.zeros((), bool),
            vae_draws=zero,
            vae_repeats=zero,
            vae_fallbacks=zero,
        )

    def _retrain(self, key, state: VAENASState, bench) -> VAENASState:
        """Alg. 1 on every architecture evaluated so far."""
        space = self.tokens(bench)
        valid = jnp.arange(state.rows.shape[0]) < state.count
        params, opt_state, _ = fit_top(
            space.spec, self.train, key, state.params, state.opt_state,
            space.row_tokens(bench, state.rows), state.values, valid,
        )
        return state.replace(params=params, opt_state=opt_state, trained=jnp.ones((), bool))

    @functools.partial(jax.jit, static_argnums=0)
    def ask(self, key, state, bench, params):
        train_key, mix_key, vae_key = jax.random.split(key, 3)
        due = (state.count >= self.n_vae) & (state.count % self.n_vae == 0)
        state = jax.lax.cond(
            due, lambda s: self._retrain(train_key, s, bench), lambda s: s, state
        )
        eps = jnp.minimum(1.0, state.count * params.eps_inc)
        use_vae = state.trained & (jax.random.uniform(mix_key) < eps)
        uniform = draw(state.priority, ~state.seen)
        prop = propose_in(
            self.tokens(bench), vae_key, bench, self.train, state.params, ~state.seen,
            state.priority, self.tries,
        )
        index = jnp.where(use_vae, prop.index, uniform)
        state = state.replace(
            vae_draws=state.vae_draws + use_vae,
            vae_repeats=state.vae_repeats + (use_vae & ~prop.first_hit),
            vae_fallbacks=state.vae_fallbacks + (use_vae & ~prop.any_hit),
        )
        return index, state

    @functools.partial(jax.jit, static_argnums=0)
    def tell(self, state, index, value, bench, params):
        return state.replace(
            seen=state.seen.at[index].set(True),
            rows=state.rows.at[state.count].set(index),
            values=state.values.at[state.count].set(value),
            count=state.count + 1,
        )
