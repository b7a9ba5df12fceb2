"""VGG-11/13/16/19 (Simonyan & Zisserman 2014), with and without batch normalisation.

Layout and state-dict keys are those of torchvision and ``paddle.vision``: ``features.{i}``
(conv [+ BN] + ReLU, max-pools in between), ``avgpool`` (adaptive 7x7) and
``classifier.{0,3,6}`` (Linear 25088->4096, 4096->4096, 4096->classes, each hidden one followed
by ReLU and dropout). vgg16 has 138,357,544 parameters, vgg16_bn 138,365,992 (Paddle's
``parameters()`` say 138,374,440: they count the BatchNorm statistics too).

The constructors are Paddle's: ``VGG(features, num_classes=1000, with_pool=True)`` over the
``features`` that :func:`make_layers` builds from a configuration of :data:`cfgs`, and
``vgg16(pretrained=False, batch_norm=False, **kwargs)``; torchvision's ``vgg16_bn`` names are
kept too. ``num_classes <= 0`` builds no classifier at all (none of the three linear layers, as
Paddle), and the network returns the ``[N, 512, 7, 7]`` pooled map, or the last feature map with
``with_pool=False``.
"""

from __future__ import annotations

from typing import Any

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
from .registry import register_model
from .weights import load_pretrained

__all__ = [
    "VGG",
    "cfgs",
    "make_layers",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
]

#: Paddle's (and the paper's) configurations A, B, D, E: the output channels of each 3x3
#: convolution, ``'M'`` for a 2x2 max-pool.
cfgs: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M"] + [256] * 4 + ["M"] + ([512] * 4 + ["M"]) * 2,
}
_DEPTHS = {11: "A", 13: "B", 16: "D", 19: "E"}


