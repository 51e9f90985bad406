"""Which devices a sweep runs on, and JAX's multi-controller runtime for sweeps across hosts.

A tabular sweep (:func:`lanas_jax.runner.sweep`) shards its seed axis over every device JAX
sees: with one process, the local devices; after :func:`initialize` (``jax.distributed``), every
device of every process (a TPU pod slice, several GPU hosts, or processes on one CPU). The seed
axis is padded to a multiple of the device count by cycling the seeds (:func:`padded_rows`) and
split in equal contiguous blocks in ``jax.devices()`` order (:func:`seed_layout`); every row is
the search of its own key, so the results do not depend on the layout.
"""

from __future__ import annotations

import os

import jax
import numpy as np

#: Environment variables :func:`initialize` reads when a value is not given
#: (``jax.distributed.initialize`` reads ``JAX_COORDINATOR_ADDRESS`` itself).
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"


def _env_int(name: str) -> int | None:
    text = os.environ.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"${name} must be an integer, got {text!r}") from None


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
    """``jax.distributed.initialize``, with the process count and id also read from
    ``$JAX_NUM_PROCESSES`` / ``$JAX_PROCESS_ID`` (and the address from
    ``$JAX_COORDINATOR_ADDRESS`` by JAX). Values left ``None`` everywhere are detected by JAX on
    a Cloud TPU, under Slurm or Open MPI. Call it before anything touches a device. On CPU the
    cross-process collectives are gloo's (jax 0.10's default
    ``jax_cpu_collectives_implementation``).

    Raises:
      ValueError: a negative count, an id outside ``[0, num_processes)``, a malformed variable.
    """
    num_processes = _env_int(ENV_NUM_PROCESSES) if num_processes is None else num_processes
    process_id = _env_int(ENV_PROCESS_ID) if process_id is None else process_id
    if num_processes is not None and num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    if process_id is not None and num_processes is not None and not (
            0 <= process_id < num_processes):
        raise ValueError(f"process_id={process_id} is outside [0, {num_processes})")
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id)


def padded_rows(num_seeds: int, num_devices: int) -> np.ndarray:
    """The seed of each row of the sharded seed axis: ``0 .. num_seeds - 1`` then the seeds
    again from 0 up to a multiple of ``num_devices`` (padding rows are computed and dropped)."""
    if num_seeds < 1 or num_devices < 1:
        raise ValueError(f"need num_seeds >= 1 and num_devices >= 1, got {num_seeds}, "
                         f"{num_devices}")
    return np.arange(num_seeds + (-num_seeds) % num_devices) % num_seeds


def seed_layout(num_seeds: int, devices=None) -> list[tuple[object, list[int], int]]:
    """``(device, seeds, padding)`` per device, in ``jax.devices()`` order: the seeds of a
    ``num_seeds`` sweep each device runs, and how many padding rows (repeated seeds, computed
    and dropped) it runs besides."""
    devices = jax.devices() if devices is None else list(devices)
    if len(devices) == 1:
        return [(devices[0], list(range(num_seeds)), 0)]
    rows = padded_rows(num_seeds, len(devices))
    per = len(rows) // len(devices)
    out = []
    for j, d in enumerate(devices):
        block = range(j * per, (j + 1) * per)
        out.append((d, [int(rows[p]) for p in block if p < num_seeds],
                    sum(p >= num_seeds for p in block)))
    return out


def describe(num_seeds: int | None = None) -> str:
    """A report of the backend, the processes and devices, and (with ``num_seeds``) how a
    sweep's seeds are split over the devices."""
    devices = jax.devices()
    local = jax.local_devices()
    lines = [
        f"jax {jax.__version__}, backend {jax.default_backend()}",
        f"process {jax.process_index()} of {jax.process_count()}",
        f"devices: {len(devices)} in all, {len(local)} local to this process",
    ]
    for d in devices:
        mine = "  (local)" if d in local else ""
        kind = getattr(d, "device_kind", "")
        lines.append(f"  id {d.id:>5}  {d.platform:<4} {kind:<20} process {d.process_index}{mine}")
    if num_seeds is not None:
        lines.append(f"--seeds={num_seeds}: padded to {len(padded_rows(num_seeds, len(devices)))} "
                     f"rows, split over {len(devices)} device(s):")
        for d, seeds, pad in seed_layout(num_seeds, devices):
            extra = f" + {pad} padding" if pad else ""
            lines.append(f"  id {d.id:>5} (process {d.process_index}): "
                         f"{_ranges(seeds) or 'none'}{extra}")
    return "\n".join(lines)


def _ranges(seeds: list[int]) -> str:
    """``[0, 1, 2, 5]`` as ``seeds 0-2, 5``."""
    parts, i = [], 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(str(seeds[i]) if i == j else f"{seeds[i]}-{seeds[j]}")
        i = j + 1
    return ("seeds " + ", ".join(parts)) if parts else ""


__all__ = ["describe", "initialize", "padded_rows", "seed_layout"]
