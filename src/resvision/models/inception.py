"""Inception v3 (Szegedy et al. 2015) as ``paddle.vision.models.InceptionV3`` builds it.

Every convolution is Paddle's ``ConvNormActivation``: conv without bias, BatchNorm (eps 1e-5),
ReLU, kept as a sequence so its keys read ``.0.weight`` / ``.1.*``. A stem (five convolutions,
two 3x3 stride-2 max-pools), then eleven blocks in ``inception_block_list``: three
:class:`InceptionA` (35x35 at 299 px), one :class:`InceptionB` (to 17x17), four
:class:`InceptionC`, one :class:`InceptionD` (to 8x8), two :class:`InceptionE`; global average
pooling, dropout 0.2 in Paddle's ``downscale_in_infer`` mode (evaluation multiplies the features
by 0.8) and ``fc``. One output, no auxiliary classifier. Natural input 299x299; the smallest
input is 75x75. 23,834,568 parameters (plus 34,432 BatchNorm statistics) with 1000 classes, as
real Paddle 3.3.1 counts them.

``with_pool=False`` with a classifier does what Paddle does: the ``[N, 2048, H, W]`` map is
reshaped to ``[N * H * W, 2048]`` in memory order (rows are not per image) and classified.

Where torchvision's ``inception_v3`` differs: BatchNorm eps 1e-3 (so its weights give slightly
other logits here), an auxiliary classifier ``AuxLogits`` after ``Mixed_6e`` (on by default,
training only; 27,161,264 parameters with it, 23,834,568 without, the same as here), dropout 0.5
in upscale mode, and ``transform_input`` for its pretrained weights. Keys map one to one:

    Paddle / resvision                               torchvision
    inception_stem.conv_1a_3x3.0.weight              Conv2d_1a_3x3.conv.weight
    inception_stem.conv_1a_3x3.1.{weight,bias}       Conv2d_1a_3x3.bn.{weight,bias}
    inception_stem.conv_1a_3x3.1._mean/_variance     Conv2d_1a_3x3.bn.running_mean/running_var
    inception_stem.conv_{2a,2b,4a}_3x3, conv_3b_1x1  Conv2d_{2a,2b,4a}_3x3, Conv2d_3b_1x1
    inception_block_list.{0,1,2}                     Mixed_5b, Mixed_5c, Mixed_5d
    inception_block_list.3                           Mixed_6a
    inception_block_list.{4,5,6,7}                   Mixed_6b .. Mixed_6e
    inception_block_list.8                           Mixed_7a
    inception_block_list.{9,10}                      Mixed_7b, Mixed_7c
    <block>.branch_pool_conv                         <block>.branch_pool (A, C, E blocks)
    <block>.<branch>                                 <block>.<branch> (the other names)
    fc.weight, fc.bias                               fc.weight, fc.bias

State-dict keys equal Paddle's (472 with a classifier, 470 without) after the generic renames
(BatchNorm ``_mean``/``_variance``, Linear weights ``[in, out]``, no ``num_batches_tracked``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from .classifier import linear_head, paddle_num_classes, validate_num_classes
from .features import FeatureInfo
from .layers import ConvNormActivation, DownscaleInInferDropout, paddle_conv_init
from .registry import register_model
from .weights import load_pretrained

__all__ = [
    "ConvBNReLU",
    "InceptionA",
    "InceptionB",
    "InceptionC",
    "InceptionD",
    "InceptionE",
    "InceptionStem",
    "InceptionV3",
    "inception_v3",
]

MIN_INPUT_SIZE = 75  # the two valid-padded stride-2 blocks need a 3x3 map at 8x reduction

Size = int | tuple[int, int]
_relu = partial(nn.ReLU, inplace=True)


class ConvBNReLU(ConvNormActivation):
    """Conv (no bias), BatchNorm, ReLU: Paddle's ``ConvNormActivation`` as InceptionV3 uses it,
    unpadded unless ``padding`` is given, and initialised as Paddle's default
    (:func:`~resvision.models.layers.paddle_conv_init`) when built.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: an int or ``(height, width)``.
        stride: convolution stride.
        padding: an int or ``(height, width)``; 0 (valid) unless given.

    Examples:
        >>> ConvBNReLU(8, 16, (1, 7), padding=(0, 3))(torch.zeros(1, 8, 9, 9)).shape
        torch.Size([1, 16, 9, 9])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size,
        stride: int = 1,
        padding: Size = 0,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, activation_layer=_relu, padding=padding
        )
        paddle_conv_init(self[0])


