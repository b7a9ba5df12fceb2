"""Starting two gloo processes on 127.0.0.1 as torchrun would, for the distributed tests.

The processes get ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR=127.0.0.1`` and a free
``MASTER_PORT`` in their environment and nothing else: ``Model.fit`` must notice the launch by
itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent

WORLD = 2
LAUNCH_TIMEOUT_S = 240


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_env(rank: int, port: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "RANK": str(rank),
            "WORLD_SIZE": str(WORLD),
            "LOCAL_RANK": str(rank),
            "LOCAL_WORLD_SIZE": str(WORLD),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
            "RESVISION_DIST_TIMEOUT": "120",
        }
    )
    env.update(extra)
    return env


def start(out: Path, *scenarios: str, **env: str) -> list[subprocess.Popen]:
    """Start ``ddp_worker.py`` on two processes (output in their ``stdout``, with stderr)."""
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return [
        subprocess.Popen(
            [sys.executable, str(HERE / "ddp_worker.py"), str(out), *scenarios],
            env=worker_env(rank, port, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(WORLD)
    ]


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGKILL the processes still running (a test must never leave one behind)."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def launch(out: Path, *scenarios: str) -> dict[str, list[Any]]:
    """Run ``ddp_worker.py`` on two processes; ``{scenario: [rank 0 result, rank 1 result]}``."""
    procs = start(out, *scenarios)
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=LAUNCH_TIMEOUT_S)[0])
    finally:
        stop(procs)
    for rank, proc in enumerate(procs):
        assert proc.returncode == 0, f"rank {rank} exited {proc.returncode}:\n" + "\n".join(logs)
    return {
        name: [torch.load(out / f"{name}-rank{r}.pt", weights_only=False) for r in range(WORLD)]
        for name in scenarios
    }
