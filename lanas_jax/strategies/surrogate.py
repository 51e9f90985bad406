"""The loop shared by surrogate-model searches on a tabular benchmark (BO, predictor search).

Seed 000 (LaNAS), Sec. 4.2, "Baselines": every baseline "proposes 100 architectures at every
search iteration, i.e. #select = 100", and the NAO baseline is adapted to a table by "predicting
the networks in the remaining dataset". Here that is: ``num_init`` uniformly random queries;
then, every ``num_selects`` queries, refit the surrogate on every evaluated entry and score every
table entry (the refit is a ``lax.cond`` on the query counter, which is never batched, so under
``vmap`` over seeds it stays a real branch, as in ``lanas_jax/partition/lanas.py``); between
refits each ``ask`` serves the best-scored entry not yet evaluated. The ``num_selects`` queries
of one round are therefore the top-``num_selects`` unseen entries of that round's ranking (a
batch proposal without fantasised observations). Ties in the score are broken uniformly at
random; a NaN score counts as the worst.

Reproducibility: the same key gives the same queries. A vmapped run and a single-seed run share
every random choice, but their float32 linear algebra may be reassociated differently (batched
vs unbatched GEMM and Cholesky on CPU), so a near-tie in a late ranking can flip: the predictor
matched query for query in the tests; BO (whose warm-started hyper-parameters accumulate the
difference) diverged at query 190 of 256 on the test table.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.strategies.base import TableStrategy, draw, random_priority


@struct.dataclass
class SurrogateState:
    seen: jax.Array  # [N] bool, entries evaluated so far
    evaluated: jax.Array  # [budget] int32, the evaluated entries in order
    values: jax.Array  # [budget] float32, their metrics
    count: jax.Array  # () int32, queries told (never batched)
    priority: jax.Array  # [N] int32 random: uniform draws and tie-breaks
    score: jax.Array  # [N] float32, the last refit's ranking (higher = query sooner)
    model: Any  # the surrogate's own state (weights, optimiser, hyper-parameters)


@dataclasses.dataclass(frozen=True)
class SurrogateSearch(TableStrategy):
    """Base of the refit-then-serve strategies; subclasses define the surrogate.

    Attributes:
      num_init: uniformly random queries before the first fit (counted in the budget).
      num_selects: queries served from one ranking before the next refit (#select).

    Subclasses implement ``init_model(key, bench, budget, params)`` and
    ``refit(key, state, bench, params) -> (score [N], model)``.
    """

    num_init: int = 100
    num_selects: int = 100

    def validate(self, bench, budget: int) -> None:
        if self.num_init < 1:
            raise ValueError(f"num_init must be >= 1 (the first fit needs data), got "
                             f"{self.num_init}")
        if self.num_selects < 1:
            raise ValueError(f"num_selects must be >= 1, got {self.num_selects}")

    def init_model(self, key, bench, budget: int, params) -> Any:
        raise NotImplementedError

    def refit(self, key, state: SurrogateState, bench, params) -> tuple[jax.Array, Any]:
        raise NotImplementedError

    @functools.partial(jax.jit, static_argnums=(0, 3))
    def init(self, key, bench, budget, params):
        prio_key, model_key = jax.random.split(key)
        n = bench.size
        return SurrogateState(
            seen=jnp.zeros((n,), bool),
            evaluated=jnp.zeros((budget,), jnp.int32),
            values=jnp.zeros((budget,), jnp.float32),
            count=jnp.zeros((), jnp.int32),
            priority=random_priority(prio_key, n),
            score=jnp.zeros((n,), jnp.float32),
            model=self.init_model(model_key, bench, budget, params),
        )

    def _refit_state(self, key, state: SurrogateState, bench, params) -> SurrogateState:
        score, model = self.refit(key, state, bench, params)
        score = jnp.where(jnp.isnan(score), -jnp.inf, score).astype(jnp.float32)
        return state.replace(score=score, model=model)

    @functools.partial(jax.jit, static_argnums=0)
    def ask(self, key, state, bench, params):
        since_init = state.count - self.num_init
        refit_due = (since_init >= 0) & (since_init % self.num_selects == 0)
        state = jax.lax.cond(
            refit_due,
            lambda s: self._refit_state(key, s, bench, params),
            lambda s: s,
            state,
        )
        unseen = ~state.seen
        score = jnp.where(unseen, state.score, -jnp.inf)
        top = unseen & (score >= jnp.max(score))
        # Before the first fit, or if every unseen score is -inf: a uniform random draw.
        ranked = (since_init >= 0) & jnp.any(top)
        return draw(state.priority, jnp.where(ranked, top, unseen)), state

    @functools.partial(jax.jit, static_argnums=0)
    def tell(self, state, index, value, bench, params):
        return state.replace(
            seen=state.seen.at[index].set(True),
            evaluated=state.evaluated.at[state.count].set(index.astype(jnp.int32)),
            values=state.values.at[state.count].set(value.astype(jnp.float32)),
            count=state.count + 1,
        )


def standardize(values: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(values - mean) / std`` over the masked entries (0 elsewhere); returns (z, mean, std).

    ``std`` is floored at 1e-6 so a constant metric does not divide by zero.
    """
    n = jnp.maximum(jnp.sum(mask), 1)
    mean = jnp.sum(jnp.where(mask, values, 0.0)) / n
    var = jnp.sum(jnp.where(mask, (values - mean) ** 2, 0.0)) / n
    std = jnp.maximum(jnp.sqrt(var), 1e-6)
    return jnp.where(mask, (values - mean) / std, 0.0), mean, std
