"""The runner: seeds spread over several devices give the same searches as one device."""

from binary_driver import run_on_host_devices

_SCRIPT = """
import jax, numpy as np
from lanas_jax.benchmarks.base import from_arrays
from lanas_jax.partition.lanas import LaNAS
from lanas_jax.runner import run_search, seed_keys, sweep
assert len(jax.local_devices()) == 4
rng = np.random.default_rng(0)
bench = from_arrays(rng.random((300, 5)), rng.random(300))
strategy = LaNAS(tree_height=3, num_selects=5, num_init=5)
keys = seed_keys(3, 10)  # not a multiple of 4: the seed axis is padded, then cut
history = sweep(strategy, bench, keys, 40)
assert history.indices.shape == (10, 40)
for i in range(10):
    one = run_search(strategy, bench, keys[i], 40)
    np.testing.assert_array_equal(np.asarray(history.indices[i]), np.asarray(one.indices))
print("ok")
"""


def test_sweep_over_four_devices_equals_per_seed_runs():
    run_on_host_devices(_SCRIPT)
