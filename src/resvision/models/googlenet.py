"""GoogLeNet (Inception v1, Szegedy et al. 2014) as ``paddle.vision.models.GoogLeNet`` builds it.

Paddle's network, which is not torchvision's: every convolution is a bare ``Conv2D`` without
bias, BatchNorm or activation; each inception block applies one ReLU to its concatenated branches
(the stem convolutions have none at all), the "5x5" branch really is 5x5, max-pools floor their
output size (3x3 stride 2, no padding), and the two auxiliary classifiers pool with a fixed 5x5
stride-3 window into a 1152-wide ``Linear``. The forward pass returns the tuple
``(out, out1, out2)``: the main logits, then the auxiliary ones after ``_ince4a`` and ``_ince4d``,
in training *and* in evaluation. :func:`main_output` picks the main logits from any classifier's
output, and ``GoogLeNet.loss_weights`` gives the paper's weights of the three losses. The dropout
layers are Paddle's ``downscale_in_infer`` mode (:class:`DownscaleInInferDropout`): evaluation
multiplies the features by ``1 - p``.

Input size: the auxiliary classifiers need their pooled map to be exactly 3x3, so with
``with_pool=True`` (and ``num_classes > 0``) the network takes 189 to 236 pixels (224 natural);
with ``with_pool=False`` the main classifier needs a 1x1 final map, i.e. 61 to 76 pixels. Other
sizes fail in Paddle too; here with an error saying so. Without classifiers (``num_classes <= 0``)
the aux 5x5 poolings need 93 pixels or more (below that Paddle rounds their output up to 1x1;
this network refuses, as PyTorch's pooling does). 11,535,736 parameters with 1000 classes,
5,966,272 without classifiers (``num_classes <= 0``), as real Paddle 3.3.1 counts them.

Where torchvision's ``googlenet`` differs: ``BasicConv2d`` is conv + BatchNorm(eps=1e-3) + ReLU,
the "5x5" branch is 3x3 (a known bug kept for its weights), max-pools use ``ceil_mode`` (a 7x7
final map at 224 px, 6x6 here), the auxiliary heads pool adaptively to 4x4 (a 2048-wide fc1, any
input of 15 px or more), ReLU after the first fc of both aux heads (Paddle's ``out2`` has none),
dropout 0.2 (0.4 here) in upscale mode, the aux heads run in training only, and the pretrained
model normalises its input differently (``transform_input``). 6,624,904 parameters without aux
heads. The two state dicts cannot be converted into each other (BatchNorm, kernel shapes and the
aux widths differ); the name correspondence, for reference:

    Paddle / resvision                   torchvision
    _conv._conv.weight                   conv1.conv.weight (+ conv1.bn.*, no Paddle equivalent)
    _conv_1._conv / _conv_2._conv        conv2.conv / conv3.conv
    _ince3a._conv1._conv.weight          inception3a.branch1.conv.weight
    _ince3a._conv3r / _conv3             inception3a.branch2.0.conv / branch2.1.conv
    _ince3a._conv5r / _conv5             inception3a.branch3.0.conv / branch3.1.conv (3x3)
    _ince3a._convprj                     inception3a.branch4.1.conv
    _conv_o1._conv, _fc_o1, _out1        aux1.conv.conv, aux1.fc1 (2048 wide), aux1.fc2
    _conv_o2._conv, _fc_o2, _out2        aux2.conv.conv, aux2.fc1, aux2.fc2
    _fc_out.weight                       fc.weight

State-dict keys equal Paddle's (69 with a classifier, 57 without); a Paddle ``.pdparams`` loads
after the generic conversion (Linear weights stored ``[in, out]`` there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from .classifier import linear_head, paddle_num_classes, validate_num_classes
from .features import FeatureInfo
from .layers import DownscaleInInferDropout, paddle_conv_init
from .registry import register_model
from .weights import load_pretrained

__all__ = [
    "ConvLayer",
    "GoogLeNet",
    "Inception",
    "googlenet",
    "main_output",
]


def main_output(output: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """The main logits of a classifier's output.

    Most networks return one tensor; GoogLeNet returns ``(out, out1, out2)`` as Paddle's does,
    the main logits first. Code that handles any zoo model (losses, metrics, prediction, export)
    takes ``main_output(model(x))``.

    Args:
        output: what the network's forward returned.

    Returns:
        ``output`` itself when it is a tensor, else its first element.

    Raises:
        TypeError: ``output`` is neither a tensor nor a non-empty list/tuple of tensors.

    Examples:
        >>> logits = torch.zeros(2, 10)
        >>> main_output(logits) is logits, main_output((logits, logits + 1)) is logits
        (True, True)
    """
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (list, tuple)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(
        "expected a tensor or a list/tuple of tensors (main logits first), got "
        f"{type(output).__name__}"
    )


class ConvLayer(nn.Module):
    """A convolution without bias, normalisation or activation, padded to keep the size.

    Paddle's GoogLeNet wraps each ``Conv2D`` in such a layer, hence the ``_conv`` key. The weight
    is drawn as Paddle's default: Normal(0, sqrt(2 / fan_in)).

    Args:
        num_channels: input channels.
        num_filters: output channels.
        filter_size: kernel size (square); the padding is ``(filter_size - 1) // 2``.
        stride: convolution stride.

    Examples:
        >>> ConvLayer(3, 64, 7, stride=2)(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 64, 16, 16])
    """

    def __init__(self, num_channels: int, num_filters: int, filter_size: int, stride: int = 1):
        super().__init__()
        padding = (filter_size - 1) // 2
        self._conv = paddle_conv_init(
            nn.Conv2d(num_channels, num_filters, filter_size, stride, padding, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv(x)


class Inception(nn.Module):
    """GoogLeNet's inception block: 1x1, 1x1->3x3, 1x1->5x5 and maxpool->1x1 branches,
    concatenated, then one ReLU (Paddle's block; the branches have no activation of their own).

    Args:
        in_channels: input channels.
        ch1x1: channels of the 1x1 branch.
        ch3x3red, ch3x3: channels of the 3x3 branch's 1x1 reduction and of its 3x3 convolution.
        ch5x5red, ch5x5: the same for the 5x5 branch.
        pool_proj: channels of the 1x1 projection after the 3x3 stride-1 max-pool.

    Examples:
        >>> Inception(192, 64, 96, 128, 16, 32, 32)(torch.zeros(1, 192, 7, 7)).shape
        torch.Size([1, 256, 7, 7])
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
    ) -> None:
        super().__init__()
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self._conv1 = ConvLayer(in_channels, ch1x1, 1)
        self._conv3r = ConvLayer(in_channels, ch3x3red, 1)
        self._conv3 = ConvLayer(ch3x3red, ch3x3, 3)
        self._conv5r = ConvLayer(in_channels, ch5x5red, 1)
        self._conv5 = ConvLayer(ch5x5red, ch5x5, 5)
        self._pool = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self._convprj = ConvLayer(in_channels, pool_proj, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [
            self._conv1(x),
            self._conv3(self._conv3r(x)),
            self._conv5(self._conv5r(x)),
            self._convprj(self._pool(x)),
        ]
        return torch.relu(torch.cat(branches, dim=1))


# Paddle's block names -> Inception(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
# (the paper's table 1)
_BLOCKS = {
    "_ince3a": (192, 64, 96, 128, 16, 32, 32),
    "_ince3b": (256, 128, 128, 192, 32, 96, 64),
    "_ince4a": (480, 192, 96, 208, 16, 48, 64),
    "_ince4b": (512, 160, 112, 224, 24, 64, 64),
    "_ince4c": (512, 128, 128, 256, 24, 64, 64),
    "_ince4d": (512, 112, 144, 288, 32, 64, 64),
    "_ince4e": (528, 256, 160, 320, 32, 128, 128),
    "_ince5a": (832, 256, 160, 320, 32, 128, 128),
    "_ince5b": (832, 384, 192, 384, 48, 128, 128),
}
_AUX_WIDTH = 128 * 3 * 3  # the aux 1x1 conv's 128 channels on its 3x3 pooled map
_CLASSIFIER_PREFIXES = ("_drop", "_fc", "_conv_o", "_out")


def _paddle_linear(in_features: int, out_features: int, fan: int) -> nn.Module:
    """``linear_head`` initialised as Paddle's GoogLeNet does: weight Uniform(+-sqrt(3 / fan)),
    zero bias (Paddle's ``xavier(fan, 1)``; ``fan`` is not always ``in_features`` there)."""
    layer = linear_head(in_features, out_features)
    if isinstance(layer, nn.Linear):
        bound = math.sqrt(3.0 / fan)
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound)
    return layer


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1) as ``paddle.vision.models.GoogLeNet``: no BatchNorm, and three
    outputs ``(out, out1, out2)`` in training and in evaluation.

    Args:
        num_classes: outputs of the three classifiers. ``<= 0``: no classifier at all (Paddle's
            rule); the outputs are then the feature maps after ``_ince5b``, ``_ince4a`` and
            ``_ince4d``, pooled when ``with_pool`` (``[N, 1024, 1, 1]``, ``[N, 512, 3, 3]``,
            ``[N, 528, 3, 3]`` at 224 px).
        with_pool: pool before the classifiers (global average for the main one, 5x5 stride-3
            average for the auxiliary ones).

    Attributes:
        num_features: 1024, the width of the main classifier's input.
        feature_info: the five stages (reductions 2, 4, 8, 16, 32) for backbone use.
        loss_weights: ``(1.0, 0.3, 0.3)``, the paper's weights of the three losses in training
            (section 5: the auxiliary losses are "weighted by 0.3").

    Raises:
        TypeError: ``num_classes`` is not an int.

    Examples:
        >>> net = GoogLeNet(num_classes=10).eval()
        >>> out, out1, out2 = net(torch.rand(1, 3, 192, 192))
        >>> out.shape, out1.shape, out2.shape
        (torch.Size([1, 10]), torch.Size([1, 10]), torch.Size([1, 10]))
    """

    loss_weights: ClassVar[tuple[float, float, float]] = (1.0, 0.3, 0.3)

    def __init__(self, num_classes: int = 1000, with_pool: bool = True) -> None:
        super().__init__()
        self.num_classes = paddle_num_classes(num_classes)
        self.with_pool = bool(with_pool)
        self.num_features = 1024
        self._conv = ConvLayer(3, 64, 7, stride=2)
        self._pool = nn.MaxPool2d(kernel_size=3, stride=2)  # shared by the four down-samplings
        self._conv_1 = ConvLayer(64, 64, 1)
        self._conv_2 = ConvLayer(64, 192, 3)
        for name, widths in _BLOCKS.items():
            self.add_module(name, Inception(*widths))
        if self.with_pool:
            self._pool_5 = nn.AdaptiveAvgPool2d(1)
            self._pool_o1 = nn.AvgPool2d(kernel_size=5, stride=3)
            self._pool_o2 = nn.AvgPool2d(kernel_size=5, stride=3)
        # Paddle registers no classifier module for num_classes <= 0: its state dict has none.
        self._fc_out: nn.Module | None = None
        if self.num_classes > 0:
            self._build_classifiers(self.num_classes)
        self.feature_info = [
            FeatureInfo("_conv", channels=64, reduction=2),
            FeatureInfo("_conv_2", channels=192, reduction=4),
            FeatureInfo("_ince3b", channels=480, reduction=8),
            FeatureInfo("_ince4e", channels=832, reduction=16),
            FeatureInfo("_ince5b", channels=1024, reduction=32),
        ]

    def _build_classifiers(self, num_classes: int) -> None:
        # The registration order is Paddle's, so that state-dict keys come in its order.
        self._drop = DownscaleInInferDropout(0.4)
        self._fc_out = _paddle_linear(1024, num_classes, 1024)
        self._conv_o1 = ConvLayer(512, 128, 1)
        self._fc_o1 = _paddle_linear(_AUX_WIDTH, 1024, 2048)
        self._drop_o1 = DownscaleInInferDropout(0.7)
        self._out1 = _paddle_linear(1024, num_classes, 1024)
        self._conv_o2 = ConvLayer(528, 128, 1)
        self._fc_o2 = _paddle_linear(_AUX_WIDTH, 1024, 2048)
        self._drop_o2 = DownscaleInInferDropout(0.7)
        self._out2 = _paddle_linear(1024, num_classes, 1024)

    def _trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The maps after ``_ince4a``, ``_ince4d`` and ``_ince5b``."""
        x = self._pool(self._conv(x))
        x = self._pool(self._conv_2(self._conv_1(x)))
        x = self._pool(self._ince3b(self._ince3a(x)))
        ince4a = self._ince4a(x)
        ince4d = self._ince4d(self._ince4c(self._ince4b(ince4a)))
        x = self._pool(self._ince4e(ince4d))
        return ince4a, ince4d, self._ince5b(self._ince5a(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The map after ``_ince5b``: ``[N, 1024, 6, 6]`` at 224 px (Paddle's floored pools)."""
        return self._trunk(x)[2]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The main classifier on the ``forward_features`` map: pooling, dropout, ``_fc_out``.

        ``pre_logits`` returns what ``_fc_out`` receives, ``[N, 1024]`` (after the dropout,
        which scales by 0.6 in evaluation). Without a classifier (``num_classes <= 0``) it
        returns the (pooled) map as Paddle does, flattened when ``pre_logits``.

        Raises:
            ValueError: with a classifier and ``with_pool=False``, a map other than 1x1.
        """
        if self.with_pool:
            x = self._pool_5(x)
        if self._fc_out is None:
            return torch.flatten(x, 1) if pre_logits else x
        if x.shape[-2:] != (1, 1):
            raise ValueError(
                f"GoogLeNet(with_pool=False) classifies a 1x1 final map (inputs of 61 to 76 "
                f"px, as in Paddle), got {tuple(x.shape[-2:])}; build it with with_pool=True "
                "or num_classes <= 0 for other sizes"
            )
        x = torch.flatten(self._drop(x), 1)
        return x if pre_logits else self._fc_out(x)

    def _aux_head(self, x: torch.Tensor, index: int) -> torch.Tensor:
        if self.with_pool:
            if min(x.shape[-2:]) < 5:  # Paddle rounds this pooling's output up to 1x1
                raise ValueError(
                    f"GoogLeNet's auxiliary 5x5 pooling {index} needs a map of at least 5x5 "
                    f"(inputs of 93 px or more), got {tuple(x.shape[-2:])}"
                )
            x = getattr(self, f"_pool_o{index}")(x)
        if self._fc_out is None:
            return x
        if x.shape[-2:] != (3, 3):
            sizes = "189 to 236 px" if self.with_pool else "61 to 76 px without with_pool"
            raise ValueError(
                f"GoogLeNet's auxiliary classifier {index} needs a 3x3 map (a {_AUX_WIDTH}-wide "
                f"Linear, as in Paddle: inputs of {sizes}), got {tuple(x.shape[-2:])}"
            )
        x = torch.flatten(getattr(self, f"_conv_o{index}")(x), 1)
        x = getattr(self, f"_fc_o{index}")(x)
        if index == 1:  # Paddle's second auxiliary head has no ReLU here
            x = torch.relu(x)
        x = getattr(self, f"_drop_o{index}")(x)
        return getattr(self, f"_out{index}")(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(out, out1, out2)``: main and auxiliary logits (see :func:`main_output`)."""
        ince4a, ince4d, ince5b = self._trunk(x)
        return self.forward_head(ince5b), self._aux_head(ince4a, 1), self._aux_head(ince4d, 2)

    def get_classifier(self) -> nn.Module:
        """The main classifier's last layer, ``_fc_out`` (``nn.Identity`` when there is none)."""
        return self._fc_out if self._fc_out is not None else nn.Identity()

    def reset_classifier(self, num_classes: int) -> None:
        """New last layers for ``num_classes`` in the three classifiers (0: ``nn.Identity``, the
        outputs are then the 1024-wide pre-logits features).

        A network built without classifiers gets all of Paddle's classifier layers, freshly
        initialised; otherwise the auxiliary heads' hidden layers are kept.

        Raises:
            TypeError, ValueError: ``num_classes`` is not an int >= 0.
        """
        self.num_classes = validate_num_classes(num_classes, allow_zero=True)
        like = next(self.parameters())  # a model moved to a GPU or to half precision stays there
        if self._fc_out is None:
            self._build_classifiers(num_classes)
            names = [n for n, _ in self.named_children() if n.startswith(_CLASSIFIER_PREFIXES)]
        else:
            names = ["_fc_out", "_out1", "_out2"]
            for name in names:
                setattr(self, name, _paddle_linear(1024, num_classes, 1024))
        for name in names:
            getattr(self, name).to(device=like.device, dtype=like.dtype)


@register_model(family="googlenet", input_size=(3, 224, 224), num_classes=1000)
def googlenet(pretrained: object = False, **kwargs: Any) -> GoogLeNet:
    """GoogLeNet as Paddle builds it (no BatchNorm, three outputs), 11.5M parameters.

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a file
            in any supported format, Paddle's ``.pdparams`` included (see
            :mod:`resvision.models.weights`).
        **kwargs: :class:`GoogLeNet` options: ``num_classes`` (default 1000; <= 0: none) and
            ``with_pool`` (default True).

    Returns:
        The network; its forward returns ``(out, out1, out2)``.

    Examples:
        >>> out, out1, out2 = googlenet(num_classes=10)(torch.rand(1, 3, 192, 192))
        >>> out.shape
        torch.Size([1, 10])
    """
    return load_pretrained(GoogLeNet(**kwargs), pretrained, model_name="googlenet")