def _same_avg_pool() -> nn.AvgPool2d:
    # Paddle's AvgPool2D(3, 1, 1, exclusive=False): the zero padding counts in the average.
    return nn.AvgPool2d(kernel_size=3, stride=1, padding=1, count_include_pad=True)


class InceptionStem(nn.Module):
    """Five convolutions and two 3x3 stride-2 max-pools: 299x299 -> 192 x 35x35.

    Examples:
        >>> InceptionStem()(torch.zeros(1, 3, 75, 75)).shape
        torch.Size([1, 192, 7, 7])
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv_1a_3x3 = ConvBNReLU(3, 32, 3, stride=2)
        self.conv_2a_3x3 = ConvBNReLU(32, 32, 3)
        self.conv_2b_3x3 = ConvBNReLU(32, 64, 3, padding=1)
        self.max_pool = nn.MaxPool2d(kernel_size=3, stride=2)  # used twice, as in Paddle
        self.conv_3b_1x1 = ConvBNReLU(64, 80, 1)
        self.conv_4a_3x3 = ConvBNReLU(80, 192, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_2b_3x3(self.conv_2a_3x3(self.conv_1a_3x3(x)))
        x = self.conv_4a_3x3(self.conv_3b_1x1(self.max_pool(x)))
        return self.max_pool(x)


class InceptionA(nn.Module):
    """1x1, 5x5, double-3x3 and pool branches at 35x35; ``224 + pool_features`` channels out.

    Examples:
        >>> InceptionA(192, pool_features=32)(torch.zeros(1, 192, 5, 5)).shape
        torch.Size([1, 256, 5, 5])
    """

    def __init__(self, num_channels: int, pool_features: int) -> None:
        super().__init__()
        self.out_channels = 64 + 64 + 96 + pool_features
        self.branch1x1 = ConvBNReLU(num_channels, 64, 1)
        self.branch5x5_1 = ConvBNReLU(num_channels, 48, 1)
        self.branch5x5_2 = ConvBNReLU(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBNReLU(num_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBNReLU(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBNReLU(96, 96, 3, padding=1)
        self.branch_pool = _same_avg_pool()
        self.branch_pool_conv = ConvBNReLU(num_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool_conv(self.branch_pool(x)),
        ]
        return torch.cat(branches, dim=1)


class InceptionB(nn.Module):
    """Grid reduction 35x35 -> 17x17: a stride-2 3x3, a double 3x3 and a max-pool branch.

    Examples:
        >>> InceptionB(288)(torch.zeros(1, 288, 7, 7)).shape
        torch.Size([1, 768, 3, 3])
    """

    def __init__(self, num_channels: int) -> None:
        super().__init__()
        self.out_channels = 384 + 96 + num_channels
        self.branch3x3 = ConvBNReLU(num_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBNReLU(num_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBNReLU(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBNReLU(96, 96, 3, stride=2)
        self.branch_pool = nn.MaxPool2d(kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(x),
        ]
        return torch.cat(branches, dim=1)


class InceptionC(nn.Module):
    """Factorised 7x7 branches (1x7 and 7x1) at 17x17; 768 channels out.

    Examples:
        >>> InceptionC(768, channels_7x7=128)(torch.zeros(1, 768, 3, 3)).shape
        torch.Size([1, 768, 3, 3])
    """

    def __init__(self, num_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.out_channels = 4 * 192
        self.branch1x1 = ConvBNReLU(num_channels, 192, 1)
        self.branch7x7_1 = ConvBNReLU(num_channels, c7, 1)
        self.branch7x7_2 = ConvBNReLU(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBNReLU(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBNReLU(num_channels, c7, 1)
        self.branch7x7dbl_2 = ConvBNReLU(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBNReLU(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBNReLU(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBNReLU(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _same_avg_pool()
        self.branch_pool_conv = ConvBNReLU(num_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dbl = self.branch7x7dbl_2(self.branch7x7dbl_1(x))
        dbl = self.branch7x7dbl_5(self.branch7x7dbl_4(self.branch7x7dbl_3(dbl)))
        branches = [
            self.branch1x1(x),
            self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
            dbl,
            self.branch_pool_conv(self.branch_pool(x)),
        ]
        return torch.cat(branches, dim=1)


class InceptionD(nn.Module):
    """Grid reduction 17x17 -> 8x8: stride-2 3x3 after 1x1, after 1x1-1x7-7x1, and a max-pool.

    Examples:
        >>> InceptionD(768).eval()(torch.zeros(1, 768, 3, 3)).shape
        torch.Size([1, 1280, 1, 1])
    """

    def __init__(self, num_channels: int) -> None:
        super().__init__()
        self.out_channels = 320 + 192 + num_channels
        self.branch3x3_1 = ConvBNReLU(num_channels, 192, 1)
        self.branch3x3_2 = ConvBNReLU(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBNReLU(num_channels, 192, 1)
        self.branch7x7x3_2 = ConvBNReLU(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBNReLU(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBNReLU(192, 192, 3, stride=2)
        self.branch_pool = nn.MaxPool2d(kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7x3_2(self.branch7x7x3_1(x))
        branches = [
            self.branch3x3_2(self.branch3x3_1(x)),
            self.branch7x7x3_4(self.branch7x7x3_3(b7)),
            self.branch_pool(x),
        ]
        return torch.cat(branches, dim=1)


class InceptionE(nn.Module):
    """Expanded filter bank at 8x8: the 3x3 branches split into parallel 1x3 and 3x1; 2048 out.

    Examples:
        >>> InceptionE(1280).eval()(torch.zeros(1, 1280, 1, 1)).shape
        torch.Size([1, 2048, 1, 1])
    """

    def __init__(self, num_channels: int) -> None:
        super().__init__()
        self.out_channels = 320 + 2 * 384 + 2 * 384 + 192
        self.branch1x1 = ConvBNReLU(num_channels, 320, 1)
        self.branch3x3_1 = ConvBNReLU(num_channels, 384, 1)
        self.branch3x3_2a = ConvBNReLU(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBNReLU(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBNReLU(num_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBNReLU(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBNReLU(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBNReLU(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _same_avg_pool()
        self.branch_pool_conv = ConvBNReLU(num_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branches = [
            self.branch1x1(x),
            self.branch3x3_2a(b3),
            self.branch3x3_2b(b3),
            self.branch3x3dbl_3a(dbl),
            self.branch3x3dbl_3b(dbl),
            self.branch_pool_conv(self.branch_pool(x)),
        ]
        return torch.cat(branches, dim=1)


def _blocks() -> list[nn.Module]:
    """The eleven blocks in Paddle's order (its ``layers_config``)."""
    return [
        InceptionA(192, 32),
        InceptionA(256, 64),
        InceptionA(288, 64),
        InceptionB(288),
        InceptionC(768, 128),
        InceptionC(768, 160),
        InceptionC(768, 160),
        InceptionC(768, 192),
        InceptionD(768),
        InceptionE(1280),
        InceptionE(2048),
    ]


