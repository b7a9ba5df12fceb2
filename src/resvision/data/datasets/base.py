"""What every resvision dataset shares: Paddle's item semantics and the fast-path hook.

An item is ``(image, label)``:

- backend ``'pil'``: the transform gets a ``PIL.Image``; the item returns what it returned;
- backend ``'cv2'``: the transform gets an ``H x W x C`` (``H x W`` for one channel) ``uint8``
  array; the item returns the result cast to ``float32`` (numpy or torch, as the transform left
  it);
- the label is an ``int64`` numpy array (0-d; shape ``(1,)`` for MNIST, as Paddle does).

Datasets held in memory as a ``uint8`` ``N x C x H x W`` array subclass
:class:`InMemoryImageDataset`, whose :meth:`~InMemoryImageDataset.tensors` is what the fast loader
uses.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from resvision.data.backend import check_backend


def check_mode(mode: str, accepted: tuple[str, ...] = ("train", "test")) -> str:
    """Return ``mode`` lower-cased; raise ValueError naming what is accepted otherwise."""
    if not isinstance(mode, str) or mode.lower() not in accepted:
        raise ValueError(f"mode must be one of {list(accepted)}, got {mode!r}")
    return mode.lower()


def check_transform(transform: Any) -> Callable | None:
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be a callable (or None), got {type(transform).__name__}")
    return transform


def finish_image(hwc: np.ndarray, transform: Callable | None, backend: str) -> Any:
    """The image of an item: the backend conversion, the transform and the final cast of Paddle's
    datasets ('pil': what the transform returned; 'cv2': that cast to ``float32``)."""
    image: Any = hwc
    if backend == "pil":
        image = Image.fromarray(hwc)
    if transform is not None:
        image = transform(image)
    if backend == "pil":
        return image
    if isinstance(image, torch.Tensor):
        return image.to(torch.float32)
    if isinstance(image, Image.Image):
        image = np.asarray(image)
    return np.asarray(image).astype(np.float32)


def finish_item(
    hwc: np.ndarray,
    label: Any,
    transform: Callable | None,
    backend: str,
    label_shape: tuple[int, ...] = (),
) -> tuple[Any, np.ndarray]:
    """Apply the backend conversion, the transform and the final cast of Paddle's datasets."""
    label_arr = np.asarray(label, dtype=np.int64).reshape(label_shape)
    return finish_image(hwc, transform, backend), label_arr


class InMemoryImageDataset(Dataset):
    """A dataset whose images are one ``uint8`` ``N x C x H x W`` array in memory.

    Subclasses set ``self.images``, ``self.labels`` (``int64``, shape ``[N]``), ``self.classes``
    and may set ``label_shape``. The fast loader reads :meth:`tensors` and translates
    ``transform`` with :func:`resvision.data.batch_transforms.plan_batched`.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    label_shape: tuple[int, ...] = ()

    def __init__(self, transform: Callable | None, backend: str | None) -> None:
        self.transform = check_transform(transform)
        self.backend = check_backend(backend)

    def __len__(self) -> int:
        return len(self.labels)

    def hwc(self, index: int) -> np.ndarray:
        """The raw ``uint8`` image ``index`` as ``H x W x C`` (``H x W`` for one channel)."""
        chw = self.images[index]
        if chw.shape[0] == 1:
            return chw[0]
        return np.ascontiguousarray(chw.transpose(1, 2, 0))

    def __getitem__(self, index: int) -> tuple[Any, np.ndarray]:
        n = len(self)
        try:
            index = operator.index(index)
        except TypeError:
            raise TypeError(f"index must be an int, got {type(index).__name__}") from None
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a dataset of {n} items")
        return finish_item(
            self.hwc(index), self.labels[index], self.transform, self.backend, self.label_shape
        )

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole dataset as ``(uint8 N x C x H x W, int64 N)`` tensors (no copy)."""
        return torch.from_numpy(self.images), torch.from_numpy(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __repr__(self) -> str:
        mode = getattr(self, "mode", None)
        extra = f", mode={mode!r}" if mode else ""
        return (
            f"{type(self).__name__}(n={len(self)}{extra}, image_shape={self.image_shape}, "
            f"backend={self.backend!r}, transform={self.transform!r})"
        )
