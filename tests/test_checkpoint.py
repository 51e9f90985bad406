"""Checkpointer (lanas_jax.supernet.checkpoint): bitwise round trips, retention, refusals, and
resume == uninterrupted on a toy optax loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lanas_jax.supernet.checkpoint import Checkpointer

CONFIG = {"lr": 0.05, "seed": 0, "space": "toy"}


def _bits(leaf):
    """Raw bytes of a leaf (typed keys through their key data), for bitwise comparison."""
    if jax.dtypes.issubdtype(getattr(leaf, "dtype", np.float32), jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    return np.asarray(leaf).tobytes()


def assert_bitwise_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert type(x) is type(y)
        assert getattr(x, "dtype", None) == getattr(y, "dtype", None)
        assert np.shape(x) == np.shape(y)
        assert _bits(x) == _bits(y)


def _state():
    params = {"conv": {"w": jnp.arange(6.0).reshape(2, 3) - 2.5,
                       "b": jnp.array([-0.0, jnp.nan, 1e-38])},
              "head": {"w": jnp.ones((3,), jnp.bfloat16) / 3}}
    opt = optax.adam(1e-3).init(params)
    opt = jax.tree.map(lambda x: x + 0.25 if jnp.issubdtype(x.dtype, jnp.floating) else x + 3,
                       opt)
    return {"params": params, "opt": opt, "step": 17,
            "key": jax.random.PRNGKey(42), "typed_key": jax.random.key(7)}


def _zero_like(leaf):
    """A leaf of the same type, dtype and shape but other values."""
    if isinstance(leaf, int):
        return 0
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return jax.random.key(0)
    return jnp.zeros_like(leaf)


def test_round_trip_is_bitwise(tmp_path):
    state = _state()
    with Checkpointer(tmp_path / "ck", config=CONFIG) as ck:
        ck.save(17, state, {"epoch": 3, "loss": 0.5})
    zeros = jax.tree.map(_zero_like, _state())
    with Checkpointer(tmp_path / "ck", config=CONFIG) as ck:
        restored, meta = ck.restore(17, zeros)
    assert meta == {"epoch": 3, "loss": 0.5}
    assert_bitwise_equal(restored, state)
    assert isinstance(restored["opt"][0], optax.ScaleByAdamState)
    assert restored["key"].dtype == jnp.uint32 and isinstance(restored["step"], int)


def test_latest_step_keeps_max_to_keep(tmp_path):
    state = {"w": jnp.zeros(2), "step": 0}
    with Checkpointer(tmp_path, max_to_keep=2, config=CONFIG) as ck:
        assert ck.latest_step() is None
        for step in range(5):
            ck.save(step, {"w": jnp.full(2, float(step)), "step": step}, {"step": step})
        assert ck.latest_step() == 4
        assert ck.all_steps() == [3, 4]
        with pytest.raises(ValueError, match="already saved"):
            ck.save(4, state)
    with Checkpointer(tmp_path, max_to_keep=2, config=CONFIG) as ck:  # a fresh process
        assert ck.latest_step() == 4
        restored, meta = ck.restore(3, state)
        assert restored["step"] == 3 and meta == {"step": 3}
        with pytest.raises(ValueError, match=r"no step 1 \(steps on disk: \[3, 4\]\)"):
            ck.restore(1, state)


def test_refuses_other_config_and_other_structure(tmp_path):
    state = {"w": jnp.zeros((2, 3)), "key": jax.random.PRNGKey(0)}
    with Checkpointer(tmp_path, config=CONFIG) as ck:
        ck.save(0, state)
    other = {**CONFIG, "lr": 0.1, "epochs": 3}
    with Checkpointer(tmp_path, config=other) as ck:
        with pytest.raises(ValueError, match=r"different run config.*\['epochs', 'lr'\]") as err:
            ck.restore(0, state)
        assert str(tmp_path) in str(err.value)
    with Checkpointer(tmp_path, config=CONFIG) as ck:
        with pytest.raises(ValueError, match=rf"{tmp_path}.*\['w'\]: saved .*\[2, 3\]"):
            ck.restore(0, {**state, "w": jnp.zeros((3, 2))})
        with pytest.raises(ValueError, match=r"tree structure differs.*\['b'\]"):
            ck.restore(0, {**state, "b": jnp.zeros(1)})
        with pytest.raises(ValueError, match="meta is not JSON-serialisable"):
            ck.save(1, state, {"bad": object()})


_OPT = optax.adam(CONFIG["lr"])


@jax.jit
def _train_step(state):
    """One Adam step on noisy linear regression, the batch drawn from the state's key."""
    key, sub = jax.random.split(state["key"])
    x = jax.random.normal(sub, (8, 3))
    y = x @ jnp.array([1.0, -2.0, 0.5]) + 0.1

    def loss(p):
        return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    grads = jax.grad(loss)(state["params"])
    updates, opt_state = _OPT.update(grads, state["opt"], state["params"])
    return {"params": optax.apply_updates(state["params"], updates), "opt": opt_state,
            "key": key}


def _toy_run(steps, ck=None, start=None, save_every=2):
    """Train up to ``steps`` from ``start`` (a fresh init when None), saving every 2 steps."""
    if start is None:
        params = {"w": jnp.zeros(3), "b": jnp.zeros(())}
        start = {"params": params, "opt": _OPT.init(params), "key": jax.random.PRNGKey(0),
                 "step": 0}
    state = start
    while state["step"] < steps:
        state = {**_train_step({k: v for k, v in state.items() if k != "step"}),
                 "step": state["step"] + 1}
        if ck is not None and state["step"] % save_every == 0:
            ck.save(state["step"], state, {"step": state["step"]})
    return state


def test_resume_equals_uninterrupted(tmp_path):
    uninterrupted = _toy_run(6)
    doomed = Checkpointer(tmp_path, max_to_keep=2, config=CONFIG)
    killed = _toy_run(4, doomed)  # saves steps 2 and 4, then the process "dies": no close()
    assert killed["step"] == 4
    del killed
    with Checkpointer(tmp_path, max_to_keep=2, config=CONFIG) as ck:
        step = ck.latest_step()
        assert step == 4
        like = _toy_run(0)  # a fresh initial state gives the structure
        resumed, meta = ck.restore(step, like)
        assert meta == {"step": 4} and resumed["step"] == 4
        finished = _toy_run(6, ck, start=resumed)
        assert ck.all_steps() == [4, 6]
    assert_bitwise_equal(finished, uninterrupted)
    doomed.close()
