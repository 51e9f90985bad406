"""Run an absl binary's ``main`` on several argument lists in ONE fresh interpreter.

The binaries cannot be imported into the pytest process: each defines common flags
(``--seeds``, ``--benchmark``, ``--output_dir``, ...) on absl's global registry, so a second
binary in the same process fails with a duplicate-flag error (issue 12 item 5 removes the
clash). Until then a test pays one interpreter start per binary, not one per invocation: the
driver below re-parses the flags between calls, as ``app.run`` would, and records for each
call what it printed and the ``UsageError`` (or ``sys.exit`` message) it raised, if any.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_DRIVER = """
import contextlib, importlib, io, json, sys
from absl import app, flags
module = importlib.import_module(sys.argv[1])
results = []
for args in json.loads(sys.argv[2]):
    flags.FLAGS.unparse_flags()
    out = io.StringIO()
    try:
        flags.FLAGS([sys.argv[1], *args])
        with contextlib.redirect_stdout(out):
            module.main([sys.argv[1]])
        error = None
    except (app.UsageError, flags.Error, SystemExit) as e:  # SystemExit: sys.exit("why")
        error = type(e).__name__ + ": " + str(e)
    results.append({"stdout": out.getvalue(), "error": error})
with open(sys.argv[3], "w") as f:
    json.dump(results, f)
"""


def run_calls(module: str, calls: list[list[str]], tmp_path, fast_compile: bool = False
              ) -> list[dict]:
    """``[{"stdout", "error"}]``, one per argument list of ``calls``, from ``module.main``.

    ``fast_compile`` turns XLA's LLVM optimisations off: for tests of a binary's orchestration
    (what it runs and writes), not of XLA's code, whose programs compile several times faster.
    """
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    if fast_compile:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "")
                            + " --xla_backend_optimization_level=0").strip()
    out = os.path.join(str(tmp_path), f"{module}.calls.json")
    proc = subprocess.run([sys.executable, "-c", _DRIVER, module, json.dumps(calls), out],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        results = json.load(f)
    assert len(results) == len(calls)
    return results


def run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m module args`` (for what only ``app.run`` does: the exit status)."""
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def run_on_host_devices(script: str, count: int = 4) -> None:
    """Run ``script`` in a fresh interpreter whose CPU shows ``count`` devices
    (``--xla_force_host_platform_device_count``); it must print ``ok`` last."""
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={count}")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
