"""Callbacks, driven by a tiny hand-written loop (and through Model.fit at the end)."""

import io
import json
import os
import sys
import warnings

import pytest
import torch

from resvision.callbacks import (
    EMA,
    Callback,
    CallbackList,
    EarlyStopping,
    JSONLLogger,
    LRScheduler,
    ModelCheckpoint,
    ProgBarLogger,
    ReduceLROnPlateau,
    TensorBoard,
    config_callbacks,
)
from resvision.optim import Momentum, lr


class FakeModel:
    """What callbacks see of resvision.Model: network, _optimizer, stop_training, save."""

    def __init__(self, optimizer=None):
        self.network = torch.nn.Linear(3, 2)
        self._optimizer = optimizer or torch.optim.SGD(self.network.parameters(), lr=0.1)
        self.stop_training = False
        self.saved = []

    def save(self, path):
        self.saved.append(os.fspath(path))


def drive(
    model, callbacks, *, epochs=2, steps=4, accumulate=1, eval_logs=None, batch=4, params=None
):
    """A minimal fit loop calling the hooks in the engine's order."""
    cbks = callbacks if isinstance(callbacks, CallbackList) else CallbackList(callbacks)
    cbks.set_model(model)
    cbks.set_params(
        {
            "epochs": epochs,
            "steps": steps,
            "metrics": ["loss", "acc"],
            "log_freq": 1,
            **(params or {}),
        }
    )
    opt = model._optimizer
    cbks.on_train_begin({})
    for epoch in range(epochs):
        cbks.on_epoch_begin(epoch, {})
        for step in range(steps):
            cbks.on_train_batch_begin(step, {"batch_size": batch})
            loss = model.network(torch.ones(batch, 3)).square().mean()
            loss.backward()
            if (step + 1) % accumulate == 0:
                opt.step()
                opt.zero_grad()
            logs = {
                "loss": float(loss.detach()),
                "acc": 0.5,
                "batch_size": batch,
                "lr": opt.param_groups[0]["lr"],
            }
            cbks.on_train_batch_end(step, logs)
        ev = eval_logs or {"loss": 1.0 - 0.1 * epoch, "acc": 0.5}
        ev = ev(epoch) if callable(ev) else ev
        cbks.on_eval_begin({"steps": 2, "metrics": ["loss", "acc"]})
        for step in range(2):
            cbks.on_eval_batch_begin(step, {"batch_size": 3})
            cbks.on_eval_batch_end(step, {"batch_size": 3, **ev})
        cbks.on_eval_end(dict(ev))
        cbks.on_epoch_end(
            epoch, {"loss": 0.5, "acc": 0.5, **{f"eval_{k}": v for k, v in ev.items()}}
        )
        if model.stop_training:
            break
    cbks.on_train_end({})
    return cbks


class Recorder(Callback):
    def __init__(self, name, log):
        super().__init__()
        self.name, self.log = name, log

    def on_epoch_end(self, epoch, logs=None):
        self.log.append((self.name, epoch))

    def state_dict(self):
        return {"name": self.name}

    def load_state_dict(self, state):
        self.log.append(("loaded", state["name"]))


# -- base -----------------------------------------------------------------------------------
def test_base_hooks_are_no_ops_and_list_dispatches_in_order():
    log = []
    cbks = CallbackList([Recorder("a", log), Callback(), Recorder("b", log)])
    drive(FakeModel(), cbks, epochs=1, steps=1)
    assert log == [("a", 0), ("b", 0)]
    cbks.on_begin("eval", {})
    cbks.on_batch_end("predict", 0, {})
    with pytest.raises(ValueError, match="mode"):
        cbks.on_begin("test")
    with pytest.raises(TypeError, match="Callback instances"):
        CallbackList([object()])


def test_callback_state_keys_and_unused_state_warning():
    log = []
    cbks = CallbackList([Recorder("a", log), Recorder("b", log), Callback()])
    state = cbks.state_dict()
    assert state == {"Recorder": {"name": "a"}, "Recorder#1": {"name": "b"}}
    fresh = CallbackList([Recorder("x", log), Recorder("y", log)])
    fresh.load_state_dict(state)
    assert log[-2:] == [("loaded", "a"), ("loaded", "b")]
    with pytest.warns(UserWarning, match="Gone"):
        fresh.load_state_dict({"Gone": {"k": 1}})


