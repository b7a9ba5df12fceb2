"""ShuffleNetV2 (Ma et al. 2018), as ``paddle.vision.models`` defines it.

A 3x3 stride-2 stem and a 3x3 stride-2 max-pool, three stages of 4, 8 and 4 units (the first of
each halves the resolution), a 1x1 convolution and global average pooling into ``_fc``. A unit
splits its input channels in two halves, keeps the first, passes the second through 1x1 ->
3x3 depthwise (no activation) -> 1x1, concatenates ``[kept, processed]`` and shuffles the
channels with 2 groups; a downsampling unit feeds the whole input to both branches (3x3
depthwise stride 2 -> 1x1, and 1x1 -> 3x3 depthwise stride 2 -> 1x1). Every convolution is
bias-free and followed by BatchNorm; ``act`` (ReLU, Swish = SiLU, or None) follows the 1x1
convolutions and the stem. The builders state parameters and MACs at 224x224.

``num_classes`` and ``with_pool`` follow Paddle: ``num_classes <= 0`` builds no classifier
(``_fc`` is an ``nn.Identity`` without keys, ``paddle_headless`` is True) and the network
returns ``[N, C, 1, 1]`` pooled features (``with_pool=True``) or the ``[N, C, H/32, W/32]`` map;
``with_pool=False`` with a classifier flattens the map into ``_fc``, which only fits inputs
whose map is 1x1 (32x32).

Differences from torchvision's ``shufflenet_v2_x0_5/x1_0/x1_5/x2_0``:

- x0_5, x1_0 and x1_5 are the same network (1,366,792, 2,278,604 and 3,503,624 parameters);
- x2_0 is not: Paddle's first stage has 224 channels where torchvision's (and the paper's) has
  244, so Paddle's x2_0 has 7,366,536 parameters and torchvision's 7,393,996, and neither's
  weights load into the other;
- torchvision has no x0_25, x0_33 or swish variant, and no ``act``/``with_pool`` arguments;
- initialisation: Paddle's defaults here (convolutions N(0, 2 / (k * k * in_channels)), the
  linear layer Xavier-uniform); torchvision keeps PyTorch's defaults.

State-dict keys (Paddle's, after the generic ``_mean``/``_variance`` -> ``running_mean``/
``running_var`` rename and the Linear transpose), torchvision's on the right:

- ``_conv1.{0,1}`` <- ``conv1.{0,1}``
- downsampling unit ``{s}_1`` (s = 2, 3, 4): ``_conv_dw_1.{0,1}``, ``_conv_linear_1.{0,1}`` <-
  ``stage{s}.0.branch1.{0,1}``, ``.{2,3}``; ``_conv_pw_2``, ``_conv_dw_2``, ``_conv_linear_2``
  (each ``.{0,1}``) <- ``stage{s}.0.branch2.{0,1}``, ``.{3,4}``, ``.{5,6}``
- unit ``{s}_{i+1}`` (i >= 1): ``_conv_pw``, ``_conv_dw``, ``_conv_linear`` (each ``.{0,1}``)
  <- ``stage{s}.{i}.branch2.{0,1}``, ``.{3,4}``, ``.{5,6}``
- ``_last_conv.{0,1}`` <- ``conv5.{0,1}``; ``_fc`` <- ``fc``.

Every variant's state dict has 282 keys (Paddle's count, without ``num_batches_tracked``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from .classifier import PooledLinearClassifier, check_with_pool, paddle_num_classes
from .features import FeatureInfo
from .layers import ConvNormActivation, paddle_default_init
from .registry import register_model
from .weights import load_pretrained

__all__ = [
    "ShuffleDownsampleUnit",
    "ShuffleNetV2",
    "ShuffleUnit",
    "channel_shuffle",
    "shufflenet_v2_swish",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x0_25",
    "shufflenet_v2_x0_33",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
]

#: ``act`` values of :class:`ShuffleNetV2` (Paddle's ``swish`` is x * sigmoid(x), ``nn.SiLU``).
SHUFFLENET_ACTIVATIONS: dict[str | None, Callable[[], nn.Module] | None] = {
    "relu": nn.ReLU,
    "swish": nn.SiLU,
    None: None,
}

# Paddle's stage widths per scale: stem, stage 2, 3, 4, last 1x1 convolution
_STAGE_CHANNELS: dict[float, tuple[int, int, int, int, int]] = {
    0.25: (24, 24, 48, 96, 512),
    0.33: (24, 32, 64, 128, 512),
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 224, 488, 976, 2048),
}
_STAGE_REPEATS = (4, 8, 4)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups: ``[g0c0, g1c0, g0c1, g1c1, ...]``.

    Examples:
        >>> channel_shuffle(torch.arange(6.0).view(1, 6, 1, 1), 2).flatten().tolist()
        [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    """
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    """The stride-1 unit: the second half of the channels through 1x1 -> 3x3 depthwise -> 1x1,
    concatenated after the untouched first half, then shuffled (Paddle's ``InvertedResidual``).

    Args:
        channels: input and output channels (even).
        activation_layer: activation class after the 1x1 convolutions, or None.

    Examples:
        >>> ShuffleUnit(116)(torch.zeros(1, 116, 28, 28)).shape
        torch.Size([1, 116, 28, 28])
    """

    def __init__(
        self, channels: int, activation_layer: Callable[[], nn.Module] | None = nn.ReLU
    ) -> None:
        super().__init__()
        half = channels // 2
        self._conv_pw = ConvNormActivation(half, half, 1, activation_layer=activation_layer)
        self._conv_dw = ConvNormActivation(half, half, 3, groups=half, activation_layer=None)
        self._conv_linear = ConvNormActivation(half, half, 1, activation_layer=activation_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept, processed = x.chunk(2, dim=1)
        processed = self._conv_linear(self._conv_dw(self._conv_pw(processed)))
        return channel_shuffle(torch.cat([kept, processed], dim=1), 2)


class ShuffleDownsampleUnit(nn.Module):
    """The stride-2 unit: two branches over the whole input, each giving half of the output
    channels, concatenated and shuffled (Paddle's ``InvertedResidualDS``).

    Args:
        in_channels: input channels.
        out_channels: output channels (even).
        activation_layer: activation class after the 1x1 convolutions, or None.

    Examples:
        >>> ShuffleDownsampleUnit(24, 116)(torch.zeros(1, 24, 56, 56)).shape
        torch.Size([1, 116, 28, 28])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        activation_layer: Callable[[], nn.Module] | None = nn.ReLU,
    ) -> None:
        super().__init__()
        half = out_channels // 2
        act = activation_layer
        self._conv_dw_1 = ConvNormActivation(
            in_channels, in_channels, 3, 2, groups=in_channels, activation_layer=None
        )
        self._conv_linear_1 = ConvNormActivation(in_channels, half, 1, activation_layer=act)
        self._conv_pw_2 = ConvNormActivation(in_channels, half, 1, activation_layer=act)
        self._conv_dw_2 = ConvNormActivation(half, half, 3, 2, groups=half, activation_layer=None)
        self._conv_linear_2 = ConvNormActivation(half, half, 1, activation_layer=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = self._conv_linear_1(self._conv_dw_1(x))
        right = self._conv_linear_2(self._conv_dw_2(self._conv_pw_2(x)))
        return channel_shuffle(torch.cat([left, right], dim=1), 2)


class ShuffleNetV2(PooledLinearClassifier):
    """ShuffleNetV2 at one of Paddle's six widths.

    The units are direct children named as Paddle names them, ``'2_1'`` .. ``'4_4'`` (stage,
    position), listed in order in ``block_names``.

    Args:
        scale: width: 0.25, 0.33, 0.5, 1.0, 1.5 or 2.0.
        act: ``'relu'``, ``'swish'`` or None (no activation).
        num_classes: number of classes; <= 0 builds no classifier (see the module docstring).
        with_pool: global average pooling before the classifier.

    Raises:
        ValueError: ``scale`` or ``act`` is not one of the accepted values.
        TypeError: ``num_classes`` is not an int, or ``with_pool`` not a bool.

    Examples:
        >>> net = ShuffleNetV2(scale=0.25, act='swish', num_classes=10)
        >>> net(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 10])
        >>> ShuffleNetV2(scale=0.5, num_classes=0, with_pool=False)(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 1024, 2, 2])
    """

    # Paddle's names (``_fc`` is the state-dict key of the classifier)
    pool_name: ClassVar[str] = "_pool2d_avg"
    classifier_name: ClassVar[str] = "_fc"

    def __init__(
        self,
        scale: float = 1.0,
        act: str | None = "relu",
        num_classes: int = 1000,
        with_pool: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(scale, bool) or scale not in _STAGE_CHANNELS:
            raise ValueError(f"scale must be one of {sorted(_STAGE_CHANNELS)}, got {scale!r}")
        if act not in SHUFFLENET_ACTIVATIONS:
            raise ValueError(f"act must be 'relu', 'swish' or None, got {act!r}")
        self.scale = float(scale)
        self.act = act
        self.num_classes = paddle_num_classes(num_classes)
        self.with_pool = check_with_pool(with_pool)
        activation = SHUFFLENET_ACTIVATIONS[act]
        stem, *stages, last = _STAGE_CHANNELS[self.scale]

        self._conv1 = ConvNormActivation(3, stem, 3, 2, activation_layer=activation)
        self._max_pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.feature_info = [FeatureInfo("_conv1", stem, 2), FeatureInfo("_max_pool", stem, 4)]
        names: list[str] = []
        channels = stem
        for stage, (width, repeats) in enumerate(zip(stages, _STAGE_REPEATS), start=2):
            for i in range(1, repeats + 1):
                unit: nn.Module = (
                    ShuffleDownsampleUnit(channels, width, activation)
                    if i == 1
                    else ShuffleUnit(width, activation)
                )
                names.append(f"{stage}_{i}")
                self.add_module(names[-1], unit)
                channels = width
            if stage < 4:  # the last stage's map is described by _last_conv, at the same stride
                self.feature_info.append(FeatureInfo(names[-1], width, 2 ** (stage + 1)))
        self.block_names = tuple(names)
        self._last_conv = ConvNormActivation(channels, last, 1, activation_layer=activation)
        self.feature_info.append(FeatureInfo("_last_conv", last, 32))
        self._pool2d_avg = nn.AdaptiveAvgPool2d(1)
        self.num_features = last
        # Paddle's num_classes <= 0: no classifier at all, the output is the (pooled) map
        self.paddle_headless = self.num_classes <= 0
        self._fc: nn.Module = nn.Identity()
        if not self.paddle_headless:
            self._fc = nn.Linear(last, self.num_classes)
        paddle_default_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem, max-pool, the 16 units and the last 1x1 convolution: ``[N, C, H/32, W/32]``."""
        x = self._max_pool(self._conv1(x))
        for name in self.block_names:
            x = getattr(self, name)(x)
        return self._last_conv(x)


