"""The building blocks of the tutorial: ``ConvBNLayer`` and the residual blocks.

Sub-module names (they are the state-dict keys, so weight converters depend on them):

- ``ConvBNLayer`` keeps the tutorial's ``_conv`` (``nn.Conv2d``, no bias) and ``_batch_norm``
  (``nn.BatchNorm2d``). torchvision and ``paddle.vision`` split the pair into ``convK`` / ``bnK``;
  a converter maps ``convK.weight -> conv{K-1}._conv.weight`` and ``bnK.* ->
  conv{K-1}._batch_norm.*`` (Paddle also renames ``_mean``/``_variance`` to
  ``running_mean``/``running_var``).
- ``BottleneckBlock`` keeps the names of the tutorial's Paddle block: ``conv0`` (1x1), ``conv1``
  (3x3, carries the stride), ``conv2`` (1x1, 4x channels), ``short`` (the 1x1 projection, absent
  for an identity shortcut); torchvision calls them ``conv1/bn1``, ``conv2/bn2``, ``conv3/bn3``,
  ``downsample.0/downsample.1``.
- ``BasicBlock`` follows the same scheme: ``conv0``, ``conv1``, ``short``.
- ``ConvNormActivation`` is ``paddle.vision.ops.ConvNormActivation`` (and torchvision's
  ``Conv2dNormActivation``): a sequence, so its keys read ``.0.weight`` (conv) and ``.1.*``
  (BatchNorm) in both libraries.

Paddle's default initialisation, for the families that start training where Paddle's would:
:func:`paddle_conv_init` (one convolution) and :func:`paddle_default_init` (a whole network).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "BasicBlock",
    "BottleneckBlock",
    "ConvBNLayer",
    "ConvNormActivation",
    "DownscaleInInferDropout",
    "DropPath",
    "ZeroPadShortcut",
    "paddle_conv_init",
    "paddle_default_init",
]

#: Values accepted by ``ConvBNLayer(act=...)``.
ACTIVATIONS = (None, "relu", "leaky")

#: Values accepted by the ``projection`` argument of the residual blocks.
PROJECTIONS = ("conv", "pad")


class ConvBNLayer(nn.Module):
    """Convolution without bias, then batch normalisation, then an optional activation.

    The padding is ``(filter_size - 1) // 2``, so a stride-1 layer keeps the spatial size.

    Args:
        num_channels: input channels.
        num_filters: output channels.
        filter_size: kernel size (square).
        stride: convolution stride.
        groups: convolution groups (``num_channels`` for a depthwise convolution).
        act: ``None``, ``'relu'``, or ``'leaky'`` (leaky ReLU with negative slope 0.1).

    Raises:
        ValueError: ``act`` is not one of the accepted values.

    Examples:
        >>> layer = ConvBNLayer(3, 64, 7, stride=2, act='relu')
        >>> layer(torch.zeros(1, 3, 224, 224)).shape
        torch.Size([1, 64, 112, 112])
    """

    def __init__(
        self,
        num_channels: int,
        num_filters: int,
        filter_size: int,
        stride: int = 1,
        groups: int = 1,
        act: str | None = None,
    ) -> None:
        super().__init__()
        if act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {ACTIVATIONS}, got {act!r}")
        self._conv = nn.Conv2d(
            num_channels,
            num_filters,
            kernel_size=filter_size,
            stride=stride,
            padding=(filter_size - 1) // 2,
            groups=groups,
            bias=False,
        )
        self._batch_norm = nn.BatchNorm2d(num_filters)
        self.act = act
        # He (fan_out) initialisation, the convention of PyTorch's ResNets, VGGs and MobileNets.
        nn.init.kaiming_normal_(self._conv.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._batch_norm(self._conv(x))
        if self.act == "relu":
            y = F.relu(y)
        elif self.act == "leaky":
            y = F.leaky_relu(y, negative_slope=0.1)
        return y

    def extra_repr(self) -> str:
        return f"act={self.act!r}"


class ZeroPadShortcut(nn.Module):
    """Parameter-free shortcut: subsample by ``stride`` and append zero channels.

    Option A of He et al. 2015 (section 3.3), the shortcut of their CIFAR-10 networks
    (section 4.2): "identity shortcut with extra zero entries padded for increasing dimensions".

    Args:
        num_channels: input channels.
        num_filters: output channels (>= ``num_channels``).
        stride: spatial subsampling factor.

    Raises:
        ValueError: ``num_filters < num_channels``.

    Examples:
        >>> ZeroPadShortcut(16, 32, 2)(torch.ones(1, 16, 8, 8)).shape
        torch.Size([1, 32, 4, 4])
    """

    def __init__(self, num_channels: int, num_filters: int, stride: int) -> None:
        super().__init__()
        if num_filters < num_channels:
            raise ValueError(
                f"ZeroPadShortcut can only add channels: num_filters ({num_filters}) must be "
                f">= num_channels ({num_channels})"
            )
        self.extra_channels = num_filters - num_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        # F.pad pads the last dimensions first: (W left, W right, H top, H bottom, C front, C back).
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))

    def extra_repr(self) -> str:
        return f"extra_channels={self.extra_channels}, stride={self.stride}"


def _make_shortcut(
    shortcut: bool, projection: str, num_channels: int, num_out: int, stride: int
) -> nn.Module | None:
    """The ``short`` sub-module of a block, or None for an identity shortcut."""
    if projection not in PROJECTIONS:
        raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}")
    if shortcut:
        if stride != 1 or num_channels != num_out:
            raise ValueError(
                "an identity shortcut (shortcut=True) needs stride 1 and equal input and output "
                f"channels, got stride={stride}, {num_channels} -> {num_out} channels; "
                "pass shortcut=False for a projection"
            )
        return None
    if projection == "pad":
        return ZeroPadShortcut(num_channels, num_out, stride)
    return ConvBNLayer(num_channels, num_out, 1, stride=stride)


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): drop a residual branch for whole samples.

    In training each sample's branch is kept with probability ``1 - p`` and scaled by
    ``1 / (1 - p)`` (so its expectation is unchanged), else zeroed; in evaluation, and with
    ``p == 0``, it is the identity. timm's ``DropPath`` and torchvision's
    ``StochasticDepth(mode='row')`` compute the same. The mask comes from torch's generator of
    the input's device, which a resumed run restores with the other RNG states.

    Args:
        p: probability of dropping the branch of a sample, in [0, 1).

    Raises:
        ValueError: ``p`` outside [0, 1).

    Examples:
        >>> drop = DropPath(0.25)
        >>> drop.eval()(torch.ones(2, 3)).tolist()
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
        >>> _ = torch.manual_seed(0)
        >>> out = drop.train()(torch.ones(4, 3))
        >>> sorted({round(v, 4) for v in out.flatten().tolist()})  # dropped or scaled by 4/3
        [0.0, 1.3333]
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"drop-path probability must be a number in [0, 1), got {p!r}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p:g}"


def _drop_path(p: float) -> nn.Module | None:
    """The branch's :class:`DropPath`, or None for ``p == 0`` (no module, no state-dict change)."""
    return DropPath(p) if p else None


