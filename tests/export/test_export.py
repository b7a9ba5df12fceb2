"""Export to ONNX / TorchScript, loaded back by ONNX Runtime / TorchScript and compared with eager
PyTorch; a file that disagrees is refused and not kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from resvision.export import (
    ExportVerificationError,
    export,
    read_onnx_metadata,
    read_torchscript_metadata,
)
from resvision.models import create_model

needs_onnx = pytest.mark.skipif(
    any(
        __import__("importlib").util.find_spec(m) is None
        for m in ("onnx", "onnxruntime", "onnxscript")
    ),
    reason="ONNX export needs the onnx extra: pip install 'resvision[onnx]'",
)


def with_random_statistics(net: nn.Module) -> nn.Module:
    """Random BatchNorm statistics: outputs of order 1 (an untrained MobileNetV2 gives ~1e-9,
    which any export would match within an absolute tolerance)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return net


def batch_axis(path: Path) -> str:
    import onnx

    graph = onnx.load(str(path)).graph
    return graph.input[0].type.tensor_type.shape.dim[0].dim_param


@needs_onnx
@pytest.mark.parametrize(
    ("name", "kwargs", "size"),
    [
        # resnet50 and mobilenet_v2 at 64x64: the export is shape-generic in H and W, and small
        # inputs keep the test fast on a 2-core machine
        ("resnet50", {}, (3, 64, 64)),
        ("mobilenet_v2", {}, (3, 64, 64)),
        ("resnet20", {}, None),  # CIFAR ResNet at its natural 32x32, found by itself
    ],
)
def test_onnx_round_trip_batch_1_and_7(name: str, kwargs: dict, size, tmp_path: Path) -> None:
    net = with_random_statistics(create_model(name, **kwargs))
    result = export(net, tmp_path / f"{name}.onnx", input_size=size, check_batch_sizes=(1, 7))
    assert result.output_scale > 0.1
    assert result.path.is_file() and result.format == "onnx"
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.onnx"]  # one self-contained file
    assert sorted(result.max_abs_diff) == [1, 7]
    assert max(result.max_abs_diff.values()) <= 1e-4
    assert batch_axis(result.path) != ""  # a named, dynamic first axis
    meta = read_onnx_metadata(result.path)
    assert json.loads(meta["resvision.input_size"]) == list(size or (3, 32, 32))
    assert net.training  # the caller's model is left as it was


@needs_onnx
def test_onnx_metadata_carries_the_weights_preprocessing_and_categories(tmp_path: Path) -> None:
    net = create_model("resnet20", num_classes=3)
    net.pretrained_cfg = {
        "model": "resnet20",
        "categories": ["cat", "dog", "bird"],
        "preprocessing": {"resize": 36, "crop": 32, "mean": [0.5] * 3, "std": [0.25] * 3},
        "source": "demo.pt",
    }
    result = export(net, tmp_path / "r20.onnx", check_batch_sizes=(2,))
    meta = read_onnx_metadata(result.path)
    assert json.loads(meta["resvision.categories"]) == ["cat", "dog", "bird"]
    assert json.loads(meta["resvision.preprocessing"])["mean"] == [0.5, 0.5, 0.5]
    assert meta["resvision.model"] == "resnet20" and meta["resvision.num_classes"] == "3"


def test_torchscript_round_trip_batch_1_and_7(tmp_path: Path) -> None:
    net = create_model("resnet20")
    result = export(net, tmp_path / "r20.pt", check_batch_sizes=(1, 7), metadata={"note": "x"})
    assert result.format == "torchscript" and max(result.max_abs_diff.values()) <= 1e-4
    meta = read_torchscript_metadata(result.path)
    assert meta["resvision.note"] == "x" and json.loads(meta["resvision.input_size"]) == [3, 32, 32]


class CountingNet(nn.Module):
    """Its output depends on Python state that tracing freezes: the export cannot match it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.conv(x).mean(dim=(2, 3)) * self.calls


@pytest.mark.parametrize("fmt", ["torchscript", pytest.param("onnx", marks=needs_onnx)])
def test_an_export_that_disagrees_is_refused_and_not_kept(fmt: str, tmp_path: Path) -> None:
    target = tmp_path / f"counting.{'onnx' if fmt == 'onnx' else 'pt'}"
    with pytest.raises(ExportVerificationError, match=r"differs from PyTorch by up to .*not kept"):
        export(CountingNet(), target, input_size=(3, 8, 8), check_batch_sizes=(1, 2))
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_tiny_outputs_are_compared_relative_to_their_size(tmp_path: Path) -> None:
    """A network whose outputs are ~1e-6: an export off by 50% stays under atol, not rtol."""

    class Tiny(CountingNet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            return self.conv(x).mean(dim=(2, 3)) * 1e-6 * (1 + 0.5 * (self.calls > 1))

    with pytest.raises(ExportVerificationError, match=r"outputs up to .*rtol=0.001"):
        export(Tiny(), tmp_path / "tiny.pt", input_size=(3, 8, 8), check_batch_sizes=(1,))


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_export_from_a_training_checkpoint(tmp_path: Path) -> None:
    net = create_model("resnet20", num_classes=4)
    ckpt = tmp_path / "final.pt"
    run = {"model": "resnet20", "classes": ["a", "b", "c", "d"], "preprocess": {"size": 32}}
    torch.save(
        {
            "format": "resvision.checkpoint",
            "model": net.state_dict(),
            "callbacks": {"RunInfo": run},
        },
        ckpt,
    )
    result = export(ckpt, tmp_path / "out.pt", check_batch_sizes=(2,))
    meta = read_torchscript_metadata(result.path)
    assert (
        meta["resvision.model"] == "resnet20" and json.loads(meta["resvision.categories"])[3] == "d"
    )
    loaded = torch.jit.load(str(result.path))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), net.eval()(x), atol=1e-5)


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    net = create_model("resnet20")
    with pytest.raises(ValueError, match=r"format must be one of \('onnx', 'torchscript'\)"):
        export(net, tmp_path / "m.tflite")
    with pytest.raises(ValueError, match=r"input_size must be \(C, H, W\)"):
        export(net, tmp_path / "m.pt", input_size=(32, 32))
    torch.save(net.state_dict(), tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="pass model_name="):
        export(tmp_path / "plain.pt", tmp_path / "m.pt")
