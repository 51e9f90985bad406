"""LaNAS by composition: learn a partition, select a leaf by UCB, sample inside it.

Seed 000 (LaNAS), Alg. 1 and Sec. 3.3, with the reference code's loop (REFERENCE.md):
``num_init`` uniformly random samples; then rounds of ``num_selects`` queries, each round
starting with the learning phase (refit every node on all evaluated samples:
:mod:`~lanas_jax.partition.partitions`), each query walking from the root by UCB to a leaf and
drawing a new architecture inside it (the search phase: :mod:`~lanas_jax.partition.samplers`),
and back-propagating its value. Every evaluated architecture counts, the initial ones too.

``LaNAS(partition, sampler, num_init=..., num_selects=..., empty_leaf=...)`` composes the parts;
the flat keywords of the first version (``tree_height``, ``node_model``, ``mlp_*``,
``leaf_sampler``, ``num_proposals``, ..., ``vae_*``) still build the same parts, so
``LaNAS(tree_height=5, num_selects=20, num_init=10)`` and the binaries' flags keep working.

The refit is a structural round (:meth:`LaNAS.schedule`): the scanned runner runs it once per
round, never as a per-step ``lax.cond`` that ``vmap`` would evaluate every step.

Deviations (see BUILD_NOTES.md): node regressors are closed-form ridge least squares rather than
Adam epochs; the uniform draw inside a leaf takes the unseen row with the largest random
priority, the priorities redrawn at every refit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.partition.leaf_vae import VAESampler
from lanas_jax.partition.partitions import (
    FrozenParams,  # noqa: F401  (re-exported: the params of FrozenLaNAS)
    LaNASParams,
    LinearTree,
    MLPTree,
)
from lanas_jax.partition.samplers import LocalMix, PolytopeSampler, UniformRow
from lanas_jax.partition.tree import num_nodes
from lanas_jax.partition.ucb import backpropagate, select_leaf, subtree_available
from lanas_jax.strategies.base import register
from lanas_jax.strategies.core import Segment, Strategy, refit_due, refit_schedule, select

EMPTY_LEAF_RULES = ("first_nonempty", "skip")
#: Table-entry samplers and the continuous ones.
TABLE_SAMPLERS = ("tabular", "vae")
LEAF_SAMPLERS = ("tabular", "hit_and_run", "nuts", "vae")
#: Node regressors: closed-form ridge least squares (``tree.py``) or MLPs (``mlp_tree.py``).
NODE_MODELS = ("linear", "mlp")

_PARTITION_KEYS = {"tree_height", "node_model", "mlp_hidden", "mlp_steps", "mlp_learning_rate"}
_POLY_KEYS = {"num_proposals", "burn_in", "thin", "nuts_warmup", "nuts_depth",
              "require_in_leaf"}
_VAE_KEYS = {"vae_vocab", "vae_tries", "vae_top_frac", "vae_iters", "vae_batch_size",
             "vae_learning_rate", "vae_embed", "vae_hidden", "vae_latent"}
_LOCAL_KEYS = {"local_frac", "local_top", "local_tries"}
#: The flat keywords of the first version, each building a part.
FLAT_KEYS = _PARTITION_KEYS | _POLY_KEYS | _VAE_KEYS | _LOCAL_KEYS | {"leaf_sampler"}


def partition_from_flat(tree_height: int = 5, node_model: str = "linear", mlp_hidden: int = 32,
                        mlp_steps: int = 200, mlp_learning_rate: float = 1e-2):
    """The partition the flat keywords name."""
    if node_model not in NODE_MODELS:
        raise ValueError(f"node_model must be one of {NODE_MODELS}, got {node_model!r}")
    if node_model == "mlp":
        return MLPTree(tree_height, mlp_hidden, mlp_steps, mlp_learning_rate)
    return LinearTree(tree_height)


def sampler_from_flat(leaf_sampler: str = "tabular", local_frac: float = 0.0,
                      local_top: int = 5, local_tries: int = 8, **kw):
    """The leaf sampler the flat keywords name (wrapped in :class:`LocalMix` when
    ``local_frac > 0``)."""
    base = _base_sampler(leaf_sampler, **kw)
    if local_frac:
        return LocalMix(base, float(local_frac), local_top, local_tries)
    return base


def _base_sampler(leaf_sampler: str, **kw):
    if leaf_sampler not in LEAF_SAMPLERS:
        raise ValueError(f"leaf_sampler must be one of {LEAF_SAMPLERS}, got {leaf_sampler!r}")
    if leaf_sampler == "tabular":
        return UniformRow()
    if leaf_sampler == "vae":
        return VAESampler(**{k.removeprefix("vae_"): v for k, v in kw.items()
                             if k in _VAE_KEYS})
    return PolytopeSampler(leaf_sampler, **{k: v for k, v in kw.items() if k in _POLY_KEYS})


def flat_of_partition(partition) -> dict:
    """The flat keywords that build ``partition`` (the standard ones only)."""
    if type(partition) is LinearTree:
        return {"tree_height": partition.height, "node_model": "linear"}
    if type(partition) is MLPTree:
        return {"tree_height": partition.height, "node_model": "mlp",
                "mlp_hidden": partition.hidden, "mlp_steps": partition.steps,
                "mlp_learning_rate": partition.learning_rate}
    raise TypeError(f"a {type(partition).__name__} partition has no flat keywords")


def flat_of_sampler(sampler) -> dict:
    """The flat keywords that build ``sampler``."""
    if isinstance(sampler, LocalMix):
        return {**flat_of_sampler(sampler.base), "local_frac": sampler.frac,
                "local_top": sampler.top, "local_tries": sampler.tries}
    if isinstance(sampler, UniformRow):
        return {"leaf_sampler": "tabular"}
    if isinstance(sampler, PolytopeSampler):
        out = dataclasses.asdict(sampler)
        return {"leaf_sampler": out.pop("method"), **out}
    if isinstance(sampler, VAESampler):
        return {"leaf_sampler": "vae",
                **{f"vae_{k}": v for k, v in dataclasses.asdict(sampler).items()}}
    raise TypeError(f"a {type(sampler).__name__} sampler has no flat keywords")


@struct.dataclass
class LaNASState:
    tree: Any  # the partition's fitted state (a Tree, an MLPTree)
    node_count: jax.Array  # [M] samples per node region (UCB's n)
    node_sum: jax.Array  # [M] sum of their values (UCB's n * X̄)
    fitted: jax.Array  # () bool, whether a partition has been learned yet
    sampler: Any  # the leaf sampler's state


@register("lanas")
@dataclasses.dataclass(frozen=True, init=False)
class LaNAS(Strategy):
    """Latent Action NAS (seed 000): ``partition`` x ``sampler`` x the refit schedule.

    Attributes:
      partition: :class:`LinearTree` (the paper's), :class:`MLPTree`, a frozen or warm tree.
      sampler: :class:`UniformRow` (tabular), :class:`PolytopeSampler`, :class:`VAESampler`.
      num_init: uniformly random queries before the first fit (counted in the budget). The
        defaults are the reference code's (height 5, 20 selects, 10 initial samples); the
        paper's Sec. 4.2 study used 100 selects and 400 initial samples.
      num_selects: queries between two refits (#selects).
      empty_leaf: when UCB picks a leaf with no candidate left: ``"first_nonempty"`` samples
        the leftmost leaf that has one (the reference code); ``"skip"`` never walks into an
        exhausted subtree.
    """

    partition: Any
    sampler: Any
    num_init: int
    num_selects: int
    empty_leaf: str

    def __init__(self, partition=None, sampler=None, *, num_init: int = 10,
                 num_selects: int = 20, empty_leaf: str = "first_nonempty",
                 batch_size: int = 1, max_pending: int = 64, **flat):
        unknown = set(flat) - FLAT_KEYS
        if unknown:
            raise TypeError(f"LaNAS got unknown keywords {sorted(unknown)}")
        part_kw = {k: v for k, v in flat.items() if k in _PARTITION_KEYS}
        samp_kw = {k: v for k, v in flat.items() if k not in _PARTITION_KEYS}
        if partition is None:
            partition = partition_from_flat(**part_kw)
        elif part_kw:  # e.g. dataclasses.replace(lanas, tree_height=7)
            partition = partition_from_flat(**{**flat_of_partition(partition), **part_kw})
        if sampler is None:
            sampler = sampler_from_flat(**samp_kw)
        elif samp_kw:
            sampler = sampler_from_flat(**{**flat_of_sampler(sampler), **samp_kw})
        for name, value in (("partition", partition), ("sampler", sampler),
                            ("num_init", num_init), ("num_selects", num_selects),
                            ("empty_leaf", empty_leaf), ("batch_size", batch_size),
                            ("max_pending", max_pending)):
            object.__setattr__(self, name, value)

    # -- the first version's attributes, read from the parts -------------------------------------
    @property
    def tree_height(self) -> int:
        return self.partition.height

    @property
    def leaf_sampler(self) -> str:
        return self.sampler.name

    @property
    def node_model(self) -> str:
        return "linear" if self.partition.linear else "mlp"

    @property
    def num_leaves(self) -> int:
        return 2 ** (self.tree_height - 1)

    def default_params(self):
        return self.partition.default_params()

    def validate(self, domain, budget: int) -> None:
        self.partition.validate(self.feature_dim(domain))
        if self.num_selects < 1:
            raise ValueError(f"num_selects must be >= 1, got {self.num_selects}")
        if self.num_init < 0:
            raise ValueError(f"num_init must be >= 0, got {self.num_init}")
        if self.empty_leaf not in EMPTY_LEAF_RULES:
            raise ValueError(
                f"empty_leaf must be one of {EMPTY_LEAF_RULES}, got {self.empty_leaf!r}")
        if self.num_init % self.batch_size or self.num_selects % self.batch_size:
            raise ValueError(f"num_init ({self.num_init}) and num_selects ({self.num_selects})"
                             f" must be multiples of the batch size {self.batch_size}")
        self.sampler.validate(self, domain)

    # -- the loop ------------------------------------------------------------------------------
    has_rounds = True

    def round_due(self, count):
        return refit_due(count, self.num_init, self.num_selects)

    def schedule(self, budget: int) -> tuple[Segment, ...]:
        return refit_schedule(budget, self.num_init, self.num_selects, self.batch_size)

    def feature_dim(self, domain) -> int:
        """Width of the encoding the partition regresses on (see :meth:`encode`)."""
        if self.sampler.relaxed:
            return domain.space.relax_dim
        return int(domain.features.shape[1]) if domain.is_pool else domain.space.feature_dim

    def encode(self, domain, arch) -> jax.Array:
        """The encoding of one architecture the partition regresses on: the space's relaxation
        for a sampler that draws points of it (Sec. 4.3: the polytope lives in the relaxed
        box), else the domain's features (a table's own encoding)."""
        if self.sampler.relaxed:
            return domain.space.relax(arch)
        return domain.feature(arch)

    def evaluated(self, state, domain):
        """``(encodings [capacity, D], values, mask)`` of the evaluated architectures."""
        archive = state.archive
        if domain.is_pool and not self.sampler.relaxed:
            feats = domain.features[jnp.maximum(archive.rows, 0)]
        else:
            feats = jax.vmap(lambda a: self.encode(domain, a))(archive.archs)
        mask = jnp.arange(archive.capacity) < archive.count
        # Unused archive slots hold -inf: zero them, a masked fit must still see finite values.
        return feats, jnp.where(mask, archive.values, 0.0), mask

    def _init(self, key, domain, budget, params) -> LaNASState:
        tree_key, sampler_key = jax.random.split(key)
        tree = self.partition.init(tree_key, self.feature_dim(domain), params)
        m = num_nodes(self.tree_height)
        frozen = self.partition.fitted_at_init
        state = LaNASState(
            tree=tree,
            node_count=tree.count.astype(jnp.float32) if frozen else jnp.zeros((m,)),
            node_sum=tree.value_sum.astype(jnp.float32) if frozen else jnp.zeros((m,)),
            fitted=jnp.asarray(frozen),
            sampler=self.sampler.init(sampler_key, self, domain),
        )
        return state

    def init(self, key, domain, budget, params):
        state = super().init(key, domain, budget, params)
        if self.partition.fitted_at_init:  # a frozen partition: route the pool once
            sampler = self.sampler.on_fit(jax.random.fold_in(key, 1), self, state, domain)
            state = state.replace(inner=state.inner.replace(sampler=sampler))
        return state

    def _begin_round(self, key, state, domain, params):
        """The learning phase: fit every node on every evaluated sample, then let the sampler
        see the new partition."""
        fit_key, sampler_key = jax.random.split(key)
        feats, values, mask = self.evaluated(state, domain)
        inner = state.inner
        tree = self.partition.fit(fit_key, inner.tree, feats, values, mask, params)
        inner = inner.replace(tree=tree, node_count=tree.count.astype(jnp.float32),
                              node_sum=tree.value_sum.astype(jnp.float32),
                              fitted=jnp.ones((), bool))
        state = state.replace(inner=inner)
        sampler = self.sampler.on_fit(sampler_key, self, state, domain)
        return state.replace(inner=inner.replace(sampler=sampler))

    def _select(self, key, state, params) -> jax.Array:
        """A leaf by UCB, with the empty-leaf rule applied."""
        has = self.sampler.has_candidates(self, state)
        available = None
        if self.empty_leaf == "skip":
            available = subtree_available(has, self.tree_height)
        inner = state.inner
        leaf = select_leaf(key, inner.node_count, inner.node_sum, params.cp, self.tree_height,
                           available)
        return jnp.where(has[leaf], leaf, jnp.argmax(has)).astype(jnp.int32)

    def _ask_one(self, key, state, domain, params):
        select_key, sample_key, uniform_key = jax.random.split(key, 3)
        leaf = self._select(select_key, state, params)
        arch, ok, sampler = self.sampler.propose(sample_key, self, state, leaf, domain)
        uniform = self.propose_new(uniform_key, state, domain)
        fitted = state.inner.fitted
        inner = state.inner.replace(sampler=select(fitted, sampler, state.inner.sampler))
        return select(fitted & ok, arch, uniform), state.replace(inner=inner)

    def _tell(self, state, archs, values, domain, params):
        h = self.tree_height

        def one(inner, item):
            arch, value = item
            row = domain.row(arch)[0] if domain.is_pool else jnp.zeros((), jnp.int32)
            leaf = self.partition.route(inner.tree, self.encode(domain, arch)[None])[0]
            count, total = backpropagate(inner.node_count, inner.node_sum, leaf, value, h)
            return inner.replace(
                node_count=jnp.where(inner.fitted, count, inner.node_count),
                node_sum=jnp.where(inner.fitted, total, inner.node_sum),
                sampler=self.sampler.told(inner.sampler, row, leaf),
            ), None

        inner, _ = jax.lax.scan(one, state.inner, (archs, values))
        return state.replace(inner=inner)


__all__ = ["LaNAS", "LaNASParams", "LaNASState", "LinearTree", "LocalMix", "MLPTree",
           "PolytopeSampler", "UniformRow", "VAESampler"]
