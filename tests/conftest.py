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
import tempfile

# The tests check behaviour, not XLA's generated code: compile without LLVM's optimisations.
# Compilation is most of the suite's time; these two flags cut the suite's CPU time by a
# quarter to a third (BUILD_NOTES 2026-12-04) and reach the binaries the tests start (they
# inherit the environment). Set before JAX creates its CPU backend, which reads XLA_FLAGS
# once. LANAS_TEST_FULL_OPT=1 keeps XLA's defaults.
_FAST_COMPILE = ("--xla_backend_optimization_level=0", "--xla_llvm_disable_expensive_passes=true")
# Programs compiled again after a module released its code (below), or by another pytest-xdist
# worker, or by a binary a test starts, come from JAX's persistent compilation cache: one
# directory per machine and user, keyed by JAX / XLA versions and flags (so never stale).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
    tempfile.gettempdir(), f"lanas-jax-test-xla-cache-{os.getuid()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
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
