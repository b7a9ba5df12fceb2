"""report.html from a run folder's files, with and without matplotlib."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from resvision.recipe.config import Config, dump_yaml
from resvision.recipe.runfolder import write_json
from resvision.report import build_report, plots
from resvision.report.history import history_from_rows

CLASSES = ["cat", "dog", "frog"]


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "config.yaml").write_text(dump_yaml(Config()))
    rows = []
    for epoch in range(3):
        rows.append({"event": "train_batch", "epoch": epoch, "step": 9, "loss": 2.0 - epoch})
        rows.append(
            {"event": "epoch_end", "epoch": epoch, "loss": 1.5 - 0.2 * epoch, "acc": 0.3 + 0.1 * epoch,
             "eval_loss": 1.6 - 0.2 * epoch, "eval_acc": 0.25 + 0.1 * epoch, "lr": 0.1 / (epoch + 1)}
        )  # fmt: skip
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{cut")
    matrix = [[8, 1, 1], [2, 7, 1], [0, 0, 10]]
    write_json(
        tmp_path / "evaluation.json",
        {"loss": 0.9, "acc_top1": 25 / 30, "acc_top5": None, "classes": CLASSES,
         "confusion_matrix": matrix, "per_class_accuracy": [0.8, 0.7, 1.0],
         "per_class_count": [10, 10, 10], "num_samples": 30, "data": "toy", "split": "test"},
    )  # fmt: skip
    images = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    np.savez(
        tmp_path / "misclassified.npz", images=images, true=np.array([0, 1]),
        pred=np.array([1, 2]), prob=np.array([0.9, 0.6]), classes=np.array(CLASSES),
    )  # fmt: skip
    write_json(tmp_path / "env.json", {"command": ["resvision", "train"], "train_seconds": 75.0})
    return tmp_path


def test_report_embeds_plots_and_images(run_dir):
    page = build_report(run_dir).read_text()
    pngs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(pngs) == 3 + 2  # curves, confusion matrix, per-class bars; two thumbnails
    assert "http" not in page.replace("http-equiv", "")  # self-contained: nothing fetched
    assert "83.33%" in page  # top-1 card
    assert "frog 60%" in page and "true: dog" in page  # a misclassified caption
    assert "1 min 15 s" in page  # training time
    assert "resvision[plot]" not in page


def test_without_matplotlib_the_numbers_are_tables(run_dir, monkeypatch):
    monkeypatch.setattr(plots, "_figure", lambda *a: None)
    page = build_report(run_dir).read_text()
    assert 'class="plot"' not in page
    assert 'pip install "resvision[plot]"' in page
    assert "true \\ predicted" in page  # the confusion matrix as a table
    assert '<td class="l">frog</td><td class="">10</td><td class="">100.00%</td>' in page
    assert "train loss" in page and "eval acc" in page  # the per-epoch table


def test_history_reads_engine_rows_and_skips_a_cut_line(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()[:-1]]
    history = history_from_rows(rows)
    assert sorted(history.train) == [1.0, 2.0, 3.0]  # 0-based epochs shown from 1
    assert history.eval[3.0] == {"loss": pytest.approx(1.2), "acc": pytest.approx(0.45)}
    assert history.best_eval_acc() == (3.0, pytest.approx(0.45))
    assert history.lr[2.0] == pytest.approx(0.05)
    assert [s[0] for s in history.steps] == [9, 9, 9]


def test_report_of_an_empty_folder(tmp_path):
    page = build_report(tmp_path).read_text()
    assert "No metrics were logged" in page and "No final evaluation" in page
    with pytest.raises(FileNotFoundError):
        build_report(tmp_path / "missing")
