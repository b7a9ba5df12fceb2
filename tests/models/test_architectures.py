"""Architecture facts: published parameter counts, the tutorial's ResNet, options and errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from resvision.models import (
    VGG,
    BasicBlock,
    BottleneckBlock,
    CifarResNet,
    LeNet,
    MobileNetV1,
    MobileNetV2,
    ResNet,
    ZeroPadShortcut,
    create_model,
    lenet,
    list_models,
    make_divisible,
    model_info,
    resnet18,
    resnet20,
    resnet50,
    vgg11,
)


def _num_params(name: str, **kwargs: object) -> int:
    # Built on the meta device: shapes only, no memory and no random initialisation.
    with torch.device("meta"):
        model = create_model(name, **kwargs)
    return sum(p.numel() for p in model.parameters())


# torchvision's documentation (1000 classes); mobilenet_v1: Keras' trainable count of the same net.
PUBLISHED_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "resnext101_64x4d": 83_455_272,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
    "vgg11": 132_863_336,
    "vgg11_bn": 132_868_840,
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg16_bn": 138_365_992,
    "vgg19": 143_667_240,
    "vgg19_bn": 143_678_248,
    "mobilenet_v2": 3_504_872,
    "mobilenet_v1": 4_231_976,
    "lenet": 61_610,  # paddle.summary(LeNet(), (1, 1, 28, 28))
}


@pytest.mark.parametrize(("name", "expected"), sorted(PUBLISHED_PARAMS.items()))
def test_parameter_count_equals_the_published_one(name: str, expected: int) -> None:
    assert _num_params(name) == expected


# He et al. 2015, table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M parameters (10 classes).
@pytest.mark.parametrize(
    ("name", "millions", "digits"),
    [("resnet20", 0.27, 2), ("resnet32", 0.46, 2), ("resnet44", 0.66, 2), ("resnet56", 0.85, 2),
     ("resnet110", 1.7, 1)],
)  # fmt: skip
def test_cifar_resnet_parameter_count_matches_the_paper(
    name: str, millions: float, digits: int
) -> None:
    assert round(_num_params(name) / 1e6, digits) == millions


def test_cifar_resnet_option_a_is_parameter_free_and_option_b_is_not() -> None:
    a = CifarResNet(20)
    b = CifarResNet(20, shortcut_type="B")
    shorts = [m.short for m in a.modules() if isinstance(m, BasicBlock) and m.short is not None]
    assert len(shorts) == 2 and all(isinstance(s, ZeroPadShortcut) for s in shorts)
    extra = sum(p.numel() for p in b.parameters()) - sum(p.numel() for p in a.parameters())
    assert extra == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)  # two 1x1 convs with their BN


def test_cifar_resnet_layout() -> None:
    net = resnet20()
    assert net.conv._conv.kernel_size == (3, 3) and net.conv._conv.out_channels == 16
    assert [len(s) for s in (net.layer1, net.layer2, net.layer3)] == [3, 3, 3]
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == 20  # 6n + 2 weighted layers: 19 convolutions and the classifier
    assert net.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 64, 8, 8)


@pytest.mark.parametrize("depth", [19, 21, 2, 0])
def test_cifar_resnet_rejects_depths_not_6n_plus_2(depth: int) -> None:
    with pytest.raises(ValueError, match=rf"6n \+ 2.*got {depth}"):
        CifarResNet(depth)


def test_cifar_resnet_rejects_unknown_shortcut_type() -> None:
    with pytest.raises(ValueError, match=r"\['A', 'B'\], got 'C'"):
        CifarResNet(20, shortcut_type="C")


def test_resnet_follows_the_tutorial() -> None:
    net = ResNet(layers=50, class_dim=10)
    assert net.num_classes == 10 and net.fc.out_features == 10
    assert net.conv._conv.kernel_size == (7, 7) and net.conv._conv.stride == (2, 2)
    assert isinstance(net.pool2d_max, nn.MaxPool2d) and net.pool2d_max.stride == 2
    assert [len(s) for s in (net.layer1, net.layer2, net.layer3, net.layer4)] == [3, 4, 6, 3]
    widths = [
        s[0].conv0._conv.out_channels for s in (net.layer1, net.layer2, net.layer3, net.layer4)
    ]
    assert widths == [64, 128, 256, 512]
    strides = [s[0].conv1._conv.stride for s in (net.layer1, net.layer2, net.layer3, net.layer4)]
    assert strides == [(1, 1), (2, 2), (2, 2), (2, 2)]
    # The first block of every stage projects; the others are identities.
    for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
        assert stage[0].short is not None and all(b.short is None for b in stage[1:])
    # The classifier: Uniform(-1/sqrt(2048), 1/sqrt(2048)) weights, zero bias.
    bound = 1 / math.sqrt(2048)
    assert net.fc.weight.abs().max() <= bound and net.fc.weight.abs().max() > 0.9 * bound
    assert torch.count_nonzero(net.fc.bias) == 0


def test_resnet_state_dict_keys_follow_the_documented_scheme() -> None:
    keys = set(resnet50().state_dict())
    for key in [
        "conv._conv.weight",
        "conv._batch_norm.running_var",
        "layer1.0.conv0._conv.weight",
        "layer1.0.conv2._batch_norm.weight",
        "layer1.0.short._conv.weight",
        "layer1.0.short._batch_norm.bias",
        "layer4.2.conv1._conv.weight",
        "fc.weight",
        "fc.bias",
    ]:
        assert key in keys
    assert "layer1.1.short._conv.weight" not in keys


@pytest.mark.parametrize("layers", [18, 34])
def test_shallow_resnets_use_basic_blocks(layers: int) -> None:
    with torch.device("meta"):
        net = ResNet(layers)
    blocks = [m for m in net.modules() if isinstance(m, (BasicBlock, BottleneckBlock))]
    assert all(isinstance(b, BasicBlock) for b in blocks)
    assert len(blocks) == {18: 8, 34: 16}[layers]
    assert net.layer1[0].short is None  # 64 -> 64 channels: no projection


def test_unsupported_depth_names_the_supported_ones() -> None:
    with pytest.raises(
        ValueError, match=r"supported layers are \[18, 34, 50, 101, 152\], got layers=42"
    ):
        ResNet(layers=42)


def test_num_classes_is_an_alias_of_class_dim() -> None:
    assert ResNet(18).num_classes == 1000
    assert ResNet(18, num_classes=5).fc.out_features == 5
    assert ResNet(18, 5, num_classes=5).num_classes == 5
    with pytest.raises(ValueError, match=r"class_dim=5 and num_classes=6"):
        ResNet(18, class_dim=5, num_classes=6)
    # The builders take Paddle's options: class_dim is only the tutorial form's name.
    with pytest.raises(TypeError, match=r"class_dim= belong to the tutorial's form"):
        resnet18(num_classes=10, class_dim=5)


def test_resnet_rejects_bad_options() -> None:
    with pytest.raises(
        ValueError, match=r"stem must be one of \('imagenet', 'cifar'\), got 'tiny'"
    ):
        ResNet(18, stem="tiny")
    with pytest.raises(ValueError, match=r"groups=32 and width=4.*basic blocks"):
        ResNet(18, groups=32, width=4)
    # The tutorial's form keeps its classifier; the message names Paddle's form for none.
    with pytest.raises(ValueError, match=r"num_classes must be an int >= 1, got 0.*Paddle's form"):
        ResNet(50, class_dim=0)


def test_cifar_stem_keeps_small_images_large() -> None:
    net = resnet18(num_classes=10, stem="cifar").eval()
    assert net.conv._conv.kernel_size == (3, 3) and net.conv._conv.stride == (1, 1)
    assert isinstance(net.pool2d_max, nn.Identity)
    with torch.no_grad():
        assert net.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 512, 4, 4)
        assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_in_channels_option() -> None:
    assert resnet18(in_channels=1).conv._conv.in_channels == 1
    assert MobileNetV2(in_channels=1).features[0][0].in_channels == 1


RESIDUAL_MODELS = list_models(family="resnet") + list_models(family="cifar_resnet")


def _blocks_are_identity_on_shortcut(net: nn.Module, x: torch.Tensor) -> list[bool]:
    """Run ``net`` and report, per residual block, whether output == relu(shortcut(input))."""
    results: list[bool] = []

    def hook(block: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        (inp,) = inputs
        short = inp if block.short is None else block.short(inp)
        results.append(torch.equal(output, torch.relu(short)))

    blocks = [m for m in net.modules() if isinstance(m, (BasicBlock, BottleneckBlock))]
    handles = [b.register_forward_hook(hook) for b in blocks]
    try:
        with torch.no_grad():
            net.eval()(x)
    finally:
        for h in handles:
            h.remove()
    assert len(results) == len(blocks)
    return results


@pytest.mark.parametrize("name", RESIDUAL_MODELS)
def test_zero_init_residual_makes_every_block_the_identity_on_its_shortcut(name: str) -> None:
    size = model_info(name).input_size
    x = torch.randn(1, 3, min(size[1], 64), min(size[2], 64))
    net = create_model(name, num_classes=10, zero_init_residual=True)
    assert all(_blocks_are_identity_on_shortcut(net, x))


def test_without_zero_init_residual_blocks_are_not_identities() -> None:
    assert not any(_blocks_are_identity_on_shortcut(resnet20(), torch.randn(1, 3, 32, 32)))


def test_vgg_layout_matches_torchvision_keys_and_rejects_bad_depth() -> None:
    with torch.device("meta"):
        net = vgg11()
        bn = create_model("vgg11_bn")
    keys = set(net.state_dict())
    assert {
        "features.0.weight",
        "features.18.bias",
        "classifier.0.weight",
        "classifier.6.weight",
    } <= keys
    assert "features.1.running_mean" in bn.state_dict()
    with pytest.raises(ValueError, match=r"supported depths are \[11, 13, 16, 19\], got depth=12"):
        VGG(12)


def test_mobilenet_width_multiplier() -> None:
    with torch.device("meta"):
        half = MobileNetV2(scale=0.5)
        v1 = MobileNetV1(scale=0.25)
    assert half.features[0][0].out_channels == 16 and half.num_features == 1280
    assert v1.conv1._conv.out_channels == 8 and v1.num_features == 256
    assert make_divisible(1280 * 1.4) == 1792
    for bad in (0, -1.0, "1.0"):
        with pytest.raises(ValueError, match="scale"):
            MobileNetV2(scale=bad)  # type: ignore[arg-type]


def test_mobilenet_v1_uses_paddle_block_names() -> None:
    names = [n for n, _ in MobileNetV1(scale=0.25).blocks.named_children()]
    assert names[:3] == ["conv2_1", "conv2_2", "conv3_1"] and names[-1] == "conv6"
    assert len(names) == 13


def test_lenet_layout_and_input_check() -> None:
    net = lenet()
    assert isinstance(net, LeNet)
    assert {"features.0.weight", "features.3.weight", "fc.0.weight", "fc.2.bias"} <= set(
        net.state_dict()
    )
    with pytest.raises(ValueError, match=r"1x28x28.*\(16, 6, 6\)"):
        net(torch.randn(1, 1, 32, 32))


@pytest.mark.parametrize("name", ["resnet20", "lenet", "mobilenet_v2"])
def test_reset_classifier_keeps_the_device_and_dtype_of_the_model(name: str) -> None:
    net = create_model(name).double()
    net.reset_classifier(4)
    assert net.get_classifier().weight.dtype == torch.float64
    size = model_info(name).input_size
    with torch.no_grad():
        assert net.eval()(torch.randn(1, *size, dtype=torch.float64)).shape == (1, 4)
    net.to("meta")
    net.reset_classifier(3)
    assert net.get_classifier().weight.device.type == "meta"
