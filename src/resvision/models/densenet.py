"""DenseNet-121/161/169/201/264 (Huang et al. 2017), as ``paddle.vision.models.DenseNet`` defines it.

A 7x7 stride-2 stem (conv, BN, ReLU) and a 3x3 stride-2 max-pool, four dense blocks (each layer:
BN-ReLU-1x1 conv to ``bn_size * growth_rate`` channels, BN-ReLU-3x3 conv to ``growth_rate``,
concatenated to its input) with transitions between them (BN-ReLU-1x1 conv halving the channels,
2x2 average pool), a last BN-ReLU, global average pooling and a linear classifier. Convolutions
have no bias.

State-dict keys are Paddle's: ``conv1_func`` (stem: ``_conv``, ``_batch_norm``),
``db_conv_{2..5}.conv{2..5}_{j}`` (dense layers: ``bn_ac_func1`` / ``bn_ac_func2``, each
``_batch_norm`` then ``_conv``), ``tr_conv{2..4}_blk.conv_ac_func`` (transitions), ``batch_norm``
(the last BN). Paddle's classifier ``out`` is ``fc`` here: the converter renames Paddle's ``out.``
to ``fc.`` (its rule for the tutorial's ResNet head), so a DenseNet ``.pdparams`` loads as is. With
the converter's other renames (BatchNorm ``_mean`` / ``_variance``, no ``num_batches_tracked``,
Linear ``[in, out]``) densenet121 has Paddle's 606 tensors.

Paddle's DenseNet beside torchvision's (``torchvision.models.densenet121/161/169/201``):

- The same network: layer order, widths, pools and parameter counts (7,978,856 for 121,
  28,681,000 for 161, 14,149,480 for 169, 20,013,928 for 201). torchvision has no densenet264
  (33,337,704 parameters, blocks 6-12-64-48).
- ``dropout`` inside the dense layers (default 0) is Paddle's ``mode='downscale_in_infer'``
  (:class:`~resvision.models.layers.DownscaleInInferDropout`), torchvision's ``drop_rate`` the
  usual one. Paddle's arguments are ``layers`` / ``bn_size`` / ``dropout`` / ``num_classes`` /
  ``with_pool``; torchvision's ``growth_rate`` / ``block_config`` / ``num_init_features`` /
  ``bn_size`` / ``drop_rate`` / ``num_classes`` / ``memory_efficient``.
- ``num_classes <= 0`` (Paddle only): no classifier; the network returns the pooled
  ``[N, C, 1, 1]``. ``with_pool=False`` (Paddle only) fails in Paddle 3.3 (``UnboundLocalError``
  in its ``forward``); here it returns the last map ``[N, C, H, W]`` when there is no classifier,
  and otherwise flattens the map into the classifier as Paddle's ResNet does (so only a 1x1 map,
  a 32x32 input, fits the classifier).
- Initialisation: convolutions Normal(0, sqrt(2 / fan_in)) (Paddle's default; torchvision's
  ``kaiming_normal_`` is the same), classifier weight Uniform(-1/sqrt(C), 1/sqrt(C)) with zero
  bias (torchvision: PyTorch's default weight, zero bias).

torchvision's state dict maps one to one by renaming (no value changes): ``features.conv0`` /
``features.norm0`` -> ``conv1_func._conv`` / ``._batch_norm``, ``features.denseblock{b}.
denselayer{j}.norm1 / conv1 / norm2 / conv2`` -> ``db_conv_{b+1}.conv{b+1}_{j}.bn_ac_func1.
_batch_norm / bn_ac_func1._conv / bn_ac_func2._batch_norm / bn_ac_func2._conv``,
``features.transition{b}.norm / conv`` -> ``tr_conv{b+1}_blk.conv_ac_func._batch_norm / ._conv``,
``features.norm5`` -> ``batch_norm``, ``classifier`` -> ``fc`` (the oldest torchvision files
spell ``norm.1`` for ``norm1``; torchvision itself fixes that when loading).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .classifier import PooledLinearClassifier, linear_head, paddle_num_classes
from .features import FeatureInfo
from .layers import ConvBNLayer, DownscaleInInferDropout, paddle_default_init
from .registry import register_model
from .weights import load_pretrained

__all__ = [
    "BNReLUConv",
    "BatchNormReLU",
    "DenseBlock",
    "DenseLayer",
    "DenseNet",
    "TransitionLayer",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "densenet264",
]

# layers -> (stem width, growth rate, dense layers per block)
_SPECS: dict[int, tuple[int, int, tuple[int, ...]]] = {
    121: (64, 32, (6, 12, 24, 16)),
    161: (96, 48, (6, 12, 36, 24)),
    169: (64, 32, (6, 12, 32, 32)),
    201: (64, 32, (6, 12, 48, 32)),
    264: (64, 32, (6, 12, 64, 48)),
}


class BatchNormReLU(nn.BatchNorm2d):
    """Batch normalisation then ReLU in one module (Paddle's ``BatchNorm(C, act='relu')``), so
    its keys are the BatchNorm's own (``batch_norm.weight``, not ``batch_norm.0.weight``).

    Examples:
        >>> BatchNormReLU(4).eval()(-torch.ones(1, 4, 2, 2)).max().item()
        0.0
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(super().forward(x))


class BNReLUConv(nn.Module):
    """Pre-activation convolution: BN, ReLU, then a convolution without bias.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: kernel size (square); the padding keeps the spatial size.

    Examples:
        >>> BNReLUConv(64, 128, 1)(torch.zeros(1, 64, 8, 8)).shape
        torch.Size([1, 128, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self._batch_norm = BatchNormReLU(in_channels)
        self._conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, bias=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv(self._batch_norm(x))


class DenseLayer(nn.Module):
    """A bottleneck (1x1 to ``bn_size * growth_rate``) and a 3x3 to ``growth_rate`` channels,
    concatenated after the input: ``in_channels + growth_rate`` channels out.

    Args:
        in_channels: input channels.
        growth_rate: channels added.
        bn_size: bottleneck width, in multiples of ``growth_rate``.
        dropout: probability of Paddle's ``downscale_in_infer`` dropout on the new channels;
            0 adds no dropout layer.

    Examples:
        >>> DenseLayer(64, growth_rate=32, bn_size=4, dropout=0.0)(torch.zeros(1, 64, 8, 8)).shape
        torch.Size([1, 96, 8, 8])
    """

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int, dropout: float) -> None:
        super().__init__()
        self.bn_ac_func1 = BNReLUConv(in_channels, bn_size * growth_rate, 1)
        self.bn_ac_func2 = BNReLUConv(bn_size * growth_rate, growth_rate, 3)
        self.dropout_func = DownscaleInInferDropout(dropout) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = self.dropout_func(self.bn_ac_func2(self.bn_ac_func1(x)))
        return torch.cat([x, new], dim=1)


class DenseBlock(nn.Sequential):
    """``num_layers`` dense layers named ``{name}_{1..num_layers}``, as Paddle names them.

    Examples:
        >>> block = DenseBlock(64, 6, bn_size=4, growth_rate=32, dropout=0.0, name='conv2')
        >>> block(torch.zeros(1, 64, 8, 8)).shape, next(iter(block.named_children()))[0]
        (torch.Size([1, 256, 8, 8]), 'conv2_1')
    """

    def __init__(
        self,
        in_channels: int,
        num_layers: int,
        bn_size: int,
        growth_rate: int,
        dropout: float,
        name: str,
    ) -> None:
        layers = OrderedDict(
            (
                f"{name}_{i + 1}",
                DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, dropout),
            )
            for i in range(num_layers)
        )
        super().__init__(layers)


class TransitionLayer(nn.Module):
    """BN, ReLU, a 1x1 convolution to ``out_channels``, then a 2x2 stride-2 average pool.

    Examples:
        >>> TransitionLayer(256, 128)(torch.zeros(1, 256, 8, 8)).shape
        torch.Size([1, 128, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_ac_func = BNReLUConv(in_channels, out_channels, 1)
        self.pool2d_avg = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool2d_avg(self.conv_ac_func(x))


class DenseNet(PooledLinearClassifier):
    """DenseNet, with Paddle's layout, arguments and ``num_classes`` rule.

    Args:
        layers: 121, 161, 169, 201 or 264.
        bn_size: bottleneck width of the dense layers, in multiples of the growth rate.
        dropout: dropout probability on each dense layer's new channels (Paddle's
            ``downscale_in_infer`` mode); 0 adds no dropout layer.
        num_classes: number of classes; ``<= 0`` builds no classifier, as Paddle's: the network
            then returns the pooled features ``[N, C, 1, 1]`` (the map without pooling).
        with_pool: global average pooling before the classifier.

    Attributes:
        num_classes: outputs of the classifier (0 when there is none).
        num_features: channels of the last map (1024 for densenet121).
        feature_info: the stem and the four blocks (strides 2, 4, 8, 16, 32).

    Raises:
        ValueError: unsupported ``layers``, ``bn_size`` < 1 or ``dropout`` outside [0, 1].
        TypeError: ``num_classes`` is not an int.

    Examples:
        >>> net = DenseNet(121, num_classes=10).eval()
        >>> net(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 10])
        >>> net.feature_info[-1]
        FeatureInfo(module='batch_norm', channels=1024, reduction=32)
    """

    def __init__(
        self,
        layers: int = 121,
        bn_size: int = 4,
        dropout: float = 0.0,
        num_classes: int = 1000,
        with_pool: bool = True,
    ) -> None:
        super().__init__()
        if layers not in _SPECS:
            raise ValueError(f"layers must be one of {sorted(_SPECS)}, got {layers!r}")
        if isinstance(bn_size, bool) or not isinstance(bn_size, int) or bn_size < 1:
            raise ValueError(f"bn_size must be an int >= 1, got {bn_size!r}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1], got {dropout!r}")
        num_classes = paddle_num_classes(num_classes)
        self.layers = layers
        self.with_pool = with_pool
        stem, growth_rate, block_config = _SPECS[layers]
        self.conv1_func = ConvBNLayer(3, stem, 7, stride=2, act="relu")
        self.pool2d_max = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.feature_info = [FeatureInfo("conv1_func", channels=stem, reduction=2)]
        channels, reduction = stem, 4
        for i, num_layers in enumerate(block_config):
            stage = i + 2  # Paddle numbers the blocks from 2, after the stem's conv1
            block = DenseBlock(channels, num_layers, bn_size, growth_rate, dropout, f"conv{stage}")
            self.add_module(f"db_conv_{stage}", block)
            channels += num_layers * growth_rate
            if i < len(block_config) - 1:
                self.feature_info.append(FeatureInfo(f"db_conv_{stage}", channels, reduction))
                self.add_module(f"tr_conv{stage}_blk", TransitionLayer(channels, channels // 2))
                channels, reduction = channels // 2, reduction * 2
        self.batch_norm = BatchNormReLU(channels)
        self.feature_info.append(FeatureInfo("batch_norm", channels, reduction))
        self.pool2d_avg = nn.AdaptiveAvgPool2d(1)
        self.num_features = channels
        paddle_default_init(self)  # the convolutions: the classifier is made below
        # Built without classifier, the network returns what Paddle's returns: the pooled map
        # as it is, [N, C, 1, 1].
        self.paddle_headless = num_classes <= 0
        self.num_classes = max(num_classes, 0)
        self.fc = linear_head(self.num_features, self.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem, dense blocks and transitions, last BN-ReLU: ``[N, num_features, H/32, W/32]``."""
        x = self.pool2d_max(self.conv1_func(x))
        for name, module in self.named_children():
            if name.startswith(("db_conv_", "tr_conv")):
                x = module(x)
        return self.batch_norm(x)


def _densenet(name: str, layers: int, pretrained: object, **kwargs: Any) -> DenseNet:
    return load_pretrained(DenseNet(layers=layers, **kwargs), pretrained, model_name=name)


@register_model(family="densenet")
def densenet121(pretrained: object = False, **kwargs: Any) -> DenseNet:
    """DenseNet-121, 8.0M parameters (Paddle's layout; see :mod:`resvision.models.densenet`).

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        **kwargs: :class:`DenseNet` arguments (``bn_size``, ``dropout``, ``num_classes``,
            ``with_pool``).

    Returns:
        The network.

    Raises:
        ValueError: a bad :class:`DenseNet` argument.
        PretrainedWeightsError: weights that do not fit the network.

    Examples:
        >>> with torch.device('meta'):  # shapes only: no memory, no initialisation
        ...     net = densenet121()
        >>> sum(p.numel() for p in net.parameters())
        7978856
    """
    return _densenet("densenet121", 121, pretrained, **kwargs)


@register_model(family="densenet")
def densenet161(pretrained: object = False, **kwargs: Any) -> DenseNet:
    """DenseNet-161 (growth rate 48), 28.7M parameters. Arguments as :func:`densenet121`."""
    return _densenet("densenet161", 161, pretrained, **kwargs)


@register_model(family="densenet")
def densenet169(pretrained: object = False, **kwargs: Any) -> DenseNet:
    """DenseNet-169, 14.1M parameters. Arguments as :func:`densenet121`."""
    return _densenet("densenet169", 169, pretrained, **kwargs)


@register_model(family="densenet")
def densenet201(pretrained: object = False, **kwargs: Any) -> DenseNet:
    """DenseNet-201, 20.0M parameters. Arguments as :func:`densenet121`."""
    return _densenet("densenet201", 201, pretrained, **kwargs)


@register_model(family="densenet")
def densenet264(pretrained: object = False, **kwargs: Any) -> DenseNet:
    """DenseNet-264 (Paddle only; torchvision has none), 33.3M parameters. Arguments as
    :func:`densenet121`."""
    return _densenet("densenet264", 264, pretrained, **kwargs)
