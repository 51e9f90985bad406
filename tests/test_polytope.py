"""Leaf polytopes (seed 000 Sec. 3.2 step 2): constraints, Chebyshev centre, hit-and-run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.benchmarks import load_benchmark
from lanas_jax.partition.hit_and_run import hit_and_run, hit_and_run_chains
from lanas_jax.partition.polytope import (
    EMPTY,
    NEAR_EMPTY,
    OK,
    OUTSIDE,
    chebyshev_centre,
    contains,
    depth,
    interior_point,
    leaf_polytope,
    leaf_polytopes,
    make_polytope,
)
from lanas_jax.partition.tree import fit_tree, route

HEIGHT = 4


@pytest.fixture(scope="module")
def fitted():
    """A tree fitted on 300 random NAS-Bench-201 cells, and the whole table's features."""
    bench = load_benchmark("nb201_cifar10")
    idx = np.random.default_rng(0).choice(bench.size, 300, replace=False)
    mask = jnp.ones((300,), bool)
    tree = fit_tree(bench.features[idx], bench.metric[idx], mask, HEIGHT, 1e-3)
    return tree, bench.features


def random_polytope(rng, d, m):
    """``m`` random half-spaces through a neighbourhood of a random point of ``[0, 1]^d``."""
    a = rng.normal(size=(m, d))
    c = rng.uniform(0.2, 0.8, size=d)
    return a, a @ c + rng.uniform(0.0, 0.3, size=m)


@pytest.mark.parametrize("d,m", [(2, 3), (30, 3)])
def test_chebyshev_centre_matches_scipy_linprog(d, m):
    from scipy.optimize import linprog  # scipy is a dependency of jax

    a, b = random_polytope(np.random.default_rng(d), d, m)
    poly = make_polytope(a, b, 0.0, 1.0)
    cheb = chebyshev_centre(poly)
    an = np.asarray(poly.A, np.float64)
    g = np.vstack([np.c_[an, np.linalg.norm(an, axis=1)], np.c_[np.eye(d), np.ones(d)],
                   np.c_[-np.eye(d), np.ones(d)]])
    h = np.r_[np.asarray(poly.b, np.float64), np.ones(d), np.zeros(d)]
    ref = linprog(np.r_[np.zeros(d), -1.0], A_ub=g, b_ub=h, bounds=[(None, None)] * (d + 1))
    assert ref.status == 0
    assert float(cheb.radius) == pytest.approx(-ref.fun, abs=1e-4)
    assert int(cheb.status) == OK
    # The reported radius is the real depth of the returned centre.
    assert float(depth(poly, cheb.centre)) >= float(cheb.radius) - 1e-6


def test_contains_requires_all_constraints_not_any():
    # x <= 0.5 and y <= 0.5: (0.2, 0.9) satisfies the first only -- outside.
    poly = make_polytope(np.eye(2), np.array([0.5, 0.5]), 0.0, 1.0)
    pts = jnp.array([[0.2, 0.9], [0.9, 0.2], [0.2, 0.3], [0.2, 1.2], [jnp.nan, 0.1]])
    np.testing.assert_array_equal(contains(poly, pts), [False, False, True, False, False])


def test_zero_row_is_a_constant_constraint():
    poly = _poly3(np.zeros((1, 2)), [-1.0])  # 0 <= -1: empty
    assert int(chebyshev_centre(poly).status) == EMPTY
    assert not bool(contains(poly, jnp.array([0.5, 0.5])))
    poly = _poly3(np.zeros((1, 2)), [2.0])  # 0 <= 2: the box
    cheb = chebyshev_centre(poly)
    assert float(cheb.radius) == pytest.approx(0.5, abs=1e-4)


def test_tabular_points_satisfy_their_leaf_and_no_other(fitted):
    tree, feats = fitted
    leaves = 2 ** (HEIGHT - 1)
    polys = leaf_polytopes(tree, HEIGHT)
    member = np.asarray(jax.vmap(contains, in_axes=(0, None), out_axes=1)(polys, feats))
    assert member.shape[1] == leaves
    np.testing.assert_array_equal(member.sum(1), 1)
    np.testing.assert_array_equal(member.argmax(1), np.asarray(route(feats, tree, HEIGHT)))


