r"""Speed of the leaf-polytope samplers: hit-and-run and NumPyro NUTS (seed 000 Sec. 3.2 step 2).

For every dimension and number of constraints, a random polytope ``{A x <= b} ∩ [0, 1]^d``
(hyperplanes through a neighbourhood of a random interior point, so every constraint cuts the
box) is sampled by ``--chains`` vmapped chains. Reported per sampler: compile seconds, run
seconds, samples per second (all chains), effective samples per second (the smallest
per-coordinate ESS of ``numpyro.diagnostics.effective_sample_size`` over the run time), and for
NUTS the divergent fraction and mean leapfrog steps. Every sample is checked against ALL
constraints.

  python -m experiments.bench_samplers                      # dims 30,56,160 x 1,5,8 rows
  python -m experiments.bench_samplers --samplers=hit_and_run --dims=56 --constraints=5

Writes --output (JSON) and prints a table.
"""

from __future__ import annotations

import json
import os
import time

import jax
import numpy as np
from absl import app

from experiments import common_flags
from lanas_jax.partition.hit_and_run import hit_and_run_chains
from lanas_jax.partition.nuts import ess, nuts_chains
from lanas_jax.partition.polytope import chebyshev_centre, make_polytope

_SAMPLERS = common_flags.DEFINE_list(
    "samplers", ["hit_and_run", "nuts"], "hit_and_run and/or nuts."
)
_DIMS = common_flags.DEFINE_list("dims", ["30", "56", "160"], "Dimensions.")
_ROWS = common_flags.DEFINE_list(
    "constraints", ["1", "5", "8"], "Numbers of constraints (rows of A)."
)
_CHAINS = common_flags.DEFINE_integer("chains", 100, "Vmapped chains.")
_HAR_SAMPLES = common_flags.DEFINE_integer("har_samples", 2000, "Hit-and-run samples per chain.")
_NUTS_SAMPLES = common_flags.DEFINE_integer("nuts_samples", 100, "NUTS samples per chain.")
_NUTS_WARMUP = common_flags.DEFINE_integer("nuts_warmup", 100, "NUTS warmup draws per chain.")
_NUTS_DEPTH = common_flags.DEFINE_integer("nuts_depth", 8, "NUTS maximum tree depth.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Seed of the polytopes and chains.")
_OUTPUT = common_flags.DEFINE_string("output", "results/bench_samplers.json", "JSON output path.")


def random_polytope(rng: np.random.Generator, d: int, m: int):
    a = rng.normal(size=(m, d))
    c = rng.uniform(0.3, 0.7, size=d)
    b = a @ c + rng.uniform(0.05, 0.2, size=m) * np.linalg.norm(a, axis=1)
    return make_polytope(a, b, 0.0, 1.0)


def _timed(fn, key_a, key_b):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(key_a))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(key_b))
    return out, compile_s, time.perf_counter() - t0


def bench_one(sampler: str, d: int, m: int, seed: int) -> dict:
    poly = random_polytope(np.random.default_rng([seed, d, m]), d, m)
    cheb = chebyshev_centre(poly)
    chains = _CHAINS.value
    if sampler == "hit_and_run":
        n = _HAR_SAMPLES.value

        def fn(key):
            return hit_and_run_chains(key, poly, cheb.centre, chains, n)
    else:
        n = _NUTS_SAMPLES.value

        def fn(key):
            return nuts_chains(
                key,
                poly,
                cheb.centre,
                chains,
                _NUTS_WARMUP.value,
                n,
                max_tree_depth=_NUTS_DEPTH.value,
            )

    out, compile_s, run_s = _timed(fn, jax.random.key(seed), jax.random.key(seed + 1))
    eff = ess(out.samples)
    row = {
        "sampler": sampler,
        "dim": d,
        "constraints": m,
        "chains": chains,
        "samples_per_chain": n,
        "compile_s": compile_s,
        "run_s": run_s,
        "samples_per_s": chains * n / run_s,
        "min_ess": float(np.min(eff)),
        "mean_ess": float(np.mean(eff)),
        "ess_per_s": float(np.min(eff)) / run_s,
        "all_inside": bool(np.all(out.inside)),
        "chebyshev_radius": float(cheb.radius),
        "device": jax.devices()[0].device_kind,
        "platform": jax.devices()[0].platform,
    }
    if sampler == "nuts":
        row["warmup"] = _NUTS_WARMUP.value
        row["divergent_fraction"] = float(np.mean(out.diverging))
        row["mean_leapfrog_steps"] = float(np.mean(out.num_steps))
    return row


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    bad = set(_SAMPLERS.value) - {"hit_and_run", "nuts"}
    if bad:
        raise app.UsageError(f"--samplers: unknown {sorted(bad)}; known: hit_and_run, nuts")
    try:
        dims = [int(v) for v in _DIMS.value]
        rows = [int(v) for v in _ROWS.value]
    except ValueError as e:
        raise app.UsageError(f"--dims/--constraints must be integers: {e}") from e
    if min(dims + rows) < 1 or _CHAINS.value < 1:
        raise app.UsageError("--dims, --constraints and --chains must be >= 1")
    results = []
    head = (
        "sampler",
        "dim",
        "rows",
        "compile s",
        "run s",
        "samples/s",
        "min ESS",
        "ESS/s",
        "div",
        "inside",
    )
    print("{:<12} {:>4} {:>4} {:>9} {:>8} {:>11} {:>8} {:>9} {:>6} {:>6}".format(*head))
    for sampler in _SAMPLERS.value:
        for d in dims:
            for m in rows:
                r = bench_one(sampler, d, m, _SEED.value)
                results.append(r)
                div = f"{r['divergent_fraction']:.3f}" if sampler == "nuts" else "-"
                print(
                    "{:<12} {:>4} {:>4} {:>9.2f} {:>8.2f} {:>11.0f} {:>8.0f} {:>9.1f} {:>6} "
                    "{:>6}".format(
                        sampler,
                        d,
                        m,
                        r["compile_s"],
                        r["run_s"],
                        r["samples_per_s"],
                        r["min_ess"],
                        r["ess_per_s"],
                        div,
                        str(r["all_inside"]),
                    ),
                    flush=True,
                )
    os.makedirs(os.path.dirname(_OUTPUT.value) or ".", exist_ok=True)
    with open(_OUTPUT.value, "w") as f:
        json.dump(results, f, indent=1)
    print(f"device: {results[0]['device']} ({results[0]['platform']}); wrote {_OUTPUT.value}")


if __name__ == "__main__":
    app.run(main)
