"""SqueezeNet 1.0 and 1.1 (Iandola et al. 2016), as ``paddle.vision.models.SqueezeNet`` defines it.

A stem convolution, eight Fire modules (a 1x1 squeeze, then 1x1 and 3x3 expands concatenated,
each convolution with bias and ReLU) with 3x3 stride-2 max-pools in between, and a 1x1
convolution as classifier, averaged over the map. State-dict keys are Paddle's, 52 tensors:
``_conv`` (stem), ``_conv1`` .. ``_conv8`` (Fire modules, each ``_conv`` / ``_conv_path1`` /
``_conv_path2`` around a ``._conv`` convolution), ``_conv9`` (the classifier, ``[classes, 512,
1, 1]``). 1,248,424 parameters (1.0), 1,235,496 (1.1).

Paddle's SqueezeNet beside torchvision's (``torchvision.models.squeezenet1_0/1_1``):

- Max-pools: Paddle floors (``ceil_mode=False``), torchvision rounds up (``ceil_mode=True``): at
  224x224 Paddle's 1.0 ends on a 12x12 map, torchvision's on 13x13.
- Stem of 1.1: Paddle pads the 3x3 stride-2 convolution by 1 (112x112 at 224x224),
  torchvision does not pad (111x111).
- Dropout before the classifier: Paddle's ``mode='downscale_in_infer'``
  (:class:`~resvision.models.layers.DownscaleInInferDropout`: inference multiplies by 0.5),
  torchvision's ``nn.Dropout`` (identity in inference).
- The final ReLU and pooling run only with ``with_pool=True`` (Paddle only): with
  ``with_pool=False`` the network returns the classifier's map ``[N, classes, H, W]`` before
  ReLU; ``num_classes <= 0`` (Paddle only) skips dropout and classifier and returns the pooled
  ``[N, 512]`` (or the ``[N, 512, H, W]`` map without pooling). Paddle itself fails on a negative
  ``num_classes`` (it builds a convolution with negative width) and keeps an empty ``_conv9``
  for 0; resvision builds no ``_conv9`` for either.
- Initialisation: Paddle's convolution default, Normal(0, sqrt(2 / fan_in)) with zero bias, for
  every convolution; torchvision uses Kaiming-uniform and Normal(0, 0.01) for the classifier.
- The version is ``'1.0'`` / ``'1.1'`` (torchvision: ``'1_0'`` / ``'1_1'``); torchvision's
  ``dropout`` argument does not exist in Paddle and is left out.

torchvision's state dict maps one to one by renaming: ``features.0`` -> ``_conv``, the Fire
modules ``features.{3,4,5,7,8,9,10,12}`` (1.0) or ``features.{3,4,6,7,9,10,11,12}`` (1.1) ->
``_conv1`` .. ``_conv8``, with ``squeeze`` / ``expand1x1`` / ``expand3x3`` -> ``_conv._conv`` /
``_conv_path1._conv`` / ``_conv_path2._conv``, and ``classifier.1`` -> ``_conv9``. The tensors
fit, but the network is not the same function: the pools (and 1.1's stem padding) change the
maps, and the dropout mode needs ``_conv9.weight`` multiplied by 2.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .classifier import paddle_num_classes, validate_num_classes
from .features import FeatureInfo
from .layers import DownscaleInInferDropout, paddle_conv_init
from .registry import register_model
from .weights import load_pretrained

__all__ = [
    "FireConv",
    "FireModule",
    "PointwiseClassifier",
    "SqueezeNet",
    "squeezenet1_0",
    "squeezenet1_1",
]

VERSIONS = ("1.0", "1.1")


class FireConv(nn.Module):
    """A convolution with bias, then ReLU (Paddle's ``MakeFireConv``; key ``_conv``).

    Examples:
        >>> FireConv(16, 64, 3, padding=1)(torch.zeros(1, 16, 8, 8)).shape
        torch.Size([1, 64, 8, 8])
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0
    ) -> None:
        super().__init__()
        self._conv = paddle_conv_init(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self._conv(x))


