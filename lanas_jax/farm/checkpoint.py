"""The on-disk state of an asynchronous search (issue 17 item 3): one ``.npz`` file, replaced
atomically after every result.

It holds the strategy's state pytree (its leaves as arrays; PRNG keys as their key data), the
search key, the architectures in flight (as arrays) and a JSON ``meta`` entry: the format
version, the search's identity (``space`` and ``strategy`` names first, then its
configuration), the completed evaluations, the failed ones, the in-flight list and the loop's
counters. Nothing is pickled (``np.load(..., allow_pickle=False)``). A file is written to a
temporary name, flushed to disk and renamed over the old one (``os.replace``), so a kill at
any moment leaves either the previous state or the new one, never a torn file.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import numpy as np

#: Bumped when the layout changes; a file of another version is refused.
FORMAT_VERSION = 1


class CheckpointMismatch(ValueError):
    """A checkpoint written by another search (space, strategy, settings) or format."""


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _pack(leaves: list, prefix: str, arrays: dict) -> list[bool]:
    keys = []
    for i, leaf in enumerate(leaves):
        is_key = _is_key(leaf)
        arrays[f"{prefix}{i}"] = np.asarray(jax.random.key_data(leaf) if is_key else leaf)
        keys.append(is_key)
    return keys


def _unpack(data, prefix: str, template_leaves: list, what: str, path: str) -> list:
    out = []
    for i, leaf in enumerate(template_leaves):
        name = f"{prefix}{i}"
        if name not in data:
            raise CheckpointMismatch(f"{path}: the {what} has fewer leaves than this search's")
        arr = data[name]
        if _is_key(leaf):
            out.append(jax.random.wrap_key_data(arr))
            continue
        if arr.shape != np.shape(leaf) or arr.dtype != np.asarray(leaf).dtype:
            raise CheckpointMismatch(
                f"{path}: the {what}'s leaf {i} is {arr.dtype}{list(arr.shape)}, this search's "
                f"is {np.asarray(leaf).dtype}{list(np.shape(leaf))} (another configuration)")
        out.append(arr)
    return out


def save(path: str, identity: dict, state: Any, key: jax.Array, loop: dict,
         in_flight: list) -> None:
    """Write the search state to ``path`` atomically (see the module doc). ``loop`` is the
    JSON-able loop record; ``in_flight`` the architectures (host pytrees) in flight, in the
    order of ``loop["in_flight"]``."""
    arrays: dict[str, np.ndarray] = {"key": np.asarray(jax.random.key_data(key))}
    _pack(jax.tree.leaves(state), "s", arrays)
    for j, arch in enumerate(in_flight):
        _pack(jax.tree.leaves(arch), f"p{j}_", arrays)
    meta = {"format": FORMAT_VERSION, "identity": identity, "loop": loop}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_meta(path: str) -> dict:
    """The ``meta`` record of a checkpoint (format, identity, loop)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return json.loads(data["meta"].tobytes().decode())
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointMismatch(f"{path} is not a farm checkpoint ({e})") from None


def check_identity(path: str, meta: dict, identity: dict) -> None:
    """Refuse a checkpoint of another format, space, strategy or configuration, naming the
    first difference (space and strategy first)."""
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointMismatch(
            f"{path} has checkpoint format {meta.get('format')!r}; this version reads format "
            f"{FORMAT_VERSION} (finish that search with the version that wrote it)")
    theirs = meta.get("identity", {})
    mine = json.loads(json.dumps(identity))
    order = ["space", "strategy"] + sorted(set(theirs) | set(mine) - {"space", "strategy"})
    for name in order:
        if theirs.get(name) != mine.get(name):
            raise CheckpointMismatch(
                f"{path} is the checkpoint of another search: its {name} is "
                f"{theirs.get(name)!r}, this search's is {mine.get(name)!r} (use another "
                "--checkpoint_dir, or the same settings to resume)")


def load(path: str, identity: dict, state_template: Any, arch_template: Any
         ) -> tuple[Any, jax.Array, dict, list]:
    """``(state, key, loop, in_flight archs)`` from ``path``, after checking it was written by
    this search (:func:`check_identity`); the templates give the pytree structures."""
    meta = read_meta(path)
    check_identity(path, meta, identity)
    with np.load(path, allow_pickle=False) as data:
        leaves, treedef = jax.tree.flatten(state_template)
        state = jax.tree.unflatten(treedef, _unpack(data, "s", leaves, "strategy state", path))
        key = jax.random.wrap_key_data(data["key"])
        arch_leaves, arch_def = jax.tree.flatten(arch_template)
        archs = [jax.tree.unflatten(arch_def, _unpack(data, f"p{j}_", arch_leaves,
                                                      "architecture in flight", path))
                 for j in range(len(meta["loop"]["in_flight"]))]
    return state, key, meta["loop"], archs
