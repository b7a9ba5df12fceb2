"""sync_bn keeps custom BatchNorm subclasses (AirNet's ``ScaledBiasBatchNorm``) as they are.

PyTorch's ``nn.SyncBatchNorm.convert_sync_batchnorm`` (and, before, our CPU converter) rebuilt
every ``_BatchNorm`` subclass as a plain synchronised layer: AirNet, whose BatchNorm layers have
no weight and their own ``8 * bias`` parameter, lost 1,152 parameters and computed something
else. These tests check that the conversion keeps them, on the CPU path and on the CUDA path
(PyTorch's converter runs on CPU modules; only the forward of nn.SyncBatchNorm needs a GPU), and
that the kept layers really use the statistics of all processes (two gloo processes).

Run as a script (``python test_syncbn_custom.py RANK WORLD INIT_FILE OUT``) this file is one
process of that two-process check.
"""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resvision.engine import syncbn
from resvision.engine.syncbn import CollectiveBatchNorm, convert_sync_batchnorm
from resvision.models import create_model
from resvision.models.airnet import ScaledBiasBatchNorm

AIRNET_BN_PARAMETERS = 1152  # the biases of AirNet's six ScaledBiasBatchNorm layers


def _count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _airnet() -> nn.Module:
    torch.manual_seed(0)
    net = create_model("airnet")
    with torch.no_grad():  # non-zero biases, so that losing them changes the outputs
        for m in net.modules():
            if isinstance(m, ScaledBiasBatchNorm):
                m.bias.normal_()
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.fixture
def pytorch_converter_calls(monkeypatch):
    """Records the type of every module handed to PyTorch's converter."""
    seen: list[type] = []
    original = nn.SyncBatchNorm.convert_sync_batchnorm

    def spy(module, process_group=None):
        seen.extend(type(m) for m in module.modules())
        return original(module, process_group)

    monkeypatch.setattr(nn.SyncBatchNorm, "convert_sync_batchnorm", spy)
    return seen


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_airnet_keeps_its_batchnorm_parameters_and_outputs(
    device, monkeypatch, pytorch_converter_calls
):
    if device == "cuda":  # the CUDA branch, on CPU modules (no GPU needed to convert)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    net = _airnet()
    layers = [m for m in net.modules() if isinstance(m, ScaledBiasBatchNorm)]
    assert sum(m.bias.numel() for m in layers) == AIRNET_BN_PARAMETERS
    params = [id(p) for p in net.parameters()]
    count, keys = _count(net), list(net.state_dict())
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = net(x)

    converted = convert_sync_batchnorm(net, torch.device(device))

    assert converted is net
    assert [m for m in net.modules() if isinstance(m, ScaledBiasBatchNorm)] == layers
    assert all(type(m) is ScaledBiasBatchNorm for m in layers)
    assert _count(net) == count and [id(p) for p in net.parameters()] == params
    assert list(net.state_dict()) == keys
    assert not any(isinstance(m, (nn.SyncBatchNorm, CollectiveBatchNorm)) for m in net.modules())
    with torch.no_grad():
        assert torch.equal(net(x), expected)
    # PyTorch's converter never saw a custom subclass (AirNet has no plain BatchNorm).
    assert ScaledBiasBatchNorm not in pytorch_converter_calls


@pytest.mark.parametrize(
    ("device", "synchronised"), [("cpu", CollectiveBatchNorm), ("cuda", nn.SyncBatchNorm)]
)
def test_resnet20_batchnorm_layers_are_still_converted(
    device, synchronised, pytorch_converter_calls
):
    torch.manual_seed(0)
    net = create_model("resnet20").eval()
    plain = [name for name, m in net.named_modules() if type(m) is nn.BatchNorm2d]
    assert len(plain) == 19
    params, buffers = [id(p) for p in net.parameters()], [id(b) for b in net.buffers()]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = net(x)
    convert_sync_batchnorm(net, device)
    modules = dict(net.named_modules())
    assert all(type(modules[name]) is synchronised for name in plain)
    assert not any(type(m) is nn.BatchNorm2d for m in net.modules())
    assert [id(p) for p in net.parameters()] == params
    assert [id(b) for b in net.buffers()] == buffers
    if device == "cuda":  # PyTorch's converter did it, one plain layer at a time
        assert pytorch_converter_calls == [nn.BatchNorm2d] * len(plain)
    else:  # nn.SyncBatchNorm's forward needs a GPU; CollectiveBatchNorm runs here
        with torch.no_grad():
            assert torch.equal(net(x), expected)


def test_a_mixed_network_converts_plain_layers_and_keeps_custom_ones():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), ScaledBiasBatchNorm(4), nn.BatchNorm2d(4))
    net[1].bias.data.normal_()
    x = torch.randn(3, 3, 6, 6)
    net.eval()
    expected = net(x)
    assert convert_sync_batchnorm(net, "cpu") is net
    assert type(net[1]) is ScaledBiasBatchNorm and type(net[2]) is CollectiveBatchNorm
    assert torch.equal(net(x), expected)
    # In one process (no process group) training is unchanged too.
    reference = copy.deepcopy(net)
    net.train()
    reference.train()
    torch.testing.assert_close(net(x), reference(x))
    # Converting again changes nothing; copies and pickles keep working.
    assert convert_sync_batchnorm(net, "cpu") is net and type(net[1]) is ScaledBiasBatchNorm
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        clone.eval()
        net.eval()
        assert clone[1].forward.layer is clone[1]  # the wrapper follows the copy
        assert torch.equal(clone(x), net(x))
    # A top-level custom layer is kept as well.
    layer = ScaledBiasBatchNorm(4)
    assert convert_sync_batchnorm(layer, "cuda") is layer


