"""LA-MCTS for architecture search: a learned, growing partition, UCB down it, and a local
sampler inside the chosen leaf, on any domain.

Wang, Fonseca & Tian, "Learning Search Space Partition for Black-box Optimization using Monte
Carlo Tree Search" (NeurIPS 2020), Alg. 1: ``num_init`` uniformly random samples; then every
round (``num_selects`` queries) the tree is re-learned from the samples
(:func:`~lanas_jax.strategies.lamcts_tree.fit_tree`: 2-means on (features, standardised value),
a linear classifier as each split, a node splits when it holds ``leaf_size`` samples, at most
``height`` levels); each query walks from the root by UCB with ``Cp = cp * std(values)`` to a
leaf and draws a new architecture inside it; its value is back-propagated along its path.

Inside the leaf (the paper samples with BO / TuRBO restricted to the leaf's region; a discrete
space has no such region to optimise over), ``sampler``:

- ``"mutation"``: one-edit mutations (the domain's ``mutate``) of the leaf's best ``parents``
  architectures (by default of a random ``tournament`` of the leaf's samples); a parent is
  drawn uniformly among those that have a new child the tree routes into the same leaf (the
  reference's path check), and the child is its first such mutation;
- ``"surrogate"`` (default): a ridge regression fitted on the round's samples ranks the
  candidates and the best-scored is proposed: the in-leaf mutations above, or on a pool (a
  table), with probability ``rank_pool``, every unseen row the tree routes into the leaf (the
  leaf's region, as the paper's in-leaf BO).

When no in-leaf child exists the proposal is a new mutation of the leaf's parents that left the
leaf, and failing that a uniformly random new architecture. Never evaluates anything twice (the
base's archive). Only the ``fit_cap`` most recent samples are fitted (the paper fits all; with
the default cap this only differs after 256 samples).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax import archive as archive_lib
from lanas_jax.strategies import lamcts_tree as lt
from lanas_jax.strategies.base import register
from lanas_jax.strategies.core import Segment, Strategy, refit_due, refit_schedule, select
from lanas_jax.strategies.surrogate import archive_features, feature_dim

LEAF_SAMPLERS = ("mutation", "surrogate")


@struct.dataclass
class LaMCTSParams:
    """Numbers a user may vmap over."""

    cp: float = 0.2  # UCB exploration, in units of the std of the fitted values


@struct.dataclass
class LaMCTSState:
    tree: lt.SplitTree
    count: jax.Array  # [M] samples per node (UCB's n), updated by every told sample
    value_sum: jax.Array  # [M]
    cp: jax.Array  # () the round's Cp = params.cp * std(values)
    fitted: jax.Array  # () bool
    win_slot: jax.Array  # [W] archive slots of the round's samples (-1: none)
    win_node: jax.Array  # [W] their leaf (heap index)
    win_n: jax.Array  # () int32, next free window position
    ridge: jax.Array  # [D + 1] the surrogate's weights (bias last)
    row_score: jax.Array  # surrogate on a pool: [N] every row's score with its leaf, else [0]
    row_node: jax.Array  # [N] int32 (or [0])


@register("lamcts")
@dataclasses.dataclass(frozen=True)
class LaMCTS(Strategy):
    """LA-MCTS (Wang et al. 2020) over a domain (see the module doc).

    Attributes:
      height: tree levels (at most ``2^(height-1)`` leaves).
      leaf_size: a node with at least this many samples is split (the reference's 20).
      num_init: uniformly random queries before the first fit.
      num_selects: queries between two refits (the paper refits at every query).
      value_weight: weight of the standardised value next to the features in 2-means.
      sampler: ``"mutation"`` or ``"surrogate"`` (see the module doc).
      parents: the leaf's best architectures whose mutations are candidates.
      tournament: when > 0, the parents are the best of this many of the leaf's samples drawn
        at random per query (regularized evolution's tournament, inside the leaf); 0: the
        leaf's best.
      rank_pool: surrogate sampler on a pool: probability that a query ranks every unseen row
        of the leaf rather than the leaf's mutations.
      explore: probability that a query is a uniformly random new architecture instead.
      mutation_tries: mutations drawn per parent.
      fit_cap: the most recent samples the tree is fitted on.
      kmeans_iters / newton_steps / l2: 2-means Lloyd steps, logistic-regression Newton steps
        and its L2 strength.
    """

    height: int = 5
    leaf_size: int = 20
    num_init: int = 20
    num_selects: int = 10
    value_weight: float = 5.0
    sampler: str = "surrogate"
    parents: int = 1
    tournament: int = 10
    explore: float = 0.0
    rank_pool: float = 0.25
    mutation_tries: int = 16
    fit_cap: int = 256
    kmeans_iters: int = 10
    newton_steps: int = 4
    l2: float = 1.0

    def default_params(self) -> LaMCTSParams:
        return LaMCTSParams()

    def validate(self, domain, budget: int) -> None:
        if not domain.can_mutate():
            raise ValueError(
                f"lamcts needs a mutation: the table {domain.space.table!r} defines no "
                "`neighbors` (one-edit mutations) and names no architecture space")
        if self.sampler not in LEAF_SAMPLERS:
            raise ValueError(f"sampler must be one of {LEAF_SAMPLERS}, got {self.sampler!r}")
        for name in ("height", "num_selects", "parents", "mutation_tries", "fit_cap"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.tournament <= self.fit_cap or self.parents > self.fit_cap:
            raise ValueError(f"tournament ({self.tournament}) and parents ({self.parents}) "
                             f"must be in [0, fit_cap={self.fit_cap}]")
        for name in ("explore", "rank_pool"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.leaf_size < 2:
            raise ValueError(f"leaf_size must be >= 2, got {self.leaf_size}")
        if self.num_init < 0:
            raise ValueError(f"num_init must be >= 0, got {self.num_init}")
        if self.num_init % self.batch_size or self.num_selects % self.batch_size:
            raise ValueError(f"num_init ({self.num_init}) and num_selects ({self.num_selects})"
                             f" must be multiples of the batch size {self.batch_size}")

    # -- rounds (as LaNAS: the refit is a structural round of the runner) -----------------------
    has_rounds = True

    def round_due(self, count):
        return refit_due(count, self.num_init, self.num_selects)

    def schedule(self, budget: int) -> tuple[Segment, ...]:
        return refit_schedule(budget, self.num_init, self.num_selects, self.batch_size)

    @property
    def window(self) -> int:
        return self.fit_cap + self.num_selects

    def _init(self, key, domain, budget, params) -> LaMCTSState:
        d, m, i = feature_dim(domain), lt.num_nodes(self.height), lt.num_internal(self.height)
        tree = lt.SplitTree(jnp.zeros((i, d)), jnp.zeros((i,)), jnp.zeros((i,), bool),
                            jnp.zeros((m,)), jnp.zeros((m,)))
        w = self.window
        n = domain.size if self._ranks_pool(domain) else 0
        return LaMCTSState(tree, jnp.zeros((m,)), jnp.zeros((m,)), jnp.zeros(()),
                           jnp.zeros((), bool), jnp.full((w,), -1, jnp.int32),
                           jnp.zeros((w,), jnp.int32), jnp.zeros((), jnp.int32),
                           jnp.zeros((d + 1,)), jnp.zeros((n,)), jnp.zeros((n,), jnp.int32))

    def _begin_round(self, key, state, domain, params):
        """Re-learn the tree from the ``fit_cap`` most recent samples (Alg. 1, line 3)."""
        archive = state.archive
        slots = archive.count - self.fit_cap + jnp.arange(self.fit_cap)
        mask = slots >= 0
        safe = jnp.maximum(slots, 0)
        feats = archive_features(archive, domain, safe)
        values = jnp.where(mask, archive.values[safe], 0.0)
        tree, node = lt.fit_tree(feats, values, mask, self.height, self.leaf_size,
                                 self.value_weight, self.kmeans_iters, self.l2,
                                 self.newton_steps)
        n = jnp.maximum(jnp.sum(mask), 1)
        std = jnp.sqrt(jnp.sum(jnp.where(mask, values - jnp.sum(values) / n, 0.0) ** 2) / n)
        pad = jnp.full((self.num_selects,), -1, jnp.int32)
        inner = state.inner.replace(
            tree=tree, count=tree.count, value_sum=tree.value_sum, cp=params.cp * std,
            fitted=jnp.ones((), bool),
            win_slot=jnp.concatenate([jnp.where(mask, slots, -1), pad]),
            win_node=jnp.concatenate([node, jnp.zeros_like(pad)]),
            win_n=jnp.asarray(self.fit_cap, jnp.int32),
            ridge=self._ridge(feats, values, mask) if self.sampler == "surrogate"
            else state.inner.ridge)
        if self._ranks_pool(domain):  # score and route every row once per round
            f = domain.features
            inner = inner.replace(
                row_score=f @ inner.ridge[:-1] + inner.ridge[-1],
                row_node=jax.vmap(lambda x: lt.route(tree, x, self.height))(f))
        return state.replace(inner=inner)

    def _ranks_pool(self, domain) -> bool:
        """The surrogate ranks every unseen row of the leaf on a pool (mutations elsewhere)."""
        return self.sampler == "surrogate" and domain.is_pool and self.rank_pool > 0

    def _ridge(self, feats, values, mask):
        """Least squares of the values on ``[features, 1]`` (ridge 1e-2), the surrogate."""
        x = jnp.concatenate([feats, jnp.ones((feats.shape[0], 1))], 1) * mask[:, None]
        y = values * mask
        reg = 1e-2 * jnp.eye(x.shape[1])
        return jnp.linalg.solve(x.T @ x + reg, x.T @ y)

    def _ask_one(self, key, state, domain, params):
        sel_key, par_key, mut_key, uni_key, eps_key = jax.random.split(key, 5)
        inner, archive = state.inner, state.archive
        leaf = lt.select(sel_key, inner.tree, inner.count, inner.value_sum, inner.cp,
                         self.height)
        safe = jnp.maximum(inner.win_slot, 0)
        in_leaf = (inner.win_slot >= 0) & (inner.win_node == leaf)
        if self.tournament:  # the best of a random ``tournament`` of the leaf's samples
            u = jax.random.uniform(jax.random.fold_in(par_key, 1), in_leaf.shape)
            _, drawn = jax.lax.top_k(jnp.where(in_leaf, u, -1.0), self.tournament)
            in_leaf = jnp.zeros_like(in_leaf).at[drawn].set(in_leaf[drawn])
        vals, pos = jax.lax.top_k(jnp.where(in_leaf, archive.values[safe], -jnp.inf),
                                  self.parents)
        parents = jax.tree.map(lambda a: a[safe[pos]], archive.archs)
        has_parent = vals > -jnp.inf

        def children(k, parent):
            kids = jax.vmap(domain.mutate, in_axes=(0, None))(
                jax.random.split(k, self.mutation_tries), parent)
            new = jax.vmap(lambda a: archive_lib.is_new(archive, domain, a))(kids)
            node = jax.vmap(lambda a: lt.route(inner.tree, domain.feature(a), self.height))(kids)
            return kids, new, node == leaf

        kids, new, stays = jax.vmap(children)(jax.random.split(mut_key, self.parents), parents)
        new = new & has_parent[:, None]
        ok = new & stays  # [P, T]
        flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), kids)
        if self.sampler == "surrogate":
            feats = jax.vmap(domain.feature)(flat)
            score = feats @ inner.ridge[:-1] + inner.ridge[-1]
            pick = jnp.argmax(jnp.where(ok.reshape(-1), score, -jnp.inf))
        else:
            u = jax.random.uniform(par_key, (self.parents,))
            parent = jnp.argmax(jnp.where(ok.any(1), u, -1.0))
            pick = parent * self.mutation_tries + jnp.argmax(ok[parent])
        pick = jnp.where(ok.any(), pick, jnp.argmax(new.reshape(-1)))
        child = jax.tree.map(lambda a: a[pick], flat)
        uniform = self.propose_new(uni_key, state, domain)
        local = inner.fitted & new.any()
        if self._ranks_pool(domain):
            use = jax.random.uniform(jax.random.fold_in(eps_key, 1)) < self.rank_pool
            cand = archive_lib.unseen_rows(archive) & (inner.row_node == leaf) & use
            row = jnp.argmax(jnp.where(cand, inner.row_score, -jnp.inf))
            child = select(cand.any(), domain.arch(row), child)
            local = inner.fitted & (new.any() | cand.any())
        if self.explore > 0:
            local = local & (jax.random.uniform(eps_key) >= self.explore)
        return select(local, child, uniform), state

    def _tell(self, state, archs, values, domain, params):
        def one(carry, item):
            inner, slot = carry
            arch, value = item
            node = lt.route(inner.tree, domain.feature(arch), self.height)
            count, total = lt.backpropagate(inner.count, inner.value_sum, node, value,
                                            self.height)
            at = jnp.minimum(inner.win_n, self.window - 1)
            room = inner.fitted & (inner.win_n < self.window)
            inner = inner.replace(
                count=jnp.where(inner.fitted, count, inner.count),
                value_sum=jnp.where(inner.fitted, total, inner.value_sum),
                win_slot=inner.win_slot.at[at].set(jnp.where(room, slot, inner.win_slot[at])),
                win_node=inner.win_node.at[at].set(jnp.where(room, node, inner.win_node[at])),
                win_n=inner.win_n + room.astype(jnp.int32))
            return (inner, slot + 1), None

        n = jax.tree.leaves(values)[0].shape[0]
        first = state.archive.count - n  # the archive already holds the batch
        (inner, _), _ = jax.lax.scan(one, (state.inner, first), (archs, values))
        return state.replace(inner=inner)
