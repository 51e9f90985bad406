"""The architecture protocol: archive, domains, batch asks, rounds and the scanned runner, on a
tiny open (non-dense) space and on a table."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from table_driver import by_hand

from lanas_jax import archive as archive_lib
from lanas_jax import scanned
from lanas_jax.domain import Domain
from lanas_jax.evaluators.base import Evaluation, Evaluator
from lanas_jax.spaces.base import Space, SpaceSize
from lanas_jax.strategies import make
from lanas_jax.strategies.core import Segment, Strategy, select

SLOTS, VALUES = 3, 4  # 64 architectures


@struct.dataclass
class TinyArch:
    x: jax.Array  # [3] int32 in [0, 4)


@dataclasses.dataclass(frozen=True)
class TinySpace(Space):
    """Three 4-way choices, declared non-dense so the archive uses its key list."""

    name = "tiny"
    feature_dim = SLOTS * VALUES

    def sample(self, key):
        return TinyArch(jax.random.randint(key, (SLOTS,), 0, VALUES, jnp.int32))

    def mutate(self, key, arch):
        slot_key, value_key = jax.random.split(key)
        slot = jax.random.randint(slot_key, (), 0, SLOTS)
        shift = jax.random.randint(value_key, (), 1, VALUES)
        return TinyArch(arch.x.at[slot].set((arch.x[slot] + shift) % VALUES))

    def features(self, arch):
        return jax.nn.one_hot(arch.x, VALUES).reshape(-1)

    def key(self, arch):
        code = arch.x[0] * 16 + arch.x[1] * 4 + arch.x[2]
        return jnp.stack([code.astype(jnp.uint32), jnp.uint32(7)])

    def size(self):
        return SpaceSize(VALUES**SLOTS, True)


@struct.dataclass
class TinyEvaluator(Evaluator):
    """A jittable additive score of the choices."""

    open: Domain
    weights: jax.Array  # [12]
    name: str = struct.field(pytree_node=False, default="tiny")
    jittable = True

    @property
    def domain(self):
        return self.open

    def evaluate(self, archs, key=None):
        value = jax.vmap(self.open.space.features)(archs) @ self.weights
        return Evaluation(value, value, jnp.full(value.shape, -1, jnp.int32))


def tiny_evaluator() -> TinyEvaluator:
    weights = jax.random.normal(jax.random.key(5), (SLOTS * VALUES,))
    return TinyEvaluator(Domain(TinySpace()), weights)


def codes(archs) -> np.ndarray:
    x = np.asarray(archs.x)
    return x[..., 0] * 16 + x[..., 1] * 4 + x[..., 2]


@pytest.mark.parametrize("name", ["random", "evolution"])
@pytest.mark.parametrize("batch", [1, 4])
def test_never_evaluates_an_architecture_twice_in_an_open_domain(name, batch) -> None:
    strategy = make(name, batch_size=batch, **({"population_size": 8, "tournament_size": 3}
                                               if name == "evolution" else {}))
    history = scanned.sweep(strategy, tiny_evaluator(), jax.random.split(jax.random.key(0), 3),
                            60)
    for seed in range(3):
        c = codes(jax.tree.map(lambda a, s=seed: a[s], history.archs))
        assert len(set(c.tolist())) == 60, f"seed {seed} repeated an architecture"


@pytest.mark.parametrize("name", ["random", "evolution"])
def test_scanned_runner_equals_the_public_protocol_by_hand(name) -> None:
    strategy = make(name, batch_size=4, **({"population_size": 8, "tournament_size": 3}
                                           if name == "evolution" else {}))
    evaluator = tiny_evaluator()
    keys = jax.random.split(jax.random.key(1), 2)
    swept = scanned.sweep(strategy, evaluator, keys, 24)
    for seed in range(2):
        hand, _ = by_hand(strategy, evaluator, keys[seed], 24)
        np.testing.assert_array_equal(codes(hand), codes(
            jax.tree.map(lambda a, s=seed: a[s], swept.archs)))


def test_a_batch_is_distinct_and_pending_architectures_are_not_proposed_again() -> None:
    evaluator = tiny_evaluator()
    domain = evaluator.domain
    strategy = make("random", batch_size=8)
    state = strategy.init(jax.random.key(0), domain, 64, strategy.default_params())
    first, state = strategy.ask(jax.random.key(1), state, domain, None)
    second, state = strategy.ask(jax.random.key(2), state, domain, None)  # nothing told yet
    c1, c2 = codes(first), codes(second)
    assert len(set(c1.tolist()) | set(c2.tolist())) == 16
    assert bool(archive_lib.is_pending(state.archive, domain, jax.tree.map(lambda a: a[0],
                                                                           first)))
    state = strategy.tell(state, first, jnp.zeros(8), domain, None)
    arch0 = jax.tree.map(lambda a: a[0], first)
    assert not bool(archive_lib.is_pending(state.archive, domain, arch0))
    assert bool(archive_lib.is_evaluated(state.archive, domain, arch0))
    assert not bool(archive_lib.is_new(state.archive, domain, arch0))
    assert int(state.archive.count) == 8


def test_pool_archive_uses_rows_and_refuses_a_duplicate_pool() -> None:
    from lanas_jax.domain import pool_domain

    space = TinySpace()
    archs = TinyArch(jnp.array([[0, 0, 1], [0, 0, 2], [3, 3, 3]], jnp.int32))
    domain = pool_domain(space, archs, jnp.eye(3))
    row, found = domain.row(TinyArch(jnp.array([3, 3, 3], jnp.int32)))
    assert (int(row), bool(found)) == (2, True)
    _, found = domain.row(TinyArch(jnp.array([1, 1, 1], jnp.int32)))
    assert not bool(found)
    with pytest.raises(ValueError, match="twice"):
        pool_domain(space, TinyArch(jnp.array([[0, 0, 1], [0, 0, 1]], jnp.int32)), jnp.eye(2))


@struct.dataclass
class RoundState:
    begun_at: jax.Array  # [8] archive counts at which a round began (-1 unused)
    rounds: jax.Array  # () rounds begun


@dataclasses.dataclass(frozen=True)
class EveryFive(Strategy):
    """Random proposals with a round every 5 evaluations after 3 initial ones: records when
    its rounds began, so the structural schedule can be checked against the lax.cond one."""

    has_rounds = True

    def _init(self, key, domain, budget, params):
        return RoundState(jnp.full((8,), -1, jnp.int32), jnp.zeros((), jnp.int32))

    def round_due(self, count):
        return (count >= 3) & ((count - 3) % 5 == 0)

    def schedule(self, budget):
        return (Segment(1, 3, False), Segment((budget - 3) // 5, 5, True))

    def _begin_round(self, key, state, domain, params):
        inner = state.inner
        inner = inner.replace(begun_at=inner.begun_at.at[inner.rounds].set(state.archive.count),
                              rounds=inner.rounds + 1)
        return state.replace(inner=inner)

    def _ask_one(self, key, state, domain, params):
        return self.propose_new(key, state, domain), state


def test_structural_rounds_equal_rounds_under_cond() -> None:
    strategy = EveryFive()
    evaluator = tiny_evaluator()
    key = jax.random.key(4)
    history, final = scanned.sweep(strategy, evaluator, key[None], 23, with_state=True)
    hand, state = by_hand(strategy, evaluator, key, 23)
    np.testing.assert_array_equal(codes(hand), codes(history.archs)[0])
    np.testing.assert_array_equal(np.asarray(final.inner.begun_at[0]), [3, 8, 13, 18, -1, -1,
                                                                         -1, -1])
    np.testing.assert_array_equal(np.asarray(state.inner.begun_at),
                                  np.asarray(final.inner.begun_at[0]))


def test_budgets_the_domain_cannot_serve_are_refused() -> None:
    evaluator = tiny_evaluator()
    with pytest.raises(ValueError, match="multiple of the batch size 4"):
        scanned.sweep(make("random", batch_size=4), evaluator, jax.random.key(0)[None], 10)
    from lanas_jax.benchmarks import from_arrays

    table = from_arrays(np.eye(5), np.arange(5.0), name="five")
    with pytest.raises(ValueError, match="larger than the search space of five"):
        scanned.sweep(make("random"), scanned.table_evaluator(table), jax.random.key(0)[None],
                      6)
    with pytest.raises(ValueError, match="defines no `neighbors`"):
        scanned.sweep(make("evolution"), scanned.table_evaluator(table),
                      jax.random.key(0)[None], 5)


def test_select_picks_whole_architectures() -> None:
    a, b = TinyArch(jnp.array([1, 2, 3])), TinyArch(jnp.array([0, 0, 0]))
    np.testing.assert_array_equal(np.asarray(select(jnp.bool_(True), a, b).x), [1, 2, 3])
    np.testing.assert_array_equal(np.asarray(select(jnp.bool_(False), a, b).x), [0, 0, 0])


class Recorder:
    def __init__(self):
        self.calls = []

    def update(self, done, best):
        self.calls.append((done, np.asarray(best).copy()))


def test_progress_sees_every_round_and_changes_no_result() -> None:
    evaluator = tiny_evaluator()
    keys = jax.random.split(jax.random.key(9), 3)
    quiet = scanned.sweep(EveryFive(), evaluator, keys, 23)
    recorder = Recorder()
    loud = scanned.sweep(EveryFive(), evaluator, keys, 23, progress=recorder)
    np.testing.assert_array_equal(codes(quiet.archs), codes(loud.archs))
    np.testing.assert_array_equal(np.asarray(quiet.value), np.asarray(loud.value))
    assert [d for d, _ in recorder.calls] == [3, 8, 13, 18, 23]  # once per round
    done, best = recorder.calls[-1]
    np.testing.assert_allclose(best, np.asarray(loud.value).max(1))
