"""Export of networks with several outputs.

GoogLeNet returns ``(out, aux1, aux2)`` as Paddle's does, in evaluation too. The exported file
returns what ``Model.predict`` gives: the main logits alone (one ``logits`` output, the
auxiliary classifiers left out), checked against the main output of eager PyTorch. With
``loss_weights = None`` on the instance, or for a network without auxiliary outputs that returns
several tensors, every output is exported and checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from resvision.export import (
    ExportVerificationError,
    export,
    read_onnx_metadata,
    read_torchscript_metadata,
)
from resvision.export import api as export_api
from resvision.models import GoogLeNet, main_output

needs_onnx = pytest.mark.skipif(
    any(
        __import__("importlib").util.find_spec(m) is None
        for m in ("onnx", "onnxruntime", "onnxscript")
    ),
    reason="ONNX export needs the onnx extra: pip install 'resvision[onnx]'",
)

# Paddle's GoogLeNet without pooling takes 61-76 px: the same layers as at 224 px, 12x cheaper.
SIZE = (3, 64, 64)


def _googlenet() -> nn.Module:
    torch.manual_seed(0)
    return GoogLeNet(num_classes=5, with_pool=False).eval()


def _run(path: Path, fmt: str, x: torch.Tensor) -> list[np.ndarray]:
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x.numpy()})
    module = torch.jit.load(str(path))
    with torch.no_grad():
        out = module(x)
    return [o.numpy() for o in (out if isinstance(out, (list, tuple)) else [out])]


def _output_names(path: Path) -> list[str]:
    import onnx

    return [o.name for o in onnx.load(str(path)).graph.output]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize(
    ("fmt", "dynamo"),
    [
        ("torchscript", True),
        pytest.param("onnx", True, marks=needs_onnx),
        # The TorchScript-based ONNX exporter restores the module's mode after tracing: the
        # wrapper that keeps the main output must be in eval mode too, or dropout runs.
        pytest.param("onnx", False, marks=needs_onnx, id="onnx-torchscript-exporter"),
    ],
)
def test_googlenet_exports_its_main_output_alone(fmt: str, dynamo: bool, tmp_path: Path) -> None:
    net = _googlenet()
    path = tmp_path / f"googlenet.{'onnx' if fmt == 'onnx' else 'pt'}"
    result = export(net, path, input_size=SIZE, check_batch_sizes=(1, 3), dynamo=dynamo)
    assert sorted(result.max_abs_diff) == [1, 3] and max(result.max_abs_diff.values()) <= 1e-4

    x = torch.randn(2, *SIZE)
    with torch.no_grad():
        eager = net(x)
    (got,) = _run(path, fmt, x)  # one output: the main logits
    assert got.shape == (2, 5)
    np.testing.assert_allclose(got, main_output(eager).numpy(), rtol=1e-3, atol=1e-4)

    read = read_onnx_metadata if fmt == "onnx" else read_torchscript_metadata
    meta = read(path)
    assert meta["resvision.auxiliary_outputs_dropped"] == "2"
    assert meta["resvision.model"] == "GoogLeNet" and meta["resvision.num_classes"] == "5"
    assert json.loads(meta["resvision.input_size"]) == list(SIZE)
    if fmt == "onnx":
        assert _output_names(path) == ["logits"]
    # The caller's network is untouched: still three outputs, its weights still declared.
    assert len(net(x)) == 3 and net.loss_weights == (1.0, 0.3, 0.3)


class TwoOutputs(nn.Module):
    """Logits and an embedding, no auxiliary outputs: both are deployed."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.conv(x).mean(dim=(2, 3))
        return self.fc(features), features


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("fmt", ["torchscript", pytest.param("onnx", marks=needs_onnx)])
def test_every_output_is_exported_and_checked_without_auxiliary_outputs(
    fmt: str, tmp_path: Path
) -> None:
    net = TwoOutputs().eval()
    path = tmp_path / f"two.{'onnx' if fmt == 'onnx' else 'pt'}"
    result = export(net, path, input_size=(3, 8, 8), check_batch_sizes=(1, 4))
    assert max(result.max_abs_diff.values()) <= 1e-4
    assert "resvision.auxiliary_outputs_dropped" not in result.metadata
    x = torch.randn(3, 3, 8, 8)
    got = _run(path, fmt, x)
    with torch.no_grad():
        expected = [o.numpy() for o in net(x)]
    assert [g.shape for g in got] == [(3, 4), (3, 6)]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)
    if fmt == "onnx":
        assert _output_names(path) == ["logits", "output_1"]


@pytest.mark.slow  # 8 s; TwoOutputs covers several ONNX outputs in CI
@needs_onnx
def test_loss_weights_none_exports_googlenet_as_paddle_saves_it(tmp_path: Path) -> None:
    """Paddle's ``jit.save`` form: the three outputs, each with a dynamic batch axis."""
    import onnx

    net = _googlenet()
    net.loss_weights = None
    path = tmp_path / "googlenet3.onnx"
    result = export(net, path, input_size=SIZE, check_batch_sizes=(1, 2))
    assert max(result.max_abs_diff.values()) <= 1e-4
    graph = onnx.load(str(path)).graph
    assert [o.name for o in graph.output] == ["logits", "output_1", "output_2"]
    assert all(o.type.tensor_type.shape.dim[0].dim_param for o in graph.output)
    x = torch.randn(3, *SIZE)
    with torch.no_grad():
        expected = [o.numpy() for o in net(x)]
    for got, want in zip(_run(path, "onnx", x), expected):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_a_wrong_second_output_is_caught_and_the_file_not_kept(tmp_path: Path, monkeypatch):
    """The check compares every exported output, not only the first."""
    real = export_api.ts_format.run_torchscript

    def corrupt_second(path, batch):
        first, second = real(path, batch)
        return [first, second + 1.0]

    monkeypatch.setattr(export_api.ts_format, "run_torchscript", corrupt_second)
    with pytest.raises(ExportVerificationError, match=r"differs from PyTorch by up to 1\.0"):
        export(TwoOutputs().eval(), tmp_path / "two.pt", input_size=(3, 8, 8))
    assert list(tmp_path.iterdir()) == []
