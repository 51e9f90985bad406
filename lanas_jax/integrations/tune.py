r"""Any lanas_jax strategy as a Ray Tune searcher: LaNAS (seed 000, Alg. 1) on your trainable.

:class:`StrategySearcher` is a ``ray.tune.search.Searcher`` (``suggest`` /
``on_trial_complete``, the API of Ray 2.60) backed by a strategy of
:func:`lanas_jax.strategies.base.make` over a space of :mod:`lanas_jax.spaces` (or a table's
pool). Each suggested config holds the architecture as the space's string (``config["arch"]``,
``space.parse`` reads it back) and its encoded features (``config["features"]``, a list of
floats); keys of Tune's ``param_space`` are merged in by Tune. Your trainable reports the metric;
Tune's scheduler, resources and cluster stay yours.

Asynchrony: Tune asks as soon as a trial slot is free. Every suggested architecture is marked
pending in the strategy's archive until its trial completes, so no architecture is ever
suggested twice (pending or evaluated). The archive holds at most ``max_concurrent`` pending
ones; :meth:`suggest` returns ``None`` (Tune waits) while that many trials are live, and
``TuneConfig(max_concurrent_trials=N)`` raises it before the first suggestion. Rounds (LaNAS's
refit every ``num_selects`` results) start at the first ask after the number of told results
crossed a due count, once however many results arrived meanwhile; LaNAS's UCB counts are those
of the last fit, i.e. told results only (pending trials count nowhere except as "not new").

What is told: ``result[metric]`` (negated for ``mode="min"``; the strategy maximises). A trial
that errored, or whose final result lacks the metric or holds NaN/inf, is told ``error_value``
(in the metric's units) when given, else the worst value told so far, so its architecture is
never suggested again and the models see it as bad; errored trials completing before any value
was told wait and are told that first worst value as it arrives. :attr:`history` lists what
was told, in order. ``save`` / ``restore`` pickle the whole searcher (Tune checkpoints it with
the experiment); trials live at a save stay pending after a restore, and are told when Tune's
resumed trials (same ids) complete.

Example (``examples/tune_lanas.py``, run from the repository root with
``python -m examples.tune_lanas``; NAS-Bench-201 lookups stand in for training, so it runs on a
CPU in about 20 s)::

    import ray
    from ray import tune

    from lanas_jax.benchmarks import load_benchmark
    from lanas_jax.evaluators.table import from_benchmark
    from lanas_jax.integrations.tune import StrategySearcher, table_archs

    def trainable(config, accuracy):  # yours: train config["arch"], report its metric
        tune.report({"accuracy": accuracy[config["arch"]]})

    table = from_benchmark(load_benchmark("nb201_cifar10"))  # 15,625 NB201 cells
    accuracy = dict(zip(table_archs(table), table.metric.tolist(), strict=True))
    searcher = StrategySearcher("lanas", table, budget=40, metric="accuracy", mode="max",
                                seed=0, num_init=10, num_selects=10)
    ray.init(num_cpus=2, include_dashboard=False)
    tuner = tune.Tuner(
        tune.with_parameters(trainable, accuracy=accuracy),
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=40,
                                    max_concurrent_trials=2, reuse_actors=True),
    )
    best = tuner.fit().get_best_result("accuracy", "max")
    print(best.config["arch"], best.metrics["accuracy"])
    ray.shutdown()
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import pickle
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from ray.tune.search import Searcher

from lanas_jax.domain import Domain, open_domain
from lanas_jax.spaces.base import Space, get_space, unstack
from lanas_jax.strategies.base import make
from lanas_jax.strategies.core import Strategy

logger = logging.getLogger(__name__)

MODES = ("max", "min")


def as_domain(space: str | Space | Domain | Any) -> Domain:
    """A domain from a space name, a :class:`Space`, a :class:`Domain` or an evaluator (its
    ``domain``: a table's pool). A dense space of at most 65,536 architectures (NB201, ConvNet)
    is enumerated as a pool, larger ones are searched open (:func:`open_domain`)."""
    if isinstance(space, Domain):
        return space
    if isinstance(space, str):
        space = get_space(space)
    if isinstance(space, Space):
        return open_domain(space)
    if isinstance(getattr(space, "domain", None), Domain):
        return space.domain
    raise TypeError(f"expected a space name, Space, Domain or evaluator, got "
                    f"{type(space).__name__}")


def table_archs(evaluator) -> list[str]:
    """Every row of a table evaluator's pool as its space's string, in row order (to key a
    trainable's lookup by ``config["arch"]``)."""
    pool = evaluator.domain
    return [pool.space.describe(a) for a in unstack(pool.archs)]


def build_strategy(name: str, domain: Domain, **config) -> Strategy:
    """The strategy ``name`` with ``config``; LaNAS takes the flat
    :class:`~lanas_jax.partition.lanas_config.LaNASConfig` fields (``tree_height``,
    ``num_init``, ...; ``leaf_sampler="hit_and_run"`` by default on an open domain, as in
    ``experiments.open_search``), the others :func:`~lanas_jax.strategies.base.make`'s."""
    if name != "lanas":
        return make(name, **config)
    from lanas_jax.partition.lanas_config import LaNASConfig

    if not domain.is_pool:
        config.setdefault("leaf_sampler", "hit_and_run")
    try:
        return LaNASConfig(**config).build()
    except TypeError as e:
        raise ValueError(f"lanas: {e}") from None


@functools.partial(jax.jit, static_argnums=0)
def _ask(strategy: Strategy, key, state, domain, params, begin):
    """One architecture; the strategy's round (``_begin_round``) first when ``begin``."""
    round_key, ask_key = jax.random.split(key)
    if strategy.has_rounds:
        state = jax.lax.cond(begin, lambda s: strategy._begin_round(round_key, s, domain, params),
                             lambda s: s, state)
    archs, state = strategy.ask_batch(ask_key, state, domain, params)
    return jax.tree.map(lambda a: a[0], archs), state


@jax.jit
def _features(domain, arch):
    return domain.feature(arch)


class StrategySearcher(Searcher):
    """A Ray Tune searcher proposing architectures with a lanas_jax strategy (module doc).

    Args:
      strategy: a registered strategy name (``"lanas"``, ``"random"``, ``"evolution"``, ...;
        built with ``**config``) or a :class:`Strategy`; it is used with ``batch_size=1`` and
        ``max_pending >= max_concurrent``.
      space: a space name (``"nb201"``, ``"convnet"``, ``"nasnet"``, ...), a :class:`Space`, a
        :class:`Domain` or an evaluator whose ``domain`` is searched (a table's pool).
      budget: the most trials this searcher suggests (the archive's capacity); afterwards
        :meth:`suggest` returns ``Searcher.FINISHED``. Tune's ``num_samples`` may be smaller.
      metric, mode: the reported metric and ``"max"`` / ``"min"`` (or from ``TuneConfig``).
      params: the strategy's params (default: ``strategy.default_params()``).
      seed: the PRNG seed of the strategy's proposals.
      max_concurrent: trials that may be live at once (raised by ``max_concurrent_trials``).
      error_value: what an errored or metric-less trial is told, in the metric's units
        (default ``None``: the worst value told so far).
      arch_key, features_key: the config keys of the architecture string and of its features
        (``features_key=None`` leaves the features out).
      **config: fields of the strategy when ``strategy`` is a name (``num_init=10``,
        ``tree_height=3``, ...; see :func:`build_strategy`).
    """

    def __init__(self, strategy: str | Strategy, space: str | Space | Domain | Any, *,
                 budget: int, metric: str | None = None, mode: str | None = None,
                 params: Any = None, seed: int = 0, max_concurrent: int = 1,
                 error_value: float | None = None, arch_key: str = "arch",
                 features_key: str | None = "features", **config):
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        if budget < 1:
            raise ValueError(f"budget must be >= 1, got {budget}")
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
        super().__init__(metric=metric, mode=mode)
        self.domain = as_domain(space)
        if isinstance(strategy, str):
            strategy = build_strategy(strategy, self.domain, **config)
        elif config:
            raise ValueError(f"strategy fields {sorted(config)} given with a built strategy")
        if not isinstance(strategy, Strategy):
            raise TypeError(f"{type(strategy).__name__} is not a lanas_jax Strategy")
        self.space = self.domain.space
        self.budget = int(budget)
        self.strategy = dataclasses.replace(strategy, batch_size=1)
        self.params = self.strategy.default_params() if params is None else params
        self.max_concurrent = int(max_concurrent)
        self.error_value = error_value
        self.arch_key, self.features_key = arch_key, features_key
        self._init_key, self._key = jax.random.split(jax.random.key(seed))
        self.state = None  # the strategy's SearchState, built at the first suggestion
        self.live: dict[str, tuple[Any, str]] = {}  # trial id -> (arch, its string)
        self.history: list[dict] = []  # what was told, in order
        self._waiting: list[tuple[str, Any, str]] = []  # errored before any value was told
        self._asked = 0
        self._checked = -1  # told counts up to here were checked for a due round

    # -- Tune's protocol -------------------------------------------------------------------
    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """Tune's ``max_concurrent_trials``: handled here (the archive's pending capacity)."""
        if self.state is not None and max_concurrent > self._pending_capacity():
            raise ValueError(f"max_concurrent={max_concurrent} exceeds the "
                             f"{self._pending_capacity()} pending slots of a started search")
        self.max_concurrent = int(max_concurrent)
        return True

    def suggest(self, trial_id: str) -> dict | None:
        if self._metric is None or self._mode is None:
            raise ValueError("StrategySearcher needs metric and mode (here or in TuneConfig)")
        if self._asked >= self.budget:
            return Searcher.FINISHED
        if len(self.live) >= self.max_concurrent:
            return None
        if self.state is None:
            self._start()
        count = int(self.state.archive.count)
        begin = False
        if self.strategy.has_rounds and count > self._checked:
            due = self.strategy.round_due(jnp.arange(self._checked + 1, count + 1))
            begin, self._checked = bool(np.any(np.asarray(due))), count
        key = jax.random.fold_in(self._key, self._asked)
        arch, self.state = _ask(self.strategy, key, self.state, self.domain, self.params,
                                jnp.asarray(begin))
        self._asked += 1
        text = self.space.describe(self.space.to_host(arch))
        self.live[trial_id] = (arch, text)
        config = {self.arch_key: text}
        if self.features_key is not None:
            config[self.features_key] = np.asarray(_features(self.domain, arch)).tolist()
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        if trial_id not in self.live:
            logger.warning("StrategySearcher: trial %s completed but was not suggested here",
                           trial_id)
            return
        arch, text = self.live.pop(trial_id)
        value = None if result is None else result.get(self._metric)
        ok = not error and value is not None and math.isfinite(float(value))
        if ok:
            self._tell(trial_id, arch, text, float(value), error=False)
            waiting, self._waiting = self._waiting, []
            for tid, a, t in waiting:
                self._tell(tid, a, t, self._failed_value(), error=True)
        elif self.error_value is not None or self.history:
            self._tell(trial_id, arch, text, self._failed_value(), error=True)
        else:
            self._waiting.append((trial_id, arch, text))

    # -- Tune's checkpoints (``Tuner.restore`` / ``Searcher.restore``) ---------------------
    def get_state(self) -> dict:
        """Everything this searcher holds (strategy state, live trials, history, keys)."""
        return dict(self.__dict__)

    def set_state(self, state: dict) -> None:
        self.__dict__.update(state)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.set_state(pickle.load(f))

    # -- helpers --------------------------------------------------------------------------
    def _start(self) -> None:
        self.strategy = dataclasses.replace(
            self.strategy, max_pending=max(self.strategy.max_pending, self.max_concurrent))
        if self.domain.is_pool and self.budget > self.domain.size:
            raise ValueError(f"budget={self.budget} exceeds the {self.domain.size} architectures "
                             f"of the {self.space.name} pool")
        self.strategy.validate(self.domain, self.budget)
        self.state = self.strategy.init(self._init_key, self.domain, self.budget, self.params)

    def _pending_capacity(self) -> int:
        return self.strategy.max_pending if not self.domain.is_pool else self.budget

    def _sign(self) -> float:
        return 1.0 if self._mode == "max" else -1.0

    def _failed_value(self) -> float:
        """In the metric's units: ``error_value``, else the worst value told so far."""
        if self.error_value is not None:
            return float(self.error_value)
        worst = min(self._sign() * h["metric"] for h in self.history if not h["error"])
        return self._sign() * worst

    def _tell(self, trial_id: str, arch, text: str, metric: float, error: bool) -> None:
        told = self._sign() * metric
        archs = jax.tree.map(lambda a: jnp.asarray(a)[None], arch)
        self.state = self.strategy.tell(self.state, archs, jnp.asarray([told], jnp.float32),
                                        self.domain, self.params)
        self.history.append({"trial_id": trial_id, "arch": text, "metric": metric,
                             "told": told, "error": error})


__all__ = ["StrategySearcher", "as_domain", "build_strategy", "table_archs"]
