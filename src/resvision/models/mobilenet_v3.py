"""MobileNetV3 (Howard et al. 2019), Small and Large, as ``paddle.vision.models`` defines them.

The width multiplier is ``scale``; every channel count is ``make_divisible(c * scale)`` (the
rounding of MobileNetV2, Paddle's ``_make_divisible``), the squeeze-excitation width
``make_divisible(expanded // 4)``. BatchNorm everywhere has ``eps=1e-3`` and a running-average
momentum of 0.01 (Paddle's ``momentum=0.99`` counts the other way). The head is Paddle's and
torchvision's: global average pooling, ``Linear(6 * last block width, last_channel)``,
Hardswish, Dropout(0.2), ``Linear(last_channel, num_classes)`` (``last_channel`` is 1024 for
Small, 1280 for Large, times ``scale``).

``num_classes`` and ``with_pool`` follow Paddle: ``num_classes <= 0`` builds no classifier at
all (the hidden layer included: ``classifier`` is an ``nn.Identity`` without keys, and
``paddle_headless`` is True) and the network returns ``[N, C, 1, 1]`` pooled features
(``with_pool=True``) or the ``[N, C, H/32, W/32]`` map (``with_pool=False``), C = 576 (Small) or
960 (Large) at scale 1. ``with_pool=False`` with a classifier flattens the map into the first
linear layer, as Paddle does: it only fits inputs whose map is 1x1 (32x32).

Differences from torchvision's ``mobilenet_v3_small/large``:

- the same layers, parameter counts (2,542,856 and 5,483,032 at scale 1) and computation,
  except Paddle's ``nn.Hardsigmoid`` in the squeeze-excitation, whose slope is ``0.1666667``
  where torchvision's is exactly 1/6 (a 2e-7 relative difference; this module uses PyTorch's);
- torchvision takes ``width_mult``/``dropout``/``norm_layer`` keyword arguments; Paddle (and
  this module) ``scale``, ``num_classes`` (<= 0: no head) and ``with_pool``;
- initialisation: Paddle's defaults here (convolutions N(0, 2 / (k * k * in_channels)), linear
  layers Xavier-uniform, zero biases), torchvision uses Kaiming fan-out and N(0, 0.01).

State-dict keys (Paddle's, after the generic ``_mean``/``_variance`` -> ``running_mean``/
``running_var`` rename and the Linear transpose), torchvision's on the right:

- ``conv.{0,1}`` (stem conv, BN) <- ``features.0.{0,1}``
- ``blocks.{i}.expand_conv.{0,1}``, ``blocks.{i}.bottleneck_conv.{0,1}``,
  ``blocks.{i}.mid_se.fc{1,2}``, ``blocks.{i}.linear_conv.{0,1}`` <- ``features.{i+1}.block.{j}``
  where ``j`` counts the parts the block has, in that order (no ``expand_conv`` when the
  expansion keeps the width, no ``mid_se`` in blocks without squeeze-excitation)
- ``lastconv.{0,1}`` <- ``features.{12|16}.{0,1}`` (Small | Large)
- ``classifier.0``, ``classifier.3``: the same names.

At scale 1 the Small state dict has 210 keys (Paddle's count, without ``num_batches_tracked``),
the Large one 266.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from .classifier import (
    check_flattened_map,
    check_with_pool,
    linear_head,
    paddle_num_classes,
    validate_num_classes,
)
from .features import FeatureInfo
from .layers import ConvNormActivation, paddle_default_init
from .mobilenet import check_scale, make_divisible
from .registry import register_model
from .weights import load_pretrained

__all__ = [
    "InvertedResidualConfig",
    "MobileNetV3",
    "MobileNetV3Block",
    "MobileNetV3Large",
    "MobileNetV3Small",
    "SqueezeExcitation",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
]


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation: channel weights from the pooled input, ``fc1`` -> ReLU -> ``fc2``
    -> Hardsigmoid, multiplied into the input (1x1 convolutions with bias, as Paddle's).

    Args:
        channels: input (and output) channels.
        squeeze_channels: width of the bottleneck.

    Examples:
        >>> SqueezeExcitation(16, 8)(torch.ones(1, 16, 4, 4)).shape
        torch.Size([1, 16, 4, 4])
    """

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.activation = nn.ReLU()
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return x * self.scale_activation(scale)


#: Values accepted by ``InvertedResidualConfig.activation``.
V3_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "hardswish": nn.Hardswish}

# Paddle's MobileNetV3 BatchNorm: epsilon 1e-3, momentum 0.99 (= PyTorch's 0.01)
_BN = {"eps": 1e-3, "momentum": 0.01}


