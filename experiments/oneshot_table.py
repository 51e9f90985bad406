r"""Methods x seeds of ``experiments.oneshot`` in one table (issue 15 item 6).

Each (method, seed) runs ``python -m experiments.oneshot`` in its own process under
``--output_dir/runs/METHOD_seedS`` (a crash loses only that run; a finished run, one with its
``results.json``, is never run again; an interrupted one continues from its checkpoint with
``--resume``). The table: per method, the found architecture's supernet score, its true
validation and test accuracy (mean +- std over seeds; from the ground truth or a retraining),
the rank correlation of supernet scores with the ground truth, and the seconds of training and
search; printed as markdown beside the published rows of the same methods, which are on other
data (NAS-Bench-201's CIFAR-10 search; NASES's Table 1) and say so.

  python -m experiments.oneshot_table --space=convnet --dataset=digits \
      --methods=spos,fairnas,rsps,vaenas_os,darts,darts2,gdas,vaenas_g,enas,nases --seeds=3 \
      --ground_truth=convnet1364 --output_dir=results/oneshot_table

Writes ``table.md`` and ``results.json`` (``{"rows": [...], "runs": [...], "failed": [...]}``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
from absl import app

from experiments import common_flags
from lanas_jax.spaces.base import space_names
from lanas_jax.supernet.methods import GRADIENT_METHODS
from lanas_jax.supernet.train import METHODS

ALL_METHODS = (*METHODS, *GRADIENT_METHODS)

_SPACE = common_flags.DEFINE_enum("space", "convnet", space_names(), "The searched space.")
_DATASET = common_flags.DEFINE_string("dataset", "digits", "The dataset (as oneshot reads it).")
_METHODS = common_flags.DEFINE_list("methods", list(ALL_METHODS), "Methods, comma-separated.")
_SEEDS = common_flags.DEFINE_integer("seeds", 3, "Seeds per method (0 .. seeds-1).")
_GROUND_TRUTH = common_flags.DEFINE_string("ground_truth", None,
                                           "Passed to oneshot (e.g. convnet1364).")
_EPOCHS = common_flags.DEFINE_integer("epochs", None, "Supernet epochs (default: the recipe's).")
_EXTRA = common_flags.DEFINE_list(
    "oneshot_flags", [], "More flags for every oneshot run, e.g. --oneshot_flags="
    "--supernet_recipe=tiny,--score_images=64.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/oneshot_table",
                                         "Where runs and the table go.")

#: Published rows (validation / test accuracy %, mean +- std), never ours: NAS-Bench-201
#: (Dong & Yang 2020, Table 5; searched on CIFAR-10) and NASES (seed 004, Table 1: CIFAR-10
#: test error of the final network trained longer, macro space).
PUBLISHED = {
    "nb201": ("NAS-Bench-201 paper, CIFAR-10, val / test %", {
        "rsps": "80.42±3.58 / 84.07±3.61", "darts": "39.77 / 54.30 (all skip)",
        "darts2": "39.77 / 54.30 (all skip)", "gdas": "89.89±0.08 / 93.61±0.09",
        "enas": "37.51±3.19 / 53.89±0.58", "setn": "84.04±0.28 / 87.64±0.00"}),
    "nasnet": ("NASES paper Table 1, CIFAR-10 test error %", {
        "enas": "3.54", "darts": "2.83 (cutout)", "nases": "3.45 (2.85 with cutout)"}),
}


def run_dir(out: str, method: str, seed: int) -> str:
    return os.path.join(out, "runs", f"{method}_seed{seed}")


def oneshot_command(method: str, seed: int, directory: str, *, space: str, dataset: str,
                    ground_truth: str | None, epochs: int | None, extra: list[str]) -> list[str]:
    """The ``experiments.oneshot`` command line of one run (``--resume`` when it has begun)."""
    cmd = [sys.executable, "-m", "experiments.oneshot", f"--space={space}",
           f"--dataset={dataset}", f"--method={method}", f"--seed={seed}",
           f"--output_dir={directory}"]
    if ground_truth:
        cmd.append(f"--ground_truth={ground_truth}")
    if epochs:
        cmd.append(f"--epochs={epochs}")
    ckpt = os.path.join(directory, "checkpoints")
    if os.path.isdir(ckpt) and os.listdir(ckpt):
        cmd.append("--resume")
    return [*cmd, *extra]


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    v = [x for x in values if x is not None]
    if not v:
        return None, None
    return float(np.mean(v)), float(np.std(v))


def aggregate(runs: list[dict]) -> list[dict]:
    """One row per method (in first-seen order) from the runs' ``results.json`` contents."""
    by_method: dict[str, list[dict]] = {}
    for r in runs:
        by_method.setdefault(r["method"], []).append(r)
    rows = []
    for method, rs in by_method.items():
        row = {"method": method, "seeds": len(rs),
               "search": sorted({r["search"] for r in rs})}
        for name, get in (("supernet_val", lambda r: r["found"]["supernet_val"]),
                          ("true_val", lambda r: r["found"]["true_val"]),
                          ("true_test", lambda r: r["found"]["true_test"]),
                          ("true_rank", lambda r: r["found"]["true_rank"]),
                          ("kendall_tau", lambda r: r.get("kendall_tau")),
                          ("seconds", lambda r: r["train_seconds"] + r["search_seconds"])):
            row[name], row[f"{name}_std"] = _mean_std([get(r) for r in rs])
        row["true_from"] = sorted({str(r["found"]["true_from"]) for r in rs})
        rows.append(row)
    return rows