def test_config_callbacks_adds_paddle_defaults(tmp_path):
    stop, ema = EarlyStopping(), EMA()
    model = FakeModel()
    cbks = config_callbacks(
        [ema, stop], model=model, epochs=3, steps=5, save_dir=tmp_path, metrics=["loss", "acc"]
    )
    kinds = [type(c).__name__ for c in cbks]
    assert kinds == [
        "ProgBarLogger",
        "EarlyStopping",
        "ModelCheckpoint",
        "LRScheduler",
        "JSONLLogger",
        "EMA",
    ]
    assert stop.save_dir == str(tmp_path) and stop.model is model
    assert cbks.params["epochs"] == 3 and cbks.params["save_dir"] == str(tmp_path)
    quiet = config_callbacks(None, model=model, verbose=0, mode="eval")
    assert len(quiet) == 0


# -- ProgBarLogger --------------------------------------------------------------------------
def test_progbar_lines_when_not_a_terminal():
    out = io.StringIO()
    drive(FakeModel(), [ProgBarLogger(log_freq=2, verbose=2, file=out)], epochs=1, steps=5)
    lines = out.getvalue().splitlines()
    assert lines[1] == "Epoch 1/1"
    step_lines = [line for line in lines if line.startswith("Epoch 1/1 step")]
    assert [line.split(" - ")[0] for line in step_lines] == [
        "Epoch 1/1 step 2/5",
        "Epoch 1/1 step 4/5",
        "Epoch 1/1 step 5/5",
    ]
    first = step_lines[0]
    for part in ("loss: ", "acc: 0.5000", "lr: 0.1000", " img/s", "ETA: "):
        assert part in first
    assert "eval_loss: 1.0000" in step_lines[-1] and "ETA" not in step_lines[-1]
    assert "Eval begin..." in lines and "Eval samples: 6" in lines


def test_progbar_verbosity_levels():
    silent = io.StringIO()
    drive(FakeModel(), [ProgBarLogger(1, verbose=0, file=silent)], epochs=1, steps=2)
    assert silent.getvalue() == ""
    bare = io.StringIO()
    drive(FakeModel(), [ProgBarLogger(1, verbose=1, file=bare)], epochs=1, steps=2)
    assert "Eval begin..." not in bare.getvalue() and "step 2/2" in bare.getvalue()
    timed = io.StringIO()
    drive(FakeModel(), [ProgBarLogger(1, verbose=3, file=timed)], epochs=1, steps=2)
    assert "reader: " in timed.getvalue() and "batch: " in timed.getvalue()
    with pytest.raises(ValueError, match="verbose"):
        ProgBarLogger(verbose=4)
    with pytest.raises(ValueError, match="log_freq"):
        ProgBarLogger(log_freq=0)


def test_progbar_tqdm_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    drive(FakeModel(), [ProgBarLogger(log_freq=1, verbose=2, file=out)], epochs=1, steps=3)
    text = out.getvalue()
    assert "\r" in text and "Epoch 1/1" in text and "3/3" in text and "loss=" not in text
    assert "loss: " in text and "Eval samples: 6" in text


def test_progbar_silent_on_other_ranks(monkeypatch):
    monkeypatch.setenv("RANK", "1")  # torchrun's convention: WORLD_SIZE says it launched us
    monkeypatch.setenv("WORLD_SIZE", "2")
    out = io.StringIO()
    drive(FakeModel(), [ProgBarLogger(1, verbose=2, file=out)], epochs=1, steps=2)
    assert out.getvalue() == ""


