r"""One-shot NAS: train a weight-sharing supernet, search on its scores, report honestly.

Seed 002 Sec. 4.2 (VAENAS-OS, Alg. 2); SPOS (Guo et al. 2020); FairNAS (Chu et al. 2021); RSPS
(Li & Talwalkar 2019, NAS-Bench-201's baseline). Pipeline:

1. train the supernet of ``--space`` on ``--dataset`` with ``--method`` for ``--epochs``
   (checkpointed with orbax every epoch; ``--resume`` continues a killed run and ends with the
   same weights as an uninterrupted one; data-parallel over every local device);
2. score architectures with the inherited weights on the validation split (the whole space for
   enumerable spaces, written as ``supernet_table.npz``, which ``experiments.search
   --benchmark=PATH`` reads);
3. search on the scores with ``--search``: ``evolution`` (SPOS's GA), ``vaenas`` (the same GA
   seeded from VAENAS-OS's VAE), ``lanas`` (the LaNAS tree on supernet scores; its leaf
   samples satisfy every constraint of the path) or ``random``, ``--budget`` scorings (on a
   space too large to score whole, NASNet, the strategies query a
   :class:`~lanas_jax.evaluators.supernet.SupernetEvaluator` instead of the table);
4. evaluate the found network for real: its ground-truth accuracy where ``--ground_truth``
   holds it, otherwise trained from scratch with ``--recipe``; Kendall tau and Spearman of
   supernet scores against the ground truth.

  python -m experiments.oneshot --space=convnet --method=spos --search=evolution \
      --ground_truth=convnet1364 --output_dir=results/oneshot

Writes ``results.json``, ``curve.png``, ``scatter.png`` (with ground truth) and
``supernet_table.npz`` (enumerable spaces) under ``--output_dir``.
"""

from __future__ import annotations

import json
import os
import time
from importlib import resources

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, logging

from experiments import algos, common_flags, train_flags
from lanas_jax import scanned
from lanas_jax.benchmarks.sample_table import load_sample_table
from lanas_jax.evaluators.supernet import SupernetEvaluator
from lanas_jax.evaluators.train import TrainEvaluator
from lanas_jax.runner import run_search
from lanas_jax.supernet import ranking, table
from lanas_jax.supernet.checkpoint import Checkpointer
from lanas_jax.supernet.evolution import SposEvolution, evolve
from lanas_jax.supernet.methods import (
    GRADIENT_METHODS,
    method_candidates,
    train_method,
    with_options,
)
from lanas_jax.supernet.models import build_supernet
from lanas_jax.supernet.pipeline import train_supernet, vae_seed_tokens
from lanas_jax.supernet.score import score_space
from lanas_jax.supernet.train import METHODS, OneShotConfig, data_mesh
from lanas_jax.training.recipe import RECIPES, Recipe, get_recipe

SEARCHES = ("evolution", "vaenas", "lanas", "random", "own")

_METHOD = common_flags.DEFINE_enum(
    "method", "spos", [*METHODS, *GRADIENT_METHODS],
    "Supernet training method: one-shot (spos, fairnas, rsps, vaenas_os) or a gradient / "
    "controller method that searches while it trains (darts, darts2, gdas, vaenas_g, enas, "
    "nases).")
_SEARCH = common_flags.DEFINE_enum(
    "search", None, list(SEARCHES),
    "Search on the trained supernet; 'own' takes the method's own proposals (DARTS's derived "
    "cell, ENAS's controller samples). Default: evolution for one-shot methods, own for the "
    "others.")
_SUPERNET_RECIPE = common_flags.DEFINE_enum(
    "supernet_recipe", None, sorted(RECIPES),
    "Recipe of the supernet's training (default: supernet_<space>_digits).")
_EPOCHS = common_flags.DEFINE_integer("epochs", None, "Supernet epochs (default: the recipe's).")
_BN = common_flags.DEFINE_enum("bn", "batch", ["batch", "recalibrate"],
                               "BatchNorm when scoring: batch statistics (NAS-Bench-201) or "
                               "running statistics recalibrated per subnet (SPOS).")
_GROUND_TRUTH = common_flags.DEFINE_string(
    "ground_truth", None, "A trained table to rank against: an embedded ConvNet table "
    "(convnet1364), the embedded NB201 digits sample (nb201_digits_sample), the real "
    "NAS-Bench-201 (nb201_cifar10 ...) or a .npz path.")
