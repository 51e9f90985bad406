"""Intra-task transfer of LaNAS's learned action space (seed 000, Sec. 4.4, Fig. 7a).

"We learn actions from a subset (1%, 5%, 10%, 20%, 60%) of NASBench and test their
transferability to the remaining dataset." Here the *actions* are the fitted partition: every
internal node's linear constraint (Sec. 3.1). :func:`split_table` cuts a table into the part
the partition is learned on and the rest; :func:`fit_partition` fits the tree on the learned
part (all of it at once: the same batched ridge fit LaNAS uses at each refit, Alg. 1 line 6-7);
:class:`FrozenLaNAS` searches the rest with that tree fixed: every query walks down the frozen
tree by UCB and draws an unevaluated entry of the chosen leaf uniformly, the learning phase is
never run.

:class:`WarmLaNAS` is the other reading of "transfer": the learned part's evaluated samples join
every refit of an otherwise ordinary LaNAS on the rest (the actions keep learning, starting from
the transferred ones; no initial random samples are needed).

What :class:`FrozenLaNAS` transfers is a choice (``warm_stats``): only the constraints (the UCB
counts ``n`` and means ``X̄`` start empty, so the first queries visit every leaf once), or the
constraints
and the node statistics of the learned part (``n`` and ``n X̄`` of its samples in each region,
so the search starts by exploiting the leaves that were good on the learned part). The paper
does not say which it used.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lanas_jax.benchmarks.base import Benchmark, take_rows
from lanas_jax.partition.lanas import LaNAS, LaNASState
from lanas_jax.partition.tree import Tree, fit_tree, num_nodes, route
from lanas_jax.strategies.base import draw, random_priority


@struct.dataclass
class FrozenParams:
    """The frozen partition and the numbers a user may vmap over."""

    tree: Tree
    cp: float = 0.1  # UCB exploration constant (LaNAS's)


def split_table(bench: Benchmark, fraction: float, key) -> tuple[np.ndarray, np.ndarray]:
    """A uniformly random ``fraction`` of the rows (at least one) and the rest (at least one).

    Returns ``(learn_rows, rest_rows)``, both sorted.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    n = bench.size
    k = int(round(fraction * n))
    if not 1 <= k <= n - 1:
        raise ValueError(f"fraction {fraction} of {n} entries leaves an empty part")
    perm = np.asarray(jax.random.permutation(key, n))
    return np.sort(perm[:k]), np.sort(perm[k:])


@functools.partial(jax.jit, static_argnames=("height",))
def _fit(features, metric, height: int, ridge):
    return fit_tree(features, metric, jnp.ones(metric.shape, bool), height, ridge)


def fit_partition(bench: Benchmark, rows, height: int = 5, ridge: float = 1e-3) -> Tree:
    """LaNAS's tree of ``height`` levels fitted on the entries ``rows`` of ``bench``."""
    rows = np.asarray(rows)
    if rows.size < 1:
        raise ValueError("fit_partition needs at least one row")
    return _fit(bench.features[rows], bench.metric[rows], height, ridge)


def rest_table(bench: Benchmark, rest_rows) -> Benchmark:
    """The table left to search (``take_rows`` named after the source)."""
    return take_rows(bench, rest_rows, name=f"{bench.name}-rest{len(rest_rows)}")