def _shufflenet_v2(name: str, pretrained: object, scale: float, **kwargs: Any) -> ShuffleNetV2:
    model = ShuffleNetV2(scale=scale, **kwargs)
    load_pretrained(model, pretrained, model_name=name)  # in place
    return model


@register_model(family="shufflenet")
def shufflenet_v2_x0_25(pretrained: object = False, **kwargs: Any) -> ShuffleNetV2:
    """ShuffleNetV2 at width 0.25 (stages of 24, 48, 96 channels), 0.60M parameters, 0.018 GMACs.

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        **kwargs: more :class:`ShuffleNetV2` options (``act``, ``num_classes``, ``with_pool``).

    Examples:
        >>> shufflenet_v2_x0_25(num_classes=10)(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 10])
    """
    return _shufflenet_v2("shufflenet_v2_x0_25", pretrained, 0.25, **kwargs)


@register_model(family="shufflenet")
def shufflenet_v2_x0_33(pretrained: object = False, **kwargs: Any) -> ShuffleNetV2:
    """ShuffleNetV2 at width 0.33 (stages of 32, 64, 128 channels), 0.65M parameters, 0.022 GMACs.

    Arguments as :func:`shufflenet_v2_x0_25`.
    """
    return _shufflenet_v2("shufflenet_v2_x0_33", pretrained, 0.33, **kwargs)


