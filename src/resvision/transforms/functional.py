"""``paddle.vision.transforms.functional``: Paddle's names, arguments and defaults.

Each function takes a PIL image, an ``H x W x C`` (or ``H x W``) numpy array or a ``C x H x W``
torch tensor and returns the same kind. They are thin wrappers over the operations of
:mod:`resvision.data.functional`: PIL images go through PIL, as Paddle's PIL backend does (the
same pixels); arrays and tensors through the torch kernels of :mod:`resvision.data.kernels`
(Paddle uses OpenCV for arrays, which resvision does not depend on; the differences are in
``benchmarks/results/paddle-transforms-check.json``).

>>> import numpy as np
>>> from resvision.transforms import functional as F
>>> F.vflip(np.array([[1], [2]])).tolist()
[[2], [1]]
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from resvision.data import functional as _F
from resvision.data.augmentations import _resize_target
from resvision.data.transforms import Normalize, ToTensor

__all__ = [
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "affine",
    "center_crop",
    "crop",
    "erase",
    "hflip",
    "normalize",
    "pad",
    "perspective",
    "resize",
    "rotate",
    "to_grayscale",
    "to_tensor",
    "vflip",
]

Img = Any  # PIL.Image.Image | np.ndarray | torch.Tensor


def _check(img: Img, what: str) -> None:
    _F.check_image(img, what)


def to_tensor(pic: Img, data_format: str = "CHW") -> torch.Tensor:
    """A PIL image or an HWC array as a float tensor (``uint8`` scaled to [0, 1]).

    Args:
        pic: the image.
        data_format: ``'CHW'`` or ``'HWC'``, the layout of the result.

    Returns:
        The tensor.

    Examples:
        >>> import numpy as np
        >>> to_tensor(np.zeros((4, 5, 3), dtype=np.uint8)).shape
        torch.Size([3, 4, 5])
    """
    if isinstance(pic, torch.Tensor):
        _check(pic, "to_tensor")
        return pic if data_format.upper() == "CHW" else pic.permute(1, 2, 0)
    return ToTensor(data_format)(pic)


def hflip(img: Img) -> Img:
    """Flip left-right.

    Examples:
        >>> import numpy as np
        >>> hflip(np.array([[1, 2]])).tolist()
        [[2, 1]]
    """
    _check(img, "hflip")
    return _F.hflip(img)


def vflip(img: Img) -> Img:
    """Flip top-bottom.

    Examples:
        >>> import torch
        >>> vflip(torch.tensor([[[1], [2]]])).tolist()
        [[[2], [1]]]
    """
    _check(img, "vflip")
    return _F.vflip(img)


def resize(img: Img, size: int | Sequence[int], interpolation: str = "bilinear") -> Img:
    """Resize: an int ``size`` sets the smaller edge (aspect ratio kept), ``(h, w)`` is exact.

    Args:
        img: the image.
        size: an int or ``(h, w)``.
        interpolation: ``'nearest'``, ``'bilinear'``, ``'bicubic'``, ``'box'``, ``'lanczos'``
            or ``'hamming'``.

    Returns:
        The resized image.

    Examples:
        >>> from PIL import Image
        >>> resize(Image.new("RGB", (64, 32)), 16).size
        (32, 16)
    """
    _check(img, "resize")
    h, w = _F.get_size(img)
    target = _resize_target(h, w, size if isinstance(size, int) else _F.pair(size, "size"))
    return img if target == (h, w) else _F.resize(img, target, interpolation)


def pad(
    img: Img,
    padding: int | Sequence[int],
    fill: float | Sequence[float] = 0,
    padding_mode: str = "constant",
) -> Img:
    """Pad every side.

    Args:
        img: the image.
        padding: an int, ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
        fill: the constant padding value, one or one per channel.
        padding_mode: ``'constant'``, ``'edge'``, ``'reflect'`` or ``'symmetric'``.

    Returns:
        The padded image.

    Raises:
        ValueError: another padding shape or mode.

    Examples:
        >>> import numpy as np
        >>> pad(np.array([[1, 2, 3, 4]]), (2, 0), padding_mode="symmetric").tolist()
        [[2, 1, 1, 2, 3, 4, 4, 3]]
    """
    _check(img, "pad")
    padding = tuple(padding) if isinstance(padding, list) else padding
    return _F.pad(img, _F.padding4(padding), fill, padding_mode)


def crop(img: Img, top: int, left: int, height: int, width: int) -> Img:
    """The ``height x width`` region whose top-left pixel is ``(top, left)``.

    Examples:
        >>> import numpy as np
        >>> crop(np.arange(16).reshape(4, 4), 1, 2, 2, 2).tolist()
        [[6, 7], [10, 11]]
    """
    _check(img, "crop")
    return _F.crop(img, int(top), int(left), int(height), int(width))


def center_crop(img: Img, output_size: int | Sequence[int]) -> Img:
    """The central ``output_size`` (an int or ``(h, w)``) region.

    Examples:
        >>> import numpy as np
        >>> center_crop(np.arange(16).reshape(4, 4), 2).tolist()
        [[5, 6], [9, 10]]
    """
    _check(img, "center_crop")
    th, tw = _F.pair(output_size, "output_size")
    h, w = _F.get_size(img)
    return _F.crop(img, round((h - th) / 2.0), round((w - tw) / 2.0), th, tw)


def adjust_brightness(img: Img, brightness_factor: float) -> Img:
    """Scale the values by ``brightness_factor`` (0: black, 1: unchanged).

    Examples:
        >>> import numpy as np
        >>> adjust_brightness(np.full((1, 1, 3), 100, dtype=np.uint8), 1.5).ravel().tolist()
        [150, 150, 150]
    """
    _check(img, "adjust_brightness")
    return _F.adjust(img, "brightness", brightness_factor)


def adjust_contrast(img: Img, contrast_factor: float) -> Img:
    """Blend with the image's mean grey (0: flat grey, 1: unchanged).

    Examples:
        >>> import torch
        >>> adjust_contrast(torch.tensor([[[0, 200]]], dtype=torch.uint8), 0.5).tolist()
        [[[50, 150]]]
    """
    _check(img, "adjust_contrast")
    return _F.adjust(img, "contrast", contrast_factor)


def adjust_saturation(img: Img, saturation_factor: float) -> Img:
    """Blend with the grey image (0: grey, 1: unchanged, 2: twice as saturated).

    Examples:
        >>> from PIL import Image
        >>> img = Image.new("RGB", (1, 1), (200, 100, 0))
        >>> adjust_saturation(img, 0.0).getpixel((0, 0))
        (118, 118, 118)
    """
    _check(img, "adjust_saturation")
    return _F.adjust(img, "saturation", saturation_factor)


def adjust_hue(img: Img, hue_factor: float) -> Img:
    """Rotate the hue by ``hue_factor`` turns, in [-0.5, 0.5] (PIL images and ``uint8``
    arrays / tensors: PIL's 8-bit HSV, shifted by ``int(hue_factor * 255)`` levels).

    Raises:
        ValueError: ``hue_factor`` outside [-0.5, 0.5].

    Examples:
        >>> from PIL import Image
        >>> adjust_hue(Image.new("RGB", (1, 1), (255, 0, 0)), 0.5).getpixel((0, 0))
        (0, 255, 252)
    """
    _check(img, "adjust_hue")
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"hue_factor must be in [-0.5, 0.5], got {hue_factor!r}")
    return _F.adjust(img, "hue", hue_factor)


def _interpolation(value: str) -> str:
    if value not in ("nearest", "bilinear", "bicubic"):
        raise ValueError(f"interpolation must be 'nearest', 'bilinear' or 'bicubic', got {value!r}")
    return value


def affine(
    img: Img,
    angle: float,
    translate: Sequence[float],
    scale: float,
    shear: float | Sequence[float],
    interpolation: str = "nearest",
    fill: float | Sequence[float] = 0,
    center: Sequence[float] | None = None,
) -> Img:
    """Rotate (``angle`` degrees, clockwise) and shear about ``center``, scale, translate.

    Args:
        img: the image.
        angle: degrees, clockwise.
        translate: ``(tx, ty)`` pixels.
        scale: > 0.
        shear: degrees: ``s`` (an x shear), ``(s,)`` (both) or ``(sx, sy)``.
        interpolation: ``'nearest'``, ``'bilinear'`` or ``'bicubic'``.
        fill: the value of pixels from outside the image, one or one per channel.
        center: ``(x, y)``; None: the image centre.

    Returns:
        The transformed image, of the same size.

    Raises:
        TypeError: ``angle`` not a number, ``translate`` not a sequence.
        ValueError: ``translate`` or ``shear`` of another length, ``scale <= 0``, another
            interpolation.

    Examples:
        >>> import torch
        >>> x = torch.arange(9, dtype=torch.uint8).reshape(1, 3, 3)
        >>> affine(x, 0, (1, 0), 1.0, 0)[0].tolist()  # one pixel right
        [[0, 0, 1], [0, 3, 4], [0, 6, 7]]
    """
    _check(img, "affine")
    if not isinstance(angle, numbers.Number) or isinstance(angle, bool):
        raise TypeError(f"angle must be a number of degrees, got {angle!r}")
    if not isinstance(translate, (list, tuple)) or len(translate) != 2:
        raise ValueError(f"translate must be a sequence (tx, ty), got {translate!r}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    if isinstance(shear, numbers.Number):
        shear = [float(shear), 0.0]
    elif isinstance(shear, (list, tuple)) and len(shear) == 1:
        shear = [float(shear[0]), float(shear[0])]
    if not isinstance(shear, (list, tuple)) or len(shear) != 2:
        raise ValueError(f"shear must be a number or a sequence of 1 or 2 numbers, got {shear!r}")
    return _F.affine(img, float(angle), tuple(translate), float(scale), tuple(shear),
                     _interpolation(interpolation), fill, center)  # fmt: skip


def rotate(
    img: Img,
    angle: float,
    interpolation: str = "nearest",
    expand: bool = False,
    center: Sequence[float] | None = None,
    fill: float | Sequence[float] = 0,
) -> Img:
    """Rotate by ``angle`` degrees counter-clockwise (PIL's ``Image.rotate``).

    Args:
        img: the image.
        angle: degrees, counter-clockwise.
        interpolation: ``'nearest'``, ``'bilinear'`` or ``'bicubic'``.
        expand: grow the output to hold the whole rotated image.
        center: ``(x, y)``; None: the image centre.
        fill: the value of pixels from outside the image, one or one per channel.

    Returns:
        The rotated image.

    Examples:
        >>> from PIL import Image
        >>> rotate(Image.new("RGB", (40, 20)), 90, expand=True).size
        (20, 40)
    """
    _check(img, "rotate")
    return _F.rotate(img, float(angle), _interpolation(interpolation), fill, expand=expand,
                     center=center)  # fmt: skip


def perspective(
    img: Img,
    startpoints: Sequence[Sequence[float]],
    endpoints: Sequence[Sequence[float]],
    interpolation: str = "nearest",
    fill: float | Sequence[float] = 0,
) -> Img:
    """Warp so that the corners ``startpoints`` (top-left, top-right, bottom-right,
    bottom-left ``[x, y]``) go to ``endpoints``; the size is kept.

    Returns:
        The warped image.

    Examples:
        >>> import torch
        >>> x = torch.arange(9, dtype=torch.uint8).reshape(1, 3, 3)
        >>> start = [[0, 0], [2, 0], [2, 2], [0, 2]]
        >>> end = [[1, 0], [3, 0], [3, 2], [1, 2]]  # everything one pixel right
        >>> perspective(x, start, end)[0].tolist()
        [[0, 0, 1], [0, 3, 4], [0, 6, 7]]
    """
    _check(img, "perspective")
    return _F.perspective(img, startpoints, endpoints, _interpolation(interpolation), fill)


def to_grayscale(img: Img, num_output_channels: int = 1) -> Img:
    """The luma image (PIL's ``convert('L')``) with 1 or 3 equal channels.

    Raises:
        ValueError: ``num_output_channels`` is not 1 or 3.

    Examples:
        >>> import torch
        >>> to_grayscale(torch.zeros(3, 4, 4, dtype=torch.uint8), 3).shape
        torch.Size([3, 4, 4])
    """
    _check(img, "to_grayscale")
    return _F.to_grayscale(img, num_output_channels)


def normalize(
    img: Img,
    mean: float | Sequence[float],
    std: float | Sequence[float],
    data_format: str = "CHW",
    to_rgb: bool = False,
) -> Any:
    """``(img - mean) / std`` per channel, in ``float32`` (PIL images become HWC arrays).

    Examples:
        >>> import torch
        >>> normalize(torch.ones(3, 1, 1), [0.5] * 3, [0.5] * 3).flatten().tolist()
        [1.0, 1.0, 1.0]
    """
    return Normalize(mean, std, data_format, to_rgb)(img)


def erase(img: Img, i: int, j: int, h: int, w: int, v: Any, inplace: bool = False) -> Img:
    """Set the ``h x w`` region at row ``i``, column ``j`` to ``v`` (a number, one value per
    channel, or an array / tensor of the region's shape); ``inplace`` modifies arrays and
    tensors in place (PIL images never are).

    Examples:
        >>> import torch
        >>> erase(torch.ones(1, 2, 3), 0, 1, 1, 2, 0)[0].tolist()
        [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    """
    _check(img, "erase")
    if inplace and isinstance(img, torch.Tensor):
        value = torch.as_tensor(v, dtype=img.dtype)
        if value.ndim == 1 and img.ndim == 3:
            value = value.reshape(-1, 1, 1)
        img[..., i : i + h, j : j + w] = value
        return img
    if inplace and isinstance(img, np.ndarray):
        img[i : i + h, j : j + w] = v
        return img
    return _F.erase(img, i, j, h, w, v)
