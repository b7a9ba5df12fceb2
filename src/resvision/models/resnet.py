"""ResNet, ResNeXt and Wide ResNet for ImageNet-size images, built as the tutorial builds ResNet.

``ResNet(layers=50, class_dim=1000)`` follows the tutorial: a 7x7 stride-2 ``ConvBNLayer`` stem
and a 3x3 stride-2 max-pool, four stages of residual blocks with widths 64/128/256/512 (stride 2
in the first block of stages 3-5, on the 3x3 convolution), global average pooling and a linear
classifier initialised Uniform(-1/sqrt(fan_in), +1/sqrt(fan_in)). Depths 18 and 34 use
``BasicBlock``; 50, 101 and 152 use ``BottleneckBlock``. Parameter counts equal torchvision's.

State-dict keys (see ``layers.py`` for the block internals), e.g. for resnet50::

    conv._conv.weight                     stem 7x7 conv   (torchvision conv1.weight)
    conv._batch_norm.running_mean         stem BN         (torchvision bn1.running_mean)
    layer1.0.conv0._conv.weight           first block     (torchvision layer1.0.conv1.weight)
    layer1.0.short._conv.weight           projection      (torchvision layer1.0.downsample.0.weight)
    layer1.0.short._batch_norm.weight     projection BN   (torchvision layer1.0.downsample.1.weight)
    fc.weight, fc.bias                    classifier      (torchvision fc.*, the tutorial's out.*)

``conv``, ``pool2d_max`` and ``pool2d_avg`` are the tutorial's names; the stages are
``layer1``..``layer4`` (``nn.Sequential``) as in torchvision and ``paddle.vision``: the tutorial's
flat ``bb_{s}_{i}`` is ``layer{s+1}.{i}``. The classifier is ``fc`` as in torchvision, timm and
``paddle.vision.models.resnet50`` (the API the tutorial's second half uses).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .classifier import PooledLinearClassifier, linear_head, validate_num_classes
from .layers import BasicBlock, BottleneckBlock, ConvBNLayer
from .registry import register_model
from .weights import load_pretrained

__all__ = [
    "ResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x4d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]

# depth -> (block type, blocks per stage)
_DEPTHS: dict[int, tuple[type[BasicBlock] | type[BottleneckBlock], list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (BottleneckBlock, [3, 4, 6, 3]),
    101: (BottleneckBlock, [3, 4, 23, 3]),
    152: (BottleneckBlock, [3, 8, 36, 3]),
}
STEMS = ("imagenet", "cifar")


class ResNet(PooledLinearClassifier):
    """Deep residual network (He et al. 2015), as built in the tutorial.

    Args:
        layers: depth, one of 18, 34, 50, 101, 152.
        class_dim: number of classes (the tutorial's name).
        num_classes: the modern name of ``class_dim``; give either (default 1000).
        in_channels: input channels.
        stem: ``'imagenet'`` (7x7 stride-2 conv + 3x3 stride-2 max-pool) or ``'cifar'`` (3x3
            stride-1 conv, no max-pool: the usual adaptation to 32x32 images).
        zero_init_residual: zero the last batch-norm scale of every block, so each block starts
            as ``relu(shortcut(x))`` (Goyal et al. 2017); helps large-batch training.
        groups: groups of the 3x3 convolutions (ResNeXt cardinality); bottleneck depths only.
        width_per_group: width of each group (64 for ResNet, 4 for ResNeXt-32x4d, 128 for Wide
            ResNet-2); bottleneck depths only.

    Raises:
        ValueError: unsupported depth or stem, ``class_dim`` and ``num_classes`` that disagree,
            ``num_classes`` < 1, or ``groups``/``width_per_group`` with a basic-block depth.

    Examples:
        >>> net = ResNet(layers=50, class_dim=10)
        >>> net(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 10])
        >>> net.forward_features(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 2048, 7, 7])
    """

    def __init__(
        self,
        layers: int = 50,
        class_dim: int | None = None,
        *,
        num_classes: int | None = None,
        in_channels: int = 3,
        stem: str = "imagenet",
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
    ) -> None:
        super().__init__()
        if layers not in _DEPTHS:
            raise ValueError(f"supported layers are {sorted(_DEPTHS)}, got layers={layers!r}")
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        if class_dim is not None and num_classes is not None and class_dim != num_classes:
            raise ValueError(
                f"class_dim={class_dim} and num_classes={num_classes} disagree; they are two "
                "names of the same thing, give one"
            )
        num_classes = validate_num_classes(
            num_classes if num_classes is not None else class_dim if class_dim is not None else 1000
        )
        block, depth = _DEPTHS[layers]
        if block is BasicBlock and (groups != 1 or width_per_group != 64):
            raise ValueError(
                f"groups={groups} and width_per_group={width_per_group}: only groups=1 and "
                f"width_per_group=64 are accepted for layers={layers} (basic blocks); grouped "
                "and wide variants need layers in [50, 101, 152]"
            )
        block_kwargs: dict[str, Any] = (
            {"groups": groups, "base_width": width_per_group} if block is BottleneckBlock else {}
        )

        self.layers = layers
        self.num_classes = num_classes
        if stem == "imagenet":
            self.conv = ConvBNLayer(in_channels, 64, 7, stride=2, act="relu")
            self.pool2d_max: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.conv = ConvBNLayer(in_channels, 64, 3, stride=1, act="relu")
            self.pool2d_max = nn.Identity()

        num_channels = 64
        for stage, (num_filters, num_blocks) in enumerate(zip([64, 128, 256, 512], depth)):
            blocks = []
            for i in range(num_blocks):
                stride = 2 if i == 0 and stage != 0 else 1
                num_out = num_filters * block.expansion
                shortcut = stride == 1 and num_channels == num_out
                blocks.append(block(num_channels, num_filters, stride, shortcut, **block_kwargs))
                num_channels = num_out
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))

        self.pool2d_avg = nn.AdaptiveAvgPool2d(output_size=1)
        self.num_features = num_channels
        self.fc = linear_head(num_channels, num_classes)

        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, (BasicBlock, BottleneckBlock)):
                    module.zero_init_last()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and the four stages: the last feature map ``[N, num_features, H/32, W/32]``."""
        x = self.pool2d_max(self.conv(x))
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        return x


