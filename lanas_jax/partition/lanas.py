"""LaNAS on a tabular benchmark: learn a partition, select a leaf by UCB, sample inside it.

Seed 000 (LaNAS), Alg. 1 and Sec. 3.3, with the reference code's loop (REFERENCE.md):
``num_init`` uniformly random samples; then, every ``num_selects`` samples, refit all node
regressors on all evaluated samples and push every unevaluated table entry down the tree
(the learning phase); between refits, each query walks from the root by UCB to a leaf,
draws one unevaluated entry uniformly from that leaf's bucket and back-propagates its
metric (the search phase). Every evaluated architecture counts, the initial ones too.

Deviations (see BUILD_NOTES.md): node regressors are closed-form ridge least squares
rather than Adam epochs; uniform draws inside a leaf take the unseen entry with the largest
random priority, the priorities redrawn at every refit (a leaf's draws between two refits
are then sampling without replacement from that leaf).

``node_model="mlp"`` replaces every node's linear regressor by a small MLP (the Fig. 6b
ablation, Sec. 4.5 "Choice of classifiers"; ``mlp_tree.py``), for the table samplers only.

``leaf_sampler="vae"`` replaces the uniform draw inside the leaf by a VAE trained on the top
``K``% of the evaluated architectures (seed 002; ``leaf_vae.py``), retrained at every refit.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.partition import continuous, leaf_vae, mlp_tree
from lanas_jax.partition.tree import fit_tree, num_nodes, route
from lanas_jax.partition.ucb import backpropagate, select_leaf, subtree_available
from lanas_jax.spaces import nb201
from lanas_jax.strategies.base import TableStrategy, draw, random_priority, register

EMPTY_LEAF_RULES = ("first_nonempty", "skip")
#: Table-entry samplers (this module) and the continuous ones (``continuous.py``).
TABLE_SAMPLERS = ("tabular", "vae")
LEAF_SAMPLERS = continuous.LEAF_SAMPLERS + ("vae",)
#: Node regressors: closed-form ridge least squares (``tree.py``) or MLPs (``mlp_tree.py``).
NODE_MODELS = ("linear", "mlp")


@struct.dataclass
class LaNASParams:
    """Numbers a user may vmap over."""

    cp: float = 0.1  # UCB exploration constant, for a metric in [0, 1] (reference code)
    ridge: float = 1e-3  # ridge strength relative to each node's mean feature variance


@struct.dataclass
class LaNASState:
    seen: jax.Array  # [N] bool, entries already evaluated
    evaluated: jax.Array  # [budget] int32, evaluated entries in order
    values: jax.Array  # [budget] their metrics
    count: jax.Array  # () number evaluated
    leaf_of: jax.Array  # [N] int32, each entry's leaf at the last refit
    leaf_unseen: jax.Array  # [L] int32, unevaluated entries per leaf
    priority: jax.Array  # [N] int32 random; the unseen entry of a leaf with the max is drawn
    node_count: jax.Array  # [M] samples per node region (UCB's n)
    node_sum: jax.Array  # [M] sum of their metrics (UCB's n * X̄)
    fitted: jax.Array  # () bool, whether a tree has been learned yet
    vae: leaf_vae.LeafVAEState | None = None  # leaf_sampler="vae" only


@register("lanas")
@dataclasses.dataclass(frozen=True)
class LaNAS(TableStrategy):
    """Latent Action NAS (seed 000) over the entries of a tabular benchmark.

    Attributes:
      tree_height: levels of the fixed binary tree (5: 31 nodes, 16 leaves).
      num_selects: queries between two refits of the tree (#selects).
      num_init: uniformly random queries before the first fit (counted in the budget).
        The defaults are the reference code's (height 5, 20 selects, 10 initial samples);
        the paper's Sec. 4.2 study used 100 selects and 400 initial samples.
      empty_leaf: what to do when UCB picks a leaf with no unevaluated entry left:
        ``"first_nonempty"`` samples the leftmost non-empty leaf (the reference code);
        ``"skip"`` never walks into an exhausted subtree. (Tabular mode only.)
      leaf_sampler: how a query draws inside the selected leaf: ``"tabular"`` (an unseen
        table entry routed there; the default), or the continuous mode of Sec. 3.2 step 2 /
        Sec. 4.3 (``continuous.py``): ``"hit_and_run"`` or ``"nuts"`` points of the leaf's
        polytope, discretised and looked up (NAS-Bench-201 tables); or ``"vae"``: an unseen
        entry of the leaf proposed by a VAE trained on the top ``vae_top_frac`` of the
        evaluated entries at every refit (``leaf_vae.py``; one-hot slot features only).
      num_proposals, burn_in, thin: continuous mode: points drawn per query, and the
        hit-and-run chain's burn-in after a restart and thinning.
      nuts_warmup, nuts_depth: continuous mode with NUTS: adaptation draws per query and
        the tree-depth cap.
      require_in_leaf: continuous mode: prefer proposals whose discretised cell the tree
        routes into the selected leaf.
      node_model: the node regressor: ``"linear"`` (the paper's) or ``"mlp"`` (Fig. 6b's
        alternative: one hidden layer of ``mlp_hidden`` tanh units, trained from scratch at
        every refit by ``mlp_steps`` full-batch Adam steps at ``mlp_learning_rate`` on the
        node's standardised metrics; ``mlp_tree.py``). Table samplers only: an MLP leaf is not
        a polytope, so ``hit_and_run`` / ``nuts`` refuse it.
      vae_*: VAE leaf sampler: ``vae_vocab`` choices per one-hot slot, ``vae_tries`` decodes
        per query, Alg. 1's ``K`` (``vae_top_frac``), steps per refit, batch size, Adam
        learning rate, and the VAE's widths (seed 002; ``lanas_jax.vaenas``).
    """

    tree_height: int = 5
    num_selects: int = 20
    num_init: int = 10
    empty_leaf: str = "first_nonempty"
    leaf_sampler: str = "tabular"
    num_proposals: int = 16
    burn_in: int = 10
    thin: int = 3
    nuts_warmup: int = 20
    nuts_depth: int = 5
    require_in_leaf: bool = True
    vae_vocab: int = 5
    vae_tries: int = 4
    vae_top_frac: float = 0.25
    vae_iters: int = 200
    vae_batch_size: int = 64
    vae_learning_rate: float = 3e-3
    vae_embed: int = 16
    vae_hidden: int = 32
    vae_latent: int = 8
    node_model: str = "linear"
    mlp_hidden: int = 32
    mlp_steps: int = 200
    mlp_learning_rate: float = 1e-2

    def default_params(self) -> LaNASParams:
        return LaNASParams()

    def validate(self, bench, budget: int) -> None:
        if self.tree_height < 1:
            raise ValueError(f"tree_height must be >= 1, got {self.tree_height}")
        if self.tree_height > 12:
            raise ValueError(f"tree_height {self.tree_height} makes {2**self.tree_height - 1} "
                             "nodes; at most 12 levels are supported")
        if self.num_selects < 1:
            raise ValueError(f"num_selects must be >= 1, got {self.num_selects}")
        if self.num_init < 0:
            raise ValueError(f"num_init must be >= 0, got {self.num_init}")
        if self.empty_leaf not in EMPTY_LEAF_RULES:
            raise ValueError(
                f"empty_leaf must be one of {EMPTY_LEAF_RULES}, got {self.empty_leaf!r}"
            )
        if self.leaf_sampler not in LEAF_SAMPLERS:
            raise ValueError(
                f"leaf_sampler must be one of {LEAF_SAMPLERS}, got {self.leaf_sampler!r}"
            )
        self._validate_node_model()
        if self.leaf_sampler == "vae":
            leaf_vae.validate(self, bench)
        elif self.leaf_sampler != "tabular":
            for name in ("num_proposals", "thin", "nuts_depth"):
                if getattr(self, name) < 1:
                    raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
            for name in ("burn_in", "nuts_warmup"):
                if getattr(self, name) < 0:
                    raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
            continuous.nb201_row_lookup(bench.space)  # raises for other spaces
            if bench.dim != nb201.FEATURE_DIM:
                raise ValueError(
                    f"continuous LaNAS needs NB201 one-hot features ({nb201.FEATURE_DIM}"
                    f" wide), got {bench.dim}"
                )

    def _validate_node_model(self) -> None:
        if self.node_model not in NODE_MODELS:
            raise ValueError(f"node_model must be one of {NODE_MODELS}, got {self.node_model!r}")
        if self.node_model != "mlp":
            return
        if self.leaf_sampler not in TABLE_SAMPLERS:
            raise ValueError(
                f"node_model='mlp' works only with the table leaf samplers {TABLE_SAMPLERS}: "
                f"leaf_sampler={self.leaf_sampler!r} samples the leaf's polytope, and a leaf "
                "cut out by MLP boundaries is not a polytope"
            )
        for name in ("mlp_hidden", "mlp_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.mlp_learning_rate > 0:
            raise ValueError(f"mlp_learning_rate must be > 0, got {self.mlp_learning_rate}")

    @property
    def num_leaves(self) -> int:
        return 2 ** (self.tree_height - 1)

    @functools.partial(jax.jit, static_argnums=(0, 3))
    def init(self, key, bench, budget, params):
        if self.leaf_sampler not in TABLE_SAMPLERS:
            return continuous.init(self, key, bench, budget)
        vae = None
        if self.leaf_sampler == "vae":
            vae = leaf_vae.init(self, jax.random.fold_in(key, 1), bench)
        n, m = bench.size, num_nodes(self.tree_height)
        return LaNASState(
            seen=jnp.zeros((n,), bool),
            evaluated=jnp.zeros((budget,), jnp.int32),
            values=jnp.zeros((budget,), bench.metric.dtype),
            count=jnp.zeros((), jnp.int32),
            leaf_of=jnp.zeros((n,), jnp.int32),
            leaf_unseen=jnp.zeros((self.num_leaves,), jnp.int32).at[0].set(n),
            priority=random_priority(key, n),
            node_count=jnp.zeros((m,), jnp.float32),
            node_sum=jnp.zeros((m,), jnp.float32),
            fitted=jnp.zeros((), bool),
            vae=vae,
        )

    def _refit(self, key, state: LaNASState, bench, params) -> LaNASState:
        """The learning phase: fit every node, route every entry, redraw the leaf order."""
        if self.leaf_sampler == "vae":
            key, vae_key = jax.random.split(key)
            state = state.replace(vae=leaf_vae.retrain(
                self, vae_key, state.vae, state.evaluated, state.values, state.count, bench
            ))
        mask = jnp.arange(state.evaluated.shape[0]) < state.count
        feats = bench.features[state.evaluated]
        if self.node_model == "mlp":
            key, mlp_key = jax.random.split(key)
            tree = mlp_tree.fit_mlp_tree(
                mlp_key, feats, state.values, mask, self.tree_height, self.mlp_hidden,
                self.mlp_steps, self.mlp_learning_rate,
            )
            leaf_of = mlp_tree.route(bench.features, tree, self.tree_height)
        else:
            tree = fit_tree(feats, state.values, mask, self.tree_height, params.ridge)
            leaf_of = route(bench.features, tree, self.tree_height)
        in_leaf = leaf_of[:, None] == jnp.arange(self.num_leaves)
        leaf_unseen = jnp.sum(in_leaf & ~state.seen[:, None], 0, dtype=jnp.int32)
        return state.replace(
            leaf_of=leaf_of,
            leaf_unseen=leaf_unseen,
            priority=random_priority(key, bench.size),
            node_count=tree.count,
            node_sum=tree.value_sum,
            fitted=jnp.ones((), bool),
        )

    def _select(self, key, state: LaNASState, params) -> jax.Array:
        """The search phase's step 1: a leaf by UCB, with the empty-leaf rule applied."""
        has_unseen = state.leaf_unseen > 0
        available = None
        if self.empty_leaf == "skip":
            available = subtree_available(has_unseen, self.tree_height)
        leaf = select_leaf(
            key, state.node_count, state.node_sum, params.cp, self.tree_height, available
        )
        return jnp.where(has_unseen[leaf], leaf, jnp.argmax(has_unseen)).astype(jnp.int32)

    @functools.partial(jax.jit, static_argnums=0)
    def ask(self, key, state, bench, params):
        if self.leaf_sampler not in TABLE_SAMPLERS:
            return continuous.ask(self, key, state, bench, params)
        if self.leaf_sampler == "vae":
            key, vae_key = jax.random.split(key)
        fit_key, select_key = jax.random.split(key)
        since_init = state.count - self.num_init
        refit_due = (since_init >= 0) & (since_init % self.num_selects == 0)
        state = jax.lax.cond(
            refit_due, lambda s: self._refit(fit_key, s, bench, params), lambda s: s, state
        )
        leaf = self._select(select_key, state, params)
        if self.leaf_sampler == "vae":
            return leaf_vae.propose_in_leaf(self, vae_key, state, leaf, bench)
        # Before the first fit every entry is a candidate: a uniform random draw.
        candidate = ~state.seen & ((state.leaf_of == leaf) | ~state.fitted)
        return draw(state.priority, candidate), state

    @functools.partial(jax.jit, static_argnums=0)
    def tell(self, state, index, value, bench, params):
        if self.leaf_sampler not in TABLE_SAMPLERS:
            return continuous.tell(self, state, index, value, bench, params)
        leaf = state.leaf_of[index]
        count, total = backpropagate(
            state.node_count, state.node_sum, leaf, value, self.tree_height
        )
        return state.replace(
            seen=state.seen.at[index].set(True),
            evaluated=state.evaluated.at[state.count].set(index),
            values=state.values.at[state.count].set(value),
            count=state.count + 1,
            leaf_unseen=state.leaf_unseen.at[leaf].add(-1),
            node_count=jnp.where(state.fitted, count, state.node_count),
            node_sum=jnp.where(state.fitted, total, state.node_sum),
        )
