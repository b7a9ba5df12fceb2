"""What would fail late, or take the machine down, is refused at start-up in one line (exit 2):
sizes past their caps or past the device's memory, a single class, an ``--output`` that is a
file, configs nested thousands of levels deep. Messages after a stop name the checkpoints that
are really there; ``eval`` evaluates on the split the run used."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resvision.recipe.runs import interrupted_message

_HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "crash_trials.py"


def _build_folder(root: Path, classes: int) -> Path:
    spec = importlib.util.spec_from_file_location("crash_trials_folder", _HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.build_folder(root, classes=classes, train=8, val=4)


@pytest.fixture
def run_cli(tmp_path):
    env = dict(os.environ, RESVISION_NUM_THREADS="1", RESVISION_CACHE=str(tmp_path / "cache"))
    env.pop("RESVISION_MAX_STEPS", None)

    def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "resvision", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip

    return run


def _one_line_error(proc: subprocess.CompletedProcess, *phrases: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("resvision: error: ")
    for phrase in phrases:
        assert phrase in proc.stderr, proc.stderr


def test_an_image_size_past_its_cap_is_refused(run_cli, tmp_path):
    _one_line_error(run_cli("train", "--image-size", "100000", "--output", "run"),
                    "data.image_size must be in [1, 4096], got 100000")  # fmt: skip
    assert not (tmp_path / "run").exists()


def test_a_batch_that_cannot_fit_in_memory_is_refused_before_allocating(run_cli, tmp_path):
    proc = run_cli("train", "--image-size", "4000", "--batch-size", "1024", "--output", "run")
    _one_line_error(proc, "a batch of 1024 images of 3x4000x4000 needs at least 732.4 GiB",
                    "use a batch size of at most")  # fmt: skip
    assert not (tmp_path / "run").exists()


def test_a_data_set_with_one_class_is_refused_at_start_up(run_cli, tmp_path):
    data = _build_folder(tmp_path / "one", classes=1)
    proc = run_cli("train", "--data", str(data), "--output", "run")
    _one_line_error(proc, "has 1 class (airplane)", "at least 2 classes")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("output", ["a-file", "/dev/null"])
def test_an_output_that_is_a_file_is_refused(run_cli, tmp_path, output):
    (tmp_path / "a-file").write_text("not a folder")
    _one_line_error(run_cli("train", "--max-steps", "1", "--output", output),
                    f"--output {output!r} exists and is not a folder")  # fmt: skip


def test_configs_nested_thousands_of_levels_deep_are_refused(run_cli, tmp_path):
    (tmp_path / "deep.yaml").write_text("train:\n  epochs: " + "[" * 5000 + "]" * 5000 + "\n")
    _one_line_error(run_cli("train", "--config", "deep.yaml"), "'deep.yaml' is nested too deeply")
    (tmp_path / "deeper.yaml").write_text("train:\n  epochs: " + "[" * 100 + "]" * 100 + "\n")
    _one_line_error(run_cli("train", "--config", "deeper.yaml"), "nested more than 16 levels")
    _one_line_error(run_cli("train", "--set", "train.epochs=" + "{a: " * 3000 + "1" + "}" * 3000),
                    "--set train.epochs: the value is nested too deeply")  # fmt: skip


def _checkpoint(path: Path, step: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "resvision.checkpoint", "progress": {"epoch": 0, "batch": step,
                "global_step": step}, "meta": {"saved_at": step}}, path)  # fmt: skip


def test_the_stop_message_names_the_checkpoint_that_is_there(tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    assert "nothing was saved" in interrupted_message(tmp_path / "run", ckpts)
    _checkpoint(ckpts / "0.pt", 3)  # an epoch's checkpoint, no last.pt (no --save-steps)
    text = interrupted_message(tmp_path / "run", ckpts)
    assert f"a resumable checkpoint is in {ckpts / '0.pt'} (global step 3)" in text
    assert "resvision train --resume" in text
    _checkpoint(ckpts / "final.pt", 5)  # stopped during the final evaluation
    text = interrupted_message(tmp_path / "run", ckpts)
    assert "interrupted after training finished" in text and "final.pt" in text
    assert "resvision eval --checkpoint" in text


def test_eval_of_a_folder_run_uses_the_split_it_was_evaluated_on(run_cli, tmp_path):
    data = _build_folder(tmp_path / "pets", classes=3)  # train/ and val/, no test/
    trained = run_cli("train", "--data", str(data), "--model", "resnet20", "--max-steps", "1",
                      "--output", "run", "--set", "output.report=false")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    proc = run_cli("eval", "--checkpoint", "run", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["split"] == "val" and result["num_samples"] == 12
