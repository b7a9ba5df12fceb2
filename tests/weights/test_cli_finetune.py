"""Through the command line: a sample-trained checkpoint fine-tuned to a 2-class folder (frozen
backbone for an epoch), exported to ONNX, and used by ``predict --model --pretrained``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "RESVISION_NUM_THREADS": "1", "RESVISION_CACHE": str(cwd / "cache")}
    environ.pop("RESVISION_MAX_STEPS", None)
    environ.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "resvision", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"resvision {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def two_class_folder(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("val", 2)):
        for label, name in enumerate(("cat", "dog")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 128, (32, 32, 3)) + 127 * label
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")


def backbone(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, weights_only=True)["model"]
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fine_tune_a_sample_checkpoint_to_two_classes_then_export(tmp_path: Path) -> None:
    run("train", "--output", "sample", cwd=tmp_path, RESVISION_MAX_STEPS="2")
    source = tmp_path / "sample" / "checkpoints" / "final.pt"
    two_class_folder(tmp_path / "two")

    proc = run(
        "train", "--data", "two", "--pretrained", str(source), "--epochs", "2",
        "--batch-size", "4", "--freeze-backbone", "--unfreeze-epoch", "1", "--output", "ft",
        cwd=tmp_path,
    )  # fmt: skip
    assert "classifier re-initialised for 2 classes (skipped keys: fc.bias, fc.weight)" in (
        proc.stdout
    )
    assert "FreezeBackbone: epoch 1: the whole network trains" in proc.stdout
    checkpoints = tmp_path / "ft" / "checkpoints"
    before, frozen, after = (
        backbone(source),
        backbone(checkpoints / "0.pt"),
        backbone(checkpoints / "final.pt"),
    )
    assert all(torch.equal(before[k], frozen[k]) for k in before)  # epoch 0: linear probing
    assert not all(torch.equal(before[k], after[k]) for k in before)  # epoch 1: everything
    head = torch.load(checkpoints / "final.pt", weights_only=True)["model"]["fc.weight"]
    assert head.shape == (2, 64)

    proc = run("export", "ft", "--format", "onnx", cwd=tmp_path)  # the run's best checkpoint
    assert "max |diff| vs PyTorch" in proc.stdout and (tmp_path / "ft" / "best.onnx").is_file()

    image = tmp_path / "two" / "val" / "dog" / "0.png"
    proc = run(
        "predict", "--model", "resnet20", "--pretrained", str(checkpoints / "final.pt"),
        str(image), "--json", cwd=tmp_path,
    )  # fmt: skip
    result = json.loads(proc.stdout)["results"][0]
    assert {p["class"] for p in result["predictions"]} == {"cat", "dog"}
