"""Exact resume: a run stopped anywhere and resumed ends bit-identical to an uninterrupted one.

Deterministic on CPU (one thread, see conftest). The network has dropout (the global torch
generator matters) and batch norm (buffers matter); the optimizer has momentum (its state
matters); evaluation runs every epoch (its loader draws from the global generator too).
"""

from __future__ import annotations

import os
import shutil
import signal

import pytest
import torch
from resume_proof import BatchTrace, assert_ran_only_the_rest, assert_same_end_state, resume_point
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import resvision.engine.model as model_module
from resvision.callbacks import EMA, Callback, LRScheduler
from resvision.engine.amp import AmpSettings
from resvision.engine.checkpoint import find_latest_checkpoint, load_checkpoint
from resvision.engine.identity import ResumeMismatchError
from resvision.engine.model import Model
from resvision.metrics import Accuracy
from resvision.optim import Momentum
from resvision.optim.lr import StepDecay

EPOCHS = 3
BATCHES = 5  # per epoch: 40 samples, batch size 8


def _network() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 3),
    )


def _model(init_seed: int = 0, schedule: bool = False) -> Model:
    torch.manual_seed(init_seed)
    model = Model(_network(), device="cpu")
    if schedule:  # a per-epoch schedule carried by the optimizer, stepped by a callback
        opt = Momentum(
            StepDecay(0.1, step_size=1, gamma=0.5), momentum=0.9, parameters=model.parameters()
        )
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.prepare(opt, nn.CrossEntropyLoss(), Accuracy())
    return model


_G = torch.Generator().manual_seed(7)
TRAIN = TensorDataset(
    torch.randn(40, 3, 4, 4, generator=_G), torch.randint(0, 3, (40,), generator=_G)
)
EVAL = TensorDataset(
    torch.randn(12, 3, 4, 4, generator=_G), torch.randint(0, 3, (12,), generator=_G)
)


def _fit(model: Model, train=TRAIN, **kw) -> None:
    kw.setdefault("epochs", EPOCHS)
    model.fit(train, EVAL, batch_size=8, verbose=0, seed=11, **kw)


def _resume(model: Model, folder, resume="auto", callbacks=(), total=EPOCHS * BATCHES, **kw):
    """Resume a fit from ``folder`` and check that it trained only the batches that were left."""
    start = resume_point(folder) if resume == "auto" else load_checkpoint(resume)["progress"]
    trace = BatchTrace()
    _fit(model, save_dir=folder, resume=resume, callbacks=[*callbacks, trace], **kw)
    assert_ran_only_the_rest(trace.batches, start, total, BATCHES)


def _assert_same_state(reference, resumed, ignore=()) -> None:
    """The two runs' final checkpoints hold the same state, bit for bit."""
    assert_same_end_state(reference / "final.pt", resumed / "final.pt", ignore=ignore)


class _StopAfter(Callback):
    """Sets model.stop_training after ``n`` training batches."""

    def __init__(self, n: int):
        super().__init__()
        self.n, self.seen = n, 0

    def on_train_batch_end(self, step, logs=None):
        self.seen += 1
        if self.seen == self.n:
            self.model.stop_training = True


class _Signal(Callback):
    def __init__(self, n: int, signum: int):
        super().__init__()
        self.n, self.seen, self.signum = n, 0, signum

    def on_train_batch_end(self, step, logs=None):
        self.seen += 1
        if self.seen == self.n:
            os.kill(os.getpid(), self.signum)


class _Crash(Callback):
    def __init__(self, n: int):
        super().__init__()
        self.n, self.seen = n, 0

    def on_train_batch_begin(self, step, logs=None):
        self.seen += 1
        if self.seen == self.n:
            raise RuntimeError("simulated crash")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run's folder (its final.pt)."""
    folder = tmp_path_factory.mktemp("reference")
    _fit(_model(), save_dir=folder)
    return folder


@pytest.mark.resume
@pytest.mark.parametrize("stop_after", [2, 5, 7, 13])  # mid-epoch 0, end of epoch 0, ...
def test_stop_and_resume_is_bit_identical(tmp_path, reference, stop_after):
    first = _model()
    _fit(first, save_dir=tmp_path, callbacks=[_StopAfter(stop_after)])
    resumed = _model(init_seed=123)  # other initial weights: everything must come from disk
    _resume(resumed, tmp_path)
    _assert_same_state(reference, tmp_path)