class FireModule(nn.Module):
    """Fire module: a 1x1 squeeze, then 1x1 and 3x3 expands, concatenated (1x1 first).

    Args:
        in_channels: input channels.
        squeeze_channels: channels of the squeeze layer (``_conv``).
        expand1x1_channels: channels of the 1x1 expand (``_conv_path1``).
        expand3x3_channels: channels of the 3x3 expand (``_conv_path2``).

    Examples:
        >>> FireModule(96, 16, 64, 64)(torch.zeros(1, 96, 8, 8)).shape
        torch.Size([1, 128, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        squeeze_channels: int,
        expand1x1_channels: int,
        expand3x3_channels: int,
    ) -> None:
        super().__init__()
        self._conv = FireConv(in_channels, squeeze_channels, 1)
        self._conv_path1 = FireConv(squeeze_channels, expand1x1_channels, 1)
        self._conv_path2 = FireConv(squeeze_channels, expand3x3_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._conv(x)
        return torch.cat([self._conv_path1(x), self._conv_path2(x)], dim=1)


class PointwiseClassifier(nn.Conv2d):
    """A 1x1 convolution used as classifier: a linear layer applied at every position.

    It answers ``in_features`` / ``out_features`` as the zoo's ``nn.Linear`` classifiers do, so
    code that reads the width of ``get_classifier()`` works on every family.

    Examples:
        >>> head = PointwiseClassifier(512, 10)
        >>> head.out_features, tuple(head.weight.shape)
        (10, (10, 512, 1, 1))
    """

    def __init__(self, in_features: int, out_features: int, **factory: Any) -> None:
        super().__init__(in_features, out_features, kernel_size=1, **factory)
        paddle_conv_init(self)

    @property
    def in_features(self) -> int:
        return self.in_channels

    @property
    def out_features(self) -> int:
        return self.out_channels


# Fire modules (input, squeeze, expand 1x1, expand 3x3), the same in both versions, and after
# which of them a max-pool comes.
_FIRES = [
    (None, 16, 64, 64),  # input: the stem's width
    (128, 16, 64, 64),
    (128, 32, 128, 128),
    (256, 32, 128, 128),
    (256, 48, 192, 192),
    (384, 48, 192, 192),
    (384, 64, 256, 256),
    (512, 64, 256, 256),
]
# version -> (stem width, kernel, padding), Fire modules followed by a pool, feature stages
_VERSIONS: dict[str, tuple[tuple[int, int, int], tuple[int, ...], tuple[str, ...]]] = {
    "1.0": ((96, 7, 0), (3, 7), ("_conv3", "_conv7")),
    "1.1": ((64, 3, 1), (2, 4), ("_conv2", "_conv4")),
}


def _fire_width(name: str) -> int:
    """Output channels of the Fire module named ``_conv{i}``: its two expands."""
    _, _, expand1x1, expand3x3 = _FIRES[int(name[len("_conv") :]) - 1]
    return expand1x1 + expand3x3


class SqueezeNet(nn.Module):
    """SqueezeNet, with Paddle's layout, pools, dropout mode and ``num_classes`` rule.

    Args:
        version: ``'1.0'`` or ``'1.1'`` (1.1: a 3x3 stem and earlier pools, 2.4x less compute).
        num_classes: number of classes; ``<= 0`` builds no classifier, as Paddle's: the network
            then returns the pooled features ``[N, 512]`` (the map without pooling).
        with_pool: average the output over the map and apply ReLU before (Paddle's order);
            False returns the map.

    Attributes:
        num_classes: outputs of the classifier (0 when there is none).
        num_features: 512, the width of the features the classifier reads.
        feature_info: the four stages (strides 2, 4, 8, 16).

    Raises:
        ValueError: ``version`` is not one of ``VERSIONS``.
        TypeError: ``num_classes`` is not an int.

    Examples:
        >>> net = SqueezeNet('1.1', num_classes=10).eval()
        >>> net(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 10])
        >>> SqueezeNet('1.0', with_pool=False)(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 1000, 12, 12])
    """

    def __init__(self, version: str, num_classes: int = 1000, with_pool: bool = True) -> None:
        super().__init__()
        if version not in _VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
        num_classes = paddle_num_classes(num_classes)
        self.version = version
        self.with_pool = with_pool
        (stem, kernel, padding), self._pool_after, stages = _VERSIONS[version]
        self._conv = paddle_conv_init(nn.Conv2d(3, stem, kernel, stride=2, padding=padding))
        self._relu = nn.ReLU()  # the stem's activation, a module so feature_info can name it
        self._pool = nn.MaxPool2d(kernel_size=3, stride=2)  # floor, not torchvision's ceil
        for i, (channels, *widths) in enumerate(_FIRES, start=1):
            self.add_module(f"_conv{i}", FireModule(channels or stem, *widths))
        self._drop = DownscaleInInferDropout(p=0.5)
        self.register_module("_conv9", None)
        self._avg_pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = 512
        self.feature_info = [
            FeatureInfo("_relu", channels=stem, reduction=2),
            FeatureInfo(stages[0], channels=_fire_width(stages[0]), reduction=4),
            FeatureInfo(stages[1], channels=_fire_width(stages[1]), reduction=8),
            FeatureInfo("_conv8", channels=512, reduction=16),
        ]
        self.num_classes = 0
        self.reset_classifier(max(num_classes, 0))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and Fire modules: ``[N, 512, H, W]`` (12x12 for 1.0, 13x13 for 1.1 at 224)."""
        x = self._pool(self._relu(self._conv(x)))
        for i in range(1, len(_FIRES) + 1):
            x = getattr(self, f"_conv{i}")(x)
            if i in self._pool_after:
                x = self._pool(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Dropout and the 1x1 classifier, then ReLU and average pooling when ``with_pool``.

        ``pre_logits`` skips the classifier: what the network returns without one.
        """
        if self.num_classes > 0 and not pre_logits:
            x = self._conv9(self._drop(x))
        if self.with_pool:
            x = torch.flatten(self._avg_pool(F.relu(x)), 1)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The last layer (``_conv9``, a :class:`PointwiseClassifier`; ``nn.Identity`` if none)."""
        return self._conv9

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a new one for ``num_classes`` (0: none, the network
        returns its pooled features ``[N, 512]``)."""
        self.num_classes = validate_num_classes(num_classes, allow_zero=True)
        if num_classes == 0:
            self._conv9 = nn.Identity()
            return
        like = next(self.parameters())
        self._conv9 = PointwiseClassifier(512, num_classes, device=like.device, dtype=like.dtype)


def _squeezenet(name: str, version: str, pretrained: object, **kwargs: Any) -> SqueezeNet:
    return load_pretrained(SqueezeNet(version, **kwargs), pretrained, model_name=name)


@register_model(family="squeezenet")
def squeezenet1_0(pretrained: object = False, **kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.0, 1.2M parameters (Paddle's layout; see :mod:`resvision.models.squeezenet`).

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        **kwargs: :class:`SqueezeNet` arguments (``num_classes``, ``with_pool``).

    Returns:
        The network.

    Raises:
        TypeError: ``num_classes`` is not an int.
        PretrainedWeightsError: weights that do not fit the network.

    Examples:
        >>> sum(p.numel() for p in squeezenet1_0().parameters())
        1248424
    """
    return _squeezenet("squeezenet1_0", "1.0", pretrained, **kwargs)


@register_model(family="squeezenet")
def squeezenet1_1(pretrained: object = False, **kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.1, 1.2M parameters, 2.4x less compute than 1.0. Arguments as
    :func:`squeezenet1_0`.

    Examples:
        >>> squeezenet1_1(num_classes=10).eval()(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 10])
    """
    return _squeezenet("squeezenet1_1", "1.1", pretrained, **kwargs)
