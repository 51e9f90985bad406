r"""Seed 002 (VAENAS), Sec. 5.3, Table 4 and Fig. 2, on NAS-Bench-201 or NAS-Bench-101.

Per seed (all seeds are one ``jit(vmap)`` call): draw ``--pool`` distinct architectures
uniformly (6,000 in the paper), label them with their validation accuracy plus Gaussian noise
of standard deviation ``--noise`` (0, 0.1 and 0.5 accuracy points), train a fresh VAE on the top
``--top`` of them (1,500; Alg. 1), then

* "max accuracy among K samples": the best test accuracy among the first K of ``max(--ks)``
  architectures sampled from the VAE (``z ~ N(0, I)``, repeats allowed), against K uniform
  random architectures;
* "Evolution": regularized evolution with ``--evo_budget`` queries whose initial population is
  the first ``--evo_population`` distinct VAE samples, against the same evolution with a uniform
  initial population (the 6,000 training evaluations are not counted, as in the paper). The
  column is the test accuracy of the query with the best validation accuracy (the evolution's
  pick): the best test accuracy among 300 evolution queries is the table's optimum in almost
  every seed, which would tell the methods apart by nothing (both are in the JSON).

Fig. 2: the test-accuracy histograms of ``--hist_samples`` VAE samples (seed 0, every noise
level) and as many uniform ones. NAS-Bench-201 decodes are always valid cells (6 ops from 5),
so the invalid-decode count is 0 by construction and reported as such.

NAS-Bench-101 (``--benchmark=nb101:/path/nasbench_only108.tfrecord``, the paper's own Table 4
setting): the VAE reads Appendix A.5's 26 tokens of each pool row's cell and decodes with the
top-9 rule (:mod:`lanas_jax.vaenas.nb101`); a decode is looked up up to isomorphism on the
device (:mod:`lanas_jax.vaenas.nb101_cells`). "Random" samples cells the way A.5 does
(``U(0, 1)`` edge scores, the 9 largest, redrawn until connected; uniform ops), not table rows.
A decode that never connects (``invalid_decodes``) or whose cell is not in the table (only on
a file that lacks cells; the official one holds every valid cell) is not an architecture of
the table: the K columns take the best among the found ones of the first K (NaN when none is),
evolution's initial population skips them, and the JSON reports the found fractions.

  python -m experiments.vaenas_table4 --seeds=100
  python -m experiments.vaenas_table4 --seeds=5 --vaenas_iters=100 --output_dir=/tmp/t4
  python -m experiments.vaenas_table4 --benchmark=nb101:/data/nasbench_only108.tfrecord

Writes --output_dir/table4.json, table4.md and fig2.png.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app

from experiments import (
    algos,  # noqa: F401  (defines the --vaenas_* flags)
    common_flags,
)
from experiments.algos import vaenas as vaenas_flags
from lanas_jax import analysis, runner, scanned
from lanas_jax.benchmarks import NB101_PREFIX, load_benchmark
from lanas_jax.benchmarks.nb201 import DATASETS
from lanas_jax.config import config_dict
from lanas_jax.plotting import pyplot, save_figure
from lanas_jax.strategies.core import NoParams
from lanas_jax.strategies.evolution import RegularizedEvolution
from lanas_jax.vaenas import seeding
from lanas_jax.vaenas.token_space import Nb101Tokens, TokenSpace, token_space
from lanas_jax.vaenas.train import fit_top, init_vae, make_model

_NB201 = [f"nb201_{d}" for d in DATASETS]
_BENCH = common_flags.DEFINE_string(
    "benchmark", "nb201_cifar10",
    f"An embedded NB201 table ({', '.join(_NB201)}) or nb101:/path/nasbench_only108.tfrecord.",
)
_SEEDS = common_flags.DEFINE_integer("seeds", 100, "Independent repetitions.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed.")
_POOL = common_flags.DEFINE_integer("pool", 6000, "Architectures evaluated to train the VAE.")
_TOP = common_flags.DEFINE_integer(
    "top", 1500, "Best of the pool the VAE is trained on (Alg. 1 K)."
)
_NOISE = common_flags.DEFINE_list(
    "noise", ["0", "0.1", "0.5"], "Label noise std, in accuracy points (0.1 = 0.1%)."
)
_KS = common_flags.DEFINE_list("ks", ["10", "50", "100", "300"], "Sample counts K.")
_EVO_BUDGET = common_flags.DEFINE_integer("evo_budget", 300, "Evolution queries.")
_EVO_POP = common_flags.DEFINE_integer("evo_population", 50, "Evolution population.")
_EVO_TOUR = common_flags.DEFINE_integer("evo_tournament", 10, "Evolution tournament size.")
_HIST = common_flags.DEFINE_integer("hist_samples", 5000, "Samples per Fig. 2 histogram (seed 0).")
_OUT = common_flags.DEFINE_string("output_dir", "results/vaenas_table4", "Where outputs go.")

#: Seed 002's Table 4 on NAS-Bench-101 (test accuracy %), for the side-by-side table.
PAPER_NB101 = {
    "Random": [92.93, 93.30, 93.53, 93.86, 93.39],
    "VAE (weight-sharing)": [93.72, 93.95, 93.98, 94.23, 94.12],
    "VAE, noise 0": [93.56, 93.71, 93.95, 94.13, 94.14],
    "VAE, noise 0.1%": [93.64, 93.73, 93.97, 94.17, 93.75],
    "VAE, noise 0.5%": [92.24, 93.35, 93.63, 93.83, 93.33],
}


@dataclasses.dataclass(frozen=True)
class Study:
    """Static settings of one Table 4 study."""

    pool: int
    noises: tuple[float, ...]  # as fractions of accuracy
    ks: tuple[int, ...]
    evo_budget: int
    evo: RegularizedEvolution
    config: object  # TrainConfig
    tokens: TokenSpace  # OneHotSlots (NB201) or Nb101Tokens


def _prefix_max(values: jax.Array, ks: tuple[int, ...], found=None) -> jax.Array:
    """Best of the first K values for each K; with ``found``, of the found ones (NaN: none)."""
    if found is None:
        return jnp.stack([jnp.max(values[:k]) for k in ks])
    best = jnp.stack([jnp.max(jnp.where(found[:k], values[:k], -jnp.inf)) for k in ks])
    return jnp.where(jnp.isfinite(best), best, jnp.nan)


def _incumbent_test(history) -> jax.Array:
    """Test accuracy of the query with the best validation accuracy (the search's pick)."""
    return history.test[jnp.argmax(history.value)]


def _row_of_code(table: jax.Array, vocab: int) -> tuple[jax.Array, jax.Array]:
    """Place values and the ``[V**L]`` row of every code (the table holds every cell once)."""
    place = vocab ** jnp.arange(table.shape[1] - 1, -1, -1)
    codes = table @ place
    return place, jnp.zeros(vocab ** table.shape[1], jnp.int32).at[codes].set(
        jnp.arange(table.shape[0], dtype=jnp.int32)
    )


def _nb101(study: Study) -> bool:
    return isinstance(study.tokens, Nb101Tokens)


def _sample_rows(study: Study, params, key, num: int, domain):
    """``num`` VAE samples as ``(rows [num], found [num], valid [num])``: on NB201 every decode
    is a row (a dense code -> row table); on NB101 it is looked up up to isomorphism."""
    space = study.tokens
    toks, valid = space.decode(make_model(space.spec, study.config), params, key, num)
    if _nb101(study):
        rows, found = space.find_rows(domain, toks)
        return rows, found & valid, valid
    place, row_of = _row_of_code(space.table(domain), space.spec.vocab)
    return row_of[toks @ place], valid, valid


def _random_rows(study: Study, key, num: int, domain):
    """``num`` random architectures as ``(rows, found)``: uniform rows on NB201 (the table is
    the whole space), A.5's random cells on NB101."""
    if _nb101(study):
        toks, valid = study.tokens.random(key, num)
        rows, found = study.tokens.find_rows(domain, toks)
        return rows, found & valid
    return jax.random.randint(key, (num,), 0, domain.size), jnp.ones((num,), bool)


def _one_seed(study: Study, key, bench, evaluator):
    space = study.tokens
    test = bench.test_metric
    pool_key, rand_key, evo_key, *noise_keys = jax.random.split(key, 3 + len(study.noises))
    pool = jax.random.permutation(pool_key, bench.size)[: study.pool]
    pool_tokens = space.row_tokens(evaluator.pool, pool)
    maxk = max(study.ks)
    rand_rows, rand_found = _random_rows(study, rand_key, maxk, evaluator.pool)
    plain, _ = seeding.seeded_run(
        study.evo, study.evo_budget, 0, evo_key, evaluator, rand_rows[:1], NoParams()
    )
    nb101 = _nb101(study)
    out = {
        "random_max": _prefix_max(test[rand_rows], study.ks, rand_found if nb101 else None),
        "random_found": jnp.mean(rand_found),
        "evo_uniform": _incumbent_test(plain),
        "evo_uniform_max": jnp.max(plain.test),
        "vae_max": [], "vae_distinct": [], "evo_vae": [], "evo_vae_max": [], "evo_vae_used": [],
        "vae_found": [], "vae_invalid": [],
        "params": [],
        "final_loss": [],
    }
    ones = jnp.ones((study.pool,), bool)
    for noise, nkey in zip(study.noises, noise_keys, strict=True):
        label_key, init_key, train_key, samp_key, buf_key = jax.random.split(nkey, 5)
        labels = bench.metric[pool] + noise * jax.random.normal(label_key, (study.pool,))
        params, opt_state = init_vae(init_key, space.spec, study.config)
        params, _, losses = fit_top(
            space.spec, study.config, train_key, params, opt_state, pool_tokens, labels, ones
        )
        rows, found, valid = _sample_rows(study, params, samp_key, maxk, evaluator.pool)
        buf, buf_found, _ = _sample_rows(
            study, params, buf_key, 4 * study.evo.population_size, evaluator.pool
        )
        seeded, used = seeding.seeded_run(
            study.evo, study.evo_budget, study.evo.population_size, evo_key, evaluator, buf,
            NoParams(), buf_found if nb101 else None,
        )
        out["vae_max"].append(_prefix_max(test[rows], study.ks, found if nb101 else None))
        out["vae_distinct"].append(jnp.sum(
            jnp.zeros(bench.size, bool).at[jnp.where(found, rows, bench.size)].set(
                True, mode="drop")
        ))
        out["vae_found"].append(jnp.mean(found))
        out["vae_invalid"].append(jnp.sum(~valid))
        out["evo_vae"].append(_incumbent_test(seeded))
        out["evo_vae_max"].append(jnp.max(seeded.test))
        out["evo_vae_used"].append(used)
        out["params"].append(params)
        out["final_loss"].append(jnp.mean(losses[-20:]))
    return out


@functools.partial(jax.jit, static_argnums=0)
def _study(study: Study, keys, bench, evaluator):
    """Every seed's Table 4 entries; ``evaluator`` is the table's, built on the host (the
    evolution searches run on its domain)."""
    return jax.vmap(functools.partial(_one_seed, study), in_axes=(0, None, None))(
        keys, bench, evaluator)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _histogram_samples(study: Study, params, key, num, evaluator):
    """Test accuracies of ``num`` VAE samples and which are table rows."""
    rows, found, _ = _sample_rows(study, params, key, num, evaluator.pool)
    return evaluator.test_metric[rows], found


@functools.partial(jax.jit, static_argnums=(0, 2))
def _histogram_random(study: Study, key, num, evaluator):
    rows, found = _random_rows(study, key, num, evaluator.pool)
    return evaluator.test_metric[rows], found


def _fig2(path: str, random_acc, vae_acc: dict, title: str) -> None:
    plt = pyplot()

    fig, axes = plt.subplots(1, len(vae_acc), figsize=(4.2 * len(vae_acc), 3.2), sharey=True)
    every = np.concatenate([random_acc, *vae_acc.values()])  # NB101: the found samples only
    if every.size == 0:
        every = np.zeros(1)
    base = random_acc if random_acc.size else every
    bins = np.linspace(np.percentile(base, 5), every.max(), 60)  # NB201 has 10%-accuracy cells
    if bins[-1] <= bins[0]:
        bins = np.linspace(every.min() - 1e-3, every.max() + 1e-3, 60)
    for ax, (name, acc) in zip(np.atleast_1d(axes), vae_acc.items(), strict=True):
        if random_acc.size:
            ax.hist(100 * random_acc, bins=100 * bins, alpha=0.6, label="random", density=True)
        if acc.size:
            ax.hist(100 * acc, bins=100 * bins, alpha=0.6, label="VAE", density=True)
        ax.set_title(name)
        ax.set_xlabel("test accuracy (%)")
        ax.legend()
    fig.suptitle(title)
    save_figure(fig, path)


def _json_float(a: np.ndarray) -> float | None:
    return float(a.mean()) if a.size else None


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        noises_pts = tuple(float(x) for x in _NOISE.value)
        ks = tuple(int(x) for x in _KS.value)
    except ValueError as e:
        raise app.UsageError(f"--noise / --ks must be numbers: {e}") from e
    name = _BENCH.value
    if name not in _NB201 and not (name.startswith(NB101_PREFIX)
                                   or name.lower().endswith(".tfrecord")):
        raise app.UsageError(
            f"--benchmark must be one of {', '.join(_NB201)} or nb101:/path/file.tfrecord, "
            f"got {name!r}"
        )
    bench = load_benchmark(name)
    if _SEEDS.value < 1:
        raise app.UsageError(f"--seeds must be >= 1, got {_SEEDS.value}")
    if not 1 <= _TOP.value <= _POOL.value <= bench.size:
        raise app.UsageError(
            f"need 1 <= --top ({_TOP.value}) <= --pool ({_POOL.value}) <= {bench.size}"
        )
    if not ks or min(ks) < 1 or any(n < 0 for n in noises_pts):
        raise app.UsageError("--ks must be positive and --noise non-negative")
    if not 1 <= _EVO_POP.value <= _EVO_BUDGET.value <= bench.size or _EVO_TOUR.value < 1:
        raise app.UsageError("need 1 <= --evo_population <= --evo_budget <= table size")
    evaluator = scanned.table_evaluator(bench)
    tokens = token_space(evaluator.pool, vocab=5)  # NB201: 6 edges x 5 ops; NB101: A.5's 26
    tokens.validate(evaluator.pool)  # raises on a table that is neither
    config = dataclasses.replace(vaenas_flags.train_config(), top_frac=_TOP.value / _POOL.value)
    evo = RegularizedEvolution(population_size=_EVO_POP.value, tournament_size=_EVO_TOUR.value)
    runner.check_budget(evo, bench, _EVO_BUDGET.value)  # evolution on the table's domain
    study = Study(_POOL.value, tuple(n / 100 for n in noises_pts), ks, _EVO_BUDGET.value, evo,
                  config, tokens)
    keys = runner.seed_keys(_SEED.value, _SEEDS.value)
    t0 = time.perf_counter()
    compiled = _study.lower(study, keys, bench, evaluator).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(keys, bench, evaluator))
    t2 = time.perf_counter()
    names = [f"VAE, noise {n:g}%" if n else "VAE, noise 0" for n in noises_pts]

    def seed_mean(per_seed):  # NB101 K columns without a found sample are NaN
        return analysis.nanmean(per_seed, 0)

    rows = {"Random": np.append(seed_mean(out["random_max"]), seed_mean(out["evo_uniform"]))}
    for i, name in enumerate(names):
        rows[name] = np.append(seed_mean(out["vae_max"][i]), seed_mean(out["evo_vae"][i]))
    hist_key = jax.random.fold_in(jax.random.key(_SEED.value), 2)
    seed0 = [jax.tree.map(lambda a: a[0], p) for p in out["params"]]
    vae_acc = {}
    for name, p in zip(names, seed0, strict=True):
        acc, found = _histogram_samples(study, p, hist_key, _HIST.value, evaluator)
        vae_acc[name] = np.asarray(acc)[np.asarray(found)]
    acc, found = _histogram_random(study, jax.random.fold_in(hist_key, 1), _HIST.value,
                                   evaluator)
    random_acc = np.asarray(acc)[np.asarray(found)]
    os.makedirs(_OUT.value, exist_ok=True)
    _fig2(os.path.join(_OUT.value, "fig2.png"), random_acc, vae_acc,
          f"{bench.name}: {_HIST.value} samples, VAE (seed 0) vs random")
    head = "| method | " + " | ".join(f"K={k}" for k in ks) + " | Evolution |"
    lines = [f"Table 4 on {bench.name} ({_SEEDS.value} seeds, mean test accuracy %; K columns: "
             f"best of K samples; Evolution: test accuracy of its best-validation query "
             f"after {_EVO_BUDGET.value}; table's best test accuracy "
             f"{100 * float(np.max(bench.test_metric)):.2f})", "",
             head, "|" + "---|" * (len(ks) + 2)]
    for name, vals in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{100 * v:.2f}" for v in vals) + " |")
    lines += ["", "Seed 002's Table 4 on NAS-Bench-101 (K = 10, 50, 100, 300; Evolution):", "",
              "| method | K=10 | K=50 | K=100 | K=300 | Evolution |", "|---|---|---|---|---|---|"]
    for name, vals in PAPER_NB101.items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
    nb101 = isinstance(tokens, Nb101Tokens)
    found = {"Random": float(np.mean(out["random_found"])),
             **{name: float(np.mean(out["vae_found"][i])) for i, name in enumerate(names)}}
    if nb101:
        lines += ["", "NAS-Bench-101: Random samples A.5's random cells (U(0, 1) edge scores, top "
                  "9, redrawn until connected), looked up in the table up to isomorphism; "
                  "share of samples that are table rows: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in found.items())
                  + " (K columns: best among the found samples)."]
    table = "\n".join(lines)
    record = {
        "benchmark": bench.name, "seeds": _SEEDS.value, "seed": _SEED.value,
        "pool": _POOL.value, "top": _TOP.value, "noise_points": list(noises_pts), "ks": list(ks),
        "evo_budget": _EVO_BUDGET.value, "evo_population": _EVO_POP.value,
        "evo_tournament": _EVO_TOUR.value, "vae": config_dict(config),
        "mean_test_accuracy": {k: analysis.nan_to_none(np.round(v, 6)) for k, v in rows.items()},
        "per_seed": {
            "random_max": analysis.nan_to_none(out["random_max"]),
            "evo_uniform": np.asarray(out["evo_uniform"]).tolist(),
            "evo_uniform_max_test": np.asarray(out["evo_uniform_max"]).tolist(),
            **{f"{name}/max": analysis.nan_to_none(out["vae_max"][i])
               for i, name in enumerate(names)},
            **{f"{name}/evolution": np.asarray(out["evo_vae"][i]).tolist()
               for i, name in enumerate(names)},
            **{f"{name}/evolution_max_test": np.asarray(out["evo_vae_max"][i]).tolist()
               for i, name in enumerate(names)},
        },
        "distinct_rows_in_samples_mean": {
            name: float(np.mean(out["vae_distinct"][i])) for i, name in enumerate(names)},
        "evo_init_from_vae_mean": {
            name: float(np.mean(out["evo_vae_used"][i])) for i, name in enumerate(names)},
        "final_train_loss_mean": {
            name: float(np.mean(out["final_loss"][i])) for i, name in enumerate(names)},
        "invalid_decodes": 0 if not nb101 else {
            name: float(np.mean(out["vae_invalid"][i])) for i, name in enumerate(names)},
        "found_in_table_fraction": found,
        "random_sampler": "A.5 random cells (top-9 of U(0,1) edge scores, connected)" if nb101
        else "uniform table rows",
        "fig2_mean_test_accuracy": {"random": _json_float(random_acc),
                                    **{k: _json_float(v) for k, v in vae_acc.items()}},
        "compile_seconds": t1 - t0, "run_seconds": t2 - t1,
        "paper_nb101": PAPER_NB101,
    }
    with open(os.path.join(_OUT.value, "table4.json"), "w") as f:
        json.dump(record, f, indent=1)
    with open(os.path.join(_OUT.value, "table4.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    print(f"\ndistinct architectures among {max(ks)} VAE samples (mean): "
          f"{record['distinct_rows_in_samples_mean']}")
    print(f"compile {t1 - t0:.1f} s, run {t2 - t1:.1f} s; wrote {_OUT.value}/table4.json, "
          "table4.md, fig2.png")


if __name__ == "__main__":
    app.run(main)
