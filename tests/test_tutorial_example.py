"""The tutorial's 14-line CIFAR-10 example runs on resvision with only its imports changed.

``examples/tutorial_cifar10.py`` is run as it is (``runpy``, in a temporary folder). ResNet-50
on 2 CPU cores trains at 0.25-6 s per step of 64 images depending on the load (the example's 2
epochs are 158 steps), too slow for every CI run, so:

- ``test_tutorial_example_runs`` (CI) caps ``fit`` at ``RESVISION_TUTORIAL_NUM_ITERS``
  optimizer steps (default 6) by adding ``num_iters`` to the call the example makes, and checks
  the pipeline end to end: the tutorial's arguments, training, the evaluation of all 1,000 test
  images, the checkpoints in ``./output``.
- ``test_tutorial_example_learns`` (``-m slow``) runs the example exactly as written (2 epochs)
  and checks that it learns. The tutorial's recipe (ResNet-50, unnormalised 0-255 inputs,
  lr 0.01) trains steadily (training top-1 16% -> 23% over the 2 epochs), but its test accuracy
  in eval mode jumps from epoch to epoch (measured after epochs 1-4: 21.7%, 11.1%, 16.9%,
  20.7% top-1; another run 12.8%, 22.8%) because batch-norm running statistics lag behind the
  fast-moving weights; Paddle's own ``Model.fit`` on the same data behaves alike
  (``benchmarks/tutorial_learning.py``, table in the README). So the check is on training
  accuracy, test top-5 and the better of the two test top-1 values (chance: 10% / 50%).
"""

from __future__ import annotations

import json
import math
import os
import runpy
from pathlib import Path

import pytest
import torch

from resvision.engine.model import Model

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tutorial_cifar10.py"
TUTORIAL_FIT = {"epochs": 2, "batch_size": 64, "save_dir": "./output", "num_workers": 8}


def _run_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, num_iters: int | None):
    """Run the example file unchanged; with ``num_iters``, its ``fit`` stops after that many
    optimizer steps. Returns the ``fit`` keyword arguments and the evaluation rows."""
    calls: list[dict] = []
    real_fit = Model.fit

    def fit(self, *args, **kwargs):
        calls.append(dict(kwargs))
        if num_iters:
            kwargs["num_iters"] = num_iters
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(Model, "fit", fit)
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    namespace = runpy.run_path(str(EXAMPLE), run_name="__main__")
    rows = [json.loads(line) for line in (tmp_path / "output" / "metrics.jsonl").open()]
    return namespace, calls, [r for r in rows if r["event"] == "eval_end"]


def test_tutorial_example_runs(tmp_path, monkeypatch):
    steps = int(os.environ.get("RESVISION_TUTORIAL_NUM_ITERS", "6"))
    namespace, calls, evals = _run_example(tmp_path, monkeypatch, steps)
    assert calls == [TUTORIAL_FIT]  # the tutorial's own arguments reached fit
    model = namespace["model"]
    assert model._session.progress.global_step == steps
    assert len(namespace["train_dataset"]) == 5000 and len(namespace["val_dataset"]) == 1000
    (row,) = evals  # evaluated once, at the end of the (shortened) epoch
    assert {"loss", "acc_top1", "acc_top5"} <= set(row)
    assert 0.0 <= row["acc_top1"] <= row["acc_top5"] <= 1.0
    assert sorted(p.name for p in (tmp_path / "output").glob("*.pt")) == ["0.pt", "final.pt"]
    assert math.isfinite(
        namespace["model"].evaluate(
            namespace["val_dataset"], batch_size=500, verbose=0, num_iters=1
        )["loss"]
    )


@pytest.mark.slow
def test_tutorial_example_learns(tmp_path, monkeypatch, request):
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("minutes on a CPU: run with -m slow")
    namespace, calls, evals = _run_example(tmp_path, monkeypatch, None)
    assert calls == [TUTORIAL_FIT]
    assert namespace["model"]._session.progress.global_step == 2 * 79
    rows = [json.loads(line) for line in (tmp_path / "output" / "metrics.jsonl").open()]
    train = [r for r in rows if r["event"] == "epoch_end"][-1]
    assert train["acc_top1"] > 0.18, train  # measured 0.227, 0.232
    assert evals[-1]["acc_top5"] > 0.55, evals[-1]  # measured 0.640, 0.739, 0.804
    # Test top-1 jumps between epochs (also in Paddle: benchmarks/tutorial_learning.py), so the
    # better of the two evaluations is checked: measured 0.217, 0.228, 0.197, 0.229.
    assert max(r["acc_top1"] for r in evals) > 0.15, evals
