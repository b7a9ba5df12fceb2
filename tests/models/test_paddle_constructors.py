"""Paddle's constructor forms for ResNet, VGG, MobileNetV1/V2 and LeNet, and their feature_info.

The Paddle facts below (signatures, parameter counts, state-dict keys) were read once from real
paddlepaddle 3.3.1 (``inspect.signature``, ``sum(p.size for p in net.parameters())``,
``net.state_dict()``) and are kept here as data: the tests do not import paddle. Paddle's
``parameters()`` include the BatchNorm statistics (``_mean``/``_variance``), which torch keeps as
buffers, so Paddle's count is compared with ours plus the ``running_mean``/``running_var``
elements.

Most networks here are built on the meta device: shapes only, no memory and no initialisation,
so even the 115M-parameter ResNeXt-152 costs milliseconds, and a forward pass on meta tensors
gives the output and feature-map shapes that a real one would.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from resvision import models
from resvision.models import (
    VGG,
    BasicBlock,
    BottleneckBlock,
    LeNet,
    MobileNetV1,
    MobileNetV2,
    ResNet,
    create_model,
    list_models,
    model_info,
)
from resvision.models.features import FeatureInfo
from resvision.models.vgg import cfgs, make_layers
from resvision.models.weights.convert import convert_state_dict

REQUIRED = inspect.Parameter.empty

# inspect.signature(paddle.vision.models.<name>) in paddlepaddle 3.3.1: the named parameters in
# order with their defaults (every builder also takes **kwargs, as ours do).
PADDLE_SIGNATURES: dict[str, list[tuple[str, Any]]] = {
    "ResNet": [
        ("block", REQUIRED),
        ("depth", 50),
        ("width", 64),
        ("num_classes", 1000),
        ("with_pool", True),
        ("groups", 1),
    ],
    **{
        name: [("pretrained", False)]
        for name in [
            "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
            "resnext50_32x4d", "resnext50_64x4d", "resnext101_32x4d", "resnext101_64x4d",
            "resnext152_32x4d", "resnext152_64x4d", "wide_resnet50_2", "wide_resnet101_2",
        ]
    },
    "VGG": [("features", REQUIRED), ("num_classes", 1000), ("with_pool", True)],
    **{
        name: [("pretrained", False), ("batch_norm", False)]
        for name in ["vgg11", "vgg13", "vgg16", "vgg19"]
    },
    "MobileNetV1": [("scale", 1.0), ("num_classes", 1000), ("with_pool", True)],
    "MobileNetV2": [("scale", 1.0), ("num_classes", 1000), ("with_pool", True)],
    "mobilenet_v1": [("pretrained", False), ("scale", 1.0)],
    "mobilenet_v2": [("pretrained", False), ("scale", 1.0)],
    "LeNet": [("num_classes", 10)],
}  # fmt: skip
PADDLE_BUILDERS_WITH_KWARGS = {n for n in PADDLE_SIGNATURES if n[0].islower()}

# ResNet's first arguments pick one of two forms (Paddle's with a block class, the tutorial's
# with an int), so their defaults are None and resolved by the form; the resolved defaults are
# Paddle's (test_resnet_paddle_form_defaults_are_paddles).
DUAL_FORM_DEFAULTS = {("ResNet", "block"), ("ResNet", "depth"), ("ResNet", "num_classes")}


def _positional(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p for p in inspect.signature(fn).parameters.values() if p.kind in kinds]


@pytest.mark.parametrize("name", sorted(PADDLE_SIGNATURES))
def test_signature_starts_with_paddles_parameters(name: str) -> None:
    ours = getattr(models, name)
    positional = _positional(ours)
    expected = PADDLE_SIGNATURES[name]
    # Paddle's parameters, in Paddle's order, are exactly our positional ones: anything we add
    # is keyword-only and cannot shift a positional call written for Paddle.
    assert [p.name for p in positional] == [n for n, _ in expected]
    for param, (pname, default) in zip(positional, expected):
        if (name, pname) in DUAL_FORM_DEFAULTS:
            assert param.default is None
        else:
            assert param.default == default, f"{name}({pname}=...)"
    has_kwargs = any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(ours).parameters.values()
    )
    assert has_kwargs == (name in PADDLE_BUILDERS_WITH_KWARGS)


def test_resnet_paddle_form_defaults_are_paddles() -> None:
    with torch.device("meta"):
        net = ResNet(BottleneckBlock)
    assert net.layers == 50 and net.num_classes == 1000 and net.with_pool
    conv = net.layer1[0].conv1._conv  # width 64, groups 1: the 3x3 convolution of ResNet-50
    assert (conv.out_channels, conv.groups) == (64, 1)


# paddlepaddle 3.3.1: (sum of parameters() incl. BatchNorm statistics, trainable ones,
# len(state_dict())) with the default 1000 classes (LeNet: 10).
PADDLE_COUNTS = {
    "resnet18": (11_699_112, 11_689_512, 102),
    "resnet34": (21_814_696, 21_797_672, 182),
    "resnet50": (25_610_152, 25_557_032, 267),
    "resnet101": (44_654_504, 44_549_160, 522),
    "resnet152": (60_344_232, 60_192_808, 777),
    "resnext50_32x4d": (25_097_128, 25_028_904, 267),
    "resnext50_64x4d": (45_290_920, 45_192_488, 267),
    "resnext101_32x4d": (44_315_560, 44_177_704, 522),
    "resnext101_64x4d": (83_658_152, 83_455_272, 522),
    "resnext152_32x4d": (60_150_696, 59_951_400, 777),
    "resnext152_64x4d": (115_266_984, 114_971_944, 777),
    "wide_resnet50_2": (68_951_464, 68_883_240, 267),
    "wide_resnet101_2": (127_024_552, 126_886_696, 522),
    "vgg11": (132_863_336, 132_863_336, 22),
    "vgg13": (133_047_848, 133_047_848, 26),
    "vgg16": (138_357_544, 138_357_544, 32),
    "vgg19": (143_667_240, 143_667_240, 38),
    "vgg11_bn": (132_874_344, 132_868_840, 54),  # Paddle: vgg11(batch_norm=True)
    "vgg13_bn": (133_059_624, 133_053_736, 66),
    "vgg16_bn": (138_374_440, 138_365_992, 84),
    "vgg19_bn": (143_689_256, 143_678_248, 102),
    "mobilenet_v1": (4_253_864, 4_231_976, 137),
    "mobilenet_v2": (3_538_984, 3_504_872, 262),
    "lenet": (61_610, 61_610, 10),
}


def _counts(net: nn.Module) -> tuple[int, int, int]:
    trainable = sum(p.numel() for p in net.parameters())
    stats = sum(
        b.numel()
        for name, b in net.named_buffers()
        if name.endswith(("running_mean", "running_var"))
    )
    keys = len(convert_state_dict(net.state_dict(), target="paddle"))
    return trainable + stats, trainable, keys


@pytest.mark.parametrize(("name", "expected"), sorted(PADDLE_COUNTS.items()))
def test_parameter_and_key_counts_equal_paddles(name: str, expected: tuple[int, int, int]) -> None:
    with torch.device("meta"):
        net = create_model(name)
    assert _counts(net) == expected


@pytest.mark.parametrize(
    ("name", "groups", "width"),
    [("resnext50_64x4d", 64, 4), ("resnext152_32x4d", 32, 4), ("resnext152_64x4d", 64, 4)],
)
def test_new_resnext_variants_are_paddles(name: str, groups: int, width: int) -> None:
    with torch.device("meta"):
        net = create_model(name)
        paddle_form = ResNet(BottleneckBlock, net.layers, width=width, groups=groups)
    assert model_info(name).family == "resnet"
    assert net.layers == int(name[len("resnext") : name.index("_")])
    conv = net.layer1[0].conv1._conv
    assert conv.groups == groups and conv.out_channels == groups * width
    assert _counts(net) == _counts(paddle_form)
    # Representative keys and shapes of Paddle's state dict (paddlepaddle 3.3.1).
    state = {
        k: tuple(v.shape) for k, v in convert_state_dict(net.state_dict(), target="paddle").items()
    }
    assert state["layer1.0.conv2.weight"] == (groups * width, width, 3, 3)
    assert state["layer4.2.bn3._variance"] == (2048,)
    assert state["layer4.0.downsample.0.weight"] == (2048, 1024, 1, 1)
    assert state["fc.weight"] == (2048, 1000)  # Paddle's Linear is [in, out]
    if net.layers == 152:
        assert state["layer3.35.conv2.weight"] == (16 * groups * width // 4, 16, 3, 3)


def test_resnext_builders_fix_their_groups_and_width() -> None:
    with pytest.raises(TypeError, match=r"resnext50_64x4d sets groups=64.*got groups=32"):
        models.resnext50_64x4d(groups=32)
    with pytest.raises(TypeError, match=r"wide_resnet50_2 sets width=128"):
        models.wide_resnet50_2(width=64)


# ---- ResNet: the two forms -------------------------------------------------------------------


def test_resnet_tutorial_form_reads_the_second_argument_as_class_dim() -> None:
    with torch.device("meta"):
        net = ResNet(18, 5)
        by_name = ResNet(layers=34, class_dim=3)
        by_depth = ResNet(depth=101)
    assert (net.layers, net.num_classes, net.fc.out_features) == (18, 5, 5)
    assert isinstance(net.layer1[0], BasicBlock)
    assert (by_name.layers, by_name.num_classes) == (34, 3)
    assert (by_depth.layers, by_depth.num_classes) == (101, 1000)
    assert isinstance(by_depth.layer1[0], BottleneckBlock)


def test_resnet_tutorial_form_refuses_a_network_without_classifier() -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError, match=rf">= 1, got {bad}.*ResNet\(BottleneckBlock, 50"):
            ResNet(50, bad)
        with pytest.raises(ValueError, match=rf">= 1, got {bad}"):
            ResNet(layers=50, num_classes=bad)


def test_resnet_paddle_form_takes_depth_from_the_argument_and_blocks_from_the_block() -> None:
    with torch.device("meta"):
        basic50 = ResNet(BasicBlock, 50)  # Paddle builds this: ResNet-34's network
        resnet34 = models.resnet34()
        wide = ResNet(BottleneckBlock, 50, width=64 * 2)
        resnext = ResNet(BottleneckBlock, 50, width=4, groups=32)
    assert _counts(basic50) == _counts(resnet34) == PADDLE_COUNTS["resnet34"]
    assert basic50.layers == 50 and all(isinstance(b, BasicBlock) for b in basic50.layer3)
    assert _counts(wide) == PADDLE_COUNTS["wide_resnet50_2"]
    assert _counts(resnext) == PADDLE_COUNTS["resnext50_32x4d"]


@pytest.mark.parametrize(
    ("num_classes", "with_pool", "shape"),
    [(0, True, (2, 512, 1, 1)), (-1, True, (2, 512, 1, 1)), (0, False, (2, 512, 2, 2)),
     (7, True, (2, 7))],
)  # fmt: skip
def test_resnet_paddle_num_classes_rule(num_classes: int, with_pool: bool, shape: tuple) -> None:
    # The shapes are what paddle.vision.models.resnet18(num_classes=..., with_pool=...) returns
    # for a 64x64 input (paddlepaddle 3.3.1).
    for net in (
        ResNet(BasicBlock, 18, num_classes=num_classes, with_pool=with_pool),
        models.resnet18(num_classes=num_classes, with_pool=with_pool),
    ):
        assert net.num_classes == num_classes
        assert net.eval()(torch.randn(2, 3, 64, 64)).shape == shape
        has_fc = any(k.startswith("fc.") for k in net.state_dict())
        assert has_fc == (num_classes > 0) == (not net.paddle_headless)


def test_resnet_without_pooling_flattens_a_1x1_map_into_the_classifier() -> None:
    net = models.resnet18(num_classes=3, with_pool=False).eval()
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 3)  # 32 / 32: a 1x1 map, as in Paddle
    with pytest.raises(ValueError, match=r"with_pool=False.*1x1 feature map, got a 2x2 map"):
        net(torch.randn(1, 3, 64, 64))


def test_resnet_form_errors_name_the_bad_value() -> None:
    with pytest.raises(TypeError, match=r"BasicBlock or BottleneckBlock.*Conv2d"):
        ResNet(nn.Conv2d, 50)
    with pytest.raises(TypeError, match=r"got '50' of type str"):
        ResNet("50")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"got True of type bool"):
        ResNet(True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"tutorial's form"):
        ResNet(BottleneckBlock, class_dim=10)
    with pytest.raises(TypeError, match=r"depth is given twice: ResNet\(18, layers=34\)"):
        ResNet(18, layers=34)
    with pytest.raises(TypeError, match=r"depth is given twice: layers=18 and depth=34"):
        ResNet(layers=18, depth=34)
    with pytest.raises(TypeError, match=r"class_dim is given twice"):
        ResNet(18, 5, class_dim=6)
    with pytest.raises(ValueError, match=r"supported depths are .*got depth=42"):
        ResNet(BottleneckBlock, 42)
    with pytest.raises(TypeError, match=r"num_classes must be an int.*10\.0"):
        ResNet(BottleneckBlock, 50, num_classes=10.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"with_pool must be True or False, got 1"):
        models.resnet18(with_pool=1)  # type: ignore[arg-type]


def test_builders_keep_their_behaviour_for_positive_num_classes() -> None:
    with torch.device("meta"):
        net = models.resnet50(num_classes=10)
        positional = models.resnet50(False, num_classes=10)  # Paddle: pretrained comes first
    assert net.num_classes == 10 and net.fc.out_features == 10 and net.with_pool
    assert not net.paddle_headless and positional.fc.out_features == 10


# ---- the network without classifier: reset_classifier and pretrained weights ----------------


def test_reset_classifier_of_a_network_built_without_one() -> None:
    net = models.resnet18(num_classes=-1).eval()
    x = torch.randn(2, 3, 64, 64)
    assert net.get_classifier() is net.fc and isinstance(net.fc, nn.Identity)
    net.reset_classifier(0)  # no classifier to remove: it keeps returning Paddle's output
    assert net(x).shape == (2, 512, 1, 1)
    net.reset_classifier(4)
    assert net(x).shape == (2, 4) and net.num_classes == 4
    net.reset_classifier(0)  # timm's head-less form: flattened pre-logits
    assert net(x).shape == (2, 512)


@pytest.mark.parametrize(
    ("name", "size", "shape"),
    [
        ("resnet18", 64, (1, 512, 1, 1)),
        ("mobilenet_v1", 64, (1, 1024, 1, 1)),
        ("mobilenet_v2", 64, (1, 1280, 1, 1)),
        ("lenet", 28, (1, 16, 5, 5)),
    ],
)
def test_weights_with_a_classifier_load_into_a_network_without_one(
    name: str, size: int, shape: tuple[int, ...]
) -> None:
    """Paddle's ``set_dict`` loads a full file into ``num_classes=0``; so does ``pretrained``."""
    torch.manual_seed(0)
    full = create_model(name).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the classifier is skipped, and said so
        net = create_model(name, num_classes=0, pretrained=full.state_dict()).eval()
    assert net.pretrained_cfg["skipped_keys"] and net.paddle_headless
    x = torch.randn(1, model_info(name).input_size[0], size, size)
    with torch.no_grad():
        out = net(x)
        expected = full.forward_head(full.forward_features(x), pre_logits=True)
    assert out.shape == shape
    if name == "lenet":  # its pre-logits are after the hidden layers: compare the map
        torch.testing.assert_close(out, full.features(x))
    else:
        torch.testing.assert_close(out.flatten(1), expected)


