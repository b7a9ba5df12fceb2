"""Paddle's VisualDL and WandbCallback (issue #18): the tags, steps and values Paddle 3.3.1
logs, read back from the files each package writes (VisualDL's LogReader; the offline run file
of wandb), and compared with what Paddle's own callbacks log in a Paddle ``fit``.

``visualdl`` and ``wandb`` are extras that CI does not install, and Paddle is not in the dev
environment: the tests that need them skip without them (``pip install
'resvision[visualdl,wandb]'``; the Paddle comparison runs in the Paddle venv of
``scripts/paddle_api_status.py``, with pytest installed there). Signatures, bookkeeping and
error messages are tested everywhere, with stand-in modules in place of the packages.
"""

import inspect
import json
import struct
import sys
import types
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import resvision
from resvision.callbacks import Callback, VisualDL, WandbCallback

_G = torch.Generator().manual_seed(0)
DATA = TensorDataset(torch.randn(32, 6, generator=_G), torch.randint(0, 3, (32,), generator=_G))
# 32 samples, batches of 8: 4 steps an epoch


def _model():
    torch.manual_seed(0)
    model = resvision.Model(nn.Linear(6, 3), device="cpu")
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
                  resvision.metrics.Accuracy())  # fmt: skip
    return model


class _Recorder(Callback):
    """What the engine handed the callbacks: training logs by batch count, eval logs by epoch."""

    def __init__(self):
        super().__init__()
        self.batches, self.epoch, self.train, self.evals = 0, 0, {}, {}

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, step, logs=None):
        self.batches += 1
        if "loss" in logs:
            self.train[self.batches] = {"train/loss": logs["loss"], "train/acc": logs["acc"]}

    def on_eval_end(self, logs=None):
        self.evals[self.epoch] = {"eval/loss": logs["loss"], "eval/acc": logs["acc"]}


class _StopAfter(Callback):
    def __init__(self, n):
        super().__init__()
        self.n, self.seen = n, 0

    def on_train_batch_end(self, step, logs=None):
        self.seen += 1
        if self.seen == self.n:
            self.model.stop_training = True


def _fit(*callbacks, log_freq=1, **kw):
    recorder = _Recorder()
    _model().fit(DATA, DATA, batch_size=8, epochs=2, log_freq=log_freq, verbose=0,
                 callbacks=[*callbacks, recorder], **kw)  # fmt: skip
    return recorder


def _by_step(rows):
    """[(tag, step, value)] -> {'train': {step: {tag: value}}, 'eval': {...}}."""
    out = {"train": {}, "eval": {}}
    for tag, step, value in rows:
        out[tag.split("/")[0]].setdefault(step, {})[tag] = value
    return out


# ------------------------------------------------------------ stand-ins for the packages
class _FakeLogWriter:
    """Stands in for ``visualdl.LogWriter``: keeps what would be written."""

    def __init__(self, logdir):
        self.logdir, self.scalars, self.closed = logdir, [], False
        self.writers.append(self)

    def add_scalar(self, tag, value, step, walltime=None):
        assert not self.closed
        self.scalars.append((tag, step, value))

    def close(self):
        self.closed = True


@pytest.fixture
def fake_visualdl(monkeypatch):
    """A ``visualdl`` module whose LogWriters are listed in ``.writers``."""
    module = types.ModuleType("visualdl")
    module.writers = []
    module.LogWriter = type("LogWriter", (_FakeLogWriter,), {"writers": module.writers})
    monkeypatch.setitem(sys.modules, "visualdl", module)
    return module


class _FakeRun:
    """Stands in for a W&B run: keeps its init arguments, metric definitions and rows."""

    def __init__(self, **kwargs):
        self.kwargs, self.metrics, self.rows, self.finished = kwargs, [], [], False

    def define_metric(self, name, step_metric=None):
        self.metrics.append((name, step_metric))

    def log(self, row):
        assert not self.finished
        self.rows.append(dict(row))

    def finish(self):
        self.finished = True


@pytest.fixture
def fake_wandb(monkeypatch):
    """A ``wandb`` module whose runs (from ``init``) are listed in ``.runs``."""
    module = types.ModuleType("wandb")
    module.run, module.runs = None, []

    def init(**kwargs):
        module.runs.append(_FakeRun(**kwargs))
        return module.runs[-1]

    module.init = init
    monkeypatch.setitem(sys.modules, "wandb", module)
    return module


def _scalars(fake_visualdl):
    return [row for writer in fake_visualdl.writers for row in writer.scalars]


def _split_rows(rows):
    """W&B rows -> ({train/step: row}, {epoch: row}), the x values taken out of the rows."""
    rows = [dict(r) for r in rows]
    return (
        {r.pop("train/step"): r for r in rows if "train/step" in r},
        {r.pop("epoch"): r for r in rows if "epoch" in r},
    )