# -- ModelCheckpoint ------------------------------------------------------------------------
def test_model_checkpoint_names_and_frequency(tmp_path, capsys):
    # Paddle's periodic and final names; the k best are tests/engine/test_checkpoint_selection.py's
    model = FakeModel()
    drive(model, [ModelCheckpoint(2, tmp_path, save_top_k=0)], epochs=5, steps=1)
    assert model.saved == [str(tmp_path / "1"), str(tmp_path / "3"), str(tmp_path / "final")]
    model = FakeModel()
    drive(model, [ModelCheckpoint()], epochs=2, steps=1)  # no folder anywhere: no save
    assert model.saved == []
    model = FakeModel()
    drive(
        model,
        [ModelCheckpoint(save_top_k=0)],
        epochs=1,
        steps=1,
        params={"save_dir": str(tmp_path), "verbose": 1},
    )
    assert model.saved == [str(tmp_path / "0"), str(tmp_path / "final")]
    assert "save checkpoint at" in capsys.readouterr().out


def test_model_checkpoint_only_on_main_process(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    model = FakeModel()
    drive(model, [ModelCheckpoint(save_dir=tmp_path)], epochs=1, steps=1)
    assert model.saved == []


# -- LRScheduler ----------------------------------------------------------------------------
def test_lr_scheduler_steps_once_per_optimizer_step():
    net = torch.nn.Linear(3, 2)
    schedule = lr.StepDecay(0.1, step_size=1, gamma=0.5)
    model = FakeModel(Momentum(learning_rate=schedule, parameters=net.parameters()))
    model.network = net
    seen = []

    class LrSpy(Callback):
        def on_train_batch_end(self, step, logs=None):
            seen.append(logs["lr"])

    drive(model, [LrSpy(), LRScheduler()], epochs=2, steps=4, accumulate=2)
    assert schedule.last_epoch == 4  # 8 batches, 4 optimizer steps
    # the lr logged with a batch is the one its optimizer step used
    assert seen == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125])


def test_lr_scheduler_by_epoch_and_explicit_torch_scheduler():
    model = FakeModel()
    sched = torch.optim.lr_scheduler.StepLR(model._optimizer, step_size=1, gamma=0.1)
    drive(model, [LRScheduler(by_epoch=True, scheduler=sched)], epochs=3, steps=2)
    assert model._optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="mutually exclusive"):
        LRScheduler(by_step=True, by_epoch=True)
    with pytest.raises(TypeError, match="ReduceLROnPlateau"):
        LRScheduler(scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau(model._optimizer))
    with pytest.raises(TypeError, match="step"):
        LRScheduler(scheduler=object())


def test_lr_scheduler_without_schedule_does_nothing():
    model = FakeModel()
    drive(model, [LRScheduler()], epochs=1, steps=3)
    assert model._optimizer.param_groups[0]["lr"] == 0.1


def test_lr_scheduler_state_round_trip_before_prepare():
    def make_model():
        net = torch.nn.Linear(3, 2)
        m = FakeModel(
            Momentum(
                learning_rate=lr.CosineAnnealingDecay(0.1, T_max=10), parameters=net.parameters()
            )
        )
        m.network = net
        return m

    model = make_model()
    cb = LRScheduler()
    drive(model, [cb], epochs=1, steps=3)
    state = cb.state_dict()
    assert state["scheduler"]["last_epoch"] == 3
    fresh = LRScheduler()
    fresh.load_state_dict(state)  # no model yet: kept until on_train_begin
    model2 = make_model()
    fresh.set_model(model2)
    fresh.on_train_begin({})
    assert model2._optimizer.lr_scheduler.last_epoch == 3
    assert model2._optimizer.param_groups[0]["lr"] == pytest.approx(
        model._optimizer.param_groups[0]["lr"]
    )


# -- EarlyStopping --------------------------------------------------------------------------
def test_early_stopping_patience_min_delta_and_best_model(tmp_path):
    model = FakeModel()
    stop = EarlyStopping("loss", patience=2, min_delta=0.05, verbose=0)
    stop.save_dir = str(tmp_path)
    losses = [1.0, 0.9, 0.88, 0.87, 0.5]  # 0.88 and 0.87 improve by less than min_delta
    drive(model, [stop], epochs=5, steps=1, eval_logs=lambda e: {"loss": losses[e]})
    assert model.stop_training and stop.best_value == 0.9 and stop.wait_epoch == 2
    assert model.saved == [str(tmp_path / "best_model")] * 2


