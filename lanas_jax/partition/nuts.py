"""Uniform sampling in a polytope with NumPyro's NUTS, through a radial reparameterisation.

Seed 000 (LaNAS), Sec. 3.2 step 2 draws new architectures uniformly inside a leaf's
polytope by MCMC (the paper used PyMC); the design card names NumPyro NUTS (Hoffman &
Gelman 2014, "The No-U-Turn Sampler", JMLR 15). NUTS on the flat density itself fails:
the potential is constant inside and +inf at the wall, so every trajectory that reaches a
face diverges. Here the uniform distribution is
pulled back to an unconstrained space where its density is smooth and positive everywhere:

* pick an interior centre ``c`` (the Chebyshev centre) and write ``x = c + rho u`` with a
  direction ``u`` and radius ``rho <= R(u)``, ``R(u)`` the exact distance from ``c`` to the
  boundary along ``u`` (the polytope is convex, hence star-shaped about ``c``);
* uniform ``x`` has density ``rho^(d-1)`` in ``(rho, u)``; with ``rho = R(u) v^(1/d)`` the
  pair ``(u, v)`` has density ``R(u)^d`` times uniform ``v`` on ``[0, 1]``;
* ``u = y / |y|`` with ``y ~ N(0, I_d)`` (the direction of a standard normal is uniform on
  the sphere; ``|y|`` is an independent nuisance), ``v = sigmoid(zeta)`` with
  ``zeta`` logistic.

The potential on ``(y, zeta) in R^(d+1)`` is
``U = |y|^2 / 2 - d log R(y/|y|) + softplus(zeta) + softplus(-zeta)``: continuous, finite,
no wall. ``R`` is taken on the inner polytope ``P_delta`` (faces moved in by ``margin``,
unit-norm rows) so float32 points stay inside ``P``; every returned sample is then tested
for ALL constraints exactly (``inside``). The price is the direction marginal ``R(u)^d``,
sharply peaked in high dimension (towards far corners of the box), so trees are deep: this
is the slow, faithful sampler, hit-and-run the fast one (``experiments/bench_samplers.py``).

Chains are ``jax.vmap``-ed over ``numpyro.infer.hmc.hmc``'s ``init_kernel`` / ``sample_kernel``
(what ``MCMC(..., chain_method="vectorized")`` does), scanned with warmup adaptation of the
step size and a diagonal mass matrix; chain ``i`` uses ``jax.random.split(key, chains)[i]``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from numpyro.diagnostics import effective_sample_size
from numpyro.infer.hmc import hmc

from lanas_jax.partition.polytope import EMPTY, NEAR_EMPTY, OK, OUTSIDE, Polytope, contains, depth

_HI = jax.lax.Precision.HIGHEST


@struct.dataclass
class NutsResult:
    """Samples of one NUTS chain (or ``[chains, ...]`` when vmapped)."""

    samples: jax.Array  # [n, d]
    inside: jax.Array  # [n] bool, exact membership of each returned sample
    status: jax.Array  # [] int32: OK / NEAR_EMPTY / EMPTY / OUTSIDE
    diverging: jax.Array  # [n] bool, divergent transitions (after warmup)
    num_steps: jax.Array  # [n] leapfrog steps per draw
    accept_prob: jax.Array  # [] mean acceptance statistic after warmup
    step_size: jax.Array  # [] adapted step size


def ray_length(poly: Polytope, centre: jax.Array, u: jax.Array, margin: float) -> jax.Array:
    """``R(u)``: largest ``t`` with ``centre + t u`` in ``P_margin`` (``centre`` inside it)."""
    q = jnp.concatenate([jnp.einsum("d,md->m", u, poly.A, precision=_HI), u, -u])
    ac = jnp.einsum("d,md->m", centre, poly.A, precision=_HI)
    s = jnp.concatenate([poly.b - ac, poly.hi - centre, centre - poly.lo]) - margin
    s = jnp.maximum(s, 0.0)
    pos = q > 1e-12
    return jnp.min(jnp.where(pos, s / jnp.where(pos, q, 1.0), jnp.inf))


def to_point(
    poly: Polytope, centre: jax.Array, y: jax.Array, zeta: jax.Array, margin: float
) -> jax.Array:
    """The polytope point of unconstrained ``(y, zeta)``: ``c + R(u) sigmoid(zeta)^(1/d) u``."""
    u = y / jnp.maximum(jnp.linalg.norm(y), 1e-30)
    v = jax.nn.sigmoid(zeta)
    return centre + ray_length(poly, centre, u, margin) * v ** (1.0 / y.shape[-1]) * u


def potential(
    poly: Polytope, centre: jax.Array, params: dict, margin: float
) -> jax.Array:
    """Negative log density of ``(y, zeta)`` whose image under ``to_point`` is uniform."""
    y, zeta = params["y"], params["zeta"]
    d = y.shape[-1]
    u = y / jnp.maximum(jnp.linalg.norm(y), 1e-30)
    log_r = jnp.log(jnp.maximum(ray_length(poly, centre, u, margin), 1e-30))
    return 0.5 * jnp.sum(y * y) - d * log_r + jax.nn.softplus(zeta) + jax.nn.softplus(-zeta)


@partial(jax.jit, static_argnames=("num_warmup", "num_samples", "max_tree_depth"))
def nuts(
    key: jax.Array,
    poly: Polytope,
    centre: jax.Array,
    num_warmup: int,
    num_samples: int,
    max_tree_depth: int = 10,
    target_accept_prob: float = 0.8,
    margin: float = 1e-5,
) -> NutsResult:
    """One NUTS chain (Hoffman & Gelman 2014) uniform on the polytope, radially reparameterised.

    Args:
      key: PRNG key of this chain.
      poly: the polytope.
      centre: ``[d]`` point at least ``margin`` inside (``chebyshev_centre(poly).centre``).
      num_warmup: adaptation draws (step size, diagonal mass), discarded.
      num_samples: returned draws.
      max_tree_depth: NUTS tree depth cap (at most ``2^depth - 1`` leapfrog steps per draw).
      target_accept_prob: dual-averaging target.
      margin: faces moved in by this distance (see module docstring).

    Returns a ``NutsResult``. Never NaN: a centre without room (empty or near-empty
    polytope) gives ``R = 0``, so every draw is the centre; status ``NEAR_EMPTY`` if the
    centre is inside but less than ``margin`` deep, ``EMPTY`` if it is outside.
    """
    centre = jnp.asarray(centre, jnp.float32)
    d = centre.shape[-1]
    pe = partial(potential, poly, centre, margin=margin)
    init_kernel, sample_kernel = hmc(potential_fn=pe, algo="NUTS")
    k_y, k_z, k_run = jax.random.split(key, 3)
    init = {
        "y": jax.random.normal(k_y, (d,), jnp.float32),
        "zeta": jax.random.logistic(k_z, (), jnp.float32),
    }
    state = init_kernel(
        init,
        num_warmup,
        max_tree_depth=max_tree_depth,
        target_accept_prob=target_accept_prob,
        rng_key=k_run,
    )

    def body(state, _):
        state = sample_kernel(state)
        out = (state.z, state.diverging, state.num_steps, state.accept_prob)
        return state, out

    state, (z, div, steps, acc) = jax.lax.scan(body, state, None, num_warmup + num_samples)
    z = jax.tree.map(lambda a: a[num_warmup:], z)
    samples = jax.vmap(partial(to_point, poly, centre, margin=margin))(z["y"], z["zeta"])
    inside = contains(poly, samples)
    room = depth(poly, centre) > margin
    status = jnp.where(
        jnp.all(inside),
        jnp.where(room, OK, NEAR_EMPTY),
        jnp.where(jnp.any(inside), OUTSIDE, EMPTY),
    )
    return NutsResult(
        samples,
        inside,
        status.astype(jnp.int32),
        div[num_warmup:],
        steps[num_warmup:],
        jnp.mean(acc[num_warmup:]),
        state.adapt_state.step_size,
    )


@partial(jax.jit, static_argnames=("num_chains", "num_warmup", "num_samples", "max_tree_depth"))
def nuts_chains(
    key: jax.Array,
    poly: Polytope,
    centre: jax.Array,
    num_chains: int,
    num_warmup: int,
    num_samples: int,
    max_tree_depth: int = 10,
    target_accept_prob: float = 0.8,
    margin: float = 1e-5,
) -> NutsResult:
    """``num_chains`` vmapped NUTS chains (``chain_method="vectorized"``); chain ``i`` uses
    ``split(key, num_chains)[i]``. Results carry a leading chain axis."""
    keys = jax.random.split(key, num_chains)
    run = partial(
        nuts,
        num_warmup=num_warmup,
        num_samples=num_samples,
        max_tree_depth=max_tree_depth,
        target_accept_prob=target_accept_prob,
        margin=margin,
    )
    return jax.vmap(run, in_axes=(0, None, None))(keys, poly, centre)


def ess(samples: jax.Array) -> np.ndarray:
    """Effective sample size per coordinate (``numpyro.diagnostics``) of ``[chains, n, d]``."""
    return np.asarray(effective_sample_size(np.asarray(samples, np.float64)))
