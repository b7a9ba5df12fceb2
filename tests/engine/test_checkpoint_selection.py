"""ModelCheckpoint's Lightning options: the k best checkpoints by a monitored evaluation value.

The ranking rules run on a hand-written loop whose model writes a small file per save (its
content names the epoch, so a copy can be traced to its origin); the engine's side (what is
written, by which writer, what a resumed run continues) runs through ``Model.fit`` on a tiny
network, with the evaluation value scripted per epoch so that the ranking is known in advance.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from resume_proof import BatchTrace, assert_ran_only_the_rest, assert_same_end_state, resume_point
from torch import nn
from torch.utils.data import TensorDataset

import resvision.engine.model as model_module
from resvision.callbacks import Callback, CallbackList, ModelCheckpoint
from resvision.engine.checkpoint import checkpoint_differences, load_checkpoint
from resvision.engine.model import Model
from resvision.metrics import Accuracy

SCORES = [0.5, 0.7, 0.2, 0.9, 0.6]  # per epoch; with save_top_k=2 the best are epochs 3 and 1
EPOCHS, BATCHES = len(SCORES), 5  # 40 samples, batch size 8


def best_name(epoch: int, value: float, monitor: str = "score") -> str:
    return f"best-epoch={epoch:03d}-{monitor}={value:.4f}.pt"


def best_files(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("best*.pt")}


# -- the ranking, on a hand-written loop ------------------------------------------------------
class FileModel:
    """What ModelCheckpoint sees of resvision.Model: ``save(path)`` writes ``path.pt``, whose
    text names the epoch it was saved at."""

    def __init__(self) -> None:
        self.epoch = -1

    def save(self, path: str) -> None:
        Path(f"{path}.pt").write_text(f"epoch {self.epoch}")


def drive(
    cb: ModelCheckpoint, values, *, metrics=("loss", "score"), verbose=0, start=0, model=None
):
    """on_train_begin, then per epoch an evaluation logging ``values[epoch]`` under every name
    of ``metrics``, then the end; from epoch ``start`` on (a resumed run)."""
    model = model or FileModel()
    cbks = CallbackList([cb])
    cbks.set_model(model)
    cbks.set_params({"epochs": len(values), "metrics": list(metrics), "verbose": verbose})
    cbks.on_train_begin({})
    for epoch in range(start, len(values)):
        model.epoch = epoch
        cbks.on_epoch_begin(epoch, {})
        cbks.on_eval_begin({"steps": 1, "metrics": list(metrics)})
        cbks.on_eval_end({name: values[epoch] for name in metrics})
        cbks.on_epoch_end(epoch, {})
    cbks.on_train_end({})
    return model


def test_keeps_the_k_best_named_with_epoch_and_value_and_a_copy_of_the_best(tmp_path):
    cb = ModelCheckpoint(save_dir=tmp_path, monitor="score", mode="max", save_top_k=2)
    drive(cb, SCORES)
    assert best_files(tmp_path) == {best_name(3, 0.9), best_name(1, 0.7), "best.pt"}
    assert (tmp_path / "best.pt").read_text() == "epoch 3"
    assert (tmp_path / best_name(1, 0.7)).read_text() == "epoch 1"
    # Paddle's files are still there: every epoch (save_freq=1) and final
    assert {p.name for p in tmp_path.glob("[0-9]*.pt")} == {f"{e}.pt" for e in range(EPOCHS)}
    assert (tmp_path / "final.pt").exists()
    assert cb.best_k_models == {
        str(tmp_path / best_name(3, 0.9)): 0.9,
        str(tmp_path / best_name(1, 0.7)): 0.7,
    }
    assert cb.best_model_path == str(tmp_path / best_name(3, 0.9)) and cb.best_model_score == 0.9
    assert cb.state_dict() == {  # what every checkpoint carries, best first
        "monitor": "score",
        "mode": "max",
        "kept": [
            {"file": best_name(3, 0.9), "value": 0.9, "epoch": 3},
            {"file": best_name(1, 0.7), "value": 0.7, "epoch": 1},
        ],
    }


def test_mode_ties_and_keeping_all_or_none(tmp_path):
    losses = [1.0, 0.8, 0.8, 0.9]
    cb = ModelCheckpoint(save_dir=tmp_path / "two", monitor="loss", save_top_k=2)
    (tmp_path / "two").mkdir()
    drive(cb, losses, metrics=("loss",))
    assert cb.mode == "min"
    # a tie does not displace the earlier epoch; the worst (epoch 0) fell out
    assert best_files(tmp_path / "two") == {best_name(1, 0.8, "loss"), best_name(2, 0.8, "loss"),
                                            "best.pt"}  # fmt: skip
    assert (tmp_path / "two" / "best.pt").read_text() == "epoch 1"

    every = ModelCheckpoint(save_dir=tmp_path / "all", monitor="loss", mode="max", save_top_k=-1)
    (tmp_path / "all").mkdir()
    drive(every, losses, metrics=("loss",))
    assert len(best_files(tmp_path / "all")) == len(losses) + 1
    assert (tmp_path / "all" / "best.pt").read_text() == "epoch 0"  # mode='max' wins over auto
    assert [k.epoch for k in every._kept] == [0, 3, 1, 2]

    none = ModelCheckpoint(save_dir=tmp_path / "none", monitor="loss", save_top_k=0)
    (tmp_path / "none").mkdir()
    drive(none, losses, metrics=("loss",))
    assert best_files(tmp_path / "none") == set() and none.state_dict() == {}
    assert (tmp_path / "none" / "final.pt").exists()


def test_accuracy_is_ranked_highest_first(tmp_path):
    cb = ModelCheckpoint(save_dir=tmp_path, monitor="acc", save_top_k=2)
    drive(cb, SCORES, metrics=("loss", "acc"))
    assert cb.mode == "max"
    assert best_files(tmp_path) == {best_name(3, 0.9, "acc"), best_name(1, 0.7, "acc"), "best.pt"}
    assert (tmp_path / "best.pt").read_text() == "epoch 3"


@pytest.mark.parametrize(
    ("metrics", "monitor", "mode", "why"),
    [
        (("loss", "acc_top1", "acc_top5"), "acc_top1", "max", "the first metric"),
        (("loss", "acc"), "acc", "max", "the first metric"),
        (("loss",), "loss", "min", "the model has no metric"),
    ],
)
def test_the_default_monitor_is_the_first_metric_and_is_named_in_one_line(
    tmp_path, capsys, metrics, monitor, mode, why
):
    cb = ModelCheckpoint(save_dir=tmp_path)
    drive(cb, [0.3, 0.6], metrics=metrics, verbose=1)
    assert (cb.monitor, cb.mode) == (monitor, mode)
    lines = [line for line in capsys.readouterr().out.splitlines() if "ModelCheckpoint" in line]
    assert lines == [
        f"ModelCheckpoint: keeping the 3 best checkpoints by the evaluation's {monitor} ({why}), "
        f"{'higher' if mode == 'max' else 'lower'} is better, in {tmp_path} (best.pt is the best)"
    ]
    value = 0.6 if mode == "max" else 0.3
    assert (tmp_path / "best.pt").read_text() == f"epoch {[0.3, 0.6].index(value)}"


def test_without_evaluation_nothing_is_ranked_or_announced(tmp_path, capsys):
    cb = ModelCheckpoint(save_dir=tmp_path)
    cbks = CallbackList([cb])
    cbks.set_model(FileModel())
    cbks.set_params({"epochs": 2, "metrics": ["loss", "acc"], "verbose": 2})
    cbks.on_train_begin({})
    for epoch in range(2):
        cbks.on_epoch_begin(epoch, {})
        cbks.on_epoch_end(epoch, {"loss": 0.5, "acc": 0.9})  # training logs do not rank
    cbks.on_train_end({})
    assert best_files(tmp_path) == set() and cb.state_dict() == {}
    assert "ModelCheckpoint:" not in capsys.readouterr().out


def test_arguments_are_checked_and_named():
    with pytest.raises(ValueError, match=r"save_top_k must be an int >= -1.*got -2"):
        ModelCheckpoint(save_top_k=-2)
    with pytest.raises(ValueError, match="save_top_k"):
        ModelCheckpoint(save_top_k=True)
    with pytest.raises(ValueError, match="save_last must be True or False, got 1"):
        ModelCheckpoint(save_last=1)
    with pytest.raises(ValueError, match="monitor must be None or a logged name"):
        ModelCheckpoint(monitor="")
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max', got 'best'"):
        ModelCheckpoint(mode="best")
    with pytest.raises(TypeError):
        ModelCheckpoint(1, None, "acc")  # the Lightning options are keyword-only


def test_save_last_false_writes_no_final_checkpoint(tmp_path):
    drive(ModelCheckpoint(save_dir=tmp_path, monitor="score", save_last=False), SCORES[:2])
    assert not (tmp_path / "final.pt").exists() and (tmp_path / "best.pt").exists()


def test_only_the_main_process_writes_but_every_process_ranks(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    cb = ModelCheckpoint(save_dir=tmp_path, monitor="score", mode="max", save_top_k=2)
    drive(cb, SCORES)
    assert list(tmp_path.iterdir()) == []
    assert [k.epoch for k in cb._kept] == [3, 1]


def test_an_evaluation_after_an_epoch_cut_short_is_not_ranked(tmp_path):
    class Progress:
        epoch = 0  # the engine's progress stays on an epoch that stopped early

    class StoppedModel(FileModel):
        progress = Progress()

    drive(ModelCheckpoint(save_dir=tmp_path, monitor="score"), [0.5], model=StoppedModel())
    assert best_files(tmp_path) == set() and (tmp_path / "0.pt").exists()


def test_state_round_trip_before_fit_and_a_deleted_file_warns(tmp_path):
    first = ModelCheckpoint(save_dir=tmp_path, monitor="acc", save_top_k=2)
    drive(first, SCORES[:2], metrics=("loss", "acc"))
    state = first.state_dict()
    assert [k["epoch"] for k in state["kept"]] == [1, 0]
    (tmp_path / best_name(0, 0.5, "acc")).unlink()  # someone deleted a kept file

    again = ModelCheckpoint(save_dir=tmp_path, save_top_k=2)  # default monitor: acc
    again.load_state_dict(state)  # before fit: kept through on_train_begin
    with pytest.warns(UserWarning, match=r"missing from .*best-epoch=000-acc=0\.5000\.pt"):
        drive(again, SCORES, metrics=("loss", "acc"), start=2)
    # epoch 3 (0.9) pushed the deleted epoch 0 out; epoch 1 stayed: the ranking continued
    assert best_files(tmp_path) == {best_name(3, 0.9, "acc"), best_name(1, 0.7, "acc"), "best.pt"}
    assert (tmp_path / "best.pt").read_text() == "epoch 3"


def test_a_kept_file_deleted_during_the_run_is_warned_about_when_it_falls_out(tmp_path):
    cb = ModelCheckpoint(save_dir=tmp_path, monitor="acc", save_top_k=1)
    model = FileModel()
    cb.set_model(model)
    cb.on_train_begin()
    cb.on_eval_end({"acc": 0.5})
    cb.on_epoch_end(0)
    (tmp_path / best_name(0, 0.5, "acc")).unlink()  # someone deletes the kept file
    model.epoch = 1
    cb.on_eval_end({"acc": 0.7})
    with pytest.warns(UserWarning, match=r"=0\.5000\.pt, which fell out of the 1 best, was alre"):
        cb.on_epoch_end(1)
    assert best_files(tmp_path) == {best_name(1, 0.7, "acc"), "best.pt"}


def test_a_smaller_save_top_k_trims_a_resumed_ranking(tmp_path):
    first = ModelCheckpoint(save_dir=tmp_path, monitor="acc", save_top_k=3)
    drive(first, SCORES[:3], metrics=("loss", "acc"))
    smaller = ModelCheckpoint(save_dir=tmp_path, monitor="acc", save_top_k=1)
    smaller.load_state_dict(first.state_dict())
    drive(smaller, SCORES, metrics=("loss", "acc"), start=5)  # nothing left to train
    assert best_files(tmp_path) == {best_name(1, 0.7, "acc"), "best.pt"}
    assert [k["epoch"] for k in smaller.state_dict()["kept"]] == [1]


def test_a_state_ranked_by_another_value_is_not_taken_over(tmp_path):
    cb = ModelCheckpoint(save_dir=tmp_path, monitor="acc")
    state = {"monitor": "loss", "mode": "min", "kept": [{"file": "x.pt", "value": 0.1, "epoch": 0}]}
    cb.load_state_dict(state)
    with pytest.warns(UserWarning, match=r"ranked by loss \(min\), this run by acc \(max\)"):
        drive(cb, [0.4], metrics=("loss", "acc"))
    assert [k.file for k in cb._kept] == [best_name(0, 0.4, "acc")]


# -- through Model.fit ---------------------------------------------------------------------------
_G = torch.Generator().manual_seed(3)
TRAIN = TensorDataset(
    torch.randn(40, 3, 4, 4, generator=_G), torch.randint(0, 3, (40,), generator=_G)
)
EVAL = TensorDataset(
    torch.randn(12, 3, 4, 4, generator=_G), torch.randint(0, 3, (12,), generator=_G)
)


def _model(seed: int = 0) -> Model:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.2),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3),
    )  # fmt: skip
    model = Model(net, device="cpu")
    model.prepare(torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9), nn.CrossEntropyLoss(),
                  Accuracy())  # fmt: skip
    return model


class Score(Callback):
    """Adds ``score = SCORES[epoch]`` to the evaluation logs (before ModelCheckpoint reads them:
    the engine runs ModelCheckpoint after the other callbacks)."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_eval_end(self, logs=None):
        logs["score"] = SCORES[self.epoch]