@pytest.mark.resume
def test_resume_twice_from_num_iters_runs(tmp_path, reference):
    _fit(_model(), save_dir=tmp_path, num_iters=3)
    trace = BatchTrace()
    _fit(_model(5), save_dir=tmp_path, num_iters=9, resume="auto", callbacks=[trace])
    assert_ran_only_the_rest(trace.batches, {"epoch": 0, "batch": 3}, 9, BATCHES)
    final = _model(6)
    _resume(final, tmp_path, resume=tmp_path / "final")  # a Paddle-style prefix
    _assert_same_state(reference, tmp_path)


@pytest.mark.resume
def test_resume_in_the_middle_of_gradient_accumulation(tmp_path):
    _fit(_model(), save_dir=tmp_path / "ref", accumulate_grad_batches=2)
    first = _model()
    _fit(first, save_dir=tmp_path, accumulate_grad_batches=2, callbacks=[_StopAfter(3)])
    assert load_checkpoint(tmp_path / "final")["grads"] is not None  # 3 % 2: a group is open
    resumed = _model(1)
    _resume(resumed, tmp_path, accumulate_grad_batches=2)
    _assert_same_state(tmp_path / "ref", tmp_path)


@pytest.mark.resume
def test_resume_with_a_plain_dataloader_replays_the_epoch(tmp_path):
    def loader():
        return DataLoader(TRAIN, batch_size=8, shuffle=True)

    _fit(_model(), train=loader(), save_dir=tmp_path / "ref")
    _fit(_model(), train=loader(), save_dir=tmp_path, callbacks=[_StopAfter(8)])
    assert load_checkpoint(tmp_path / "final")["loader"]["kind"] == "replay"
    resumed = _model(2)
    _resume(resumed, tmp_path, train=loader())
    _assert_same_state(tmp_path / "ref", tmp_path)


@pytest.mark.resume
def test_resume_with_mixup_cutmix_and_repeated_augmentation_is_bit_identical(tmp_path):
    from resvision.data.mixing import Mixup

    def mix():
        return Mixup(mixup_alpha=0.4, cutmix_alpha=1.0, num_classes=3)

    kw = {"aug_repeats": 2}
    _fit(_model(), save_dir=tmp_path / "ref", batch_mix=mix(), **kw)
    _fit(_model(), save_dir=tmp_path / "plain")  # the mixing changes the run ...
    plain = load_checkpoint(tmp_path / "plain" / "final.pt")["model"]
    mixed = load_checkpoint(tmp_path / "ref" / "final.pt")["model"]
    assert not all(torch.equal(plain[k], mixed[k]) for k in plain)
    _fit(_model(), save_dir=tmp_path, batch_mix=mix(), callbacks=[_StopAfter(7)], **kw)
    resumed = _model(4)
    _resume(resumed, tmp_path, batch_mix=mix(), **kw)  # ... and resumes exactly
    _assert_same_state(tmp_path / "ref", tmp_path)


@pytest.mark.resume
def test_per_epoch_schedule_state_is_resumed(tmp_path):
    def cbs():
        return [LRScheduler(by_step=False, by_epoch=True)]

    ref = _model(schedule=True)
    _fit(ref, save_dir=tmp_path / "ref", callbacks=cbs())
    _fit(_model(schedule=True), save_dir=tmp_path, callbacks=[*cbs(), _StopAfter(7)])
    resumed = _model(3, schedule=True)
    _resume(resumed, tmp_path, callbacks=cbs())
    _assert_same_state(tmp_path / "ref", tmp_path)
    assert (
        resumed._optimizer.param_groups[0]["lr"] == ref._optimizer.param_groups[0]["lr"] == 0.0125
    )


@pytest.mark.resume
def test_ema_state_is_resumed(tmp_path):
    ref, ref_ema = _model(), EMA(decay=0.8)
    _fit(ref, save_dir=tmp_path / "ref", callbacks=[ref_ema])
    _fit(_model(), save_dir=tmp_path, callbacks=[EMA(decay=0.8), _StopAfter(6)])
    resumed, ema = _model(8), EMA(decay=0.8)
    _resume(resumed, tmp_path, callbacks=[ema])
    _assert_same_state(tmp_path / "ref", tmp_path)
    a, b = ref_ema.ema.state_dict(), ema.ema.state_dict()
    assert a["num_updates"] == b["num_updates"] == EPOCHS * BATCHES
    for key in a["shadow"]:
        assert torch.equal(a["shadow"][key], b["shadow"][key]), key


