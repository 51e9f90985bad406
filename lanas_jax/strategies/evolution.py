"""Regularized (aging) evolution: Real, Aggarwal, Huang & Le 2019, "Regularized Evolution for
Image Classifier Architecture Search" (AAAI 2019), Algorithm 1, on any domain.

The population is a ring buffer of ``P`` architectures and their values. The first ``P``
queries are uniformly random new architectures. After that every query samples ``S`` members
uniformly without replacement (the tournament), takes the best as the parent and mutates it
through the domain (the space's one-edit ``mutate``; a plain table's listed neighbours).
``tell`` writes each child over the oldest member (aging): the ring-buffer pointer.

Unlike Algorithm 1, which may re-train an architecture it has already seen, nothing is ever
evaluated twice: the child is the first of ``mutation_tries`` mutations that is new (not
evaluated, not pending, and in the table for a tabular study), which is a uniform draw among
the parent's new one-edit neighbours; when all tries fail (the neighbourhood is used up) the
child is a uniformly random new architecture, as at initialisation.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.strategies.base import register
from lanas_jax.strategies.core import Strategy, select


@struct.dataclass
class EvolutionState:
    pop: object  # [P] architectures (ring buffer)
    pop_value: jax.Array  # [P] float32, their values (-inf while empty)
    pointer: jax.Array  # () int32, slot of the oldest member = where the next child goes


@register("evolution")
@dataclasses.dataclass(frozen=True)
class RegularizedEvolution(Strategy):
    """Aging evolution (Real et al. 2019, Alg. 1) with tournament selection; never evaluates an
    architecture twice (see the module doc).

    Attributes:
      population_size: ``P``, members kept alive (the paper's population).
      tournament_size: ``S``, members sampled without replacement per step (the paper's
        sample size); the best of them is the parent.
      mutation_tries: mutations drawn per query to find a new child (not a paper parameter:
        the cost of "never evaluate twice").
    """

    population_size: int = 50
    tournament_size: int = 10
    mutation_tries: int = 32

    def validate(self, domain, budget: int) -> None:
        if not domain.can_mutate():
            raise ValueError(
                f"evolution needs a mutation: the table {domain.space.table!r} defines no "
                "`neighbors` (one-edit mutations) and names no architecture space"
            )
        if self.population_size < 1:
            raise ValueError(f"population_size must be >= 1, got {self.population_size}")
        if self.tournament_size < 1:
            raise ValueError(f"tournament_size must be >= 1, got {self.tournament_size}")
        if self.tournament_size > self.population_size:
            raise ValueError(
                f"tournament_size ({self.tournament_size}) must not exceed population_size "
                f"({self.population_size}): the tournament samples without replacement"
            )
        if self.mutation_tries < 1:
            raise ValueError(f"mutation_tries must be >= 1, got {self.mutation_tries}")

    def _init(self, key, domain, budget, params):
        template = domain.arch(0) if domain.is_pool else domain.space.sample(key)
        p = self.population_size
        return EvolutionState(
            pop=jax.tree.map(lambda a: jnp.zeros((p,) + a.shape, a.dtype), template),
            pop_value=jnp.full((p,), -jnp.inf, jnp.float32),
            pointer=jnp.zeros((), jnp.int32),
        )

    def _ask_one(self, key, state, domain, params):
        rand_key, tour_key, mut_key = jax.random.split(key, 3)
        inner = state.inner
        random_child = self.propose_new(rand_key, state, domain)
        members = jax.random.choice(
            tour_key, self.population_size, (self.tournament_size,), replace=False)
        best = members[jnp.argmax(inner.pop_value[members])]
        parent = jax.tree.map(lambda a: a[best], inner.pop)
        child, ok = self.mutate_new(mut_key, state, domain, parent, self.mutation_tries)
        started = state.archive.count >= self.population_size
        return select(started & ok, child, random_child), state

    def _tell(self, state, archs, values, domain, params):
        def one(inner, item):
            arch, value = item
            slot = inner.pointer
            return inner.replace(
                pop=jax.tree.map(lambda buf, a: buf.at[slot].set(a), inner.pop, arch),
                pop_value=inner.pop_value.at[slot].set(value.astype(jnp.float32)),
                pointer=(slot + 1) % self.population_size,
            ), None

        inner, _ = jax.lax.scan(one, state.inner, (archs, values))
        return state.replace(inner=inner)
