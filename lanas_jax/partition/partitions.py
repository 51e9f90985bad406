"""LaNAS's partitions: how the learned action space is fitted and how it routes architectures.

Seed 000 (LaNAS), Sec. 3.1: every internal node of a fixed binary tree holds a model fitted on
the evaluated architectures of its region, and the model's prediction against the region's mean
metric splits the region into a good (left) and a bad (right) child. A partition is a small
frozen config object with the state it fits (a pytree):

* :class:`LinearTree`: the paper's linear regressors (closed-form ridge, ``tree.py``); its
  leaves are polytopes, so continuous samplers can sample inside them;
* :class:`MLPTree`: Fig. 6b's alternative, one-hidden-layer MLP nodes (``mlp_tree.py``);
* :class:`FrozenTree`: Fig. 7a's transfer, a linear tree learned elsewhere and never refitted
  (``FrozenParams``); :class:`WarmTree`: a linear tree whose every fit also sees the samples of a
  learned part (``WarmParams``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.partition import mlp_tree
from lanas_jax.partition.polytope import leaf_polytope
from lanas_jax.partition.tree import Tree, fit_tree, num_internal, num_nodes, route


@struct.dataclass
class LaNASParams:
    """Numbers a user may vmap over."""

    cp: float = 0.1  # UCB exploration constant, for a metric in [0, 1] (reference code)
    ridge: float = 1e-3  # ridge strength relative to each node's mean feature variance


@struct.dataclass
class FrozenParams:
    """The frozen partition and the numbers a user may vmap over."""

    tree: Tree
    cp: float = 0.1  # UCB exploration constant (LaNAS's)


@struct.dataclass
class WarmParams:
    """The learned part's samples (prior data of every refit) and LaNAS's numbers."""

    prior_features: jax.Array  # [P, D]
    prior_values: jax.Array  # [P]
    cp: float = 0.1
    ridge: float = 1e-3


def _check_height(height: int) -> None:
    if height < 1:
        raise ValueError(f"tree_height must be >= 1, got {height}")
    if height > 12:
        raise ValueError(f"tree_height {height} makes {2**height - 1} nodes; at most 12 "
                         "levels are supported")


def empty_tree(height: int, dim: int) -> Tree:
    """An unfitted linear tree (all zeros) of ``height`` levels on ``dim`` features."""
    i, m = num_internal(height), num_nodes(height)
    z = jnp.zeros
    return Tree(z((i, dim)), z((i,)), z((i,)), z((m,)), z((m,)))


@dataclasses.dataclass(frozen=True)
class LinearTree:
    """The paper's partition: linear ridge regressors in every internal node (Sec. 3.1)."""

    height: int = 5
    linear = True
    fitted_at_init = False

    def default_params(self) -> LaNASParams:
        return LaNASParams()

    def validate(self, dim: int) -> None:
        _check_height(self.height)

    def init(self, key, dim: int, params) -> Tree:
        return empty_tree(self.height, dim)

    def fit(self, key, tree, feats, values, mask, params) -> Tree:
        return fit_tree(feats, values, mask, self.height, params.ridge)

    def route(self, tree, feats) -> jax.Array:
        return route(feats, tree, self.height)

    def polytope(self, tree, leaf):
        return leaf_polytope(tree, leaf, self.height)


@dataclasses.dataclass(frozen=True)
class MLPTree:
    """Fig. 6b's node model: an MLP of ``hidden`` tanh units per node, trained from scratch at
    every refit by ``steps`` full-batch Adam steps at ``learning_rate`` (``mlp_tree.py``). Its
    leaves are not polytopes."""

    height: int = 5
    hidden: int = 32
    steps: int = 200
    learning_rate: float = 1e-2
    linear = False
    fitted_at_init = False

    def default_params(self) -> LaNASParams:
        return LaNASParams()

    def validate(self, dim: int) -> None:
        _check_height(self.height)
        for name in ("hidden", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"mlp_{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"mlp_learning_rate must be > 0, got {self.learning_rate}")

    def init(self, key, dim: int, params):
        shapes = jax.eval_shape(lambda: self.fit(
            key, None, jnp.zeros((1, dim)), jnp.zeros((1,)), jnp.ones((1,), bool), params))
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def fit(self, key, tree, feats, values, mask, params):
        return mlp_tree.fit_mlp_tree(key, feats, values, mask, self.height, self.hidden,
                                     self.steps, self.learning_rate)

    def route(self, tree, feats) -> jax.Array:
        return mlp_tree.route(feats, tree, self.height)


@dataclasses.dataclass(frozen=True)
class FrozenTree(LinearTree):
    """A linear tree learned elsewhere (``FrozenParams.tree``, e.g. ``transfer.fit_partition``),
    never refitted (Fig. 7a). ``warm_stats`` starts UCB from the tree's own counts and metric
    sums (the learned part's samples) instead of from zero."""

    warm_stats: bool = False
    fitted_at_init = True

    def default_params(self):
        raise ValueError(
            "FrozenLaNAS has no default params: pass FrozenParams(tree=fit_partition(...))")

    def init(self, key, dim: int, params: FrozenParams) -> Tree:
        want = (num_internal(self.height), dim)
        if params.tree.weights.shape != want:
            raise ValueError(
                f"the frozen tree has weights {params.tree.weights.shape}; tree_height "
                f"{self.height} on {dim}-d features needs {want}")
        tree = params.tree
        if not self.warm_stats:
            tree = tree.replace(count=jnp.zeros_like(tree.count),
                                value_sum=jnp.zeros_like(tree.value_sum))
        return tree

    def fit(self, key, tree, feats, values, mask, params):
        return tree


@dataclasses.dataclass(frozen=True)
class WarmTree(LinearTree):
    """A linear tree whose every fit also sees the learned part's samples (``WarmParams``), so
    the search starts from the transferred partition and keeps refining it (Fig. 7a)."""

    def default_params(self):
        raise ValueError("WarmLaNAS has no default params: pass warm_params(bench, rows)")

    def fit(self, key, tree, feats, values, mask, params: WarmParams) -> Tree:
        prior = params.prior_values.shape[0]
        return fit_tree(
            jnp.concatenate([params.prior_features, feats]),
            jnp.concatenate([params.prior_values, values]),
            jnp.concatenate([jnp.ones((prior,), bool), mask]),
            self.height, params.ridge)
