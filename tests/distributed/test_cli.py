"""``resvision train --nproc 2``: one run folder written by rank 0, and a dead rank named."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import torch

# Far above what teardown takes (seconds), far below "forever".
BOUND_S = 90
TRAIN = [sys.executable, "-m", "resvision", "train", "--nproc", "2", "--batch-size", "16"]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"RESVISION_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    env.pop("RESVISION_MAX_STEPS", None)
    env.update(extra)
    return env


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_train_nproc_2_makes_one_run_folder_whose_numbers_agree(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.run(
        [*TRAIN, "--max-steps", "4", "--set", "train.log_freq=2", "--output", str(run)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.count("training resnet20") == 1, out  # rank 0 alone prints
    assert out.count("speed settings:") <= 1, out  # also before fit starts the process group
    assert "global batch 32" in out
    assert out.count("Eval samples: 1000") == 1, out  # both shards counted, once

    env = json.loads((run / "env.json").read_text())
    assert env["world_size"] == 2 and env["global_batch"] == 32
    rows = _rows(run / "metrics.jsonl")
    assert [r["event"] for r in rows].count("train_begin") == 1  # one writer
    assert (run / "checkpoints" / "final.pt").exists()

    # The evaluation inside fit (each process its half, counts summed) and the final
    # evaluation (rank 0 alone, all 1000 images, same weights and BN statistics) agree.
    during = [r for r in rows if r["event"] == "eval_end"][-1]
    final = json.loads((run / "evaluation.json").read_text())
    assert during["num_samples"] == final["num_samples"] == 1000
    assert during["acc_top1"] == final["acc_top1"]
    assert during["loss"] == pytest.approx(final["loss"], rel=1e-4)


def _pid_of(marker: str, rank: int) -> int | None:
    """The pid of the process whose environment holds ``marker`` and ``RANK=rank``."""
    wanted = {f"RESVISION_TEST_JOB={marker}".encode(), f"RANK={rank}".encode()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if wanted <= environ:
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds workers through /proc")
def test_killing_one_rank_ends_the_job_with_an_error_naming_it(tmp_path):
    run, marker = tmp_path / "run", uuid.uuid4().hex
    parent = subprocess.Popen(
        [*TRAIN, "--epochs", "50", "--set", "train.log_freq=1", "--output", str(run)],
        cwd=tmp_path,
        env=_env(RESVISION_TEST_JOB=marker),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while sum(r["event"] == "train_batch" for r in _rows(run / "metrics.jsonl")) < 2:
            assert parent.poll() is None, parent.communicate()
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        victim = _pid_of(marker, rank=1)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        out, err = parent.communicate(timeout=BOUND_S)  # raises if the job hangs on
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.communicate()
    assert parent.returncode == 1, out + err
    assert "distributed training failed" in err, err
    # The first cause first: rank 0 only lost its peer.
    report = err.split("the others were stopped:\n", 1)[1].splitlines()
    assert report[0] == f"rank 1 (local rank 1, pid {victim}) was killed by signal SIGKILL", err
    assert report[1].startswith("rank 0 (local rank 0, pid "), err
    assert "rank 0: lost contact with another process" in err


def test_sigterm_stops_every_rank_at_the_same_step_with_a_resumable_checkpoint(tmp_path):
    # A scheduler's time limit: the launcher passes SIGTERM on; the processes agree on the
    # step to stop at, rank 0 writes last.pt holding every rank's state, all exit.
    run = tmp_path / "run"
    parent = subprocess.Popen(
        [*TRAIN, "--epochs", "50", "--set", "train.log_freq=2", "--output", str(run)],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not _rows(run / "metrics.jsonl"):
            assert parent.poll() is None, parent.communicate()
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        parent.send_signal(signal.SIGTERM)
        out, err = parent.communicate(timeout=BOUND_S)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.communicate()
    assert parent.returncode == 128 + signal.SIGTERM, out + err
    assert err.count("a resumable checkpoint is in") == 1, err
    last = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert last["progress"]["batch"] % 2 == 0  # a logging step: where the ranks agree
    assert len(last["ranks"]) == 2
