"""Datasets with ``paddle.vision.datasets`` item semantics (see :mod:`.base`)."""

from resvision.data.datasets.base import InMemoryImageDataset
from resvision.data.datasets.cifar import Cifar10, Cifar100
from resvision.data.datasets.download import DatasetNotFoundError
from resvision.data.datasets.flowers import Flowers
from resvision.data.datasets.folder import IMG_EXTENSIONS, DatasetFolder, ImageFolder
from resvision.data.datasets.mnist import MNIST, FashionMNIST
from resvision.data.datasets.sample import Cifar10Sample
from resvision.data.datasets.voc2012 import VOC2012

__all__ = [
    "IMG_EXTENSIONS",
    "MNIST",
    "VOC2012",
    "Cifar10",
    "Cifar10Sample",
    "Cifar100",
    "DatasetFolder",
    "DatasetNotFoundError",
    "FashionMNIST",
    "Flowers",
    "ImageFolder",
    "InMemoryImageDataset",
]
