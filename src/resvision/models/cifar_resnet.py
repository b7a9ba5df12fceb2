"""The CIFAR-10 ResNets of He et al. 2015, section 4.2: resnet20/32/44/56/110.

A 3x3 stem with 16 filters, then three stages of ``n`` basic blocks with 16, 32 and 64 filters
on 32x32, 16x16 and 8x8 maps (stride 2 in the first block of stages 2 and 3), global average
pooling and a linear classifier: ``6n + 2`` weighted layers. As in the paper, the shortcuts are
identities, and where the width doubles they are option A (subsample, then pad the new channels
with zeros) so the network has no extra parameters: 0.27M (resnet20), 0.46M, 0.66M, 0.85M
(resnet56) and 1.7M (resnet110), the counts of the paper's table 6.

State-dict keys follow :mod:`resvision.models.resnet`: ``conv`` (stem), ``layer1``..``layer3``
(blocks with ``conv0``, ``conv1`` and, for option B, ``short``), ``fc``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .classifier import PooledLinearClassifier, linear_head, validate_num_classes
from .features import FeatureInfo
from .layers import BasicBlock, ConvBNLayer, drop_path_rates
from .registry import register_model
from .weights import load_pretrained

__all__ = ["CifarResNet", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]

# option letter of the paper -> projection of the block
_SHORTCUTS = {"A": "pad", "B": "conv"}


class CifarResNet(PooledLinearClassifier):
    """ResNet for 32x32 images with ``depth = 6n + 2`` layers (He et al. 2015, section 4.2).

    Args:
        depth: number of weighted layers, ``6n + 2`` (20, 32, 44, 56, 110, 1202, ...).
        num_classes: number of classes.
        in_channels: input channels.
        shortcut_type: ``'A'`` (zero-padding identity, parameter-free, the paper's CIFAR choice)
            or ``'B'`` (1x1 convolution projection where the shape changes).
        zero_init_residual: zero the last batch-norm scale of every block.
        drop_path_rate: stochastic depth: the last block's probability of dropping its residual
            branch in training, the others' rising linearly from 0 (Huang et al. 2016 trained
            ResNet-110 on CIFAR with 0.5); 0 (default) builds no drop-path module.

    Attributes:
        feature_info: the stem and the three stages (``conv``, ``layer1``..``layer3``): 16,
            16, 32 and 64 channels at reductions 1, 1, 2, 4.

    Raises:
        ValueError: ``depth`` not of the form ``6n + 2``, an unknown ``shortcut_type``, or
            ``num_classes`` < 1.

    Examples:
        >>> net = CifarResNet(depth=20)
        >>> net(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        depth: int = 20,
        num_classes: int = 10,
        *,
        in_channels: int = 3,
        shortcut_type: str = "A",
        zero_init_residual: bool = False,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or depth % 6 != 2:
            raise ValueError(
                f"depth must be 6n + 2 for an integer n >= 1 (20, 32, 44, 56, 110, ...), "
                f"got {depth!r}"
            )
        if shortcut_type not in _SHORTCUTS:
            raise ValueError(
                f"shortcut_type must be one of {list(_SHORTCUTS)}, got {shortcut_type!r}"
            )
        self.num_classes = validate_num_classes(num_classes)
        self.depth = depth
        n = (depth - 2) // 6

        self.conv = ConvBNLayer(in_channels, 16, 3, act="relu")
        self.feature_info = [FeatureInfo("conv", 16, 1)]
        num_channels = 16
        rates = iter(drop_path_rates(drop_path_rate, 3 * n))
        for stage, num_filters in enumerate([16, 32, 64]):
            blocks = []
            for i in range(n):
                stride = 2 if i == 0 and stage != 0 else 1
                shortcut = stride == 1 and num_channels == num_filters
                blocks.append(
                    BasicBlock(
                        num_channels,
                        num_filters,
                        stride,
                        shortcut,
                        projection=_SHORTCUTS[shortcut_type],
                        drop_path=next(rates),
                    )
                )
                num_channels = num_filters
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
            self.feature_info.append(FeatureInfo(f"layer{stage + 1}", num_filters, 2**stage))
        self.pool2d_avg = nn.AdaptiveAvgPool2d(output_size=1)
        self.num_features = num_channels
        self.fc = linear_head(num_channels, num_classes)

        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, BasicBlock):
                    module.zero_init_last()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and the three stages: ``[N, 64, H/4, W/4]``."""
        x = self.conv(x)
        for stage in (self.layer1, self.layer2, self.layer3):
            x = stage(x)
        return x


def _cifar_resnet(
    name: str, depth: int, pretrained: object, num_classes: int, **kwargs: Any
) -> CifarResNet:
    model = CifarResNet(depth, validate_num_classes(num_classes), **kwargs)
    return load_pretrained(model, pretrained, model_name=name)


_REGISTER = {"family": "cifar_resnet", "input_size": (3, 32, 32), "num_classes": 10}


@register_model(**_REGISTER)
def resnet20(*, pretrained: object = False, num_classes: int = 10, **kwargs: Any) -> CifarResNet:
    """CIFAR ResNet-20 (n=3), 0.27M parameters, 8.75% error on CIFAR-10 in the paper.

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        num_classes: number of classes.
        **kwargs: more :class:`CifarResNet` options (``shortcut_type``, ``zero_init_residual``).

    Examples:
        >>> resnet20()(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 10])
    """
    return _cifar_resnet("resnet20", 20, pretrained, num_classes, **kwargs)


@register_model(**_REGISTER)
def resnet32(*, pretrained: object = False, num_classes: int = 10, **kwargs: Any) -> CifarResNet:
    """CIFAR ResNet-32 (n=5), 0.46M parameters, 7.51% error in the paper.

    Arguments as :func:`resnet20`.
    """
    return _cifar_resnet("resnet32", 32, pretrained, num_classes, **kwargs)


@register_model(**_REGISTER)
def resnet44(*, pretrained: object = False, num_classes: int = 10, **kwargs: Any) -> CifarResNet:
    """CIFAR ResNet-44 (n=7), 0.66M parameters, 7.17% error in the paper.

    Arguments as :func:`resnet20`.
    """
    return _cifar_resnet("resnet44", 44, pretrained, num_classes, **kwargs)


@register_model(**_REGISTER)
def resnet56(*, pretrained: object = False, num_classes: int = 10, **kwargs: Any) -> CifarResNet:
    """CIFAR ResNet-56 (n=9), 0.85M parameters, 6.97% error in the paper.

    Arguments as :func:`resnet20`.
    """
    return _cifar_resnet("resnet56", 56, pretrained, num_classes, **kwargs)


@register_model(**_REGISTER)
def resnet110(*, pretrained: object = False, num_classes: int = 10, **kwargs: Any) -> CifarResNet:
    """CIFAR ResNet-110 (n=18), 1.7M parameters, 6.43% error (best of 5 runs) in the paper.

    Arguments as :func:`resnet20`.
    """
    return _cifar_resnet("resnet110", 110, pretrained, num_classes, **kwargs)