def _resnet(name: str, layers: int, pretrained: object, num_classes: int, **kwargs: Any) -> ResNet:
    model = ResNet(layers, num_classes=validate_num_classes(num_classes), **kwargs)
    return load_pretrained(model, pretrained, model_name=name)


@register_model(family="resnet")
def resnet18(*, pretrained: object = False, num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-18 (basic blocks [2, 2, 2, 2]), 11.7M parameters, 1.8 GMACs at 224x224.

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        num_classes: number of classes.
        **kwargs: more :class:`ResNet` options (``stem``, ``zero_init_residual``, ...).

    Examples:
        >>> resnet18(num_classes=10)(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 10])
    """
    return _resnet("resnet18", 18, pretrained, num_classes, **kwargs)


@register_model(family="resnet")
def resnet34(*, pretrained: object = False, num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-34 (basic blocks [3, 4, 6, 3]), 21.8M parameters, 3.7 GMACs at 224x224.

    Arguments as :func:`resnet18`.
    """
    return _resnet("resnet34", 34, pretrained, num_classes, **kwargs)


@register_model(family="resnet")
def resnet50(*, pretrained: object = False, num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-50 (bottleneck blocks [3, 4, 6, 3]), 25.6M parameters, 4.1 GMACs at 224x224.

    Arguments as :func:`resnet18`.

    Examples:
        >>> resnet50()(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 1000])
    """
    return _resnet("resnet50", 50, pretrained, num_classes, **kwargs)


@register_model(family="resnet")
def resnet101(*, pretrained: object = False, num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-101 (bottleneck blocks [3, 4, 23, 3]), 44.5M parameters, 7.8 GMACs at 224x224.

    Arguments as :func:`resnet18`.
    """
    return _resnet("resnet101", 101, pretrained, num_classes, **kwargs)


@register_model(family="resnet")
def resnet152(*, pretrained: object = False, num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-152 (bottleneck blocks [3, 8, 36, 3]), 60.2M parameters, 11.5 GMACs at 224x224.

    Arguments as :func:`resnet18`.
    """
    return _resnet("resnet152", 152, pretrained, num_classes, **kwargs)


@register_model(family="resnet")
def resnext50_32x4d(
    *, pretrained: object = False, num_classes: int = 1000, **kwargs: Any
) -> ResNet:
    """ResNeXt-50 32x4d (Xie et al. 2017): ResNet-50 with 32 groups of width 4, 25.0M parameters.

    Arguments as :func:`resnet18`.
    """
    kwargs = {"groups": 32, "width_per_group": 4, **kwargs}
    return _resnet("resnext50_32x4d", 50, pretrained, num_classes, **kwargs)


@register_model(family="resnet")
def resnext101_32x4d(
    *, pretrained: object = False, num_classes: int = 1000, **kwargs: Any
) -> ResNet:
    """ResNeXt-101 32x4d: ResNet-101 with 32 groups of width 4, 44.2M parameters.

    Arguments as :func:`resnet18`.
    """
    kwargs = {"groups": 32, "width_per_group": 4, **kwargs}
    return _resnet("resnext101_32x4d", 101, pretrained, num_classes, **kwargs)


@register_model(family="resnet")
def resnext101_64x4d(
    *, pretrained: object = False, num_classes: int = 1000, **kwargs: Any
) -> ResNet:
    """ResNeXt-101 64x4d: ResNet-101 with 64 groups of width 4, 83.5M parameters.

    Arguments as :func:`resnet18`.
    """
    kwargs = {"groups": 64, "width_per_group": 4, **kwargs}
    return _resnet("resnext101_64x4d", 101, pretrained, num_classes, **kwargs)


@register_model(family="resnet")
def wide_resnet50_2(
    *, pretrained: object = False, num_classes: int = 1000, **kwargs: Any
) -> ResNet:
    """Wide ResNet-50-2 (Zagoruyko & Komodakis 2016): 3x3 convolutions twice as wide, 68.9M.

    Arguments as :func:`resnet18`.
    """
    kwargs = {"width_per_group": 128, **kwargs}
    return _resnet("wide_resnet50_2", 50, pretrained, num_classes, **kwargs)


@register_model(family="resnet")
def wide_resnet101_2(
    *, pretrained: object = False, num_classes: int = 1000, **kwargs: Any
) -> ResNet:
    """Wide ResNet-101-2: ResNet-101 with 3x3 convolutions twice as wide, 126.9M parameters.

    Arguments as :func:`resnet18`.
    """
    kwargs = {"width_per_group": 128, **kwargs}
    return _resnet("wide_resnet101_2", 101, pretrained, num_classes, **kwargs)
