"""One class list per run: val/ (and eval's data) is matched to the training classes by name, so
a split missing a class keeps every other label right, and a class the network never saw is
refused at start-up, naming it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "crash_trials.py"


def _build_folder(root: Path) -> Path:
    """train/ and val/ with the sample's first 3 classes: airplane, automobile, bird."""
    spec = importlib.util.spec_from_file_location("crash_trials_classes", _HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.build_folder(root, classes=3, train=8, val=4)


@pytest.fixture
def run_cli(tmp_path):
    env = dict(os.environ, RESVISION_NUM_THREADS="1", RESVISION_CACHE=str(tmp_path / "cache"))
    env.pop("RESVISION_MAX_STEPS", None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "resvision", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=180)  # fmt: skip

    return run


def _train(run_cli, data: Path, out: str) -> subprocess.CompletedProcess:
    return run_cli("train", "--data", str(data), "--model", "resnet20", "--max-steps", "1",
                   "--output", out, "--set", "output.report=false")  # fmt: skip


def test_a_val_split_missing_a_class_keeps_the_labels_of_the_others(run_cli, tmp_path):
    data = _build_folder(tmp_path / "pets")
    shutil.rmtree(data / "val" / "airplane")  # val/ has automobile and bird only
    proc = _train(run_cli, data, "run")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert result["classes"] == ["airplane", "automobile", "bird"]
    # automobile and bird keep labels 1 and 2 (separate lists made them 0 and 1)
    assert result["per_class_count"] == [0, 4, 4]
    assert result["classes_without_samples"] == ["airplane"]
    again = run_cli("eval", "--checkpoint", "run", "--json")  # classes from the checkpoint
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["per_class_count"] == [0, 4, 4]


def test_a_val_class_absent_from_train_is_refused_naming_it(run_cli, tmp_path):
    data = _build_folder(tmp_path / "pets")
    shutil.copytree(data / "val" / "bird", data / "val" / "zebra")
    proc = _train(run_cli, data, "run")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "zebra" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "checkpoints").exists() or not any(
        (tmp_path / "run" / "checkpoints").glob("*.pt")
    )


def test_eval_on_data_with_a_class_the_network_never_saw_is_refused(run_cli, tmp_path):
    data = _build_folder(tmp_path / "pets")
    assert _train(run_cli, data, "run").returncode == 0
    other = tmp_path / "other"
    shutil.copytree(data, other)
    (other / "val" / "bird").rename(other / "val" / "cat")
    proc = run_cli("eval", "--checkpoint", "run", "--data", str(other), "--split", "val")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cat" in proc.stderr and "Traceback" not in proc.stderr