_BUDGET = common_flags.DEFINE_integer("budget", 250, "Supernet scorings of the search.")
_POPULATION = common_flags.DEFINE_integer("population", 50, "SPOS GA population (P).")
_TOP = common_flags.DEFINE_integer("top_k", 10, "Architectures listed in results.json's top_k.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Seed of training, search and retraining.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/oneshot", "Where outputs go.")
_RESUME = common_flags.DEFINE_bool("resume", False, "Continue from --output_dir's checkpoint.")
_N_VAE = common_flags.DEFINE_integer("n_vae", 2, "VAENAS-OS: epochs between VAE updates.")
_N_SAMPLES = common_flags.DEFINE_integer("n_samples", 256,
                                         "VAENAS-OS: paths scored per VAE update (N_s).")
_EPS_INC = common_flags.DEFINE_float("eps_inc", 0.02,
                                     "VAENAS-OS: growth of the VAE's share per VAE update.")
_METHOD_OPTIONS = common_flags.DEFINE_list(
    "method_options", [], "A gradient / controller method's settings, NAME=VALUE, comma-"
    "separated (e.g. pretrained_init=false for NASES's ablation, order=2, "
    "controller.learning_rate=1e-3); its config class lists the names.")
_SCORE_SPACE = common_flags.DEFINE_bool(
    "score_space", True, "Score every architecture of an enumerable space (writes "
    "supernet_table.npz); false scores only what the search and the ground truth need "
    "(NB201 on a CPU: 15,625 cells take long).")
_SCORE_IMAGES = common_flags.DEFINE_integer(
    "score_images", 0, "Validation images per scoring (0 = the whole validation split).")


def _config(space, recipe_name: str, recipe, splits, epochs: int, cfg) -> dict:
    return {"space": space.name, "dataset": splits.name, "method": _METHOD.value,
            "recipe": {"name": recipe_name, **recipe.to_dict()}, "epochs": epochs,
            "bn": _BN.value, "seed": _SEED.value, "n_train": int(splits.x_train.shape[0]),
            "vaenas_os": {"n_vae": _N_VAE.value, "n_samples": _N_SAMPLES.value,
                          "eps_inc": _EPS_INC.value},
            "method_config": repr(cfg)}


def _ground_truth(space):
    """``--ground_truth`` (an embedded table's name or a table path) as a
    :class:`~lanas_jax.benchmarks.sample_table.SampleTable`, or None."""
    spec = _GROUND_TRUTH.value
    if not spec:
        return None
    from lanas_jax.benchmarks import convnet as convnet_tables
    from lanas_jax.benchmarks.sample_table import (
        EMBEDDED_SAMPLES,
        NB201_TABLES,
        nb201_table,
    )

    if spec in NB201_TABLES:  # the real benchmark: a CIFAR-trained supernet's ground truth
        gt = nb201_table(spec)
        try:
            gt.check_space(space)
        except ValueError as e:
            raise app.UsageError(f"--ground_truth: {e}") from None
        return gt
    embedded = {**convnet_tables.EMBEDDED, **EMBEDDED_SAMPLES}
    if spec in embedded:
        spec = str(resources.files("lanas_jax.benchmarks") / "data" / embedded[spec])
    try:
        gt = load_sample_table(spec)
        gt.check_space(space)
    except ValueError as e:
        raise app.UsageError(f"--ground_truth: {e}") from None
    return gt


def _check_split(gt, splits) -> None:
    """Refuse a run whose validation split is not the one the table was measured on."""
    meta = gt.metadata
    if "split" in meta:  # a benchmark measured on its own split (NAS-Bench-201)
        logging.warning("%s was measured on %s split: only the ranking compares", gt.path,
                        meta["split"])
        return
    if "splits_digest" in meta:  # a sample table records its split's digest
        if meta["splits_digest"] != splits.index_digest():
            raise app.UsageError(f"--ground_truth {gt.path} was measured on another split of "
                                 f"{meta.get('dataset')!r} (its digest differs): pass the "
                                 "--dataset / --n_val / --split_seed it was built with")
        return
    want = (meta.get("dataset"), meta.get("n_val"), meta.get("split_seed", 0))
    have = (train_flags.DATASET.value, int(splits.x_val.shape[0]), train_flags.SPLIT_SEED.value)
    if want != have:
        raise app.UsageError(f"--ground_truth {gt.path} was measured on dataset {want[0]!r} "
                             f"with n_val {want[1]} and split seed {want[2]}; this run uses "
                             f"{have[0]!r}, {have[1]}, {have[2]}: its ranking would not compare")


