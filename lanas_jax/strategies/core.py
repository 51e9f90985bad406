"""The Strategy base: architectures in, architectures out, one archive owned by the base.

evosax's shape (DESIGN.md): a strategy is a frozen, hashable dataclass (its static config),
and the public ``init`` / ``ask`` / ``tell`` are jit-compiled once here:

    state = strategy.init(key, domain, budget, params)
    archs, state = strategy.ask(key, state, domain, params)    # batch_size architectures
    state = strategy.tell(state, archs, values, domain, params)

``domain`` (:class:`~lanas_jax.domain.Domain`) is what may be proposed: a table's rows, or a
whole space. The base keeps the :class:`~lanas_jax.archive.Archive` of the state up to date:
every proposal is marked pending in ``ask`` (so one batch never holds an architecture twice and
nothing in flight is proposed again) and recorded in ``tell``; subclasses write
``_init / _ask_one / _tell`` and use :meth:`Strategy.propose_new` / :meth:`Strategy.mutate_new`,
which never return an evaluated or pending architecture.

Rounds: a strategy that refits a model every so many queries (LaNAS, Alg. 1) declares them with
:meth:`Strategy.schedule` and :meth:`Strategy.round_due` and writes ``_begin_round``. The public
``ask`` runs ``_begin_round`` under ``lax.cond`` when a round is due (right for one search); the
scanned runner instead nests a scan over the asks of a round inside a scan over rounds, so the
refit is a real branch under ``vmap`` and not "compute both sides every step". Both derive the
same keys, so they give identical results (``tests/test_strategy_core.py``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax import archive as archive_lib
from lanas_jax.archive import Archive
from lanas_jax.domain import Domain


@struct.dataclass
class NoParams:
    """Params for strategies that have nothing worth vmapping over."""


@struct.dataclass
class SearchState:
    """What every strategy carries: the archive, a fixed random order of the pool's rows for
    uniform draws (``None`` in an open domain) and the subclass's own state."""

    archive: Archive
    priority: Any
    inner: Any


class Segment(NamedTuple):
    """``rounds`` rounds of ``asks`` asks each; ``begin`` runs ``_begin_round`` before each."""

    rounds: int
    asks: int
    begin: bool


def refit_due(count: jax.Array, num_init: int, num_selects: int) -> jax.Array:
    """A refit is due at ``num_init`` queries and every ``num_selects`` after (LaNAS Alg. 1;
    LA-MCTS refits on the same schedule)."""
    since = count - num_init
    return (since >= 0) & (since % num_selects == 0)


