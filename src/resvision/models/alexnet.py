"""AlexNet (Krizhevsky et al. 2012), as ``paddle.vision.models.AlexNet`` defines it.

Five convolutions (with bias) and three fully connected layers. State-dict keys are Paddle's,
16 tensors: ``_conv1._conv`` (11x11 stride 4, 64), ``_conv2._conv`` (5x5, 192), ``_conv3``,
``_conv4`` (3x3, 384 and 256), ``_conv5._conv`` (3x3, 256), ``_fc6`` (9216->4096), ``_fc7``
(4096->4096), ``_fc8`` (4096->classes). ``_conv1/2/5`` are ``ConvPoolLayer``s: conv, ReLU
(``relu``), 3x3 stride-2 max-pool (``_pool``). Paddle stores Linear weights ``[in, out]``; the
converter transposes them (``source='paddle'``). 61,100,840 parameters.

Paddle's AlexNet beside torchvision's (``torchvision.models.alexnet``):

- The same layers and shapes (61,100,840 parameters), in the same order.
- Dropout: Paddle's ``mode='downscale_in_infer'`` (:class:`DownscaleInInferDropout`) zeroes
  activations in training without rescaling and multiplies them by ``1 - p = 0.5`` in inference;
  torchvision's ``nn.Dropout`` rescales by ``1 / (1 - p)`` in training and is the identity in
  inference. In eval mode Paddle's fc6 and fc7 thus see half of what torchvision's see.
- Paddle has no adaptive pooling: its classifier needs the 6x6 map of a 224x224 input.
  resvision keeps torchvision's ``AdaptiveAvgPool2d((6, 6))`` before the classifier (the
  identity on a 6x6 map, so logits equal Paddle's at 224x224) so that any input of at least
  63x63 works, as in torchvision.
- Initialisation: Paddle draws every weight and bias from Uniform(-1/sqrt(fan_in),
  +1/sqrt(fan_in)) (fc7 and fc8 reuse fc6's bound, 1/sqrt(9216)); torchvision keeps PyTorch's
  defaults.
- ``num_classes <= 0`` (Paddle only) builds no fc6/fc7/fc8: the network returns the last
  feature map, ``[N, 256, 6, 6]`` at 224x224. torchvision's ``dropout`` argument does not exist
  in Paddle and is left out.

torchvision's state dict maps one to one by renaming: ``features.0`` -> ``_conv1._conv``,
``features.3`` -> ``_conv2._conv``, ``features.6`` -> ``_conv3``, ``features.8`` -> ``_conv4``,
``features.10`` -> ``_conv5._conv``, ``classifier.1/4/6`` -> ``_fc6/_fc7/_fc8``. Because of the
dropout modes, torchvision's logits in this network also need ``_fc6.weight`` and
``_fc7.weight`` multiplied by 2 (``1 / (1 - p)``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .classifier import paddle_num_classes, validate_num_classes
from .features import FeatureInfo
from .layers import DownscaleInInferDropout
from .registry import register_model
from .weights import load_pretrained

__all__ = ["AlexNet", "ConvPoolLayer", "alexnet"]


def _paddle_uniform(layer: nn.Conv2d | nn.Linear, bound: float) -> None:
    """Paddle's AlexNet initialisation: weight and bias from Uniform(-bound, bound)."""
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound)
        layer.bias.uniform_(-bound, bound)


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int, padding: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding)
    _paddle_uniform(conv, 1.0 / math.sqrt(in_channels * kernel * kernel))
    return conv


def _linear(in_features: int, out_features: int, like: torch.Tensor) -> nn.Linear:
    # skip_init: PyTorch's default initialisation of these 57M weights would be thrown away
    layer = nn.utils.skip_init(
        nn.Linear, in_features, out_features, device=like.device, dtype=like.dtype
    )
    _paddle_uniform(layer, 1.0 / math.sqrt(256 * 6 * 6))  # Paddle uses fc6's bound for all three
    return layer


