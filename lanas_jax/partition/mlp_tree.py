"""LaNAS's partition tree with a small MLP regressor at every internal node (Fig. 6b).

Seed 000 (LaNAS), Sec. 4.5 "Ablation studies", *Choice of classifiers*: "Fig. 6b shows that
using a linear classifier performs better than an multi-layer perceptron (MLP) classifier.
This indicates that adding complexity to decision boundary of actions may not help with the
performance." (Fig. 6 caption: "(b) the choice of predictor for splitting search space".)
This module is the MLP side of that ablation; ``tree.py`` is the linear side, and everything
else (the tree's shape, the training-sample split, UCB, the leaf samplers) is shared.

What is the same as ``tree.fit_tree`` / ``tree.route``:

* Node membership of the *training* samples follows from their true metric alone
  (``split_levels``: a sample at node ``i`` goes left iff its metric >= the mean metric of
  ``i``'s samples), so the node statistics ``count`` / ``value_sum`` that UCB reads are
  exactly ``fit_tree``'s, and every node can be trained at once.
* The boundary of a node is the mean of its regressor's predictions on the node's own samples
  (the reference code's rule). For the least-squares line that is the node's mean metric; for
  an MLP it is whatever the fit gives (close to the mean metric when the output bias has
  converged, since then the residuals sum to zero).
* Candidates are routed by their PREDICTED metric: left iff prediction >= boundary
  (``tree.walk``, the same walk ``tree.route`` uses). An empty node predicts 0 with boundary 0,
  so everything goes left there, as with the linear fit's zero regressor.

The node model: ``x -> w2 · tanh(W1 x + b1) + b2`` (one hidden layer of ``hidden`` tanh
units), trained on the node's standardised metrics ``z = (v - mean) / std`` by full-batch Adam
for a fixed number of steps from a fresh LeCun-normal initialisation drawn from the key (the
same key gives the same tree); predictions are ``mean + std * output`` in metric units. A node
whose metrics are (numerically) constant predicts its mean everywhere. All internal nodes are
trained together: their parameters are stacked on a leading node axis, the loss is the sum of
per-node masked mean squared errors over the whole sample buffer (a sample weighs 1 / n_j in
node ``j`` when it belongs there, 0 otherwise), and since Adam is element-wise that is
exactly one independent Adam run per node, vmapped. The cost of a fit is
``steps x n x D x hidden x (2^(height-1) - 1)`` multiply-adds (three passes), so deep trees
and large budgets are GPU work. The reference trains its linear nodes by Adam too (lr 1e-5,
20,000 epochs, then 3,000 warm-started); the project's linear nodes are closed-form instead
(``tree.py``), and the MLP nodes here are re-initialised at every refit (no warm start), so a
refit depends only on the evaluated samples and the key.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct

from lanas_jax.partition.tree import num_internal, num_nodes, split_levels, walk

#: Candidates are routed in blocks of this many rows (bounds the ``[rows, I * hidden]``
#: hidden activations for large tables such as NAS-Bench-101's 423k cells).
ROUTE_BLOCK = 8192
#: A node whose metric standard deviation is at most this predicts its mean everywhere.
CONSTANT_STD = 1e-6


@struct.dataclass
class MLPTree:
    """A fitted partition with MLP nodes. Internal-node arrays have ``num_internal`` rows;
    ``count`` and ``value_sum`` cover all nodes (as ``tree.Tree``'s)."""

    w1: jax.Array  # [I, D, H]
    b1: jax.Array  # [I, H]
    w2: jax.Array  # [I, H]
    b2: jax.Array  # [I]
    y_mean: jax.Array  # [I] the node's mean metric (prediction = y_mean + y_scale * output)
    y_scale: jax.Array  # [I] its standard deviation (0 for an empty or constant node)
    boundary: jax.Array  # [I] split value in metric units: left iff prediction >= boundary
    count: jax.Array  # [M] evaluated samples in each node's region
    value_sum: jax.Array  # [M] sum of their metrics


def init_params(key: jax.Array, num: int, dim: int, hidden: int) -> dict:
    """LeCun-normal weights and zero biases for ``num`` stacked one-hidden-layer MLPs."""
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (num, dim, hidden)) / jnp.sqrt(max(dim, 1)),
        "b1": jnp.zeros((num, hidden)),
        "w2": jax.random.normal(k2, (num, hidden)) / jnp.sqrt(hidden),
        "b2": jnp.zeros((num,)),
    }


def outputs(params: dict, features: jax.Array) -> jax.Array:
    """Every node's (standardised) output on every row: ``[n, I]``."""
    num, dim, hidden = params["w1"].shape
    w1 = jnp.transpose(params["w1"], (1, 0, 2)).reshape(dim, num * hidden)
    h = jnp.tanh(features @ w1 + params["b1"].reshape(-1))  # [n, I * H]
    if num <= dim:
        # The output layer as one block-diagonal matmul: no more work than the first layer
        # (I <= D) and about twice as fast on CPU as the batched reduction below.
        w2 = (params["w2"][:, :, None] * jnp.eye(num)[:, None, :]).reshape(num * hidden, num)
        return h @ w2 + params["b2"]
    return jnp.sum(h.reshape(-1, num, hidden) * params["w2"], -1) + params["b2"]


