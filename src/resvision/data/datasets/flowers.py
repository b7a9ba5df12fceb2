"""Oxford Flowers-102 from its three official files, with ``paddle.vision.datasets.Flowers``
semantics, read without unpacking the archive.

The files: ``102flowers.tgz`` (8,189 JPEGs ``jpg/image_00001.jpg`` ...), ``imagelabels.mat``
(``labels``: the class, 1 to 102, of image *i* at position *i - 1*) and ``setid.mat``
(``trnid``, ``valid``, ``tstid``: 1-based image numbers). The MAT-files are read by
:mod:`resvision.data.datasets.matfile` (no scipy needed); the JPEGs are read from the archive
through :mod:`resvision.data.datasets.tarstore` (copied once into the cache, as one file, since a
``.tgz`` cannot be read at an offset).

Paddle's splits are kept, swap included: the official ``tstid`` set (6,149 images) is Paddle's
``'train'`` and the official ``trnid`` set (1,020) its ``'test'``; ``'valid'`` is ``valid``
(1,020). Labels are Paddle's too: **1-based** (1 to 102), an ``int64`` array of shape ``(1,)``.
A classifier over them needs 103 outputs, or ``label - 1`` in its loss.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from torch.utils.data import Dataset

from resvision.data.backend import check_backend
from resvision.data.datasets.base import check_mode, check_transform, finish_item
from resvision.data.datasets.download import fetch_data_file, resolve_user_file
from resvision.data.datasets.matfile import read_mat
from resvision.data.datasets.tarstore import index_tar
from resvision.data.images import decode_rgb, max_image_pixels

NUM_CLASSES = 102


def _whole_numbers(array: np.ndarray, where: str, what: str) -> np.ndarray:
    flat = np.asarray(array).ravel()
    if flat.dtype.kind not in "iub" and not np.array_equal(flat, np.round(flat)):
        raise ValueError(f"{where}: {what} must hold whole numbers, got {flat[:5].tolist()} ...")
    return flat.astype(np.int64)


class Flowers(Dataset):
    """Oxford Flowers-102 (Nilsback & Zisserman, 2008) with Paddle's ``Flowers`` semantics.

    Args:
        data_file: the official ``102flowers.tgz``; None (or ``''``) finds or downloads it in
            ``<cache>/datasets/flowers/``.
        label_file: the official ``imagelabels.mat``; None as for ``data_file``.
        setid_file: the official ``setid.mat``; None as for ``data_file``.
        mode: ``'train'`` (6,149 images: the official ``tstid`` set, as in Paddle),
            ``'valid'`` (1,020) or ``'test'`` (1,020: the official ``trnid`` set).
        transform: applied to each image (see :mod:`resvision.data.datasets.base`).
        download: fetch the missing official files (MD5-checked) when not given.
        backend: ``'pil'`` or ``'cv2'``; None uses the current default.

    Items are ``(image, label)``: the RGB image (a ``PIL.Image``, or with ``'cv2'`` the
    transform's result cast to ``float32``) and its 1-based class as ``int64`` of shape ``(1,)``.

    Attributes:
        labels: the class of every image of the archive (``int64``, image *i* at ``i - 1``).
        indexes: the 1-based image numbers of the split, in the file's order.

    Raises:
        DatasetNotFoundError: a file is missing or damaged and cannot be downloaded.
        ValueError: a bad argument; a damaged file; a split that names an image the archive or
            the labels do not have.

    Examples:
        >>> from resvision.datasets import Flowers
        >>> Flowers(data_file="no/such/102flowers.tgz", mode="valid")
        Traceback (most recent call last):
        ...
        resvision.data.datasets.download.DatasetNotFoundError: Flowers: data_file 'no/such/102flowers.tgz' does not exist or is not a file
    """

    URL_PREFIXES: ClassVar[tuple[str, ...]] = (
        "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/",
        "http://paddlemodels.bj.bcebos.com/flowers/",
    )
    FILES: ClassVar[dict[str, tuple[str, str]]] = {
        "data_file": ("102flowers.tgz", "52808999861908f626f3c1f4e79d11fa"),
        "label_file": ("imagelabels.mat", "e0620be6f572b9609742df49c70aed4d"),
        "setid_file": ("setid.mat", "a5357ecc9cb78c4bef273ce3793fc85c"),
    }
    #: mode -> the variable of ``setid.mat`` (Paddle swaps the official train and test sets).
    MODE_FLAGS: ClassVar[dict[str, str]] = {"train": "tstid", "valid": "valid", "test": "trnid"}

    def __init__(
        self,
        data_file: str | None = None,
        label_file: str | None = None,
        setid_file: str | None = None,
        mode: str = "train",
        transform: Callable | None = None,
        download: bool = True,
        backend: str | None = None,
    ) -> None:
        self.mode = check_mode(mode, ("train", "valid", "test"))
        self.transform = check_transform(transform)
        self.backend = check_backend(backend)
        self.max_pixels = max_image_pixels()
        given = {"data_file": data_file, "label_file": label_file, "setid_file": setid_file}
        paths: dict[str, Path] = {}
        for arg, value in given.items():
            filename, md5 = self.FILES[arg]
            if value:
                paths[arg] = resolve_user_file(value, "Flowers", arg)
            else:
                urls = [prefix + filename for prefix in self.URL_PREFIXES]
                paths[arg] = fetch_data_file(
                    filename, "flowers", urls, md5, download=download, what="Flowers"
                )
        self.data_file = str(paths["data_file"])
        self.label_file = str(paths["label_file"])
        self.setid_file = str(paths["setid_file"])
        self.flag = self.MODE_FLAGS[self.mode]

        labels = read_mat(paths["label_file"], ["labels"])["labels"]
        self.labels = _whole_numbers(labels, self.label_file, "'labels'")
        setid = read_mat(paths["setid_file"], [self.flag])[self.flag]
        self.indexes = _whole_numbers(setid, self.setid_file, repr(self.flag))
        bad = (self.indexes < 1) | (self.indexes > len(self.labels))
        if bad.any():
            raise ValueError(
                f"{self.setid_file}: {self.flag!r} names image {int(self.indexes[bad][0])}, but "
                f"{self.label_file} labels images 1 to {len(self.labels)}"
            )
        self._members = index_tar(
            paths["data_file"],
            lambda name: name.startswith("jpg/") and name.endswith(".jpg"),
            cache_name="flowers-jpg",
        )
        missing = [i for i in self.indexes.tolist() if self._image_name(i) not in self._members]
        if missing:
            raise ValueError(
                f"{self.data_file} has no {self._image_name(missing[0])} ({len(missing)} of the "
                f"{len(self.indexes)} images of {self.flag!r} are missing); is it the official "
                "102flowers.tgz?"
            )

    @staticmethod
    def _image_name(number: int) -> str:
        return f"jpg/image_{number:05d}.jpg"

    def __len__(self) -> int:
        return len(self.indexes)

    def __getitem__(self, idx: int) -> tuple[Any, np.ndarray]:
        n = len(self)
        try:
            idx = operator.index(idx)
        except TypeError:
            raise TypeError(f"index must be an int, got {type(idx).__name__}") from None
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for a dataset of {n} items")
        number = int(self.indexes[idx])
        name = self._image_name(number)
        hwc = decode_rgb(
            self._members.read(name), name=f"{self.data_file}:{name}", max_pixels=self.max_pixels
        )
        return finish_item(hwc, self.labels[number - 1], self.transform, self.backend, (1,))

    def __repr__(self) -> str:
        return (
            f"Flowers(n={len(self)}, mode={self.mode!r}, backend={self.backend!r}, "
            f"transform={self.transform!r})"
        )
