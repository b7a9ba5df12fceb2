"""One-file checkpoints: paths, atomic writes, random states, finding the latest, save/load."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from resvision.engine.checkpoint import (
    CHECKPOINT_FORMAT,
    atomic_save,
    capture_rng_state,
    checkpoint_path,
    find_latest_checkpoint,
    load_checkpoint,
    restore_rng_state,
)
from resvision.engine.model import Model


def _net(classes: int = 3) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(12, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, classes)
    )


def _trained_model(classes: int = 3) -> Model:
    model = Model(_net(classes), device="cpu")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.prepare(opt, nn.CrossEntropyLoss())
    x, y = torch.randn(8, 3, 2, 2), torch.randint(0, classes, (8,))
    model.train_batch(x, y)
    return model


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("out/final", "out/final.pt"),
        ("out/3", "out/3.pt"),
        ("out/3.pdparams", "out/3.pt"),
        ("out/3.pdopt", "out/3.pt"),
        ("w.pth", "w.pth"),
        ("w.ckpt", "w.ckpt"),
        ("run.v2", "run.v2.pt"),
    ],
)
def test_checkpoint_path_accepts_paddle_prefixes(given, expected):
    assert checkpoint_path(given).as_posix() == expected


@pytest.mark.parametrize("bad", ["", "out/", "."])
def test_checkpoint_path_rejects_folders(bad):
    with pytest.raises(ValueError, match="dirname/file_prefix"):
        checkpoint_path(bad)


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "a.pt"
    atomic_save({"v": torch.tensor([1.0])}, target)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError, match="cannot pickle"):
        atomic_save({"v": Unpicklable()}, target)
    assert torch.load(target, weights_only=True)["v"].tolist() == [1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not private like mkstemp's


def test_rng_state_round_trip_covers_python_numpy_torch():
    state = capture_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(2))
    restore_rng_state(state)
    second = (random.random(), np.random.rand(), torch.rand(2))
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])


def test_checkpoint_keys_and_weights_only_loading(tmp_path):
    model = _trained_model()
    file = model.save(tmp_path / "ck")
    assert file == tmp_path / "ck.pt"
    ckpt = torch.load(file, weights_only=True)  # only plain types and tensors inside
    assert ckpt["format"] == CHECKPOINT_FORMAT
    for key in (
        "model",
        "optimizer",
        "scheduler",
        "scaler",
        "callbacks",
        "metrics",
        "progress",
        "grads",
        "rng",
        "loader",
        "config",
        "meta",
    ):
        assert key in ckpt
    assert ckpt["config"]["network"] == "Sequential"
    assert ckpt["optimizer"]["state"]  # momentum buffers


def test_save_load_round_trip_restores_weights_and_optimizer(tmp_path):
    src = _trained_model()
    src.save(tmp_path / "ck.pdparams")  # a Paddle-style name writes ck.pt
    dst = Model(_net(), device="cpu")
    opt = torch.optim.SGD(dst.parameters(), lr=0.1, momentum=0.9)
    dst.prepare(opt, nn.CrossEntropyLoss())
    dst.load(tmp_path / "ck")
    for (k, a), b in zip(src.network.state_dict().items(), dst.network.state_dict().values()):
        assert torch.equal(a, b), k
    buf_src = src._optimizer.state_dict()["state"][0]["momentum_buffer"]
    assert torch.equal(opt.state_dict()["state"][0]["momentum_buffer"], buf_src)


def test_load_with_reset_optimizer_keeps_the_fresh_optimizer(tmp_path):
    _trained_model().save(tmp_path / "ck")
    dst = Model(_net(), device="cpu")
    opt = torch.optim.SGD(dst.parameters(), lr=0.1, momentum=0.9)
    dst.prepare(opt, nn.CrossEntropyLoss())
    dst.load(tmp_path / "ck", reset_optimizer=True)
    assert opt.state_dict()["state"] == {}


def test_load_mismatch_raises_or_skips(tmp_path):
    src = _trained_model(classes=3)
    src.save(tmp_path / "ck")
    dst = Model(_net(classes=5), device="cpu")  # another head size
    opt = torch.optim.SGD(dst.parameters(), lr=0.1, momentum=0.9)
    dst.prepare(opt, nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match=r"4.weight has shape \[3, 8\] in the file"):
        dst.load(tmp_path / "ck")
    with pytest.warns(UserWarning, match="skip loading: 4.weight"):
        dst.load(tmp_path / "ck", skip_mismatch=True)
    assert torch.equal(dst.network[1].weight, src.network[1].weight)  # the rest is loaded
    assert opt.state_dict()["state"] == {}  # a mismatch resets the optimizer, as Paddle


def test_weights_only_save_is_a_plain_state_dict(tmp_path):
    src = _trained_model()
    file = src.save(tmp_path / "infer", training=False)
    net = _net()
    net.load_state_dict(torch.load(file, weights_only=True))
    assert torch.equal(net[1].weight, src.network[1].weight)
    dst = Model(_net(), device="cpu")
    dst.load(file)  # Model.load reads plain state dicts too
    assert torch.equal(dst.network[1].weight, src.network[1].weight)


def test_load_accepts_ddp_prefixed_state_dicts(tmp_path):
    src = _net()
    torch.save({f"module.{k}": v for k, v in src.state_dict().items()}, tmp_path / "ddp.pth")
    dst = Model(_net(), device="cpu")
    dst.load(tmp_path / "ddp.pth")
    assert torch.equal(dst.network[1].weight, src[1].weight)


def test_load_errors_name_the_problem(tmp_path):
    model = Model(_net(), device="cpu")
    with pytest.raises(FileNotFoundError, match="nothing"):
        model.load(tmp_path / "nothing")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        model.load(tmp_path / "junk.pt")
    torch.save({"lr": 0.1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="neither a resvision checkpoint nor a state dict"):
        model.load(tmp_path / "other.pt")


def test_find_latest_checkpoint_prefers_most_steps_and_skips_best_and_junk(tmp_path):
    model = _trained_model()
    assert find_latest_checkpoint(tmp_path) is None
    for name, step in (("0", 5), ("1", 10), ("best", 50), ("final", 10)):
        ckpt = model._checkpoint_dict()
        ckpt["progress"]["global_step"] = step
        atomic_save(ckpt, tmp_path / f"{name}.pt")
    (tmp_path / "junk.pt").write_bytes(b"garbage")
    torch.save(model.network.state_dict(), tmp_path / "weights.pt")  # not a training checkpoint
    # 'final' and '1' have the same step: the one saved later wins.
    assert find_latest_checkpoint(tmp_path).name == "final.pt"
    assert load_checkpoint(tmp_path / "final")["progress"]["global_step"] == 10


def test_checkpoint_differences_see_every_entry_bit_for_bit():
    from resvision.engine.checkpoint import checkpoint_differences

    a = {
        "model": {"w": torch.tensor([1.0, float("nan")]), "n": torch.tensor(3)},
        "optimizer": {
            "state": {0: {"momentum_buffer": torch.zeros(2)}},
            "param_groups": [{"lr": 0.1}],
        },
        "rng": {"python": (3, (1, 2), None)},
        "loader": {"kind": "state_dict", "state": {"batches_yielded": 2}},
        "meta": {"saved_at": 1},
    }
    same = {**a, "meta": {"saved_at": 2}}  # the time of writing is not state
    assert checkpoint_differences(a, same) == []  # NaN equals the same NaN
    b = {
        **a,
        "model": {"w": torch.tensor([1.0, float("nan")]), "n": torch.tensor(3.0)},  # dtype
        "optimizer": {
            "state": {0: {"momentum_buffer": torch.tensor([0.0, -0.0])}},
            "param_groups": [{"lr": 0.2}],
        },
        "rng": {"python": (3, (1, 2, 3), None)},
        "scaler": None,
    }
    del b["loader"]
    assert checkpoint_differences(a, b) == [
        "loader: only in the first",
        "model.n",
        "optimizer.param_groups[0].lr: 0.1 vs 0.2",
        "optimizer.state.0.momentum_buffer",  # -0.0 is another bit pattern
        "rng.python[1]: 2 items vs 3",
        "scaler: only in the second",
    ]
    assert checkpoint_differences(a, b, ignore=("meta", "loader", "model.n", "optimizer", "rng",
                                                "scaler")) == []  # fmt: skip