class InceptionV3(nn.Module):
    """Inception v3 as ``paddle.vision.models.InceptionV3``.

    Args:
        num_classes: outputs of ``fc``. ``<= 0``: no dropout and no ``fc`` (Paddle's rule); the
            network returns ``[N, 2048, 1, 1]`` with ``with_pool``, the ``[N, 2048, H, W]`` map
            without.
        with_pool: global average pooling before the classifier.

    Attributes:
        num_features: 2048, the width of ``fc``'s input.
        feature_info: five stages (reductions 2, 4, 8, 16, 32; nominal, as the convolutions
            are unpadded: 147, 71, 35, 17, 8 pixels at 299) for backbone use.

    Raises:
        TypeError: ``num_classes`` is not an int.

    Examples:
        >>> net = InceptionV3(num_classes=10).eval()
        >>> net(torch.rand(1, 3, 75, 75)).shape
        torch.Size([1, 10])
        >>> InceptionV3(num_classes=0).eval()(torch.rand(1, 3, 75, 75)).shape
        torch.Size([1, 2048, 1, 1])
    """

    def __init__(self, num_classes: int = 1000, with_pool: bool = True) -> None:
        super().__init__()
        self.num_classes = paddle_num_classes(num_classes)
        self.with_pool = bool(with_pool)
        self.num_features = 2048
        self.inception_stem = InceptionStem()
        self.inception_block_list = nn.ModuleList(_blocks())
        if self.with_pool:
            self.avg_pool = nn.AdaptiveAvgPool2d(1)
        # Paddle registers no classifier for num_classes <= 0: its state dict has no fc keys.
        self.fc: nn.Module | None = None
        if self.num_classes > 0:
            self.dropout = DownscaleInInferDropout(0.2)
            self.fc = linear_head(self.num_features, self.num_classes)
        self.feature_info = [
            FeatureInfo("inception_stem.conv_2b_3x3", channels=64, reduction=2),
            FeatureInfo("inception_stem.conv_4a_3x3", channels=192, reduction=4),
            FeatureInfo("inception_block_list.2", channels=288, reduction=8),
            FeatureInfo("inception_block_list.7", channels=768, reduction=16),
            FeatureInfo("inception_block_list.10", channels=2048, reduction=32),
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and blocks: ``[N, 2048, 8, 8]`` at 299 px.

        Raises:
            ValueError: an input smaller than 75x75.
        """
        if min(x.shape[-2:]) < MIN_INPUT_SIZE:
            raise ValueError(
                f"InceptionV3 needs inputs of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} "
                f"pixels, got {tuple(x.shape[-2:])}"
            )
        x = self.inception_stem(x)
        for block in self.inception_block_list:
            x = block(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooling, dropout and ``fc``, as Paddle's forward ends.

        ``pre_logits`` returns what ``fc`` receives, ``[N, 2048]`` with ``with_pool`` (after the
        dropout, which scales by 0.8 in evaluation). Without a classifier (``num_classes <= 0``)
        it returns the (pooled) map as Paddle does, reshaped to ``[-1, 2048]`` when
        ``pre_logits``.
        """
        if self.with_pool:
            x = self.avg_pool(x)
        # Paddle reshapes to [-1, 2048]: one row per image after pooling, else memory order.
        if self.fc is None:
            return x.reshape(-1, self.num_features) if pre_logits else x
        x = self.dropout(x.reshape(-1, self.num_features))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The last layer, ``fc`` (``nn.Identity`` when there is none)."""
        return self.fc if self.fc is not None else nn.Identity()

    def reset_classifier(self, num_classes: int) -> None:
        """Replace ``fc`` with a new one for ``num_classes`` (0: ``nn.Identity``, the network
        then returns its ``[N, 2048]`` pre-logits features). A network built without a
        classifier gets Paddle's dropout and ``fc``.

        Raises:
            TypeError, ValueError: ``num_classes`` is not an int >= 0.
        """
        self.num_classes = validate_num_classes(num_classes, allow_zero=True)
        if self.fc is None:
            self.dropout = DownscaleInInferDropout(0.2)
        self.fc = linear_head(self.num_features, num_classes, like=next(self.parameters()))


@register_model(family="inception", input_size=(3, 299, 299), num_classes=1000)
def inception_v3(pretrained: object = False, **kwargs: Any) -> InceptionV3:
    """Inception v3 as Paddle builds it (one output, no auxiliary head), 23.8M parameters.

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a file
            in any supported format, Paddle's ``.pdparams`` included (see
            :mod:`resvision.models.weights`).
        **kwargs: :class:`InceptionV3` options: ``num_classes`` (default 1000; <= 0: none) and
            ``with_pool`` (default True).

    Returns:
        The network; natural input 299x299, at least 75x75.

    Examples:
        >>> inception_v3(num_classes=10).eval()(torch.rand(1, 3, 75, 75)).shape
        torch.Size([1, 10])
    """
    return load_pretrained(InceptionV3(**kwargs), pretrained, model_name="inception_v3")
