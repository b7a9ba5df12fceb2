"""Disk trouble while saving: a full disk or an I/O error keeps the previous good checkpoint and
stops training with a clear message; once space is back, the run resumes exactly.

In-process, the disk is a test double: ``open`` inside the checkpoint module returns real files
whose writes fail with ``ENOSPC`` once a byte budget is spent (or whose ``fsync`` fails with
``EIO``). Where the test runs as root, a real 6 MiB tmpfs fills up under ``resvision train``.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from resume_proof import BatchTrace, assert_ran_only_the_rest, assert_same_end_state, resume_point
from torch import nn
from torch.utils.data import TensorDataset

import resvision.engine.checkpoint as checkpoint_module
from resvision.engine.checkpoint import CheckpointWriteError, atomic_save, load_checkpoint
from resvision.engine.model import Model

_G = torch.Generator().manual_seed(1)
TRAIN = TensorDataset(
    torch.randn(24, 3, 4, 4, generator=_G), torch.randint(0, 3, (24,), generator=_G)
)


def _model(seed: int = 0) -> Model:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 3))
    model = Model(net, device="cpu")
    model.prepare(torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9), nn.CrossEntropyLoss())
    return model


def _fit(model: Model, save_dir: Path, **kw) -> None:
    model.fit(
        TRAIN, batch_size=8, epochs=2, verbose=0, seed=3, save_dir=save_dir, save_steps=1, **kw
    )


class FillingDisk:
    """``open`` for the checkpoint module: writes fail with ENOSPC after ``saves`` whole files
    plus ``partial`` bytes of the next (the disk fills in the middle of a checkpoint)."""

    def __init__(self, saves: int, partial: int = 700) -> None:
        self.saves_left, self.partial = saves, partial

    def __call__(self, path, mode="r", *args, **kwargs):
        f = open(path, mode, *args, **kwargs)  # noqa: SIM115 (returned to the caller)
        if "w" not in mode and "x" not in mode:
            return f
        if self.saves_left > 0:
            self.saves_left -= 1
            return f
        budget = [self.partial]
        real_write = f.write

        def write(data):
            if len(data) > budget[0]:
                real_write(bytes(data)[: budget[0]])
                budget[0] = 0
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            budget[0] -= len(data)
            return real_write(data)

        f.write = write
        return f


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reference")
    _fit(_model(), folder)
    return folder / "final.pt"


@pytest.mark.resume
def test_full_disk_keeps_the_last_good_checkpoint_and_resumes_exactly(
    tmp_path, monkeypatch, reference
):
    monkeypatch.setattr(checkpoint_module, "open", FillingDisk(saves=4), raising=False)
    with pytest.raises(CheckpointWriteError) as info:
        _fit(_model(), tmp_path)
    err = info.value
    assert err.errno == errno.ENOSPC
    text = str(err)
    assert "last.pt" in text and "No space left on device" in text and "the disk is full" in text
    assert "the previous last.pt is unchanged" in text
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # none left behind
    # Saves: last.pt after steps 1, 2, 3, then 0.pt (end of epoch 0); last.pt of step 4 failed.
    assert {p.name for p in tmp_path.glob("*.pt")} == {"last.pt", "0.pt"}
    assert load_checkpoint(tmp_path / "last.pt")["progress"]["global_step"] == 3

    monkeypatch.undo()  # space is back
    start, resumed, trace = resume_point(tmp_path), _model(seed=42), BatchTrace()
    _fit(resumed, tmp_path, resume="auto", callbacks=[trace])
    assert_ran_only_the_rest(trace.batches, start, 6, 3)  # 2 epochs of 3 batches
    assert_same_end_state(reference, tmp_path / "final.pt")


def test_io_error_at_fsync_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "w.pt"
    atomic_save({"v": torch.ones(3)}, target)

    def failing_fsync(fd):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(checkpoint_module.os, "fsync", failing_fsync)
    with pytest.raises(CheckpointWriteError, match=r"w\.pt.*Input/output error.*unchanged") as info:
        atomic_save({"v": torch.zeros(3)}, target)
    assert info.value.errno == errno.EIO
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(target)["v"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["w.pt"]


def test_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(CheckpointWriteError, match="cannot write checkpoint"):
        atomic_save({"v": 1}, blocker / "sub" / "x.pt")


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return proc.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "4m"):
        pytest.skip("mounting a tmpfs needs root (the in-process tests above cover the logic)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_real_full_disk_stops_resvision_train_with_a_clear_message(small_disk, tmp_path):
    """ResNet-20 checkpoints are ~2.2 MB: the second save (old file + new temporary file) does
    not fit on the 4 MiB disk."""
    env = dict(os.environ, RESVISION_NUM_THREADS="1", RESVISION_CACHE=str(tmp_path / "cache"))
    run = small_disk / "run"
    argv = ["train", "--max-steps", "8", "--batch-size", "16", "--save-steps", "1",
            "--device", "cpu", "--output", str(run), "--set", "output.report=false"]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "resvision", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "No space left on device" in proc.stderr and "resvision train --resume" in proc.stderr
    assert "the previous last.pt is unchanged" in proc.stderr
    checkpoints = run / "checkpoints"
    files = sorted(p.name for p in checkpoints.iterdir())
    assert "last.pt" in files and not [f for f in files if f.endswith(".tmp")], files
    for name in files:  # every file kept is a good checkpoint
        assert load_checkpoint(checkpoints / name)["progress"]["global_step"] >= 1