def test_vgg_weights_with_a_classifier_load_into_a_network_without_one() -> None:
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = models.vgg11().state_dict()
        net = models.vgg11(num_classes=0, pretrained=full)
    # All three linear layers are Paddle's classifier: skipped together, the rest loaded.
    assert net.pretrained_cfg["skipped_keys"] == sorted(k for k in full if k.startswith("cl"))
    assert net.pretrained_cfg["loaded_keys"] == len(full) - 6


# ---- VGG -------------------------------------------------------------------------------------


def test_vgg_paddle_form_and_batch_norm_builders() -> None:
    with torch.device("meta"):
        paddle_form = VGG(make_layers(cfgs["D"], batch_norm=True))
        built = models.vgg16(batch_norm=True)
        bn_name = models.vgg16_bn()
        by_depth = VGG(16)
    keys = list(bn_name.state_dict())
    assert list(paddle_form.state_dict()) == list(built.state_dict()) == keys
    assert "features.1.running_mean" in keys  # BatchNorm after the first convolution
    assert _counts(built) == PADDLE_COUNTS["vgg16_bn"]
    assert _counts(by_depth) == PADDLE_COUNTS["vgg16"]
    assert len(make_layers(cfgs["E"])) == 16 * 2 + 5  # 16 convs with ReLU, 5 max-pools


