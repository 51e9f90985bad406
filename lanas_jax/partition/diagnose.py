"""Where LaNAS routes an architecture, and how UCB sees every leaf (a diagnostic, pure).

Seed 000 (LaNAS), Sec. 3.1 and 3.3: a candidate goes to the leaf its node models' *predicted*
metrics route it to (``partition.route``), while a leaf's UCB statistics ``n`` and ``X̄`` come
from the evaluated samples whose *true* metrics fall there (``tree.split_levels``) plus the
samples told since the last refit. :func:`locate` reads both off a LaNAS state, so a study can
ask why UCB never visits the leaf holding the optimum (``experiments/lanas_tail.py``).
:func:`refit_state` rebuilds the state of the learning phase from a search's history: at a
refit the node statistics are exactly the fit's, so nothing else of the run is needed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.partition.lanas import LaNASState
from lanas_jax.partition.tree import ancestors, num_internal
from lanas_jax.partition.ucb import select_leaf, ucb_scores


@struct.dataclass
class Location:
    """One architecture's place in a fitted LaNAS tree and every leaf's UCB view.

    Attributes:
      leaf: () int32, the leaf the partition routes the architecture to.
      chosen: () int32, the leaf UCB's walk selects (ties broken by ``key``).
      diverge: () int32, depth (1 = the root's children) where the walk first leaves the
        architecture's root-to-leaf path; ``height`` when it selects the architecture's leaf.
      leaf_ucb: ``[L]`` each leaf's UCB against its parent (``+inf`` if unvisited).
      leaf_count: ``[L]`` ``n`` of each leaf; leaf_mean: ``[L]`` its ``X̄`` (0 if empty).
      rank: () int32, 1 + the number of leaves with a larger UCB than the architecture's leaf.
      path_gap: ``[height - 1]`` at each depth of the architecture's path, the sibling's UCB
        minus the path node's (> 0: the walk turns away there).
    """

    leaf: jax.Array
    chosen: jax.Array
    diverge: jax.Array
    leaf_ucb: jax.Array
    leaf_count: jax.Array
    leaf_mean: jax.Array
    rank: jax.Array
    path_gap: jax.Array


def locate(lanas, inner: LaNASState, feature: jax.Array, cp, key=None) -> Location:
    """Where ``lanas``'s fitted partition in ``inner`` puts the architecture of encoding
    ``feature`` (``[D]``, :meth:`LaNAS.encode`'s), and UCB (exploration constant ``cp``) on
    every leaf. Pure and jittable."""
    h = lanas.tree_height
    first = num_internal(h)
    leaf = lanas.partition.route(inner.tree, feature[None])[0]
    nodes = first + jnp.arange(2 ** (h - 1))
    count, total = inner.node_count, inner.node_sum
    parents = jnp.maximum(nodes - 1, 0) // 2
    leaf_ucb = ucb_scores(count[nodes], total[nodes], count[parents], cp)
    key = jax.random.key(0) if key is None else key
    chosen = select_leaf(key, count, total, cp, h)
    path = ancestors(leaf + first, h)
    walk = ancestors(chosen + first, h)
    same = path == walk
    diverge = jnp.where(jnp.all(same), h, jnp.argmin(same)).astype(jnp.int32)
    child = path[1:]
    sibling = jnp.where(child % 2 == 1, child + 1, child - 1)
    parent_n = count[path[:-1]]
    gap = (ucb_scores(count[sibling], total[sibling], parent_n, cp)
           - ucb_scores(count[child], total[child], parent_n, cp))
    own = leaf_ucb[leaf]
    return Location(
        leaf=leaf.astype(jnp.int32),
        chosen=chosen.astype(jnp.int32),
        diverge=diverge,
        leaf_ucb=leaf_ucb,
        leaf_count=count[nodes],
        leaf_mean=jnp.where(count[nodes] > 0, total[nodes] / jnp.maximum(count[nodes], 1), 0.0),
        rank=(1 + jnp.sum(leaf_ucb > own)).astype(jnp.int32),
        path_gap=jnp.nan_to_num(gap, nan=0.0, posinf=jnp.inf, neginf=-jnp.inf),
    )


def refit_state(lanas, features: jax.Array, values: jax.Array, count, params) -> LaNASState:
    """The LaNAS state right after a refit on the first ``count`` of a search's evaluated
    samples (``features`` ``[T, D]`` and ``values`` ``[T]`` in the order they were told).
    Deterministic partitions only (the linear tree's fit uses no key)."""
    mask = jnp.arange(values.shape[0]) < count
    vals = jnp.where(mask, values, 0.0)
    tree = lanas.partition.init(jax.random.key(0), features.shape[1], params)
    tree = lanas.partition.fit(jax.random.key(0), tree, features, vals, mask, params)
    return LaNASState(tree=tree, node_count=tree.count.astype(jnp.float32),
                      node_sum=tree.value_sum.astype(jnp.float32), fitted=jnp.ones((), bool),
                      sampler=None)