def make_layers(
    cfg: list[int | str], batch_norm: bool = False, *, in_channels: int = 3
) -> nn.Sequential:
    """The convolutional part of a VGG, as Paddle's ``paddle.vision.models.vgg.make_layers``.

    Args:
        cfg: output channels of each 3x3 convolution, ``'M'`` for a 2x2 max-pool (see
            :data:`cfgs`).
        batch_norm: batch normalisation after every convolution.
        in_channels: input channels.

    Returns:
        ``nn.Sequential`` of conv [+ BN] + ReLU and max-pools.

    Raises:
        ValueError: an item of ``cfg`` is neither a positive int nor ``'M'``.

    Examples:
        >>> layers = make_layers([8, 'M'], batch_norm=True)
        >>> [type(m).__name__ for m in layers]
        ['Conv2d', 'BatchNorm2d', 'ReLU', 'MaxPool2d']
        >>> len(make_layers(cfgs['D']))  # 13 convolutions with their ReLU, 5 max-pools
        31
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise ValueError(f"cfg items must be channel counts (ints >= 1) or 'M', got {item!r}")
        conv = nn.Conv2d(channels, item, kernel_size=3, padding=1)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(conv.bias)
        layers.append(conv)
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        channels = item
    return nn.Sequential(*layers)


def _stages(features: nn.Module) -> list[FeatureInfo]:
    """One stage per max-pool: the activation just before it, its channels and reduction."""
    stages: list[FeatureInfo] = []
    channels, reduction, previous = 0, 1, None
    for name, module in features.named_children():
        if isinstance(module, nn.Conv2d):
            channels = module.out_channels
        elif isinstance(module, nn.MaxPool2d) and previous is not None:
            stages.append(FeatureInfo(f"features.{previous}", channels, reduction))
            reduction *= 2
        previous = name
    return stages


class VGG(nn.Module):
    """VGG network: 3x3 convolutions in five blocks, then three fully connected layers.

    ``paddle.vision.models.VGG``: ``VGG(make_layers(cfgs['D']))`` is VGG-16. An int depth is
    accepted in place of ``features`` as a shortcut (``VGG(16)``; ``batch_norm`` and
    ``in_channels`` then apply).

    Args:
        features: the convolutional part (from :func:`make_layers`; it must output 512
            channels), or the depth 11, 13, 16 or 19.
        num_classes: number of classes; ``<= 0`` builds no classifier (Paddle's rule): the
            network returns the pooled ``[N, 512, 7, 7]`` map, or the feature map itself with
            ``with_pool=False``.
        with_pool: adaptive average pooling to 7x7 before the classifier. Without it the
            classifier takes the flattened feature map, which must then be 7x7 (a 224x224
            input), as in Paddle.
        batch_norm: with a depth: batch normalisation after every convolution.
        dropout: dropout probability before the second and third linear layers.
        in_channels: with a depth: input channels.

    Attributes:
        feature_info: one entry per max-pool: the activation before it (``features.{i}``),
            reductions 1, 2, 4, 8, 16.

    Raises:
        ValueError: unsupported depth, ``dropout`` outside [0, 1], ``batch_norm`` or
            ``in_channels`` with a ``features`` module, or a 7x7 map missing without pooling.
        TypeError: ``num_classes`` or ``with_pool`` of the wrong type.

    Examples:
        >>> net = VGG(make_layers(cfgs['A']), num_classes=10)
        >>> net(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 10])
        >>> VGG(11, num_classes=0)(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 512, 7, 7])
    """

    def __init__(
        self,
        features: nn.Module | int,
        num_classes: int = 1000,
        with_pool: bool = True,
        *,
        batch_norm: bool = False,
        dropout: float = 0.5,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.depth: int | None = None  # the depth when built from one
        if isinstance(features, nn.Module):
            if batch_norm or in_channels != 3:
                raise ValueError(
                    f"batch_norm={batch_norm} and in_channels={in_channels} apply to a depth "
                    "(VGG(16, batch_norm=True)); a features module is used as it is: build it "
                    "with make_layers(cfg, batch_norm=..., in_channels=...)"
                )
        elif isinstance(features, int) and not isinstance(features, bool):
            if features not in _DEPTHS:
                raise ValueError(f"supported depths are {sorted(_DEPTHS)}, got depth={features!r}")
            self.depth = features
            features = make_layers(cfgs[_DEPTHS[features]], batch_norm, in_channels=in_channels)
        else:
            raise TypeError(
                "features must be an nn.Module (make_layers(cfgs['D'])) or a depth (11, 13, 16, "
                f"19), got {features!r} of type {type(features).__name__}"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1], got {dropout!r}")
        self.num_classes = paddle_num_classes(num_classes)
        self.with_pool = check_with_pool(with_pool)
        self.paddle_headless = self.num_classes <= 0
        self.dropout = dropout
        self.features = features
        self.feature_info = _stages(features)
        # Adaptive pooling keeps the 25088-wide classifier valid for any input size; at 224x224
        # the feature map is already 7x7 and the pooling is the identity.
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7)) if with_pool else nn.Identity()
        if self.paddle_headless:
            # Paddle builds none of the three linear layers: no ``classifier.*`` keys.
            self.num_features = 512 * 7 * 7
            self.classifier: nn.Module = nn.Identity()
        else:
            self.num_features = 4096
            self.classifier = self._make_classifier(self.num_classes)

    def _make_classifier(self, num_classes: int) -> nn.Sequential:
        hidden = [nn.Linear(512 * 7 * 7, 4096), nn.Linear(4096, 4096)]
        for layer in hidden:
            nn.init.normal_(layer.weight, 0.0, 0.01)
            nn.init.zeros_(layer.bias)
        return nn.Sequential(
            hidden[0],
            nn.ReLU(inplace=True),
            nn.Dropout(p=self.dropout),
            hidden[1],
            nn.ReLU(inplace=True),
            nn.Dropout(p=self.dropout),
            linear_head(4096, num_classes),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The convolutional part: ``[N, 512, H/32, W/32]``."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool to 7x7, the two hidden linear layers, then the last one unless ``pre_logits``.

        Without a classifier (``num_classes <= 0`` at construction) the pooled map is returned
        as it is, or flattened with ``pre_logits``.
        """
        x = self.avgpool(x)
        if self.paddle_headless:
            return torch.flatten(x, 1) if pre_logits else x
        if not self.with_pool:
            check_flattened_map(x, (7, 7))
        x = self.classifier[:-1](torch.flatten(x, 1))
        return x if pre_logits else self.classifier[-1](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The last layer (``classifier[6]``); the empty ``classifier`` when there is none."""
        return self.classifier if self.paddle_headless else self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last layer with a new one for ``num_classes`` (0: ``nn.Identity``).

        A network built without a classifier stays so for ``num_classes <= 0``, and gets
        Paddle's three linear layers, freshly initialised, for a positive one.
        """
        if self.paddle_headless and paddle_num_classes(num_classes) <= 0:
            self.num_classes = num_classes
            return
        self.num_classes = validate_num_classes(num_classes, allow_zero=True)
        like = next(self.parameters())
        if self.paddle_headless:
            self.paddle_headless = False
            self.num_features = 4096
            self.classifier = self._make_classifier(num_classes).to(like.device, like.dtype)
        else:
            self.classifier[-1] = linear_head(self.num_features, num_classes, like=like)


def _vgg(
    name: str,
    depth: int,
    batch_norm: bool,
    pretrained: object,
    num_classes: int,
    with_pool: bool,
    **kwargs: Any,
) -> VGG:
    if batch_norm and not name.endswith("_bn"):
        name += "_bn"  # Paddle's weights name: vgg16(batch_norm=True) loads vgg16_bn's
    model = VGG(depth, num_classes, with_pool, batch_norm=batch_norm, **kwargs)
    return load_pretrained(model, pretrained, model_name=name)


@register_model(family="vgg")
def vgg11(
    pretrained: object = False,
    batch_norm: bool = False,
    *,
    num_classes: int = 1000,
    with_pool: bool = True,
    **kwargs: Any,
) -> VGG:
    """VGG-11 (configuration A), 132.9M parameters.

    Paddle's ``vgg11(pretrained=False, batch_norm=False, **kwargs)``.

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        batch_norm: batch normalisation after every convolution (the same network as
            :func:`vgg11_bn`).
        num_classes: number of classes; ``<= 0``: no classifier, the network returns the
            pooled ``[N, 512, 7, 7]`` map (Paddle's rule).
        with_pool: adaptive average pooling to 7x7 before the classifier.
        **kwargs: more :class:`VGG` options (``dropout``, ``in_channels``).

    Examples:
        >>> with torch.device('meta'):  # shapes only: no memory, no initialisation
        ...     net = vgg11(num_classes=10)
        >>> sum(p.numel() for p in net.parameters())
        128807306
    """
    return _vgg("vgg11", 11, batch_norm, pretrained, num_classes, with_pool, **kwargs)


@register_model(family="vgg")
def vgg11_bn(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> VGG:
    """VGG-11 with batch normalisation (``vgg11(batch_norm=True)``). Arguments as :func:`vgg11`."""
    return _vgg("vgg11_bn", 11, True, pretrained, num_classes, with_pool, **kwargs)


@register_model(family="vgg")
def vgg13(
    pretrained: object = False,
    batch_norm: bool = False,
    *,
    num_classes: int = 1000,
    with_pool: bool = True,
    **kwargs: Any,
) -> VGG:
    """VGG-13 (configuration B), 133.0M parameters. Arguments as :func:`vgg11`."""
    return _vgg("vgg13", 13, batch_norm, pretrained, num_classes, with_pool, **kwargs)


@register_model(family="vgg")
def vgg13_bn(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> VGG:
    """VGG-13 with batch normalisation (``vgg13(batch_norm=True)``). Arguments as :func:`vgg11`."""
    return _vgg("vgg13_bn", 13, True, pretrained, num_classes, with_pool, **kwargs)


@register_model(family="vgg")
def vgg16(
    pretrained: object = False,
    batch_norm: bool = False,
    *,
    num_classes: int = 1000,
    with_pool: bool = True,
    **kwargs: Any,
) -> VGG:
    """VGG-16 (configuration D), 138.4M parameters, 15.5 GMACs at 224x224.

    Arguments as :func:`vgg11`.
    """
    return _vgg("vgg16", 16, batch_norm, pretrained, num_classes, with_pool, **kwargs)


@register_model(family="vgg")
def vgg16_bn(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> VGG:
    """VGG-16 with batch normalisation (``vgg16(batch_norm=True)``). Arguments as :func:`vgg11`."""
    return _vgg("vgg16_bn", 16, True, pretrained, num_classes, with_pool, **kwargs)


@register_model(family="vgg")
def vgg19(
    pretrained: object = False,
    batch_norm: bool = False,
    *,
    num_classes: int = 1000,
    with_pool: bool = True,
    **kwargs: Any,
) -> VGG:
    """VGG-19 (configuration E), 143.7M parameters. Arguments as :func:`vgg11`."""
    return _vgg("vgg19", 19, batch_norm, pretrained, num_classes, with_pool, **kwargs)


@register_model(family="vgg")
def vgg19_bn(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> VGG:
    """VGG-19 with batch normalisation (``vgg19(batch_norm=True)``). Arguments as :func:`vgg11`."""
    return _vgg("vgg19_bn", 19, True, pretrained, num_classes, with_pool, **kwargs)
