"""The gradient / controller methods' training loop (``supernet.methods``): a killed run resumed
from its checkpoint ends with bitwise the state of an uninterrupted one, the found architecture
of ``candidates`` is valid, and every registered method is importable behind the interface."""

import dataclasses

import jax
import numpy as np
import optax
import pytest

from lanas_jax.data import load_dataset
from lanas_jax.supernet.checkpoint import Checkpointer
from lanas_jax.supernet.convnet import ConvNetSupernet
from lanas_jax.supernet.methods import GRADIENT_METHODS, method_candidates, train_method

NET = ConvNetSupernet(num_classes=10, width=4)


class _Killed(Exception):
    pass


def _splits():
    s = load_dataset("digits", n_val=32, n_test=32)
    return dataclasses.replace(s, x_train=s.x_train[:48], y_train=s.y_train[:48])


@pytest.mark.parametrize("name", sorted(GRADIENT_METHODS))
def test_every_method_has_the_interface(name):
    spec = GRADIENT_METHODS[name]
    module = spec.load()
    for f in ("init_state", "train_epoch", "candidates"):
        assert callable(getattr(module, f)), (name, f)
    cfg = spec.make_config(7)
    hash(cfg)  # static under jit
    if spec.horizon:
        assert cfg.epochs == 7


def test_resumed_gdas_run_ends_with_the_uninterrupted_state(tmp_path):
    # GDAS: its temperature follows the epoch count, so a resume that lost it would differ
    spec = GRADIENT_METHODS["gdas"]
    cfg = spec.make_config(3)
    tx = optax.adam(1e-2)
    splits, key = _splits(), jax.random.key(0)
    full, hist = train_method(spec, NET, cfg, tx, 16, splits, key, 3, log=lambda s: None)

    def kill(epoch):
        if epoch == 2:
            raise _Killed

    with Checkpointer(tmp_path / "ck", config={"m": "gdas"}) as ck:
        with pytest.raises(_Killed):
            train_method(spec, NET, cfg, tx, 16, splits, key, 3, checkpointer=ck,
                         on_epoch=kill, log=lambda s: None)
    lines = []
    with Checkpointer(tmp_path / "ck", config={"m": "gdas"}) as ck:
        resumed, hist2 = train_method(spec, NET, cfg, tx, 16, splits, key, 3, checkpointer=ck,
                                      log=lines.append)
    assert "resumed from the checkpoint of epoch 2" in lines[0]
    assert hist2["loss"] == hist["loss"] and len(hist["temperature"]) == 3
    assert hist["temperature"][0] > hist["temperature"][2]  # annealed
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    tokens = method_candidates(spec, NET, cfg, resumed, jax.random.key(1), 4)
    assert tokens.shape == (4, len(NET.space.vocab_sizes)) and tokens.dtype == np.int32
    for t in np.asarray(tokens):  # canonical: tokens of a valid architecture give themselves
        np.testing.assert_array_equal(t, NET.space.tokens(NET.space.from_tokens(t)))


def test_method_options_reach_nested_configs_and_refuse_bad_values():
    from lanas_jax.supernet.methods import with_options

    nases = GRADIENT_METHODS["nases"].make_config(3)
    c = with_options(nases, ["pretrained_init=false", "controller_lr=1e-3"])
    assert (c.pretrained_init, c.controller_lr) == (False, 1e-3)
    enas = with_options(GRADIENT_METHODS["enas"].make_config(3),
                        ["controller.learning_rate=0.002"])
    assert enas.controller.learning_rate == 0.002
    for bad, why in ((["nope=1"], "no field 'nope'"), (["pretrained_init=maybe"], "true or"),
                     (["controller_steps=1.5"], "int"), (["x"], "NAME=VALUE"),
                     (["controller_steps=0"], "controller_steps")):
        with pytest.raises(ValueError, match=why):
            with_options(nases, bad)