@dataclasses.dataclass(frozen=True)
class FrozenLaNAS(LaNAS):
    """LaNAS's search phase on a partition learned elsewhere (Fig. 7a); never refits.

    Uses the parent's ``tree_height`` (must match the tree's), ``empty_leaf`` rule and UCB;
    ``num_selects`` / ``num_init`` are unused. Params: :class:`FrozenParams`.

    Attributes:
      warm_stats: start the UCB statistics from the tree's own counts and metric sums (the
        learned part's samples) instead of from zero.
    """

    warm_stats: bool = False

    def default_params(self):
        raise ValueError(
            "FrozenLaNAS has no default params: pass FrozenParams(tree=fit_partition(...))"
        )

    def validate(self, bench, budget: int) -> None:
        if self.leaf_sampler != "tabular":
            raise ValueError("FrozenLaNAS draws table entries: leaf_sampler must be 'tabular'")
        if self.node_model != "linear":
            raise ValueError("FrozenLaNAS routes by a linear tree (fit_partition): "
                             "node_model must be 'linear'")
        super().validate(bench, budget)

    def _check_tree(self, tree: Tree, bench) -> None:
        want = (num_nodes(self.tree_height) - 1) // 2, bench.dim
        if tree.weights.shape != want:
            raise ValueError(
                f"the frozen tree has weights {tree.weights.shape}; tree_height "
                f"{self.tree_height} on {bench.dim}-d features needs {want}"
            )

    @functools.partial(jax.jit, static_argnums=(0, 3))
    def init(self, key, bench, budget, params: FrozenParams):
        self._check_tree(params.tree, bench)
        n, m = bench.size, num_nodes(self.tree_height)
        leaf_of = route(bench.features, params.tree, self.tree_height)
        in_leaf = leaf_of[:, None] == jnp.arange(self.num_leaves)
        zeros = jnp.zeros((m,), jnp.float32)
        return LaNASState(
            seen=jnp.zeros((n,), bool),
            evaluated=jnp.zeros((budget,), jnp.int32),
            values=jnp.zeros((budget,), bench.metric.dtype),
            count=jnp.zeros((), jnp.int32),
            leaf_of=leaf_of,
            leaf_unseen=jnp.sum(in_leaf, 0, dtype=jnp.int32),
            priority=random_priority(key, n),
            node_count=params.tree.count.astype(jnp.float32) if self.warm_stats else zeros,
            node_sum=params.tree.value_sum.astype(jnp.float32) if self.warm_stats else zeros,
            fitted=jnp.ones((), bool),
        )

    @functools.partial(jax.jit, static_argnums=0)
    def ask(self, key, state, bench, params: FrozenParams):
        leaf = self._select(key, state, params)
        return draw(state.priority, ~state.seen & (state.leaf_of == leaf)), state


@struct.dataclass
class WarmParams:
    """The learned part's samples (prior data of every refit) and LaNAS's numbers."""

    prior_features: jax.Array  # [P, D]
    prior_values: jax.Array  # [P]
    cp: float = 0.1
    ridge: float = 1e-3


def warm_params(bench: Benchmark, rows, cp: float = 0.1, ridge: float = 1e-3) -> WarmParams:
    """:class:`WarmParams` holding the entries ``rows`` of ``bench`` (the learned part)."""
    rows = np.asarray(rows)
    return WarmParams(bench.features[rows], bench.metric[rows], cp, ridge)


@dataclasses.dataclass(frozen=True)
class WarmLaNAS(LaNAS):
    """LaNAS whose every refit also fits the learned part's samples (``WarmParams``), so the
    search starts from the transferred partition and keeps refining it. Linear nodes and the
    tabular sampler only; set ``num_init=0`` to refit from the first query."""

    def default_params(self):
        raise ValueError("WarmLaNAS has no default params: pass warm_params(bench, rows)")

    def validate(self, bench, budget: int) -> None:
        if self.leaf_sampler != "tabular" or self.node_model != "linear":
            raise ValueError("WarmLaNAS needs leaf_sampler='tabular' and node_model='linear'")
        super().validate(bench, budget)

    def _refit(self, key, state: LaNASState, bench, params: WarmParams) -> LaNASState:
        prior = params.prior_values.shape[0]
        mask = jnp.concatenate([jnp.ones((prior,), bool),
                                jnp.arange(state.evaluated.shape[0]) < state.count])
        feats = jnp.concatenate([params.prior_features, bench.features[state.evaluated]])
        values = jnp.concatenate([params.prior_values, state.values])
        tree = fit_tree(feats, values, mask, self.tree_height, params.ridge)
        leaf_of = route(bench.features, tree, self.tree_height)
        in_leaf = leaf_of[:, None] == jnp.arange(self.num_leaves)
        return state.replace(
            leaf_of=leaf_of,
            leaf_unseen=jnp.sum(in_leaf & ~state.seen[:, None], 0, dtype=jnp.int32),
            priority=random_priority(key, bench.size),
            node_count=tree.count,
            node_sum=tree.value_sum,
            fitted=jnp.ones((), bool),
        )
