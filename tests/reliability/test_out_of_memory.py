"""Out of memory: a batch too large for the device gives a message with a batch size that was
tried and fits, not a raw allocator trace.

The device is a test double: :class:`MemoryBound` raises the allocator's real exception type
(``torch.OutOfMemoryError``, or the CPU allocator's ``RuntimeError``) when a batch is larger than
its bound, as a device with that much memory does. Everything else (the loops, the retry on
slices of the failing batch, the message, the command line's exit) is the real code.
"""

from __future__ import annotations

import contextlib
import io

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import resvision.recipe.build as cli_build
from resvision.cli.main import main
from resvision.engine.memory import BatchTooLargeError, is_out_of_memory
from resvision.engine.model import Model

CUDA_OOM = (
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 7.79 GiB of "
    "which 1.02 GiB is free. Including non-PyTorch memory, this process has 6.75 GiB memory in "
    "use. If reserved but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=..."
)
CPU_OOM = (
    "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you "
    "tried to allocate 8589934592 bytes. Error code 12 (Cannot allocate memory)"
)


class MemoryBound(nn.Module):
    """Wraps a network; a batch above ``max_batch`` fails like the allocator does."""

    def __init__(self, net: nn.Module, max_batch: int, error: str = "cuda") -> None:
        super().__init__()
        self.net, self.max_batch, self.error = net, max_batch, error
        self.num_classes = getattr(net, "num_classes", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.max_batch:
            if self.error == "cuda":
                raise torch.OutOfMemoryError(CUDA_OOM)
            raise RuntimeError(CPU_OOM)
        return self.net(x)


_G = torch.Generator().manual_seed(4)
DATA = TensorDataset(
    torch.randn(128, 3, 4, 4, generator=_G), torch.randint(0, 3, (128,), generator=_G)
)


def _model(max_batch: int, error: str = "cuda") -> Model:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 3))
    model = Model(MemoryBound(net, max_batch, error), device="cpu")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.prepare(opt, nn.CrossEntropyLoss(), amp_configs=None)
    return model


@pytest.mark.parametrize("error", ["cuda", "cpu"])
def test_training_suggests_a_batch_size_that_was_tried_and_fits(error):
    model = _model(max_batch=20, error=error)
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    with pytest.raises(BatchTooLargeError) as info:
        model.fit(DATA, batch_size=64, epochs=1, verbose=0)
    err = info.value
    assert (err.batch_size, err.suggested, err.phase) == (64, 16, "training")
    text = str(err)
    assert "during training with a batch of 64" in text
    assert "batch_size=16 (--batch-size 16)" in text
    assert "accumulate_grad_batches=4 to keep an effective batch of 64" in text
    assert "Tried to allocate" not in text and "enforce fail" not in text  # no allocator trace
    assert len(text) < 500
    # The retries left the network as it was: weights, BatchNorm statistics, no gradients.
    after = model.network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
    # And the suggestion is right: training with it works.
    model.fit(DATA, batch_size=err.suggested, epochs=1, verbose=0)


def test_evaluation_and_prediction_suggest_their_own_batch_size():
    model = _model(max_batch=64)
    with pytest.raises(
        BatchTooLargeError, match=r"during evaluation with a batch of 128.*fits: use batch_size=64"
    ):
        model.evaluate(DATA, batch_size=128, verbose=0)
    with pytest.raises(
        BatchTooLargeError, match=r"during prediction with a batch of 100.*batch_size=50"
    ):
        model.predict(TensorDataset(DATA.tensors[0][:100]), batch_size=100, verbose=0)


def test_when_nothing_fits_the_message_says_so():
    model = _model(max_batch=0)
    with pytest.raises(BatchTooLargeError, match="even a batch of 1 does not fit") as info:
        model.fit(DATA, batch_size=8, epochs=1, verbose=0)
    assert info.value.suggested is None


def test_other_runtime_errors_pass_through_unchanged():
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (8x48 and 16x3)")

    model = Model(Broken(), device="cpu")
    model.prepare(loss=nn.CrossEntropyLoss(), amp_configs=None)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        model.evaluate(DATA, batch_size=8, verbose=0)
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)"))


def test_command_line_prints_the_suggestion_without_a_traceback(tmp_path, monkeypatch):
    """``resvision train --batch-size 64`` on a "device" that holds 24 samples: exit 1, the
    message suggests 16."""
    real_build = cli_build.build_network
    monkeypatch.setattr(
        cli_build, "build_network", lambda *a, **k: MemoryBound(real_build(*a, **k), 24)
    )
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    out, err = io.StringIO(), io.StringIO()
    argv = ["train", "--model", "resnet20", "--batch-size", "64", "--device", "cpu", "--amp", "off",
            "--max-steps", "2", "--output", str(tmp_path / "run"), "--set", "output.report=false"]  # fmt: skip
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    text = err.getvalue()
    assert code == 1, text
    assert "Traceback" not in text
    assert (
        text.startswith("resvision: error: out of memory on cpu during training")
        and "--batch-size 16" in text
    )
