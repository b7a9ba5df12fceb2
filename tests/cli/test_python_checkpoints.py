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
