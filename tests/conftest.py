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
import os

# The tests check behaviour, not XLA's generated code: compile without LLVM's optimisations.
# Compilation is most of the suite's time; these two flags cut the suite's CPU time by a
# quarter to a third (BUILD_NOTES 2026-12-04) and reach the binaries the tests start (they
# inherit the environment). Set before JAX creates its CPU backend, which reads XLA_FLAGS
# once. LANAS_TEST_FULL_OPT=1 keeps XLA's defaults.
_FAST_COMPILE = ("--xla_backend_optimization_level=0", "--xla_llvm_disable_expensive_passes=true")
if os.environ.get("LANAS_TEST_FULL_OPT") != "1":
    _flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = " ".join([_flags, *(f for f in _FAST_COMPILE if f not in _flags)]
                                       ).strip()

import jax  # noqa: E402 (after XLA_FLAGS)
import pytest  # noqa: E402 (after XLA_FLAGS)

from lanas_jax import scanned  # noqa: E402 (after XLA_FLAGS)
from lanas_jax.evaluators import train  # noqa: E402 (after XLA_FLAGS)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    yield
    scanned.clear_cache()
    train.clear_cache()
    jax.clear_caches()
    gc.collect()
