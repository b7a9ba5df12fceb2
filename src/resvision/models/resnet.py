"""ResNet, ResNeXt and Wide ResNet for ImageNet-size images, built as the tutorial builds ResNet.

``ResNet(layers=50, class_dim=1000)`` follows the tutorial: a 7x7 stride-2 ``ConvBNLayer`` stem
and a 3x3 stride-2 max-pool, four stages of residual blocks with widths 64/128/256/512 (stride 2
in the first block of stages 3-5, on the 3x3 convolution), global average pooling and a linear
classifier initialised Uniform(-1/sqrt(fan_in), +1/sqrt(fan_in)). Depths 18 and 34 use
``BasicBlock``; 50, 101 and 152 use ``BottleneckBlock``. Parameter counts equal torchvision's
(Paddle's ``parameters()`` also count the BatchNorm statistics, which torch keeps as buffers).

``ResNet(BottleneckBlock, 50, width=64, num_classes=1000, with_pool=True, groups=1)`` is
``paddle.vision.models.ResNet``'s form of the same network, and the builders (``resnet50``,
``resnext50_32x4d``, ...) take Paddle's options; see :class:`ResNet` for the two forms' rules.

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
``paddle.vision.models.resnet50`` (the API the tutorial's second half uses). Paddle's and
torchvision's names (``conv1``, ``bn1``, ``layerS.B.convK``/``bnK``, ``downsample.0/1``) are
mapped by ``weights.convert``, so their state dicts load as they are.
"""

from __future__ import annotations

from typing import Any

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
from .layers import BasicBlock, BottleneckBlock, ConvBNLayer, drop_path_rates
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
    "resnext50_64x4d",
    "resnext101_32x4d",
    "resnext101_64x4d",
    "resnext152_32x4d",
    "resnext152_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]