class ConvPoolLayer(nn.Module):
    """Convolution with bias, ReLU, then a 3x3 stride-2 max-pool (Paddle's AlexNet block).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: convolution kernel size (square).
        stride: convolution stride.
        padding: convolution padding.

    Examples:
        >>> ConvPoolLayer(3, 64, 11, stride=4, padding=2)(torch.zeros(1, 3, 224, 224)).shape
        torch.Size([1, 64, 27, 27])
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int
    ) -> None:
        super().__init__()
        self._conv = _conv(in_channels, out_channels, kernel_size, stride, padding)
        self.relu = nn.ReLU()
        self._pool = nn.MaxPool2d(kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._pool(self.relu(self._conv(x)))


class AlexNet(nn.Module):
    """AlexNet, with Paddle's layout, dropout mode and ``num_classes`` rule.

    Args:
        num_classes: number of classes; ``<= 0`` builds no fully connected layers and the
            network returns its last feature map (``[N, 256, 6, 6]`` at 224x224), as Paddle's.

    Attributes:
        num_classes: outputs of the classifier (0 when there is none).
        num_features: width of the pre-logits features: 4096 (fc7's output), or 9216 (the
            flattened 6x6 map) in a network built without classifier.
        feature_info: the four stages (strides 4, 8, 16, 32).

    Raises:
        TypeError: ``num_classes`` is not an int.

    Examples:
        >>> AlexNet(num_classes=0)(torch.rand(1, 3, 224, 224)).shape  # no classifier
        torch.Size([1, 256, 6, 6])
        >>> with torch.device('meta'):  # shapes only: no memory, no arithmetic
        ...     AlexNet(num_classes=10).eval()(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 10])
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        num_classes = paddle_num_classes(num_classes)
        self._conv1 = ConvPoolLayer(3, 64, 11, stride=4, padding=2)
        self._conv2 = ConvPoolLayer(64, 192, 5, stride=1, padding=2)
        self._conv3 = _conv(192, 384, 3, stride=1, padding=1)
        self._conv4 = _conv(384, 256, 3, stride=1, padding=1)
        self._conv5 = ConvPoolLayer(256, 256, 3, stride=1, padding=1)
        # The identity on the 6x6 map of a 224x224 input (Paddle's only size); other sizes work
        # as in torchvision.
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.feature_info = [
            FeatureInfo("_conv1.relu", channels=64, reduction=4),
            FeatureInfo("_conv2.relu", channels=192, reduction=8),
            FeatureInfo("_conv5.relu", channels=256, reduction=16),
            FeatureInfo("_conv5", channels=256, reduction=32),
        ]
        # Slots in Paddle's order, so that the state dict lists its keys as Paddle's does.
        for name in ("_drop1", "_fc6", "_drop2", "_fc7"):
            self.register_module(name, None)
        self._fc8: nn.Module = nn.Identity()
        self.num_classes = 0
        self.num_features = 256 * 6 * 6
        if num_classes > 0:
            self._build_classifier(num_classes)

    def _build_classifier(self, num_classes: int) -> None:
        """Paddle's three fully connected layers (fresh), for ``num_classes`` outputs."""
        like = next(self.parameters())
        self._drop1 = DownscaleInInferDropout(p=0.5)
        self._fc6 = _linear(256 * 6 * 6, 4096, like)
        self._drop2 = DownscaleInInferDropout(p=0.5)
        self._fc7 = _linear(4096, 4096, like)
        self._fc8 = _linear(4096, num_classes, like)
        self.num_classes = num_classes
        self.num_features = 4096

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The five convolutions: ``[N, 256, 6, 6]`` at 224x224."""
        x = self._conv2(self._conv1(x))
        x = F.relu(self._conv4(F.relu(self._conv3(x))))
        return self._conv5(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool to 6x6, fc6 and fc7 (each after dropout, with ReLU), then fc8 unless
        ``pre_logits``. Without classifier: the map itself (``pre_logits``: flattened)."""
        if self._fc6 is None or self._fc7 is None:
            return torch.flatten(self.avgpool(x), 1) if pre_logits else x
        x = torch.flatten(self.avgpool(x), 1)
        x = F.relu(self._fc6(self._drop1(x)))
        x = F.relu(self._fc7(self._drop2(x)))
        return x if pre_logits else self._fc8(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The last layer (``_fc8``; ``nn.Identity`` when there is none)."""
        return self._fc8

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last layer with a new one for ``num_classes`` (0: ``nn.Identity``).

        A network built without classifier gets Paddle's three fresh fully connected layers
        for ``num_classes`` > 0; with 0 it stays as built.
        """
        validate_num_classes(num_classes, allow_zero=True)
        if self._fc6 is None:
            if num_classes > 0:
                self._build_classifier(num_classes)
            return
        self.num_classes = num_classes
        like = next(self.parameters())
        self._fc8 = _linear(4096, num_classes, like) if num_classes > 0 else nn.Identity()


@register_model(family="alexnet")
def alexnet(pretrained: object = False, **kwargs: Any) -> AlexNet:
    """AlexNet, 61.1M parameters (Paddle's layout; see :mod:`resvision.models.alexnet`).

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        **kwargs: :class:`AlexNet` arguments (``num_classes``).

    Returns:
        The network.

    Raises:
        TypeError: ``num_classes`` is not an int.
        PretrainedWeightsError: weights that do not fit the network.

    Examples:
        >>> with torch.device('meta'):  # shapes only: no memory, no initialisation
        ...     net = alexnet()
        >>> sum(p.numel() for p in net.parameters())
        61100840
    """
    return load_pretrained(AlexNet(**kwargs), pretrained, model_name="alexnet")
