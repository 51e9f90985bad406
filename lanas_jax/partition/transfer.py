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

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.benchmarks.base import Benchmark, take_rows
from lanas_jax.partition.lanas import LaNAS
from lanas_jax.partition.partitions import FrozenParams, FrozenTree, WarmParams, WarmTree
from lanas_jax.partition.samplers import UniformRow
from lanas_jax.partition.tree import Tree, fit_tree
from lanas_jax.strategies.core import Segment

__all__ = ["FrozenLaNAS", "FrozenParams", "WarmLaNAS", "WarmParams", "fit_partition",
           "rest_table", "split_table", "warm_params"]


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


class FrozenLaNAS(LaNAS):
    """LaNAS's search phase on a partition learned elsewhere (Fig. 7a); never refits.

    ``LaNAS(partition=FrozenTree(tree_height, warm_stats), sampler=UniformRow(), num_init=0)``
    with no rounds: every query walks down the frozen tree by UCB and draws an unevaluated entry
    of the chosen leaf. ``warm_stats`` starts the UCB statistics from the tree's own counts and
    metric sums (the learned part's samples) instead of from zero. Params:
    :class:`FrozenParams`.
    """

    def __init__(self, *, tree_height: int = 5, warm_stats: bool = False,
                 empty_leaf: str = "first_nonempty", leaf_sampler: str = "tabular",
                 node_model: str = "linear", **kw):
        if leaf_sampler != "tabular":
            raise ValueError("FrozenLaNAS draws table entries: leaf_sampler must be 'tabular'")
        if node_model != "linear":
            raise ValueError("FrozenLaNAS routes by a linear tree (fit_partition): "
                             "node_model must be 'linear'")
        super().__init__(FrozenTree(tree_height, warm_stats), UniformRow(), num_init=0,
                         empty_leaf=empty_leaf, **kw)

    @property
    def warm_stats(self) -> bool:
        return self.partition.warm_stats

    has_rounds = False

    def schedule(self, budget: int) -> tuple[Segment, ...]:
        return (Segment(budget // self.batch_size, 1, False),)


def warm_params(bench: Benchmark, rows, cp: float = 0.1, ridge: float = 1e-3) -> WarmParams:
    """:class:`WarmParams` holding the entries ``rows`` of ``bench`` (the learned part)."""
    rows = np.asarray(rows)
    return WarmParams(bench.features[rows], bench.metric[rows], cp, ridge)


class WarmLaNAS(LaNAS):
    """LaNAS whose every refit also fits the learned part's samples (:class:`WarmParams`), so
    the search starts from the transferred partition and keeps refining it. Linear nodes and the
    tabular sampler only; ``num_init=0`` refits from the first query."""

    def __init__(self, *, tree_height: int = 5, leaf_sampler: str = "tabular",
                 node_model: str = "linear", **kw):
        if leaf_sampler != "tabular" or node_model != "linear":
            raise ValueError("WarmLaNAS needs leaf_sampler='tabular' and node_model='linear'")
        super().__init__(WarmTree(tree_height), UniformRow(), **kw)
