"""The rounds shared by surrogate-model searches (BO, predictor search), on any domain.

Seed 000 (LaNAS), Sec. 4.2, "Baselines": every baseline "proposes 100 architectures at every
search iteration, i.e. #select = 100", and the NAO baseline is adapted to a table by "predicting
the networks in the remaining dataset". Here that is: ``num_init`` uniformly random proposals;
then rounds of ``num_selects`` proposals. A round begins (:meth:`Strategy._begin_round`, a
structural round of the runner, not a per-query branch) by refitting the surrogate on every
evaluated architecture of the archive and scoring the round's candidates; each proposal of the
round is then the best-scored candidate that is still new. The ``num_selects`` proposals of a
round are therefore the top-``num_selects`` new candidates of one ranking (a batch proposal
without fantasised observations). A NaN score counts as the worst.

Candidates: on a pool domain (a table, a small dense space) every pool row, ranked as the paper
did; ties are broken by the seed's fixed random row priority. On an open domain the candidates
are ``candidates`` architectures drawn at the round's start: half uniform samples of the space,
half one-edit mutations of the best evaluated architectures (NAO's search around good
architectures), only new ones kept; if a round runs out of new candidates, a proposal is a
uniformly random new architecture.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax import archive as archive_lib
from lanas_jax.domain import Domain
from lanas_jax.strategies.core import Segment, Strategy, draw, select

#: Open domains: the best evaluated architectures whose mutations make half the candidates.
PARENTS = 16


@struct.dataclass
class SurrogateState:
    score: jax.Array  # [N] pool rows or [C] candidates: the last refit's ranking (higher first)
    candidates: Any  # open domain: the round's [C] candidate architectures (None on a pool)
    fitted: jax.Array  # () bool, a round has begun (before it: uniform random proposals)
    model: Any  # the surrogate's own state (weights, optimiser, hyper-parameters)


def archive_features(archive: archive_lib.Archive, domain: Domain, slots: jax.Array) -> jax.Array:
    """``[len(slots), D]`` features of archive slots (junk for slots past ``count``)."""
    if domain.is_pool:
        return domain.features[jnp.maximum(archive.rows[slots], 0)]
    return jax.vmap(domain.space.features)(jax.tree.map(lambda a: a[slots], archive.archs))


def feature_dim(domain: Domain) -> int:
    """Width of the features the surrogate regresses on."""
    return int(domain.features.shape[1]) if domain.is_pool else int(domain.space.feature_dim)


@dataclasses.dataclass(frozen=True)
class SurrogateSearch(Strategy):
    """Base of the refit-then-rank strategies; subclasses define the surrogate.

    Attributes:
      num_init: uniformly random proposals before the first fit (counted in the budget).
      num_selects: proposals served from one ranking before the next refit (#select).
      candidates: open domains only: architectures scored per round (half space samples, half
        mutations of the best evaluated ones); a pool scores all its rows.

    Subclasses implement ``init_model(key, domain, budget, params)`` and
    ``refit(key, state, domain, features, params) -> (score [M], model)`` scoring the
    ``features [M, D]`` of the candidates.
    """

    num_init: int = 100
    num_selects: int = 100
    candidates: int = 1000

    has_rounds = True

    def validate(self, domain: Domain, budget: int) -> None:
        if self.num_init < 1:
            raise ValueError(f"num_init must be >= 1 (the first fit needs data), got "
                             f"{self.num_init}")
        if self.num_selects < 1:
            raise ValueError(f"num_selects must be >= 1, got {self.num_selects}")
        for name in ("num_init", "num_selects"):
            if getattr(self, name) % self.batch_size:
                raise ValueError(f"{name} ({getattr(self, name)}) must be a multiple of "
                                 f"batch_size ({self.batch_size}): rounds are whole batches")
        if not domain.is_pool and self.candidates < 2:
            raise ValueError(f"candidates must be >= 2, got {self.candidates}")

    def init_model(self, key, domain: Domain, budget: int, params) -> Any:
        raise NotImplementedError

    def refit(self, key, state, domain: Domain, features, params) -> tuple[jax.Array, Any]:
        raise NotImplementedError

    # -- rounds ---------------------------------------------------------------------------------
    def round_due(self, count: jax.Array) -> jax.Array:
        since = count - self.num_init
        return (since >= 0) & (since % self.num_selects == 0)

    def schedule(self, budget: int) -> tuple[Segment, ...]:
        b = self.batch_size
        init = min(self.num_init, budget)
        rest = budget - init
        segments = [Segment(1, init // b, False),
                    Segment(rest // self.num_selects, self.num_selects // b, True),
                    Segment(1, (rest % self.num_selects) // b, True)]
        return tuple(s for s in segments if s.rounds and s.asks)

    def _init(self, key, domain, budget, params):
        model_key, cand_key = jax.random.split(key)
        if domain.is_pool:
            size, candidates = domain.size, None
        else:  # placeholders of the round's candidates (fixed shapes); unused before a round
            size = self.candidates
            candidates = jax.vmap(domain.space.sample)(jax.random.split(cand_key, size))
        return SurrogateState(
            score=jnp.zeros((size,), jnp.float32),
            candidates=candidates,
            fitted=jnp.zeros((), bool),
            model=self.init_model(model_key, domain, budget, params),
        )

    def _begin_round(self, key, state, domain, params):
        fit_key, cand_key = jax.random.split(key)
        inner = state.inner
        if domain.is_pool:
            candidates, features = None, domain.features
        else:
            candidates = self._open_candidates(cand_key, state, domain)
            features = jax.vmap(domain.space.features)(candidates)
        score, model = self.refit(fit_key, state, domain, features, params)
        score = jnp.where(jnp.isnan(score), -jnp.inf, score).astype(jnp.float32)
        if candidates is not None:
            new = jax.vmap(lambda a: archive_lib.is_new(state.archive, domain, a))(candidates)
            score = jnp.where(new, score, -jnp.inf)
        inner = inner.replace(score=score, candidates=candidates, fitted=jnp.ones((), bool),
                              model=model)
        return state.replace(inner=inner)

    def _open_candidates(self, key, state, domain):
        """Half uniform samples, half one-edit mutations of the best evaluated architectures."""
        archive = state.archive
        samples = self.candidates // 2
        sample_key, mutate_key = jax.random.split(key)
        drawn = jax.vmap(domain.space.sample)(jax.random.split(sample_key, samples))
        k = min(PARENTS, archive.capacity)
        _, best = jax.lax.top_k(archive.values, k)
        live = jnp.clip(archive.count, 1, k)
        parents = best[jnp.arange(self.candidates - samples) % live]
        parent_archs = jax.tree.map(lambda a: a[parents], archive.archs)
        mutated = jax.vmap(domain.mutate)(
            jax.random.split(mutate_key, self.candidates - samples), parent_archs)
        return jax.tree.map(lambda a, b: jnp.concatenate([a, b]), drawn, mutated)

    # -- proposals ------------------------------------------------------------------------------
    def _ask_one(self, key, state, domain, params):
        inner = state.inner
        if domain.is_pool:
            unseen = archive_lib.unseen_rows(state.archive)
            score = jnp.where(unseen, inner.score, -jnp.inf)
            top = unseen & (score >= jnp.max(score))
            # Before the first fit: a uniform random draw among the unseen rows.
            row = draw(state.priority, jnp.where(inner.fitted & jnp.any(top), top, unseen))
            return domain.arch(row), state
        new = jax.vmap(lambda a: archive_lib.is_new(state.archive, domain, a))(inner.candidates)
        finite = jnp.maximum(inner.score, jnp.finfo(jnp.float32).min)
        pick = jnp.argmax(jnp.where(new, finite, -jnp.inf))
        best = jax.tree.map(lambda a: a[pick], inner.candidates)
        ranked = inner.fitted & jnp.any(new)
        return select(ranked, best, self.propose_new(key, state, domain)), state


def standardize(values: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(values - mean) / std`` over the masked entries (0 elsewhere); returns (z, mean, std).

    ``std`` is floored at 1e-6 so a constant metric does not divide by zero.
    """
    n = jnp.maximum(jnp.sum(mask), 1)
    kept = jnp.where(mask, values, 0.0)
    mean = jnp.sum(kept) / n
    var = jnp.sum(jnp.where(mask, (kept - mean) ** 2, 0.0)) / n
    std = jnp.maximum(jnp.sqrt(var), 1e-6)
    return jnp.where(mask, (kept - mean) / std, 0.0), mean, std