class StopAfter(Callback):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.seen = n, 0

    def on_train_batch_end(self, step, logs=None):
        self.seen += 1
        if self.seen == self.n:
            self.model.stop_training = True


def _fit(model: Model, folder: Path, callbacks=(), **kw) -> None:
    kw.setdefault("epochs", EPOCHS)
    top2 = ModelCheckpoint(monitor="score", mode="max", save_top_k=2)
    model.fit(TRAIN, EVAL, batch_size=8, verbose=0, seed=5, save_dir=folder,
              callbacks=[Score(), *callbacks, top2], **kw)  # fmt: skip


def test_fit_keeps_the_best_by_the_first_metric_with_the_engines_writer(tmp_path, monkeypatch):
    written = []
    real = model_module.atomic_save

    def spy(obj, path):
        written.append(Path(path).name)
        return real(obj, path)

    monkeypatch.setattr(model_module, "atomic_save", spy)
    evaluations = []

    class Evaluations(Callback):
        def on_eval_end(self, logs=None):
            evaluations.append(logs["acc"])

    # The default ModelCheckpoint that fit adds: monitor = Accuracy's 'acc', mode max, top 3.
    _model().fit(TRAIN, EVAL, batch_size=8, epochs=4, verbose=0, seed=5, save_dir=tmp_path,
                 callbacks=[Evaluations()])  # fmt: skip
    final = load_checkpoint(tmp_path / "final.pt")
    kept = final["callbacks"]["ModelCheckpoint"]["kept"]
    order = sorted(range(4), key=lambda e: (-evaluations[e], e))[:3]  # ties: the earlier epoch
    assert [k["epoch"] for k in kept] == order
    assert [k["value"] for k in kept] == [evaluations[e] for e in order]
    names = {best_name(e, evaluations[e], "acc") for e in order}
    assert best_files(tmp_path) == names | {"best.pt"}
    # every file went through the engine's atomic writer; no temporary file is left
    assert names | {"best.pt"} <= set(written)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # a best checkpoint is the whole training checkpoint of its epoch: {epoch}.pt's content
    best_epoch = order[0]
    for name in (best_name(best_epoch, evaluations[best_epoch], "acc"), "best.pt"):
        diffs = checkpoint_differences(
            load_checkpoint(tmp_path / f"{best_epoch}.pt"), load_checkpoint(tmp_path / name)
        )
        assert diffs == [], name


