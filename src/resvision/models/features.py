"""Backbone use: the feature maps of chosen stages (timm's ``features_only``).

Every classifier in the zoo describes its stages in ``feature_info``: a list of
:class:`FeatureInfo`, in forward order, naming the sub-module whose output is the stage's feature
map, its channels and its reduction (the stride relative to the input). A detector or a
segmentation head reads these to know what it will receive.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FeatureInfo"]


@dataclass(frozen=True)
class FeatureInfo:
    """One stage of a backbone.

    Attributes:
        module: dotted name of the sub-module whose output is the feature map (``'layer2'``).
        channels: channels of that feature map.
        reduction: its stride relative to the input (4 for a 56x56 map of a 224x224 image).

    Examples:
        >>> FeatureInfo("layer1", channels=256, reduction=4).channels
        256
    """

    module: str
    channels: int
    reduction: int
