"""Post-hoc analyses of search spaces and searches: LaNAS's search dynamics (seed 000 Fig. 4)
and the reward spread of an action tree's children (seed 000 Sec. 2 / Fig. 2).

**Search dynamics** (seed 000, Sec. 4.1 "Analysis of Search Algorithm" and Fig. 4, "Evaluations
of search dynamics"; the section numbered 4.4 in some versions of the paper). "At each node j, we
can construct reference distribution p*_j(v) by training toward the entire dataset to partition
the search space into small regions with concentrated performances on leaves. We compare
p*_j(v) with the estimated distribution p^n_j(v), where n is the number of accumulated samples
[...] we also calculated the KL-divergence D_KL[p^n_j || p*_j], and their mean value
v̄*_j = E_{p*_j}[v] and v̄_j = E_{p^n_j}[v]." "We use a complete binary tree with the height of 5."

Here, with no change to the search itself:

* the reference partition (:func:`reference_partition`) is LaNAS's own tree
  (:func:`lanas_jax.partition.tree.fit_tree`, same ridge) fitted on every entry of the table,
  and every entry is pushed to a leaf by the predicted metric
  (:func:`lanas_jax.partition.tree.route`), exactly as LaNAS routes the table at a refit. Leaf
  ``j`` is heap node ``2^(h-1) - 1 + j``: nodes 15..30 for height 5 (16 leaves; the paper writes
  "nodes 15-29 as leaves"), leaf 0 (node 15, the leftmost) the predicted-best region;
* ``p*_j`` is the histogram of the table's metric over the entries in leaf ``j``, ``p^n_j`` that
  of the first ``n`` queries of a search routed by the SAME reference tree, on shared bins over
  the table's metric range (:func:`histogram_edges`, :func:`leaf_histograms`);
* the KL divergence (:func:`kl_divergence`) smooths both histograms by adding ``eps`` to every
  bin's probability and renormalising. Queries are table entries routed by the same tree, so
  ``p^n_j``'s support lies inside ``p*_j``'s and the unsmoothed KL is finite anyway; ``eps`` only
  guards general inputs. Per search, the leaves' KLs are averaged over the leaves holding at
  least one query, **weighted by the number of queries in the leaf**
  (:func:`weighted_leaf_kl`); the unweighted mean is available from the per-leaf values;
* the mean gap (:func:`mean_gap`) is ``mean_j (v̄^n_j - v̄*_j)`` over the leaves holding at
  least one query, unweighted.

Which leaf a query belongs to admits two readings. Routing the queries by the reference tree
(the default of :func:`search_dynamics`) compares, inside fixed regions, the queries with the
table: it measures how non-uniformly the search samples *within* each reference leaf. The
paper's own words point to the search's tree: ``p^n_j`` is over "the accumulated samples in
D_t ∩ Ω_j at the node j", and at ``n = 200`` (random samples) ``p^200_{15,16}`` are "expected
to be smaller than p*_{15,16} [...] because the tree still learns to partition at that time",
which cannot happen for uniform samples routed by a fixed tree. :func:`search_tree_leaves`
gives that reading post hoc: each search's tree refitted on its first ``n`` queries, the queries
routed down it; leaf ``j`` of both trees is the same heap position (left = better).

A histogram of a handful of queries is far from ``p*_j`` even when the queries are drawn
uniformly from the leaf, so the KL has a finite-sample floor: compare it with uniform random
search's KL at the same ``n`` (what ``experiments/fig4.py`` reports next to LaNAS's).

**Children's reward spread** (seed 000, Sec. 2 "A motivating example" and Fig. 2(b): "For a
given node, the reward distributions for its children [...] global better separates the search
space by network quality, and provides distinctive reward in recognizing a promising path").
:func:`children_spread` takes every table entry's path of nodes in an action tree (root first)
and, for each depth ``d``, every node at depth ``d`` with at least two non-empty children (a
*decision* node; forced moves, e.g. the actions of a layer slot past the network's depth, have
one child and carry no information), the mean metric of the table entries below each child. A
node's spread is the (population) standard deviation and the max - min of its children's means;
per depth, the spreads are averaged over decision nodes weighted by the number of entries below
the node. It also reports, per depth, the fraction of the table's metric variance explained by
the children of the depth-``d`` nodes (between-node variance / total variance): how much of the
reward the first ``d + 1`` actions pin down. :func:`tree_paths` gives the paths of LaNAS's
partition.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.partition.tree import Tree, ancestors, fit_tree, num_internal, route

#: Default smoothing added to each bin's probability before the KL divergence.
KL_EPSILON = 1e-6


@dataclasses.dataclass(frozen=True)
class ReferencePartition:
    """LaNAS's tree fitted on a whole table, and where it routes every entry.

    Attributes:
      tree: the fitted :class:`~lanas_jax.partition.tree.Tree`.
      height: its number of levels.
      leaf_of: ``[N]`` int, every table entry's leaf in ``[0, 2^(height-1))``.
    """

    tree: Tree
    height: int
    leaf_of: np.ndarray

    @property
    def num_leaves(self) -> int:
        return 2 ** (self.height - 1)

    @property
    def first_leaf_node(self) -> int:
        """Heap index of leaf 0 (15 for height 5)."""
        return num_internal(self.height)

    def leaf_nodes(self) -> np.ndarray:
        """Heap index of every leaf, leaf 0 first (15..30 for height 5)."""
        return self.first_leaf_node + np.arange(self.num_leaves)


def reference_partition(features, metric, height: int = 5, ridge: float = 1e-3
                        ) -> ReferencePartition:
    """Fit LaNAS's tree on every entry of a table and route every entry to a leaf.

    Args:
      features: ``[N, D]`` the table's encodings.
      metric: ``[N]`` its search metric (higher is better).
      height: tree levels (LaNAS's default 5: 16 leaves).
      ridge: the relative ridge strength of LaNAS's node regressors (``LaNASParams.ridge``).

    Raises:
      ValueError: for ``height < 1`` or mismatched shapes.
    """
    features = jnp.asarray(features, jnp.float32)
    metric = jnp.asarray(metric, jnp.float32)
    if height < 1:
        raise ValueError(f"height must be >= 1, got {height}")
    if features.ndim != 2 or metric.shape != features.shape[:1]:
        raise ValueError(f"features [N, D] and metric [N] expected, got {features.shape} and "
                         f"{metric.shape}")
    tree, leaf_of = _fit_and_route(features, metric, jnp.float32(ridge), height)
    return ReferencePartition(tree=tree, height=height, leaf_of=np.asarray(leaf_of))


@functools.partial(jax.jit, static_argnums=3)
def _fit_and_route(features, metric, ridge, height):
    tree = fit_tree(features, metric, jnp.ones(metric.shape, bool), height, ridge)
    return tree, route(features, tree, height)


def tree_paths(leaf_of, height: int) -> np.ndarray:
    """``[N, height]`` heap node of every entry at every level of a binary tree, root first,
    from its leaf number (``leaf_of`` in ``[0, 2^(height-1))``)."""
    leaf_node = jnp.asarray(leaf_of, jnp.int32) + num_internal(height)
    return np.asarray(ancestors(leaf_node[:, None], height))


def histogram_edges(metric, bins: int = 50) -> np.ndarray:
    """``bins + 1`` equal-width edges over ``[min(metric), max(metric)]``.

    Raises:
      ValueError: for ``bins < 1`` or a constant metric (no range to bin).
    """
    metric = np.asarray(metric, np.float64)
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    lo, hi = float(metric.min()), float(metric.max())
    if not hi > lo:
        raise ValueError(f"the metric is constant ({lo}); there is no range to histogram")
    return np.linspace(lo, hi, bins + 1)


def leaf_histograms(leaf_of, values, num_leaves: int, edges) -> np.ndarray:
    """Counts of ``values`` per (leaf, bin): ``[..., num_leaves, bins]`` int64.

    ``leaf_of`` and ``values`` have the same shape ``[..., n]`` (leading axes, e.g. seeds, are
    kept). Bins are ``[e_k, e_{k+1})``, the last one closed; values outside the edges fall in
    the first or last bin.
    """
    leaf = np.asarray(leaf_of, np.int64)
    values = np.asarray(values, np.float64)
    if leaf.shape != values.shape:
        raise ValueError(f"leaf_of {leaf.shape} and values {values.shape} differ in shape")
    if leaf.size and (leaf.min() < 0 or leaf.max() >= num_leaves):
        raise ValueError(f"leaf numbers must be in [0, {num_leaves})")
    edges = np.asarray(edges, np.float64)
    bins = len(edges) - 1
    b = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    batch = leaf.shape[:-1]
    rows = int(np.prod(batch)) if batch else 1
    out = np.zeros((rows, num_leaves, bins), np.int64)
    row = np.broadcast_to(np.arange(rows).reshape(batch + (1,)), leaf.shape)
    np.add.at(out, (row.reshape(-1), leaf.reshape(-1), b.reshape(-1)), 1)
    return out.reshape(batch + (num_leaves, bins))


def leaf_means(leaf_of, values, num_leaves: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean value and count per leaf, ``[..., num_leaves]`` each; the mean is NaN where the
    leaf holds nothing."""
    leaf = np.asarray(leaf_of, np.int64)
    values = np.asarray(values, np.float64)
    onehot = leaf[..., None] == np.arange(num_leaves)
    counts = onehot.sum(-2)
    sums = np.einsum("...nl,...n->...l", onehot, values)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return means, counts


def normalise(counts, eps: float = KL_EPSILON) -> np.ndarray:
    """Histogram counts (last axis = bins) to probabilities with ``eps`` added to every bin and
    the result renormalised; an all-zero row stays all-NaN."""
    counts = np.asarray(counts, np.float64)
    total = counts.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(total > 0, counts / total, np.nan) + eps
    return p / p.sum(-1, keepdims=True)


def kl_divergence(p_counts, q_counts, eps: float = KL_EPSILON) -> np.ndarray:
    """``D_KL[p || q] = sum_b p_b log(p_b / q_b)`` along the last axis, after
    :func:`normalise`-ing both histograms (natural log, nats). NaN where either histogram is
    empty. Zero for proportional histograms, positive otherwise."""
    p, q = normalise(p_counts, eps), normalise(q_counts, eps)
    return np.sum(p * (np.log(p) - np.log(q)), -1)


def weighted_leaf_kl(sample_counts, ref_counts, eps: float = KL_EPSILON
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per-leaf KL ``D_KL[p^n_j || p*_j]`` and its average over the leaves holding samples.

    Args:
      sample_counts: ``[..., L, B]`` histograms of the queries per leaf.
      ref_counts: ``[L, B]`` (or broadcastable) histograms of the whole table per leaf.

    Returns:
      ``(kl, per_leaf)``: ``kl`` ``[...]`` the per-leaf KLs averaged over non-empty leaves,
      weighted by the number of samples in each (NaN if there is none); ``per_leaf``
      ``[..., L]`` (NaN for an empty leaf).
    """
    sample_counts = np.asarray(sample_counts)
    per_leaf = kl_divergence(sample_counts, np.broadcast_to(ref_counts, sample_counts.shape), eps)
    n = sample_counts.sum(-1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        kl = np.nansum(np.where(n > 0, per_leaf * n, 0.0), -1) / n.sum(-1)
    return np.where(n.sum(-1) > 0, kl, np.nan), per_leaf


def mean_gap(sample_means, ref_means) -> np.ndarray:
    """``mean_j (v̄^n_j - v̄*_j)`` over the leaves with samples (``sample_means`` not NaN);
    ``[..., L]`` in, ``[...]`` out, NaN where no leaf has a sample."""
    diff = np.asarray(sample_means, np.float64) - np.asarray(ref_means, np.float64)
    has = ~np.isnan(diff)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(has.any(-1), np.nansum(diff, -1) / has.sum(-1), np.nan)


def search_tree_leaves(features, metric, indices, height: int, ridge: float = 1e-3,
                       batch_size: int = 16, n: int | None = None) -> np.ndarray:
    """Leaves of the first ``n`` queries in each search's OWN tree: ``[S, n]``.

    For every row of ``indices`` (``[S, T]``, the queries of ``S`` searches in order; ``n``
    defaults to ``T``), LaNAS's tree is fitted on exactly the first ``n`` queries (``fit_tree``,
    same height and ridge) and those queries are routed down it by their predicted metric
    (``route``), as LaNAS routes the table after a refit. When ``n - num_init`` is a multiple
    of ``num_selects`` this is the very tree LaNAS fits before its ``n + 1``-th query (the fit
    is deterministic; equal up to floating-point rounding). The fit masks the queries past
    ``n`` (one compiled program serves every ``n``); searches are fitted ``batch_size`` at a
    time (one vmapped call each) to bound memory.
    """
    indices = np.asarray(indices, np.int32)
    if indices.ndim != 2:
        raise ValueError(f"indices must be [searches, samples], got shape {indices.shape}")
    s, t = indices.shape
    n = t if n is None else int(n)
    if not 1 <= n <= t:
        raise ValueError(f"n = {n} is outside [1, {t}]")
    features = jnp.asarray(features, jnp.float32)
    metric = jnp.asarray(metric, jnp.float32)
    chunk = max(1, min(batch_size, s))
    pad = (-s) % chunk  # one compiled shape: the last chunk is padded with repeated rows
    padded = np.concatenate([indices, np.repeat(indices[:1], pad, 0)]) if pad else indices
    out = [np.asarray(_own_leaves(features, metric, jnp.asarray(padded[i: i + chunk]),
                                  jnp.int32(n), jnp.float32(ridge), height))
           for i in range(0, len(padded), chunk)]
    return np.concatenate(out)[:s, :n]


@functools.partial(jax.jit, static_argnums=5)
def _own_leaves(features, metric, indices, n, ridge, height):
    mask = jnp.arange(indices.shape[1]) < n

    def one(rows):
        x, y = features[rows], metric[rows]
        tree = fit_tree(x, y, mask, height, ridge)
        return route(x, tree, height)

    return jax.vmap(one)(indices)


def search_dynamics(partition: ReferencePartition, metric, indices, checkpoints,
                    edges, eps: float = KL_EPSILON, leaves_of=None) -> dict[str, np.ndarray]:
    """Fig. 4's statistics of searches at every checkpoint.

    Args:
      partition: the reference partition of the table (:func:`reference_partition`).
      metric: ``[N]`` the table's metric.
      indices: ``[S, T]`` the entries each of ``S`` searches queried, in order.
      checkpoints: sample counts ``n <= T`` at which to take the first ``n`` queries.
      edges: the shared histogram bin edges (:func:`histogram_edges`).
      eps: the KL smoothing.
      leaves_of: ``leaves_of(indices, n) -> [S, n]``, the leaves the first ``n`` queries are
        counted in; default: routed by the reference partition. E.g. ``lambda idx, n:
        search_tree_leaves(features, metric, idx, height, n=n)`` places them in each search's
        own tree instead.

    Returns a dict of arrays with a leading checkpoint axis ``C``: ``kl`` ``[C, S]``
    (weighted over leaves, see :func:`weighted_leaf_kl`), ``kl_unweighted`` ``[C, S]`` (the
    plain mean over non-empty leaves), ``gap`` ``[C, S]`` (:func:`mean_gap`), ``leaf_kl``,
    ``leaf_mean``, ``leaf_count`` ``[C, S, L]`` and ``histograms`` ``[C, L, B]`` (the queries'
    per-leaf histograms summed over searches).
    """
    metric = np.asarray(metric)
    indices = np.asarray(indices)
    if indices.ndim != 2:
        raise ValueError(f"indices must be [searches, samples], got shape {indices.shape}")
    num_leaves = partition.num_leaves
    ref_hist = leaf_histograms(partition.leaf_of, metric, num_leaves, edges)
    ref_mean, _ = leaf_means(partition.leaf_of, metric, num_leaves)
    out: dict[str, list] = {k: [] for k in ("kl", "kl_unweighted", "gap", "leaf_kl",
                                            "leaf_mean", "leaf_count", "histograms")}
    for n in checkpoints:
        if not 1 <= n <= indices.shape[1]:
            raise ValueError(f"checkpoint {n} is outside [1, {indices.shape[1]}] samples")
        first = indices[:, :n]
        leaf = partition.leaf_of[first] if leaves_of is None else np.asarray(
            leaves_of(indices, n))
        values = metric[first]
        hist = leaf_histograms(leaf, values, num_leaves, edges)
        kl, per_leaf = weighted_leaf_kl(hist, ref_hist, eps)
        means, counts = leaf_means(leaf, values, num_leaves)
        out["kl"].append(kl)
        out["kl_unweighted"].append(np.nanmean(per_leaf, -1))
        out["gap"].append(mean_gap(means, ref_mean))
        out["leaf_kl"].append(per_leaf)
        out["leaf_mean"].append(means)
        out["leaf_count"].append(counts)
        out["histograms"].append(hist.sum(0))
    return {k: np.stack(v) for k, v in out.items()}


def children_spread(paths, values) -> list[dict]:
    """Per depth of an action tree, how distinct the rewards of a node's children are.

    Args:
      paths: ``[N, D + 1]`` int, every table entry's node at depths ``0..D`` (the root first;
        a node id need only be unique within its depth, and an entry's node at depth ``d + 1``
        must be a child of its node at depth ``d``).
      values: ``[N]`` the entries' metric.

    Returns one dict per depth ``d = 0..D-1`` (the nodes reached after ``d`` actions):
      ``depth``; ``nodes`` (nodes at depth ``d``); ``decision_nodes`` (those with >= 2
      non-empty children) and ``decision_entries`` (the entries below them); ``children``
      (non-empty nodes at depth ``d + 1``); ``mean_std`` / ``mean_range``: the std (ddof 0)
      / max - min of a decision node's children's mean metric, averaged over decision nodes
      weighted by their entries (None if there is no decision node at ``d``);
      ``explained_variance``: the share
      of the metric's variance between the nodes at depth ``d + 1``, i.e. pinned down by the
      first ``d + 1`` actions (1 when every entry has its own node).
    """
    paths = np.asarray(paths)
    values = np.asarray(values, np.float64)
    if paths.ndim != 2 or paths.shape[0] != values.shape[0] or paths.shape[1] < 2:
        raise ValueError(f"paths must be [N, depth + 1 >= 2] and values [N], got "
                         f"{paths.shape} and {values.shape}")
    total_var = values.var()
    out = []
    for d in range(paths.shape[1] - 1):
        parents, parent_of_entry = np.unique(paths[:, d], return_inverse=True)
        parent_of_entry = parent_of_entry.reshape(-1)
        sizes = np.bincount(parent_of_entry)
        # Children are identified by (parent, child id) pairs.
        pairs = np.stack([parent_of_entry, paths[:, d + 1]], -1)
        kids, kid_of_entry = np.unique(pairs, axis=0, return_inverse=True)
        kid_of_entry = kid_of_entry.reshape(-1)
        kid_sizes = np.bincount(kid_of_entry)
        kid_means = np.bincount(kid_of_entry, values) / kid_sizes
        between = float(np.sum(kid_sizes * (kid_means - values.mean()) ** 2) / len(values))
        kid_parent = kids[:, 0]
        n_kids = np.bincount(kid_parent, minlength=len(parents))
        stds = np.zeros(len(parents))
        ranges = np.zeros(len(parents))
        for p in np.flatnonzero(n_kids >= 2):
            m = kid_means[kid_parent == p]
            stds[p], ranges[p] = m.std(), m.max() - m.min()
        decision = n_kids >= 2
        w = sizes * decision
        row = {
            "depth": d,
            "nodes": len(parents),
            "decision_nodes": int(decision.sum()),
            "decision_entries": int(w.sum()),
            "children": len(kids),
            "mean_std": float(np.sum(w * stds) / w.sum()) if w.sum() else None,
            "mean_range": float(np.sum(w * ranges) / w.sum()) if w.sum() else None,
            "explained_variance": float(between / total_var) if total_var > 0 else 0.0,
        }
        out.append(row)
    return out


def overall_spread(rows: list[dict], key: str = "mean_std") -> float | None:
    """``key`` of :func:`children_spread`'s rows averaged over every decision node of every
    depth, weighted by the entries below the node (None if the tree has no decision node)."""
    w = sum(r["decision_entries"] for r in rows if r[key] is not None)
    if not w:
        return None
    return sum(r[key] * r["decision_entries"] for r in rows if r[key] is not None) / w
