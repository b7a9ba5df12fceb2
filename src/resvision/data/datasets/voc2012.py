"""PASCAL VOC 2012 semantic segmentation from the official ``VOCtrainval_11-May-2012.tar``, with
``paddle.vision.datasets.VOC2012`` semantics, read without unpacking the archive.

A split is the list of image ids in ``VOCdevkit/VOC2012/ImageSets/Segmentation/<set>.txt``; item
*i* pairs ``JPEGImages/<id>.jpg`` with its class mask ``SegmentationClass/<id>.png`` (a palette
PNG whose pixel values are the class indices: 0 background, 1 to 20 the classes, 255 the
"void" border). Paddle's mode mapping is kept: ``'train'`` is the ``trainval`` set (2,913
images), ``'valid'`` is ``val`` (1,449) and ``'test'`` is ``train`` (1,464).

The archive (2 GB, uncompressed) is indexed once (cached; see
:mod:`resvision.data.datasets.tarstore`) and each item reads its two members at their offsets;
a compressed copy of the archive works too (its members are copied into the cache once).
"""

from __future__ import annotations

import io
import operator
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from resvision.data.backend import check_backend
from resvision.data.datasets.base import check_mode, check_transform, finish_image
from resvision.data.datasets.download import fetch_data_file, resolve_user_file
from resvision.data.datasets.tarstore import index_tar
from resvision.data.images import ImageDecodeError, decode_rgb, max_image_pixels

ROOT = "VOCdevkit/VOC2012/"
SETS = ROOT + "ImageSets/Segmentation/"
SET_FILE = SETS + "{}.txt"
DATA_FILE = ROOT + "JPEGImages/{}.jpg"
LABEL_FILE = ROOT + "SegmentationClass/{}.png"

#: The 21 classes of the masks (index = pixel value; 255 marks the void border).
VOC_CLASSES = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
]  # fmt: skip


def _selected(name: str) -> bool:
    return name.startswith((SETS, ROOT + "JPEGImages/", ROOT + "SegmentationClass/"))


def decode_mask(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Open a segmentation mask as stored (a palette or grey PNG: no conversion to RGB).

    Raises:
        ImageDecodeError: not an image, damaged, or more than ``max_pixels`` pixels.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            mask = Image.open(io.BytesIO(data))
            if mask.width * mask.height > max_pixels:
                raise ImageDecodeError(
                    f"refusing mask {name}: {mask.width}x{mask.height} pixels is above the limit "
                    f"of {max_pixels} (a decompression bomb?)"
                )
            mask.load()
    except ImageDecodeError:
        raise
    except Exception as exc:  # PIL raises many types for damaged files
        raise ImageDecodeError(f"cannot read mask {name}: {type(exc).__name__}: {exc}") from exc
    return mask


class VOC2012(Dataset):
    """PASCAL VOC 2012 segmentation (Everingham et al.) with Paddle's ``VOC2012`` semantics.

    Args:
        data_file: the official ``VOCtrainval_11-May-2012.tar``; None finds or downloads it in
            ``<cache>/datasets/voc2012/``.
        mode: ``'train'`` (the ``trainval`` set, 2,913 images, as in Paddle), ``'valid'``
            (``val``, 1,449) or ``'test'`` (``train``, 1,464).
        transform: applied to the image only (not to the mask), as in Paddle.
        download: fetch the official archive (MD5-checked) when ``data_file`` is None.
        backend: ``'pil'`` or ``'cv2'``; None uses the current default.

    Items are ``(image, mask)``: with ``'pil'``, the RGB image (what the transform returned)
    and the mask as a ``PIL.Image`` (mode ``'P'``: pixel values are class indices); with
    ``'cv2'``, the transform's result and the ``H x W`` mask, both cast to ``float32``.

    Attributes:
        data, labels: the member names of the images and the masks of the split.
        classes: :data:`VOC_CLASSES`.

    Raises:
        DatasetNotFoundError: the archive is missing or damaged and cannot be downloaded.
        ValueError: a bad argument; the archive is not readable, has no such split list, or
            lacks an image or a mask that the list names.

    Examples:
        >>> from resvision.datasets import VOC2012
        >>> VOC2012(data_file="no/such/VOCtrainval_11-May-2012.tar")
        Traceback (most recent call last):
        ...
        resvision.data.datasets.download.DatasetNotFoundError: VOC2012: data_file 'no/such/VOCtrainval_11-May-2012.tar' does not exist or is not a file
    """

    URLS: ClassVar[tuple[str, ...]] = (
        "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
        "https://dataset.bj.bcebos.com/voc/VOCtrainval_11-May-2012.tar",
    )
    MD5 = "6cd6e144f989b92b3379bac3b3de84fd"
    FILENAME = "VOCtrainval_11-May-2012.tar"
    #: mode -> the split list (Paddle's mapping).
    MODE_FLAGS: ClassVar[dict[str, str]] = {"train": "trainval", "valid": "val", "test": "train"}

    def __init__(
        self,
        data_file: str | None = None,
        mode: str = "train",
        transform: Callable | None = None,
        download: bool = True,
        backend: str | None = None,
    ) -> None:
        self.mode = check_mode(mode, ("train", "valid", "test"))
        self.transform = check_transform(transform)
        self.backend = check_backend(backend)
        self.max_pixels = max_image_pixels()
        self.flag = self.MODE_FLAGS[self.mode]
        if data_file is None:
            path = fetch_data_file(
                self.FILENAME, "voc2012", self.URLS, self.MD5, download=download, what="VOC2012"
            )
        else:
            path = resolve_user_file(data_file, "VOC2012", "data_file")
        self.data_file = str(path)
        self.classes = list(VOC_CLASSES)
        self._members = index_tar(path, _selected, cache_name="voc2012-seg")
        set_file = SET_FILE.format(self.flag)
        if set_file not in self._members:
            lists = sorted(
                n[len(SETS) : -len(".txt")]
                for n in self._members.names
                if n.startswith(SETS) and n.endswith(".txt")
            )
            raise ValueError(
                f"{path} has no {set_file} (mode {self.mode!r}); split lists found: "
                f"{lists or 'none'}; is it the official VOCtrainval_11-May-2012.tar?"
            )
        text = self._members.read(set_file).decode("utf-8")
        ids = [line.strip() for line in text.splitlines() if line.strip()]
        self.data = [DATA_FILE.format(i) for i in ids]
        self.labels = [LABEL_FILE.format(i) for i in ids]
        missing = [
            n for pair in zip(self.data, self.labels) for n in pair if n not in self._members
        ]
        if missing:
            raise ValueError(
                f"{path} has no {missing[0]}, named by {set_file} ({len(missing)} image or mask "
                "file(s) missing)"
            )

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx: int) -> tuple[Any, Any]:
        n = len(self)
        try:
            idx = operator.index(idx)
        except TypeError:
            raise TypeError(f"index must be an int, got {type(idx).__name__}") from None
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for a dataset of {n} items")
        image_name, mask_name = self.data[idx], self.labels[idx]
        hwc = decode_rgb(
            self._members.read(image_name),
            name=f"{self.data_file}:{image_name}",
            max_pixels=self.max_pixels,
        )
        mask = decode_mask(
            self._members.read(mask_name), f"{self.data_file}:{mask_name}", self.max_pixels
        )
        image = finish_image(hwc, self.transform, self.backend)
        if self.backend == "pil":
            return image, mask
        return image, np.asarray(mask).astype(np.float32)

    def __repr__(self) -> str:
        return (
            f"VOC2012(n={len(self)}, mode={self.mode!r}, backend={self.backend!r}, "
            f"transform={self.transform!r})"
        )
