"""The host loop: searches over evaluators that leave the device (training, farms).

A :class:`~lanas_jax.evaluators.table.TableEvaluator` is jittable and runs inside the scanned
runner (:mod:`lanas_jax.scanned`); an evaluator that trains networks cannot. Here each round
asks every seed's strategy for a batch of ``batch_size`` architectures (one jitted, vmapped
call), evaluates all seeds' batches together (a ``TrainEvaluator`` trains them as one program)
and tells the values back. The strategy's rounds (:meth:`~lanas_jax.strategies.core.Strategy.
schedule`) run as the scanned runner runs them and the keys are derived as it derives them, so
over a jittable evaluator both runners propose the same architectures
(``tests/test_host_loop.py``).

A :class:`Journal` makes a long search resumable: every finished round's evaluations are
appended (and flushed) to a JSON-lines file before the next round starts. A search started
again on the same journal recomputes its proposals (they are a pure function of the keys and
of the values told so far), checks each against the journal and takes the journaled values
instead of training again, so a crash or a kill loses at most the round in flight.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax import scanned


@dataclasses.dataclass(frozen=True)
class Evaluated:
    """One finished evaluation (a JSON-able record); ``round`` is the batch it was asked in
    (``0 .. budget / batch_size - 1``), ``params`` its parameter count where known."""

    seed: int
    round: int
    arch: str
    val: float
    test: float
    params: int | None
    seconds: float


@dataclasses.dataclass
class HostHistory:
    """What each seed evaluated, in order.

    Attributes:
      archs: the architectures, stacked ``[seeds, budget]``.
      value, test: ``[seeds, budget]`` float arrays.
      records: per seed, the :class:`Evaluated` records in order.
      replayed: evaluations taken from the journal instead of evaluated now.
    """

    archs: Any
    value: np.ndarray
    test: np.ndarray
    records: list[list[Evaluated]]
    replayed: int = 0


class JournalMismatch(ValueError):
    """A journal was written by another search."""


class Journal:
    """Append-only JSON lines of finished rounds (see the module doc).

    The first line is a header (``identity``: what makes two searches the same: strategy
    config, space, dataset, recipe, seeds, budget...); one line per round follows, and named
    results computed after the rounds (:meth:`put`, e.g. a final training) may be added. Opening a
    journal whose header differs raises :class:`JournalMismatch` naming the first field that
    differs; a torn last line (a kill while writing) is dropped.
    """

    def __init__(self, path: str, identity: dict):
        self.path = path
        self.identity = json.loads(json.dumps(identity))  # as it reads back
        self.rounds: dict[int, list[dict]] = {}
        self.extras: dict[str, Any] = {}
        if os.path.exists(path):
            self._load()
        else:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as f:
                f.write(json.dumps({"identity": self.identity}) + "\n")

    def _load(self) -> None:
        with open(self.path) as f:
            lines = f.read().split("\n")
        try:
            header = json.loads(lines[0])["identity"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise JournalMismatch(f"{self.path} is not a search journal (bad header)") from None
        for name in sorted(set(header) | set(self.identity)):
            if header.get(name) != self.identity.get(name):
                raise JournalMismatch(
                    f"{self.path} was written by another search: its {name} is "
                    f"{header.get(name)!r}, this one's {self.identity.get(name)!r} (use another "
                    "output directory, or the same settings to resume)")
        good = 1
        for line in lines[1:]:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                break  # a torn last line: that round is evaluated again
            if "extra" in entry:
                self.extras[entry["extra"]] = entry["value"]
            else:
                self.rounds[int(entry["round"])] = entry["records"]
            good += 1
        with open(self.path, "w") as f:  # drop what could not be read
            f.write("\n".join(lines[:good]) + "\n")

    def append(self, round_: int, records: list[Evaluated]) -> None:
        entry = {"round": round_, "records": [dataclasses.asdict(r) for r in records]}
        self._write(entry)
        self.rounds[round_] = entry["records"]

    def put(self, name: str, value: Any) -> None:
        """Record a JSON-able result ``name`` (read back as ``extras[name]`` on resume)."""
        self._write({"extra": name, "value": value})
        self.extras[name] = json.loads(json.dumps(value))

    def _write(self, entry: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())


def _measure(evaluator, archs, key) -> dict[str, np.ndarray]:
    """Values of a flat batch: the evaluator's ``train`` (val, test, params, seconds) where it
    has one, else its ``evaluate`` timed."""
    if hasattr(evaluator, "train"):
        r = evaluator.train(archs, key)
        return {"val": np.asarray(r.val, np.float64), "test": np.asarray(r.test, np.float64),
                "params": np.asarray(r.params), "seconds": np.asarray(r.seconds, np.float64)}
    t0 = time.perf_counter()
    ev = jax.block_until_ready(evaluator.evaluate(archs, key))
    n = np.shape(ev.value)[0]
    return {"val": np.asarray(ev.value, np.float64), "test": np.asarray(ev.test, np.float64),
            "params": np.full(n, -1), "seconds": np.full(n, (time.perf_counter() - t0) / n)}


def _flat(tree, lead: int):
    return jax.tree.map(lambda a: a.reshape((-1,) + a.shape[lead:]), tree)


def search(strategy, evaluator, keys: jax.Array, budget: int, params: Any = None, *,
           eval_key: jax.Array | None = None, journal: Journal | None = None,
           progress=None, describe: Callable[[Any], str] | None = None) -> HostHistory:
    """``len(keys)`` searches of ``budget`` evaluations, ``strategy.batch_size`` per round.

    Args:
      strategy: any architecture strategy; its ``batch_size`` is the round width.
      evaluator: any evaluator (a ``train`` method, when it has one, supplies parameter counts
        and seconds).
      keys: ``[S]`` search keys (row ``i`` is the search the scanned runner runs with key
        ``i``).
      eval_key: the evaluator's randomness (training initialisation and data order), the same
        for every round: a ``TrainEvaluator`` derives each network's keys from it and the
        architecture alone, so an architecture scores the same whichever seed, round or
        strategy proposed it. Default: ``key(0)``.
      journal: where finished rounds go and are replayed from (see the module doc).
      progress: an object with ``update(done, best_per_seed)`` (a
        :class:`~lanas_jax.progress.ProgressReporter`), called after every round.
      describe: one architecture (host arrays) -> its string; default the space's.

    Raises:
      ValueError: a budget the domain or the batch size cannot serve, a strategy that cannot
        search the domain, an evaluation that is NaN (a diverged training is reported, not
        told to the strategy as a value), a journal of another search.
    """
    scanned.check_budget(strategy, evaluator, budget)
    domain = evaluator.domain
    space = domain.space
    describe = describe or (lambda a: space.describe(a))
    params = strategy.default_params() if params is None else params
    eval_key = jax.random.key(0) if eval_key is None else eval_key
    keys = jnp.asarray(keys)
    num_seeds, width = keys.shape[0], strategy.batch_size
    num_asks = budget // width
    pairs = jax.vmap(jax.random.split)(keys)
    state = _init(strategy, pairs[:, 0], domain, int(budget), params)
    ask_keys = jnp.swapaxes(jax.vmap(lambda k: jax.random.split(k, num_asks))(pairs[:, 1]), 0, 1)
    fns = _round_fns(strategy, domain, params)
    out_archs, values, tests = [], [], []
    records: list[list[Evaluated]] = [[] for _ in range(num_seeds)]
    best = np.full(num_seeds, -np.inf)
    replayed, i = 0, 0
    for seg in strategy.schedule(budget):
        for _ in range(seg.rounds):
            for a in range(seg.asks):
                round_key, ask_key = jax.vmap(jax.random.split, out_axes=1)(ask_keys[i])
                if seg.begin and a == 0:
                    state = fns["begin"](round_key, state)
                archs, state = fns["ask"](ask_key, state)  # [S, K]
                host = jax.tree.map(np.asarray, archs)
                names = [[describe(jax.tree.map(lambda x, s=s, k=k: x[s, k], host))
                          for k in range(width)] for s in range(num_seeds)]
                got = _journaled(journal, i, names)
                if got is None:
                    m = _measure(evaluator, _flat(archs, 2), eval_key)
                    got = [[Evaluated(s, i, names[s][k], *(_item(m, name, s * width + k)
                                                            for name in _FIELDS))
                            for k in range(width)] for s in range(num_seeds)]
                    _check_finite(got, i)
                    if journal is not None:
                        journal.append(i, [e for seed in got for e in seed])
                else:
                    replayed += num_seeds * width
                val = np.array([[e.val for e in seed] for seed in got], np.float32)
                state = fns["tell"](state, archs, jnp.asarray(val))
                for s in range(num_seeds):
                    records[s].extend(got[s])
                out_archs.append(archs)
                values.append(val)
                tests.append(np.array([[e.test for e in seed] for seed in got]))
                best = np.maximum(best, val.max(1))
                i += 1
                if progress is not None:
                    progress.update(i * width, best)
    archs = jax.tree.map(lambda *a: jnp.concatenate(a, 1), *out_archs)
    return HostHistory(archs, np.concatenate(values, 1), np.concatenate(tests, 1), records,
                       replayed)


_FIELDS = ("val", "test", "params", "seconds")


def _item(m: dict, name: str, j: int):
    x = m[name][j]
    if name == "params":
        return None if int(x) < 0 else int(x)
    return float(x)


def _check_finite(got: list[list[Evaluated]], round_: int) -> None:
    for seed in got:
        for e in seed:
            if not np.isfinite(e.val):
                raise ValueError(f"round {round_}, seed {e.seed}: the evaluation of {e.arch} is "
                                 f"{e.val} (a diverged or failed training); lower the learning "
                                 "rate or check the data")


def _journaled(journal: Journal | None, round_: int, names) -> list[list[Evaluated]] | None:
    if journal is None or round_ not in journal.rounds:
        return None
    flat = [Evaluated(**e) for e in journal.rounds[round_]]
    width = len(names[0])
    got = [flat[s * width:(s + 1) * width] for s in range(len(names))]
    for s, seed in enumerate(got):
        if [e.arch for e in seed] != names[s]:
            raise JournalMismatch(
                f"{journal.path}: round {round_} of seed {s} proposed {names[s]} but the journal "
                f"holds {[e.arch for e in seed]}: it was written by another search or backend")
    return got


def _round_fns(strategy, domain, params) -> dict[str, Callable]:
    """The seed-vmapped pieces of one round, as the scanned runner composes them; jitted once
    per strategy (the domain and params are arguments), so a resumed or repeated search does
    not compile again."""
    return {
        "begin": lambda k, s: _begin(strategy, k, s, domain, params),
        "ask": lambda k, s: _ask(strategy, k, s, domain, params),
        "tell": lambda s, a, v: _tell(strategy, s, a, v, domain, params),
    }


@functools.partial(jax.jit, static_argnums=(0, 3))
def _init(strategy, keys, domain, budget, params):
    return jax.vmap(lambda k: strategy.init(k, domain, budget, params))(keys)


@functools.partial(jax.jit, static_argnums=0)
def _begin(strategy, keys, state, domain, params):
    return jax.vmap(lambda k, s: strategy._begin_round(k, s, domain, params))(keys, state)


@functools.partial(jax.jit, static_argnums=0)
def _ask(strategy, keys, state, domain, params):
    return jax.vmap(lambda k, s: strategy.ask_batch(k, s, domain, params))(keys, state)


@functools.partial(jax.jit, static_argnums=0)
def _tell(strategy, state, archs, values, domain, params):
    return jax.vmap(lambda s, a, v: strategy.record(s, a, v, domain, params))(
        state, archs, values)
