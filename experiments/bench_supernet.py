r"""Supernet training speed: SPOS steps per second and images per second, per supernet.

Cases (``--cases``):

* ``convnet_im2col`` / ``convnet_xla``: the ConvNet-chain supernet (width ``--width``) on
  ``--image``-pixel single-channel inputs, its convolutions as im2col + matmul or XLA's;
* ``nb201``: the NAS-Bench-201 supernet (C = ``--channels``, N = ``--cells``, every edge computes
  every op and a one-hot selects: masking) on ``--image``-pixel RGB inputs, the weight-sharing
  recipe's affine-free BatchNorm on batch statistics;
* ``nasnet_switch`` / ``nasnet_onehot``: the NASNet supernet choosing each branch's op with
  ``lax.switch`` or a one-hot mask (``--nasnet_channels``, ``--nasnet_cells``).

Inputs are random (speed does not depend on the pixels). Each case compiles one ``train_epoch``
of ``--steps`` SPOS steps, runs it once to warm up, then times ``--repeats`` runs. Ratios are
within one run of this binary.

  python -m experiments.bench_supernet --cases=convnet_im2col,convnet_xla --steps=20
  python -m experiments.bench_supernet --cases=nb201 --channels=16 --cells=5 --image=32

Writes --output (JSON) and prints a table.
"""

from __future__ import annotations

import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app

from experiments import common_flags
from lanas_jax.supernet.convnet import ConvNetSupernet
from lanas_jax.supernet.nasnet import NasnetSupernet
from lanas_jax.supernet.nb201 import Nb201Supernet
from lanas_jax.supernet.train import OneShotConfig, init_state, train_epoch

CASES = ("convnet_im2col", "convnet_xla", "nb201", "nasnet_switch", "nasnet_onehot")
_CASES = common_flags.DEFINE_list("cases", ["convnet_im2col", "convnet_xla", "nb201"],
                                  f"Of {', '.join(CASES)}.")
_STEPS = common_flags.DEFINE_integer("steps", 20, "SPOS steps per timed epoch.")
_REPEATS = common_flags.DEFINE_integer("repeats", 3, "Timed runs per case.")
_BATCH = common_flags.DEFINE_integer("batch_size", 64, "Images per step.")
_IMAGE = common_flags.DEFINE_integer("image", 8, "Image side in pixels.")
_WIDTH = common_flags.DEFINE_integer("width", 16, "ConvNet supernet wide channels.")
_CHANNELS = common_flags.DEFINE_integer("channels", 8, "NB201 supernet C.")
_CELLS = common_flags.DEFINE_integer("cells", 1, "NB201 supernet N (cells per stage).")
_NASNET_CHANNELS = common_flags.DEFINE_integer("nasnet_channels", 8, "NASNet supernet filters.")
_NASNET_CELLS = common_flags.DEFINE_integer("nasnet_cells", 1, "NASNet cells per stage.")
_OUTPUT = common_flags.DEFINE_string("output", "results/bench_supernet.json", "JSON output.")


def _case(name: str):
    """``(supernet, input channels)`` of a case."""
    if name.startswith("convnet"):
        return ConvNetSupernet(num_classes=10, width=_WIDTH.value,
                               conv=name.removeprefix("convnet_")), 1
    if name == "nb201":
        return Nb201Supernet(num_classes=10, channels=_CHANNELS.value, cells=_CELLS.value), 3
    if name.startswith("nasnet"):
        return NasnetSupernet(num_classes=10, channels=_NASNET_CHANNELS.value,
                              cells=_NASNET_CELLS.value,
                              op_select=name.removeprefix("nasnet_")), 3
    raise app.UsageError(f"unknown case {name!r}; known: {', '.join(CASES)}")


def measure(name: str) -> dict:
    supernet, cin = _case(name)
    n, b = _STEPS.value * _BATCH.value, _BATCH.value
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(n, _IMAGE.value, _IMAGE.value, cin)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, n), jnp.int32)
    tx = optax.sgd(0.025, momentum=0.9, nesterov=True)
    cfg = OneShotConfig(method="spos")
    state = jax.jit(init_state, static_argnums=(0, 1, 2))(supernet, tx, cfg, jax.random.key(0),
                                                          x[:2])
    epoch = jax.jit(lambda s, k: train_epoch(supernet, cfg, tx, b, s, x, y, k))
    t0 = time.perf_counter()
    state, m = epoch(state, jax.random.key(1))
    jax.block_until_ready(m)
    first = time.perf_counter() - t0
    times = []
    for r in range(_REPEATS.value):
        t0 = time.perf_counter()
        state, m = epoch(state, jax.random.key(2 + r))
        jax.block_until_ready(m)
        times.append(time.perf_counter() - t0)
    run = float(np.median(times))
    return {"case": name, "steps": _STEPS.value, "batch": b, "image": _IMAGE.value,
            "compile_and_first_s": round(first, 2), "epoch_s": round(run, 4),
            "steps_per_s": round(_STEPS.value / run, 1), "images_per_s": round(n / run, 1),
            "final_loss": float(np.asarray(m["loss"])[-1])}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    for flag in (_STEPS, _REPEATS, _BATCH, _IMAGE):
        if flag.value < 1:
            raise app.UsageError(f"--{flag.name} must be >= 1, got {flag.value}")
    rows = []
    for name in _CASES.value:
        rows.append(measure(name))
        r = rows[-1]
        print(f"{r['case']:<16} compile+first {r['compile_and_first_s']:>8.1f} s  "
              f"{r['steps_per_s']:>9.1f} steps/s  {r['images_per_s']:>10.0f} images/s", flush=True)
    out = {"device": str(jax.devices()[0].device_kind), "backend": jax.default_backend(),
           "jax": jax.__version__, "machine": platform.machine(), "rows": rows}
    os.makedirs(os.path.dirname(_OUTPUT.value) or ".", exist_ok=True)
    with open(_OUTPUT.value, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {_OUTPUT.value} ({out['device']})")


if __name__ == "__main__":
    app.run(main)
