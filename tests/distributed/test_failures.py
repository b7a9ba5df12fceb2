"""A process that stops answering or dies ends the job with a clear error, within a bound."""

from __future__ import annotations

import subprocess

import torch
from launching import start, stop

# Far above the 3 s collective timeout the job runs with, far below "forever".
BOUND_S = 90


def test_a_silent_peer_makes_the_others_fail_when_the_collective_timeout_runs_out(tmp_path):
    procs = start(tmp_path, "stalled_peer", RESVISION_DIST_TIMEOUT="3")
    try:
        log = procs[0].communicate(timeout=BOUND_S)[0]
    except subprocess.TimeoutExpired:
        log = "rank 0 still waiting"
    finally:
        stop(procs)  # rank 1 sleeps on: it is the stalled one
    assert procs[0].returncode == 0, log
    result = torch.load(tmp_path / "stalled_peer-rank0.pt", weights_only=False)
    assert result["error"] is not None and "Timed out" in result["error"], result
