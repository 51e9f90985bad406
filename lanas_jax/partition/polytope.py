"""A leaf's region as a polytope ``{x : A x <= b, lo <= x <= hi}``: membership, Chebyshev centre.

Seed 000 (LaNAS), Sec. 3.2 step 2 and Alg. 2 (``get_constraints``): the actions on a
root-to-leaf path impose one linear constraint per internal node, and together with the box
of the relaxed encoding (``[0, 1]^d`` for one-hot codes) they bound the leaf's polytope, in
which new architectures are drawn uniformly by MCMC (``hit_and_run.py``, ``nuts.py``).

Conventions:

* Rows of ``A`` are normalised to unit Euclidean norm when the polytope is built, so a slack
  ``b_i - a_i·x`` is the distance to the hyperplane (the same set; it makes margins and the
  Chebyshev LP well scaled). A zero row ``0·x <= b`` is replaced by an equivalent constant
  row (``0 <= 1`` when ``b >= 0``, ``0 <= -1`` -- empty -- otherwise).
* Membership is *exact*: every row ``A x <= b`` and every box bound must hold in the working
  precision; no tolerance. (The reference one-shot code accepted a point when ANY single
  constraint held; here it is ALL of them.) Products use ``Precision.HIGHEST`` so a GPU does
  not silently drop to TF32.
* The Chebyshev centre (the centre of the largest inscribed ball) is the LP
  ``max r  s.t.  a_i·c + r |a_i| <= b_i,  lo + r <= c <= hi - r``. With ``r`` free the LP is
  always feasible and, for a finite box, bounded, so it never fails: its optimum ``r* < 0``
  means the polytope is empty, ``0 <= r* < tol`` near-empty. It is solved here in pure JAX
  by a primal-dual interior-point method (Mehrotra 1992 style path following with a fixed
  centring parameter) started from a strictly feasible point -- jit-able and vmap-able, no
  host round trip; ``tests/test_polytope.py`` checks it against ``scipy.optimize.linprog``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.partition.tree import Tree, leaf_constraints

# Status codes shared by the polytope helpers and both samplers.
OK = 0  # the polytope has an inscribed ball of radius >= tol; every sample is inside
NEAR_EMPTY = 1  # inscribed radius in [0, tol): flat or tiny; samples (if any) stay put
EMPTY = 2  # no point satisfies all constraints (radius < 0), or no sample is inside
OUTSIDE = 3  # a chain started outside and some returned samples are outside (see `inside`)
STATUS_NAMES = {OK: "ok", NEAR_EMPTY: "near_empty", EMPTY: "empty", OUTSIDE: "outside"}

_HI = jax.lax.Precision.HIGHEST


@struct.dataclass
class Polytope:
    """``{x : A x <= b, lo <= x <= hi}`` with unit-norm rows of ``A`` (see module docstring)."""

    A: jax.Array  # [m, d]
    b: jax.Array  # [m]
    lo: jax.Array  # [d]
    hi: jax.Array  # [d]

    @property
    def dim(self) -> int:
        return self.A.shape[-1]


@struct.dataclass
class Centre:
    """Result of ``chebyshev_centre``: ``radius < 0`` iff the polytope is empty."""

    centre: jax.Array  # [d]
    radius: jax.Array  # []
    status: jax.Array  # [] int32: OK / NEAR_EMPTY / EMPTY


def make_polytope(A: jax.Array, b: jax.Array, lo: jax.Array, hi: jax.Array) -> Polytope:
    """Build a polytope from raw half-spaces ``A x <= b`` and a finite box, normalising rows."""
    A = jnp.asarray(A, jnp.float32)
    b = jnp.asarray(b, jnp.float32)
    d = A.shape[-1]
    lo = jnp.broadcast_to(jnp.asarray(lo, jnp.float32), (d,))
    hi = jnp.broadcast_to(jnp.asarray(hi, jnp.float32), (d,))
    norm = jnp.sqrt(jnp.sum(A * A, -1))
    zero = norm <= 1e-30
    safe = jnp.where(zero, 1.0, norm)
    A = jnp.where(zero[:, None], 0.0, A / safe[:, None])
    b = jnp.where(zero, jnp.where(b >= 0, 1.0, -1.0), b / safe)
    return Polytope(A, b, lo, hi)


def box_polytope(lo: jax.Array, hi: jax.Array) -> Polytope:
    """The box alone (no general constraints)."""
    lo = jnp.asarray(lo, jnp.float32)
    return make_polytope(jnp.zeros((0, lo.shape[-1])), jnp.zeros((0,)), lo, hi)


def leaf_polytope(
    tree: Tree, leaf: int | jax.Array, height: int, lo: jax.Array | float = 0.0,
    hi: jax.Array | float = 1.0,
) -> Polytope:
    """A leaf's polytope: ``leaf_constraints`` (one row per internal node on its path) plus the
    box ``[lo, hi]`` of the relaxed encoding (default ``[0, 1]^d``, the one-hot box)."""
    if height == 1:
        d = tree.weights.shape[-1]
        return make_polytope(jnp.zeros((0, d)), jnp.zeros((0,)), lo, hi)
    A, b = leaf_constraints(tree, leaf, height)
    return make_polytope(A, b, lo, hi)


def leaf_polytopes(
    tree: Tree, height: int, lo: jax.Array | float = 0.0, hi: jax.Array | float = 1.0
) -> Polytope:
    """Every leaf's polytope at once: a ``Polytope`` whose arrays carry a leading leaf axis
    (``A [L, height - 1, d]``), leaf ``j`` being ``leaf_polytope(tree, j, height)``."""
    leaves = jnp.arange(2 ** (height - 1))
    return jax.vmap(lambda j: leaf_polytope(tree, j, height, lo, hi))(leaves)


def slacks(poly: Polytope, x: jax.Array) -> jax.Array:
    """Distances of ``x`` (``[..., d]``) to every face: ``[..., m + 2d]``, negative outside."""
    ax = jnp.einsum("...d,md->...m", x, poly.A, precision=_HI)
    return jnp.concatenate([poly.b - ax, x - poly.lo, poly.hi - x], -1)


def depth(poly: Polytope, x: jax.Array) -> jax.Array:
    """The smallest slack (``[...]``): > 0 strictly inside, < 0 outside."""
    return jnp.min(slacks(poly, x), -1)


def contains(poly: Polytope, x: jax.Array) -> jax.Array:
    """Exact membership (``[...]`` bool): ALL of ``A x <= b``, ``lo <= x``, ``x <= hi``."""
    ax = jnp.einsum("...d,md->...m", x, poly.A, precision=_HI)
    rows = jnp.all(ax <= poly.b, -1)
    box = jnp.all((x >= poly.lo) & (x <= poly.hi), -1)
    return rows & box & jnp.all(jnp.isfinite(x), -1)


def _lp_matrices(poly: Polytope) -> tuple[jax.Array, jax.Array]:
    """``G z <= h`` for ``z = [c, r]`` of the Chebyshev LP."""
    d = poly.dim
    rnorm = jnp.sqrt(jnp.sum(poly.A * poly.A, -1))
    # A replaced zero row reads 0 <= +-1: as an LP row, r <= -1 if it is infeasible, else 0 <= 1.
    rcoef = jnp.where(rnorm > 0.5, rnorm, jnp.where(poly.b < 0, 1.0, 0.0))
    eye = jnp.eye(d, dtype=jnp.float32)
    ones = jnp.ones((d, 1), jnp.float32)
    G = jnp.concatenate(
        [
            jnp.concatenate([poly.A, rcoef[:, None]], 1),
            jnp.concatenate([eye, ones], 1),
            jnp.concatenate([-eye, ones], 1),
        ],
        0,
    )
    h = jnp.concatenate([poly.b, poly.hi, -poly.lo])
    return G, h


@partial(jax.jit, static_argnames="num_iters")
def chebyshev_centre(
    poly: Polytope, tol: float = 1e-4, num_iters: int = 30, sigma: float = 0.1
) -> Centre:
    """The centre and radius of the largest ball inside the polytope (Chebyshev centre).

    Solves ``min -r  s.t.  G z + s = h, s >= 0`` (``z = [c, r]``) by a primal-dual
    interior-point method: Newton steps on the perturbed KKT system
    ``G^T lam = e_r, G z + s = h, s * lam = sigma * mu`` with a fraction-to-boundary step
    (0.95), from the strictly feasible start ``c = (lo + hi) / 2``, ``r = min slack - 1``.
    At most ``num_iters`` iterations (a ``while_loop`` that stops at convergence or when a
    step is not finite), float32; the radius is accurate to ~1e-5 of the box scale.

    Returns ``Centre(centre, radius, status)`` with status ``EMPTY`` if ``radius < 0``,
    ``NEAR_EMPTY`` if ``radius < tol``, else ``OK``.
    """
    G, h = _lp_matrices(poly)
    n_rows, n_var = G.shape
    cost = jnp.zeros((n_var,), jnp.float32).at[-1].set(-1.0)
    c0 = 0.5 * (poly.lo + poly.hi)
    s_c = h - G[:, :-1] @ c0
    has_r = G[:, -1] > 0
    r0 = jnp.min(jnp.where(has_r, s_c / jnp.where(has_r, G[:, -1], 1.0), jnp.inf)) - 1.0
    z0 = jnp.concatenate([c0, r0[None]])
    s0 = h - G @ z0
    lam0 = jnp.ones((n_rows,), jnp.float32) / jnp.maximum(s0, 1e-3)
    scale = 1.0 + jnp.max(jnp.abs(h))

    def step(state):
        i, z, s, lam, done = state
        mu = jnp.dot(s, lam) / n_rows
        r_dual = cost + G.T @ lam
        r_prim = G @ z + s - h
        converged = (mu < 1e-8 * scale) & (jnp.max(jnp.abs(r_dual)) < 1e-6)
        target = sigma * mu
        dvec = lam / s
        rhs = -r_dual - G.T @ ((target - s * lam + lam * r_prim) / s)
        M = (G.T * dvec) @ G
        M = M + (1e-9 * jnp.trace(M) / n_var + 1e-12) * jnp.eye(n_var, dtype=M.dtype)
        dz = jnp.linalg.solve(M, rhs)
        ds = -r_prim - G @ dz
        dlam = (target - s * lam - lam * ds) / s
        ratio_s = jnp.where(ds < 0, -s / jnp.where(ds < 0, ds, -1.0), jnp.inf)
        ratio_l = jnp.where(dlam < 0, -lam / jnp.where(dlam < 0, dlam, -1.0), jnp.inf)
        alpha = jnp.minimum(1.0, 0.95 * jnp.minimum(jnp.min(ratio_s), jnp.min(ratio_l)))
        ok = jnp.all(jnp.isfinite(dz)) & jnp.all(jnp.isfinite(dlam)) & ~done & ~converged
        z = jnp.where(ok, z + alpha * dz, z)
        s = jnp.where(ok, s + alpha * ds, s)
        lam = jnp.where(ok, lam + alpha * dlam, lam)
        return i + 1, z, s, lam, done | converged | ~ok

    def more(state):
        return (state[0] < num_iters) & ~state[-1]

    init = (jnp.zeros((), jnp.int32), z0, s0, lam0, jnp.array(False))
    _, z, _, _, _ = jax.lax.while_loop(more, step, init)
    centre, radius = z[:-1], z[-1]
    # The reported radius is the true depth of the returned centre (never optimistic).
    radius = jnp.minimum(radius, depth(poly, centre))
    status = jnp.where(radius < 0, EMPTY, jnp.where(radius < tol, NEAR_EMPTY, OK))
    return Centre(centre, radius, status.astype(jnp.int32))


@jax.jit
def interior_point(
    poly: Polytope,
    points: jax.Array | None = None,
    mask: jax.Array | None = None,
    margin: float = 1e-4,
    tol: float = 1e-4,
    cheb: Centre | None = None,
) -> tuple[jax.Array, jax.Array]:
    """A starting point strictly inside the polytope, and a status.

    Candidates are the given ``points`` (``[n, d]``, e.g. the leaf's own evaluated samples,
    ``mask`` marking the real rows) and the centroid of those that are inside (inside by
    convexity, and strictly inside even when every sample sits on a face of the box, as
    one-hot codes do). The deepest candidate is used if its depth exceeds ``margin``;
    otherwise the Chebyshev centre (seed 000 Sec. 3.2 step 2 needs a start point inside the
    leaf; the LP gives one whenever the leaf has an interior).

    ``cheb`` is a precomputed ``chebyshev_centre(poly)`` (it is solved here when omitted).

    Returns ``(x0 [d], status)`` with the Chebyshev status when the LP was needed.
    """
    if cheb is None:
        cheb = chebyshev_centre(poly, tol=tol)
    if points is None:
        return cheb.centre, cheb.status
    points = jnp.asarray(points, jnp.float32)
    if mask is None:
        mask = jnp.ones(points.shape[:1], bool)
    inside = contains(poly, points) & mask
    w = inside.astype(jnp.float32)
    centroid = (w @ points) / jnp.maximum(jnp.sum(w), 1.0)
    cands = jnp.concatenate([points, centroid[None]], 0)
    valid = jnp.concatenate([inside, jnp.any(inside)[None]])
    depths = jnp.where(valid, depth(poly, cands), -jnp.inf)
    best = jnp.argmax(depths)
    use_sample = depths[best] > margin
    x0 = jnp.where(use_sample, cands[best], cheb.centre)
    status = jnp.where(use_sample, OK, cheb.status).astype(jnp.int32)
    return x0, status
