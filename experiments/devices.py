r"""Which devices a run will use: the backend, this process's index among the processes, every
device (local or another process's), and how a sweep of --seeds seeds is split over them
(``experiments.search`` shards its seed axis this way, :mod:`lanas_jax.devices`).

  python -m experiments.devices --seeds=100
  JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=4 \
      python -m experiments.devices --seeds=10
  python -m experiments.devices --distributed --coordinator_address=HOST0:1234 \
      --num_processes=2 --process_id=0|1          # the same in each process
"""

from __future__ import annotations

from absl import app

from experiments import common_flags, dist_flags
from lanas_jax import devices

_SEEDS = common_flags.DEFINE_integer(
    "seeds", 100, "Seeds of the sweep whose split is shown (0: do not show one).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if _SEEDS.value < 0:
        raise app.UsageError(f"--seeds must be >= 0, got {_SEEDS.value}")
    dist_flags.maybe_initialize()
    print(devices.describe(_SEEDS.value or None))


if __name__ == "__main__":
    app.run(main)
