"""A checkpoint written by ``Model.fit`` in Python works with ``resvision eval`` and ``predict``:
the engine stores the run identity (the zoo tags the network with its name; the data names its
classes). What cannot be known is asked for in one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

import resvision
from resvision import transforms as T
from resvision.datasets import Cifar10Sample
from resvision.models import create_model


def _cli(cwd, *args):
    env = dict(os.environ, RESVISION_NUM_THREADS="1", RESVISION_CACHE=str(cwd / "cache"))
    return subprocess.run([sys.executable, "-m", "resvision", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)  # fmt: skip


@pytest.fixture(scope="module")
def python_run(tmp_path_factory):
    """resnet20 trained 2 steps on the embedded sample with Model.fit; the folder."""
    folder = tmp_path_factory.mktemp("python-run")
    tf = T.Compose([T.ToTensor(), T.Normalize([0.49, 0.48, 0.45], [0.25, 0.24, 0.26])])
    data = Cifar10Sample(mode="train", transform=tf)
    model = resvision.Model(create_model("resnet20", num_classes=10), device="cpu")
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.01), nn.CrossEntropyLoss())
    model.fit(data, batch_size=16, num_iters=2, verbose=0, save_dir=folder / "ckpt")
    return folder


def test_predict_and_eval_use_the_identity_of_a_python_checkpoint(python_run):
    ckpt = python_run / "ckpt" / "final.pt"
    ident = torch.load(ckpt, weights_only=True)["identity"]
    assert ident["model"] == "resnet20" and ident["classes"][0] == "airplane"
    images = _cli(python_run, "data", "--export", "imgs", "--count", "2")
    assert images.returncode == 0, images.stderr
    pred = _cli(python_run, "predict", "--checkpoint", str(ckpt), "imgs", "--json")
    assert pred.returncode == 0, pred.stderr
    assert "records no preprocessing" in pred.stderr  # the assumption is said
    top = json.loads(pred.stdout)["results"][0]["predictions"][0]["class"]
    assert top in ident["classes"]
    no_data = _cli(python_run, "eval", "--checkpoint", str(ckpt))
    assert no_data.returncode == 2 and "--data" in no_data.stderr
    evaluated = _cli(python_run, "eval", "--checkpoint", str(ckpt), "--data", "sample", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["num_samples"] == 1000


def test_a_network_outside_the_zoo_is_asked_for_by_name(tmp_path):
    model = resvision.Model(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)), device="cpu")
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
    data = TensorDataset(torch.randn(8, 3, 2, 2), torch.randint(0, 3, (8,)))
    model.fit(Subset(data, range(8)), batch_size=4, verbose=0, save_dir=tmp_path / "ckpt")
    proc = _cli(tmp_path, "predict", "--checkpoint", str(tmp_path / "ckpt" / "final.pt"), "x.png")
    assert proc.returncode == 2 and "does not name its model" in proc.stderr
    assert "model.identity" in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def unnamed_run(tmp_path_factory):
    """resnet20 built without its registry name, trained in Python on data without class
    names: a checkpoint that names neither its model nor its classes."""
    folder = tmp_path_factory.mktemp("unnamed-run")
    net = create_model("resnet20", num_classes=10)
    del net.model_name  # as a network built from its class, not the zoo's builder
    model = resvision.Model(net, device="cpu")
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.01), nn.CrossEntropyLoss())
    data = TensorDataset(torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,)))
    model.fit(data, batch_size=8, num_iters=1, verbose=0, save_dir=folder / "ckpt")
    return folder / "ckpt" / "final.pt"


def test_model_and_classes_flags_complete_a_checkpoint_that_lacks_them(unnamed_run, tmp_path):
    ckpt = str(unnamed_run)
    ident = torch.load(unnamed_run, weights_only=True)["identity"]
    assert not ident.get("model") and not ident.get("classes")
    asked = _cli(tmp_path, "eval", "--checkpoint", ckpt, "--data", "sample")
    assert asked.returncode == 2 and "--model NAME" in asked.stderr, asked.stderr
    asked = _cli(tmp_path, "eval", "--checkpoint", ckpt, "--data", "sample", "--model", "resnet20")
    assert asked.returncode == 2 and "--classes" in asked.stderr, asked.stderr
    names = "airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck"
    done = _cli(tmp_path, "eval", "--checkpoint", ckpt, "--data", "sample", "--model", "resnet20",
                "--classes", names, "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["num_samples"] == 1000
    (tmp_path / "classes.txt").write_text(names.replace(",", "\n") + "\n")
    images = _cli(tmp_path, "data", "--export", "imgs", "--count", "1")
    assert images.returncode == 0, images.stderr
    pred = _cli(tmp_path, "predict", "--checkpoint", ckpt, "--model", "resnet20", "--classes",
                "classes.txt", "imgs", "--json")  # fmt: skip
    assert pred.returncode == 0, pred.stderr
    assert json.loads(pred.stdout)["results"][0]["predictions"][0]["class"] in names.split(",")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--model", "resnet2O"], "unknown model 'resnet2O'"),
        (["--model", "resnet20", "--classes", "a,b"], "10-class network; --classes names 2"),
        (["--model", "resnet20", "--classes", "a,,b"], "give the class names in label order"),
        (["--model", "resnet20", "--classes", "a,a"], "a given more than once"),
    ],
)
def test_bad_model_or_classes_flags_are_named(unnamed_run, tmp_path, flags, message):
    proc = _cli(tmp_path, "eval", "--checkpoint", str(unnamed_run), "--data", "sample", *flags)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_flags_that_contradict_the_checkpoint_are_refused(python_run):
    ckpt = str(python_run / "ckpt" / "final.pt")
    proc = _cli(python_run, "eval", "--checkpoint", ckpt, "--data", "sample", "--model", "vgg11")
    assert proc.returncode == 2 and "already names its model (resnet20)" in proc.stderr
    same = _cli(python_run, "eval", "--checkpoint", ckpt, "--data", "sample", "--model",
                "resnet20", "--json")  # fmt: skip
    assert same.returncode == 0, same.stderr


def test_export_from_a_python_checkpoint(python_run):
    ckpt = python_run / "ckpt" / "final.pt"
    out = python_run / "net.pt"
    proc = _cli(python_run, "export", str(ckpt), "--format", "torchscript", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    scripted = torch.jit.load(str(out))
    assert scripted(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
