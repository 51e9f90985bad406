"""Resumable checkpoints of a supernet training run (issue 14, items 6-7), on top of orbax.

Supernet training (SPOS, Guo et al. 2020, Sec. 3; FairNAS, Chu et al. 2021, Sec. 3) runs for
hundreds of epochs, so a killed job must resume exactly where it stopped. :class:`Checkpointer`
wraps ``orbax.checkpoint.CheckpointManager`` (the ``args=ocp.args.Composite(...)`` API of
orbax-checkpoint >= 0.5): each step directory holds

* ``state``: the pytree's leaves as a flat dict ``{"leaf_00000": array, ...}`` written with
  ``StandardSave`` (so namedtuples such as optax states need no orbax registration), and
* ``meta``: JSON with the caller's ``meta``, the run ``config`` given at construction, and a
  signature of the pytree (treedef, and per leaf its key path, shape, dtype and kind).

Saving is synchronous (``enable_async_checkpointing=False``, then ``wait_until_finished``), so
when :meth:`Checkpointer.save` returns the step is on disk; orbax writes into a temporary
directory and renames it, so a kill mid-save leaves no half-written step that
:meth:`Checkpointer.latest_step` would report.

Leaves may be jax or numpy arrays, Python ``int``/``float``/``bool`` scalars, uint32
``jax.random.PRNGKey`` arrays (ordinary arrays) or typed keys from ``jax.random.key``: those
are stored as their ``key_data`` and re-wrapped on restore with the key implementation of the
matching ``like`` leaf, so the caller need not unwrap them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

_FORMAT = 1


def _json_clean(obj: Any, what: str, directory: Path) -> Any:
    """Return ``obj`` after a JSON round trip (tuples become lists), or a ValueError."""
    try:
        return json.loads(json.dumps(obj))
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"checkpoint dir {directory}: {what} is not JSON-serialisable: {err}") from err


def _is_typed_key(leaf: Any) -> bool:
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _leaf_kind(leaf: Any) -> str:
    if _is_typed_key(leaf):
        return "key"
    if isinstance(leaf, bool):
        return "bool"
    if isinstance(leaf, int):
        return "int"
    if isinstance(leaf, float):
        return "float"
    if isinstance(leaf, np.ndarray | np.generic):
        return "numpy"
    return "array"


def _encode_leaf(leaf: Any) -> Any:
    if _is_typed_key(leaf):
        return jax.random.key_data(leaf)
    if isinstance(leaf, bool | int | float | np.generic):
        return np.asarray(leaf)
    return leaf


def _signature(tree: Any) -> dict:
    """Treedef and per-leaf ``[key path, shape, dtype, kind]`` of ``tree`` (JSON-ready)."""
    pairs, treedef = jax.tree_util.tree_flatten_with_path(tree)
    leaves = []
    for path, leaf in pairs:
        stored = _encode_leaf(leaf)
        leaves.append([jax.tree_util.keystr(path), list(stored.shape), str(stored.dtype),
                       _leaf_kind(leaf)])
    return {"treedef": str(treedef), "leaves": leaves}


def _signature_diff(saved: dict, wanted: dict) -> str:
    """Human-readable description of how two signatures differ ('' when equal)."""
    problems = []
    if saved["treedef"] != wanted["treedef"]:
        problems.append(f"tree structure differs (saved {len(saved['leaves'])} leaves, "
                        f"like has {len(wanted['leaves'])})")
    saved_by_path = {leaf[0]: leaf[1:] for leaf in saved["leaves"]}
    wanted_by_path = {leaf[0]: leaf[1:] for leaf in wanted["leaves"]}
    missing = sorted(set(wanted_by_path) - set(saved_by_path))
    extra = sorted(set(saved_by_path) - set(wanted_by_path))
    if missing:
        problems.append(f"leaves missing from the checkpoint: {missing[:5]}")
    if extra:
        problems.append(f"leaves in the checkpoint but not in like: {extra[:5]}")
    for path in sorted(set(saved_by_path) & set(wanted_by_path)):
        if saved_by_path[path] != wanted_by_path[path]:
            problems.append(f"leaf {path}: saved [shape, dtype, kind] {saved_by_path[path]}, "
                            f"like has {wanted_by_path[path]}")
    return "; ".join(problems)


def _decode_leaf(stored: Any, like: Any) -> Any:
    kind = _leaf_kind(like)
    if kind == "key":
        return jax.random.wrap_key_data(stored, impl=jax.random.key_impl(like))
    if kind == "bool":
        return bool(stored)
    if kind == "int":
        return int(stored)
    if kind == "float":
        return float(stored)
    if kind == "numpy":
        return np.asarray(stored).reshape(np.shape(like)).astype(like.dtype, copy=False)
    return stored


class Checkpointer:
    """Keep the last ``max_to_keep`` synchronous checkpoints of one run under ``directory``.

    ``config`` is the run configuration (JSON-serialisable dict): it is stored with every step,
    and :meth:`restore` refuses a checkpoint whose stored config differs, naming the keys.
    """

    def __init__(self, directory: str | Path, max_to_keep: int = 2, *,
                 config: dict | None = None):
        self.directory = Path(directory).resolve()
        if not isinstance(max_to_keep, int) or max_to_keep < 1:
            raise ValueError(f"checkpoint dir {self.directory}: max_to_keep must be an int >= 1,"
                             f" got {max_to_keep!r}")
        self.config = _json_clean(dict(config or {}), "config", self.directory)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False)
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "meta"))

    def save(self, step: int, state_pytree: Any, meta: dict | None = None) -> None:
        """Write ``state_pytree`` and ``meta`` as ``step``; returns once it is on disk."""
        if not isinstance(step, int | np.integer) or step < 0:
            raise ValueError(f"checkpoint dir {self.directory}: step must be an int >= 0, "
                             f"got {step!r}")
        step = int(step)
        if step in self._manager.all_steps():
            raise ValueError(f"checkpoint dir {self.directory}: step {step} already saved")
        record = {"format": _FORMAT, "config": self.config,
                  "meta": _json_clean(dict(meta or {}), "meta", self.directory),
                  **_signature(state_pytree)}
        leaves = jax.tree_util.tree_leaves(state_pytree)
        flat = {f"leaf_{i:05d}": _encode_leaf(leaf) for i, leaf in enumerate(leaves)}
        saved = self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(flat), meta=ocp.args.JsonSave(record)), force=True)
        self._manager.wait_until_finished()
        if not saved:
            raise ValueError(f"checkpoint dir {self.directory}: orbax declined to save step "
                             f"{step}")

    def all_steps(self) -> list[int]:
        """Steps on disk, ascending."""
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        """Newest complete step on disk, or None when there is none."""
        steps = self.all_steps()
        return steps[-1] if steps else None

    def _record(self, step: int) -> dict:
        """The JSON record of ``step``, its format and run config checked."""
        steps = self.all_steps()
        if step not in steps:
            raise ValueError(f"checkpoint dir {self.directory}: no step {step} "
                             f"(steps on disk: {steps})")
        record = self._manager.restore(
            step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        if record.get("format") != _FORMAT:
            raise ValueError(f"checkpoint dir {self.directory}: step {step} has unknown format "
                             f"{record.get('format')!r}")
        saved_config = record["config"]
        if saved_config != self.config:
            keys = sorted(k for k in set(saved_config) | set(self.config)
                          if saved_config.get(k, "<absent>") != self.config.get(k, "<absent>"))
            detail = ", ".join(f"{k}: saved {saved_config.get(k, '<absent>')!r} vs "
                               f"now {self.config.get(k, '<absent>')!r}" for k in keys)
            raise ValueError(f"checkpoint dir {self.directory}: step {step} was made by a "
                             f"different run config; differing keys {keys} ({detail})")
        return record

    def meta(self, step: int) -> dict:
        """The ``meta`` saved at ``step`` alone (to build the ``like`` pytree of a state whose
        shapes the run chose); ValueError as :meth:`restore`."""
        return self._record(step)["meta"]

    def restore(self, step: int, like_pytree: Any) -> tuple[Any, dict]:
        """Return ``(state, meta)`` saved at ``step``, with the structure and leaf types of
        ``like_pytree``; ValueError if the step is absent, the structure, shapes or dtypes
        differ, or the checkpoint was written under a different ``config``."""
        record = self._record(step)
        wanted = _signature(like_pytree)
        diff = _signature_diff(record, wanted)
        if diff:
            raise ValueError(f"checkpoint dir {self.directory}: step {step} does not match "
                             f"like_pytree: {diff}")
        like_leaves, treedef = jax.tree_util.tree_flatten(like_pytree)
        abstract = {f"leaf_{i:05d}": jax.ShapeDtypeStruct(tuple(shape), np.dtype(dtype))
                    for i, (_, shape, dtype, _) in enumerate(record["leaves"])}
        flat = self._manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))["state"]
        leaves = [_decode_leaf(flat[f"leaf_{i:05d}"], like)
                  for i, like in enumerate(like_leaves)]
        return jax.tree_util.tree_unflatten(treedef, leaves), record["meta"]

    def close(self) -> None:
        """Wait for any pending write and release orbax's resources."""
        self._manager.wait_until_finished()
        self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def resume(checkpointer: Checkpointer | None, state: Any, history: dict,
           log) -> tuple[Any, dict, int]:
    """``(state, history, first epoch to run)``: the latest saved epoch's state and history
    when ``checkpointer`` holds one (logged), else the arguments and 0. The training loops of
    :mod:`~lanas_jax.supernet.pipeline` and :mod:`~lanas_jax.supernet.methods` start here."""
    if checkpointer is None or checkpointer.latest_step() is None:
        return state, history, 0
    start = checkpointer.latest_step()
    state, meta = checkpointer.restore(start, state)
    log(f"resumed from the checkpoint of epoch {start} ({checkpointer.directory})")
    return state, meta["history"], start