@register_model(family="shufflenet")
def shufflenet_v2_x0_5(pretrained: object = False, **kwargs: Any) -> ShuffleNetV2:
    """ShuffleNetV2 at width 0.5 (stages of 48, 96, 192 channels), 1.4M parameters, 0.040 GMACs.

    Arguments as :func:`shufflenet_v2_x0_25`.
    """
    return _shufflenet_v2("shufflenet_v2_x0_5", pretrained, 0.5, **kwargs)


@register_model(family="shufflenet")
def shufflenet_v2_x1_0(pretrained: object = False, **kwargs: Any) -> ShuffleNetV2:
    """ShuffleNetV2 at width 1.0 (stages of 116, 232, 464 channels), 2.3M parameters, 0.145 GMACs.

    Arguments as :func:`shufflenet_v2_x0_25`.

    Examples:
        >>> shufflenet_v2_x1_0(num_classes=-1)(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 1024, 1, 1])
    """
    return _shufflenet_v2("shufflenet_v2_x1_0", pretrained, 1.0, **kwargs)


@register_model(family="shufflenet")
def shufflenet_v2_x1_5(pretrained: object = False, **kwargs: Any) -> ShuffleNetV2:
    """ShuffleNetV2 at width 1.5 (stages of 176, 352, 704 channels), 3.5M parameters, 0.296 GMACs.

    Arguments as :func:`shufflenet_v2_x0_25`.
    """
    return _shufflenet_v2("shufflenet_v2_x1_5", pretrained, 1.5, **kwargs)