def test_vgg_batch_norm_loads_the_bn_weights_name() -> None:
    with torch.device("meta"):
        source = models.vgg11_bn().state_dict()
        net = models.vgg11(batch_norm=True, pretrained=source)
    assert net.pretrained_cfg["model"] == "vgg11_bn"  # Paddle's arch name for its weights


@pytest.mark.parametrize(
    ("num_classes", "with_pool", "size", "shape"),
    [(0, True, 64, (1, 512, 7, 7)), (-1, False, 64, (1, 512, 2, 2)), (5, False, 224, (1, 5)),
     (5, True, 64, (1, 5))],
)  # fmt: skip
def test_vgg_paddle_num_classes_rule(
    num_classes: int, with_pool: bool, size: int, shape: tuple[int, ...]
) -> None:
    with torch.device("meta"):
        net = models.vgg11(num_classes=num_classes, with_pool=with_pool).eval()
        out = net(torch.empty(1, 3, size, size))
    assert out.shape == shape
    classifier_keys = [k for k in net.state_dict() if k.startswith("classifier.")]
    # Paddle builds all three linear layers or none of them.
    assert len(classifier_keys) == (6 if num_classes > 0 else 0)


def test_vgg_without_pooling_needs_a_7x7_map_and_refuses_options_it_would_ignore() -> None:
    with torch.device("meta"):
        net = models.vgg11(num_classes=5, with_pool=False)
        with pytest.raises(ValueError, match=r"flattened 7x7 feature map, got a 2x2 map"):
            net(torch.empty(1, 3, 64, 64))
        with pytest.raises(ValueError, match=r"batch_norm=True.*make_layers"):
            VGG(make_layers(cfgs["A"]), batch_norm=True)
        with pytest.raises(TypeError, match=r"features must be an nn.Module.*'A'"):
            VGG("A")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"cfg items must be .* got 0"):
            make_layers([64, "M", 0])