def refit_schedule(budget: int, num_init: int, num_selects: int, batch: int
                   ) -> tuple[Segment, ...]:
    """The rounds of :func:`refit_due`: ``num_init`` queries without a model, then rounds of
    ``num_selects`` queries (``batch`` per ask), each opened by a refit, and a shorter last
    round for the rest of ``budget``."""
    init = min(num_init, budget)
    rounds, rest = divmod(budget - init, num_selects)
    segments = []
    if init:
        segments.append(Segment(1, init // batch, False))
    if rounds:
        segments.append(Segment(rounds, num_selects // batch, True))
    if rest:
        segments.append(Segment(1, rest // batch, True))
    return tuple(segments)


def random_priority(key: jax.Array, n: int) -> jax.Array:
    """31 random bits per pool row: the unseen row with the largest is a uniform draw, and
    successive draws from a shrinking unseen set stay uniform with one vector (every row still
    unseen was a candidate at every earlier draw, so what those draws revealed is symmetric in
    the remaining rows)."""
    return (jax.random.bits(key, (n,), jnp.uint32) >> 1).astype(jnp.int32)


def draw(priority: jax.Array, candidate: jax.Array) -> jax.Array:
    """The candidate row with the largest priority (int32); assumes one exists."""
    return jnp.argmax(jnp.where(candidate, priority, -1)).astype(jnp.int32)


def select(pred: jax.Array, a: Any, b: Any) -> Any:
    """``a`` where ``pred`` else ``b``, leaf by leaf (architectures are pytrees)."""
    return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)


#: Samples an open-domain proposal may draw before giving up on finding a new architecture.
MAX_OPEN_TRIES = 4096


@dataclasses.dataclass(frozen=True)
class Strategy:
    """Base class of every architecture-proposing strategy (see the module doc).

    Attributes:
      batch_size: architectures per ``ask`` (1 for tabular studies; a training farm's width
        otherwise).
      max_pending: open domains: architectures that may be in flight (asked, not told) at
        once, at least ``batch_size`` (an asynchronous farm keeps several batches out).
    """

    # No flags: the tabular binaries ask one at a time; a farm sets them from its own width.
    batch_size: int = dataclasses.field(default=1, kw_only=True, metadata={"flag": False})
    max_pending: int = dataclasses.field(default=64, kw_only=True, metadata={"flag": False})
    name = "strategy"

    # -- what subclasses write ---------------------------------------------------------------
    def default_params(self) -> Any:
        return NoParams()

    def validate(self, domain: Domain, budget: int) -> None:
        """Raise ValueError if this strategy cannot search ``domain`` for ``budget`` queries."""

    def _init(self, key: jax.Array, domain: Domain, budget: int, params: Any) -> Any:
        return None

    def _ask_one(self, key: jax.Array, state: SearchState, domain: Domain, params: Any):
        """One new architecture and the updated state."""
        raise NotImplementedError

    def _tell(self, state: SearchState, archs, values, domain: Domain, params) -> SearchState:
        """Learn from a told batch (the archive is already updated)."""
        return state

    def _begin_round(self, key, state: SearchState, domain: Domain, params) -> SearchState:
        return state

    has_rounds = False

    def round_due(self, count: jax.Array) -> jax.Array:
        """Whether a round begins at the ask made after ``count`` evaluations."""
        return jnp.zeros((), bool)

    def schedule(self, budget: int) -> tuple[Segment, ...]:
        """The rounds of a ``budget``-query search, in asks (static)."""
        return (Segment(budget // self.batch_size, 1, False),)

    # -- the public, jitted protocol -----------------------------------------------------------
    @functools.partial(jax.jit, static_argnums=(0, 3))
    def init(self, key: jax.Array, domain: Domain, budget: int, params: Any) -> SearchState:
        archive_key, own_key = jax.random.split(key)
        archive = archive_lib.init(domain, budget,
                                   max_pending=max(self.max_pending, self.batch_size))
        priority = random_priority(archive_key, domain.size) if domain.is_pool else None
        return SearchState(archive, priority, self._init(own_key, domain, budget, params))

    @functools.partial(jax.jit, static_argnums=0)
    def ask(self, key: jax.Array, state: SearchState, domain: Domain, params: Any):
        round_key, ask_key = jax.random.split(key)
        if self.has_rounds:
            state = jax.lax.cond(
                self.round_due(state.archive.count),
                lambda s: self._begin_round(round_key, s, domain, params),
                lambda s: s,
                state,
            )
        return self.ask_batch(ask_key, state, domain, params)

    @functools.partial(jax.jit, static_argnums=0)
    def tell(self, state: SearchState, archs, values, domain: Domain, params: Any):
        return self.record(state, archs, values, domain, params)

    # -- unjitted pieces the runner composes ---------------------------------------------------
    def ask_batch(self, key, state: SearchState, domain: Domain, params):
        """``batch_size`` new architectures, each marked pending before the next is drawn."""

        def one(state, k):
            arch, state = self._ask_one(k, state, domain, params)
            archive = archive_lib.mark_pending(state.archive, domain, arch)
            return state.replace(archive=archive), arch

        state, archs = jax.lax.scan(one, state, jax.random.split(key, self.batch_size))
        return archs, state

    def record(self, state: SearchState, archs, values, domain: Domain, params) -> SearchState:
        archive = archive_lib.add(state.archive, domain, archs, values)
        return self._tell(state.replace(archive=archive), archs, values, domain, params)

    # -- proposals that are always new ---------------------------------------------------------
    def propose_new(self, key: jax.Array, state: SearchState, domain: Domain):
        """A uniformly random architecture of the domain, neither evaluated nor pending.

        Pool: the unseen row with the largest fixed priority (uniform, see
        :func:`random_priority`). Open domain: ``space.sample`` until a new one is drawn (at most
        :data:`MAX_OPEN_TRIES` draws; an open domain is far larger than any budget).
        """
        if domain.is_pool:
            row = draw(state.priority, archive_lib.unseen_rows(state.archive))
            return domain.arch(row)
        space = domain.space

        def cond(c):
            i, _, arch = c
            return (i < MAX_OPEN_TRIES) & ~archive_lib.is_new(state.archive, domain, arch)

        def body(c):
            i, k, _ = c
            k, sub = jax.random.split(k)
            return i + 1, k, space.sample(sub)

        first_key, loop_key = jax.random.split(key)
        _, _, arch = jax.lax.while_loop(cond, body, (0, loop_key, space.sample(first_key)))
        return arch

    def mutate_new(self, key: jax.Array, state: SearchState, domain: Domain, parent, tries: int):
        """``(child, ok)``: the first of ``tries`` one-edit mutations of ``parent`` that is new
        (in the domain, not evaluated, not pending); ``ok`` is False when none was."""
        children = jax.vmap(domain.mutate, in_axes=(0, None))(
            jax.random.split(key, tries), parent)
        new = jax.vmap(lambda a: archive_lib.is_new(state.archive, domain, a))(children)
        first = jnp.argmax(new)
        return jax.tree.map(lambda a: a[first], children), jnp.any(new)
