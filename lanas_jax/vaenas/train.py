"""Training the VAE on the best architectures seen (seed 002, Alg. 1) with optax.

Alg. 1: rank the evaluated set ``S`` by accuracy, keep the top ``K``% as ``S_K`` and optimise the
encoder and decoder on ``S_K`` for ``n_iters`` iterations. Here ``S`` is a fixed-size buffer
with a validity mask, so the number of evaluated architectures (and hence ``|S_K|``) may be a
traced value: each iteration draws a minibatch uniformly (with replacement) from the ranks
``0 .. |S_K| - 1`` of the descending sort, which needs no dynamic shapes and lets the whole
``n_iters`` loop be one ``lax.scan`` inside ``jit``/``vmap``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from lanas_jax.vaenas.model import VAE, VAESizes, init_params, negative_elbo
from lanas_jax.vaenas.tokens import TokenSpec


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of Alg. 1 (the paper gives no values; ours are recorded in
    BUILD_NOTES.md). ``top_frac`` is Alg. 1's ``K`` as a fraction (Table 4: 1500 / 6000)."""

    sizes: VAESizes = VAESizes()
    learning_rate: float = 3e-3
    batch_size: int = 64
    n_iters: int = 200
    top_frac: float = 0.25

    def validate(self) -> None:
        if not 0.0 < self.top_frac <= 1.0:
            raise ValueError(f"top_frac (K) must be in (0, 1], got {self.top_frac}")
        if self.batch_size < 1 or self.n_iters < 0:
            raise ValueError(
                f"batch_size must be >= 1 and n_iters >= 0, got {self.batch_size}, {self.n_iters}"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        s = self.sizes
        if min(s.embed, s.hidden, s.latent) < 1:
            raise ValueError(f"VAE sizes must be >= 1, got {s}")


def make_model(spec: TokenSpec, config: TrainConfig) -> VAE:
    return VAE(spec, config.sizes)


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    return optax.adam(config.learning_rate)


def init_vae(key: jax.Array, spec: TokenSpec, config: TrainConfig):
    """``(params, opt_state)`` of a fresh VAE."""
    params = init_params(key, make_model(spec, config))
    return params, make_optimizer(config).init(params)


def train_step(spec: TokenSpec, config: TrainConfig, params, opt_state, tokens, key):
    """One Adam step on ``-ELBO`` of the batch ``tokens [B, L]``; returns the loss too."""
    model, opt = make_model(spec, config), make_optimizer(config)
    loss, grads = jax.value_and_grad(lambda p: negative_elbo(model, p, tokens, key))(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


def top_count(num_valid: jax.Array, top_frac: float) -> jax.Array:
    """``|S_K|``: ``ceil(K * |S|)``, at least 1 (an int32, traced when ``num_valid`` is)."""
    k = jnp.ceil(top_frac * num_valid.astype(jnp.float32) - 1e-4).astype(jnp.int32)
    return jnp.maximum(k, 1)


def ranked(values: jax.Array, valid: jax.Array) -> jax.Array:
    """Indices sorting ``values`` in descending order, invalid entries last (Alg. 1, line 1)."""
    return jnp.argsort(-jnp.where(valid, values, -jnp.inf), stable=True).astype(jnp.int32)


def fit_top(
    spec: TokenSpec,
    config: TrainConfig,
    key: jax.Array,
    params,
    opt_state,
    tokens: jax.Array,
    values: jax.Array,
    valid: jax.Array,
):
    """Alg. 1: train ``config.n_iters`` minibatch steps on the top ``K``% of ``tokens [M, L]``
    ranked by ``values [M]`` among the rows where ``valid [M]``.

    Returns ``(params, opt_state, losses [n_iters])``.
    """
    order = ranked(values, valid)
    k = top_count(jnp.sum(valid), config.top_frac)

    def step(carry, step_key):
        params, opt_state = carry
        pick_key, elbo_key = jax.random.split(step_key)
        rows = order[jax.random.randint(pick_key, (config.batch_size,), 0, k)]
        params, opt_state, loss = train_step(
            spec, config, params, opt_state, tokens[rows], elbo_key
        )
        return (params, opt_state), loss

    (params, opt_state), losses = jax.lax.scan(
        step, (params, opt_state), jax.random.split(key, config.n_iters)
    )
    return params, opt_state, losses


def fit(spec: TokenSpec, config: TrainConfig, key: jax.Array, params, opt_state, tokens):
    """Train on every row of ``tokens`` (``fit_top`` with ``K`` = 100%)."""
    full = dataclasses.replace(config, top_frac=1.0)
    ones = jnp.ones((tokens.shape[0],), bool)
    return fit_top(spec, full, key, params, opt_state, tokens, jnp.zeros(tokens.shape[0]), ones)
