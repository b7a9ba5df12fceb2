"""The fine-tuning surface every resvision classifier shares.

Each network splits its forward pass as ``forward_head(forward_features(x))`` (timm's convention),
keeps the width of its pre-logits features in ``num_features`` and the number of outputs in
``num_classes``, and swaps its last layer with ``reset_classifier(num_classes)``.

``num_classes`` rules (one place, so every family behaves the same):

- resvision's own families (the CIFAR ResNets, AirNet) and the tutorial's form of ``ResNet``
  (``ResNet(layers, class_dim)``) need a positive int (:func:`validate_num_classes`): a network
  built with zero outputs is almost always a mistake (a typo, an empty class list), so it fails
  loudly instead of building something that cannot be trained;
- the families of ``paddle.vision.models`` (``ResNet(block, ...)`` and the resnet/resnext/wide
  builders, VGG, MobileNetV1/V2, LeNet, ...) follow Paddle (:func:`paddle_num_classes`): any
  int, and ``num_classes <= 0`` builds no classifier; the network then returns what Paddle's
  returns, the pooled ``[N, C, 1, 1]`` map with ``with_pool=True`` or the last feature map
  without (``paddle_headless`` is then True);
- ``reset_classifier(0)`` is allowed and turns the last layer into ``nn.Identity`` so the network
  returns its pre-logits features ``[N, num_features]``, as timm does for feature extraction; on
  a network built without a classifier, ``reset_classifier`` with ``num_classes <= 0`` changes
  nothing (it keeps returning Paddle's output), and a positive one gives it a classifier.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

__all__ = [
    "check_flattened_map",
    "check_with_pool",
    "linear_head",
    "paddle_num_classes",
    "validate_num_classes",
]


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


def check_with_pool(with_pool: object) -> bool:
    """Check Paddle's ``with_pool`` option (global average pooling before the classifier).

    Raises:
        TypeError: ``with_pool`` is not a bool.

    Examples:
        >>> check_with_pool(False)
        False
    """
    if not isinstance(with_pool, bool):
        raise TypeError(
            f"with_pool must be True or False, got {with_pool!r} of type {type(with_pool).__name__}"
        )
    return with_pool


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

    ResNet, the CIFAR ResNets, MobileNetV1/V2, ShuffleNetV2 and DenseNet end the same way: a
    pooling then a classifier over ``num_features`` channels. This class gives them the zoo's
    common fine-tuning surface (``forward_head``, ``get_classifier``, ``reset_classifier``) in one
    place; a subclass sets the two modules, ``num_features`` and ``num_classes``, and defines
    ``forward_features``. A subclass built the Paddle way sets ``with_pool`` (the pooling is then
    skipped) and ``paddle_headless`` (the classifier is ``nn.Identity``: Paddle's
    ``num_classes <= 0``).

    The two modules are found by name, ``pool_name`` and ``classifier_name`` (``pool2d_avg`` and
    ``fc`` unless a subclass says otherwise), so that each family keeps Paddle's attribute names,
    which are its state-dict keys: ShuffleNetV2's are ``_pool2d_avg`` and ``_fc``, MobileNetV2's
    classifier is the ``classifier`` sequence (dropout, then the linear layer).
    """

    num_features: int
    num_classes: int
    #: Attribute name of the pooling module (``nn.AdaptiveAvgPool2d(1)`` or ``nn.Identity``).
    pool_name: ClassVar[str] = "pool2d_avg"
    #: Attribute name of the classifier: the module ``forward_head`` applies after flattening.
    classifier_name: ClassVar[str] = "fc"
    #: Global average pooling before the classifier (Paddle's ``with_pool``).
    with_pool: bool = True
    #: Built with Paddle's ``num_classes <= 0``: no classifier, the output is the (pooled) map.
    paddle_headless: bool = False

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pooling and the classifier (skipped when ``pre_logits``).

        Returns ``[N, num_classes]`` logits; with ``pre_logits`` the flattened pooled features
        ``[N, num_features]``; for a network built without a classifier (``paddle_headless``)
        what Paddle returns: the pooled ``[N, C, 1, 1]`` map, or the map itself without pooling.

        Raises:
            ValueError: ``with_pool=False`` with a classifier and a map larger than 1x1 (the
                classifier takes the flattened map, as in Paddle, so it must be 1x1).
        """
        if self.with_pool:
            x = getattr(self, self.pool_name)(x)
        if self.paddle_headless and not pre_logits:
            return x
        if not self.with_pool and not pre_logits:
            check_flattened_map(x, (1, 1))
        x = torch.flatten(x, 1)
        return x if pre_logits else getattr(self, self.classifier_name)(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The last layer (``nn.Identity`` for a network without a classifier)."""
        return getattr(self, self.classifier_name)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a new one for ``num_classes`` (0: ``nn.Identity``).

        On a network built without a classifier (``paddle_headless``), ``num_classes <= 0``
        changes nothing: it keeps returning Paddle's output.
        """
        if self.paddle_headless and paddle_num_classes(num_classes) <= 0:
            self.num_classes = num_classes
            return
        self.num_classes = validate_num_classes(num_classes, allow_zero=True)
        self.paddle_headless = False
        layer = linear_head(self.num_features, num_classes, like=next(self.parameters()))
        setattr(self, self.classifier_name, layer)


def check_flattened_map(x: torch.Tensor, size: tuple[int, int]) -> None:
    """Refuse a feature map of another spatial size than the classifier's flattened input.

    Paddle's networks built with ``with_pool=False`` and a classifier flatten the last feature
    map into the first linear layer, which then only fits one input size; this says so instead
    of a matrix-shape error.

    Raises:
        ValueError: ``x`` is not ``[N, C, *size]``.

    Examples:
        >>> check_flattened_map(torch.zeros(1, 8, 1, 1), (1, 1))
    """
    if tuple(x.shape[-2:]) != tuple(size):
        raise ValueError(
            f"with_pool=False: the classifier takes the flattened {size[0]}x{size[1]} feature "
            f"map, got a {x.shape[-2]}x{x.shape[-1]} map (from an input of another size); "
            "pass with_pool=True, or num_classes <= 0 for the map itself"
        )