def test_vgg_without_classifier_gets_paddles_whole_classifier_back() -> None:
    with torch.device("meta"):
        net = models.vgg11(num_classes=0)
        assert net.get_classifier() is net.classifier and net.num_features == 512 * 7 * 7
        net.reset_classifier(3)
        out = net(torch.empty(2, 3, 32, 32))
    assert out.shape == (2, 3) and net.num_features == 4096
    assert sum(k.startswith("classifier.") for k in net.state_dict()) == 6


# ---- MobileNetV1/V2 and LeNet ----------------------------------------------------------------


@pytest.mark.parametrize("cls", [MobileNetV1, MobileNetV2])
@pytest.mark.parametrize(
    ("num_classes", "with_pool", "size", "spatial"),
    [(0, True, 64, 1), (-2, False, 64, 2), (4, False, 32, None), (4, True, 64, None)],
)
def test_mobilenet_paddle_num_classes_rule(
    cls: type[nn.Module], num_classes: int, with_pool: bool, size: int, spatial: int | None
) -> None:
    with torch.device("meta"):
        net = cls(0.5, num_classes, with_pool).eval()
        out = net(torch.empty(1, 3, size, size))
    width = 512 if cls is MobileNetV1 else 1280  # MobileNetV2 keeps 1280 below scale 1
    assert out.shape == ((1, 4) if spatial is None else (1, width, spatial, spatial))
    head = "fc." if cls is MobileNetV1 else "classifier."
    assert any(k.startswith(head) for k in net.state_dict()) == (num_classes > 0)
    assert net.num_classes == num_classes