def test_hit_and_run_samples_satisfy_all_path_constraints(fitted):
    """Every sample is inside its leaf by the exact test AND the router sends it there."""
    tree, feats = fitted
    leaves = 2 ** (HEIGHT - 1)
    polys = leaf_polytopes(tree, HEIGHT)
    cheb = jax.vmap(chebyshev_centre)(polys)
    np.testing.assert_array_equal(cheb.status, OK)
    keys = jax.random.split(jax.random.key(0), leaves)
    res = jax.vmap(lambda k, p, c: hit_and_run_chains(k, p, c, 8, 50, thin=3))(
        keys, polys, cheb.centre
    )
    assert np.all(res.inside) and np.all(np.asarray(res.status) == OK)
    assert int(res.num_rejected.sum()) == 0
    for leaf in range(leaves):
        x = np.asarray(res.samples[leaf]).reshape(-1, feats.shape[1])
        np.testing.assert_array_equal(np.asarray(route(jnp.asarray(x), tree, HEIGHT)), leaf)
        # Every row of A x <= b and the box hold for every sample.
        poly = leaf_polytope(tree, leaf, HEIGHT)
        assert np.all(x @ np.asarray(poly.A).T <= np.asarray(poly.b))
        assert np.all((x >= 0) & (x <= 1))
        # The chains really move through the leaf (not stuck at the centre).
        assert np.std(x, 0).mean() > 0.05


def _clip(poly_xy, a, b):
    """Sutherland-Hodgman: the part of polygon ``poly_xy`` with ``a . p <= b``."""
    out = []
    for i in range(len(poly_xy)):
        p, q = poly_xy[i], poly_xy[(i + 1) % len(poly_xy)]
        fp, fq = a @ p - b, a @ q - b
        if fp <= 0:
            out.append(p)
        if fp * fq < 0:
            out.append(p + fp / (fp - fq) * (q - p))
    return out


def _area(poly_xy):
    if len(poly_xy) < 3:
        return 0.0
    x, y = np.array(poly_xy).T
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def test_hit_and_run_is_uniform_on_a_2d_polytope():
    """Chi-square of a 6x6 grid histogram against the exact areas of the clipped cells."""
    a = np.array([[1.0, 1.0], [1.0, -2.0], [-1.0, 0.0]])
    b = np.array([1.3, 0.4, -0.05])
    poly = _poly3(a, b)
    cheb = chebyshev_centre(poly)
    # Independent draws: the last point of each of 4,000 chains after 40 steps.
    res = hit_and_run_chains(jax.random.key(0), poly, cheb.centre, 4000, 1, burn_in=40)
    x = np.asarray(res.samples[:, 0])
    assert np.all(res.inside)
    k = 6
    areas = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            cell = [np.array(p, float) for p in
                    [(i / k, j / k), ((i + 1) / k, j / k), ((i + 1) / k, (j + 1) / k),
                     (i / k, (j + 1) / k)]]
            for row, rhs in zip(a, b, strict=True):
                cell = _clip(cell, row, rhs)
            areas[i, j] = _area(cell)
    counts, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=k, range=[[0, 1], [0, 1]])
    expected = len(x) * areas / areas.sum()
    assert counts[expected == 0].sum() == 0
    used = expected > 5
    chi2 = np.sum((counts[used] - expected[used]) ** 2 / expected[used])
    dof = used.sum() - 1
    # The 99.9% quantile of chi2(dof) is below dof + 4.5 sqrt(2 dof) for these dof.
    assert chi2 < dof + 4.5 * np.sqrt(2 * dof), (chi2, dof)
    tv = 0.5 * np.abs(counts / len(x) - areas / areas.sum()).sum()
    assert tv < 0.05, tv


