"""``resvision train/eval/predict/export --model googlenet``: a network with auxiliary outputs.

Paddle's GoogLeNet returns ``(out, aux1, aux2)`` in training and in evaluation. The command line
trains it on the weighted losses of the three and evaluates, predicts and exports its main
output. Its auxiliary classifiers need 189-236 px with pooling, hence ``--image-size 192``.

The CI test runs the commands in this process on a six-image folder (a few seconds); the run on
the embedded CIFAR-10 sample (1000 evaluation images at 192 px, about a minute on two cores) is
marked slow.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from resvision.cli.main import main
from resvision.models import create_model

CLASSES = ["cat", "dog"]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _folder(root: Path) -> Path:
    """train/ and val/ with three 12x12 images per class (the crop makes them 192 px)."""
    for split in ("train", "val"):
        for label, cls in enumerate(CLASSES):
            folder = root / "pets" / split / cls
            folder.mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (12, 12), (200 * label, 50 * i, 90)).save(folder / f"{i}.png")
    return root / "pets"


def test_googlenet_trains_evaluates_and_predicts_from_the_command_line(tmp_path: Path) -> None:
    pets = _folder(tmp_path)
    run = tmp_path / "run"
    code, out, err = run_cli(
        ["train", "--data", str(pets), "--model", "googlenet", "--image-size", "192",
         "--max-steps", "2", "--batch-size", "3", "--lr", "0.001", "--device", "cpu",
         "--output", str(run)]
    )  # fmt: skip
    assert code == 0, out + err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    (epoch_end,) = [r for r in rows if r["event"] == "epoch_end"]  # two steps of three images
    assert epoch_end["global_step"] == 2 and "loss" in epoch_end and "eval_acc" in epoch_end

    # The final evaluation classified the six images over the two classes (the main output).
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["classes"] == CLASSES and evaluation["num_samples"] == 6
    assert sum(map(sum, evaluation["confusion_matrix"])) == 6

    # The checkpoint holds Paddle's GoogLeNet with its auxiliary classifiers, for two classes.
    state = torch.load(run / "checkpoints" / "final.pt", weights_only=True)["model"]
    assert state["_out1.weight"].shape == (2, 1024) and state["_fc_out.weight"].shape == (2, 1024)
    assert set(state) == set(create_model("googlenet", num_classes=2).state_dict())

    code, out, err = run_cli(["eval", "--checkpoint", str(run), "--json", "--device", "cpu"])
    assert code == 0, err
    again = json.loads(out)
    assert again["confusion_matrix"] == evaluation["confusion_matrix"]
    assert again["acc_top1"] == pytest.approx(evaluation["acc_top1"])

    images = sorted((pets / "val").rglob("*.png"))
    code, out, err = run_cli(
        ["predict", "--checkpoint", str(run), *map(str, images), "--json", "--device", "cpu"]
    )
    assert code == 0, err
    results = json.loads(out)["results"]
    assert len(results) == 6
    for r in results:
        probs = [p["probability"] for p in r["predictions"]]
        assert {p["class"] for p in r["predictions"]} == set(CLASSES)
        assert sum(probs) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.slow  # about a minute on two cores: two passes over 1000 images at 192 px
def test_googlenet_on_the_embedded_sample(cli, sample_images, tmp_path: Path) -> None:
    proc = cli(
        "train", "--model", "googlenet", "--image-size", "192", "--lr", "0.001", "--output", "run",
        cwd=tmp_path, timeout=600, RESVISION_MAX_STEPS="2",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = tmp_path / "run"
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["num_samples"] == 1000 and len(evaluation["classes"]) == 10
    assert sum(map(sum, evaluation["confusion_matrix"])) == 1000

    pred = cli(
        "predict", "--checkpoint", str(run), str(sample_images), "--json", "--topk", "10",
        cwd=tmp_path,
    )  # fmt: skip
    assert pred.returncode == 0, pred.stderr
    results = json.loads(pred.stdout)["results"]
    assert len(results) == 4
    for r in results:  # ten probabilities: the main classifier's softmax
        probs = [p["probability"] for p in r["predictions"]]
        assert len(probs) == 10 and sum(probs) == pytest.approx(1.0, abs=1e-5)

    exported = cli("export", str(run), "--format", "torchscript", "--output", "g.pt", cwd=tmp_path)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    module = torch.jit.load(str(tmp_path / "g.pt"))
    with torch.no_grad():
        logits = module(torch.randn(2, 3, 192, 192))
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 10)  # the main output alone