def test_mobilenet_builders_take_pretrained_then_scale_as_paddle() -> None:
    with torch.device("meta"):
        v1 = models.mobilenet_v1(False, 0.25, num_classes=0)
        v2 = models.mobilenet_v2(False, 0.5, with_pool=False, num_classes=3)
    assert v1.scale == 0.25 and v1.paddle_headless
    assert v2.scale == 0.5 and not v2.with_pool and v2.get_classifier().out_features == 3
    with (
        pytest.raises(ValueError, match=r"flattened 1x1 feature map, got a 7x7 map"),
        torch.device("meta"),
    ):
        v2(torch.empty(1, 3, 224, 224))


def test_lenet_without_classifier_returns_paddles_feature_map() -> None:
    net = LeNet(num_classes=-3)
    assert net.num_classes == -3  # kept as given, as Paddle keeps it
    assert not any(k.startswith("fc.") for k in net.state_dict())
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 16, 5, 5)
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 16, 6, 6)  # any size, as Paddle
    assert models.lenet(num_classes=0)(torch.randn(1, 1, 28, 28)).shape == (1, 16, 5, 5)
    net.reset_classifier(10)
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)


# ---- feature_info ----------------------------------------------------------------------------

_OUR_MODULES = {
    f"resvision.models.{m}"
    for m in ("resnet", "cifar_resnet", "airnet", "vgg", "mobilenet", "lenet")
}
FAMILY_MODELS = [n for n in list_models() if model_info(n).constructor.__module__ in _OUR_MODULES]
# Variants whose stages differ from their registered defaults.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "resnet18-cifar-stem": ("resnet18", {"stem": "cifar"}),
    "resnet50-no-classifier": ("resnet50", {"num_classes": 0, "with_pool": False}),
    "resnet20-option-b": ("resnet20", {"shortcut_type": "B"}),
    "vgg13-bn": ("vgg13", {"batch_norm": True}),
    "mobilenet_v1-0.25": ("mobilenet_v1", {"scale": 0.25}),
    "mobilenet_v2-0.35": ("mobilenet_v2", {"scale": 0.35}),
    "mobilenet_v2-1.4": ("mobilenet_v2", {"scale": 1.4}),
}
TWO_SIZES = {
    "resnet18",
    "resnet50",
    "resnet20",
    "airnet",
    "vgg11_bn",
    "mobilenet_v1",
    "mobilenet_v2",
}
# Networks whose convolutions shrink the map beyond the strides (no padding): the measured
# reduction is a little larger than the nominal one (AirNet's 2x2 whitening, LeNet's 5x5).
UNPADDED = {"airnet", "lenet"}


