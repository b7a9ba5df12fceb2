"""ONNX export of the model families added with Paddle's zoo, checked by ONNX Runtime.

CI exports one variant per family at a small input with the TorchScript-based exporter
(``dynamo=False``). It covers the families' operators (DenseNet's concatenations, the channel
shuffle, Hardswish / Hardsigmoid, Paddle's downscale-in-infer dropout, Inception's 1x7 / 7x1
convolutions, GoogLeNet's main output without its auxiliary ones) with a dynamic batch axis in
about a third of the time of the default ``torch.export``-based exporter, which
``tests/export/test_export.py`` runs on ResNet and MobileNetV2 in CI. Every variant of every
new family goes through the default exporter in the slow tests
(``pytest -m slow tests/export/test_zoo_export.py``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from resvision.export import export, read_onnx_metadata
from resvision.models import create_model, list_models, model_info

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("onnx", "onnxruntime", "onnxscript")),
    reason="ONNX export needs the onnx extra: pip install 'resvision[onnx]'",
)

# One variant per family and a small input it accepts. AlexNet at 224: the TorchScript exporter
# only converts an adaptive pooling whose input is a multiple of its 6x6 output.
CI_CASES = {
    "densenet121": (3, 32, 32),
    "squeezenet1_1": (3, 64, 64),
    "alexnet": (3, 224, 224),
    "shufflenet_v2_x0_25": (3, 32, 32),
    "mobilenet_v3_small": (3, 32, 32),
    "inception_v3": (3, 75, 75),  # its smallest input
    "googlenet": (3, 189, 189),  # the smallest its auxiliary heads take; exported: main output
}
SMALLEST = {
    "googlenet": (3, 189, 189),
    "inception_v3": (3, 75, 75),
    "alexnet": (3, 63, 63),
    "squeezenet1_0": (3, 64, 64),  # its stride-2 7x7 stem and three pools: 2x2 at 32 px, too small
    "squeezenet1_1": (3, 64, 64),
}
NEW_FAMILIES = ("densenet", "squeezenet", "alexnet", "shufflenet", "googlenet", "inception")


def with_random_statistics(net: nn.Module) -> nn.Module:
    """Random BatchNorm statistics and affine parameters: outputs of order 1 (an untrained
    MobileNetV3's are ~1e-7, which any export would match within an absolute tolerance)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return net


def check_export(name: str, size: tuple[int, int, int], tmp_path: Path, dynamo: bool) -> None:
    net = with_random_statistics(create_model(name))
    result = export(
        net, tmp_path / f"{name}.onnx", input_size=size, check_batch_sizes=(1, 3), dynamo=dynamo
    )
    assert result.output_scale > 1e-2  # a real comparison, not of near-zero outputs
    assert sorted(result.max_abs_diff) == [1, 3]  # the batch axis is dynamic
    assert max(result.max_abs_diff.values()) <= max(1e-4, 1e-4 * result.output_scale)
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.onnx"]  # one self-contained file
    assert json.loads(read_onnx_metadata(result.path)["resvision.input_size"]) == list(size)
    assert net.training  # the caller's model is left as it was


@pytest.mark.parametrize("name", list(CI_CASES))
def test_one_variant_per_new_family_exports_to_onnx(name: str, tmp_path: Path) -> None:
    check_export(name, CI_CASES[name], tmp_path, dynamo=False)


def _variants() -> list[str]:
    names = [n for n in list_models() if model_info(n).family in NEW_FAMILIES]
    names += [n for n in list_models() if n.startswith(("mobilenet_v3", "resnext"))]
    return sorted(names)


@pytest.mark.slow
@pytest.mark.parametrize("name", _variants())
def test_every_variant_exports_with_the_default_exporter(name: str, tmp_path: Path) -> None:
    size = SMALLEST.get(name, (3, 32, 32))
    check_export(name, size, tmp_path, dynamo=True)
