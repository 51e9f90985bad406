"""The Ray Tune searcher (lanas_jax.integrations.tune): asynchronous asks never repeat an
architecture, every result reaches the strategy, mode and errored trials are handled."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray import tune  # noqa: E402
from ray.tune.search import Searcher  # noqa: E402

from lanas_jax.domain import pool_domain  # noqa: E402
from lanas_jax.integrations.tune import StrategySearcher  # noqa: E402
from lanas_jax.spaces.nb201 import NB201  # noqa: E402


def _pool(n):
    space = NB201()
    archs = jax.vmap(space.from_index)(jnp.arange(n, dtype=jnp.int32))
    return pool_domain(space, archs, jax.vmap(space.features)(archs))


def _lanas(pool, budget, **kw):
    return StrategySearcher("lanas", pool, budget=budget, tree_height=2, num_init=3,
                            num_selects=2, **kw)


def test_async_asks_exhaust_a_pool_without_repeats():
    pool = _pool(8)
    s = _lanas(pool, 8, metric="acc", mode="max", max_concurrent=3)
    live, seen = [], []
    for step in range(40):
        config = s.suggest(f"t{step}")
        if config == Searcher.FINISHED:
            break
        if config is None:  # three in flight: complete the oldest, then ask again
            assert len(live) == 3
            tid, arch = live.pop(0)
            s.on_trial_complete(tid, {"acc": float(len(arch))})
            continue
        live.append((f"t{step}", config["arch"]))
        seen.append(config["arch"])
        assert len(config["features"]) == NB201.feature_dim
    for tid, arch in live:
        s.on_trial_complete(tid, {"acc": float(len(arch))})
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 8  # the whole pool, once each
    assert int(s.state.archive.count) == 8 and len(s.history) == 8
    assert bool(s.state.inner.fitted)  # LaNAS's rounds ran under asynchronous asks
    np.testing.assert_allclose(np.sort(np.asarray(s.state.archive.values)),
                               np.sort([float(len(a)) for a in seen]))


def test_min_mode_and_errored_trials():
    s = _lanas(_pool(6), 6, metric="loss", mode="min", max_concurrent=6)
    ids = [f"t{i}" for i in range(4)]
    for t in ids:
        s.suggest(t)
    s.on_trial_complete("t0", None, error=True)  # nothing told yet: waits for a value
    assert s.history == []
    s.on_trial_complete("t1", {"loss": 2.0})
    s.on_trial_complete("t2", {"loss": 1.0})
    s.on_trial_complete("t3", {"loss": float("nan")})  # NaN: told as the worst so far
    told = {h["trial_id"]: (h["metric"], h["told"], h["error"]) for h in s.history}
    assert told == {"t1": (2.0, -2.0, False), "t0": (2.0, -2.0, True),
                    "t2": (1.0, -1.0, False), "t3": (2.0, -2.0, True)}
    assert int(s.state.archive.count) == 4
    s2 = _lanas(_pool(6), 6, metric="loss", mode="min", error_value=9.0)
    s2.suggest("a")
    s2.on_trial_complete("a", {}, error=True)
    assert s2.history[0]["told"] == -9.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        StrategySearcher("random", _pool(4), budget=4, mode="up")
    with pytest.raises(ValueError, match="unknown strategy"):
        StrategySearcher("nope", _pool(4), budget=4)
    s = StrategySearcher("random", _pool(4), budget=5, metric="m", mode="max")
    with pytest.raises(ValueError, match="exceeds"):
        s.suggest("x")


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # Ray spawns its processes
def test_under_tune_tuner(tmp_path):
    def trainable(config):  # a closure: Ray pickles it by value
        tune.report({"loss": float(sum(config["features"]))})

    searcher = StrategySearcher("lanas", "nb201", budget=8, metric="loss", mode="min", seed=1,
                                tree_height=2, num_init=4, num_selects=2)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(search_alg=searcher, num_samples=8,
                                        max_concurrent_trials=2, reuse_actors=True),
            run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0),
        ).fit()
    finally:
        ray.shutdown()
    got = {r.config["arch"]: r.metrics["loss"] for r in results}
    assert len(results) == 8 and len(got) == 8  # no architecture suggested twice
    told = {h["arch"]: h["metric"] for h in searcher.history}
    assert told == pytest.approx(got)  # the strategy saw every result
    assert int(searcher.state.archive.count) == 8


def test_save_restore_continues_the_same_search(tmp_path):
    def drive(s, ids):
        out = []
        for t in ids:
            out.append(s.suggest(t)["arch"])
            s.on_trial_complete(t, {"acc": float(len(out[-1]))})
        return out

    whole = drive(_lanas(_pool(8), 8, metric="acc", mode="max"), [f"t{i}" for i in range(8)])
    first = _lanas(_pool(8), 8, metric="acc", mode="max")
    head = drive(first, [f"t{i}" for i in range(5)])
    first.save(str(tmp_path / "s.pkl"))
    second = _lanas(_pool(8), 8, metric="acc", mode="max")
    second.restore(str(tmp_path / "s.pkl"))
    assert head + drive(second, [f"t{i}" for i in range(5, 8)]) == whole


def test_open_domain_pending_capacity_follows_the_concurrency():
    from lanas_jax.strategies.base import make

    s = StrategySearcher(make("random", max_pending=2), "mlp", budget=10, metric="m",
                         mode="max")
    s.set_max_concurrency(6)  # what TuneConfig(max_concurrent_trials=6) does
    got = [s.suggest(f"t{i}") for i in range(7)]
    assert got[6] is None and len({g["arch"] for g in got[:6]}) == 6
    assert not s.domain.is_pool and s.state.archive.pending_keys.shape[0] >= 6
    s.on_trial_complete("t0", {"m": 1.0})
    assert s.suggest("t7")["arch"] not in {g["arch"] for g in got[:6]}
    with pytest.raises(ValueError, match="pending slots"):
        s.set_max_concurrency(64)