def drop_path_rates(rate: float, num_blocks: int) -> list[float]:
    """Each block's drop-path probability: a line from 0 (first block) to ``rate`` (last).

    The linear rule of Huang et al. 2016, as timm's ResNet spreads ``drop_path_rate``.

    Raises:
        ValueError: ``rate`` outside [0, 1).

    Examples:
        >>> drop_path_rates(0.1, 3)
        [0.0, 0.05, 0.1]
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ValueError(f"drop_path_rate must be a number in [0, 1), got {rate!r}")
    if num_blocks <= 1:
        return [float(rate)] * num_blocks
    return [rate * i / (num_blocks - 1) for i in range(num_blocks)]


class BasicBlock(nn.Module):
    """Two 3x3 ``ConvBNLayer`` and a shortcut, ReLU after the addition (ResNet-18/34, CIFAR).

    Args:
        num_channels: input channels.
        num_filters: output channels.
        stride: stride of the first 3x3 convolution (and of the projection).
        shortcut: True for an identity shortcut, False for a projection ``short``.
        projection: the projection used when ``shortcut`` is False: ``'conv'`` (1x1
            ``ConvBNLayer``, He et al.'s option B) or ``'pad'`` (:class:`ZeroPadShortcut`,
            parameter-free option A).
        drop_path: probability of dropping the residual branch in training (stochastic
            depth, :class:`DropPath`); 0 builds none.

    Raises:
        ValueError: an identity shortcut with a stride or a change of width, or an unknown
            ``projection``.

    Examples:
        >>> block = BasicBlock(64, 128, stride=2, shortcut=False)
        >>> block(torch.zeros(1, 64, 56, 56)).shape
        torch.Size([1, 128, 28, 28])
    """

    expansion: ClassVar[int] = 1

    def __init__(
        self,
        num_channels: int,
        num_filters: int,
        stride: int = 1,
        shortcut: bool = True,
        *,
        projection: str = "conv",
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv0 = ConvBNLayer(num_channels, num_filters, 3, stride=stride, act="relu")
        self.conv1 = ConvBNLayer(num_filters, num_filters, 3, act=None)
        self.short = _make_shortcut(shortcut, projection, num_channels, num_filters, stride)
        self.shortcut = shortcut
        self._num_channels_out = num_filters
        self.drop_path = _drop_path(drop_path)

    def zero_init_last(self) -> None:
        """Zero the scale of the last batch norm: the block starts as ``relu(shortcut(x))``."""
        nn.init.zeros_(self.conv1._batch_norm.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.conv0(x))
        if self.drop_path is not None:
            y = self.drop_path(y)
        short = x if self.short is None else self.short(x)
        return F.relu(short + y)


class BottleneckBlock(nn.Module):
    """1x1 -> 3x3 (with the stride) -> 1x1 with 4x channels, plus a shortcut (ResNet-50+).

    ``groups`` and ``base_width`` widen the 3x3 convolution: its width is
    ``int(num_filters * base_width / 64) * groups``, which gives ResNeXt (``groups=32,
    base_width=4``) and Wide ResNet (``base_width=128``) from the same block.

    Args:
        num_channels: input channels.
        num_filters: channels of the 1x1 reduction; the block outputs ``4 * num_filters``.
        stride: stride of the 3x3 convolution (and of the projection).
        shortcut: True for an identity shortcut, False for a projection ``short``.
        groups: groups of the 3x3 convolution.
        base_width: width per group, 64 for the plain ResNet.
        projection: ``'conv'`` (1x1 ``ConvBNLayer``) or ``'pad'`` (:class:`ZeroPadShortcut`).
        drop_path: probability of dropping the residual branch in training (stochastic
            depth, :class:`DropPath`); 0 builds none.

    Raises:
        ValueError: an identity shortcut with a stride or a change of width, or an unknown
            ``projection``.

    Examples:
        >>> block = BottleneckBlock(64, 64, stride=1, shortcut=False)
        >>> block(torch.zeros(1, 64, 56, 56)).shape
        torch.Size([1, 256, 56, 56])
    """

    expansion: ClassVar[int] = 4

    def __init__(
        self,
        num_channels: int,
        num_filters: int,
        stride: int = 1,
        shortcut: bool = True,
        *,
        groups: int = 1,
        base_width: int = 64,
        projection: str = "conv",
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        width = int(num_filters * (base_width / 64.0)) * groups
        num_out = num_filters * self.expansion
        self.conv0 = ConvBNLayer(num_channels, width, 1, act="relu")
        self.conv1 = ConvBNLayer(width, width, 3, stride=stride, groups=groups, act="relu")
        self.conv2 = ConvBNLayer(width, num_out, 1, act=None)
        self.short = _make_shortcut(shortcut, projection, num_channels, num_out, stride)
        self.shortcut = shortcut
        self._num_channels_out = num_out
        self.drop_path = _drop_path(drop_path)

    def zero_init_last(self) -> None:
        """Zero the scale of the last batch norm: the block starts as ``relu(shortcut(x))``."""
        nn.init.zeros_(self.conv2._batch_norm.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(self.conv0(x)))
        if self.drop_path is not None:
            y = self.drop_path(y)
        short = x if self.short is None else self.short(x)
        return F.relu(short + y)


class DownscaleInInferDropout(nn.Module):
    """Paddle's ``Dropout(p, mode='downscale_in_infer')``.

    Training zeroes each element with probability ``p`` and leaves the others unscaled;
    evaluation multiplies every element by ``1 - p``. (PyTorch's ``nn.Dropout`` is Paddle's
    other mode, ``upscale_in_train``: it scales the kept elements by ``1 / (1 - p)`` in training
    and is the identity in evaluation.) Weights trained with one mode give other logits with the
    other, so the Paddle networks that use this mode keep it (AlexNet, SqueezeNet, DenseNet,
    GoogLeNet, InceptionV3).

    Args:
        p: probability of zeroing an element, in [0, 1].

    Raises:
        ValueError: ``p`` outside [0, 1].

    Examples:
        >>> drop = DownscaleInInferDropout(0.4).eval()
        >>> drop(torch.ones(3))
        tensor([0.6000, 0.6000, 0.6000])
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return x * torch.empty_like(x).bernoulli_(1.0 - self.p)
        return x * (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def paddle_conv_init(conv: nn.Conv2d) -> nn.Conv2d:
    """Initialise a convolution as Paddle's ``Conv2D`` default does, in place.

    The weight is drawn from N(0, 2 / (k * k * in_channels)) (Paddle does not divide out the
    groups; for an ungrouped convolution this is He's fan-in rule) and the bias is zero.

    Args:
        conv: the convolution.

    Returns:
        ``conv`` itself, so that it can wrap the constructor call.

    Examples:
        >>> conv = paddle_conv_init(nn.Conv2d(3, 8, 3))
        >>> conv.bias.abs().sum().item()
        0.0
    """
    fan = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    nn.init.normal_(conv.weight, 0.0, math.sqrt(2.0 / fan))
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def paddle_default_init(module: nn.Module) -> None:
    """Initialise ``module``'s convolutions and linear layers as Paddle's defaults do.

    Convolutions as :func:`paddle_conv_init`; linear layers Xavier-uniform with zero bias. A
    network built this way starts training where Paddle's would.

    Args:
        module: a network or a part of one; every ``nn.Conv2d`` and ``nn.Linear`` inside is
            re-initialised, in registration order.

    Examples:
        >>> head = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8, 2))
        >>> paddle_default_init(head)
        >>> head[2].bias.abs().sum().item()
        0.0
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            paddle_conv_init(m)
        elif isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


class ConvNormActivation(nn.Sequential):
    """Convolution (no bias), BatchNorm and an optional activation, as one sequence.

    The keys read ``.0.weight`` (conv) and ``.1.*`` (BatchNorm), as
    ``paddle.vision.ops.ConvNormActivation`` and torchvision's ``Conv2dNormActivation`` make them.
    The layers keep PyTorch's initialisation; a network built of them applies
    :func:`paddle_default_init` (or :func:`paddle_conv_init`) for Paddle's.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: kernel size, an int or ``(height, width)``.
        stride: convolution stride.
        groups: convolution groups (``in_channels`` for a depthwise convolution).
        activation_layer: what makes the activation (``nn.ReLU``, ``nn.Hardswish``,
            ``nn.SiLU``, ``functools.partial(nn.ReLU, inplace=True)``), or None for none.
        padding: an int or ``(height, width)``; None (the default) pads ``(kernel_size - 1) //
            2``, which keeps the size of a stride-1 map, as Paddle's default does.
        eps: BatchNorm epsilon.
        momentum: BatchNorm running-average momentum (PyTorch's convention).

    Examples:
        >>> layer = ConvNormActivation(3, 16, 3, stride=2, activation_layer=nn.Hardswish)
        >>> layer(torch.zeros(1, 3, 32, 32)).shape, len(layer)
        (torch.Size([1, 16, 16, 16]), 3)
        >>> ConvNormActivation(8, 8, (1, 7), padding=0)(torch.zeros(1, 8, 9, 9)).shape
        torch.Size([1, 8, 9, 3])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int = 1,
        groups: int = 1,
        activation_layer: Callable[[], nn.Module] | None = nn.ReLU,
        *,
        padding: int | tuple[int, int] | None = None,
        eps: float = 1e-5,
        momentum: float = 0.1,
    ) -> None:
        if padding is None:
            padding = (
                (kernel_size - 1) // 2
                if isinstance(kernel_size, int)
                else ((kernel_size[0] - 1) // 2, (kernel_size[1] - 1) // 2)
            )
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False
            ),
            nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum),
        ]
        if activation_layer is not None:
            layers.append(activation_layer())
        super().__init__(*layers)