@register_model(family="shufflenet")
def shufflenet_v2_x2_0(pretrained: object = False, **kwargs: Any) -> ShuffleNetV2:
    """ShuffleNetV2 at width 2.0 (stages of 224, 488, 976 channels: Paddle's, torchvision's
    first stage has 244), 7.4M parameters, 0.564 GMACs.

    Arguments as :func:`shufflenet_v2_x0_25`.
    """
    return _shufflenet_v2("shufflenet_v2_x2_0", pretrained, 2.0, **kwargs)


@register_model(family="shufflenet")
def shufflenet_v2_swish(pretrained: object = False, **kwargs: Any) -> ShuffleNetV2:
    """ShuffleNetV2 at width 1.0 with Swish (x * sigmoid(x)), 2.3M parameters, 0.145 GMACs.

    Args:
        pretrained: as :func:`shufflenet_v2_x0_25`.
        **kwargs: ``num_classes``, ``with_pool`` (the activation is fixed, as in Paddle).

    Raises:
        TypeError: ``act`` is given.

    Examples:
        >>> net = shufflenet_v2_swish(num_classes=10)
        >>> net.act, net(torch.rand(1, 3, 224, 224)).shape
        ('swish', torch.Size([1, 10]))
    """
    if "act" in kwargs:
        raise TypeError(
            f"shufflenet_v2_swish fixes act='swish', got act={kwargs['act']!r}; "
            "use ShuffleNetV2(scale=1.0, act=...) for another activation"
        )
    return _shufflenet_v2("shufflenet_v2_swish", pretrained, 1.0, act="swish", **kwargs)