# ---------------------------------------------------------------- without the packages
def test_the_signatures_are_paddles():
    def params(cls):
        return [(p.name, p.default, p.kind) for p in inspect.signature(cls).parameters.values()]

    empty, keyword = inspect.Parameter.empty, inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert params(VisualDL) == [("log_dir", empty, keyword)]
    names = ["project", "entity", "name", "dir", "mode", "job_type"]
    var = inspect.Parameter.VAR_KEYWORD
    assert params(WandbCallback) == [(n, None, keyword) for n in names] + [("kwargs", empty, var)]


@pytest.mark.parametrize(
    ("make", "package"),
    [(lambda: VisualDL("logs"), "visualdl"), (lambda: WandbCallback(), "wandb")],
)
def test_without_the_package_the_error_names_the_extra(monkeypatch, make, package):
    monkeypatch.setitem(sys.modules, package, None)  # import fails as when not installed
    with pytest.raises(ImportError, match=rf"pip install .resvision\[{package}\]."):
        make()


def test_visualdl_logs_paddles_tags_at_paddles_steps(fake_visualdl):
    recorder = _fit(VisualDL("vdl"))
    (writer,) = fake_visualdl.writers
    assert writer.logdir == "vdl" and writer.closed
    logged = _by_step(writer.scalars)
    assert logged["train"] == recorder.train and list(logged["train"]) == list(range(1, 9))
    assert logged["eval"] == recorder.evals and list(logged["eval"]) == [0, 1]  # the epoch


def test_visualdl_writes_at_the_logging_steps(fake_visualdl):
    _fit(VisualDL("vdl"), log_freq=3)  # the loss is in the logs at steps 3 and 4 of each epoch
    steps = sorted({step for tag, step, _ in _scalars(fake_visualdl) if tag == "train/loss"})
    assert steps == [3, 4, 7, 8]


def test_visualdl_alone_in_evaluate_writes_epoch_0_and_closes(fake_visualdl):
    _model().evaluate(DATA, batch_size=8, verbose=0, callbacks=[VisualDL("vdl")])
    (writer,) = fake_visualdl.writers
    assert writer.closed
    assert [(tag, step) for tag, step, _ in writer.scalars] == [("eval/loss", 0), ("eval/acc", 0)]


def test_a_resumed_fit_goes_on_counting_batches(fake_visualdl, tmp_path):
    _model().fit(DATA, batch_size=8, epochs=2, log_freq=1, verbose=0, save_dir=tmp_path,
                 callbacks=[VisualDL("vdl"), _StopAfter(3)])  # fmt: skip
    _model().fit(DATA, batch_size=8, epochs=2, log_freq=1, verbose=0, save_dir=tmp_path,
                 resume="auto", callbacks=[VisualDL("vdl")])  # fmt: skip
    steps = [step for tag, step, _ in _scalars(fake_visualdl) if tag == "train/loss"]
    assert steps == list(range(1, 9))  # 3 before the stop, 5 after: no step twice


def test_wandb_starts_the_run_with_paddles_arguments(fake_wandb):
    cb = WandbCallback(project="p", mode="offline", config={"lr": 0.1})
    (run,) = fake_wandb.runs  # started by the constructor, as Paddle does
    assert cb.run is run and run.kwargs == {
        "project": "p", "name": None, "entity": None, "dir": None, "mode": "offline",
        "job_type": None, "config": {"lr": 0.1},
    }  # fmt: skip


def test_wandb_logs_paddles_rows(fake_wandb):
    recorder = _fit(WandbCallback())
    (run,) = fake_wandb.runs
    assert run.metrics == [("train/step", None), ("train/*", "train/step"), ("epoch", None),
                           ("eval/*", "epoch")]  # fmt: skip
    assert _split_rows(run.rows) == (recorder.train, recorder.evals)
    assert len(run.rows) == 8 + 2 and run.finished


def test_wandb_reuses_an_active_run_with_a_warning(fake_wandb):
    fake_wandb.run = active = _FakeRun()
    with pytest.warns(UserWarning, match="already in progress"):
        cb = WandbCallback()
    assert cb.run is active and fake_wandb.runs == []


def test_wandb_alone_in_evaluate_logs_epoch_0_and_finishes(fake_wandb):
    _model().evaluate(DATA, batch_size=8, verbose=0, callbacks=[WandbCallback()])
    (run,) = fake_wandb.runs
    assert run.finished and [sorted(r) for r in run.rows] == [["epoch", "eval/acc", "eval/loss"]]
    assert run.rows[0]["epoch"] == 0