# The small-polytope tests below share shapes (d = 2, 3 rows) and chain settings, so the
# samplers compile once for all of them.
def _poly3(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    pad = 3 - a.shape[0]  # redundant rows 0 <= 1
    return make_polytope(np.r_[a, np.zeros((pad, 2))], np.r_[b, np.ones(pad)], 0.0, 1.0)


def test_chains_differ_per_seed_repeat_per_key_and_match_single_runs():
    poly = _poly3([[1.0, 1.0], [1.0, -2.0], [-1.0, 0.0]], [1.3, 0.4, -0.05])
    x0 = chebyshev_centre(poly).centre
    key = jax.random.key(7)
    r1 = hit_and_run_chains(key, poly, x0, 5, 10)
    r2 = hit_and_run_chains(key, poly, x0, 5, 10)
    np.testing.assert_array_equal(r1.samples, r2.samples)
    s = np.asarray(r1.samples)
    for i in range(5):
        for j in range(i):
            assert not np.allclose(s[i], s[j])
    single = hit_and_run(jax.random.split(key, 5)[3], poly, x0, 10)
    np.testing.assert_allclose(single.samples, s[3], rtol=1e-6, atol=1e-6)
    other = hit_and_run_chains(jax.random.key(8), poly, x0, 5, 10)
    assert not np.allclose(other.samples, s)


def test_empty_polytope_gives_a_status_not_nans():
    # x <= 0.3 and x >= 0.5: empty.
    poly = _poly3([[1.0, 0.0], [-1.0, 0.0]], [0.3, -0.5])
    cheb = chebyshev_centre(poly)
    assert int(cheb.status) == EMPTY and float(cheb.radius) < 0
    x0, status = interior_point(poly, jnp.array([[0.4, 0.5]]))
    assert int(status) == EMPTY
    res = hit_and_run_chains(jax.random.key(0), poly, x0, 5, 10)
    assert np.all(np.asarray(res.status) == EMPTY)
    assert np.all(np.isfinite(res.samples)) and not np.any(res.inside)
    np.testing.assert_array_equal(res.num_stuck, 10)


def test_near_empty_polytope_is_flagged_and_the_chain_stays_put():
    # 0.5 <= x <= 0.5 + 2e-6: a slab thinner than the sampler's margin.
    poly = _poly3([[1.0, 0.0], [-1.0, 0.0]], [0.5 + 2e-6, -0.5])
    cheb = chebyshev_centre(poly)
    assert int(cheb.status) in (NEAR_EMPTY, EMPTY)
    assert float(cheb.radius) < 1e-4
    res = hit_and_run(jax.random.key(0), poly, jnp.array([0.5 + 1e-6, 0.5]), 10)
    assert int(res.status) == NEAR_EMPTY
    assert np.all(np.isfinite(res.samples))


def test_chain_started_outside_enters_and_reports_it():
    poly = _poly3([[1.0, 1.0]], [0.5])
    res = hit_and_run(jax.random.key(3), poly, jnp.array([0.9, 0.9]), 10)
    inside = np.asarray(res.inside)
    assert inside[-1] and np.all(inside[np.argmax(inside):])
    assert int(res.status) == (OUTSIDE if not inside[0] else OK)


def test_interior_point_prefers_the_leafs_own_samples(fitted):
    tree, feats = fitted
    leaf = 0
    poly = leaf_polytope(tree, leaf, HEIGHT)
    members = np.asarray(route(feats, tree, HEIGHT)) == leaf
    pts = feats[np.flatnonzero(members)[:200]]
    x0, status = interior_point(poly, pts)
    assert int(status) == OK and float(depth(poly, x0)) > 1e-4
    # The centroid of the inside samples, not the Chebyshev centre, when it is deep enough.
    centroid = np.asarray(pts).mean(0)
    if float(depth(poly, jnp.asarray(centroid))) > 1e-4:
        np.testing.assert_allclose(x0, centroid, atol=1e-5)
    # With no sample inside, the Chebyshev centre.
    x1, status = interior_point(poly, pts, mask=jnp.zeros((pts.shape[0],), bool))
    np.testing.assert_allclose(x1, chebyshev_centre(poly).centre)
    assert int(status) == OK
