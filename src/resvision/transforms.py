"""Public transforms (re-exported from :mod:`resvision.data.transforms`,
:mod:`resvision.data.augmentations`, :mod:`resvision.data.autoaugment` and
:mod:`resvision.data.batch_transforms`).

>>> import numpy as np
>>> from resvision.transforms import Transpose
>>> Transpose()(np.zeros((32, 32, 3), dtype=np.uint8)).shape
(3, 32, 32)
"""

from resvision.data.augmentations import (
    CenterCrop,
    ColorJitter,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Resize,
)
from resvision.data.autoaugment import (
    AugMix,
    AutoAugment,
    BatchPolicy,
    RandAugment,
    TrivialAugmentWide,
)
from resvision.data.batch_transforms import (
    BatchAlternatingFlip,
    BatchCenterCrop,
    BatchCompose,
    BatchNormalize,
    BatchRandomCrop,
    BatchRandomErasing,
    BatchRandomHorizontalFlip,
    BatchToFloat,
    BatchTransform,
    NotBatchableError,
    plan_batched,
)
from resvision.data.transforms import BaseTransform, Compose, Normalize, ToTensor, Transpose

__all__ = [
    "AugMix",
    "AutoAugment",
    "BaseTransform",
    "BatchAlternatingFlip",
    "BatchCenterCrop",
    "BatchCompose",
    "BatchNormalize",
    "BatchPolicy",
    "BatchRandomCrop",
    "BatchRandomErasing",
    "BatchRandomHorizontalFlip",
    "BatchToFloat",
    "BatchTransform",
    "CenterCrop",
    "ColorJitter",
    "Compose",
    "Normalize",
    "NotBatchableError",
    "RandAugment",
    "RandomCrop",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "Resize",
    "ToTensor",
    "Transpose",
    "TrivialAugmentWide",
    "plan_batched",
]
