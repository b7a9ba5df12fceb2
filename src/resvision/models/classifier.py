"""The fine-tuning surface every resvision classifier shares.

Each network splits its forward pass as ``forward_head(forward_features(x))`` (timm's convention),
keeps the width of its pre-logits features in ``num_features`` and the number of outputs in
``num_classes``, and swaps its last layer with ``reset_classifier(num_classes)``.

``num_classes`` rules (one place, so every family behaves the same):

- a constructor (``resnet50(num_classes=...)``, ``ResNet(...)``) needs a positive int: a network
  built with zero outputs is almost always a mistake (a typo, an empty class list), so it fails
  loudly instead of building something that cannot be trained;
- ``reset_classifier(0)`` is allowed and turns the last layer into ``nn.Identity`` so the network
  returns its pre-logits features, as timm does for feature extraction.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["linear_head", "paddle_num_classes", "validate_num_classes"]


def validate_num_classes(num_classes: object, *, allow_zero: bool = False) -> int:
    """Check a number of classes and return it as an ``int``.

    Args:
        num_classes: the value to check.
        allow_zero: accept 0 (a head-less network that returns its pre-logits features).

    Returns:
        ``num_classes`` unchanged.

    Raises:
        TypeError: ``num_classes`` is not an int (a bool is rejected too).
        ValueError: ``num_classes`` is negative, or 0 when ``allow_zero`` is False.

    Examples:
        >>> validate_num_classes(10)
        10
        >>> validate_num_classes(0, allow_zero=True)
        0
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(
            f"num_classes must be an int, got {num_classes!r} of type {type(num_classes).__name__}"
        )
    lowest = 0 if allow_zero else 1
    if num_classes < lowest:
        accepted = "an int >= 0 (0 removes the classifier)" if allow_zero else "an int >= 1"
        raise ValueError(f"num_classes must be {accepted}, got {num_classes}")
    return num_classes


def paddle_num_classes(num_classes: object) -> int:
    """Check ``num_classes`` as ``paddle.vision.models`` constructors read it.

    Paddle builds no classifier when ``num_classes <= 0``: the network then returns the features
    its pooling gives (``[N, C, 1, 1]`` with ``with_pool=True``, the last feature map without).
    Any int is accepted; a bool or a non-int is refused.

    Examples:
        >>> paddle_num_classes(10), paddle_num_classes(-1)
        (10, -1)
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(
            f"num_classes must be an int (<= 0: no classifier), got {num_classes!r} "
            f"of type {type(num_classes).__name__}"
        )
    return num_classes


def linear_head(
    in_features: int, num_classes: int, *, like: torch.Tensor | None = None
) -> nn.Module:
    """The last layer of a classifier: ``nn.Linear`` or ``nn.Identity`` when ``num_classes`` is 0.

    The weight is drawn from Uniform(-1/sqrt(fan_in), +1/sqrt(fan_in)) and the bias is zero,
    as the tutorial initialises ResNet's last layer (``paddle.nn.initializer.Uniform(-stdv,
    stdv)`` with ``stdv = 1 / sqrt(2048)``, and Paddle's default zero bias).

    Args:
        in_features: width of the pre-logits features.
        num_classes: number of outputs; 0 gives ``nn.Identity``.
        like: a parameter of the network; the new layer gets its device and dtype, so that
            ``reset_classifier`` works on a model already moved to a GPU or to half precision.

    Returns:
        The new layer.

    Examples:
        >>> linear_head(2048, 10)
        Linear(in_features=2048, out_features=10, bias=True)
        >>> linear_head(2048, 0)
        Identity()
    """
    validate_num_classes(num_classes, allow_zero=True)
    if num_classes == 0:
        return nn.Identity()
    factory = {} if like is None else {"device": like.device, "dtype": like.dtype}
    layer = nn.Linear(in_features, num_classes, **factory)
    stdv = 1.0 / math.sqrt(in_features)
    with torch.no_grad():
        layer.weight.uniform_(-stdv, stdv)
        layer.bias.zero_()
    return layer


class PooledLinearClassifier(nn.Module):
    """Base of the classifiers whose head is global average pooling and one linear layer.

    ResNet, the CIFAR ResNets and MobileNetV1 end the same way: ``pool2d_avg`` then ``fc`` over
    ``num_features`` channels. This class gives them the zoo's common fine-tuning surface
    (``forward_head``, ``get_classifier``, ``reset_classifier``) in one place; a subclass sets
    those three attributes and ``num_classes``, and defines ``forward_features``.
    """

    num_features: int
    num_classes: int
    pool2d_avg: nn.Module
    fc: nn.Module

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pooling and the classifier (skipped when ``pre_logits``)."""
        x = torch.flatten(self.pool2d_avg(x), 1)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The last layer (``fc``)."""
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a new one for ``num_classes`` (0: ``nn.Identity``)."""
        self.num_classes = validate_num_classes(num_classes, allow_zero=True)
        self.fc = linear_head(self.num_features, num_classes, like=next(self.parameters()))
