"""Datasets with ``paddle.vision.datasets`` item semantics (see :mod:`.base`)."""

from resvision.data.datasets.base import InMemoryImageDataset
from resvision.data.datasets.sample import Cifar10Sample

__all__ = ["Cifar10Sample", "InMemoryImageDataset"]
