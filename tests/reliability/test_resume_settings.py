"""Resuming with other settings: refused before anything changes when the run could not
continue as itself (another network, other batches, other classes, another recipe), applied and
listed when harmless (how long, how often), warned about when suspicious (other data of the
same size). Every checkpoint carries the run's identity (``resvision.engine.identity``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from resvision.engine.checkpoint import load_checkpoint
from resvision.engine.identity import RESUME_RULES, ResumeMismatchError
from resvision.engine.model import Model

_G = torch.Generator().manual_seed(0)
TRAIN = TensorDataset(
    torch.randn(16, 3, 4, 4, generator=_G), torch.randint(0, 3, (16,), generator=_G)
)


def _model(classes: int = 3, width: int = 4) -> Model:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.Flatten(), nn.Linear(16 * width, classes)
    )
    net.num_classes = classes
    model = Model(net, device="cpu")
    model.prepare(torch.optim.SGD(net.parameters(), lr=0.1), nn.CrossEntropyLoss())
    return model


def _fit(model: Model, folder: Path, data=TRAIN, **kw) -> None:
    kw.setdefault("epochs", 1)
    kw.setdefault("verbose", 0)
    model.fit(data, batch_size=8, save_dir=folder, **kw)


def test_every_checkpoint_carries_the_run_identity(tmp_path):
    _fit(_model(), tmp_path, save_steps=1)
    for name in ("last", "0", "final"):
        ident = load_checkpoint(tmp_path / name)["identity"]
        assert ident["version"] == 1 and ident["num_classes"] == 3
        assert ident["data_size"] == 16 and ident["data_source"] == "TensorDataset"
        assert len(ident["data_fingerprint"]) == 32


def test_another_network_is_refused_naming_the_layers_not_a_traceback(tmp_path):
    _fit(_model(), tmp_path)
    with pytest.raises(ResumeMismatchError, match=r"network: 0\.weight: shape \[4, 3, 3, 3\] in "
                       r"the checkpoint, \[5, 3, 3, 3\] here"):  # fmt: skip
        _fit(_model(width=5), tmp_path, epochs=2, resume="auto")


def test_other_classes_are_refused(tmp_path):
    _fit(_model(), tmp_path)
    with pytest.raises(ResumeMismatchError, match=r"identity\.num_classes: 3 in the checkpoint, 4"):
        _fit(_model(classes=4), tmp_path, epochs=2, resume="auto")


def test_other_data_of_the_same_size_is_warned_about_and_more_epochs_are_applied(tmp_path, capsys):
    _fit(_model(), tmp_path)
    other = TensorDataset(TRAIN.tensors[0] + 1, TRAIN.tensors[1])
    with pytest.warns(UserWarning, match="identity.data_fingerprint"):
        _fit(_model(), tmp_path, data=other, epochs=2, resume="auto", verbose=1)
    assert "fit.epochs: 1 in the checkpoint, 2 now" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "final")["progress"]["epoch"] == 2


def test_a_checkpoint_without_identity_still_resumes(tmp_path):
    _fit(_model(), tmp_path)
    old = load_checkpoint(tmp_path / "final")
    assert old["version"] == 2
    del old["identity"]  # format version 1: written before the identity existed
    old["version"] = 1
    torch.save(old, tmp_path / "final.pt")
    _fit(_model(), tmp_path, epochs=2, resume="auto")
    assert load_checkpoint(tmp_path / "final")["progress"]["epoch"] == 2


def test_a_checkpoint_of_a_newer_format_is_refused_clearly(tmp_path):
    _fit(_model(), tmp_path)
    newer = load_checkpoint(tmp_path / "final")
    newer["version"] = 99
    torch.save(newer, tmp_path / "final.pt")
    with pytest.raises(ValueError, match="format version 99; this resvision reads versions 1 to 2"):
        _fit(_model(), tmp_path, epochs=2, resume="auto")


def test_every_rule_is_one_of_refuse_apply_warn():
    assert set(RESUME_RULES.values()) == {"refuse", "apply", "warn"}
    assert RESUME_RULES["fit.batch_size"] == "refuse" and RESUME_RULES["fit.epochs"] == "apply"


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """A 2-step command-line run; returns (work folder, environment)."""
    work = tmp_path_factory.mktemp("resume-settings")
    env = dict(os.environ, RESVISION_NUM_THREADS="1", RESVISION_CACHE=str(work / "cache"))
    env.pop("RESVISION_MAX_STEPS", None)
    proc = _cli(work, env, "--max-steps", "2", "--output", "run", "--set", "output.report=false")
    assert proc.returncode == 0, proc.stderr
    return work, env


def _cli(cwd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "resvision", "train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--batch-size", "32"], ["fit.batch_size: 64 in the checkpoint, 32 now"]),
        (["--model", "resnet32"], ["identity.model: 'resnet20' in the checkpoint, 'resnet32'"]),
        (["--lr", "0.2"], ["identity.recipe.optim.lr: 0.05 in the checkpoint, 0.2 now"]),
    ],
)
def test_command_line_resume_with_other_settings_exits_2_and_changes_nothing(cli_run, tmp_path,
                                                                               flags, named):  # fmt: skip
    work, env = cli_run
    run = tmp_path / "run"
    shutil.copytree(work / "run", run)
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    proc = _cli(tmp_path, env, "--resume", "run", "--max-steps", "3", *flags)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "resvision train --resume run" in proc.stderr
    for text in named:
        assert text in proc.stderr
    after = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert after == before  # config.yaml, env.json, checkpoints, metrics: untouched
    again = _cli(
        tmp_path, env, "--resume", "run", "--max-steps", "3", "--set", "output.report=false"
    )
    assert again.returncode == 0, again.stderr  # the printed command resumes as it was
    assert "fit.num_iters: 2 in the checkpoint, 3 now" in again.stdout
    assert load_checkpoint(run / "checkpoints" / "final")["progress"]["global_step"] == 3
