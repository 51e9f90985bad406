"""Uniform sampling in a polytope by hit-and-run, in pure JAX.

Seed 000 (LaNAS), Sec. 3.2 step 2: new architectures are drawn uniformly inside a leaf's
polytope by MCMC. Hit-and-run (Smith 1984, "Efficient Monte Carlo procedures for
generating points uniformly distributed over bounded regions", Oper. Res. 32(6)) is the
fast option: from ``x``, draw a direction ``u`` uniformly on the sphere, intersect the line
``x + t u`` exactly with every half-space (the feasible segment ``[t_lo, t_hi]``), and move
to a uniform point of that segment. Its kernel is symmetric, so the uniform distribution
on the polytope is stationary.

Float32 safety (a point drawn at the very end of a segment, ``t = t_hi``, can round to just
outside the face that ends it):
the chain runs on the *inner* polytope ``P_delta = {A x <= b - delta, lo + delta <= x <= hi
- delta}`` (unit-norm rows, so ``delta`` is a distance), which is still an exact
hit-and-run chain, uniform on ``P_delta``; its points are ``delta`` away from every face of
``P``, far more than the rounding of ``x + t u``. Every proposal is then tested for
membership in ``P`` with ALL constraints, exactly; a proposal that fails (none has been
seen) is rejected and counted, so no returned sample is ever outside. The bias of sampling
``P_delta`` instead of ``P`` is the relative volume of a ``delta``-thin shell
(``~ delta * surface / volume``: ``1 - (1 - 2 delta)^56 ~ 1.1e-3`` for the box ``[0, 1]^56`` at
``delta = 1e-5``).

Keys: ``hit_and_run_chains(key, ...)`` runs chain ``i`` with ``jax.random.split(key,
num_chains)[i]``, so a vmapped chain equals the single chain run with that key.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.partition.polytope import EMPTY, NEAR_EMPTY, OK, OUTSIDE, Polytope, contains

_HI = jax.lax.Precision.HIGHEST


@struct.dataclass
class ChainResult:
    """Samples of one chain (or ``[chains, ...]`` when vmapped)."""

    samples: jax.Array  # [n, d]
    inside: jax.Array  # [n] bool, exact membership of each returned sample
    status: jax.Array  # [] int32: OK / NEAR_EMPTY (never moved) / EMPTY / OUTSIDE
    num_rejected: jax.Array  # [] proposals that failed the exact test (kept the old point)
    num_stuck: jax.Array  # [] steps whose feasible segment was empty


def segment(
    poly: Polytope, x: jax.Array, u: jax.Array, margin: float
) -> tuple[jax.Array, jax.Array]:
    """``[t_lo, t_hi]``: the ``t`` with ``x + t u`` in ``P_margin`` (every half-space at once).

    Row ``i`` reads ``t (a_i·u) <= s_i`` with slack ``s_i = b_i - margin - a_i·x``; rows with
    ``a_i·u > 0`` bound ``t`` above, rows with ``a_i·u < 0`` below. The box is ``2d`` more rows.
    Correct from any ``x`` (inside or not); empty when ``t_lo >= t_hi``.
    """
    au = jnp.einsum("d,md->m", u, poly.A, precision=_HI)
    ax = jnp.einsum("d,md->m", x, poly.A, precision=_HI)
    q = jnp.concatenate([au, u, -u])
    s = jnp.concatenate([poly.b - ax, poly.hi - x, x - poly.lo]) - margin
    pos, neg = q > 0, q < 0
    ratio = s / jnp.where(q != 0, q, 1.0)
    t_hi = jnp.min(jnp.where(pos, ratio, jnp.inf))
    t_lo = jnp.max(jnp.where(neg, ratio, -jnp.inf))
    return t_lo, t_hi


def _step(poly: Polytope, margin: float, carry, key):
    x, rejected, stuck = carry
    k_dir, k_t = jax.random.split(key)
    u = jax.random.normal(k_dir, x.shape, x.dtype)
    u = u / jnp.maximum(jnp.linalg.norm(u), 1e-30)
    t_lo, t_hi = segment(poly, x, u, margin)
    ok = jnp.isfinite(t_lo) & jnp.isfinite(t_hi) & (t_lo < t_hi)
    t = t_lo + jax.random.uniform(k_t, (), x.dtype) * (t_hi - t_lo)
    prop = x + jnp.where(ok, t, 0.0) * u
    good = ok & contains(poly, prop)
    x_new = jnp.where(good, prop, x)
    return (x_new, rejected + (ok & ~good), stuck + ~ok), None


@partial(jax.jit, static_argnames=("num_samples", "thin", "burn_in"))
def hit_and_run(
    key: jax.Array,
    poly: Polytope,
    x0: jax.Array,
    num_samples: int,
    thin: int = 1,
    burn_in: int = 0,
    margin: float = 1e-5,
) -> ChainResult:
    """One hit-and-run chain (Smith 1984) uniform on the polytope.

    Args:
      key: PRNG key of this chain.
      poly: the polytope (``polytope.make_polytope`` / ``leaf_polytope``).
      x0: ``[d]`` start, normally strictly inside (``polytope.interior_point``). A start
        outside is not an error: the chain enters ``P`` at the first line that meets it;
        the samples before are flagged in ``inside`` and the status is ``OUTSIDE``.
      num_samples: returned samples; ``burn_in + num_samples * thin`` steps are run.
      thin: keep every ``thin``-th step.
      burn_in: steps discarded first.
      margin: ``delta`` of the inner polytope (a distance, in the encoding's units).

    Returns a ``ChainResult``; never NaN: an empty polytope leaves the chain at ``x0``
    (status ``EMPTY``), a too-thin one (no room for ``margin``) also never moves
    (``NEAR_EMPTY`` when ``x0`` is inside).
    """
    x0 = jnp.asarray(x0, jnp.float32)
    step = partial(_step, poly, margin)
    zero = jnp.zeros((), jnp.int32)
    k_burn, k_run = jax.random.split(key)
    carry = (x0, zero, zero)
    if burn_in:
        carry, _ = jax.lax.scan(step, carry, jax.random.split(k_burn, burn_in))

    def keep(carry, k):
        carry, _ = jax.lax.scan(step, carry, jax.random.split(k, thin))
        return carry, carry[0]

    (_, rejected, stuck), samples = jax.lax.scan(keep, carry, jax.random.split(k_run, num_samples))
    inside = contains(poly, samples)
    total = burn_in + num_samples * thin
    moved = stuck < total
    status = jnp.where(
        jnp.all(inside),
        jnp.where(moved, OK, NEAR_EMPTY),
        jnp.where(jnp.any(inside), OUTSIDE, EMPTY),
    )
    return ChainResult(samples, inside, status.astype(jnp.int32), rejected, stuck)


@partial(jax.jit, static_argnames=("num_chains", "num_samples", "thin", "burn_in"))
def hit_and_run_chains(
    key: jax.Array,
    poly: Polytope,
    x0: jax.Array,
    num_chains: int,
    num_samples: int,
    thin: int = 1,
    burn_in: int = 0,
    margin: float = 1e-5,
) -> ChainResult:
    """``num_chains`` vmapped hit-and-run chains; chain ``i`` uses ``split(key, num_chains)[i]``.

    ``x0`` is ``[d]`` (shared start) or ``[num_chains, d]``. Returns a ``ChainResult`` with a
    leading chain axis: samples ``[chains, num_samples, d]``, status ``[chains]``.
    """
    x0 = jnp.broadcast_to(jnp.asarray(x0, jnp.float32), (num_chains, poly.dim))
    keys = jax.random.split(key, num_chains)
    run = partial(hit_and_run, num_samples=num_samples, thin=thin, burn_in=burn_in, margin=margin)
    return jax.vmap(run, in_axes=(0, None, 0))(keys, poly, x0)
