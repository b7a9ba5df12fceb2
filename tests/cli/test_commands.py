"""The command line end to end, through ``python -m resvision`` in subprocesses."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from resume_proof import (
    assert_ran_only_the_rest,
    assert_same_end_state,
    default_sigint_in_child,
    file_size,
    jsonl_batches,
)

import resvision
from resvision.models import create_model
from resvision.recipe.config import resolve

CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_train_without_arguments_makes_a_complete_run_folder(trained_run):
    for name in ("config.yaml", "env.json", "metrics.jsonl", "evaluation.json", "report.html"):
        assert (trained_run / name).is_file(), name
    # The resolved config is the default run, with the step limit taken from the environment.
    assert resolve(trained_run / "config.yaml") == resolve(flags={"train.max_steps": 3})
    env = json.loads((trained_run / "env.json").read_text())
    assert env["seed"] == 0 and env["versions"]["torch"] == torch.__version__
    assert env["train_seconds"] > 0 and "ended" in env
    rows = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    epoch_end = [r for r in rows if r["event"] == "epoch_end"]
    assert epoch_end and epoch_end[-1]["global_step"] == 3 and "eval_acc_top1" in epoch_end[-1]

    ckpt = trained_run / "checkpoints" / "final.pt"
    state = torch.load(ckpt, weights_only=True)
    assert state["progress"]["global_step"] == 3
    model = resvision.Model(create_model("resnet20", num_classes=10), device="cpu")
    model.load(ckpt)
    for key, value in model.network.state_dict().items():
        assert torch.equal(value, state["model"][key]), key

    evaluation = json.loads((trained_run / "evaluation.json").read_text())
    assert evaluation["num_samples"] == 1000 and evaluation["classes"] == CIFAR10
    assert sum(map(sum, evaluation["confusion_matrix"])) == 1000
    page = (trained_run / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3  # curves, confusion matrix, per-class
    assert "Misclassified test images" in page and "Confusion matrix" in page
    stdout = (trained_run / "train_stdout.txt").read_text()
    assert "report.html" in stdout and "resvision predict --checkpoint" in stdout


def test_predict_prints_topk_table_and_json(trained_run, sample_images, cli):
    table = cli("predict", "--checkpoint", str(trained_run), str(sample_images), cwd=sample_images)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["image", "top-1", "prob"] and len(lines) == 2 + 4
    as_json = cli(
        "predict", "--checkpoint", str(trained_run / "checkpoints" / "final.pt"),
        str(sample_images / "*.png"), "--json", "--topk", "5", cwd=sample_images,
    )  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    results = json.loads(as_json.stdout)["results"]
    assert len(results) == 4
    for r in results:
        probs = [p["probability"] for p in r["predictions"]]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
        assert all(p["class"] == CIFAR10[p["index"]] for p in r["predictions"])


def test_predict_skips_an_unreadable_file_and_says_so(trained_run, sample_images, tmp_path, cli):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    good = sorted(sample_images.glob("*.png"))[0]
    proc = cli("predict", "--checkpoint", str(trained_run), str(good), str(bad), cwd=tmp_path)
    assert proc.returncode == 1
    assert "skipped" in proc.stderr and "broken.jpg" in proc.stderr
    assert good.name in proc.stdout and "Traceback" not in proc.stderr


def test_eval_reproduces_the_final_evaluation(trained_run, tmp_path, cli):
    proc = cli("eval", "--checkpoint", str(trained_run), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    saved = json.loads((trained_run / "evaluation.json").read_text())
    assert result["num_samples"] == 1000
    assert result["confusion_matrix"] == saved["confusion_matrix"]
    assert result["acc_top1"] == pytest.approx(saved["acc_top1"])
    text = cli("eval", "--checkpoint", str(trained_run), cwd=tmp_path)
    assert text.returncode == 0 and "top-1" in text.stdout and "airplane" in text.stdout


# The run folder's own path is part of its saved command line; nothing else may differ.
_RUN_PATHS = ("callbacks.resvision.cli.RunInfo.config.output",)
_STEP_LOG = ("--set", "train.log_freq=1")  # one metrics.jsonl row per batch


def _reference_run(cli, cwd: Path, steps: int) -> Path:
    """An uninterrupted ``steps``-step run of the default recipe; its final.pt."""
    proc = cli("train", "--max-steps", str(steps), *_STEP_LOG, "--output", "ref", cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return cwd / "ref" / "checkpoints" / "final.pt"


@pytest.mark.resume
def test_resume_continues_from_the_saved_step(trained_run, tmp_path, cli):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    logged = file_size(run / "metrics.jsonl")
    proc = cli("train", "--resume", str(run), "--max-steps", "5", *_STEP_LOG, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # it trained steps 4 and 5 only, and ended where a 5-step run ends
    assert_ran_only_the_rest(jsonl_batches(run / "metrics.jsonl", logged), {"epoch": 0, "batch": 3},
                             5, 79)  # fmt: skip
    assert_same_end_state(
        _reference_run(cli, tmp_path, 5), run / "checkpoints" / "final.pt", ignore=_RUN_PATHS
    )
    assert resolve(run / "config.yaml").train.max_steps == 5


@pytest.mark.resume
def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(tmp_path, cli, cli_env):
    args = ["train", "--max-steps", "400", *_STEP_LOG, "--output", "run"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "resvision", *args],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint_in_child,  # Ctrl-C works even when pytest runs in background
    )
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and '"train_batch"' in metrics.read_text():
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "resvision train --resume run" in err and "Traceback" not in err
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    step = torch.load(last, weights_only=True)["progress"]["global_step"]
    assert 1 <= step < 79
    logged = file_size(metrics)
    resumed = cli("train", "--resume", "run", "--max-steps", str(step + 1), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert jsonl_batches(metrics, logged) == [(0, step)]  # the one step that was left
    assert_same_end_state(
        _reference_run(cli, tmp_path, step + 1),
        tmp_path / "run" / "checkpoints" / "final.pt",
        ignore=_RUN_PATHS,
    )


def test_inspection_commands(tmp_path, cli):
    models = cli("models", "resnet*", cwd=tmp_path)
    assert models.returncode == 0
    row = next(line.split() for line in models.stdout.splitlines() if line.startswith("resnet50 "))
    assert row[-2:] == ["25.6M", "4.09G"]  # parameters and MACs of ResNet-50 at 224x224
    data = cli("data", "--json", cwd=tmp_path)
    info = json.loads(data.stdout)
    assert info["classes"] == CIFAR10
    assert sum(info["splits"]["train"]["counts"].values()) == 5000
    assert info["splits"]["test"]["sizes"] == {"3x32x32": 1000}
    summary = cli("summary", "resnet20", "--input-size", "3,32,32", cwd=tmp_path)
    assert "Total params: 269,722" in summary.stdout
    assert cli(cwd=tmp_path).stdout.startswith("usage: resvision")


def _pets(root: Path, size: tuple[int, int] = (12, 12)) -> Path:
    """A folder data set: train/ and val/ with cat and dog images of ``size`` (w, h)."""
    from PIL import Image

    for split in ("train", "val"):
        for label, cls in enumerate(("cat", "dog")):
            folder = root / "pets" / split / cls
            folder.mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", size, (200 * label, 50 * i, 0)).save(folder / f"{i}.png")
    return root / "pets"


def test_data_inspects_a_folder_and_lists_unreadable_files(tmp_path, cli):
    pets = _pets(tmp_path, size=(12, 10))
    (pets / "val" / "dog" / "bad.jpg").write_bytes(b"garbage")
    proc = cli("data", "pets", "--json", cwd=tmp_path)
    assert proc.returncode == 1  # unreadable files found
    info = json.loads(proc.stdout)
    assert info["classes"] == ["cat", "dog"]
    assert info["splits"]["train"]["counts"] == {"cat": 3, "dog": 3}
    assert info["splits"]["val"]["sizes"] == {"3x10x12": 6}
    assert len(info["splits"]["val"]["unreadable"]) == 1


def test_train_and_predict_on_an_image_folder(tmp_path, cli):
    pets = _pets(tmp_path)
    proc = cli("train", "--data", "pets", "--max-steps", "2", "--output", "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert evaluation["classes"] == ["cat", "dog"] and evaluation["num_samples"] == 6
    assert evaluation["split"] == "val"
    pred = cli("predict", "--checkpoint", "run", str(pets / "val" / "dog"), "--json", cwd=tmp_path)
    results = json.loads(pred.stdout)["results"]
    assert len(results) == 3 and {p["class"] for p in results[0]["predictions"]} == {"cat", "dog"}


def _write_mnist(folder: Path, n: int, prefix: str) -> None:
    """A tiny MNIST split in the official idx.gz format (random pixels, labels 0..9 in turn)."""
    import gzip
    import struct

    folder.mkdir(exist_ok=True)
    images = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
    with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, n) + labels.tobytes())


def test_grey_mnist_trains_and_predicts_with_one_channel(tmp_path, cli):
    _write_mnist(tmp_path / "mnist", 20, "train")
    _write_mnist(tmp_path / "mnist", 10, "t10k")
    args = ["--data", "mnist", "--data-root", "mnist"]
    proc = cli(
        "train", *args, "--model", "lenet", "--max-steps", "1", "--output", "run", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info = torch.load(tmp_path / "run" / "checkpoints" / "final.pt", weights_only=True)
    preprocess = info["callbacks"]["resvision.cli.RunInfo"]["preprocess"]
    assert preprocess == {
        "channels": 1,
        "size": 28,
        "resize": None,
        "mean": [0.1307],
        "std": [0.3081],
        "interpolation": "bilinear",
    }
    assert cli("data", *args, "--export", "digits", "--count", "2", cwd=tmp_path).returncode == 0
    pred = cli("predict", "--checkpoint", "run", "digits", "--json", cwd=tmp_path)
    assert pred.returncode == 0, pred.stderr
    assert len(json.loads(pred.stdout)["results"]) == 2


def test_print_config_and_report_commands(trained_run, tmp_path, cli):
    proc = cli("train", "--print-config", "--lr", "0.2", "--set", "train.epochs=3", cwd=tmp_path)
    (tmp_path / "c.yaml").write_text(proc.stdout)
    assert resolve(tmp_path / "c.yaml") == resolve(flags={"optim.lr": 0.2, "train.epochs": 3})
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "report.html").unlink()
    assert cli("report", str(run), cwd=tmp_path).returncode == 0
    assert "Confusion matrix" in (run / "report.html").read_text()


# Each case: arguments, a phrase the message must contain. All must exit 2 without a traceback.
ERROR_CASES = {
    "unknown command": (["trian"], "did you mean 'train'?"),
    "unknown model": (["train", "--model", "resnet5"], "unknown model 'resnet5'"),
    "unknown data set": (["train", "--data", "cifar1O"], "unknown data set 'cifar1O'"),
    "missing data set": (
        ["train", "--data", "cifar10", "--set", "data.download=false"],
        "cifar-10-python.tar.gz",
    ),
    "missing data file": (["train", "--data", "cifar10", "--data-root", "no.tar.gz"], "no.tar.gz"),
    "bad folder layout": (["train", "--data", "flat"], "must hold train/ and val/"),
    "unknown option": (["train", "--lrr", "0.1"], "did you mean '--lr'?"),
    "unknown config key": (["train", "--set", "optim.lrr=0.1"], "did you mean 'optim.lr'?"),
    "bad config value": (["train", "--set", "train.epochs=many"], "must be an integer"),
    "unknown choice": (["train", "--amp", "fp32"], "unknown train.amp value 'fp32'"),
    "missing config": (["train", "--config", "missing.yaml"], "does not exist"),
    "missing checkpoint": (["predict", "--checkpoint", "no.pt", "x.png"], "'no.pt' does not exist"),
    "eval missing checkpoint": (["eval", "--checkpoint", "no_run"], "does not exist"),
    "summary unknown model": (["summary", "resnet5"], "did you mean"),
    "unknown family": (["models", "--family", "resnt"], "did you mean 'resnet'"),
}


@pytest.fixture(scope="module")
def error_results(tmp_path_factory, cli_env):
    """Run every error case at once (they are independent; this keeps the suite short)."""
    cwd = tmp_path_factory.mktemp("errors")
    (cwd / "flat" / "cat").mkdir(parents=True)  # a class folder without train/ and val/
    env = cli_env(RESVISION_CACHE=str(cwd / "cache"))  # an empty cache: no data set there
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "resvision", *argv],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (argv, _) in ERROR_CASES.items()
    }
    return {name: (p.wait(timeout=120), *p.communicate()) for name, p in procs.items()}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_user_mistakes_exit_2_with_a_helpful_message(case, error_results):
    code, out, err = error_results[case]
    assert code == 2, (out, err)
    assert err.startswith("resvision: error: ")
    assert ERROR_CASES[case][1] in err
    assert "Traceback" not in out + err


def test_misclassified_file_holds_the_reported_mistakes(trained_run):
    with np.load(trained_run / "misclassified.npz") as data:
        assert data["images"].shape[1:] == (32, 32, 3) and data["images"].dtype == np.uint8
        assert (data["true"] != data["pred"]).all()
        assert list(data["classes"]) == CIFAR10
        assert (np.diff(data["prob"]) <= 0).all()  # most confident mistakes first
    assert len(list(Path(trained_run).glob("checkpoints/*.pt"))) >= 1
