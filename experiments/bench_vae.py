r"""Speed of one VAE training step (seed 002, Alg. 1) on the local device.

For each token space (NB201: 6 tokens of 5; NB101: 26 tokens of 3, Appendix A.5) and batch size,
times ``--steps`` Adam steps of the negative ELBO run as one jitted ``lax.scan`` (the way Alg. 1
runs inside a search), for one VAE and for ``--seeds`` VAEs vmapped together (the Table 4
study and ``--algo=vaenas`` sweeps). Compile time is measured separately.

  python -m experiments.bench_vae
  python -m experiments.bench_vae --batches=64 --seeds=100 --output=/tmp/bench_vae.json
"""

from __future__ import annotations

import functools
import json
import os
import time

import jax
from absl import app

from experiments import common_flags
from lanas_jax.config import config_dict
from lanas_jax.vaenas.model import VAESizes
from lanas_jax.vaenas.nb101 import NB101_SPEC
from lanas_jax.vaenas.tokens import NB201_SPEC
from lanas_jax.vaenas.train import TrainConfig, fit, init_vae

_BATCHES = common_flags.DEFINE_list("batches", ["64", "256"], "Batch sizes.")
_STEPS = common_flags.DEFINE_integer("steps", 200, "Adam steps per timed call.")
_SEEDS = common_flags.DEFINE_integer("seeds", 100, "VAEs trained together under vmap.")
_HIDDEN = common_flags.DEFINE_integer("hidden", 32, "LSTM hidden units.")
_LATENT = common_flags.DEFINE_integer("latent", 8, "Latent dimensions.")
_REPEATS = common_flags.DEFINE_integer("repeats", 3, "Timed calls; the fastest is reported.")
_OUTPUT = common_flags.DEFINE_string("output", "results/bench_vae.json", "Where the JSON goes.")


def _time(fn, *args) -> tuple[float, float]:
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    best = float("inf")
    for _ in range(_REPEATS.value):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - t0)
    return compile_s, best


def measure(name, spec, batch: int, seeds: int) -> dict:
    config = TrainConfig(
        sizes=VAESizes(hidden=_HIDDEN.value, latent=_LATENT.value), batch_size=batch,
        n_iters=_STEPS.value,
    )
    config.validate()
    tokens = jax.random.randint(jax.random.key(0), (4 * batch, spec.length), 0, 2)
    train = functools.partial(fit, spec, config)

    def one(key):
        params, opt_state = init_vae(key, spec, config)
        return train(key, params, opt_state, tokens)[2]

    keys = jax.random.split(jax.random.key(1), seeds)
    c1, t1 = _time(one, keys[0])
    cn, tn = _time(jax.vmap(one), keys)
    return {
        "space": name, "batch": batch, "steps": _STEPS.value, "seeds": seeds,
        "compile_s": c1, "step_ms": 1e3 * t1 / _STEPS.value,
        "vmapped_compile_s": cn, "vmapped_step_ms": 1e3 * tn / _STEPS.value,
        "vmapped_step_ms_per_seed": 1e3 * tn / _STEPS.value / seeds,
    }


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        batches = [int(b) for b in _BATCHES.value]
    except ValueError as e:
        raise app.UsageError(f"--batches must be integers: {e}") from e
    if min(batches) < 1 or _SEEDS.value < 1 or _STEPS.value < 1 or _REPEATS.value < 1:
        raise app.UsageError("--batches, --seeds, --steps and --repeats must be >= 1")
    device = jax.devices()[0]
    rows = [measure(n, s, b, _SEEDS.value)
            for n, s in (("nb201", NB201_SPEC), ("nb101", NB101_SPEC)) for b in batches]
    print(f"device: {device.platform} ({device.device_kind}), hidden {_HIDDEN.value}, "
          f"latent {_LATENT.value}, {_STEPS.value} steps per call")
    print(f"{'space':<6} {'batch':>6} {'step ms':>9} {'compile s':>10} "
          f"{'x' + str(_SEEDS.value) + ' step ms':>14} {'per seed ms':>12}")
    for r in rows:
        print(f"{r['space']:<6} {r['batch']:>6} {r['step_ms']:>9.3f} {r['compile_s']:>10.1f} "
              f"{r['vmapped_step_ms']:>14.2f} {r['vmapped_step_ms_per_seed']:>12.3f}")
    out = {"device": f"{device.platform} ({device.device_kind})",
           "sizes": config_dict(VAESizes(hidden=_HIDDEN.value, latent=_LATENT.value)),
           "rows": rows}
    os.makedirs(os.path.dirname(_OUTPUT.value) or ".", exist_ok=True)
    with open(_OUTPUT.value, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {_OUTPUT.value}")


if __name__ == "__main__":
    app.run(main)
