"""LA-MCTS's learned tree as fixed-size arrays: grown where samples accumulate, rebuilt from the
samples at every refit.

Wang, Fonseca & Tian, "Learning Search Space Partition for Black-box Optimization using Monte
Carlo Tree Search" (NeurIPS 2020), Sec. 3.1-3.2: a node holding at least ``leaf_size`` samples
is split in two by (1) 2-means on its samples' (features, value) and (2) a classifier learned on
the cluster labels, whose boundary becomes the node's split; the cluster with the higher mean
value is the good (left) child. The tree is re-learned from all samples every iteration.

As arrays: a heap of ``2^height - 1`` nodes (node ``i`` has children ``2i+1`` and ``2i+2``);
``split[i]`` says whether internal node ``i`` was split (only nodes whose parent split exist; a
node that did not split is a leaf, at any depth). All nodes of one level are fitted at once with
segment sums over the samples, so a refit costs ``O(height * n * D^2)`` whatever the shape.

Deviations from the paper (BUILD_NOTES.md): the classifier is an L2-regularised logistic
regression fitted by Newton steps (the reference code's default is an RBF SVM; its linear option
is a linear SVM); 2-means starts from the node's above/below-mean-value halves and runs a fixed
number of Lloyd steps (the reference uses scikit-learn's k-means++ with restarts); the value is
standardised over the fitted samples and weighted by ``value_weight`` before clustering.
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
class SplitTree:
    """A fitted LA-MCTS tree. Internal-node arrays have ``num_internal(height)`` rows."""

    weights: jax.Array  # [I, D] classifier weights: good (left) iff x.w + b >= 0
    bias: jax.Array  # [I]
    split: jax.Array  # [I] bool, whether the node was split (else it is a leaf or absent)
    count: jax.Array  # [M] float32 samples routed through each node
    value_sum: jax.Array  # [M] float32 sum of their values


def _segment(x: jax.Array, seg: jax.Array, num: int) -> jax.Array:
    """Sums of ``x`` rows by segment id; ids ``>= num`` are dropped."""
    return jax.ops.segment_sum(x, seg, num_segments=num + 1)[:num]


def two_means(points: jax.Array, z: jax.Array, local: jax.Array, active: jax.Array, width: int,
              iters: int) -> jax.Array:
    """2-means inside each of ``width`` nodes at once; returns ``[n]`` bool, the sample is in its
    node's cluster of higher mean ``z`` (the good cluster).

    ``points [n, P]`` are clustered, ``z [n]`` (standardised values) ranks the two clusters,
    ``local [n]`` is each sample's node in ``[0, width)``, ``active [n]`` which samples take
    part. The start is each node's above / below mean-``z`` halves (deterministic).
    """
    w = active.astype(points.dtype)
    drop = jnp.where(active, 0, 2 * width)
    n_node = _segment(w, jnp.where(active, local, width), width)
    zbar = _segment(z * w, jnp.where(active, local, width), width) / jnp.maximum(n_node, 1)
    assign = (z < zbar[local]).astype(jnp.int32)  # 0 = above the node mean

    def centers(assign, old):
        seg = local * 2 + assign + drop
        s = _segment(points * w[:, None], seg, 2 * width).reshape(width, 2, -1)
        c = _segment(w, seg, 2 * width).reshape(width, 2, 1)
        return jnp.where(c > 0, s / jnp.maximum(c, 1), old)

    def step(_, carry):
        assign, cent = carry
        cent = centers(assign, cent)
        d = jnp.sum((points[:, None, :] - cent[local]) ** 2, -1)  # [n, 2]
        return jnp.argmin(d, -1).astype(jnp.int32), cent

    init = jnp.zeros((width, 2, points.shape[1]), points.dtype)
    assign, _ = jax.lax.fori_loop(0, iters, step, (assign, centers(assign, init)))
    seg = local * 2 + assign + drop
    zsum = _segment(z * w, seg, 2 * width).reshape(width, 2)
    zc = _segment(w, seg, 2 * width).reshape(width, 2)
    zmean = jnp.where(zc > 0, zsum / jnp.maximum(zc, 1), -jnp.inf)
    good = jnp.argmax(zmean, -1)  # ties (one empty cluster): cluster 0
    return assign == good[local]


def logistic_fit(x: jax.Array, y: jax.Array, local: jax.Array, active: jax.Array, width: int,
                 l2: float, steps: int) -> jax.Array:
    """Per-node L2-regularised logistic regression of ``y`` on ``[x, 1]`` by Newton steps
    (all ``width`` nodes at once); returns ``[width, D + 1]`` weights, the bias last."""
    n, d = x.shape
    xa = jnp.concatenate([x, jnp.ones((n, 1), x.dtype)], 1)
    onehot = (local[:, None] == jnp.arange(width)) & active[:, None]
    onehot = onehot.astype(x.dtype)  # [n, width]
    yf = y.astype(x.dtype)
    reg = l2 * jnp.eye(d + 1, dtype=x.dtype).at[d, d].set(1e-4)

    def step(_, w):
        s = jnp.sum(xa * w[local], -1)
        p = jax.nn.sigmoid(s)
        grad = onehot.T @ ((p - yf)[:, None] * xa) + w @ reg  # [width, d + 1]
        r = onehot * (p * (1 - p))[:, None]
        weighted = (r[:, :, None] * xa[:, None, :]).reshape(n, width * (d + 1))
        hess = (weighted.T @ xa).reshape(width, d + 1, d + 1) + reg
        return w - jnp.linalg.solve(hess, grad[:, :, None])[:, :, 0]

    return jax.lax.fori_loop(0, steps, step, jnp.zeros((width, d + 1), x.dtype))


def fit_tree(features: jax.Array, values: jax.Array, mask: jax.Array, height: int,
             leaf_size: int, value_weight: float, kmeans_iters: int = 10, l2: float = 1.0,
             newton_steps: int = 8) -> tuple[SplitTree, jax.Array]:
    """Grow the tree on the masked samples, level by level (Sec. 3.1).

    A node splits iff it holds at least ``leaf_size`` samples and its classifier puts at least
    one of them on each side; its samples then go to the side the classifier predicts (the
    reference code's ``split_data``), the good side left.

    Returns the tree and ``[n]`` the node (heap index) each sample ends in (0 where masked).
    """
    n, d = features.shape
    m, inner = num_nodes(height), num_internal(height)
    w = mask.astype(features.dtype)
    mean = jnp.sum(values * w) / jnp.maximum(jnp.sum(w), 1)
    std = jnp.sqrt(jnp.sum((values - mean) ** 2 * w) / jnp.maximum(jnp.sum(w), 1))
    z = jnp.where(mask, (values - mean) / jnp.maximum(std, 1e-8), 0.0)
    points = jnp.concatenate([features, value_weight * z[:, None]], 1)
    node = jnp.zeros((n,), jnp.int32)
    active = mask
    count = jnp.zeros((m,), features.dtype)
    value_sum = jnp.zeros((m,), features.dtype)
    weights, bias, split = [], [], []
    for level in range(height):
        first, width = 2**level - 1, 2**level
        local = jnp.clip(node - first, 0, width - 1)
        seg = jnp.where(active, local, width)
        c = _segment(active.astype(features.dtype), seg, width)
        count = count.at[first:first + width].set(c)
        value_sum = value_sum.at[first:first + width].set(_segment(values * active, seg, width))
        if level == height - 1:
            break
        good = two_means(points, z, local, active, width, kmeans_iters)
        coef = logistic_fit(features, good, local, active, width, l2, newton_steps)
        pred = jnp.sum(features * coef[local, :d], -1) + coef[local, d] >= 0
        left = _segment((active & pred).astype(features.dtype), seg, width)
        right = c - left
        does = (c >= leaf_size) & (left > 0) & (right > 0)
        weights.append(coef[:, :d])
        bias.append(coef[:, d])
        split.append(does)
        moves = active & does[local]
        node = jnp.where(moves, 2 * node + 1 + (~pred).astype(jnp.int32), node)
        active = moves
    if inner:
        tree = SplitTree(jnp.concatenate(weights), jnp.concatenate(bias),
                         jnp.concatenate(split), count, value_sum)
    else:
        tree = SplitTree(jnp.zeros((0, d)), jnp.zeros((0,)), jnp.zeros((0,), bool), count,
                         value_sum)
    return tree, jnp.where(mask, node, 0)


def route(tree: SplitTree, x: jax.Array, height: int) -> jax.Array:
    """The node (heap index) one feature vector ``x [D]`` ends in: from the root, through
    every split node, left iff its classifier says good."""
    node = jnp.zeros((), jnp.int32)
    for _ in range(height - 1):
        good = x @ tree.weights[node] + tree.bias[node] >= 0
        child = 2 * node + 1 + (~good).astype(jnp.int32)
        node = jnp.where(tree.split[node], child, node)
    return node


def ucb(count: jax.Array, value_sum: jax.Array, parent_count: jax.Array, cp) -> jax.Array:
    """``X̄ + 2 Cp sqrt(2 ln n_parent / n)`` (Sec. 3.2, the reference's ``get_uct``);
    ``+inf`` for an empty node."""
    safe = jnp.maximum(count, 1.0)
    bonus = 2.0 * cp * jnp.sqrt(2.0 * jnp.log(jnp.maximum(parent_count, 1.0)) / safe)
    return jnp.where(count > 0, value_sum / safe + bonus, jnp.inf)


def select(key: jax.Array, tree: SplitTree, count: jax.Array, value_sum: jax.Array, cp,
           height: int) -> jax.Array:
    """From the root, to the child of larger UCB until a node that was not split (ties at
    random); returns its heap index."""
    node = jnp.zeros((), jnp.int32)
    coins = jax.random.bernoulli(key, 0.5, (max(height - 1, 1),))
    for depth in range(height - 1):
        kids = jnp.stack([2 * node + 1, 2 * node + 2])
        u = ucb(count[kids], value_sum[kids], count[node], cp)
        right = (u[1] > u[0]) | ((u[1] == u[0]) & coins[depth])
        node = jnp.where(tree.split[node], kids[right.astype(jnp.int32)], node)
    return node


def backpropagate(count: jax.Array, value_sum: jax.Array, node: jax.Array, value: jax.Array,
                  height: int) -> tuple[jax.Array, jax.Array]:
    """Add one sample of ``value`` to ``node`` and every ancestor up to the root."""
    cur = node
    for _ in range(height):
        on = cur >= 0
        at = jnp.maximum(cur, 0)
        count = count.at[at].add(jnp.where(on, 1.0, 0.0))
        value_sum = value_sum.at[at].add(jnp.where(on, value, 0.0))
        cur = jnp.where(cur > 0, (cur - 1) // 2, -1)
    return count, value_sum


def depth_of(node: jax.Array) -> jax.Array:
    """Depth of a heap index (root 0)."""
    return jnp.floor(jnp.log2(node.astype(jnp.float32) + 1.0) + 1e-6).astype(jnp.int32)
