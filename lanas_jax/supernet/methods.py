"""Gradient and controller NAS methods on a supernet, behind one training loop.

Each method module (:mod:`lanas_jax.gradient.darts`, :mod:`lanas_jax.gradient.gdas`,
:mod:`lanas_jax.supernet.vaenas_g`, :mod:`lanas_jax.controller.enas`,
:mod:`lanas_jax.controller.nases`) exposes the same four things: a frozen ``Config``, a pytree
``State`` whose ``variables`` are the supernet's, ``init_state(supernet, cfg, tx, key, x)``,
``train_epoch(supernet, cfg, tx, batch_size, state, x_train, y_train, x_val, y_val, key)`` (one
``lax.scan``) and ``candidates(supernet, cfg, state, key, num)`` (token sequences, the method's
own pick first). :func:`train_method` runs any of them epoch by epoch, checkpointed and
resumable like :func:`lanas_jax.supernet.pipeline.train_supernet`; with ``k_init, k_epochs =
split(key)``, epoch ``e`` uses ``fold_in(k_epochs, e)``, so a resumed run ends with the same
state as an uninterrupted one.

How the found architecture is chosen (:attr:`MethodSpec.pick`): DARTS, GDAS and VAENAS-G derive
one architecture from their architecture parameters (DARTS Sec. 2.4: the argmax per edge), so
their own pick is the found one (``"first"``); ENAS and NASES sample from the trained controller
and keep the sample that scores best with the shared weights (ENAS Sec. 2.2, NASES Sec. 3.3:
``"best"``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.supernet.checkpoint import resume


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """A method: its module, the config class's name and keyword options, how to pick."""

    module: str
    config: str
    options: tuple[tuple[str, Any], ...] = ()
    pick: str = "first"
    horizon: bool = False  # the config takes ``epochs`` (an annealing schedule's length)

    def load(self):
        return importlib.import_module(self.module)

    def make_config(self, epochs: int, **overrides):
        """The method's config with its options, ``epochs`` where it anneals, ``overrides``."""
        opts = dict(self.options)
        if self.horizon:
            opts["epochs"] = epochs
        opts.update(overrides)
        return getattr(self.load(), self.config)(**opts)


GRADIENT_METHODS: dict[str, MethodSpec] = {
    "darts": MethodSpec("lanas_jax.gradient.darts", "DartsConfig", (("order", 1),)),
    "darts2": MethodSpec("lanas_jax.gradient.darts", "DartsConfig", (("order", 2),)),
    "gdas": MethodSpec("lanas_jax.gradient.gdas", "GdasConfig", horizon=True),
    "vaenas_g": MethodSpec("lanas_jax.supernet.vaenas_g", "VaenasGConfig"),
    "enas": MethodSpec("lanas_jax.controller.enas", "EnasConfig", pick="best"),
    "nases": MethodSpec("lanas_jax.controller.nases", "NasesConfig", pick="best"),
}


def _parse(text: str, default: Any, name: str):
    if isinstance(default, bool):
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{name} takes true or false, got {text!r}")
        return text.lower() in ("true", "1")
    for kind in (int, float, str):
        if isinstance(default, kind):
            try:
                return kind(text)
            except ValueError:
                raise ValueError(f"{name} takes a {kind.__name__}, got {text!r}") from None
    if default is None:  # an optional number: int if it reads as one, else float
        try:
            return int(text)
        except ValueError:
            return float(text)
    raise ValueError(f"{name} ({type(default).__name__}) cannot be set from the command line")


def with_options(cfg, options: list[str] | tuple[str, ...]):
    """``cfg`` with ``NAME=VALUE`` overrides (``controller.learning_rate=1e-3`` reaches into a
    nested config), each parsed as its field's type; ValueError naming an unknown field or a
    value of the wrong type. The config's own checks run on the result."""
    for item in options:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ValueError(f"method options are NAME=VALUE, got {item!r}")
        cfg = _replace(cfg, name.split("."), text, name)
    return cfg


def _replace(obj, path: list[str], text: str, full: str):
    fields = {f.name for f in dataclasses.fields(obj)}
    if path[0] not in fields:
        raise ValueError(f"{type(obj).__name__} has no field {path[0]!r} (in {full!r}); it "
                         f"has {', '.join(sorted(fields))}")
    value = getattr(obj, path[0])
    if len(path) > 1:
        if not dataclasses.is_dataclass(value):
            raise ValueError(f"{full!r}: {path[0]} is not a nested config")
        new = _replace(value, path[1:], text, full)
    else:
        new = _parse(text, value, full)
    return dataclasses.replace(obj, **{path[0]: new})


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _epoch(module, supernet, cfg, tx, batch_size, state, x, y, x_val, y_val, key):
    state, m = module.train_epoch(supernet, cfg, tx, batch_size, state, x, y, x_val, y_val, key)
    return state, {k: jnp.mean(v) for k, v in m.items()}


def train_method(spec: MethodSpec, supernet, cfg, tx, batch_size: int, splits, key: jax.Array,
                 epochs: int, *, checkpointer=None, log: Callable[[str], None] = print,
                 on_epoch: Callable[[int], None] | None = None) -> tuple[Any, dict]:
    """Train ``epochs`` epochs of the method ``spec``; returns ``(state, history)``.

    ``history`` holds each epoch's mean of every metric the method reports (at least ``loss``
    and ``accuracy``) and ``seconds``. With a checkpointer the state and history are saved after
    every epoch and a run restarts from the latest saved one.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    module = spec.load()
    x, y = jnp.asarray(splits.x_train), jnp.asarray(splits.y_train)
    x_val, y_val = jnp.asarray(splits.x_val), jnp.asarray(splits.y_val)
    k_init, k_epochs = jax.random.split(key)
    state = module.init_state(supernet, cfg, tx, k_init, x[:2])
    history: dict = {"seconds": []}
    state, history, start = resume(checkpointer, state, history, log)
    for e in range(start, epochs):
        t0 = time.perf_counter()
        state, m = _epoch(module, supernet, cfg, tx, batch_size, state, x, y, x_val, y_val,
                          jax.random.fold_in(k_epochs, e))
        m = {k: float(v) for k, v in m.items()}
        if not np.isfinite(m["loss"]):
            raise FloatingPointError(f"training diverged at epoch {e + 1} (loss {m['loss']}); "
                                     "lower the learning rate")
        seconds = time.perf_counter() - t0
        for name, v in (*m.items(), ("seconds", seconds)):
            history.setdefault(name, []).append(v)
        left = (epochs - e - 1) * float(np.median(history["seconds"][-3:]))
        extra = "".join(f", {k} {v:.3g}" for k, v in m.items() if k not in ("loss", "accuracy"))
        log(f"epoch {e + 1}/{epochs}: loss {m['loss']:.4f} train acc {m['accuracy']:.3f}"
            f"{extra} ({seconds:.1f} s; ~{left:.0f} s left)")
        if checkpointer is not None:
            checkpointer.save(e + 1, state, {"history": history})
        if on_epoch is not None:
            on_epoch(e + 1)
    return state, history


def method_candidates(spec: MethodSpec, supernet, cfg, state, key: jax.Array,
                      num: int) -> jax.Array:
    """``[num, L]`` int32 token sequences the method proposes, its own pick first, each made
    canonical through the space (so equal architectures have equal tokens)."""
    space = supernet.space
    tokens = jax.jit(spec.load().candidates, static_argnums=(0, 1, 4))(supernet, cfg, state,
                                                                       key, num)
    return jax.vmap(lambda t: space.tokens(space.from_tokens(t)))(tokens).astype(jnp.int32)
