"""``benchmarks/gpu.sh`` on a machine without CUDA: it refuses to run (exit 2) instead of
measuring the CPU, says where data is looked for, and its CPU smoke test (``GPU_SH_TINY=1``)
writes its JSON and leaves no temporary folder or cache behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu.sh"


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "tmp").mkdir(exist_ok=True)
    full = {**os.environ, "PYTHON": sys.executable, "TMPDIR": str(tmp_path / "tmp"), **env}
    full.pop("RESVISION_CACHE", None)
    return subprocess.run(["bash", str(SCRIPT), *args], env=full, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="this machine has CUDA: the script would run"
)
def test_without_cuda_it_refuses_to_run(tmp_path):
    proc = _run(tmp_path, "--data", str(tmp_path))
    assert proc.returncode == 2
    assert "no CUDA device visible" in proc.stderr and "GPU_SH_TINY=1" in proc.stderr


def test_missing_data_is_named_with_how_to_give_it(tmp_path):
    proc = _run(tmp_path, "--data", str(tmp_path / "nowhere"), GPU_SH_TINY="1")
    assert proc.returncode == 2
    assert f"no CIFAR-10 (JPEG) found at {tmp_path / 'nowhere'}" in proc.stderr
    assert "--data" in proc.stderr and "CIFAR_DATA" in proc.stderr


def test_the_cpu_smoke_test_writes_its_json_and_cleans_up(tmp_path):
    data = tmp_path / "cifar"
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in ("cat", "dog"):
            (data / split / c).mkdir(parents=True)
            for i in range(4):
                image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(image).save(data / split / c / f"{i}.png")
    out = tmp_path / "out"
    proc = _run(tmp_path, "--data", str(data), GPU_SH_TINY="1", OUT=str(out))
    assert proc.returncode == 0, proc.stderr
    assert "run 1: setup" in proc.stderr  # per-run progress is shown
    (result,) = out.glob("gpu-*.json")
    parts = json.loads(result.read_text())
    assert parts["recipe"]["runs"] == 1 and "mean_setup_s" in parts["recipe"]
    assert parts["resnet50_throughput"]["fit(auto)"]["rounds"] == 1
    # the script's mktemp folder (extraction and resvision's cache) is gone; torch may keep
    # its own compiler cache there
    assert [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith("tmp.")] == []
