"""Run every ```python block of README.md in a fresh interpreter and report which fail.

Issue 12 item 8: every python example in the README must run as written when pasted into a
fresh interpreter. Each block runs alone (no state from the blocks before it), from the
repository root, on the CPU, with a timeout.

  python scripts/check_readme.py                  # README.md of this checkout
  python scripts/check_readme.py --timeout=300 path/to/README.md

Exits non-zero when a block fails, printing the block's line number and the end of its stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(1-based line of the opening fence, code) of every ```python block in ``text``."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _FENCE.finditer(text)]


def run_block(code: str, timeout: float) -> tuple[bool, str, float]:
    """(passed, stderr tail, seconds) of ``code`` run by a fresh interpreter."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f} s", time.perf_counter() - start
    return proc.returncode == 0, proc.stderr[-1500:], time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("readme", nargs="?", default=str(ROOT / "README.md"))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per block")
    args = parser.parse_args()
    blocks = python_blocks(Path(args.readme).read_text())
    if not blocks:
        print(f"no ```python blocks in {args.readme}")
        return 1
    failed = []
    for line, code in blocks:
        ok, err, seconds = run_block(code, args.timeout)
        print(f"{'ok  ' if ok else 'FAIL'} README.md:{line} ({seconds:.1f} s)", flush=True)
        if not ok:
            failed.append(line)
            print("    " + err.strip().replace("\n", "\n    "))
    print(f"{len(blocks) - len(failed)}/{len(blocks)} python blocks run as written")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
