"""VGG-11/13/16/19 (Simonyan & Zisserman 2014), with and without batch normalisation.

Layout and state-dict keys are those of torchvision and ``paddle.vision``: ``features.{i}``
(conv [+ BN] + ReLU, max-pools in between), ``avgpool`` (adaptive 7x7) and
``classifier.{0,3,6}`` (Linear 25088->4096, 4096->4096, 4096->classes, each hidden one followed
by ReLU and dropout). vgg16 has 138,357,544 parameters, vgg16_bn 138,365,992.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .classifier import linear_head, validate_num_classes
from .registry import register_model
from .weights import load_pretrained

__all__ = [
    "VGG",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
]

# depth -> output channels of each 3x3 conv, "M" for a 2x2 max-pool (configurations A, B, D, E)
_CONFIGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M"] + [256] * 4 + ["M"] + ([512] * 4 + ["M"]) * 2,
}


def _make_features(config: list[int | str], in_channels: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        assert isinstance(item, int)
        conv = nn.Conv2d(channels, item, kernel_size=3, padding=1)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(conv.bias)
        layers.append(conv)
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        channels = item
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG network: 3x3 convolutions in five blocks, then three fully connected layers.

    Args:
        depth: 11, 13, 16 or 19 weighted layers.
        num_classes: number of classes.
        batch_norm: batch normalisation after every convolution.
        dropout: dropout probability before the second and third linear layers.
        in_channels: input channels.

    Raises:
        ValueError: unsupported depth, ``num_classes`` < 1, or ``dropout`` outside [0, 1].

    Examples:
        >>> net = VGG(depth=11, num_classes=10)
        >>> net(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 10])
    """

    def __init__(
        self,
        depth: int = 16,
        num_classes: int = 1000,
        *,
        batch_norm: bool = False,
        dropout: float = 0.5,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if depth not in _CONFIGS:
            raise ValueError(f"supported depths are {sorted(_CONFIGS)}, got depth={depth!r}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1], got {dropout!r}")
        self.num_classes = validate_num_classes(num_classes)
        self.depth = depth
        self.features = _make_features(_CONFIGS[depth], in_channels, batch_norm)
        # Adaptive pooling keeps the 25088-wide classifier valid for any input size; at 224x224
        # the feature map is already 7x7 and the pooling is the identity.
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.num_features = 4096
        hidden = [nn.Linear(512 * 7 * 7, 4096), nn.Linear(4096, 4096)]
        for layer in hidden:
            nn.init.normal_(layer.weight, 0.0, 0.01)
            nn.init.zeros_(layer.bias)
        self.classifier = nn.Sequential(
            hidden[0],
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            hidden[1],
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            linear_head(4096, num_classes),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The convolutional part: ``[N, 512, H/32, W/32]``."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool to 7x7, the two hidden linear layers, then the last one unless ``pre_logits``."""
        x = torch.flatten(self.avgpool(x), 1)
        x = self.classifier[:-1](x)
        return x if pre_logits else self.classifier[-1](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The last layer (``classifier[6]``)."""
        return self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last layer with a new one for ``num_classes`` (0: ``nn.Identity``)."""
        self.num_classes = validate_num_classes(num_classes, allow_zero=True)
        self.classifier[-1] = linear_head(
            self.num_features, num_classes, like=next(self.parameters())
        )


def _vgg(
    name: str, depth: int, batch_norm: bool, pretrained: object, num_classes: int, **kwargs: Any
) -> VGG:
    model = VGG(depth, validate_num_classes(num_classes), batch_norm=batch_norm, **kwargs)
    return load_pretrained(model, pretrained, model_name=name)


@register_model(family="vgg")
def vgg11(*, pretrained: object = False, num_classes: int = 1000, **kwargs: Any) -> VGG:
    """VGG-11 (configuration A), 132.9M parameters.

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        num_classes: number of classes.
        **kwargs: more :class:`VGG` options (``dropout``, ``in_channels``).

    Examples:
        >>> with torch.device('meta'):  # shapes only: no memory, no initialisation
        ...     net = vgg11(num_classes=10)
        >>> sum(p.numel() for p in net.parameters())
        128807306
    """
    return _vgg("vgg11", 11, False, pretrained, num_classes, **kwargs)


@register_model(family="vgg")
def vgg11_bn(*, pretrained: object = False, num_classes: int = 1000, **kwargs: Any) -> VGG:
    """VGG-11 with batch normalisation. Arguments as :func:`vgg11`."""
    return _vgg("vgg11_bn", 11, True, pretrained, num_classes, **kwargs)


@register_model(family="vgg")
def vgg13(*, pretrained: object = False, num_classes: int = 1000, **kwargs: Any) -> VGG:
    """VGG-13 (configuration B), 133.0M parameters. Arguments as :func:`vgg11`."""
    return _vgg("vgg13", 13, False, pretrained, num_classes, **kwargs)


@register_model(family="vgg")
def vgg13_bn(*, pretrained: object = False, num_classes: int = 1000, **kwargs: Any) -> VGG:
    """VGG-13 with batch normalisation. Arguments as :func:`vgg11`."""
    return _vgg("vgg13_bn", 13, True, pretrained, num_classes, **kwargs)


@register_model(family="vgg")
def vgg16(*, pretrained: object = False, num_classes: int = 1000, **kwargs: Any) -> VGG:
    """VGG-16 (configuration D), 138.4M parameters, 15.5 GMACs at 224x224.

    Arguments as :func:`vgg11`.
    """
    return _vgg("vgg16", 16, False, pretrained, num_classes, **kwargs)


@register_model(family="vgg")
def vgg16_bn(*, pretrained: object = False, num_classes: int = 1000, **kwargs: Any) -> VGG:
    """VGG-16 with batch normalisation. Arguments as :func:`vgg11`."""
    return _vgg("vgg16_bn", 16, True, pretrained, num_classes, **kwargs)


@register_model(family="vgg")
def vgg19(*, pretrained: object = False, num_classes: int = 1000, **kwargs: Any) -> VGG:
    """VGG-19 (configuration E), 143.7M parameters. Arguments as :func:`vgg11`."""
    return _vgg("vgg19", 19, False, pretrained, num_classes, **kwargs)


@register_model(family="vgg")
def vgg19_bn(*, pretrained: object = False, num_classes: int = 1000, **kwargs: Any) -> VGG:
    """VGG-19 with batch normalisation. Arguments as :func:`vgg11`."""
    return _vgg("vgg19_bn", 19, True, pretrained, num_classes, **kwargs)
