"""Suite-wide fixtures.

XLA:CPU maps memory for every compiled executable, and one pytest process compiles thousands
of them: the process ran past the kernel's limit on memory mappings (``vm.max_map_count``,
65,530 here; ~200 new mappings per second of compiling) and XLA segfaulted mid-suite. Every
test module's compiled code is released when the module ends (``jax.clear_caches``, the
runner's own cache of jitted sweeps, the training evaluator's compiled trainers), which keeps
the count at one module's worth.
"""

from __future__ import annotations

import gc

import jax
import pytest

from lanas_jax import scanned
from lanas_jax.evaluators import train


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    yield
    scanned.clear_cache()
    train.clear_cache()
    jax.clear_caches()
    gc.collect()
