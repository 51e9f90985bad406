"""NUTS inside a polytope through the radial reparameterisation (``partition/nuts.py``)."""

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.partition.nuts import ess, nuts_chains
from lanas_jax.partition.polytope import EMPTY, OK, chebyshev_centre, make_polytope


def _triangle_areas(k):
    """Exact areas of the ``k x k`` grid cells inside the test polytope, by fine quadrature of
    the indicator (the polytope's edges are straight, so a 400x400 midpoint grid per unit is
    accurate to ~1e-3 of a cell)."""
    g = (np.arange(2400) + 0.5) / 2400
    xx, yy = np.meshgrid(g, g, indexing="ij")
    inside = (xx + yy <= 1.3) & (xx - 2 * yy <= 0.4) & (xx >= 0.05)
    return inside.reshape(k, 2400 // k, k, 2400 // k).mean((1, 3))


def test_nuts_is_uniform_inside_and_reproducible():
    a = np.array([[1.0, 1.0], [1.0, -2.0], [-1.0, 0.0]])
    b = np.array([1.3, 0.4, -0.05])
    poly = make_polytope(a, b, 0.0, 1.0)
    centre = chebyshev_centre(poly).centre
    res = nuts_chains(jax.random.key(0), poly, centre, 100, 100, 60)
    x = np.asarray(res.samples)
    assert x.shape == (100, 60, 2)
    assert np.all(res.inside) and np.all(np.asarray(res.status) == OK)
    assert float(np.mean(res.diverging)) < 0.01
    eff = ess(res.samples)
    assert np.all(eff > 1000), eff  # of 6,000 draws
    k = 4
    areas = _triangle_areas(k)
    counts, _, _ = np.histogram2d(x[..., 0].ravel(), x[..., 1].ravel(), bins=k,
                                  range=[[0, 1], [0, 1]])
    tv = 0.5 * np.abs(counts / counts.sum() - areas / areas.sum()).sum()
    assert tv < 0.05, tv
    # Same key, same chains; the chains differ from each other.
    again = nuts_chains(jax.random.key(0), poly, centre, 100, 100, 60)
    np.testing.assert_array_equal(again.samples, res.samples)
    assert not np.allclose(x[0], x[1])


def test_nuts_on_an_empty_polytope_reports_empty_without_nans():
    poly = make_polytope(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]),
                         np.array([0.3, -0.5, 1.0]), 0.0, 1.0)
    cheb = chebyshev_centre(poly)
    res = nuts_chains(jax.random.key(1), poly, cheb.centre, 100, 100, 60)  # compiled above
    assert np.all(np.asarray(res.status) == EMPTY)
    assert np.all(np.isfinite(res.samples)) and not np.any(res.inside)
    np.testing.assert_allclose(res.samples, jnp.broadcast_to(cheb.centre, (100, 60, 2)))
