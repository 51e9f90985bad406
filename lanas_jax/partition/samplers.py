"""LaNAS's leaf samplers: how a query draws a new architecture inside the selected leaf.

Seed 000 (LaNAS), Sec. 3.2 step 2. A sampler is a small frozen config object owning its state:

* :class:`UniformRow`: the tabular mode, a uniformly random unevaluated pool row routed into the
  leaf (the reference code's);
* :class:`PolytopeSampler`: the continuous mode of Sec. 3.2 / Sec. 4.3: points drawn uniformly
  in the leaf's polytope by hit-and-run or NUTS and discretised through the space;
* :class:`~lanas_jax.partition.leaf_vae.VAESampler`: seed 002's VAE trained on the top
  architectures, proposing inside the leaf.

Protocol (``lanas`` is the :class:`~lanas_jax.partition.lanas.LaNAS` strategy, ``state`` its
:class:`~lanas_jax.strategies.core.SearchState`): ``validate(lanas, domain)``,
``init(key, lanas, domain) -> sampler state``, ``on_fit(key, lanas, state, domain)`` after every
refit, ``has_candidates(lanas, state) -> [L] bool`` (leaves that can still give a proposal),
``propose(key, lanas, state, leaf, domain) -> (arch, ok, sampler state)`` (``ok`` False: LaNAS
falls back to a uniformly random new architecture) and ``told(sampler state, row, leaf)``.

:class:`PolytopeSampler`'s choice among its ``num_proposals`` discretised points, in chain
order: (1) a new architecture the tree routes into the selected leaf (when ``require_in_leaf``;
rounding can move a point across a boundary: ``off_leaf``); (2) else the first new one (a seen
one is resampled: ``resampled``); (3) else, or when the leaf's polytope is empty or too thin to
sample (``empty``), the fallback. Each leaf keeps its chain's last point and continues from it
while it is still strictly inside the (possibly refitted) leaf, else restarts from
``polytope.interior_point``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax import archive as archive_lib
from lanas_jax.domain import RowSpace
from lanas_jax.partition.hit_and_run import hit_and_run
from lanas_jax.partition.nuts import nuts
from lanas_jax.partition.polytope import OK, chebyshev_centre, depth, interior_point
from lanas_jax.strategies.core import draw, random_priority, select

#: Names of ``PolytopeState.counters``' entries.
COUNTERS = ("proposals", "resampled", "off_leaf", "fallback", "empty")


@struct.dataclass
class RowState:
    leaf_of: jax.Array  # [N] int32, each pool row's leaf at the last refit
    leaf_unseen: jax.Array  # [L] int32, unevaluated rows per leaf
    priority: jax.Array  # [N] int32 random, redrawn at every refit: the leaf's max is drawn


@dataclasses.dataclass(frozen=True)
class UniformRow:
    """A uniform unevaluated pool row of the leaf (tabular mode). The priorities are redrawn
    at every refit, so a leaf's draws between two refits sample it without replacement."""

    name = "tabular"
    relaxed = False

    def validate(self, lanas, domain) -> None:
        if not domain.is_pool:
            raise ValueError("leaf_sampler='tabular' draws pool rows: it needs a table or a "
                             f"dense space small enough to enumerate, not the open "
                             f"{domain.space.name} space (use hit_and_run or nuts)")

    def init(self, key, lanas, domain) -> RowState:
        n = domain.size
        return RowState(jnp.zeros((n,), jnp.int32),
                        jnp.zeros((lanas.num_leaves,), jnp.int32).at[0].set(n),
                        random_priority(key, n))

    def on_fit(self, key, lanas, state, domain) -> RowState:
        leaf_of = lanas.partition.route(state.inner.tree, domain.features)
        in_leaf = leaf_of[:, None] == jnp.arange(lanas.num_leaves)
        unseen = ~state.archive.seen
        return RowState(leaf_of, jnp.sum(in_leaf & unseen[:, None], 0, dtype=jnp.int32),
                        random_priority(key, domain.size))

    def has_candidates(self, lanas, state) -> jax.Array:
        return state.inner.sampler.leaf_unseen > 0

    def propose(self, key, lanas, state, leaf, domain):
        rows = state.inner.sampler
        candidate = archive_lib.unseen_rows(state.archive) & (rows.leaf_of == leaf)
        row = draw(rows.priority, candidate)
        return domain.arch(row), jnp.any(candidate), rows

    def told(self, rows: RowState, row, leaf) -> RowState:
        return rows.replace(leaf_unseen=rows.leaf_unseen.at[rows.leaf_of[row]].add(-1))


