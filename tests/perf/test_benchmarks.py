"""The benchmark runner's plumbing (no timing assertions: speed is measured, not tested)."""

from __future__ import annotations

import json

import pytest

from benchmarks import run as bench_run
from benchmarks.common import Result, format_markdown, format_table, interleaved_rounds


def test_table_shows_values_ratios_and_skips() -> None:
    rows = [
        Result("training", "m fp32", 100.0, "images/s", ratio=1.0, baseline="fp32"),
        Result("training", "m bf16", 150.0, "images/s", ratio=1.5, baseline="fp32", peak_frac=0.5),
        Result("peers", "paddle", None, "", note="skipped: not installed"),
    ]
    text = format_table(rows)
    assert "1.50x" in text and "50%" in text and "skipped: not installed" in text
    assert "| m bf16 | 150 images/s | 1.50x vs fp32 | 50% |" in format_markdown(rows)


def test_interleaved_rounds_counts_images() -> None:
    import torch

    calls = []
    speeds = interleaved_rounds(
        {"a": lambda: calls.append("a") or 10, "b": lambda: calls.append("b") or 20},
        rounds=2,
        device=torch.device("cpu"),
    )
    assert calls == ["a", "b", "a", "b"]
    assert speeds["a"]["rounds"] == 2 and speeds["b"]["best"] > 0


def test_runner_writes_json_and_survives_a_failing_section(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    def fake(section, args, *rest):
        if section == "inference":
            raise RuntimeError("boom")
        return [Result(section, "x", 1.0, "GFLOP/s")]

    monkeypatch.setattr(bench_run, "_run_section", fake)
    assert bench_run.main(["--only", "roofline,inference", "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*.json")
    payload = json.loads(path.read_text())
    assert payload["complete"] is True
    notes = [r["note"] for r in payload["results"]]
    assert notes[0] == "" and "failed: RuntimeError: boom" in notes[1]
    assert "python -m benchmarks --only roofline,inference" in payload["machine"]["command"]


def test_runner_rejects_unknown_sections() -> None:
    with pytest.raises(SystemExit):
        bench_run.main(["--only", "nope"])


def test_time_to_accuracy_trains_with_the_presets_fit_arguments(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The benchmark's run is the CLI's: MixUp/CutMix switched on in the preset reach every batch
    (an earlier version passed only batch, epochs and accumulation to fit, dropping the mixing).
    The v2 preset ships them off since its tuning (issue #19), so the run switches them on with
    the values its config header gives."""
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from benchmarks.time_to_accuracy import train_recipe
    from resvision.data.mixing import Mixup

    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("val", 2)):
        for cls in ("cat", "dog", "ship"):
            folder = tmp_path / "data" / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    mixed = []
    real_call = Mixup.__call__

    def spy(self, images, labels, rng, num_classes=None):
        mixed.append(len(images))
        return real_call(self, images, labels, rng, num_classes)

    monkeypatch.setattr(Mixup, "__call__", spy)
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    sets = ("train.batch_size=8", "train.accumulate_grad_batches=1", "train.amp=off",
            "data.mixup_alpha=0.2", "data.cutmix_alpha=1.0")  # fmt: skip
    run = train_recipe(Path(tmp_path / "data"), 2, overrides=sets, curve=False,
                       preset="cifar10_v2")  # fmt: skip
    assert run["preset"] == "cifar10_v2" and run["eval_split"] == "val"
    assert mixed == [8, 8, 8] * 2  # 24 training images, batches of 8, two epochs
    assert 0.0 <= run["test_acc_tta"] <= 1.0 and run["eval_images"] == 6
