"""Evaluate architectures by training them: the open-domain evaluator of issue 13.

:class:`TrainEvaluator` trains every architecture a strategy asks for on a dataset's training
split with a :class:`~lanas_jax.training.recipe.Recipe` and reports validation accuracy (the
search signal, as in seed 000 Sec. 4: LaNAS searches on validation accuracy and reports test)
and test accuracy. Architectures of one *group* (:mod:`lanas_jax.training.models`: a ConvNet
depth, an MLP's widest layer, all of NB201) train as one compiled program over (architecture,
seed) pairs, ``jax.vmap``-ed on accelerators and ``lax.map``-ed on CPU, in chunks of at most
``max_batch`` networks; NASNet and NB101 compile each architecture's own flax network.

Keys: seed ``s`` of an architecture trains with ``fold_in(arch_key, s)``, where ``arch_key`` is
``fold_in(key, index)`` for a dense space (the old ConvNet table builder's keys, so its tables
reproduce) and ``fold_in(fold_in(key, k0), k1)`` of the canonical ``space.key`` otherwise. A
network's numbers therefore depend on ``key`` and the architecture only, never on its batch
position or batch-mates. Batched equals one-by-one **bitwise** under ``lax.map`` (the loop body
is the same HLO for any batch size) and to float tolerance under ``vmap`` (XLA may fuse the
batched matmuls differently; accuracies then agree unless a logit ties within rounding).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.data import Splits
from lanas_jax.domain import Domain, open_domain
from lanas_jax.evaluators.base import Evaluation, Evaluator
from lanas_jax.spaces.base import Space, stack, unstack
from lanas_jax.training.loop import train_batch
from lanas_jax.training.models import trainer_for
from lanas_jax.training.recipe import Recipe
from lanas_jax.training.static import FlaxModel

ON_NAN = ("raise", "zero")


#: Compiled trainers, shared across evaluators (see ``TrainEvaluator._program``).
_PROGRAMS: dict[tuple, Any] = {}
_MAX_PROGRAMS = 32


def clear_cache() -> None:
    """Drop the compiled trainers kept for reuse (their memory, in a long process)."""
    _PROGRAMS.clear()


def _static(model) -> bool:
    """A network built for one architecture (its program is never run again), as opposed to a
    masked group's, whose architecture is an input (``takes_arch``: e.g. all of NB201)."""
    return isinstance(model, FlaxModel) and not model.takes_arch


class TrainingDiverged(ValueError):
    """Training produced a NaN/inf loss or parameter for at least one architecture."""


@dataclasses.dataclass
class TrainResult:
    """Host arrays for a batch of ``B`` architectures trained with ``S`` seeds.

    Attributes:
      val, test: ``[B]`` mean accuracy over seeds (NaN where any seed diverged).
      val_per_seed, test_per_seed, loss_per_seed: ``[B, S]`` (NaN accuracies where diverged).
      params: ``[B]`` parameter count of the true network (not of its masked program).
      seconds: ``[B]`` wall seconds of a network's chunk / networks in the chunk, all seeds
        (amortised; compilation excluded, see ``compile_seconds``).
      diverged: ``[B]`` whether any seed's loss or parameters went NaN/inf.
      compile_seconds: compilation time of the programs this call built.
    """

    val: np.ndarray
    test: np.ndarray
    val_per_seed: np.ndarray
    test_per_seed: np.ndarray
    loss_per_seed: np.ndarray
    params: np.ndarray
    seconds: np.ndarray
    diverged: np.ndarray
    compile_seconds: float


