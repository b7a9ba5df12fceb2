"""MNIST and Fashion-MNIST from the official idx ``.gz`` files, for LeNet.

Items follow ``paddle.vision.datasets.MNIST``: the image is ``28 x 28`` (a ``PIL.Image`` of mode
``'L'`` with the ``'pil'`` backend, an ``H x W`` ``uint8`` array with ``'cv2'``, cast to
``float32`` after the transform); the label is an ``int64`` array of shape ``(1,)``.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from resvision.data.cache import cached_arrays, fingerprint
from resvision.data.datasets.base import InMemoryImageDataset, check_mode
from resvision.data.datasets.download import fetch_data_file, resolve_user_file

IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read an idx file (gzip-compressed or not) of unsigned bytes with the given magic number.

    Raises:
        ValueError: the file is not a readable idx file of that kind; the message names it.
    """
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path} is not a readable idx.gz file ({exc})") from exc
    ndim = 3 if magic == IDX_IMAGES_MAGIC else 1
    header = 4 + 4 * ndim
    if len(raw) < 4:
        raise ValueError(f"{path} is too short ({len(raw)} bytes) to be an idx file")
    found = struct.unpack(">I", raw[:4])[0]
    if found != magic:
        kind = "images" if magic == IDX_IMAGES_MAGIC else "labels"
        raise ValueError(
            f"{path} has idx magic number {found}, expected {magic} (an idx file of {kind})"
        )
    if len(raw) < header:
        raise ValueError(f"{path} is too short ({len(raw)} bytes) to be an idx file")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise ValueError(
            f"{path} declares {dims} = {expected} bytes of data but holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


class MNIST(InMemoryImageDataset):
    """MNIST handwritten digits (LeCun et al., 1998), ``paddle.vision.datasets.MNIST`` semantics.

    Args:
        image_path: the idx images file (``train-images-idx3-ubyte.gz`` or
            ``t10k-images-idx3-ubyte.gz``); None finds or downloads it in
            ``<cache>/datasets/<folder>/``.
        label_path: the matching idx labels file; None as for ``image_path``.
        mode: ``'train'`` (60,000 images) or ``'test'`` (10,000).
        transform: applied to each image (see :mod:`resvision.data.datasets.base`).
        download: fetch missing official files (MD5-checked).
        backend: ``'pil'`` or ``'cv2'``; None uses the current default.

    Raises:
        DatasetNotFoundError: a file is missing or damaged and cannot be downloaded.
        ValueError: a bad argument, a damaged file, or image and label counts that differ.

    Examples:
        >>> from resvision.datasets import MNIST
        >>> MNIST(image_path="no/such/t10k-images-idx3-ubyte.gz", mode="test")
        Traceback (most recent call last):
        ...
        resvision.data.datasets.download.DatasetNotFoundError: MNIST: image_path 'no/such/t10k-images-idx3-ubyte.gz' does not exist or is not a file
    """

    NAME = "mnist"
    URL_PREFIXES = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://dataset.bj.bcebos.com/mnist/",
    )
    FILES: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {
        "train": (("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                  ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432")),
        "test": (("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                 ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")),
    }  # fmt: skip
    CLASSES: ClassVar[list[str]] = [str(i) for i in range(10)]
    label_shape = (1,)

    def __init__(
        self,
        image_path: str | None = None,
        label_path: str | None = None,
        mode: str = "train",
        transform: Callable | None = None,
        download: bool = True,
        backend: str | None = None,
    ) -> None:
        super().__init__(transform, backend)
        self.mode = check_mode(mode)
        what = type(self).__name__
        paths = []
        for given, (filename, md5), kind in zip(
            (image_path, label_path), self.FILES[self.mode], ("image_path", "label_path")
        ):
            if given is None:
                urls = [prefix + filename for prefix in self.URL_PREFIXES]
                paths.append(
                    fetch_data_file(filename, self.NAME, urls, md5, download=download, what=what)
                )
            else:
                paths.append(resolve_user_file(given, what, kind))
        self.image_path, self.label_path = str(paths[0]), str(paths[1])

        def build() -> dict[str, np.ndarray]:
            images = read_idx(paths[0], IDX_IMAGES_MAGIC)
            labels = read_idx(paths[1], IDX_LABELS_MAGIC).astype(np.int64)
            if len(images) != len(labels):
                raise ValueError(
                    f"{paths[0]} has {len(images)} images but {paths[1]} has {len(labels)} labels"
                )
            return {"images": images[:, None], "labels": labels}

        arrays = cached_arrays(f"{self.NAME}-{self.mode}", fingerprint(paths, extra=what), build)
        self.images, self.labels = arrays["images"], arrays["labels"]
        self.classes = list(self.CLASSES)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        if len(self.labels) and (self.labels.max() >= len(self.classes)):
            raise ValueError(f"{paths[1]}: label {int(self.labels.max())} is not a class 0..9")


class FashionMNIST(MNIST):
    """Fashion-MNIST (Xiao et al., 2017): MNIST's format with 10 kinds of clothing.

    Arguments as :class:`MNIST`.
    """

    NAME = "fashion-mnist"
    URL_PREFIXES = (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://dataset.bj.bcebos.com/fashion_mnist/",
    )
    FILES: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {
        "train": (("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                  ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe")),
        "test": (("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                 ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")),
    }  # fmt: skip
    CLASSES: ClassVar[list[str]] = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