def test_early_stopping_modes_baseline_and_prefix():
    assert EarlyStopping("acc_top1").mode == "max" and EarlyStopping("loss").mode == "min"
    assert EarlyStopping("loss", mode="max").mode == "max"
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="best")
    model = FakeModel()
    stop = EarlyStopping("eval_acc", baseline=0.9, patience=1, verbose=0, save_best_model=False)
    drive(model, [stop], epochs=3, steps=1, eval_logs={"acc": 0.8})
    assert model.stop_training and stop.best_value == 0.9


def test_early_stopping_missing_monitor_warns_once():
    stop = EarlyStopping("acc_top5", verbose=0)
    with pytest.warns(UserWarning, match="acc_top5") as record:
        drive(FakeModel(), [stop], epochs=2, steps=1)
    assert len([w for w in record if "acc_top5" in str(w.message)]) == 1


def test_early_stopping_resumed_state_is_kept():
    stop = EarlyStopping("loss", patience=3, verbose=0, save_best_model=False)
    drive(FakeModel(), [stop], epochs=2, steps=1, eval_logs={"loss": 1.0})
    state = stop.state_dict()
    assert state["wait_epoch"] == 1
    again = EarlyStopping("loss", patience=3, verbose=0, save_best_model=False)
    again.load_state_dict(state)
    model = FakeModel()
    drive(model, [again], epochs=2, steps=1, eval_logs={"loss": 1.0})
    assert model.stop_training and again.wait_epoch == 3
    fresh_fit = FakeModel()
    drive(fresh_fit, [again], epochs=1, steps=1, eval_logs={"loss": 1.0})  # a new fit resets
    assert again.wait_epoch == 0 and not fresh_fit.stop_training


# -- ReduceLROnPlateau ----------------------------------------------------------------------
def test_reduce_lr_on_plateau_factor_cooldown_min_lr():
    model = FakeModel()
    cb = ReduceLROnPlateau(patience=1, factor=0.5, cooldown=1, min_lr=0.03, verbose=0)
    drive(model, [cb], epochs=6, steps=1, eval_logs={"loss": 1.0})
    # evals: 1 best; 2 reduce 0.1->0.05 (cooldown 1); 3 cooling; 4 reduce ->0.03 (floor); 5 cool; 6 none
    assert model._optimizer.param_groups[0]["lr"] == pytest.approx(0.03)
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=1.5)


def test_reduce_lr_on_plateau_leaves_schedules_alone():
    net = torch.nn.Linear(3, 2)
    model = FakeModel(
        Momentum(learning_rate=lr.StepDecay(0.1, step_size=100), parameters=net.parameters())
    )
    with pytest.warns(UserWarning, match="schedule"):
        drive(
            model,
            [ReduceLROnPlateau(patience=0, verbose=0)],
            epochs=2,
            steps=1,
            eval_logs={"loss": 1.0},
        )
    assert model._optimizer.get_lr() == 0.1


@pytest.mark.parametrize("make", [lambda: EarlyStopping("acc", verbose=0, save_best_model=False),
                                  lambda: ReduceLROnPlateau("acc", verbose=0)])  # fmt: skip
def test_monitoring_callbacks_warn_once_and_keep_a_state_loaded_before_fit(make):
    cb = make()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drive(FakeModel(), [cb], epochs=3, steps=1, eval_logs={"loss": 1.0})
    assert len(caught) == 1  # once, not at every evaluation
    assert "monitors 'acc', which the evaluation logs lack (they have ['loss'])" in str(
        caught[0].message
    )
    drive(FakeModel(), [cb], epochs=2, steps=1, eval_logs={"acc": 0.7})
    state = cb.state_dict()
    again = make()
    again.load_state_dict(state)  # before fit: kept through on_train_begin
    drive(FakeModel(), [again], epochs=1, steps=1, eval_logs={"acc": 0.6})
    best = again.best_value if isinstance(again, EarlyStopping) else again.best
    assert best == 0.7 and cb.mode == again.mode == "max"