def _check_splits(splits: Splits, recipe: Recipe) -> tuple[tuple[np.ndarray, ...], tuple]:
    arrays = tuple(np.asarray(a) for a in (splits.x_train, splits.y_train, splits.x_val,
                                           splits.y_val, splits.x_test, splits.y_test))
    xs, ys = arrays[0::2], arrays[1::2]
    shape = xs[0].shape[1:]
    for name, x, y in zip(("train", "val", "test"), xs, ys, strict=True):
        if x.ndim < 2 or x.shape[1:] != shape:
            raise ValueError(f"{name} inputs have shape {x.shape}; every split needs [N, ...] "
                             f"with the training split's per-example shape {shape}")
        if y.shape != (x.shape[0],) or x.shape[0] == 0:
            raise ValueError(f"{name}: {x.shape[0]} inputs need as many labels (non-empty), got "
                             f"labels of shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= splits.num_classes:
            raise ValueError(f"{name} labels must be ints in [0, {splits.num_classes})")
        if not np.isfinite(x).all():
            raise ValueError(f"{name} inputs contain NaN or inf")
    recipe.steps_per_epoch(xs[0].shape[0])
    data = tuple(a.astype(np.float32) if i % 2 == 0 else a.astype(np.int32)
                 for i, a in enumerate(arrays))
    return data, shape


def _raw_key(key: jax.Array) -> jax.Array:
    key = jnp.asarray(key)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    if key.shape != (2,) or key.dtype != jnp.uint32:
        raise ValueError(f"expected one PRNG key (uint32[2] or a typed key), got {key.dtype}"
                         f"{list(key.shape)}")
    return key


@functools.partial(jax.jit, static_argnames=("space", "seeds"))
def _seed_keys(archs: Any, key: jax.Array, *, space: Space, seeds: tuple[int, ...]):
    def arch_key(arch):
        if space.dense:
            return jax.random.fold_in(key, space.index(arch).astype(jnp.uint32))
        k = space.key(arch)
        return jax.random.fold_in(jax.random.fold_in(key, k[0]), k[1])

    def per_seed(arch):
        k = arch_key(arch)
        return jax.vmap(lambda s: jax.random.fold_in(k, s))(jnp.asarray(seeds, jnp.uint32))

    return jax.vmap(per_seed)(archs)


class TrainEvaluator(Evaluator):
    """Train architectures of ``space`` on ``splits`` with ``recipe`` (see the module doc).

    Args:
      space: any registered space (masked programs for convnet, mlp, nb201; static otherwise).
      splits: train / val / test arrays and ``num_classes``
        (:class:`~lanas_jax.data.Splits` or anything with those fields).
      recipe: the training recipe; its ``seeds`` are averaged.
      vectorize: vmap a chunk (True) or ``lax.map`` it (False); None = vmap off CPU only.
      max_batch: most networks (each with all seeds) trained by one compiled call.
      on_nan: ``raise`` (:class:`TrainingDiverged`) or ``zero`` (a diverged network's value and
        test are 0.0, below chance, so a maximising search ranks it last) in :meth:`evaluate`.
      seed: the key :meth:`evaluate` uses when given none.
      log: called with one line per trained chunk (None = silent).
    """

    jittable = False

    def __init__(self, space: Space, splits: Splits, recipe: Recipe, *,
                 vectorize: bool | None = None, max_batch: int = 64, on_nan: str = "raise",
                 seed: int = 0, log: Callable[[str], None] | None = None):
        if on_nan not in ON_NAN:
            raise ValueError(f"on_nan must be one of {ON_NAN}, got {on_nan!r}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        data, shape = _check_splits(splits, recipe)
        self.space, self.recipe, self.on_nan, self.seed = space, recipe, on_nan, seed
        self.trainer = trainer_for(space, shape, int(splits.num_classes), recipe)
        self.data = tuple(jax.device_put(a) for a in data)
        self.vectorize = jax.default_backend() != "cpu" if vectorize is None else bool(vectorize)
        self.max_batch, self.log = max_batch, log
        self._domain: Domain | None = None
        self._template = jax.eval_shape(space.sample, jax.random.PRNGKey(0))

    @property
    def domain(self) -> Domain:
        """The whole space (:func:`~lanas_jax.domain.open_domain`), built on first use."""
        if self._domain is None:
            self._domain = open_domain(self.space)
        return self._domain

    def _check_archs(self, archs: Any) -> int:
        if jax.tree.structure(archs) != jax.tree.structure(self._template):
            raise ValueError(f"archs are not a batch of {self.space.name} architectures "
                             f"(pytree {jax.tree.structure(archs)})")
        sizes = set()
        for leaf, ref in zip(jax.tree.leaves(archs), jax.tree.leaves(self._template), strict=True):
            if np.ndim(leaf) != len(ref.shape) + 1 or np.shape(leaf)[1:] != ref.shape:
                raise ValueError(f"archs must be stacked with a leading batch axis: a leaf of "
                                 f"shape {np.shape(leaf)} where one architecture has {ref.shape}")
            sizes.add(np.shape(leaf)[0])
        if len(sizes) != 1 or 0 in sizes:
            raise ValueError(f"archs must be a non-empty batch with one leading size, got {sizes}")
        return sizes.pop()

    def seed_keys(self, archs: Any, key: jax.Array) -> np.ndarray:
        """``[B, S, 2]`` raw training keys of each (architecture, seed) pair."""
        return np.asarray(_seed_keys(archs, _raw_key(key), space=self.space,
                                     seeds=self.recipe.seeds))

    def _program(self, model, m_keys, m_archs):
        """The compiled trainer of ``model`` for a chunk of ``len(m_keys)`` pairs.

        A masked group's program is kept and shared by every evaluator with the same model,
        recipe and data shapes (a final training with the search's recipe, a second evaluator
        in one process) until :func:`clear_cache`, the least recently used dropped past
        ``_MAX_PROGRAMS``. A static network's program (one architecture, never trained again)
        is not kept, and :meth:`train` clears JAX's caches after it: XLA:CPU maps memory for
        every live executable, and a search that kept one per NASNet cell ran out of mappings
        (``vm.max_map_count``, 65,530) after ~20 cells ("LLVM compilation error: Cannot
        allocate memory")."""
        cache_key = (model, m_keys.shape[0], self.recipe, self.vectorize,
                     tuple((a.shape, a.dtype) for a in self.data), jax.default_backend())
        if cache_key in _PROGRAMS:
            _PROGRAMS[cache_key] = _PROGRAMS.pop(cache_key)  # most recently used last
            return _PROGRAMS[cache_key], 0.0
        t0 = time.time()
        program = train_batch.lower(m_keys, m_archs, self.data, model=model,
                                    recipe=self.recipe, vectorize=self.vectorize).compile()
        if not _static(model):
            while len(_PROGRAMS) >= _MAX_PROGRAMS:
                _PROGRAMS.pop(next(iter(_PROGRAMS)))
            _PROGRAMS[cache_key] = program
        return program, time.time() - t0

    def train(self, archs: Any, key: jax.Array | None = None) -> TrainResult:
        """Train a stacked batch of architectures with every seed of the recipe."""
        n = self._check_archs(archs)
        key = _raw_key(jax.random.PRNGKey(self.seed) if key is None else key)
        hosts = unstack(archs)
        keys = self.seed_keys(archs, key)
        n_seeds = len(self.recipe.seeds)
        out = {k: np.full((n, n_seeds), np.nan, np.float32) for k in ("val", "test", "loss")}
        finite = np.zeros((n, n_seeds), bool)
        seconds, compile_total = np.zeros(n), 0.0
        groups: dict[Any, list[int]] = {}
        for i, arch in enumerate(hosts):
            groups.setdefault(self.trainer.group(arch), []).append(i)
        for group, members in groups.items():
            model = self.trainer.model(group)
            size = min(len(members), self.max_batch)
            for start in range(0, len(members), size):
                part = members[start:start + size]
                # pad the last chunk by repeating its final network: one program per group
                padded = part + part[-1:] * (size - len(part))
                m_keys = keys[padded].reshape(-1, 2)
                m_archs = jax.tree.map(lambda a: np.repeat(a, n_seeds, 0),
                                       stack([hosts[i] for i in padded]))
                program, c = self._program(model, m_keys, m_archs)
                t0 = time.time()
                res = jax.block_until_ready(program(m_keys, m_archs, self.data))
                wall = time.time() - t0
                compile_total += c
                for name, r in zip(("val", "test", "loss"), res[:3], strict=False):
                    out[name][part] = np.asarray(r).reshape(size, n_seeds)[: len(part)]
                finite[part] = np.asarray(res[3]).reshape(size, n_seeds)[: len(part)]
                seconds[part] = wall / size
                if _static(model):
                    # One architecture's program, never run again: release it and what JAX
                    # cached for it (see _program), or a long static search runs out of
                    # memory mappings.
                    del program
                    jax.clear_caches()
                if self.log:
                    label = " ".join(str(group).split())[:40]  # a flax module repr is long
                    self.log(f"{self.space.name} group {label}: {len(part)} nets x "
                             f"{n_seeds} seeds, compile {c:.1f}s run {wall:.1f}s")
        diverged = ~finite.all(1)
        for name in ("val", "test"):
            out[name][~finite] = np.nan
        params = np.array([self.trainer.param_count(a) for a in hosts], np.int64)
        return TrainResult(out["val"].mean(1), out["test"].mean(1), out["val"], out["test"],
                           out["loss"], params, seconds, diverged, compile_total)

    def evaluate(self, archs: Any, key: jax.Array | None = None) -> Evaluation:
        """Train and report ``value`` = mean validation accuracy, ``test`` = mean test accuracy,
        ``row`` = -1. A diverged network raises :class:`TrainingDiverged` (``on_nan='raise'``)
        or scores 0.0 (``on_nan='zero'``)."""
        res = self.train(archs, key)
        if res.diverged.any():
            bad = [self.space.describe(a) for a, d in zip(unstack(archs), res.diverged,
                                                          strict=True) if d]
            if self.on_nan == "raise":
                raise TrainingDiverged(f"training diverged (NaN/inf) for {len(bad)} "
                                       f"architecture(s), e.g. {bad[0]}; lower the learning rate "
                                       f"or pass on_nan='zero'")
        val = np.where(res.diverged, 0.0, res.val).astype(np.float32)
        test = np.where(res.diverged, 0.0, res.test).astype(np.float32)
        return Evaluation(jnp.asarray(val), jnp.asarray(test),
                          jnp.full(val.shape, -1, jnp.int32))
