"""Flags of a multi-process (multi-host) run: ``--distributed`` and where the processes meet.

``jax.distributed`` (JAX's multi-controller runtime): every process runs the same command; the
coordinator address, the process count and this process's id come from the flags, else from
``$JAX_COORDINATOR_ADDRESS`` / ``$JAX_NUM_PROCESSES`` / ``$JAX_PROCESS_ID``, else JAX detects
them (Cloud TPU, Slurm, Open MPI). See :mod:`lanas_jax.devices`.
"""

from __future__ import annotations

from absl import app

from experiments import common_flags
from lanas_jax import devices

DISTRIBUTED = common_flags.DEFINE_bool(
    "distributed", False,
    "Initialise jax.distributed and spread the seeds over every device of every process "
    "(run the same command in each process).")
COORDINATOR = common_flags.DEFINE_string(
    "coordinator_address", None,
    "HOST:PORT of process 0's coordinator (default $JAX_COORDINATOR_ADDRESS, or detected).")
NUM_PROCESSES = common_flags.DEFINE_integer(
    "num_processes", None, "Processes in the run (default $JAX_NUM_PROCESSES, or detected).")
PROCESS_ID = common_flags.DEFINE_integer(
    "process_id", None, "This process's id in [0, num_processes) (default $JAX_PROCESS_ID, "
    "or detected).")


def maybe_initialize() -> None:
    """``jax.distributed.initialize`` from the flags when ``--distributed`` is set; a bad value
    or a failed start is a UsageError naming it."""
    given = [f.name for f in (COORDINATOR, NUM_PROCESSES, PROCESS_ID) if f.value is not None]
    if not DISTRIBUTED.value:
        if given:
            raise app.UsageError(f"--{', --'.join(given)}: given without --distributed")
        return
    try:
        devices.initialize(COORDINATOR.value, NUM_PROCESSES.value, PROCESS_ID.value)
    except (ValueError, RuntimeError) as e:
        raise app.UsageError(f"--distributed: {e}") from None
