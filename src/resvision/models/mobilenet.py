"""MobileNetV1 (Howard et al. 2017) and MobileNetV2 (Sandler et al. 2018), with width multiplier.

The constructors are Paddle's: ``MobileNetV1(scale=1.0, num_classes=1000, with_pool=True)``,
``mobilenet_v1(pretrained=False, scale=1.0, **kwargs)`` and the same for V2; ``scale`` is the
width multiplier. ``num_classes <= 0`` builds no classifier and the network returns the pooled
``[N, C, 1, 1]`` map (``with_pool=True``) or the last feature map (``with_pool=False``), as
Paddle's do.

State-dict keys:

- MobileNetV1 follows ``paddle.vision``: ``conv1`` (stem ``ConvBNLayer``), the depthwise-separable
  blocks under Paddle's names ``conv2_1`` .. ``conv6`` (each with ``_depthwise_conv`` and
  ``_pointwise_conv``), gathered in ``blocks``, then ``fc``. A Paddle key
  ``conv2_1._depthwise_conv._norm_layer._mean`` is ours
  ``blocks.conv2_1._depthwise_conv._batch_norm.running_mean``.
- MobileNetV2 follows torchvision and ``paddle.vision``: ``features.{i}`` (``features.0`` the stem,
  ``features.{1..17}`` inverted residuals with a ``conv`` sequence, ``features.18`` the last 1x1),
  ``classifier.1`` (after dropout). At scale 1.0 it has 3,504,872 parameters.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import Any, ClassVar

import torch
from torch import nn

from .classifier import (
    PooledLinearClassifier,
    check_with_pool,
    linear_head,
    paddle_num_classes,
    validate_num_classes,
)
from .features import FeatureInfo
from .layers import ConvBNLayer, ConvNormActivation
from .registry import register_model
from .weights import load_pretrained

__all__ = [
    "DepthwiseSeparable",
    "InvertedResidual",
    "MobileNetV1",
    "MobileNetV2",
    "check_scale",
    "make_divisible",
    "mobilenet_v1",
    "mobilenet_v2",
]


def check_scale(scale: object) -> float:
    """Check a width multiplier (Paddle's ``scale`` of MobileNetV1/V2/V3) and return it as a float.

    Raises:
        ValueError: ``scale`` is not a number > 0 (a bool is refused too).

    Examples:
        >>> check_scale(1), check_scale(0.75)
        (1.0, 0.75)
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ValueError(f"scale (the width multiplier) must be a number > 0, got {scale!r}")
    return float(scale)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to the nearest multiple of ``divisor``, never dropping below 90%.

    Multiples of 8 keep the tensor cores and vector units of accelerators fully used.

    Examples:
        >>> make_divisible(32 * 0.75), make_divisible(1280 * 1.4), make_divisible(16 * 0.35)
        (24, 1792, 8)
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class DepthwiseSeparable(nn.Module):
    """A 3x3 depthwise ``ConvBNLayer`` then a 1x1 pointwise one, both with ReLU (MobileNetV1).

    Examples:
        >>> DepthwiseSeparable(32, 64, stride=2)(torch.zeros(1, 32, 16, 16)).shape
        torch.Size([1, 64, 8, 8])
    """

    def __init__(self, num_channels: int, num_filters: int, stride: int = 1) -> None:
        super().__init__()
        self._depthwise_conv = ConvBNLayer(
            num_channels, num_channels, 3, stride=stride, groups=num_channels, act="relu"
        )
        self._pointwise_conv = ConvBNLayer(num_channels, num_filters, 1, act="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._pointwise_conv(self._depthwise_conv(x))


# Paddle's block names -> (output channels at scale 1, stride)
_V1_BLOCKS = [
    ("conv2_1", 64, 1),
    ("conv2_2", 128, 2),
    ("conv3_1", 128, 1),
    ("conv3_2", 256, 2),
    ("conv4_1", 256, 1),
    ("conv4_2", 512, 2),
    *[(f"conv5_{i}", 512, 1) for i in range(1, 6)],
    ("conv5_6", 1024, 2),
    ("conv6", 1024, 1),
]


class MobileNetV1(PooledLinearClassifier):
    """MobileNetV1: a 3x3 stride-2 stem and 13 depthwise-separable blocks.

    Args:
        scale: width multiplier (1.0, 0.75, 0.5, 0.25 in the paper).
        num_classes: number of classes; ``<= 0`` builds no classifier (Paddle's rule): the
            network returns the pooled ``[N, C, 1, 1]`` map, or the feature map itself with
            ``with_pool=False``.
        with_pool: global average pooling before the classifier (without it, the classifier
            takes the flattened map, which must then be 1x1, as in Paddle).
        in_channels: input channels.

    Attributes:
        feature_info: the last block before each stride change and the last one
            (``blocks.conv2_1``, ``conv3_1``, ``conv4_1``, ``conv5_5``, ``conv6``), reductions
            2, 4, 8, 16, 32.

    Raises:
        ValueError: ``scale`` <= 0.
        TypeError: ``num_classes`` or ``with_pool`` of the wrong type.

    Examples:
        >>> net = MobileNetV1(scale=0.25, num_classes=10)
        >>> net(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 10])
        >>> MobileNetV1(scale=0.25, num_classes=0)(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 256, 1, 1])
    """

    def __init__(
        self,
        scale: float = 1.0,
        num_classes: int = 1000,
        with_pool: bool = True,
        *,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.scale = check_scale(scale)
        self.num_classes = paddle_num_classes(num_classes)
        self.with_pool = check_with_pool(with_pool)
        self.paddle_headless = self.num_classes <= 0
        channels = int(32 * self.scale)
        self.conv1 = ConvBNLayer(in_channels, channels, 3, stride=2, act="relu")
        blocks = OrderedDict()
        self.feature_info: list[FeatureInfo] = []
        module, reduction = "conv1", 2
        for name, width, stride in _V1_BLOCKS:
            if stride == 2:  # a stage ends where the next block halves the map
                self.feature_info.append(FeatureInfo(module, channels, reduction))
                reduction *= 2
            blocks[name] = DepthwiseSeparable(channels, int(width * self.scale), stride)
            channels = int(width * self.scale)
            module = f"blocks.{name}"
        self.feature_info.append(FeatureInfo(module, channels, reduction))
        self.blocks = nn.Sequential(blocks)
        self.pool2d_avg = nn.AdaptiveAvgPool2d(1) if with_pool else nn.Identity()
        self.num_features = channels
        self.fc = linear_head(channels, max(self.num_classes, 0))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and blocks: ``[N, num_features, H/32, W/32]``."""
        return self.blocks(self.conv1(x))


_relu6 = partial(nn.ReLU6, inplace=True)


class ConvBNReLU6(ConvNormActivation):
    """Conv (no bias) + BatchNorm + ReLU6 as a sequence, so keys read ``.0.weight``/``.1.*``
    as in torchvision's and Paddle's MobileNetV2; the conv is He (fan-out) initialised."""

    def __init__(
        self,
        num_channels: int,
        num_filters: int,
        filter_size: int = 3,
        stride: int = 1,
        groups: int = 1,
    ) -> None:
        super().__init__(num_channels, num_filters, filter_size, stride, groups, _relu6)
        nn.init.kaiming_normal_(self[0].weight, mode="fan_out", nonlinearity="relu")


class InvertedResidual(nn.Module):
    """1x1 expansion (skipped when ``expand_ratio`` is 1), 3x3 depthwise, linear 1x1 projection,
    and an identity shortcut when the shape is kept (MobileNetV2).

    Examples:
        >>> InvertedResidual(16, 24, stride=2, expand_ratio=6)(torch.zeros(1, 16, 8, 8)).shape
        torch.Size([1, 24, 4, 4])
    """

    def __init__(self, num_channels: int, num_filters: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(num_channels * expand_ratio)
        self.use_res_connect = stride == 1 and num_channels == num_filters
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(num_channels, hidden, 1))
        project = nn.Conv2d(hidden, num_filters, 1, bias=False)
        nn.init.kaiming_normal_(project.weight, mode="fan_out")
        layers += [
            ConvBNReLU6(hidden, hidden, 3, stride, groups=hidden),
            project,
            nn.BatchNorm2d(num_filters),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.use_res_connect else y


# expansion t, output channels c, repeats n, stride s of the first repeat (the paper's table 2)
_V2_SETTINGS = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


class MobileNetV2(PooledLinearClassifier):
    """MobileNetV2: inverted residual blocks with linear bottlenecks.

    Args:
        scale: width multiplier; channel counts are rounded to multiples of 8, and the last
            1x1 layer keeps 1280 channels for scales below 1 (as the paper does).
        num_classes: number of classes; ``<= 0`` builds no classifier (Paddle's rule): the
            network returns the pooled ``[N, 1280, 1, 1]`` map, or the feature map itself with
            ``with_pool=False``.
        with_pool: global average pooling before the classifier (without it, the classifier
            takes the flattened map, which must then be 1x1, as in Paddle).
        dropout: dropout probability before the classifier.
        in_channels: input channels.

    Attributes:
        feature_info: the last block before each stride change and the last inverted residual
            (``features.1``, ``.3``, ``.6``, ``.13``, ``.17``), reductions 2, 4, 8, 16, 32, as
            timm lists MobileNetV2's stages.

    Raises:
        ValueError: ``scale`` <= 0 or ``dropout`` outside [0, 1].
        TypeError: ``num_classes`` or ``with_pool`` of the wrong type.

    Examples:
        >>> net = MobileNetV2(scale=0.5, num_classes=10)
        >>> net(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 10])
        >>> MobileNetV2(num_classes=-1, with_pool=False)(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 1280, 7, 7])
    """

    # forward_head applies the whole sequence: dropout, then the linear layer
    classifier_name: ClassVar[str] = "classifier"

    def __init__(
        self,
        scale: float = 1.0,
        num_classes: int = 1000,
        with_pool: bool = True,
        *,
        dropout: float = 0.2,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.scale = check_scale(scale)
        self.num_classes = paddle_num_classes(num_classes)
        self.with_pool = check_with_pool(with_pool)
        self.paddle_headless = self.num_classes <= 0
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1], got {dropout!r}")
        self.dropout = dropout
        channels = make_divisible(32 * self.scale)
        self.num_features = make_divisible(1280 * max(1.0, self.scale))
        layers: list[nn.Module] = [ConvBNReLU6(in_channels, channels, 3, stride=2)]
        self.feature_info: list[FeatureInfo] = []
        reduction = 2
        for t, c, n, s in _V2_SETTINGS:
            out = make_divisible(c * self.scale)
            if s == 2:  # a stage ends where the next block halves the map
                self.feature_info.append(
                    FeatureInfo(f"features.{len(layers) - 1}", channels, reduction)
                )
                reduction *= 2
            for i in range(n):
                layers.append(InvertedResidual(channels, out, s if i == 0 else 1, t))
                channels = out
        self.feature_info.append(FeatureInfo(f"features.{len(layers) - 1}", channels, reduction))
        layers.append(ConvBNReLU6(channels, self.num_features, 1))
        self.features = nn.Sequential(*layers)
        self.pool2d_avg = nn.AdaptiveAvgPool2d(1) if with_pool else nn.Identity()
        self.classifier: nn.Module = (
            nn.Identity()  # Paddle builds no classifier: no ``classifier.*`` keys
            if self.paddle_headless
            else self._make_classifier(self.num_classes)
        )

    def _make_classifier(self, num_classes: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Dropout(p=self.dropout), linear_head(self.num_features, num_classes)
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The convolutional part: ``[N, num_features, H/32, W/32]``."""
        return self.features(x)

    def get_classifier(self) -> nn.Module:
        """The last layer (``classifier[1]``); the empty ``classifier`` when there is none."""
        return self.classifier if self.paddle_headless else self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last layer with a new one for ``num_classes`` (0: ``nn.Identity``).

        A network built without a classifier stays so for ``num_classes <= 0``, and gets
        Paddle's dropout and linear layer for a positive one.
        """
        if self.paddle_headless and paddle_num_classes(num_classes) <= 0:
            self.num_classes = num_classes
            return
        self.num_classes = validate_num_classes(num_classes, allow_zero=True)
        like = next(self.parameters())
        if self.paddle_headless:
            self.paddle_headless = False
            self.classifier = self._make_classifier(num_classes).to(like.device, like.dtype)
        else:
            self.classifier[-1] = linear_head(self.num_features, num_classes, like=like)


@register_model(family="mobilenet")
def mobilenet_v1(
    pretrained: object = False,
    scale: float = 1.0,
    *,
    num_classes: int = 1000,
    with_pool: bool = True,
    **kwargs: Any,
) -> MobileNetV1:
    """MobileNetV1, 4.2M parameters at scale 1.0.

    Paddle's ``mobilenet_v1(pretrained=False, scale=1.0, **kwargs)``.

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        scale: width multiplier.
        num_classes: number of classes; ``<= 0``: no classifier (Paddle's rule).
        with_pool: global average pooling before the classifier.
        **kwargs: more :class:`MobileNetV1` options (``in_channels``).

    Examples:
        >>> mobilenet_v1(scale=0.5)(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 1000])
    """
    model = MobileNetV1(scale, num_classes, with_pool, **kwargs)
    return load_pretrained(model, pretrained, model_name="mobilenet_v1")


@register_model(family="mobilenet")
def mobilenet_v2(
    pretrained: object = False,
    scale: float = 1.0,
    *,
    num_classes: int = 1000,
    with_pool: bool = True,
    **kwargs: Any,
) -> MobileNetV2:
    """MobileNetV2, 3.5M parameters at scale 1.0.

    Paddle's ``mobilenet_v2(pretrained=False, scale=1.0, **kwargs)``.

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        scale: width multiplier.
        num_classes: number of classes; ``<= 0``: no classifier (Paddle's rule).
        with_pool: global average pooling before the classifier.
        **kwargs: more :class:`MobileNetV2` options (``dropout``, ``in_channels``).

    Examples:
        >>> mobilenet_v2(num_classes=10)(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 10])
    """
    model = MobileNetV2(scale, num_classes, with_pool, **kwargs)
    return load_pretrained(model, pretrained, model_name="mobilenet_v2")
