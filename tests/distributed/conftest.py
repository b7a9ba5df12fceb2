"""Fixtures of the distributed tests: two gloo processes on 127.0.0.1, started as torchrun would.

The processes get ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR=127.0.0.1`` and a free
``MASTER_PORT`` in their environment and nothing else: ``Model.fit`` must notice the launch by
itself. All scenarios run in one launch (starting Python and torch is most of the cost).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

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


def launch(out: Path, *scenarios: str) -> dict[str, list[Any]]:
    """Run ``ddp_worker.py`` on two processes; ``{scenario: [rank 0 result, rank 1 result]}``."""
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "ddp_worker.py"), str(out), *scenarios],
            env=worker_env(rank, port),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(WORLD)
    ]
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=LAUNCH_TIMEOUT_S)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for rank, proc in enumerate(procs):
        assert proc.returncode == 0, f"rank {rank} exited {proc.returncode}:\n" + "\n".join(logs)
    return {
        name: [torch.load(out / f"{name}-rank{r}.pt", weights_only=False) for r in range(WORLD)]
        for name in scenarios
    }


@pytest.fixture(scope="session")
def ddp_results(tmp_path_factory) -> dict[str, list[Any]]:
    """Every scenario of ``ddp_cases`` run once on two processes."""
    import ddp_cases

    return launch(tmp_path_factory.mktemp("ddp"), *ddp_cases.SCENARIOS)
