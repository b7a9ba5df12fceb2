"""The embedded CIFAR-10 sample: 500 training and 100 test images per class, shipped inside the
package so that examples and tests run with no download.

Made by ``scripts/make_sample.py`` from CIFAR-10 (JPEG) (``../shared/data/cifar10-jpeg.tar.gz``,
sha256 ``097287809041...253f10b297``): per class in the official order, the first 500
``train/<class>/*.jpg`` and the first 100 ``test/<class>/*.jpg`` files in sorted name order,
their original JPEG bytes kept (``assets/cifar10_sample.npz``, described by
``assets/cifar10_sample.json``). Decoded once into the cache folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from resvision.data.cache import cached_arrays, fingerprint
from resvision.data.datasets.base import InMemoryImageDataset, check_mode
from resvision.data.images import decode_rgb

CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


def sample_path() -> Path:
    """Path of the embedded sample's ``.npz`` (inside the installed package)."""
    return Path(str(resources.files("resvision") / "assets" / "cifar10_sample.npz"))


def sample_manifest() -> dict:
    """The sample's manifest: source archive and sha256, selection rule, counts.

    Examples:
        >>> sample_manifest()["counts"]
        {'train': 5000, 'test': 1000}
    """
    text = (resources.files("resvision") / "assets" / "cifar10_sample.json").read_text()
    return json.loads(text)


def _decode_split(path: Path, mode: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        blob = npz[f"{mode}_jpeg"]
        offsets = npz[f"{mode}_offsets"]
        labels = npz[f"{mode}_labels"].astype(np.int64)
    images = np.empty((len(labels), 3, 32, 32), dtype=np.uint8)
    for i in range(len(labels)):
        data = blob[offsets[i] : offsets[i + 1]].tobytes()
        images[i] = decode_rgb(data, name=f"{path.name}:{mode}[{i}]").transpose(2, 0, 1)
    return {"images": images, "labels": labels}


class Cifar10Sample(InMemoryImageDataset):
    """The embedded CIFAR-10 (JPEG) sample, with the item semantics of :class:`Cifar10`.

    Args:
        mode: ``'train'`` (5,000 images) or ``'test'`` (1,000 images).
        transform: applied to each image (see :mod:`resvision.data.datasets.base`).
        backend: ``'pil'`` or ``'cv2'``; None uses :func:`~resvision.data.backend.get_image_backend`.

    Examples:
        >>> from resvision.datasets import Cifar10Sample
        >>> from resvision.transforms import Transpose
        >>> ds = Cifar10Sample(mode="test", transform=Transpose(), backend="cv2")
        >>> image, label = ds[0]
        >>> len(ds), image.shape, image.dtype, int(label), ds.classes[int(label)]
        (1000, (3, 32, 32), dtype('float32'), 0, 'airplane')
    """

    def __init__(
        self, mode: str = "train", transform: Callable | None = None, backend: str | None = None
    ) -> None:
        super().__init__(transform, backend)
        self.mode = check_mode(mode)
        path = sample_path()
        arrays = cached_arrays(
            f"cifar10-sample-{self.mode}",
            fingerprint([path], extra=self.mode),
            lambda: _decode_split(path, self.mode),
        )
        self.images = arrays["images"]
        self.labels = arrays["labels"]
        self.classes = list(CIFAR10_CLASSES)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