# -- loggers --------------------------------------------------------------------------------
def test_jsonl_logger_rows(tmp_path):
    logger = JSONLLogger(tmp_path, log_freq=2)
    drive(
        FakeModel(),
        [logger],
        epochs=2,
        steps=4,
        eval_logs=lambda e: {"loss": float("nan") if e else 1.0},
    )
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    events = [r["event"] for r in rows]
    assert events == ["train_begin"] + [
        "train_batch",
        "train_batch",
        "eval_end",
        "epoch_end",
    ] * 2 + ["train_end"]
    batch = rows[2]
    assert (batch["epoch"], batch["step"], batch["global_step"], batch["batch_size"]) == (
        0,
        3,
        4,
        4,
    )
    assert batch["acc"] == 0.5 and "lr" in batch and "loss" in batch
    assert rows[3]["epoch"] == 0 and rows[3]["loss"] == 1.0
    assert rows[7]["loss"] is None and rows[8]["eval_loss"] is None  # NaN written as null
    assert rows[4]["epoch"] == 0 and rows[4]["eval_loss"] == 1.0 and rows[4]["lr"] == 0.1


def test_jsonl_rows_read_back_by_the_report(tmp_path):
    history = pytest.importorskip("resvision.report.history")
    logger = JSONLLogger(tmp_path, log_freq=1)
    drive(FakeModel(), [logger], epochs=2, steps=2)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    h = history.history_from_rows(rows)
    assert sorted(h.train) == [1.0, 2.0] and sorted(h.eval) == [1.0, 2.0]
    assert h.eval[2.0]["loss"] == pytest.approx(0.9) and len(h.steps) == 4


def test_jsonl_logger_resume_appends_and_continues_global_step(tmp_path):
    first = JSONLLogger(tmp_path, log_freq=1)
    drive(FakeModel(), [first], epochs=1, steps=3)
    second = JSONLLogger(tmp_path, log_freq=1)
    second.load_state_dict(first.state_dict())
    drive(FakeModel(), [second], epochs=1, steps=2)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [r["global_step"] for r in rows if r["event"] == "train_batch"]
    assert steps == [1, 2, 3, 4, 5]


def test_jsonl_logger_needs_a_folder():
    with pytest.raises(ValueError, match="save_dir"):
        drive(FakeModel(), [JSONLLogger()], epochs=1, steps=1)


def test_tensorboard_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match=r"resvision\[tensorboard\]"):
        TensorBoard("runs")


def test_tensorboard_writes_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    drive(
        FakeModel(),
        [TensorBoard(log_freq=2)],
        epochs=2,
        steps=4,
        params={"save_dir": str(tmp_path)},
    )
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/lr", "epoch/loss", "eval/loss", "eval/acc"} <= tags
    assert [e.step for e in acc.Scalars("train/loss")] == [2, 4, 6, 8]
    assert [e.value for e in acc.Scalars("eval/loss")] == pytest.approx([1.0, 0.9])


# -- through Model.fit ----------------------------------------------------------------------
def test_callbacks_through_model_fit(tmp_path):
    import resvision
    from resvision.metrics import Accuracy

    torch.manual_seed(0)
    x = torch.randn(24, 4)
    data = torch.utils.data.TensorDataset(x, (x[:, 0] > 0).long())
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    model = resvision.Model(net)
    schedule = lr.LinearWarmup(
        lr.CosineAnnealingDecay(0.1, T_max=6), warmup_steps=2, start_lr=0.0, end_lr=0.1
    )
    model.prepare(
        Momentum(learning_rate=schedule, parameters=model.parameters()),
        torch.nn.CrossEntropyLoss(),
        Accuracy(),
    )
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(
            data,
            data,
            batch_size=4,
            epochs=2,
            log_freq=3,
            save_dir=tmp_path,
            verbose=0,
            accumulate_grad_batches=2,
            callbacks=[
                ProgBarLogger(log_freq=3, verbose=2, file=out),
                EarlyStopping("acc", patience=5),
            ],
        )
    assert schedule.last_epoch == 6  # 12 batches, accumulated by 2
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["event"] for r in rows].count("epoch_end") == 2
    assert "Epoch 2/2 step 6/6" in out.getvalue() and "Eval samples: 24" in out.getvalue()
    assert any(name.startswith("best_model") for name in os.listdir(tmp_path))
