"""A damaged newest checkpoint: ``resume='auto'`` takes the newest readable one and says which
file it skipped, why, and how many steps are lost; it never falls back silently."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from resume_proof import BatchTrace, assert_ran_only_the_rest, assert_same_end_state
from torch import nn
from torch.utils.data import TensorDataset

from resvision.callbacks import Callback
from resvision.engine.checkpoint import load_checkpoint
from resvision.engine.model import Model

_G = torch.Generator().manual_seed(2)
TRAIN = TensorDataset(
    torch.randn(24, 3, 4, 4, generator=_G), torch.randint(0, 3, (24,), generator=_G)
)


def _model(seed: int = 0) -> Model:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 3))
    model = Model(net, device="cpu")
    model.prepare(torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9), nn.CrossEntropyLoss())
    return model


def _fit(model: Model, folder, **kw) -> None:
    model.fit(TRAIN, batch_size=8, epochs=2, verbose=0, seed=3, save_dir=folder, **kw)


class CrashBefore(Callback):
    def __init__(self, batch: int) -> None:
        super().__init__()
        self.batch, self.seen = batch, 0

    def on_train_batch_begin(self, step, logs=None):
        self.seen += 1
        if self.seen == self.batch:
            raise RuntimeError("crash")


@pytest.mark.resume
def test_a_damaged_last_checkpoint_is_named_and_the_older_one_resumed(tmp_path):
    reference = tmp_path / "reference"
    _fit(_model(), reference)
    run = tmp_path / "run"
    with pytest.raises(RuntimeError, match="crash"):  # 0.pt after step 3, last.pt after step 5
        _fit(_model(), run, save_steps=1, callbacks=[CrashBefore(6)])
    data = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 3])  # a disk error cut it short
    trace = BatchTrace()
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable checkpoint\(s\): last\.pt") as info:
        _fit(_model(9), run, save_steps=1, resume="auto", callbacks=[trace])
    text = str(info[0].message)
    assert "last.pt (written 20" in text and ") cannot be read: " in text  # when, and why
    assert "resuming from 0.pt (global step 3) instead" in text
    assert "the steps after global step 3 are trained again" in text
    assert_ran_only_the_rest(trace.batches, {"epoch": 1, "batch": 0}, 6, 3)
    assert_same_end_state(
        reference / "final.pt", run / "final.pt", ignore=("config.fit.save_steps",)
    )


def test_command_line_says_which_file_was_skipped_and_how_many_steps_are_lost(tmp_path):
    env = dict(os.environ, RESVISION_NUM_THREADS="1", RESVISION_CACHE=str(tmp_path / "cache"))
    env.pop("RESVISION_MAX_STEPS", None)

    def train(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "resvision", "train", "--output", "run", "--save-steps", "2",
             "--set", "train.log_freq=1", "--set", "output.report=false", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip

    assert train("--max-steps", "5").returncode == 0
    ckpts = tmp_path / "run" / "checkpoints"
    assert load_checkpoint(ckpts / "last")["progress"]["global_step"] == 4
    for name in ("0.pt", "final.pt"):  # both written after step 5, both damaged
        (ckpts / name).write_bytes(b"PK\x03\x04 cut short")
    proc = train("--resume", "auto", "--max-steps", "6")
    assert proc.returncode == 0, proc.stderr
    assert "resvision: warning: skipped 2 unreadable checkpoint(s): 0.pt (written" in proc.stderr
    assert "final.pt (written" in proc.stderr
    assert (
        "resuming from last.pt (global step 4) instead: 1 step is lost (the run had logged step 5)"
        in proc.stderr
    )
    assert load_checkpoint(ckpts / "final")["progress"]["global_step"] == 6
