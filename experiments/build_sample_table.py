r"""Train a uniform sample of a space's architectures stand-alone: a ground-truth table.

A supernet's ranking is measured against architectures trained alone (Yu et al. 2020, Sec. 4;
issue 14 item 5). This binary draws ``--n`` distinct architectures uniformly
(``space.sample``, de-duplicated by ``space.key``), trains each with every seed of the recipe
(:class:`~lanas_jax.evaluators.train.TrainEvaluator`) in chunks of ``--chunk`` networks, and
writes a table that :func:`lanas_jax.benchmarks.sample_table.load_sample_table` reads.

  python -m experiments.build_sample_table --space=nb201 --dataset=digits \
      --recipe=nb201_digits --n=300 --seeds=2 --seed=0 --output=/tmp/nb201_sample.npz

Resumable: after every chunk the finished rows go to ``OUTPUT.partial.npz``; a killed run
started again with the same flags reads them back and trains only the rest (a network's numbers
depend on the master key and the architecture only, never on its chunk). The partial file is
removed once the table is written.

Keys: ``sample_key, train_key = split(PRNGKey(--seed))``; round ``r`` of the sampler draws
``space.sample`` at ``split(fold_in(sample_key, r), m)`` and keeps unseen keys in draw order;
training uses ``train_key`` as :class:`TrainEvaluator` does (seed ``s`` of a dense space's
architecture ``i``: ``fold_in(fold_in(train_key, i), s)``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time

import jax
import numpy as np
from absl import app

from experiments import common_flags, train_flags
from lanas_jax.evaluators.train import TrainEvaluator
from lanas_jax.spaces.base import Space, get_space, space_names, stack, unstack
from lanas_jax.training.recipe import RECIPES, Recipe, get_recipe
from lanas_jax.training.reliability import seed_agreement

_SPACE = common_flags.DEFINE_enum("space", "nb201", space_names(), "The space sampled.")
_RECIPE = common_flags.DEFINE_enum("recipe", "nb201_digits", sorted(RECIPES),
                                   "The named training recipe (its seeds are --seeds).")
_N = common_flags.DEFINE_integer("n", 300, "Distinct architectures in the sample.")
_SEEDS = common_flags.DEFINE_integer("seeds", 2, "Training seeds per architecture.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed of the sample and the training.")
_OUTPUT = common_flags.DEFINE_string("output", "/tmp/sample_table.npz", "Where the table goes.")
_CHUNK = common_flags.DEFINE_integer(
    "chunk", 64, "Networks trained per compiled call; progress is saved after each.")
_MAX_CHUNKS = common_flags.DEFINE_integer(
    "max_chunks", 0, "Train at most this many chunks, then stop as if killed (0 = all).")
_VECTORIZE = common_flags.DEFINE_enum(
    "vectorize", "auto", ["auto", "true", "false"],
    "vmap a chunk (true), lax.map it (false), or vmap off CPU only (auto).")

#: Per-row arrays of the partial (progress) file and the table.
_ROWS = ("val_acc", "test_acc", "final_loss", "params", "train_seconds")


def draw_sample(space: Space, n: int, key: jax.Array) -> tuple[list, np.ndarray]:
    """``n`` distinct architectures of ``space`` drawn uniformly (``space.sample``), in draw
    order, and their ``u32[n, 2]`` keys. Raises ValueError when the space holds fewer."""
    size = space.size()
    if n < 1 or n > size.count:
        raise ValueError(f"--n must be in [1, {space.name} size {size}], got {n}")
    def one(k):
        arch = space.sample(k)
        return arch, space.key(arch)

    sample = jax.jit(jax.vmap(one))
    archs, keys, seen = [], [], set()
    m = max(2 * n, 256)
    for r in range(10_000):
        batch, batch_keys = sample(jax.random.split(jax.random.fold_in(key, r), m))
        batch_keys = np.asarray(batch_keys, np.uint32)
        for arch, k in zip(unstack(batch), batch_keys, strict=True):
            if (t := (int(k[0]), int(k[1]))) not in seen:
                seen.add(t), archs.append(arch), keys.append(k)
                if len(archs) == n:
                    return archs, np.stack(keys)
    raise ValueError(f"drew only {len(archs)} distinct {space.name} architectures of {n}")


def _fingerprint(space: Space, splits, recipe: Recipe, n: int, seed: int) -> dict:
    """What the numbers depend on: a partial file with another fingerprint is not resumed."""
    return {"space": space.name, "space_options": _options(space), "dataset": splits.name,
            "splits_digest": splits.index_digest(), "recipe": recipe.to_dict(), "n": n,
            "seed": seed}


def _options(space: Space) -> dict:
    return {f.name: getattr(space, f.name) for f in dataclasses.fields(space)}


def _load_partial(path: str, fingerprint: dict, keys: np.ndarray) -> dict:
    """Rows an earlier run of the same build finished (empty without a partial file)."""
    if not os.path.exists(path):
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            part = {k: z[k] for k in z.files}
        old = json.loads(str(part["fingerprint"]))
    except Exception as e:
        raise ValueError(f"{path}: unreadable progress file ({type(e).__name__}: {e}); delete "
                         f"it to start afresh") from None
    differ = sorted(k for k in fingerprint if old.get(k) != fingerprint[k])
    if differ:
        raise ValueError(f"{path}: progress of another build (differs in {', '.join(differ)}); "
                         f"rerun with its flags or delete it")
    done = part["val_acc"].shape[0]
    if not np.array_equal(part["arch_keys"], keys[:done]):
        raise ValueError(f"{path}: its architectures are not this sample's; delete it")
    return part


def _save(path: str, arrays: dict) -> None:
    """Write ``arrays`` to ``path`` atomically (a killed write leaves the old file)."""
    tmp = f"{path}.tmp.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def build_sample(space: Space, splits, recipe: Recipe, *, n: int, seed: int, output: str,
                 chunk: int = 64, vectorize: bool | None = None, stop_after: int | None = None,
                 extra_meta: dict | None = None, log=print) -> dict | None:
    """Build the table at ``output`` (see the module doc); returns its arrays, or None when
    ``stop_after`` chunks were trained and the rest is left to a later run (as if killed).
    ``extra_meta`` is added to the table's metadata (e.g. the recipe's name)."""
    if chunk < 1:
        raise ValueError(f"--chunk must be >= 1, got {chunk}")
    chunk = min(chunk, n)
    t_start = time.time()
    sample_key, train_key = jax.random.split(jax.random.PRNGKey(seed))
    archs, keys = draw_sample(space, n, sample_key)
    fingerprint = _fingerprint(space, splits, recipe, n, seed)
    partial = f"{output}.partial.npz"
    part = _load_partial(partial, fingerprint, keys)
    done = part["val_acc"].shape[0] if part else 0
    rows = {k: list(part[k]) if part else [] for k in _ROWS}
    wall_before = float(part["wall_seconds"]) if part else 0.0
    compile_total = float(part["compile_seconds"]) if part else 0.0
    evaluator = TrainEvaluator(space, splits, recipe, vectorize=vectorize, max_batch=chunk)
    n_chunks = -(-n // chunk)
    if done:
        log(f"resuming {partial}: {done} of {n} networks already trained")
    trained = 0
    for i, start in enumerate(range(done, n, chunk), start=done // chunk):
        if stop_after is not None and trained >= stop_after:
            return None
        part_archs = archs[start:start + chunk]
        # pad to a full chunk (one compiled program); a network's numbers ignore batch-mates
        padded = part_archs + part_archs[-1:] * (chunk - len(part_archs))
        t0 = time.time()
        res = evaluator.train(stack(padded), train_key)
        wall = time.time() - t0
        compile_total += res.compile_seconds
        k = len(part_archs)
        for name, value in zip(_ROWS, (res.val_per_seed, res.test_per_seed, res.loss_per_seed,
                                       res.params, res.seconds * len(padded) / k), strict=True):
            rows[name].extend(value[:k])
        trained, finished = trained + 1, start + k
        elapsed = time.time() - t_start + wall_before
        _save(partial, {"fingerprint": np.array(json.dumps(fingerprint)),
                        "arch_keys": keys[:finished], "wall_seconds": elapsed,
                        "compile_seconds": compile_total,
                        **{name: np.asarray(v) for name, v in rows.items()}})
        rate = k / max(wall - res.compile_seconds, 1e-9)
        log(f"chunk {i + 1}/{n_chunks}: {finished}/{n} networks, {rate:.2f} networks/s "
            f"(compile {res.compile_seconds:.0f}s), ~{(n - finished) / rate:.0f}s left")
    table = _table(space, archs, keys, {k: np.asarray(v) for k, v in rows.items()})
    wall = time.time() - t_start + wall_before
    meta = _metadata(fingerprint, splits, recipe, table, wall, compile_total, done, chunk,
                     evaluator)
    table["metadata"] = np.array(json.dumps({**meta, **(extra_meta or {})}))
    _save(output, table)
    os.remove(partial)
    log(f"wrote {output}: {n} networks x {len(recipe.seeds)} seeds in {wall:.0f}s")
    return table


def _table(space: Space, archs: list, keys: np.ndarray, rows: dict) -> dict:
    batch = stack(archs)
    return {
        "arch_keys": keys.astype(np.uint32),
        "tokens": np.asarray(jax.vmap(space.tokens)(batch), np.int32),
        "features": np.asarray(jax.vmap(space.features)(batch), np.float32),
        "describe": np.array([space.describe(a) for a in archs]),
        "metric": rows["val_acc"].mean(1), "test_metric": rows["test_acc"].mean(1),
        "val_acc": rows["val_acc"].astype(np.float32),
        "test_acc": rows["test_acc"].astype(np.float32),
        "final_loss": rows["final_loss"].astype(np.float32),
        "params": rows["params"].astype(np.int64),
        "train_seconds": rows["train_seconds"].astype(np.float32),
    }


def _metadata(fingerprint, splits, recipe, table, wall, compile_seconds, resumed, chunk,
              evaluator) -> dict:
    val = table["val_acc"]
    finite = np.isfinite(val).all(1)
    meta = {
        **fingerprint,
        "source": splits.source,
        "image_shape": list(splits.x_train.shape[1:]),
        "num_classes": int(splits.num_classes),
        "n_train": int(splits.x_train.shape[0]), "n_val": int(splits.x_val.shape[0]),
        "n_test": int(splits.x_test.shape[0]),
        "seeds": len(recipe.seeds),
        "sampling": "uniform space.sample, distinct by space.key, in draw order",
        "keys": "sample_key, train_key = split(PRNGKey(seed)); training as TrainEvaluator",
        "metric": "final-epoch validation accuracy, mean over seeds",
        "diverged": int((~finite).sum()),
        "chunk": chunk, "resumed_rows": int(resumed),
        "vectorize": evaluator.vectorize, "backend": jax.default_backend(),
        "device": jax.devices()[0].device_kind,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "jax": jax.__version__,
        "wall_seconds": round(wall, 1), "compile_seconds": round(compile_seconds, 1),
        "command": " ".join(sys.argv),
    }
    if val.shape[1] >= 2 and finite.sum() >= 3:
        meta["reliability"] = {k: (round(v, 4) if isinstance(v, float) else v)
                               for k, v in seed_agreement(val[finite]).items()}
    return meta


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if _SEEDS.value < 1:
        raise app.UsageError(f"--seeds must be >= 1, got {_SEEDS.value}")
    if _CHUNK.value < 1:
        raise app.UsageError(f"--chunk must be >= 1, got {_CHUNK.value}")
    space = get_space(_SPACE.value)
    size = space.size()
    if not 1 <= _N.value <= size.count:
        raise app.UsageError(f"--n must be in [1, {size}] (the {space.name} space), got "
                             f"{_N.value}")
    recipe = dataclasses.replace(get_recipe(_RECIPE.value), seeds=tuple(range(_SEEDS.value)))
    splits = train_flags.splits()
    vectorize = {"true": True, "false": False}.get(_VECTORIZE.value)
    print(f"{_N.value} {space.name} networks x {_SEEDS.value} seeds on {splits.name} (train "
          f"{splits.x_train.shape[0]}, val {splits.x_val.shape[0]}, test "
          f"{splits.x_test.shape[0]}), recipe {_RECIPE.value}, backend "
          f"{jax.default_backend()}", flush=True)
    try:
        table = build_sample(space, splits, recipe, n=_N.value, seed=_SEED.value,
                             output=_OUTPUT.value, chunk=_CHUNK.value, vectorize=vectorize,
                             stop_after=_MAX_CHUNKS.value or None,
                             extra_meta={"recipe_name": _RECIPE.value},
                             log=lambda s: print(s, flush=True))
    except ValueError as e:
        raise app.UsageError(str(e)) from e
    if table is None:
        print(f"stopped after --max_chunks={_MAX_CHUNKS.value}; rerun to finish", flush=True)
        return
    meta = json.loads(str(table["metadata"]))
    if "reliability" in meta:
        r = meta["reliability"]
        print(f"seed agreement: Kendall {r['kendall']:.3f} (top 10% {r['kendall_top']:.3f}), "
              f"seed sd {r['seed_spread']:.4f} vs network sd {r['network_spread']:.4f}")


if __name__ == "__main__":
    app.run(main)