@dataclass(frozen=True)
class InvertedResidualConfig:
    """One MobileNetV3 block at scale 1: a row of the paper's tables 1 and 2.

    Attributes:
        in_channels: input channels.
        kernel: depthwise kernel size (3 or 5).
        expanded_channels: width after the 1x1 expansion.
        out_channels: output channels.
        use_se: whether the block has squeeze-excitation.
        activation: ``'relu'`` or ``'hardswish'``.
        stride: depthwise stride (1 or 2).

    Examples:
        >>> InvertedResidualConfig(16, 3, 64, 24, False, 'relu', 2).scaled(0.5).out_channels
        16
    """

    in_channels: int
    kernel: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    activation: str
    stride: int

    def scaled(self, scale: float) -> InvertedResidualConfig:
        """The same block with every width multiplied by ``scale`` and rounded to 8."""
        return InvertedResidualConfig(
            make_divisible(self.in_channels * scale),
            self.kernel,
            make_divisible(self.expanded_channels * scale),
            make_divisible(self.out_channels * scale),
            self.use_se,
            self.activation,
            self.stride,
        )


class MobileNetV3Block(nn.Module):
    """1x1 expansion (skipped when it keeps the width), kxk depthwise, optional
    squeeze-excitation, linear 1x1 projection, identity shortcut when the shape is kept
    (Paddle's ``mobilenetv3.InvertedResidual``).

    Args:
        cfg: the block's widths, kernel, stride and activation (already scaled).

    Raises:
        ValueError: ``cfg.activation`` is not one of ``V3_ACTIVATIONS``.

    Examples:
        >>> cfg = InvertedResidualConfig(24, 5, 72, 40, True, 'relu', 2)
        >>> MobileNetV3Block(cfg)(torch.zeros(1, 24, 8, 8)).shape
        torch.Size([1, 40, 4, 4])
    """

    def __init__(self, cfg: InvertedResidualConfig) -> None:
        super().__init__()
        if cfg.activation not in V3_ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(V3_ACTIVATIONS)}, got {cfg.activation!r}"
            )
        act = V3_ACTIVATIONS[cfg.activation]
        width = cfg.expanded_channels
        self.use_res_connect = cfg.stride == 1 and cfg.in_channels == cfg.out_channels
        self.expand_conv = (
            ConvNormActivation(cfg.in_channels, width, 1, activation_layer=act, **_BN)
            if width != cfg.in_channels
            else None
        )
        self.bottleneck_conv = ConvNormActivation(
            width, width, cfg.kernel, cfg.stride, groups=width, activation_layer=act, **_BN
        )
        self.mid_se = SqueezeExcitation(width, make_divisible(width // 4)) if cfg.use_se else None
        self.linear_conv = ConvNormActivation(
            width, cfg.out_channels, 1, activation_layer=None, **_BN
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.expand_conv is None else self.expand_conv(x)
        y = self.bottleneck_conv(y)
        if self.mid_se is not None:
            y = self.mid_se(y)
        y = self.linear_conv(y)
        return x + y if self.use_res_connect else y


class MobileNetV3(nn.Module):
    """MobileNetV3 from a block table: the base of :class:`MobileNetV3Small` and
    :class:`MobileNetV3Large` (Paddle's ``MobileNetV3``).

    Args:
        config: the blocks at scale 1 (:class:`InvertedResidualConfig`), in order.
        last_channel: width of the classifier's hidden layer (already scaled).
        scale: width multiplier applied to ``config``.
        num_classes: number of classes; <= 0 builds no classifier (see the module docstring).
        with_pool: global average pooling before the classifier.

    Raises:
        ValueError: ``config`` is empty, ``scale`` <= 0.
        TypeError: ``num_classes`` is not an int, or ``with_pool`` not a bool.

    Examples:
        >>> cfg = [InvertedResidualConfig(16, 3, 16, 16, True, 'relu', 2)]
        >>> net = MobileNetV3(cfg, last_channel=32, num_classes=10)
        >>> net(torch.rand(1, 3, 32, 32)).shape, net.num_features
        (torch.Size([1, 10]), 32)
    """

    def __init__(
        self,
        config: Sequence[InvertedResidualConfig],
        last_channel: int,
        scale: float = 1.0,
        num_classes: int = 1000,
        with_pool: bool = True,
    ) -> None:
        super().__init__()
        if not config:
            raise ValueError("config must list at least one InvertedResidualConfig, got none")
        self.scale = check_scale(scale)
        self.num_classes = paddle_num_classes(num_classes)
        self.with_pool = check_with_pool(with_pool)
        self.last_channel = last_channel
        blocks = [cfg.scaled(self.scale) for cfg in config]
        stem = blocks[0].in_channels
        self.lastconv_out_channels = 6 * blocks[-1].out_channels
        self.conv = ConvNormActivation(3, stem, 3, 2, activation_layer=nn.Hardswish, **_BN)
        self.blocks = nn.Sequential(*[MobileNetV3Block(cfg) for cfg in blocks])
        self.lastconv = ConvNormActivation(
            blocks[-1].out_channels,
            self.lastconv_out_channels,
            1,
            activation_layer=nn.Hardswish,
            **_BN,
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        # Paddle's num_classes <= 0: no classifier at all, the output is the (pooled) map
        self.paddle_headless = self.num_classes <= 0
        self.num_features = self.lastconv_out_channels
        self.classifier: nn.Module = nn.Identity()
        if not self.paddle_headless:
            self.classifier = self._make_classifier(nn.Linear(last_channel, self.num_classes))
        self.feature_info = self._describe_stages(stem, blocks)
        paddle_default_init(self)

    def _make_classifier(self, last: nn.Module) -> nn.Sequential:
        self.num_features = self.last_channel
        return nn.Sequential(
            nn.Linear(self.lastconv_out_channels, self.last_channel),
            nn.Hardswish(),
            nn.Dropout(p=0.2),
            last,
        )

    def _describe_stages(
        self, stem: int, blocks: list[InvertedResidualConfig]
    ) -> list[FeatureInfo]:
        """The last module at each reduction (2, 4, ..., 32), as timm lists MobileNetV3's."""
        stages: list[FeatureInfo] = []
        current = FeatureInfo("conv", stem, 2)
        for i, cfg in enumerate(blocks):
            if cfg.stride == 2:
                stages.append(current)
            reduction = current.reduction * cfg.stride
            current = FeatureInfo(f"blocks.{i}", cfg.out_channels, reduction)
        stages.append(FeatureInfo("lastconv", self.lastconv_out_channels, current.reduction))
        return stages

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem, blocks and the last 1x1 convolution: ``[N, 6 * last block width, H/32, W/32]``."""
        return self.lastconv(self.blocks(self.conv(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooling (``with_pool``) and the classifier.

        Returns ``[N, num_classes]`` logits; with ``pre_logits`` the input of the last linear
        layer, ``[N, num_features]`` (the hidden layer's output, before dropout). A network built
        without a classifier (``paddle_headless``) returns what Paddle's returns, the pooled
        ``[N, C, 1, 1]`` map or the map itself without pooling, and with ``pre_logits`` the
        flattened pooled features.

        Raises:
            ValueError: ``with_pool=False`` with a classifier and a map larger than 1x1.
        """
        if self.with_pool:
            x = self.avgpool(x)
        if self.paddle_headless:
            return torch.flatten(x, 1) if pre_logits else x
        if not self.with_pool:
            check_flattened_map(x, (1, 1))
        hidden = self.classifier[1](self.classifier[0](torch.flatten(x, 1)))
        return hidden if pre_logits else self.classifier[3](self.classifier[2](hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The last linear layer (``classifier[3]``); ``nn.Identity`` for a network without a
        classifier."""
        return self.classifier if self.paddle_headless else self.classifier[3]

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last linear layer with one for ``num_classes`` (0: ``nn.Identity``, the
        network then returns ``[N, num_features]``); the hidden layer is kept.

        On a network built without a classifier (``paddle_headless``), ``num_classes <= 0``
        changes nothing (it keeps returning Paddle's output), and a positive one gives it
        Paddle's whole head, freshly initialised.
        """
        if self.paddle_headless and paddle_num_classes(num_classes) <= 0:
            self.num_classes = num_classes
            return
        self.num_classes = validate_num_classes(num_classes, allow_zero=True)
        like = next(self.parameters())
        last = linear_head(self.last_channel, num_classes, like=like)
        if self.paddle_headless:
            head = self._make_classifier(last)
            paddle_default_init(head[0])
            self.classifier = head.to(device=like.device, dtype=like.dtype)
            self.paddle_headless = False
        else:
            self.classifier[3] = last


# Paddle's tables (the paper's tables 2 and 1):
# in, kernel, expanded, out, squeeze-excitation, activation, stride
_SMALL = [
    InvertedResidualConfig(16, 3, 16, 16, True, "relu", 2),
    InvertedResidualConfig(16, 3, 72, 24, False, "relu", 2),
    InvertedResidualConfig(24, 3, 88, 24, False, "relu", 1),
    InvertedResidualConfig(24, 5, 96, 40, True, "hardswish", 2),
    InvertedResidualConfig(40, 5, 240, 40, True, "hardswish", 1),
    InvertedResidualConfig(40, 5, 240, 40, True, "hardswish", 1),
    InvertedResidualConfig(40, 5, 120, 48, True, "hardswish", 1),
    InvertedResidualConfig(48, 5, 144, 48, True, "hardswish", 1),
    InvertedResidualConfig(48, 5, 288, 96, True, "hardswish", 2),
    InvertedResidualConfig(96, 5, 576, 96, True, "hardswish", 1),
    InvertedResidualConfig(96, 5, 576, 96, True, "hardswish", 1),
]
_LARGE = [
    InvertedResidualConfig(16, 3, 16, 16, False, "relu", 1),
    InvertedResidualConfig(16, 3, 64, 24, False, "relu", 2),
    InvertedResidualConfig(24, 3, 72, 24, False, "relu", 1),
    InvertedResidualConfig(24, 5, 72, 40, True, "relu", 2),
    InvertedResidualConfig(40, 5, 120, 40, True, "relu", 1),
    InvertedResidualConfig(40, 5, 120, 40, True, "relu", 1),
    InvertedResidualConfig(40, 3, 240, 80, False, "hardswish", 2),
    InvertedResidualConfig(80, 3, 200, 80, False, "hardswish", 1),
    InvertedResidualConfig(80, 3, 184, 80, False, "hardswish", 1),
    InvertedResidualConfig(80, 3, 184, 80, False, "hardswish", 1),
    InvertedResidualConfig(80, 3, 480, 112, True, "hardswish", 1),
    InvertedResidualConfig(112, 3, 672, 112, True, "hardswish", 1),
    InvertedResidualConfig(112, 5, 672, 160, True, "hardswish", 2),
    InvertedResidualConfig(160, 5, 960, 160, True, "hardswish", 1),
    InvertedResidualConfig(160, 5, 960, 160, True, "hardswish", 1),
]


class MobileNetV3Small(MobileNetV3):
    """MobileNetV3-Small: 11 blocks, a 576-channel last convolution, a 1024-wide hidden layer.

    Args:
        scale: width multiplier.
        num_classes: number of classes; <= 0 builds no classifier.
        with_pool: global average pooling before the classifier.

    Raises:
        ValueError: ``scale`` <= 0.
        TypeError: ``num_classes`` is not an int, or ``with_pool`` not a bool.

    Examples:
        >>> net = MobileNetV3Small(num_classes=10)
        >>> net(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 10])
        >>> MobileNetV3Small(num_classes=0)(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 576, 1, 1])
    """

    def __init__(self, scale: float = 1.0, num_classes: int = 1000, with_pool: bool = True) -> None:
        super().__init__(
            _SMALL, make_divisible(1024 * check_scale(scale)), scale, num_classes, with_pool
        )


class MobileNetV3Large(MobileNetV3):
    """MobileNetV3-Large: 15 blocks, a 960-channel last convolution, a 1280-wide hidden layer.

    Arguments and errors as :class:`MobileNetV3Small`.

    Examples:
        >>> net = MobileNetV3Large(scale=0.5, num_classes=-1, with_pool=False)
        >>> net(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 480, 7, 7])
    """

    def __init__(self, scale: float = 1.0, num_classes: int = 1000, with_pool: bool = True) -> None:
        super().__init__(
            _LARGE, make_divisible(1280 * check_scale(scale)), scale, num_classes, with_pool
        )


V3T = TypeVar("V3T", bound=MobileNetV3)


def _mobilenet_v3(
    name: str, cls: type[V3T], pretrained: object, scale: float, **kwargs: Any
) -> V3T:
    model = cls(scale=scale, **kwargs)
    load_pretrained(model, pretrained, model_name=name)  # in place
    return model


@register_model(family="mobilenet")
def mobilenet_v3_small(
    pretrained: object = False, scale: float = 1.0, **kwargs: Any
) -> MobileNetV3Small:
    """MobileNetV3-Small, 2.5M parameters and 0.057 GMACs at scale 1.0 and 224x224.

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        scale: width multiplier.
        **kwargs: more :class:`MobileNetV3Small` options (``num_classes``, ``with_pool``).

    Examples:
        >>> mobilenet_v3_small(num_classes=10)(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 10])
    """
    return _mobilenet_v3("mobilenet_v3_small", MobileNetV3Small, pretrained, scale, **kwargs)


@register_model(family="mobilenet")
def mobilenet_v3_large(
    pretrained: object = False, scale: float = 1.0, **kwargs: Any
) -> MobileNetV3Large:
    """MobileNetV3-Large, 5.5M parameters and 0.217 GMACs at scale 1.0 and 224x224.

    Arguments as :func:`mobilenet_v3_small`.

    Examples:
        >>> mobilenet_v3_large(scale=0.75, num_classes=10)(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 10])
    """
    return _mobilenet_v3("mobilenet_v3_large", MobileNetV3Large, pretrained, scale, **kwargs)