def _pm(mean, std, scale=1.0, digits=2) -> str:
    if mean is None:
        return "-"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def format_table(rows: list[dict], *, space: str, dataset: str) -> str:
    """Markdown: our rows, then the published rows of the same methods (other data)."""
    lines = [f"Ours: {space} space on {dataset} (found architecture, mean ± std over seeds)", "",
             "| method | seeds | supernet val % | true val % | true test % | true rank | "
             "Kendall tau | seconds |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['seeds']} | {_pm(r['supernet_val'], r['supernet_val_std'], 100)}"
            f" | {_pm(r['true_val'], r['true_val_std'], 100)}"
            f" | {_pm(r['true_test'], r['true_test_std'], 100)}"
            f" | {_pm(r['true_rank'], r['true_rank_std'], digits=0)}"
            f" | {_pm(r['kendall_tau'], r['kendall_tau_std'], digits=3)}"
            f" | {_pm(r['seconds'], r['seconds_std'], digits=0)} |")
    if space in PUBLISHED:
        title, published = PUBLISHED[space]
        hits = [(m, published[m]) for m in (*[r["method"] for r in rows], "setn")
                if m in published]
        if hits:
            lines += ["", f"Published, not ours ({title}; other data, not comparable to the "
                      f"rows above):", "", "| method | published |", "| --- | --- |"]
            lines += [f"| {m} | {v} |" for m, v in dict(hits).items()]
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    methods = _METHODS.value
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown or not methods:
        raise app.UsageError(f"--methods: unknown {', '.join(unknown) or '(none given)'}; "
                             f"known: {', '.join(ALL_METHODS)}")
    if _SEEDS.value < 1:
        raise app.UsageError(f"--seeds must be >= 1, got {_SEEDS.value}")
    bad = [f for f in _EXTRA.value if not f.startswith("--")]
    if bad:
        raise app.UsageError(f"--oneshot_flags entries must be flags (--name=value): {bad}")
    out = _OUTPUT_DIR.value
    os.makedirs(out, exist_ok=True)
    runs, failed = [], []
    todo = [(m, s) for m in methods for s in range(_SEEDS.value)]
    t_start = time.time()
    for i, (method, seed) in enumerate(todo):
        d = run_dir(out, method, seed)
        results = os.path.join(d, "results.json")
        label = f"[{i + 1}/{len(todo)}] {method} seed {seed}"
        if not os.path.exists(results):
            cmd = oneshot_command(method, seed, d, space=_SPACE.value, dataset=_DATASET.value,
                                  ground_truth=_GROUND_TRUTH.value, epochs=_EPOCHS.value,
                                  extra=_EXTRA.value)
            os.makedirs(d, exist_ok=True)
            print(f"{label}: running {' '.join(cmd[2:])}", flush=True)
            t0 = time.time()
            with open(os.path.join(d, "log.txt"), "a") as log:
                proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
            if proc.returncode != 0 or not os.path.exists(results):
                with open(os.path.join(d, "log.txt")) as f:
                    tail = f.read()[-1500:]
                failed.append({"method": method, "seed": seed, "returncode": proc.returncode,
                               "log_tail": tail})
                print(f"{label}: FAILED (exit {proc.returncode}; {d}/log.txt)", flush=True)
                continue
            print(f"{label}: done in {time.time() - t0:.0f} s "
                  f"({time.time() - t_start:.0f} s so far)", flush=True)
        else:
            print(f"{label}: already done ({results})", flush=True)
        with open(results) as f:
            runs.append(json.load(f))
    rows = aggregate(runs) if runs else []
    text = format_table(rows, space=_SPACE.value, dataset=_DATASET.value)
    print(text)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"space": _SPACE.value, "dataset": _DATASET.value, "rows": rows,
                   "runs": [{k: r[k] for k in ("method", "seed", "search", "found",
                                               "kendall_tau", "train_seconds",
                                               "search_seconds")} for r in runs],
                   "failed": failed}, f, indent=1)
    if failed:  # the table holds the others; the exit status says some are missing
        sys.exit(f"{len(failed)} run(s) failed: " + ", ".join(
            f"{f['method']} seed {f['seed']} ({run_dir(out, f['method'], f['seed'])}/log.txt)"
            for f in failed))


if __name__ == "__main__":
    app.run(main)