class _FakeFusedSync:
    """Stands in for PyTorch's fused SyncBatchNorm function (CUDA only): records its
    arguments and normalises with the local batch, as if every process had the same data."""

    calls: ClassVar[list[dict]] = []

    @classmethod
    def apply(cls, input, weight, bias, running_mean, running_var, eps, momentum, group, world):
        cls.calls.append(dict(weight=weight, bias=bias, momentum=momentum, eps=eps, world=world))
        return F.batch_norm(input, running_mean, running_var, weight, bias, True, momentum, eps)


def test_cuda_path_synchronises_the_custom_layer_and_keeps_its_bias_gradient(monkeypatch):
    # The forward that CUDA would run, on CPU: pretend two processes and fused kernels here.
    import torch.nn.modules.batchnorm as torch_batchnorm

    _FakeFusedSync.calls = []
    monkeypatch.setattr(torch_batchnorm, "sync_batch_norm", _FakeFusedSync)
    monkeypatch.setattr(syncbn, "_fused_sync_devices", lambda: ("cpu",))
    monkeypatch.setattr(syncbn, "_world_size", lambda group: 2)
    reference = ScaledBiasBatchNorm(5)
    reference.bias.data.normal_()
    layer = copy.deepcopy(reference)
    convert_sync_batchnorm(layer, "cuda")
    x = torch.randn(4, 5, 3, 3)
    out, expected = layer(x), reference(x)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(layer.running_mean, reference.running_mean)
    assert len(_FakeFusedSync.calls) == 1
    call = _FakeFusedSync.calls[0]
    # No weight: the bias is added outside PyTorch's function, which drops its gradient then.
    assert call["weight"] is None and call["bias"] is None
    assert call["momentum"] == 0.4 and call["eps"] == 1e-12 and call["world"] == 2
    out.square().sum().backward()
    expected.square().sum().backward()
    torch.testing.assert_close(layer.bias.grad, reference.bias.grad)
    assert layer.bias.grad.abs().sum() > 0


class _ManualBatchNorm(nn.BatchNorm2d):
    """A subclass that normalises without F.batch_norm: it cannot be synchronised."""

    def forward(self, x):
        mean = x.mean((0, 2, 3), keepdim=True)
        return (x - mean) / (x.var((0, 2, 3), keepdim=True) + self.eps).sqrt()


def test_a_subclass_that_cannot_be_synchronised_is_named(monkeypatch):
    net = nn.Sequential(nn.Sequential(_ManualBatchNorm(3)))
    convert_sync_batchnorm(net, "cpu")
    x = torch.randn(4, 3, 2, 2)
    net(x)  # one process: nothing to synchronise
    monkeypatch.setattr(syncbn, "_world_size", lambda group: 2)
    with pytest.raises(
        RuntimeError, match=r"layer 0\.0 \(_ManualBatchNorm\).*functional\.batch_norm"
    ):
        net(x)
    net.eval()
    net(x)  # evaluation needs no synchronisation


def test_two_processes_normalise_the_custom_layer_with_the_global_batch(tmp_path):
    """Each of two gloo processes gets half of a batch: the outputs, gradients and running
    statistics are those of one process with the whole batch."""
    init, out = tmp_path / "init", tmp_path / "rank{}.pt"
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(rank), "2", str(init), str(out).format(rank)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for rank in range(2)
    ]
    for p in procs:
        log = p.communicate(timeout=240)[0].decode(errors="replace")
        assert p.returncode == 0, log
    ranks = [torch.load(str(out).format(r)) for r in range(2)]
    ref = _two_process_case(0, 1)  # one process, the whole batch
    torch.testing.assert_close(torch.cat([r["out"] for r in ranks]), ref["out"])
    torch.testing.assert_close(torch.cat([r["x_grad"] for r in ranks]), ref["x_grad"])
    for key in ref["grads"]:  # DDP would add (average) these over the processes
        # atol: the convolution's bias gradient is ~0 (BatchNorm removes constants): noise
        summed = sum(r["grads"][key] for r in ranks)
        torch.testing.assert_close(summed, ref["grads"][key], atol=1e-4, rtol=1e-5)
    for r in ranks:
        for key, value in ref["buffers"].items():
            torch.testing.assert_close(r["buffers"][key], value)


def _two_process_case(rank: int, world: int) -> dict:
    """Two training steps of a custom and a plain BatchNorm on this rank's share of a batch."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 1), ScaledBiasBatchNorm(4), nn.GELU(), nn.BatchNorm2d(4))
    with torch.no_grad():  # 8 * bias ~ N(0, 0.8): the GELU keeps each channel's spread
        net[1].bias.normal_(0.0, 0.1)
    if world > 1:
        convert_sync_batchnorm(net, "cpu")
    g = torch.Generator().manual_seed(1)
    share = slice(rank * 8 // world, (rank + 1) * 8 // world)
    for _ in range(2):
        x = (torch.randn(8, 3, 5, 5, generator=g) * 3 + 1)[share].requires_grad_()
        weights = torch.randn(8, 4, 5, 5, generator=g)[share]
        net.zero_grad()
        out = net(x)
        (out * weights).sum().backward()
    return {
        "out": out.detach(),
        "x_grad": x.grad,
        "grads": {k: p.grad for k, p in net.named_parameters()},
        "buffers": {k: b for k, b in net.named_buffers() if "running" in k},
    }


if __name__ == "__main__":
    rank, world, init, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{Path(init).resolve()}", rank=rank, world_size=world
    )
    try:
        torch.save(_two_process_case(rank, world), out)
    finally:
        torch.distributed.destroy_process_group()