def _search(name, space, supernet, state, cfg, scores, score_fn, evaluator,
            key) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens evaluated, their supernet scores)`` of the search ``name``."""
    budget = _BUDGET.value
    if name == "own":  # the method's proposals, its own pick first, scored on the supernet
        spec = GRADIENT_METHODS[_METHOD.value]
        tokens = method_candidates(spec, supernet, cfg, state, key, budget)
        return np.asarray(tokens), np.asarray(jax.jit(score_fn)(tokens))
    if name in ("evolution", "vaenas"):
        ga = SposEvolution(population=_POPULATION.value, top_k=min(10, _POPULATION.value),
                           iterations=budget // _POPULATION.value)
        init = None
        if name == "vaenas":
            init = vae_seed_tokens(supernet, cfg, state, jax.random.fold_in(key, 1),
                                   ga.population)
        tokens, s = jax.jit(lambda k: evolve(space, ga, score_fn, k, init))(key)
        return np.asarray(tokens), np.asarray(s)
    if scores is None:  # too large to score whole: the strategy proposes, the supernet scores
        defaults = {"leaf_sampler": "hit_and_run"} if name == "lanas" else {}
        strategy, params = algos.build(name, defaults)
        h = scanned.sweep(strategy, evaluator, key[None], budget, params)
        archs = jax.tree.map(lambda a: a[0], h.archs)
        return np.asarray(jax.vmap(space.tokens)(archs)), np.asarray(h.value[0])
    bench = table.as_benchmark(space, scores)
    if budget > bench.size:
        raise app.UsageError(f"--budget={budget} exceeds the {bench.size} architectures")
    strategy, params = algos.build(name)
    h = run_search(strategy, bench, key, budget, params)
    idx = np.asarray(h.indices)
    tokens = np.asarray(jax.vmap(lambda i: space.tokens(space.from_index(i)))(jnp.asarray(idx)))
    return tokens, np.asarray(h.metric)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    space = train_flags.space()
    recipe_name = _SUPERNET_RECIPE.value or f"supernet_{space.name}_digits"
    if recipe_name not in RECIPES:
        raise app.UsageError(f"no default supernet recipe for the {space.name} space; give "
                             f"--supernet_recipe (one of {', '.join(sorted(RECIPES))})")
    recipe = get_recipe(recipe_name)
    epochs = _EPOCHS.value or recipe.epochs
    if epochs < 1 or _BUDGET.value < 1:
        raise app.UsageError(f"--epochs and --budget must be >= 1, got {epochs}, "
                             f"{_BUDGET.value}")
    method = _METHOD.value
    search = _SEARCH.value or ("own" if method in GRADIENT_METHODS else "evolution")
    if search in ("evolution", "vaenas") and _BUDGET.value < _POPULATION.value:
        raise app.UsageError(f"--budget={_BUDGET.value} is below one population "
                             f"(--population={_POPULATION.value})")
    if search == "vaenas" and method != "vaenas_os":
        raise app.UsageError("--search=vaenas starts from VAENAS-OS's VAE: use it with "
                             "--method=vaenas_os")
    if search == "own" and method not in GRADIENT_METHODS:
        raise app.UsageError(f"--search=own takes a gradient or controller method's own "
                             f"proposals; --method={method} has none: use evolution, lanas or "
                             "random")
    gt = _ground_truth(space)
    splits = train_flags.splits()
    if gt is not None:
        _check_split(gt, splits)
    try:
        supernet = build_supernet(space, splits.num_classes, recipe, bn=_BN.value)
    except ValueError as e:
        raise app.UsageError(f"--space={space.name}: {e}") from None
    spec = GRADIENT_METHODS.get(method)
    if spec is None and _METHOD_OPTIONS.value:
        raise app.UsageError(f"--method_options set a gradient or controller method's config; "
                             f"--method={method} takes its own flags (--n_vae, --eps_inc, ...)")
    try:
        if spec is None:
            cfg = OneShotConfig(method=method, n_vae=_N_VAE.value, n_samples=_N_SAMPLES.value,
                                eps_inc=_EPS_INC.value)
        else:
            # DARTS's unrolled step uses the weights' learning rate (Liu et al. 2019, Sec. 2.3)
            extra = {"xi": recipe.learning_rate} if method == "darts2" else {}
            cfg = with_options(spec.make_config(epochs, **extra), _METHOD_OPTIONS.value)
    except ValueError as e:
        raise app.UsageError(f"--method={method}: {e}") from None
    tx = recipe.optax_optimizer(int(splits.x_train.shape[0]))
    out = _OUTPUT_DIR.value
    os.makedirs(out, exist_ok=True)
    config = _config(space, recipe_name, recipe, splits, epochs, cfg)
    ckpt_dir = os.path.join(out, "checkpoints")
    if os.path.isdir(ckpt_dir) and os.listdir(ckpt_dir) and not _RESUME.value:
        raise app.UsageError(f"{ckpt_dir} holds a previous run's checkpoints: pass --resume to "
                             "continue it or choose another --output_dir")
    n_dev = jax.local_device_count()
    mesh = data_mesh() if n_dev > 1 and recipe.batch_size % n_dev == 0 else None
    key = jax.random.key(_SEED.value)
    logging.info("training the %s supernet (%s, %d epochs, %s) on %s, %d device(s)",
                 space.name, method, epochs, recipe_name, splits.name, n_dev)
    t0 = time.perf_counter()
    with Checkpointer(ckpt_dir, config=config) as ckpt:
        try:
            if spec is None:
                state, history = train_supernet(supernet, cfg, tx, recipe.batch_size, splits,
                                                jax.random.fold_in(key, 0), epochs,
                                                checkpointer=ckpt, mesh=mesh, log=logging.info)
            else:  # searches while it trains: its own loop (one device)
                state, history = train_method(spec, supernet, cfg, tx, recipe.batch_size,
                                              splits, jax.random.fold_in(key, 0), epochs,
                                              checkpointer=ckpt, log=logging.info)
        except (FloatingPointError, ValueError) as e:
            raise app.UsageError(f"supernet training: {e}") from None
    train_seconds = time.perf_counter() - t0
    x_val, y_val = jnp.asarray(splits.x_val), jnp.asarray(splits.y_val)
    if _SCORE_IMAGES.value:
        x_val, y_val = x_val[:_SCORE_IMAGES.value], y_val[:_SCORE_IMAGES.value]
    calib = jnp.asarray(splits.x_train[:256]) if _BN.value == "recalibrate" else None

    t1 = time.perf_counter()
    evaluator = SupernetEvaluator.create(supernet, state.variables, x_val, y_val, calib)
    scores = None
    if getattr(space, "dense", False) and _SCORE_SPACE.value:  # the whole space once: a table
        scores = score_space(supernet, state.variables, x_val, y_val, x_calib=calib)

    def score_fn(tokens):
        archs = jax.vmap(space.from_tokens)(tokens)
        if scores is not None:
            return jnp.asarray(scores)[jax.vmap(space.index)(archs)]
        return evaluator.evaluate(archs).value

    tokens, s = _search(search, space, supernet, state, cfg, scores, score_fn, evaluator,
                        jax.random.fold_in(key, 1))
    search_seconds = time.perf_counter() - t1
    gt_scores = None
    if gt is not None:  # the supernet's scores of the ground truth's architectures
        gt_archs = gt.archs(space)
        if scores is not None:
            gt_scores = np.asarray(scores)[np.asarray(jax.vmap(space.index)(gt_archs))]
        else:
            gt_scores = np.asarray(jax.jit(lambda ev, a: ev.evaluate(a).value)(evaluator,
                                                                               gt_archs))
    first = search == "own" and spec.pick == "first"  # DARTS's derived cell is its answer
    result = _report(space, gt, gt_scores, splits, tokens, s, key, found_first=first)
    result.update({"space": space.name, "dataset": splits.name, "method": method,
                   "search": search, "recipe": config["recipe"], "epochs": epochs,
                   "train_seconds": round(train_seconds, 1),
                   "search_seconds": round(search_seconds, 1), "budget": _BUDGET.value,
                   "bn": _BN.value, "seed": _SEED.value, "devices": n_dev, "history": history})
    _write(out, space, result, scores, gt, gt_scores, history)


def _report(space, gt, gt_scores, splits, tokens, s, key, *, found_first: bool = False) -> dict:
    """The found architecture (the best-scoring one, or the first of ``tokens`` when
    ``found_first``), the top-k, rank correlations and ground-truth lookups."""
    archs = [space.from_tokens(jnp.asarray(t)) for t in tokens]
    order = np.argsort(-s, kind="stable")
    if found_first:
        order = np.concatenate([[0], order[order != 0]])
    seen, top = set(), []
    for i in order:
        d = space.describe(archs[i])
        if d not in seen:
            seen.add(d)
            top.append((i, d))
        if len(top) == _TOP.value:
            break
    corr = {"kendall_tau": None, "spearman": None}
    if gt is not None:
        rep = ranking.rank_report(gt_scores, gt.metric)
        corr = {"kendall_tau": rep["kendall_tau"], "spearman": rep["spearman"],
                "ground_truth": gt.path, "ground_truth_rows": len(gt),
                "supernet_top1_true_rank": rep["true_rank"]}

    def truth(i):
        hit = gt.lookup(space, archs[i]) if gt is not None else None
        if hit is None:
            return None
        return {"true_val": hit[0], "true_test": hit[1], "true_rank": gt.rank_of(hit[0]),
                "true_from": "table"}

    entries = []
    for i, d in top:
        e = {"arch": d, "supernet_val": float(s[i])}
        e.update(truth(i) or {"true_val": None, "true_test": None, "true_rank": None,
                              "true_from": None})
        entries.append(e)
    found = dict(entries[0])
    if found["true_from"] is None:
        found.update(_retrain(space, splits, archs[top[0][0]], gt, key))
    return {**corr, "found": found, "top_k": entries}


def _retrain(space, splits, arch, gt, key) -> dict:
    """Train the found network from scratch: with the ground truth's recipe when there is one
    (so its accuracy compares with the table's), else with ``--recipe``."""
    if gt is not None and "recipe" in gt.metadata:
        recipe, name = Recipe(**gt.metadata["recipe"]), gt.metadata.get("recipe_name", "table's")
    else:
        recipe, name = train_flags.recipe(), train_flags.RECIPE.value
    logging.info("training the found %s from scratch (recipe %s)", space.describe(arch), name)
    ev = TrainEvaluator(space, splits, recipe, seed=_SEED.value, log=logging.info)
    res = ev.train(jax.tree.map(lambda a: a[None], arch), jax.random.fold_in(key, 2))
    val, test = float(res.val[0]), float(res.test[0])
    return {"true_val": val, "true_test": test,
            "true_rank": gt.rank_of(val) if gt is not None else None, "true_from": "retrained",
            "retrain_recipe": name}


def _write(out, space, result, scores, gt, gt_scores, history) -> None:
    from lanas_jax.supernet.plots import plot_curve, plot_scatter

    if scores is not None:
        truth = None
        if gt is not None and len(gt) == scores.shape[0]:  # a whole-space ground truth
            truth = np.empty(scores.shape[0])
            truth[np.asarray(jax.vmap(space.index)(gt.archs(space)))] = gt.metric
        table.write_table(os.path.join(out, "supernet_table.npz"), space, scores, truth,
                          {k: result[k] for k in ("space", "dataset", "method", "epochs",
                                                  "recipe", "bn")})
    plot_curve({"loss": history["loss"], "train accuracy": history["accuracy"]},
               os.path.join(out, "curve.png"))
    if gt is not None:
        plot_scatter(gt_scores, gt.metric, os.path.join(out, "scatter.png"),
                     f"{result['method']} supernet vs {os.path.basename(gt.path)}")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    f = result["found"]
    print(f"{result['method']} + {result['search']} on {space.name}: found {f['arch']} "
          f"(supernet val {f['supernet_val']:.4f}; true val {_pct(f['true_val'])}, test "
          f"{_pct(f['true_test'])}, rank {f['true_rank']}, from {f['true_from']})")
    if result["kendall_tau"] is not None:
        print(f"ranking vs {os.path.basename(gt.path)}: Kendall tau {result['kendall_tau']:.3f},"
              f" Spearman {result['spearman']:.3f}; the supernet's top-1 has true rank "
              f"{result['supernet_top1_true_rank']}")
    print(f"train {result['train_seconds']} s, search {result['search_seconds']} s; wrote "
          f"{out}/results.json")


def _pct(v):
    return "-" if v is None else f"{v:.4f}"


if __name__ == "__main__":
    app.run(main)