# depth -> (block type of the tutorial's form, blocks per stage)
_DEPTHS: dict[int, tuple[type[BasicBlock] | type[BottleneckBlock], list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (BottleneckBlock, [3, 4, 6, 3]),
    101: (BottleneckBlock, [3, 4, 23, 3]),
    152: (BottleneckBlock, [3, 8, 36, 3]),
}
STEMS = ("imagenet", "cifar")
_BLOCKS = (BasicBlock, BottleneckBlock)


class ResNet(PooledLinearClassifier):
    """Deep residual network (He et al. 2015), in the tutorial's form and in Paddle's.

    The type of the first argument picks the form:

    - a block class, ``ResNet(BottleneckBlock, 50, width=64, num_classes=1000, with_pool=True,
      groups=1)``: ``paddle.vision.models.ResNet``, same arguments and defaults. ``depth`` sets
      the blocks per stage and ``block`` their type, as in Paddle (``ResNet(BasicBlock, 50)`` is
      basic blocks in depth 50's [3, 4, 6, 3] layout, i.e. ResNet-34's network). ``num_classes``
      follows Paddle's rule: ``<= 0`` builds no classifier, and the network returns the pooled
      ``[N, C, 1, 1]`` map (``with_pool=True``) or the last feature map (``with_pool=False``).
      ``layers``/``class_dim`` are refused here;
    - an int, or no positional argument, ``ResNet(layers=50, class_dim=1000)``: the tutorial's
      form. The first argument is the depth and the second the number of classes
      (``ResNet(18, 5)``: ResNet-18 with 5 classes); ``num_classes`` is the modern name of
      ``class_dim`` (default 1000) and must be >= 1; the block type follows the depth (basic
      for 18 and 34, bottleneck above). With no positional argument ``depth=`` names the depth
      too (``ResNet(depth=101)``).

    ``with_pool=False`` with a classifier flattens the last feature map into ``fc``, as Paddle
    does: it fits only a 1x1 map (a 32x32 input), and another size is refused with a clear error.

    Args:
        block: ``BasicBlock`` or ``BottleneckBlock`` (Paddle's form), or the depth (the
            tutorial's ``layers``).
        depth: Paddle's form: 18, 34, 50 (default), 101 or 152. The tutorial's form: the
            second positional argument is ``class_dim``.
        width: width of each group of the 3x3 convolutions (64 for ResNet, 4 for ResNeXt-32x4d,
            128 for Wide ResNet-2); bottleneck blocks only.
        num_classes: number of classes (default 1000); see the two forms for ``<= 0``.
        with_pool: global average pooling before the classifier.
        groups: groups of the 3x3 convolutions (ResNeXt cardinality); bottleneck blocks only.
        layers: the tutorial's name of the depth.
        class_dim: the tutorial's name of the number of classes.
        in_channels: input channels.
        stem: ``'imagenet'`` (7x7 stride-2 conv + 3x3 stride-2 max-pool) or ``'cifar'`` (3x3
            stride-1 conv, no max-pool: the usual adaptation to 32x32 images).
        zero_init_residual: zero the last batch-norm scale of every block, so each block starts
            as ``relu(shortcut(x))`` (Goyal et al. 2017); helps large-batch training.
        drop_path_rate: stochastic depth: the last block's probability of dropping its residual
            branch in training, the others' rising linearly from 0 (timm's rule); 0 (default)
            builds no drop-path module, so the state dict is the same either way.

    Attributes:
        feature_info: the stem and the four stages (``conv``, ``layer1``..``layer4``) with
            their channels and reductions (2, 4, 8, 16, 32; 1, 1, 2, 4, 8 with the CIFAR stem).

    Raises:
        TypeError: ``block`` is neither a block class nor an int, a depth or a number of
            classes given twice, or the tutorial's names with a block class.
        ValueError: unsupported depth or stem, ``class_dim`` and ``num_classes`` that disagree,
            ``num_classes`` < 1 in the tutorial's form, or ``groups``/``width`` with basic
            blocks.

    Examples:
        >>> net = ResNet(layers=50, class_dim=10)
        >>> net(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 10])
        >>> net.forward_features(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 2048, 7, 7])
        >>> ResNet(18, 5).num_classes
        5
        >>> paddle_form = ResNet(BasicBlock, 18, num_classes=0)
        >>> paddle_form(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 512, 1, 1])
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[BottleneckBlock] | int | None = None,
        depth: int | None = None,
        width: int = 64,
        num_classes: int | None = None,
        with_pool: bool = True,
        groups: int = 1,
        *,
        layers: int | None = None,
        class_dim: int | None = None,
        in_channels: int = 3,
        stem: str = "imagenet",
        zero_init_residual: bool = False,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(block, type):
            if not issubclass(block, _BLOCKS):
                raise TypeError(
                    f"block must be BasicBlock or BottleneckBlock (or a subclass), got {block!r}"
                )
            if layers is not None or class_dim is not None:
                raise TypeError(
                    "layers= and class_dim= belong to the tutorial's form ResNet(layers, "
                    "class_dim); with a block class (Paddle's form) give depth= and num_classes="
                )
            depth = 50 if depth is None else depth
            if depth not in _DEPTHS:
                raise ValueError(f"supported depths are {sorted(_DEPTHS)}, got depth={depth!r}")
            num_classes = paddle_num_classes(1000 if num_classes is None else num_classes)
        else:
            block, depth, num_classes = _tutorial_form(block, depth, layers, class_dim, num_classes)
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        if not issubclass(block, BottleneckBlock) and (groups != 1 or width != 64):
            raise ValueError(
                f"groups={groups} and width={width}: only groups=1 and width=64 are accepted "
                f"with basic blocks (depth {depth}); grouped and wide variants need "
                "BottleneckBlock (depth 50, 101 or 152)"
            )
        block_kwargs: dict[str, Any] = (
            {"groups": groups, "base_width": width} if issubclass(block, BottleneckBlock) else {}
        )

        self.layers = depth
        self.num_classes = num_classes
        self.with_pool = check_with_pool(with_pool)
        self.paddle_headless = num_classes <= 0
        if stem == "imagenet":
            self.conv = ConvBNLayer(in_channels, 64, 7, stride=2, act="relu")
            self.pool2d_max: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            reduction = 2
        else:
            self.conv = ConvBNLayer(in_channels, 64, 3, stride=1, act="relu")
            self.pool2d_max = nn.Identity()
            reduction = 1
        self.feature_info = [FeatureInfo("conv", 64, reduction)]
        reduction *= 2 if stem == "imagenet" else 1  # the max-pool

        num_channels = 64
        rates = iter(drop_path_rates(drop_path_rate, sum(_DEPTHS[depth][1])))
        for stage, (num_filters, num_blocks) in enumerate(
            zip([64, 128, 256, 512], _DEPTHS[depth][1])
        ):
            blocks = []
            for i in range(num_blocks):
                stride = 2 if i == 0 and stage != 0 else 1
                num_out = num_filters * block.expansion
                shortcut = stride == 1 and num_channels == num_out
                rate = next(rates)  # passed only when used: a user's block may not take it
                extra = {"drop_path": rate} if rate else {}
                blocks.append(
                    block(num_channels, num_filters, stride, shortcut, **block_kwargs, **extra)
                )
                num_channels = num_out
            reduction *= 2 if stage != 0 else 1
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
            self.feature_info.append(FeatureInfo(f"layer{stage + 1}", num_channels, reduction))

        self.pool2d_avg = nn.AdaptiveAvgPool2d(output_size=1) if with_pool else nn.Identity()
        self.num_features = num_channels
        self.fc = linear_head(num_channels, max(num_classes, 0))

        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, _BLOCKS):
                    module.zero_init_last()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and the four stages: the last feature map ``[N, num_features, H/32, W/32]``."""
        x = self.pool2d_max(self.conv(x))
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
        return x


def _tutorial_form(
    first: object,
    second: int | None,
    layers: int | None,
    class_dim: int | None,
    num_classes: int | None,
) -> tuple[type[BasicBlock] | type[BottleneckBlock], int, int]:
    """Block type, depth and number of classes of ``ResNet(layers, class_dim)``."""
    if first is None:  # keywords only: ResNet(layers=50, class_dim=10), or ResNet(depth=101)
        if layers is not None and second is not None:
            raise TypeError(f"the depth is given twice: layers={layers} and depth={second}")
        layers = layers if layers is not None else second if second is not None else 50
    elif isinstance(first, bool) or not isinstance(first, int):
        raise TypeError(
            "the first argument must be a block class, BasicBlock or BottleneckBlock (Paddle's "
            "form ResNet(block, depth)), or the depth (the tutorial's form ResNet(layers, "
            f"class_dim)); got {first!r} of type {type(first).__name__}"
        )
    else:
        if layers is not None:
            raise TypeError(f"the depth is given twice: ResNet({first}, layers={layers})")
        layers = first
        if second is not None:  # ResNet(18, 5): the tutorial's second argument is class_dim
            if class_dim is not None:
                raise TypeError(
                    f"class_dim is given twice: ResNet({first}, {second}, class_dim={class_dim})"
                )
            class_dim = second
    if layers not in _DEPTHS:
        raise ValueError(f"supported layers are {sorted(_DEPTHS)}, got layers={layers!r}")
    if class_dim is not None and num_classes is not None and class_dim != num_classes:
        raise ValueError(
            f"class_dim={class_dim} and num_classes={num_classes} disagree; they are two "
            "names of the same thing, give one"
        )
    chosen = num_classes if num_classes is not None else class_dim
    chosen = 1000 if chosen is None else chosen
    try:
        chosen = validate_num_classes(chosen)
    except ValueError as err:
        raise ValueError(
            f"{err} (the tutorial's form ResNet(layers, class_dim) always has a classifier; "
            "Paddle's form ResNet(BottleneckBlock, 50, num_classes=0), or resnet50(num_classes=0),"
            " builds none)"
        ) from None
    return _DEPTHS[layers][0], layers, chosen


def _resnet(
    name: str,
    depth: int,
    pretrained: object,
    num_classes: int,
    with_pool: bool,
    kwargs: dict[str, Any],
    **fixed: int,
) -> ResNet:
    for key, value in fixed.items():
        if key in kwargs:
            raise TypeError(
                f"{name} sets {key}={value}; build ResNet(BottleneckBlock, {depth}, width=..., "
                f"groups=...) for other values, got {key}={kwargs[key]!r}"
            )
    block = _DEPTHS[depth][0]
    model = ResNet(block, depth, num_classes=num_classes, with_pool=with_pool, **fixed, **kwargs)
    return load_pretrained(model, pretrained, model_name=name)


@register_model(family="resnet")
def resnet18(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> ResNet:
    """ResNet-18 (basic blocks [2, 2, 2, 2]), 11.7M parameters, 1.8 GMACs at 224x224.

    Paddle's ``resnet18(pretrained=False, **kwargs)``; the options are :class:`ResNet`'s in
    Paddle's form.

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        num_classes: number of classes; ``<= 0``: no classifier, the network returns the
            pooled ``[N, 512, 1, 1]`` map (Paddle's rule).
        with_pool: global average pooling before the classifier (without it and without a
            classifier, the network returns the last feature map).
        **kwargs: more :class:`ResNet` options in Paddle's form: ``width``, ``groups``,
            ``in_channels``, ``stem``, ``zero_init_residual``.

    Examples:
        >>> resnet18(num_classes=10)(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 10])
        >>> resnet18(num_classes=0, with_pool=False)(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 512, 7, 7])
    """
    return _resnet("resnet18", 18, pretrained, num_classes, with_pool, kwargs)


@register_model(family="resnet")
def resnet34(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> ResNet:
    """ResNet-34 (basic blocks [3, 4, 6, 3]), 21.8M parameters, 3.7 GMACs at 224x224.

    Arguments as :func:`resnet18`.
    """
    return _resnet("resnet34", 34, pretrained, num_classes, with_pool, kwargs)


@register_model(family="resnet")
def resnet50(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> ResNet:
    """ResNet-50 (bottleneck blocks [3, 4, 6, 3]), 25.6M parameters, 4.1 GMACs at 224x224.

    Arguments as :func:`resnet18`.

    Examples:
        >>> resnet50()(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 1000])
    """
    return _resnet("resnet50", 50, pretrained, num_classes, with_pool, kwargs)


@register_model(family="resnet")
def resnet101(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> ResNet:
    """ResNet-101 (bottleneck blocks [3, 4, 23, 3]), 44.5M parameters, 7.8 GMACs at 224x224.

    Arguments as :func:`resnet18`.
    """
    return _resnet("resnet101", 101, pretrained, num_classes, with_pool, kwargs)


@register_model(family="resnet")
def resnet152(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> ResNet:
    """ResNet-152 (bottleneck blocks [3, 8, 36, 3]), 60.2M parameters, 11.5 GMACs at 224x224.

    Arguments as :func:`resnet18`.
    """
    return _resnet("resnet152", 152, pretrained, num_classes, with_pool, kwargs)


@register_model(family="resnet")
def resnext50_32x4d(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> ResNet:
    """ResNeXt-50 32x4d (Xie et al. 2017): ResNet-50 with 32 groups of width 4, 25.0M parameters.

    Arguments as :func:`resnet18`; ``groups`` and ``width`` are set (32, 4).
    """
    return _resnet(
        "resnext50_32x4d", 50, pretrained, num_classes, with_pool, kwargs, groups=32, width=4
    )


@register_model(family="resnet")
def resnext50_64x4d(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> ResNet:
    """ResNeXt-50 64x4d: ResNet-50 with 64 groups of width 4, 45.2M parameters.

    Arguments as :func:`resnet18`; ``groups`` and ``width`` are set (64, 4).
    """
    return _resnet(
        "resnext50_64x4d", 50, pretrained, num_classes, with_pool, kwargs, groups=64, width=4
    )


@register_model(family="resnet")
def resnext101_32x4d(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> ResNet:
    """ResNeXt-101 32x4d: ResNet-101 with 32 groups of width 4, 44.2M parameters.

    Arguments as :func:`resnet18`; ``groups`` and ``width`` are set (32, 4).
    """
    return _resnet(
        "resnext101_32x4d", 101, pretrained, num_classes, with_pool, kwargs, groups=32, width=4
    )


@register_model(family="resnet")
def resnext101_64x4d(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> ResNet:
    """ResNeXt-101 64x4d: ResNet-101 with 64 groups of width 4, 83.5M parameters.

    Arguments as :func:`resnet18`; ``groups`` and ``width`` are set (64, 4).
    """
    return _resnet(
        "resnext101_64x4d", 101, pretrained, num_classes, with_pool, kwargs, groups=64, width=4
    )


@register_model(family="resnet")
def resnext152_32x4d(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> ResNet:
    """ResNeXt-152 32x4d: ResNet-152 with 32 groups of width 4, 60.0M parameters.

    Arguments as :func:`resnet18`; ``groups`` and ``width`` are set (32, 4).
    """
    return _resnet(
        "resnext152_32x4d", 152, pretrained, num_classes, with_pool, kwargs, groups=32, width=4
    )


@register_model(family="resnet")
def resnext152_64x4d(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> ResNet:
    """ResNeXt-152 64x4d: ResNet-152 with 64 groups of width 4, 115.0M parameters.

    Arguments as :func:`resnet18`; ``groups`` and ``width`` are set (64, 4).
    """
    return _resnet(
        "resnext152_64x4d", 152, pretrained, num_classes, with_pool, kwargs, groups=64, width=4
    )


@register_model(family="resnet")
def wide_resnet50_2(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> ResNet:
    """Wide ResNet-50-2 (Zagoruyko & Komodakis 2016): 3x3 convolutions twice as wide, 68.9M.

    Arguments as :func:`resnet18`; ``width`` is set (128).
    """
    return _resnet("wide_resnet50_2", 50, pretrained, num_classes, with_pool, kwargs, width=128)


@register_model(family="resnet")
def wide_resnet101_2(
    pretrained: object = False, *, num_classes: int = 1000, with_pool: bool = True, **kwargs: Any
) -> ResNet:
    """Wide ResNet-101-2: ResNet-101 with 3x3 convolutions twice as wide, 126.9M parameters.

    Arguments as :func:`resnet18`; ``width`` is set (128).
    """
    return _resnet("wide_resnet101_2", 101, pretrained, num_classes, with_pool, kwargs, width=128)
