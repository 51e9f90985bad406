"""LaNAS's learned partition tree as arrays: fitting every node at once, and routing.

Seed 000 (LaNAS), Sec. 3.1: node ``j`` holds a linear regressor ``f_j`` fitted by least
squares on the evaluated architectures in its region ``D_t ∩ Ω_j``; ``f_j`` and the
region's mean metric form the linear constraint that splits ``Ω_j`` into a good (left)
and a bad (right) child (Alg. 2, ``get_constraints``: left iff ``W a + b >= X̄``).

The tree is fixed and heap-ordered (node ``i`` has children ``2i+1`` and ``2i+2``);
``height`` counts levels, so there are ``2^height - 1`` nodes, ``2^(height-1) - 1`` of
them internal (with a regressor) and ``2^(height-1)`` leaves (the reference code's
height 5: 31 nodes, 16 leaves).

Why all nodes can be fitted at once: the reference splits *training* samples by their
true metric against the node's boundary, and the boundary is the mean of the node's
predictions on its own samples. A least-squares fit with an unpenalised intercept has
residuals summing to zero, so that mean is exactly the mean true metric of the node.
Every node's membership therefore follows from the metrics alone, level by level, and
all regressors are one batched (masked, ridge-regularised) solve.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


def num_internal(height: int) -> int:
    return 2 ** (height - 1) - 1


def num_nodes(height: int) -> int:
    return 2**height - 1


@struct.dataclass
class Tree:
    """A fitted partition. Internal-node arrays have ``num_internal`` rows; node statistics
    cover all nodes."""

    weights: jax.Array  # [I, D] regressor weights of internal nodes
    bias: jax.Array  # [I]
    boundary: jax.Array  # [I] split value: left iff prediction >= boundary
    count: jax.Array  # [M] evaluated samples in each node's region
    value_sum: jax.Array  # [M] sum of their metrics


def split_levels(values: jax.Array, mask: jax.Array, height: int) -> tuple[jax.Array, jax.Array]:
    """Assign each training sample to one node per level by its true metric.

    A sample at node ``i`` goes to the left child iff its metric >= the mean metric of the
    (masked) samples at ``i`` (the reference's training-sample rule).

    Returns:
      nodes: ``[height, n]`` int32, the sample's node at each level (heap index).
      means: ``[M]`` float32, each node's mean metric (0 for an empty node).
    """
    m = num_nodes(height)
    w = mask.astype(values.dtype)
    node = jnp.zeros(values.shape, jnp.int32)
    levels = [node]
    sums = jnp.zeros((m,), values.dtype)
    counts = jnp.zeros((m,), values.dtype)
    for level in range(height):
        first, width = 2**level - 1, 2**level
        onehot = (node[:, None] == first + jnp.arange(width)) * w[:, None]  # [n, width]
        s, c = values @ onehot, jnp.sum(onehot, 0)
        sums = sums.at[first : first + width].set(s)
        counts = counts.at[first : first + width].set(c)
        if level == height - 1:
            break
        mean = jnp.where(c > 0, s / jnp.maximum(c, 1), 0.0)
        go_right = values < mean[node - first]
        node = 2 * node + 1 + go_right.astype(jnp.int32)
        levels.append(node)
    means = jnp.where(counts > 0, sums / jnp.maximum(counts, 1), 0.0)
    return jnp.stack(levels), means


def fit_tree(
    features: jax.Array, values: jax.Array, mask: jax.Array, height: int, ridge: float
) -> Tree:
    """Fit every internal node's regressor on the samples of its region at once.

    Args:
      features: ``[n, D]`` encodings of the evaluated architectures.
      values: ``[n]`` their metrics.
      mask: ``[n]`` bool, which rows are real samples (the rest is buffer padding).
      height: number of tree levels (static).
      ridge: regularisation relative to the node's mean feature variance; it only makes
        the solve well-posed (one-hot encodings are collinear with the intercept).

    The boundary of node ``i`` is the mean of its predictions on its own samples, which
    for a fit with a free intercept equals the mean metric there (see module docstring).
    """
    nodes, means = split_levels(values, mask, height)
    m, d = num_nodes(height), features.shape[1]
    w = mask.astype(features.dtype)
    count = jnp.zeros((m,), features.dtype)
    value_sum = jnp.zeros((m,), features.dtype)
    gram, xsum, xysum = [], [], []
    for level in range(height):
        first, width = 2**level - 1, 2**level
        onehot = (nodes[level][:, None] == first + jnp.arange(width)) * w[:, None]  # [n, K]
        c = jnp.sum(onehot, 0)
        count = count.at[first : first + width].set(c)
        value_sum = value_sum.at[first : first + width].set(values @ onehot)
        if level == height - 1:
            break
        weighted = (onehot[:, :, None] * features[:, None, :]).reshape(-1, width * d)
        gram.append((weighted.T @ features).reshape(width, d, d))
        xsum.append(onehot.T @ features)
        xysum.append(onehot.T @ (features * values[:, None]))
    if height == 1:
        empty = jnp.zeros((0,), features.dtype)
        return Tree(jnp.zeros((0, d), features.dtype), empty, empty, count, value_sum)
    gram, xsum, xysum = (jnp.concatenate(a) for a in (gram, xsum, xysum))
    n = count[: num_internal(height)]
    ybar = means[: num_internal(height)]
    xbar = xsum / jnp.maximum(n, 1)[:, None]
    cov = gram - n[:, None, None] * xbar[:, :, None] * xbar[:, None, :]
    cross = xysum - n[:, None] * xbar * ybar[:, None]
    scale = jnp.trace(cov, axis1=1, axis2=2) / d
    eye = jnp.eye(d, dtype=features.dtype)
    reg = (ridge * scale + 1e-6)[:, None, None] * eye
    weights = jnp.linalg.solve(cov + reg, cross[:, :, None])[:, :, 0]
    bias = ybar - jnp.sum(weights * xbar, -1)
    return Tree(weights, bias, ybar, count, value_sum)


def route(features: jax.Array, tree: Tree, height: int) -> jax.Array:
    """Push candidate architectures down the tree by their PREDICTED metric.

    Returns the leaf number in ``[0, 2^(height-1))`` of every row of ``features``.
    """
    if height == 1:
        return jnp.zeros((features.shape[0],), jnp.int32)
    return walk(features @ tree.weights.T + tree.bias, tree.boundary, height)


def walk(preds: jax.Array, boundary: jax.Array, height: int) -> jax.Array:
    """The routing walk shared by every node model: from the root, left iff the node's
    prediction ``preds[:, node] >= boundary[node]``. ``preds`` is ``[N, I]`` (every internal
    node's prediction for every row); returns the leaf number of every row."""
    node = jnp.zeros((preds.shape[0],), jnp.int32)
    for _ in range(height - 1):
        p = jnp.take_along_axis(preds, node[:, None], axis=1)[:, 0]
        go_right = p < boundary[node]
        node = 2 * node + 1 + go_right.astype(jnp.int32)
    return node - num_internal(height)


def leaf_constraints(tree: Tree, leaf: int, height: int) -> tuple[jax.Array, jax.Array]:
    """The polytope of a leaf as ``A x <= b`` (Alg. 2, ``get_constraints``).

    One row per internal node on the root-to-leaf path: going left means
    ``w·x + c >= boundary`` i.e. ``-w·x <= c - boundary``; going right means
    ``w·x + c < boundary``, written ``w·x <= boundary - c``.
    """
    path = ancestors(jnp.asarray(leaf) + num_internal(height), height)
    rows, rhs = [], []
    for depth in range(height - 1):
        node, child = path[depth], path[depth + 1]
        sign = jnp.where(child == 2 * node + 1, -1.0, 1.0)
        rows.append(sign * tree.weights[node])
        rhs.append(sign * (tree.boundary[node] - tree.bias[node]))
    return jnp.stack(rows), jnp.stack(rhs)


def ancestors(node: jax.Array, height: int) -> jax.Array:
    """Heap indices of the root-to-``node`` path of a leaf (``[height]``, root first)."""
    depth = jnp.arange(height)
    return ((node + 1) >> (height - 1 - depth)) - 1
