"""Gaussian-process regression with masked (fixed-shape) training sets, and expected improvement.

The surrogate of the BO baseline of seed 000 (LaNAS), Sec. 4.2: "Gaussian Process as the
surrogate model and expected improvement as the acquisition function" (after Krasser's 2018
tutorial, which uses an RBF kernel, a noise term and hyper-parameters fitted by maximising the
log marginal likelihood; Rasmussen & Williams 2006, Alg. 2.1 and Eq. 2.30).

Fixed shapes: a training set is ``x [S, D]``, ``y [S]`` and ``mask [S]``; rows outside the mask
get a unit diagonal and no correlation with anything, so they change neither the posterior nor
the likelihood of the real rows (a padding row adds ``log 1 = 0`` and ``0 * y = 0``).
Hyper-parameters live in log space: ``lengthscale = exp(log_lengthscale)``, ``signal variance
= exp(log_signal)``, ``noise variance = NOISE_FLOOR + exp(log_noise)`` (the floor keeps the
float32 Cholesky factor of a few thousand near-duplicate points well conditioned).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.scipy as jsp
import optax
from flax import struct

NOISE_FLOOR = 1e-4


@struct.dataclass
class GPHypers:
    log_lengthscale: jax.Array  # ()
    log_signal: jax.Array  # () log signal variance
    log_noise: jax.Array  # () log (noise variance - NOISE_FLOOR)

    @classmethod
    def create(cls, lengthscale: float, signal: float = 1.0, noise: float = 0.1) -> GPHypers:
        return cls(
            log_lengthscale=jnp.log(jnp.float32(lengthscale)),
            log_signal=jnp.log(jnp.float32(signal)),
            log_noise=jnp.log(jnp.float32(noise - NOISE_FLOOR)),
        )

    @property
    def lengthscale(self) -> jax.Array:
        return jnp.exp(self.log_lengthscale)

    @property
    def signal(self) -> jax.Array:
        return jnp.exp(self.log_signal)

    @property
    def noise(self) -> jax.Array:
        return NOISE_FLOOR + jnp.exp(self.log_noise)


def rbf(x1: jax.Array, x2: jax.Array, hypers: GPHypers) -> jax.Array:
    """``signal * exp(-|x1 - x2|^2 / (2 lengthscale^2))``: ``[A, D] x [B, D] -> [A, B]``."""
    d2 = (
        jnp.sum(x1**2, -1)[:, None]
        + jnp.sum(x2**2, -1)[None, :]
        - 2.0 * x1 @ x2.T
    )
    d2 = jnp.maximum(d2, 0.0)
    return hypers.signal * jnp.exp(-0.5 * d2 / hypers.lengthscale**2)


def masked_gram(x: jax.Array, mask: jax.Array, hypers: GPHypers) -> jax.Array:
    """``K + noise I`` on the masked rows; identity rows and columns elsewhere."""
    both = mask[:, None] & mask[None, :]
    k = jnp.where(both, rbf(x, x, hypers), 0.0)
    return k + jnp.diag(jnp.where(mask, hypers.noise, 1.0))


def neg_log_marginal_likelihood(
    hypers: GPHypers, x: jax.Array, y: jax.Array, mask: jax.Array
) -> jax.Array:
    """``-log p(y | x)`` of the masked rows (Rasmussen & Williams Eq. 2.30)."""
    chol = jnp.linalg.cholesky(masked_gram(x, mask, hypers))
    y = jnp.where(mask, y, 0.0)
    alpha = jsp.linalg.cho_solve((chol, True), y)
    n = jnp.sum(mask)
    return (
        0.5 * jnp.dot(y, alpha)
        + jnp.sum(jnp.log(jnp.diagonal(chol)))
        + 0.5 * n * math.log(2.0 * math.pi)
    )


def adam(learning_rate) -> optax.GradientTransformation:
    """The optimiser of the hyper-parameters (its state is carried between fits)."""
    return optax.adam(learning_rate)


def fit_hypers(
    hypers: GPHypers,
    opt_state: optax.OptState,
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    steps: int,
    learning_rate,
) -> tuple[GPHypers, optax.OptState]:
    """``steps`` Adam steps on the negative log marginal likelihood (warm-started)."""
    tx = adam(learning_rate)
    grad_fn = jax.grad(neg_log_marginal_likelihood)

    def step(carry, _):
        h, opt = carry
        g = grad_fn(h, x, y, mask)
        g = jax.tree.map(lambda a: jnp.where(jnp.isfinite(a), a, 0.0), g)
        updates, opt = tx.update(g, opt, h)
        h = optax.apply_updates(h, updates)
        # Keep the log hyper-parameters in a range where float32 stays well conditioned.
        h = jax.tree.map(lambda a: jnp.clip(a, -8.0, 8.0), h)
        return (h, opt), None

    (hypers, opt_state), _ = jax.lax.scan(step, (hypers, opt_state), None, length=steps)
    return hypers, opt_state


def posterior(
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    hypers: GPHypers,
    queries: jax.Array,
    chunk: int = 512,
) -> tuple[jax.Array, jax.Array]:
    """Posterior mean and variance of the latent function at ``queries [Q, D]``.

    ``mu = k_*^T (K + s^2 I)^-1 y`` and ``var = k(x_*, x_*) - v^T v`` with ``v = L^-1 k_*``
    (Rasmussen & Williams Alg. 2.1). The queries are processed ``chunk`` rows at a time, so
    the cross-kernel never holds more than ``chunk x S`` numbers.
    """
    chol = jnp.linalg.cholesky(masked_gram(x, mask, hypers))
    alpha = jsp.linalg.cho_solve((chol, True), jnp.where(mask, y, 0.0))
    q = queries.shape[0]
    chunk = max(1, min(chunk, q))
    pad = (-q) % chunk
    padded = jnp.concatenate([queries, jnp.zeros((pad, queries.shape[1]), queries.dtype)])

    def one(block):
        ks = jnp.where(mask[None, :], rbf(block, x, hypers), 0.0)  # [chunk, S]
        mu = ks @ alpha
        v = jsp.linalg.solve_triangular(chol, ks.T, lower=True)  # [S, chunk]
        var = hypers.signal - jnp.sum(v**2, 0)
        return mu, jnp.maximum(var, 0.0)

    mu, var = jax.lax.map(one, padded.reshape(-1, chunk, queries.shape[1]))
    return mu.reshape(-1)[:q], var.reshape(-1)[:q]


def expected_improvement(mu: jax.Array, var: jax.Array, best: jax.Array, xi=0.0) -> jax.Array:
    """EI for maximisation: ``E[max(f - best - xi, 0)]`` under ``f ~ N(mu, var)``.

    ``(mu - best - xi) Phi(z) + sigma phi(z)`` with ``z = (mu - best - xi) / sigma``; where
    ``sigma = 0`` it is ``max(mu - best - xi, 0)``.
    """
    sigma = jnp.sqrt(var)
    improvement = mu - best - xi
    safe = jnp.where(sigma > 0, sigma, 1.0)
    z = improvement / safe
    ei = improvement * jax.scipy.stats.norm.cdf(z) + safe * jax.scipy.stats.norm.pdf(z)
    return jnp.where(sigma > 0, ei, jnp.maximum(improvement, 0.0))