def _build(key: str) -> tuple[str, nn.Module]:
    name, kwargs = VARIANTS.get(key, (key, {}))
    if name == "airnet":
        kwargs = {"tta_level": 0}  # one view: each stage runs once
    with torch.device("meta"):
        return name, create_model(name, **kwargs).eval()


def _measure(net: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Size]]:
    """Run ``net`` and record, in firing order, the output shape of every feature_info module."""
    seen: list[tuple[str, torch.Size]] = []
    handles = [
        net.get_submodule(info.module).register_forward_hook(
            lambda _m, _i, out, name=info.module: seen.append((name, out.shape))
        )
        for info in net.feature_info
    ]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


@pytest.mark.parametrize("key", FAMILY_MODELS + sorted(VARIANTS))
def test_feature_info_matches_a_forward_pass(key: str) -> None:
    name, net = _build(key)
    info = net.feature_info
    assert info and all(isinstance(i, FeatureInfo) for i in info)
    channels, height, _ = model_info(name).input_size
    # The natural size, and twice it for one network per family: reductions are ratios, not
    # sizes (LeNet's classifier takes 28x28 only).
    for size in [height, 2 * height] if key in TWO_SIZES else [height]:
        seen = _measure(net, torch.empty(1, channels, size, size, device="meta"))
        # One output per stage, in the listed (forward) order.
        assert [m for m, _ in seen] == [i.module for i in info]
        for stage, (_, shape) in zip(info, seen):
            assert shape[1] == stage.channels, stage
            assert shape[2] == shape[3]
            if name in UNPADDED:
                assert stage.reduction <= size / shape[2] < 1.5 * stage.reduction, (stage, shape)
            else:
                assert size / shape[2] == stage.reduction, (stage, shape)
    reductions = [i.reduction for i in info]
    assert reductions == sorted(reductions) and len({i.module for i in info}) == len(info)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("resnet50", [("conv", 64, 2), ("layer1", 256, 4), ("layer2", 512, 8),
                      ("layer3", 1024, 16), ("layer4", 2048, 32)]),
        ("resnet20", [("conv", 16, 1), ("layer1", 16, 1), ("layer2", 32, 2), ("layer3", 64, 4)]),
        ("airnet", [("act", 24, 1), ("layers.0", 64, 2), ("layers.1", 256, 4),
                    ("layers.2", 256, 8)]),
        ("vgg11", [("features.1", 64, 1), ("features.4", 128, 2), ("features.9", 256, 4),
                   ("features.14", 512, 8), ("features.19", 512, 16)]),
        ("mobilenet_v1", [("blocks.conv2_1", 64, 2), ("blocks.conv3_1", 128, 4),
                          ("blocks.conv4_1", 256, 8), ("blocks.conv5_5", 512, 16),
                          ("blocks.conv6", 1024, 32)]),
        ("mobilenet_v2", [("features.1", 16, 2), ("features.3", 24, 4), ("features.6", 32, 8),
                          ("features.13", 96, 16), ("features.17", 320, 32)]),
        ("lenet", [("features.1", 6, 1), ("features.4", 16, 2)]),
    ],
)  # fmt: skip
def test_feature_info_names_the_stages_as_timm(name: str, expected: list[tuple]) -> None:
    _, net = _build(name)
    assert [(i.module, i.channels, i.reduction) for i in net.feature_info] == expected


def test_feature_info_on_real_tensors_agrees_with_meta() -> None:
    for name in ("resnet18", "mobilenet_v2"):
        torch.manual_seed(0)
        net = create_model(name).eval()
        real = _measure(net, torch.randn(1, 3, 64, 64))
        meta = _measure(net.to("meta"), torch.empty(1, 3, 64, 64, device="meta"))
        assert [(m, tuple(s)) for m, s in real] == [(m, tuple(s)) for m, s in meta]
    assert math.prod(real[-1][1][2:]) == 4  # 64 / 32 = 2: a 2x2 map after the last stage
