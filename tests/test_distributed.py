"""``experiments.search --distributed``: two processes (two forced CPU devices each, gloo
collectives) sweep the seeds over all four devices and write the same results as one process."""

import json
import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--algo=random", "--seeds=5", "--budget=12"]  # 5 seeds on 4 devices: padded, then cut


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _start(out, *flags, devices=2):
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        env.pop(name, None)
    return subprocess.Popen([sys.executable, "-m", "experiments.search", *ARGS,
                             f"--output_dir={out}", *flags], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _results(path):
    with open(path) as f:
        entries = json.load(f)
    for e in entries:  # timings differ run to run
        for k in ("wall_seconds", "compile_seconds", "run_seconds"):
            e.pop(k)
    return entries


def test_two_processes_equal_one(tmp_path):
    address = f"localhost:{_free_port()}"
    dist = [tmp_path / f"p{i}" for i in range(2)]
    procs = [_start(dist[i], "--distributed", f"--coordinator_address={address}",
                    "--num_processes=2", f"--process_id={i}") for i in range(2)]
    procs.append(_start(tmp_path / "single", devices=1))
    try:
        outs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:]
    assert "process 1 of 2: done" in outs[1]
    assert not dist[1].exists()  # process 0 alone writes the results
    assert _results(dist[0] / "results.json") == _results(tmp_path / "single" / "results.json")


def test_seed_layout_pads_by_cycling():
    from lanas_jax.devices import padded_rows, seed_layout

    assert padded_rows(5, 4).tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    layout = seed_layout(5, devices=["a", "b", "c", "d"])
    assert layout == [("a", [0, 1], 0), ("b", [2, 3], 0), ("c", [4], 1), ("d", [], 2)]
    assert seed_layout(3, devices=["a"]) == [("a", [0, 1, 2], 0)]


def test_devices_command():
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=3")
    proc = subprocess.run([sys.executable, "-m", "experiments.devices", "--seeds=4"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "backend cpu" in out and "process 0 of 1" in out and "devices: 3 in all" in out
    assert "--seeds=4: padded to 6 rows" in out and "seeds 2-3" in out
    assert "seeds 0-1" in out and "none + 2 padding" in out  # the third device: padding only
