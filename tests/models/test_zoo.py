"""Checks every registered model gets for free: generated from ``list_models()``.

Each model is built once per test module (``pristine``) and every test works on a deep copy, so
the 130M-parameter VGGs are initialised once; pytest groups the tests by model because
``model_name`` is a module-scoped parametrised fixture, so only one model is alive at a time.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from resvision.models import create_model, list_models, main_output, model_info

ALL_MODELS = list_models()

# The ImageNet-size models are exercised at 64x64 for the gradient and round-trip checks: the
# test is about the wiring, every one of them accepts 64x64 (global/adaptive pooling), and the
# cost drops 12x. The forward-shape check runs at the natural size.
SMALL_SIZE = {(3, 224, 224): (3, 64, 64)}
# Per model, where 64x64 does not fit: Paddle's GoogLeNet aux heads pool to exactly 3x3 (inputs of
# 189-236 px); InceptionV3's unpadded reductions need at least 75x75.
SMALL_SIZE_OF = {"googlenet": (3, 192, 192), "inception_v3": (3, 75, 75)}
# A forward may return several outputs (GoogLeNet: the main logits, then the auxiliary ones, as
# Paddle's): the checks read main_output(...) of it, the backward check sums the losses of all
# outputs so that every head gets a gradient, and the round trip compares them all.

# Models following Paddle's num_classes rule (any int; <= 0 builds no classifier) rather than
# refusing 0; each family's own test file checks what they return then.
PADDLE_NUM_CLASSES_RULE = {
    "googlenet",
    "inception_v3",
    *("mobilenet_v3_small", "mobilenet_v3_large"),
    *(f"shufflenet_v2_{v}" for v in ("x0_25", "x0_33", "x0_5", "x1_0", "x1_5", "x2_0", "swish")),
    *(f"densenet{n}" for n in (121, 161, 169, 201, 264)),
    *("squeezenet1_0", "squeezenet1_1", "alexnet"),
    # ResNet/ResNeXt/Wide ResNet builders, VGG, MobileNetV1/V2, LeNet (test_paddle_constructors.py)
    *list_models(family="resnet"),
    *list_models(family="vgg"),
    *("mobilenet_v1", "mobilenet_v2", "lenet"),
}


# The gradient and round-trip checks of these 80M-140M-parameter models repeat, at several seconds
# each on a 2-core machine, what a smaller sibling built by the same code already checks (only a
# depth or width table differs). They still get every other check here, and their parameter
# counts are checked in test_architectures.py. RESVISION_FULL_ZOO_TESTS=1 runs them too.
COVERED_BY_SIBLING = {
    "vgg13": "vgg11",
    "vgg16": "vgg11",
    "vgg19": "vgg11",
    "vgg13_bn": "vgg11_bn",
    "vgg16_bn": "vgg11_bn",
    "vgg19_bn": "vgg11_bn",
    "wide_resnet101_2": "wide_resnet50_2",
    "resnext101_64x4d": "resnext101_32x4d",
    # only the depth and group tables differ from resnext50_32x4d / resnext101_32x4d
    "resnext50_64x4d": "resnext50_32x4d",
    "resnext152_32x4d": "resnext101_32x4d",
    "resnext152_64x4d": "resnext101_32x4d",
    # only the width table differs from x1_0
    "shufflenet_v2_x1_5": "shufflenet_v2_x1_0",
    "shufflenet_v2_x2_0": "shufflenet_v2_x1_0",
    # only the block table (and 161's widths) differs from densenet121
    **{f"densenet{n}": "densenet121" for n in (161, 169, 201, 264)},
}
FULL = os.environ.get("RESVISION_FULL_ZOO_TESTS") == "1"


def _skip_if_covered(name: str) -> None:
    if name in COVERED_BY_SIBLING and not FULL:
        pytest.skip(
            f"{name}: same code path as {COVERED_BY_SIBLING[name]} (set RESVISION_FULL_ZOO_TESTS=1)"
        )


@pytest.fixture(scope="module", params=ALL_MODELS)
def model_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def pristine(model_name: str) -> nn.Module:
    torch.manual_seed(0)
    return create_model(model_name)


@pytest.fixture
def model(pristine: nn.Module) -> nn.Module:
    """A private copy, for the tests that change the model (gradients, head, weights)."""
    return copy.deepcopy(pristine)


@pytest.fixture
def frozen(pristine: nn.Module) -> Iterator[nn.Module]:
    """The shared model in eval mode, for read-only tests; its mode is restored afterwards."""
    pristine.eval()
    yield pristine
    pristine.train()


def _input(name: str, batch: int, small: bool = False) -> torch.Tensor:
    size = model_info(name).input_size
    if small:
        size = SMALL_SIZE_OF.get(name) or SMALL_SIZE.get(size, size)
    return torch.randn(batch, *size)


def test_registry_metadata_matches_the_model(model_name: str, frozen: nn.Module) -> None:
    info = model_info(model_name)
    assert frozen.num_classes == info.num_classes
    assert info.input_size[0] in (1, 3)


def test_forward_shape_at_natural_input_size(model_name: str, frozen: nn.Module) -> None:
    info = model_info(model_name)
    batch = 1 if info.input_size[1] >= 224 else 2
    with torch.no_grad():
        out = main_output(frozen(_input(model_name, batch)))
    assert out.shape == (batch, info.num_classes)
    assert torch.isfinite(out).all()


def test_features_and_head_compose_to_forward(model_name: str, frozen: nn.Module) -> None:
    model = frozen
    x = _input(model_name, 2, small=True)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.dim() == 4 and features.shape[0] == 2
        pre = model.forward_head(features, pre_logits=True)
        logits = model.forward_head(features)
        torch.testing.assert_close(logits, main_output(model(x)))
    assert pre.shape == (2, model.num_features)
    assert logits.shape == (2, model.num_classes)


def test_backward_reaches_every_parameter(model_name: str, pristine: nn.Module) -> None:
    _skip_if_covered(model_name)
    model = copy.deepcopy(pristine)
    model.train()
    out = model(_input(model_name, 2, small=True))
    outputs = out if isinstance(out, (tuple, list)) else (out,)
    sum(nn.functional.cross_entropy(o, torch.tensor([0, 1])) for o in outputs).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"{model_name}: no gradient for {missing[:5]}"
    # A sum is finite exactly when every term is (NaN and inf propagate), without allocating a
    # mask as large as the 100M-element VGG gradients.
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p.grad.sum())]
    assert not bad, f"{model_name}: non-finite gradient for {bad[:5]}"


def test_reset_classifier_changes_output_width(model_name: str, model: nn.Module) -> None:
    model.eval()
    x = _input(model_name, 2, small=True)
    model.reset_classifier(7)
    assert model.num_classes == 7
    assert model.get_classifier().out_features == 7
    with torch.no_grad():
        assert main_output(model(x)).shape == (2, 7)
    model.reset_classifier(0)  # head-less: the network returns its pre-logits features
    assert model.num_classes == 0
    with torch.no_grad():
        assert main_output(model(x)).shape == (2, model.num_features)
    with pytest.raises(ValueError, match="-3"):
        model.reset_classifier(-3)


def test_state_dict_round_trip_gives_identical_outputs(
    model_name: str, pristine: nn.Module, tmp_path: Path
) -> None:
    _skip_if_covered(model_name)
    model = copy.deepcopy(pristine)
    model.eval()
    x = _input(model_name, 2, small=True)
    with torch.no_grad():
        expected = model(x)
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)

    # Every parameter and buffer is then overwritten with other values, so the outputs can only
    # match again if loading restores all of them.
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.is_floating_point():
                tensor.uniform_(0.5, 1.5)
        assert not torch.equal(main_output(model(x)), main_output(expected))
    model.load_state_dict(torch.load(path, weights_only=True, mmap=True))
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, rtol=0, atol=0)


def test_constructor_rejects_bad_num_classes(model_name: str) -> None:
    if model_name in PADDLE_NUM_CLASSES_RULE:  # 0 and -1 are valid there
        with pytest.raises(TypeError, match=r"10\.0"):
            create_model(model_name, num_classes=10.0)
        return
    with pytest.raises(ValueError, match=r"num_classes must be an int >= 1, got 0"):
        create_model(model_name, num_classes=0)
    with pytest.raises(ValueError, match="-1"):
        create_model(model_name, num_classes=-1)
    with pytest.raises(TypeError, match=r"10\.0"):
        create_model(model_name, num_classes=10.0)