@struct.dataclass
class PolytopeState:
    leaf_x: jax.Array  # [L, D] each leaf's chain position (outside the box: restart)
    counters: jax.Array  # [len(COUNTERS)] int32


@dataclasses.dataclass(frozen=True)
class PolytopeSampler:
    """Points of the leaf's polytope (hit-and-run or NUTS), discretised through the space.

    Attributes:
      method: ``"hit_and_run"`` or ``"nuts"``.
      num_proposals, burn_in, thin: points drawn per query; hit-and-run's burn-in after a
        restart and thinning.
      nuts_warmup, nuts_depth: NUTS's adaptation draws per query and tree-depth cap.
      require_in_leaf: prefer proposals whose discretised architecture routes into the leaf.
    """

    method: str = "hit_and_run"
    num_proposals: int = 16
    burn_in: int = 10
    thin: int = 3
    nuts_warmup: int = 20
    nuts_depth: int = 5
    require_in_leaf: bool = True
    relaxed = True  # LaNAS fits its partition on the space's relaxation (the polytope's box)

    @property
    def name(self) -> str:
        return self.method

    def validate(self, lanas, domain) -> None:
        for name in ("num_proposals", "thin", "nuts_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("burn_in", "nuts_warmup"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not lanas.partition.linear:
            raise ValueError(
                f"leaf_sampler={self.method!r} samples the leaf's polytope, and a leaf cut out "
                "by MLP boundaries is not a polytope: use node_model='linear'")
        if isinstance(domain.space, RowSpace):
            raise ValueError(
                f"leaf_sampler={self.method!r} samples a leaf's polytope in the space's relaxed "
                f"encoding and discretises through the space; the table "
                f"{domain.space.table!r} names no space, so it has no relaxation")

    def init(self, key, lanas, domain) -> PolytopeState:
        d = lanas.feature_dim(domain)
        return PolytopeState(jnp.full((lanas.num_leaves, d), -1.0, jnp.float32),
                             jnp.zeros((len(COUNTERS),), jnp.int32))

    def on_fit(self, key, lanas, state, domain) -> PolytopeState:
        return state.inner.sampler

    def has_candidates(self, lanas, state) -> jax.Array:
        return jnp.ones((lanas.num_leaves,), bool)

    def _chain(self, key, lanas, state, leaf, domain):
        """``num_proposals`` points of the leaf's polytope, the chain's new end, usable."""
        poly = lanas.partition.polytope(state.inner.tree, leaf)
        own, _, mask = lanas.evaluated(state, domain)
        in_leaf = mask & (lanas.partition.route(state.inner.tree, own) == leaf)
        cheb = chebyshev_centre(poly, num_iters=20)  # an interior start, not a certificate
        x_new, status = interior_point(poly, own, in_leaf, cheb=cheb)
        x_prev = state.inner.sampler.leaf_x[leaf]
        resume = depth(poly, x_prev) > 0
        x0 = jnp.where(resume, x_prev, x_new)
        status = jnp.where(resume, OK, status)
        k = self.num_proposals
        if self.method == "hit_and_run":
            res = hit_and_run(key, poly, x0, k, thin=self.thin, burn_in=self.burn_in)
            end = res.samples[-1]
        else:  # nuts, radially reparameterised about the start point
            res = nuts(key, poly, x0, self.nuts_warmup, k, max_tree_depth=self.nuts_depth)
            end = x0
        return res.samples, end, (status == OK) & jnp.all(res.inside)

    def propose(self, key, lanas, state, leaf, domain):
        samples, end, usable = self._chain(key, lanas, state, leaf, domain)
        archs = jax.vmap(domain.space.discretise)(samples)
        new = jax.vmap(lambda a: archive_lib.is_new(state.archive, domain, a))(archs)
        feats = jax.vmap(lambda a: lanas.encode(domain, a))(archs)
        routed = lanas.partition.route(state.inner.tree, feats) == leaf
        good = new & routed if self.require_in_leaf else new
        first_good, first_new = jnp.argmax(good), jnp.argmax(new)
        pick = jnp.where(jnp.any(good), first_good, first_new)
        arch = jax.tree.map(lambda a: a[pick], archs)
        # Counters: what the chain proposed up to the one taken, and which rule fired.
        last = samples.shape[0] - 1
        taken = jnp.where(jnp.any(new), pick, last)
        upto = jnp.arange(samples.shape[0]) <= taken
        off_leaf = jnp.sum(upto & new & ~routed) if self.require_in_leaf else 0
        from_chain = jnp.stack(
            [jnp.sum(upto), jnp.sum(upto & ~new), off_leaf, ~jnp.any(new), 0]).astype(jnp.int32)
        from_empty = jnp.array([0, 0, 0, 1, 1], jnp.int32)
        poly_state = state.inner.sampler
        poly_state = poly_state.replace(
            counters=poly_state.counters + jnp.where(usable, from_chain, from_empty),
            leaf_x=jnp.where(usable, poly_state.leaf_x.at[leaf].set(end), poly_state.leaf_x),
        )
        return arch, usable & jnp.any(new), poly_state

    def told(self, poly_state: PolytopeState, row, leaf) -> PolytopeState:
        return poly_state


@dataclasses.dataclass(frozen=True)
class LocalMix:
    """A leaf sampler with local search mixed in: with probability ``frac`` a query is a new
    one-edit mutation of one of the ``top`` best architectures evaluated so far (uniform among
    them; the first new one of ``tries`` mutations), else ``base``'s draw inside the leaf.

    Not in seed 000: its follow-up LA-MCTS (Wang et al. 2020) puts a local optimiser inside
    the selected leaf. Here the parents are the global best, not the leaf's, because the tail
    it removes is the optimum routed into a leaf that UCB starves (``experiments/lanas_tail.py``):
    a mutation of a near-optimal architecture reaches it whatever leaf it is routed to. The
    state is ``base``'s; with ``frac == 0`` every query is ``base``'s, with the same keys.
    """

    base: object = UniformRow()
    frac: float = 0.0
    top: int = 5
    tries: int = 8

    @property
    def name(self) -> str:
        return self.base.name

    @property
    def relaxed(self) -> bool:
        return self.base.relaxed

    def validate(self, lanas, domain) -> None:
        if not 0.0 <= self.frac <= 1.0:
            raise ValueError(f"local_frac must be in [0, 1], got {self.frac}")
        if self.top < 1 or self.tries < 1:
            raise ValueError(f"local_top and local_tries must be >= 1, got {self.top}, "
                             f"{self.tries}")
        if self.frac > 0 and not domain.can_mutate():
            raise ValueError("local_frac > 0 mutates architectures: the table lists no "
                             "`neighbors` and names no space")
        self.base.validate(lanas, domain)

    def init(self, key, lanas, domain):
        return self.base.init(key, lanas, domain)

    def on_fit(self, key, lanas, state, domain):
        return self.base.on_fit(key, lanas, state, domain)

    def has_candidates(self, lanas, state) -> jax.Array:
        return self.base.has_candidates(lanas, state)

    def told(self, sampler_state, row, leaf):
        return self.base.told(sampler_state, row, leaf)

    def propose(self, key, lanas, state, leaf, domain):
        arch, ok, sampler_state = self.base.propose(key, lanas, state, leaf, domain)
        if self.frac == 0.0:
            return arch, ok, sampler_state
        coin_key, parent_key, mut_key = jax.random.split(jax.random.fold_in(key, 0x10ca1), 3)
        archive = state.archive
        top = min(self.top, archive.capacity)
        _, best = jax.lax.top_k(archive.values, top)
        usable = jnp.arange(top) < archive.count
        pick = best[jax.random.categorical(parent_key, jnp.where(usable, 0.0, -jnp.inf))]
        parent = jax.tree.map(lambda a: a[pick], archive.archs)
        child, child_ok = lanas.mutate_new(mut_key, state, domain, parent, self.tries)
        local = jax.random.bernoulli(coin_key, self.frac) & child_ok & (archive.count > 0)
        return select(local, child, arch), ok | local, sampler_state