# ---------------------------------------------------------------- Paddle's own callbacks
def test_paddles_callbacks_log_the_same_tags_steps_and_rows(fake_visualdl, fake_wandb):
    paddle = pytest.importorskip("paddle", reason="Paddle is not installed")
    x, y = DATA.tensors[0].numpy(), DATA.tensors[1].numpy().astype("int64")[:, None]

    class Data(paddle.io.Dataset):
        def __getitem__(self, i):
            return x[i], y[i]

        def __len__(self):
            return len(x)

    net = paddle.nn.Linear(6, 3)
    model = paddle.Model(net)
    model.prepare(paddle.optimizer.SGD(0.1, parameters=net.parameters()),
                  paddle.nn.CrossEntropyLoss(), paddle.metric.Accuracy())  # fmt: skip
    model.fit(Data(), Data(), batch_size=8, epochs=2, log_freq=1, verbose=0,
              callbacks=[paddle.callbacks.VisualDL("vdl"),
                         paddle.callbacks.WandbCallback(project="p")])  # fmt: skip
    model.evaluate(Data(), batch_size=8, verbose=0, callbacks=[paddle.callbacks.VisualDL("vdl")])
    paddle_writer, paddle_eval_writer = fake_visualdl.writers
    (paddle_run,) = fake_wandb.runs
    fake_visualdl.writers.clear()
    fake_wandb.runs.clear()

    _fit(VisualDL("vdl"), WandbCallback(project="p"))
    _model().evaluate(DATA, batch_size=8, verbose=0, callbacks=[VisualDL("vdl")])
    writer, eval_writer = fake_visualdl.writers
    (run,) = fake_wandb.runs
    # VisualDL: the same tags at the same steps, in the same order; closed at the end
    for ours, theirs in ((writer, paddle_writer), (eval_writer, paddle_eval_writer)):
        assert [(t, s) for t, s, _ in ours.scalars] == [(t, s) for t, s, _ in theirs.scalars]
        assert ours.closed and theirs.closed
    # W&B: the same init arguments, metric definitions, rows (keys and x values); finished
    assert run.kwargs == paddle_run.kwargs and run.metrics == paddle_run.metrics

    def shape(rows):
        train, evals = _split_rows(rows)
        return {s: sorted(r) for s, r in train.items()}, {e: sorted(r) for e, r in evals.items()}

    assert shape(run.rows) == shape(paddle_run.rows)
    assert run.finished and paddle_run.finished


# ---------------------------------------------------------------- with the real packages
def test_a_fit_is_read_back_with_visualdls_log_reader(tmp_path):
    visualdl = pytest.importorskip("visualdl", reason="the visualdl extra is not installed")
    recorder = _fit(VisualDL(str(tmp_path / "vdl")))
    (path,) = (tmp_path / "vdl").glob("vdlrecords.*.log")
    reader = visualdl.LogReader(file_path=str(path))
    tags = reader.get_tags()["scalar"]
    assert sorted(tags) == ["eval/acc", "eval/loss", "train/acc", "train/loss"]
    logged = _by_step([(t, r.id, r.value) for t in tags for r in reader.get_data("scalar", t)])
    for mode, expected in (("train", recorder.train), ("eval", recorder.evals)):
        assert sorted(logged[mode]) == list(expected)  # steps 1..8; epochs 0, 1
        for step, values in expected.items():
            assert logged[mode][step] == pytest.approx(values, rel=1e-6)  # stored as float32


def _wandb_records(path):
    """The records of a wandb run file: a LevelDB-style log (7-byte header, 32 KiB blocks of
    ``<crc32 u32, length u16, kind u8, data>`` chunks) of protobuf ``Record`` messages."""
    from wandb.proto import wandb_internal_pb2

    data, records, pending = Path(path).read_bytes(), [], b""
    pos, block = 7, 32768
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST: a record is complete
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def test_an_offline_wandb_run_is_read_back_from_its_file(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb", reason="the wandb extra is not installed")
    # offline, quiet, and nothing written outside tmp_path
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONSOLE": "off",
           "WANDB_DISABLE_GIT": "true", "WANDB_DISABLE_CODE": "true"}  # fmt: skip
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        env[name] = str(tmp_path / name.lower())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # wandb's own
        recorder = _fit(WandbCallback(project="resvision-test", dir=str(tmp_path)))
    wandb.teardown()  # waits for wandb's service process to finish writing the run file
    (path,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    records = _wandb_records(path)
    by_kind = {}
    for r in records:
        by_kind.setdefault(r.WhichOneof("record_type"), []).append(r)
    assert "exit" in by_kind  # the run was finished
    defined = {
        (m.metric.name or m.metric.glob_name, m.metric.step_metric) for m in by_kind["metric"]
    }
    assert {("train/*", "train/step"), ("eval/*", "epoch")} <= defined
    rows = []
    for r in by_kind["history"]:
        row = {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item}
        rows.append({k: v for k, v in row.items() if not k.startswith("_")})
    assert _split_rows(rows) == (recorder.train, recorder.evals) and len(rows) == 8 + 2
