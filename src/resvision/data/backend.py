"""The image backend: which type of image the datasets hand to their transforms.

Paddle's ``paddle.vision.set_image_backend`` is reproduced:

- ``'pil'`` (the default): an item's image is a ``PIL.Image`` (mode ``'RGB'``, or ``'L'`` for
  MNIST) given to the transform; the item returns what the transform returned, unchanged.
- ``'cv2'``: the image is an ``H x W x C`` ``numpy.uint8`` array (``H x W`` for MNIST) given to
  the transform; the item returns the result cast to ``float32`` (values stay 0..255 unless the
  transform rescaled them). resvision does not use OpenCV: channels are in RGB order, whereas
  Paddle's ``cv2`` backend reads image *files* in BGR order (its CIFAR and MNIST items are RGB
  either way).
"""

from __future__ import annotations

from typing import Literal

ImageBackend = Literal["pil", "cv2"]
BACKENDS: tuple[str, ...] = ("pil", "cv2")

_backend: str = "pil"


def set_image_backend(backend: str) -> None:
    """Set the default image backend of the datasets created afterwards.

    Args:
        backend: ``'pil'`` or ``'cv2'`` (see the module documentation).

    Raises:
        ValueError: ``backend`` is not one of ``'pil'`` and ``'cv2'``.

    Examples:
        >>> from resvision.data.backend import get_image_backend, set_image_backend
        >>> set_image_backend("cv2")
        >>> get_image_backend()
        'cv2'
        >>> set_image_backend("pil")
    """
    global _backend
    _backend = check_backend(backend)


def get_image_backend() -> str:
    """Return the current default image backend, ``'pil'`` or ``'cv2'``.

    Examples:
        >>> from resvision.data.backend import get_image_backend
        >>> get_image_backend() in ("pil", "cv2")
        True
    """
    return _backend


def check_backend(backend: str | None) -> str:
    """Return ``backend``, or the current default when it is None; reject unknown names.

    Raises:
        ValueError: ``backend`` is not None, ``'pil'`` or ``'cv2'``.
    """
    if backend is None:
        return _backend
    if backend not in BACKENDS:
        raise ValueError(f"image backend must be one of {list(BACKENDS)}, got {backend!r}")
    return backend