def test_fit_does_not_rank_the_evaluation_of_a_stopped_epoch(tmp_path):
    _fit(_model(), tmp_path, num_iters=7)  # stops inside epoch 1, which is still evaluated
    assert best_files(tmp_path) == {best_name(0, 0.5), "best.pt"}
    assert [k["epoch"] for k in load_checkpoint(tmp_path / "final.pt")["callbacks"]
            ["ModelCheckpoint"]["kept"]] == [0]  # fmt: skip


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run's folder."""
    folder = tmp_path_factory.mktemp("reference")
    _fit(_model(), folder)
    assert best_files(folder) == {best_name(3, 0.9), best_name(1, 0.7), "best.pt"}
    return folder


@pytest.mark.resume
@pytest.mark.parametrize("stop_after", [7, 10])  # inside epoch 1; at the end of epoch 1
def test_a_resumed_run_continues_the_top_k_exactly(tmp_path, reference, stop_after):
    _fit(_model(), tmp_path, callbacks=[StopAfter(stop_after)])
    kept_before = {best_name(0, 0.5)} | ({best_name(1, 0.7)} if stop_after == 10 else set())
    assert best_files(tmp_path) == kept_before | {"best.pt"}

    start, trace = resume_point(tmp_path), BatchTrace()
    _fit(_model(seed=9), tmp_path, callbacks=[trace], resume="auto")
    assert_ran_only_the_rest(trace.batches, start, EPOCHS * BATCHES, BATCHES)
    # epoch 0's file, kept before the stop, was deleted by the resumed process when epoch 3
    # pushed it out: the files on disk are the uninterrupted run's
    assert best_files(tmp_path) == best_files(reference)
    assert_same_end_state(reference / "final.pt", tmp_path / "final.pt")  # the ranking included
    assert_same_end_state(reference / "best.pt", tmp_path / "best.pt")


def test_resuming_without_a_listed_file_warns_and_goes_on(tmp_path):
    _fit(_model(), tmp_path, callbacks=[StopAfter(10)])
    os.remove(tmp_path / best_name(0, 0.5))
    with pytest.warns(UserWarning, match=r"1 of the best checkpoints .* best-epoch=000-score="):
        _fit(_model(), tmp_path, resume="auto")
    assert best_files(tmp_path) == {best_name(3, 0.9), best_name(1, 0.7), "best.pt"}
