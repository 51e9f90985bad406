"""LaNAS's continuous mode: propose architectures by sampling inside the selected leaf's polytope.

Seed 000 (LaNAS), Sec. 3.2 step 2 and Sec. 4.3: in an open domain a leaf cannot list its
members; it is the polytope cut out of the relaxed encoding's box by the linear constraints on
its path (``polytope.leaf_polytope``), and new architectures are drawn uniformly inside it by
MCMC and discretised. Here the loop is LaNAS's (``lanas.py``: ``num_init`` random samples, a
refit every ``num_selects`` samples, a UCB walk to a leaf per query, back-propagation), but a
query draws ``num_proposals`` points in the leaf's polytope with hit-and-run or NUTS, rounds each
to a NAS-Bench-201 cell (``spaces.discretise``) and looks it up in the table.

Choice among the proposals, in chain order (the first that qualifies; the counters say how
often each rule fired):

1. a cell not yet evaluated whose one-hot code the tree routes into the selected leaf (when
   ``require_in_leaf``; rounding can move a point across a boundary -- ``off_leaf``);
2. otherwise the first not-yet-evaluated cell (a seen cell is resampled -- ``resampled``);
3. otherwise, or when the leaf's polytope is empty or too thin to sample (``empty``), a
   uniformly random unevaluated cell (``fallback``).

Chains: each leaf keeps its chain's last point; a query continues that chain when the point is
still strictly inside the (possibly refitted) leaf, and otherwise restarts from
``polytope.interior_point`` (the centroid of the leaf's own evaluated samples, or the
Chebyshev centre). Only the selected leaf's LP is solved, once per query.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.partition.hit_and_run import hit_and_run
from lanas_jax.partition.nuts import nuts
from lanas_jax.partition.polytope import OK, chebyshev_centre, depth, interior_point, leaf_polytope
from lanas_jax.partition.tree import Tree, fit_tree, num_internal, num_nodes, route
from lanas_jax.partition.ucb import backpropagate, select_leaf
from lanas_jax.spaces.discretise import nb201_codes, nb201_ops, nb201_row_lookup
from lanas_jax.strategies.base import draw, random_priority

LEAF_SAMPLERS = ("tabular", "hit_and_run", "nuts")
#: Names of ``ContinuousState.counters``' entries.
COUNTERS = ("proposals", "resampled", "off_leaf", "fallback", "empty")


@struct.dataclass
class ContinuousState:
    seen: jax.Array  # [N] bool
    evaluated: jax.Array  # [budget] int32
    values: jax.Array  # [budget]
    count: jax.Array  # ()
    priority: jax.Array  # [N] int32, for the uniform fallback draws
    tree: Tree  # the last fitted partition
    leaf_x: jax.Array  # [L, D] each leaf's chain position
    node_count: jax.Array  # [M]
    node_sum: jax.Array  # [M]
    fitted: jax.Array  # () bool
    counters: jax.Array  # [len(COUNTERS)] int32


def init(strategy, key, bench, budget: int) -> ContinuousState:
    n, d = bench.size, bench.dim
    h = strategy.tree_height
    i, m, leaves = num_internal(h), num_nodes(h), 2 ** (h - 1)
    dt = bench.features.dtype
    tree = Tree(
        weights=jnp.zeros((i, d), dt),
        bias=jnp.zeros((i,), dt),
        boundary=jnp.zeros((i,), dt),
        count=jnp.zeros((m,), dt),
        value_sum=jnp.zeros((m,), dt),
    )
    return ContinuousState(
        seen=jnp.zeros((n,), bool),
        evaluated=jnp.zeros((budget,), jnp.int32),
        values=jnp.zeros((budget,), bench.metric.dtype),
        count=jnp.zeros((), jnp.int32),
        priority=random_priority(key, n),
        tree=tree,
        leaf_x=jnp.full((leaves, d), -1.0, dt),  # outside the box: restart on first use
        node_count=jnp.zeros((m,), jnp.float32),
        node_sum=jnp.zeros((m,), jnp.float32),
        fitted=jnp.zeros((), bool),
        counters=jnp.zeros((len(COUNTERS),), jnp.int32),
    )


def _refit(strategy, key, state: ContinuousState, bench, params) -> ContinuousState:
    """The learning phase: fit every node on the evaluated samples (no table routing)."""
    mask = jnp.arange(state.evaluated.shape[0]) < state.count
    feats = bench.features[state.evaluated]
    tree = fit_tree(feats, state.values, mask, strategy.tree_height, params.ridge)
    return state.replace(
        tree=tree,
        priority=random_priority(key, bench.size),
        node_count=tree.count,
        node_sum=tree.value_sum,
        fitted=jnp.ones((), bool),
    )


def _propose(strategy, key, state: ContinuousState, bench, leaf):
    """``num_proposals`` points of the leaf's polytope, the chain's new end, and a status."""
    h = strategy.tree_height
    poly = leaf_polytope(state.tree, leaf, h)
    mask = jnp.arange(state.evaluated.shape[0]) < state.count
    own = bench.features[state.evaluated]
    in_leaf = mask & (route(own, state.tree, h) == leaf)
    cheb = chebyshev_centre(poly, num_iters=20)  # an interior start, not a certificate
    x_new, status = interior_point(poly, own, in_leaf, cheb=cheb)
    x_prev = state.leaf_x[leaf]
    resume = depth(poly, x_prev) > 0
    x0 = jnp.where(resume, x_prev, x_new)
    status = jnp.where(resume, OK, status)
    k = strategy.num_proposals
    if strategy.leaf_sampler == "hit_and_run":
        res = hit_and_run(key, poly, x0, k, thin=strategy.thin, burn_in=strategy.burn_in)
        samples = res.samples
        end = samples[-1]
    else:  # nuts, radially reparameterised about the start point
        res = nuts(key, poly, x0, strategy.nuts_warmup, k, max_tree_depth=strategy.nuts_depth)
        samples = res.samples
        end = x0
    usable = (status == OK) & jnp.all(res.inside)
    return samples, end, usable


def ask(strategy, key, state: ContinuousState, bench, params):
    fit_key, select_key, sample_key = jax.random.split(key, 3)
    h = strategy.tree_height
    since_init = state.count - strategy.num_init
    refit_due = (since_init >= 0) & (since_init % strategy.num_selects == 0)
    state = jax.lax.cond(
        refit_due, lambda s: _refit(strategy, fit_key, s, bench, params), lambda s: s, state
    )
    leaf = select_leaf(select_key, state.node_count, state.node_sum, params.cp, h)
    samples, end, usable = _propose(strategy, sample_key, state, bench, leaf)
    lut = jnp.asarray(nb201_row_lookup(bench.space))
    rows = lut[nb201_codes(nb201_ops(samples))]  # [K]
    exists = rows >= 0
    safe = jnp.where(exists, rows, 0)
    unseen = exists & ~state.seen[safe]
    routed = route(bench.features[safe], state.tree, h) == leaf
    good = unseen & routed if strategy.require_in_leaf else unseen
    first_good, first_unseen = jnp.argmax(good), jnp.argmax(unseen)
    fallback = draw(state.priority, ~state.seen)
    index = jnp.where(
        jnp.any(good), safe[first_good], jnp.where(jnp.any(unseen), safe[first_unseen], fallback)
    )
    use_chain = state.fitted & usable
    index = jnp.where(use_chain, index, fallback).astype(jnp.int32)
    # Counters: what the chain proposed up to the one taken, and which rule fired.
    last = samples.shape[0] - 1
    taken = jnp.where(jnp.any(good), first_good, jnp.where(jnp.any(unseen), first_unseen, last))
    upto = jnp.arange(samples.shape[0]) <= taken
    off_leaf = jnp.sum(upto & unseen & ~routed) if strategy.require_in_leaf else 0
    from_chain = jnp.stack(
        [jnp.sum(upto), jnp.sum(upto & ~unseen), off_leaf, ~jnp.any(unseen), 0]
    ).astype(jnp.int32)
    from_empty = jnp.array([0, 0, 0, 1, 1], jnp.int32)
    inc = jnp.where(usable, from_chain, from_empty) * state.fitted.astype(jnp.int32)
    counters = state.counters + inc
    leaf_x = jnp.where(use_chain, state.leaf_x.at[leaf].set(end), state.leaf_x)
    return index, state.replace(leaf_x=leaf_x, counters=counters)


def tell(strategy, state: ContinuousState, index, value, bench, params) -> ContinuousState:
    h = strategy.tree_height
    leaf = route(bench.features[index][None], state.tree, h)[0]
    count, total = backpropagate(state.node_count, state.node_sum, leaf, value, h)
    return state.replace(
        seen=state.seen.at[index].set(True),
        evaluated=state.evaluated.at[state.count].set(index),
        values=state.values.at[state.count].set(value),
        count=state.count + 1,
        node_count=jnp.where(state.fitted, count, state.node_count),
        node_sum=jnp.where(state.fitted, total, state.node_sum),
    )
