"""The tutorial's building blocks: ConvBNLayer, BasicBlock, BottleneckBlock, ZeroPadShortcut;
Paddle's ConvNormActivation and default initialisation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from resvision.models import BasicBlock, BottleneckBlock, ConvBNLayer, ZeroPadShortcut
from resvision.models.layers import ConvNormActivation, paddle_conv_init, paddle_default_init


def _unit_conv_bn(act: str | None) -> ConvBNLayer:
    """A 1-channel 1x1 ConvBNLayer whose conv and BN are the identity (eval mode)."""
    layer = ConvBNLayer(1, 1, 1, act=act).eval()
    with torch.no_grad():
        layer._conv.weight.fill_(1.0)
    layer._batch_norm.eps = 0.0
    return layer


def test_conv_bn_layer_keeps_the_tutorial_names_and_has_no_conv_bias() -> None:
    layer = ConvBNLayer(3, 8, 3, stride=2, groups=1, act="relu")
    assert isinstance(layer._conv, nn.Conv2d) and layer._conv.bias is None
    assert isinstance(layer._batch_norm, nn.BatchNorm2d)
    assert sorted(k for k in layer.state_dict()) == [
        "_batch_norm.bias",
        "_batch_norm.num_batches_tracked",
        "_batch_norm.running_mean",
        "_batch_norm.running_var",
        "_batch_norm.weight",
        "_conv.weight",
    ]


@pytest.mark.parametrize("filter_size", [1, 3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_bn_layer_padding_keeps_or_halves_the_size(filter_size: int, stride: int) -> None:
    layer = ConvBNLayer(2, 4, filter_size, stride=stride)
    assert layer(torch.randn(2, 2, 16, 16)).shape == (2, 4, 16 // stride, 16 // stride)


def test_conv_bn_layer_groups_make_a_depthwise_convolution() -> None:
    layer = ConvBNLayer(8, 8, 3, groups=8)
    assert layer._conv.weight.shape == (8, 1, 3, 3)


def test_activations() -> None:
    x = torch.tensor([-2.0, -0.5, 0.0, 1.5]).view(1, 1, 1, 4)
    with torch.no_grad():
        torch.testing.assert_close(_unit_conv_bn(None)(x), x)
        torch.testing.assert_close(_unit_conv_bn("relu")(x), x.clamp(min=0))
        leaky = torch.tensor([-0.2, -0.05, 0.0, 1.5]).view(1, 1, 1, 4)
        torch.testing.assert_close(_unit_conv_bn("leaky")(x), leaky)


def test_unknown_activation_names_the_value_and_the_accepted_ones() -> None:
    with pytest.raises(
        ValueError, match=r"act must be one of \(None, 'relu', 'leaky'\), got 'foo'"
    ):
        ConvBNLayer(3, 8, 3, act="foo")


def test_bottleneck_block_shapes_names_and_projection() -> None:
    block = BottleneckBlock(64, 64, stride=1, shortcut=False)
    assert block(torch.randn(1, 64, 8, 8)).shape == (1, 256, 8, 8)
    assert isinstance(block.short, ConvBNLayer) and block.short._conv.kernel_size == (1, 1)
    assert block._num_channels_out == 256
    # The stride sits on the 3x3 convolution (as the tutorial and torchvision's v1.5 do).
    down = BottleneckBlock(256, 128, stride=2, shortcut=False)
    assert down.conv0._conv.stride == (1, 1) and down.conv1._conv.stride == (2, 2)
    assert down.short._conv.stride == (2, 2)
    assert down(torch.randn(1, 256, 8, 8)).shape == (1, 512, 4, 4)
    identity = BottleneckBlock(256, 64, stride=1, shortcut=True)
    assert identity.short is None
    assert not any(k.startswith("short") for k in identity.state_dict())


def test_bottleneck_block_output_is_relu_of_the_sum() -> None:
    block = BottleneckBlock(256, 64).eval()
    x = torch.randn(1, 256, 4, 4)
    with torch.no_grad():
        branch = block.conv2(block.conv1(block.conv0(x)))
        torch.testing.assert_close(block(x), torch.relu(x + branch))


@pytest.mark.parametrize(
    ("groups", "base_width", "width"), [(1, 64, 64), (32, 4, 128), (64, 4, 256), (1, 128, 128)]
)
def test_bottleneck_groups_and_base_width_set_the_3x3_width(
    groups: int, base_width: int, width: int
) -> None:
    block = BottleneckBlock(256, 64, groups=groups, base_width=base_width)
    conv = block.conv1._conv
    assert conv.in_channels == conv.out_channels == width and conv.groups == groups
    assert block.conv2._conv.out_channels == 256


def test_basic_block_shapes_and_projection_choices() -> None:
    block = BasicBlock(64, 128, stride=2, shortcut=False)
    assert block(torch.randn(1, 64, 8, 8)).shape == (1, 128, 4, 4)
    assert isinstance(block.short, ConvBNLayer)
    padded = BasicBlock(16, 32, stride=2, shortcut=False, projection="pad")
    assert isinstance(padded.short, ZeroPadShortcut)
    assert not any(n.startswith("short") for n, _ in padded.named_parameters())
    assert padded(torch.randn(1, 16, 8, 8)).shape == (1, 32, 4, 4)
    assert BasicBlock(64, 64).short is None


def test_identity_shortcut_with_a_shape_change_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"stride=2, 64 -> 128 channels"):
        BasicBlock(64, 128, stride=2, shortcut=True)
    with pytest.raises(ValueError, match=r"64 -> 256 channels"):
        BottleneckBlock(64, 64, stride=1, shortcut=True)


def test_unknown_projection_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=r"projection must be one of \('conv', 'pad'\), got 'zero'"
    ):
        BasicBlock(16, 32, 2, shortcut=False, projection="zero")


def test_zero_pad_shortcut_subsamples_and_appends_zero_channels() -> None:
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4)
    y = ZeroPadShortcut(2, 5, stride=2)(x)
    assert y.shape == (1, 5, 2, 2)
    torch.testing.assert_close(y[:, :2], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 2:]) == 0
    with pytest.raises(ValueError, match="num_filters"):
        ZeroPadShortcut(4, 2, stride=1)


def test_zero_init_last_makes_the_block_relu_of_its_shortcut() -> None:
    for block, x in [
        (BasicBlock(16, 32, 2, shortcut=False), torch.randn(2, 16, 8, 8)),
        (BottleneckBlock(32, 8, 1, shortcut=True), torch.randn(2, 32, 8, 8)),
    ]:
        block.zero_init_last()
        block.eval()
        with torch.no_grad():
            short = x if block.short is None else block.short(x)
            torch.testing.assert_close(block(x), torch.relu(short))


def test_paddle_conv_init_does_not_divide_out_the_groups() -> None:
    # Paddle's Conv2D default: N(0, 2 / (k * k * in_channels)) even for a depthwise convolution,
    # where PyTorch's fan-in (and kaiming_normal_) would divide in_channels by the groups.
    torch.manual_seed(0)
    conv = paddle_conv_init(nn.Conv2d(256, 256, 3, groups=256))
    expected = math.sqrt(2.0 / (256 * 3 * 3))
    assert conv.weight.std().item() == pytest.approx(expected, rel=0.1)
    assert torch.count_nonzero(conv.bias) == 0


def test_paddle_default_init_covers_convolutions_and_linear_layers() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten(), nn.Linear(4, 300))
    paddle_default_init(net)
    bound = math.sqrt(6.0 / (4 + 300))  # Xavier-uniform
    assert net[2].weight.abs().max().item() <= bound
    assert torch.count_nonzero(net[0].bias) == torch.count_nonzero(net[2].bias) == 0


@pytest.mark.parametrize(
    ("kernel", "padding", "size"), [(3, None, 9), ((1, 7), None, 9), ((1, 7), 0, 3), (3, 0, 7)]
)
def test_conv_norm_activation_pads_to_keep_the_size_unless_told(kernel, padding, size) -> None:
    layer = ConvNormActivation(2, 4, kernel, padding=padding, activation_layer=None)
    assert [k for k in layer.state_dict() if k.endswith("weight")] == ["0.weight", "1.weight"]
    assert layer(torch.zeros(1, 2, 9, 9)).shape[-1] == size
