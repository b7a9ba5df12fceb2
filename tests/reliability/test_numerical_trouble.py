"""Numerical trouble: a NaN/inf loss, or a step that leaves NaN/inf weights (inf gradients, an
overflowing update or BatchNorm statistics), stops training with the step number and keeps the
last good checkpoint (none written after the bad step); with a float16 loss scaler the bad
step is skipped instead and training goes on.

(A NaN loss from poisoned data is covered in ``tests/engine/test_model_training.py``; here: a
finite loss with infinite gradients, the loss scaler's skip, and the command line end to end.)

The float16 loss scaler only runs on CUDA in resvision (float16 autocast is not offered on
CPU). These CPU tests give the engine a ``torch.amp.GradScaler('cpu')`` — the same class and
the same skip logic, on the device this suite has — through the ``AmpSettings`` it builds its
scaler from; the autocast itself stays off.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import resvision.engine.model as model_module
from resvision.callbacks import Callback
from resvision.engine.amp import AmpSettings
from resvision.engine.checkpoint import load_checkpoint
from resvision.engine.loops import NonFiniteLossError
from resvision.engine.model import Model

_G = torch.Generator().manual_seed(2)
TRAIN = TensorDataset(torch.randn(32, 6, generator=_G), torch.randint(0, 3, (32,), generator=_G))


class _InfGradOnce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * math.inf


class GradBomb(nn.Module):
    """Identity forward; on its ``bad_call``-th forward the backward pass returns inf gradients
    (the loss itself stays finite), as an overflow in backward does."""

    def __init__(self, bad_call: int) -> None:
        super().__init__()
        self.bad_call, self.calls = bad_call, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return _InfGradOnce.apply(x) if self.calls == self.bad_call and self.training else x


def _model(bad_call: int, **prepare) -> Model:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), GradBomb(bad_call), nn.ReLU(), nn.Linear(8, 3))
    model = Model(net, device="cpu")
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    model.prepare(opt, nn.CrossEntropyLoss(), amp_configs=None, **prepare)
    return model


def test_infinite_gradients_stop_with_the_step_and_keep_the_last_good_checkpoint(tmp_path):
    model = _model(bad_call=6)  # batch index 5 of epoch 0 (batches of 4: 8 per epoch)
    with pytest.raises(NonFiniteLossError) as info:
        model.fit(
            TRAIN, batch_size=4, epochs=2, verbose=0, save_dir=tmp_path, save_steps=1, log_freq=50
        )
    err = info.value
    assert (err.what, err.epoch, err.step, err.global_step) == ("weights", 0, 5, 6)
    assert "weights or BatchNorm statistics became inf/NaN" in str(err)
    assert "epoch 0, step 5 (global step 6)" in str(err)
    assert math.isfinite(err.value)  # the loss was finite: only the gradients tell
    last = load_checkpoint(tmp_path / "last")
    assert last["progress"]["global_step"] == 5  # written before the bad step, never after
    assert all(torch.isfinite(v).all() for v in last["model"].values())
    assert not list(tmp_path.glob(".*.tmp"))


def _cpu_loss_scaler(monkeypatch) -> None:
    """Make prepare() build a GradScaler('cpu') (scaling on, autocast off)."""
    settings = AmpSettings(level="O1", dtype=None, device_type="cpu", use_scaler=True,
                           scaler_kwargs={"init_scale": 2.0**10})  # fmt: skip
    monkeypatch.setattr(model_module, "parse_amp_configs", lambda *a, **k: settings)


def test_with_a_loss_scaler_the_bad_step_is_skipped_and_training_goes_on(tmp_path, monkeypatch):
    _cpu_loss_scaler(monkeypatch)
    model = _model(bad_call=3)
    assert isinstance(model._runner().scaler, torch.amp.GradScaler)
    before = {}

    class RecordWeights(Callback):
        def on_train_batch_begin(self, step, logs=None):
            before[step] = [p.detach().clone() for p in self.model.network.parameters()]

        def on_train_batch_end(self, step, logs=None):
            after = list(self.model.network.parameters())
            before[step] = all(torch.equal(a, b) for a, b in zip(after, before[step]))

    model.fit(TRAIN, batch_size=4, epochs=1, verbose=0, save_dir=tmp_path, save_steps=1,
              callbacks=[RecordWeights()])  # fmt: skip
    assert before[2] is True  # the step with inf gradients changed nothing ...
    assert not any(before[s] for s in (0, 1, 3, 4, 5, 6, 7))  # ... the others trained
    final = load_checkpoint(tmp_path / "final")
    assert final["scaler"]["scale"] == 2.0**9  # backed off once
    assert final["progress"]["global_step"] == 8
    assert all(torch.isfinite(v).all() for v in final["model"].values())


def test_command_line_nan_stops_with_the_step_and_keeps_good_checkpoints(tmp_path):
    """A learning rate that makes ResNet-20 diverge: exit 1, the step named, no traceback."""
    env = {"RESVISION_NUM_THREADS": "1", "RESVISION_CACHE": str(tmp_path / "cache")}
    argv = ["train", "--lr", "1e12", "--max-steps", "30", "--batch-size", "16", "--device", "cpu",
            "--save-steps", "1", "--output", str(tmp_path / "run"), "--set", "train.log_freq=1",
            "--set", "output.report=false"]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "resvision", *argv],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "training stopped:" in proc.stderr and "at epoch 0, step " in proc.stderr
    checkpoints = sorted((tmp_path / "run" / "checkpoints").glob("*.pt"))
    assert checkpoints, proc.stderr
    for file in checkpoints:  # whatever was written holds finite weights
        assert all(torch.isfinite(v).all() for v in load_checkpoint(file)["model"].values())