def membership(nodes: jax.Array, mask: jax.Array, num: int) -> jax.Array:
    """``[n, num]`` float: 1 where sample ``i`` (a real one) lies in node ``j < num``'s region
    (``nodes`` is ``split_levels``'s ``[height, n]``: one node per level)."""
    ids = jnp.arange(num)
    inside = jnp.zeros((nodes.shape[-1], num), bool)
    for level in nodes:
        inside = inside | (level[:, None] == ids)
    return inside.astype(jnp.float32) * mask.astype(jnp.float32)[:, None]


def node_stats(nodes: jax.Array, values: jax.Array, mask: jax.Array, height: int):
    """``(count, value_sum)`` of every node (``[M]`` each), summed level by level exactly as
    ``tree.fit_tree`` does, so both node models hand UCB identical statistics."""
    w = mask.astype(values.dtype)
    count = jnp.zeros((num_nodes(height),), values.dtype)
    value_sum = jnp.zeros((num_nodes(height),), values.dtype)
    for level in range(height):
        first, width = 2**level - 1, 2**level
        onehot = (nodes[level][:, None] == first + jnp.arange(width)) * w[:, None]
        count = count.at[first : first + width].set(jnp.sum(onehot, 0))
        value_sum = value_sum.at[first : first + width].set(values @ onehot)
    return count, value_sum


def fit_mlp_tree(
    key: jax.Array,
    features: jax.Array,
    values: jax.Array,
    mask: jax.Array,
    height: int,
    hidden: int = 32,
    steps: int = 200,
    learning_rate: float = 1e-2,
) -> MLPTree:
    """Fit every internal node's MLP on the samples of its region at once.

    Args:
      key: draws the initial weights (the only randomness; same key, same tree).
      features: ``[n, D]`` encodings of the evaluated architectures.
      values: ``[n]`` their metrics.
      mask: ``[n]`` bool, which rows are real samples (the rest is buffer padding).
      height: number of tree levels (static).
      hidden, steps, learning_rate: the MLP's width, full-batch Adam steps and rate (static).
    """
    nodes, _ = split_levels(values, mask, height)
    values, features = values.astype(jnp.float32), features.astype(jnp.float32)
    count, value_sum = node_stats(nodes, values, mask, height)
    i, d = num_internal(height), features.shape[1]
    n = count[:i]
    # [n, I]: sample weights 1 / n_j inside node j, 0 outside (each column sums to 1 or 0).
    weight = membership(nodes[:-1], mask, i) / jnp.maximum(n, 1.0)
    y_mean = value_sum[:i] / jnp.maximum(n, 1.0)
    resid = values[:, None] - y_mean
    std = jnp.sqrt(jnp.sum(weight * resid**2, 0))
    y_scale = jnp.where(std > CONSTANT_STD, std, 0.0)
    target = resid / jnp.where(y_scale > 0, y_scale, 1.0)

    params = init_params(key, i, d, hidden)
    if i == 0:  # a single leaf: nothing to fit
        zero = jnp.zeros((0,))
        return MLPTree(**params, y_mean=zero, y_scale=zero, boundary=zero, count=count,
                       value_sum=value_sum)
    opt = optax.adam(learning_rate)

    def loss(p):
        return jnp.sum(weight * (outputs(p, features) - target) ** 2)

    def step(carry, _):
        p, s = carry
        updates, s = opt.update(jax.grad(loss)(p), s, p)
        return (optax.apply_updates(p, updates), s), None

    if steps > 0:
        (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
    mean_out = jnp.sum(weight * outputs(params, features), 0)
    boundary = y_mean + y_scale * mean_out
    return MLPTree(**params, y_mean=y_mean, y_scale=y_scale, boundary=boundary, count=count,
                   value_sum=value_sum)


def predict(features: jax.Array, tree: MLPTree) -> jax.Array:
    """Every internal node's predicted metric for every row: ``[n, I]`` (metric units)."""
    params = {"w1": tree.w1, "b1": tree.b1, "w2": tree.w2, "b2": tree.b2}
    return tree.y_mean + tree.y_scale * outputs(params, features.astype(jnp.float32))


def route(features: jax.Array, tree: MLPTree, height: int, block: int = ROUTE_BLOCK) -> jax.Array:
    """Push candidates down the tree by their PREDICTED metric (left iff >= boundary).

    Returns the leaf number in ``[0, 2^(height-1))`` of every row of ``features``; rows are
    processed ``block`` at a time (``lax.map``) when there are more.
    """
    n = features.shape[0]
    if height == 1:
        return jnp.zeros((n,), jnp.int32)
    if n <= block:
        return walk(predict(features, tree), tree.boundary, height)
    pad = (-n) % block
    blocks = jnp.pad(features, ((0, pad), (0, 0))).reshape(-1, block, features.shape[1])
    leaves = jax.lax.map(lambda x: walk(predict(x, tree), tree.boundary, height), blocks)
    return leaves.reshape(-1)[:n]