@pytest.mark.resume
@pytest.mark.parametrize(
    ("signum", "exc"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, SystemExit)]
)
def test_signal_writes_a_resumable_checkpoint_then_stops(
    tmp_path, reference, signum, exc, default_sigint
):
    with pytest.raises(exc) as info:
        _fit(_model(), save_dir=tmp_path, callbacks=[_Signal(8, signum)])
    if exc is SystemExit:
        assert info.value.code == 143
    assert (
        signal.getsignal(signum) is not None
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    last = load_checkpoint(tmp_path / "last")
    assert last["progress"] == {"epoch": 1, "batch": 3, "global_step": 8}
    assert not (tmp_path / "final.pt").exists()
    resumed = _model(4)
    _resume(resumed, tmp_path)
    _assert_same_state(reference, tmp_path)


def test_signal_after_the_last_step_is_not_lost(tmp_path, default_sigint):
    class SignalInLastEval(Callback):
        def on_eval_end(self, logs=None):
            if self.model._session.progress.epoch == EPOCHS:
                os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), save_dir=tmp_path, callbacks=[SignalInLastEval()])
    assert load_checkpoint(tmp_path / "final")["progress"]["epoch"] == EPOCHS  # fit finished


@pytest.mark.resume
def test_crash_loses_at_most_save_steps_steps(tmp_path, reference):
    with pytest.raises(RuntimeError, match="simulated crash"):
        _fit(_model(), save_dir=tmp_path, save_steps=3, callbacks=[_Crash(15)])
    latest = find_latest_checkpoint(tmp_path)  # newer than 1.pt (end of epoch 1, step 10)
    assert latest.name == "last.pt"
    assert load_checkpoint(latest)["progress"]["global_step"] == 12  # 13 and 14 are lost
    resumed = _model(5)
    _resume(resumed, tmp_path, save_steps=3)
    _assert_same_state(reference, tmp_path, ignore=("config.fit.save_steps",))


def test_resume_errors_are_clear(tmp_path):
    model = _model()
    with pytest.raises(ValueError, match="resume='auto' needs save_dir"):
        _fit(model, resume="auto")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        _fit(model, resume=tmp_path / "missing")
    model.save(tmp_path / "weights", training=False)
    with pytest.raises(ValueError, match="not a resvision training checkpoint"):
        _fit(model, resume=tmp_path / "weights")
    _fit(model, save_dir=tmp_path / "empty", resume="auto", epochs=1)  # nothing yet: from scratch
    assert (tmp_path / "empty" / "final.pt").exists()


def test_resume_with_other_batches_is_refused_before_anything_changes(tmp_path):
    _fit(_model(), save_dir=tmp_path, epochs=1)
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.pt")}
    with pytest.raises(ResumeMismatchError, match=r"fit\.batch_size: 8 in the checkpoint, 4 now"):
        _model().fit(TRAIN, batch_size=4, epochs=2, verbose=0, save_dir=tmp_path, resume="auto")
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.pt")} == before


@pytest.mark.resume
def test_loss_scaler_state_is_resumed(tmp_path, monkeypatch):
    """float16's loss scaler (CUDA only in resvision) built on the CPU, with autocast off: its
    scale doubles every 2 steps, so a scaler that starts afresh ends at another scale."""
    settings = AmpSettings(level="O1", dtype=None, device_type="cpu", use_scaler=True,
                           scaler_kwargs={"init_scale": 2.0**4, "growth_interval": 2})  # fmt: skip
    monkeypatch.setattr(model_module, "parse_amp_configs", lambda *a, **k: settings)
    _fit(_model(), save_dir=tmp_path / "ref")
    assert load_checkpoint(tmp_path / "ref" / "final")["scaler"]["scale"] == 2.0 ** (4 + 7)
    _fit(_model(), save_dir=tmp_path, callbacks=[_StopAfter(6)])
    _resume(_model(7), tmp_path)
    _assert_same_state(tmp_path / "ref", tmp_path)


@pytest.mark.resume
def test_resuming_a_finished_run_writes_the_uninterrupted_final_checkpoint(tmp_path, reference):
    """Killed after the last epoch's checkpoint, before final.pt: the resumed process trains
    nothing, and its final.pt still holds the last epoch's counts and the loader's position."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(reference / f"{EPOCHS - 1}.pt", run)
    _resume(_model(9), run)
    _assert_same_state(reference, run)
