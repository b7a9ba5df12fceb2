"""Geometric and colour transforms (``paddle.vision.transforms`` namesakes, Paddle's arguments).

Like the transforms in :mod:`resvision.data.transforms`, each accepts PIL images, HWC arrays and
CHW tensors, and random ones draw from torch's global generator (seeded per sample by the
loaders). PIL images go through PIL (Paddle's PIL backend: the same pixels), arrays and tensors
through the kernels of :mod:`resvision.data.kernels`, which the batched forms of the fast loader
run on whole batches.

``keys``, as Paddle's ``BaseTransform``: called on a tuple, a transform applies itself to the
first ``len(keys)`` items, each as its key says, and passes the rest through; ``'image'`` items
are transformed, ``'mask'`` items (segmentation maps) get the same geometry with nearest
interpolation and 0 outside the image, and no colour change. The random parameters are drawn
once per call and shared by all the items, so an image and its mask stay aligned (Paddle's own
transforms draw again for each ``'image'`` item and have no ``'mask'``). Paddle's ``'coords'``
and ``'boxes'`` are refused when the transform is made. The machinery lives in
:class:`resvision.data.transforms.BaseTransform` (``KeyedTransform`` is its former name).

>>> import numpy as np
>>> flip = RandomVerticalFlip(1.0, keys=("image", "mask"))
>>> image, mask, label = flip((np.array([[1], [2]]), np.array([[0], [5]]), 3))
>>> image.tolist(), mask.tolist(), label
([[2], [1]], [[5], [0]], 3)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from resvision.data import functional as F
from resvision.data.batch_transforms import (
    BatchAlternatingFlip,
    BatchCenterCrop,
    BatchColorAdjust,
    BatchGrayscale,
    BatchPlanState,
    BatchRandomAffine,
    BatchRandomCrop,
    BatchRandomErasing,
    BatchRandomHorizontalFlip,
    BatchRandomRotation,
    BatchRandomVerticalFlip,
    NotBatchableError,
)
from resvision.data.epoch_context import alternating_flip, current_sample
from resvision.data.transforms import KeyedTransform, check_keys

__all__ = [
    "BrightnessTransform",
    "CenterCrop",
    "ColorJitter",
    "ContrastTransform",
    "Grayscale",
    "HueTransform",
    "KeyedTransform",
    "Pad",
    "RandomAffine",
    "RandomCrop",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomPerspective",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomVerticalFlip",
    "Resize",
    "SaturationTransform",
]

_GEOMETRIC_INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


def _on_mask(mask: Any, op: Callable[[Any], Any]) -> Any:
    """``op(mask)`` for masks of any integer dtype: the kernels take ``uint8`` or floating
    images, so other integer masks go through ``float32`` (exact below 2**24) and back."""
    if isinstance(mask, np.ndarray) and mask.dtype != np.uint8 and mask.dtype.kind in "biu":
        return np.rint(op(mask.astype(np.float32))).astype(mask.dtype)
    if (
        isinstance(mask, torch.Tensor)
        and mask.dtype != torch.uint8
        and not mask.is_floating_point()
    ):
        return op(mask.float()).round().to(mask.dtype)
    return op(mask)


def _check_interpolation(value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"interpolation must be one of {list(choices)}, got {value!r}")
    return value


def _resize_target(h: int, w: int, size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int):  # the smaller edge becomes ``size``, aspect ratio kept
        if w <= h:
            return (int(size * h / w), size) if w != size else (h, w)
        return (size, int(size * w / h)) if h != size else (h, w)
    return size


def _uniform(low: float, high: float) -> float:
    return torch.empty(()).uniform_(low, high).item()


class Resize(KeyedTransform):
    """Resize to ``size``: an int sets the smaller edge (aspect ratio kept), ``(h, w)`` is exact.

    Args:
        size: an int or ``(h, w)``.
        interpolation: ``'nearest'``, ``'bilinear'`` (default), ``'bicubic'``, ``'box'``,
            ``'lanczos'`` or ``'hamming'`` (masks: always nearest).
        keys: see the module's docstring.

    Examples:
        >>> from PIL import Image
        >>> Resize(16)(Image.new("RGB", (64, 32))).size
        (32, 16)
    """

    def __init__(
        self,
        size: int | Sequence[int],
        interpolation: str = "bilinear",
        keys: Sequence[str] | None = None,
    ) -> None:
        self.size = size if isinstance(size, int) else F.pair(size, "size")
        if isinstance(size, int) and size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        self.interpolation = _check_interpolation(interpolation, sorted(F.INTERPOLATIONS))
        self.keys = check_keys(keys, "Resize")

    def _resized(self, img: Any, interpolation: str) -> Any:
        h, w = F.get_size(img)
        target = _resize_target(h, w, self.size)
        return img if target == (h, w) else F.resize(img, target, interpolation)

    def _apply_image(self, img: Any, params: Any) -> Any:
        return self._resized(img, self.interpolation)

    def _apply_mask(self, mask: Any, params: Any) -> Any:
        return _on_mask(mask, lambda m: self._resized(m, "nearest"))

    def batched(self, state: BatchPlanState) -> None:
        self._image_only()
        _, h, w = state.shape
        if _resize_target(h, w, self.size) != (h, w):
            raise NotBatchableError(f"{self!r} changes the size of {h}x{w} images")
        return None  # a no-op on these images


class CenterCrop(KeyedTransform):
    """Crop the central ``size`` region (an int or ``(h, w)``).

    Raises:
        ValueError: the image is smaller than ``size``.

    Examples:
        >>> import numpy as np
        >>> CenterCrop(2)(np.arange(16).reshape(4, 4)).tolist()
        [[5, 6], [9, 10]]
    """

    def __init__(self, size: int | Sequence[int], keys: Sequence[str] | None = None) -> None:
        self.size = F.pair(size, "size")
        self.keys = check_keys(keys, "CenterCrop")

    def _apply_image(self, img: Any, params: Any) -> Any:
        h, w = F.get_size(img)
        th, tw = self.size
        if th > h or tw > w:
            raise ValueError(f"CenterCrop size {self.size} is larger than the image ({h}, {w})")
        top, left = round((h - th) / 2.0), round((w - tw) / 2.0)
        return F.crop(img, top, left, th, tw)

    _apply_mask = _apply_image

    def batched(self, state: BatchPlanState) -> Callable:
        self._image_only()
        c, h, w = state.shape
        if self.size[0] > h or self.size[1] > w:
            raise ValueError(f"CenterCrop size {self.size} is larger than the images ({h}, {w})")
        state.shape = (c, *self.size)
        return BatchCenterCrop(self.size)


class RandomCrop(KeyedTransform):
    """Crop ``size`` at a random position, after optional padding.

    Args:
        size: an int or ``(h, w)``.
        padding: an int, ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
        pad_if_needed: pad images smaller than ``size`` so that the crop fits.
        fill: the constant padding value (one value or one per channel; masks: 0).
        padding_mode: ``'constant'``, ``'edge'``, ``'reflect'`` or ``'symmetric'``.
        keys: see the module's docstring.

    Examples:
        >>> import torch
        >>> RandomCrop(32, padding=4)(torch.zeros(3, 32, 32, dtype=torch.uint8)).shape
        torch.Size([3, 32, 32])
    """

    def __init__(
        self,
        size: int | Sequence[int],
        padding: int | Sequence[int] | None = None,
        pad_if_needed: bool = False,
        fill: float | Sequence[float] = 0,
        padding_mode: str = "constant",
        keys: Sequence[str] | None = None,
    ) -> None:
        self.size = F.pair(size, "size")
        self.padding = None if padding is None else F.padding4(padding)
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(
                f"padding_mode must be constant, edge, reflect or symmetric, got {padding_mode!r}"
            )
        self.padding_mode = padding_mode
        self.keys = check_keys(keys, "RandomCrop")

    def _total_padding(self, h: int, w: int) -> tuple[int, int, int, int]:
        left, top, right, bottom = self.padding or (0, 0, 0, 0)
        th, tw = self.size
        if self.pad_if_needed:
            # Paddle/torchvision: pad both sides by the shortfall.
            if w + left + right < tw:
                extra = tw - (w + left + right)
                left, right = left + extra, right + extra
            if h + top + bottom < th:
                extra = th - (h + top + bottom)
                top, bottom = top + extra, bottom + extra
        return left, top, right, bottom

    def _params(self, img: Any) -> tuple[tuple[int, int, int, int], int, int]:
        h, w = F.get_size(img)
        padding = self._total_padding(h, w)
        h, w = h + padding[1] + padding[3], w + padding[0] + padding[2]
        th, tw = self.size
        if th > h or tw > w:
            raise ValueError(
                f"RandomCrop size {self.size} is larger than the (padded) image ({h}, {w}); "
                "use padding or pad_if_needed=True"
            )
        top = int(torch.randint(0, h - th + 1, (1,)).item())
        left = int(torch.randint(0, w - tw + 1, (1,)).item())
        return padding, top, left

    def _crop(self, img: Any, params: Any, fill: Any) -> Any:
        padding, top, left = params
        if any(padding):
            img = F.pad(img, padding, fill, self.padding_mode)
        return F.crop(img, top, left, *self.size)

    def _apply_image(self, img: Any, params: Any) -> Any:
        return self._crop(img, params, self.fill)

    def _apply_mask(self, mask: Any, params: Any) -> Any:
        return self._crop(mask, params, 0)

    def batched(self, state: BatchPlanState) -> Callable:
        self._image_only()
        c, h, w = state.shape
        padding = self._total_padding(h, w)
        if self.size[0] > h + padding[1] + padding[3] or self.size[1] > w + padding[0] + padding[2]:
            raise ValueError(f"RandomCrop size {self.size} is larger than the images ({h}, {w})")
        state.shape = (c, *self.size)
        return BatchRandomCrop(self.size, padding, self.fill, padding_mode=self.padding_mode)


class RandomHorizontalFlip(KeyedTransform):
    """Flip left-right with probability ``prob``; or, with ``alternate=True``, the alternating
    flip of airbench (Jordan 2024): each image is mirrored on every other epoch, starting
    mirrored or not at random (fixed per image), see :mod:`resvision.data.epoch_context`.

    The alternating flip needs to know the image and the epoch: resvision's loaders tell it
    (both the fast path and the DataLoader path, identically). Applied outside them, where
    there is no epoch, it falls back to a random flip with probability 0.5.

    Examples:
        >>> import numpy as np
        >>> RandomHorizontalFlip(prob=1.0)(np.array([[1, 2, 3]])).tolist()
        [[3, 2, 1]]
        >>> from resvision.data.epoch_context import sample_context
        >>> flip = RandomHorizontalFlip(alternate=True)
        >>> with sample_context(index=7, epoch=0, seed=0):
        ...     a = flip(np.array([[1, 2, 3]])).tolist()
        >>> with sample_context(index=7, epoch=1, seed=0):
        ...     b = flip(np.array([[1, 2, 3]])).tolist()
        >>> sorted([a, b])
        [[[1, 2, 3]], [[3, 2, 1]]]
    """

    def __init__(
        self, prob: float = 0.5, keys: Sequence[str] | None = None, alternate: bool = False
    ) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        if alternate and prob != 0.5:
            raise ValueError(
                f"the alternating flip mirrors half of the time: prob must be 0.5, got {prob}"
            )
        self.prob = float(prob)
        self.alternate = bool(alternate)
        self.keys = check_keys(keys, "RandomHorizontalFlip")

    def _params(self, img: Any) -> bool:
        ctx = current_sample() if self.alternate else None
        if ctx is not None:
            return alternating_flip(ctx.index, ctx.epoch, ctx.seed)
        return torch.rand(()).item() < self.prob

    def _apply_image(self, img: Any, params: bool) -> Any:
        return F.hflip(img) if params else img

    _apply_mask = _apply_image

    def batched(self, state: BatchPlanState) -> Callable:
        self._image_only()
        return BatchAlternatingFlip() if self.alternate else BatchRandomHorizontalFlip(self.prob)


class RandomVerticalFlip(KeyedTransform):
    """Flip top-bottom with probability ``prob`` (Paddle's ``RandomVerticalFlip``).

    Args:
        prob: the probability of flipping, in [0, 1].
        keys: see the module's docstring.

    Raises:
        ValueError: ``prob`` outside [0, 1].

    Examples:
        >>> import numpy as np
        >>> RandomVerticalFlip(prob=1.0)(np.array([[1], [2], [3]])).tolist()
        [[3], [2], [1]]
    """

    def __init__(self, prob: float = 0.5, keys: Sequence[str] | None = None) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        self.prob = float(prob)
        self.keys = check_keys(keys, "RandomVerticalFlip")

    def _params(self, img: Any) -> bool:
        return torch.rand(()).item() < self.prob

    def _apply_image(self, img: Any, params: bool) -> Any:
        return F.vflip(img) if params else img

    _apply_mask = _apply_image

    def batched(self, state: BatchPlanState) -> Callable:
        self._image_only()
        return BatchRandomVerticalFlip(self.prob)


class RandomResizedCrop(KeyedTransform):
    """Crop a random area fraction ``scale`` and aspect ratio ``ratio``, resized to ``size``.

    Examples:
        >>> from PIL import Image
        >>> RandomResizedCrop(24)(Image.new("RGB", (64, 48))).size
        (24, 24)
    """

    def __init__(
        self,
        size: int | Sequence[int],
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        interpolation: str = "bilinear",
        keys: Sequence[str] | None = None,
    ) -> None:
        self.size = F.pair(size, "size")
        if not (len(scale) == 2 and 0 < scale[0] <= scale[1]):
            raise ValueError(f"scale must be (min, max) with 0 < min <= max, got {scale!r}")
        if not (len(ratio) == 2 and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f"ratio must be (min, max) with 0 < min <= max, got {ratio!r}")
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.interpolation = _check_interpolation(interpolation, sorted(F.INTERPOLATIONS))
        self.keys = check_keys(keys, "RandomResizedCrop")

    def _params(self, img: Any) -> tuple[int, int, int, int]:
        h, w = F.get_size(img)
        return F.random_crop_box(h, w, self.scale, self.ratio)

    def _apply_image(self, img: Any, params: Any) -> Any:
        return F.resize(F.crop(img, *params), self.size, self.interpolation)

    def _apply_mask(self, mask: Any, params: Any) -> Any:
        return _on_mask(mask, lambda m: F.resize(F.crop(m, *params), self.size, "nearest"))


# ---------------------------------------------------------------------------------- colour
def _factor_range(
    value: Any,
    name: str,
    center: float = 1.0,
    bound: tuple[float, float] = (0.0, math.inf),
    clip_first_on_zero: bool = True,
    max_number: float = math.inf,
) -> tuple[float, float] | None:
    """Paddle's colour ranges: a number ``v`` gives ``[center - v, center + v]`` (the low end
    clipped at 0 for factors), a pair is taken as it is (within ``bound``); None when the
    range is the single point ``center`` (the transform does nothing)."""
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        if not 0 <= value <= max_number:
            raise ValueError(
                f"{name} must be a number in [0, {max_number}] or a (low, high) pair, got {value!r}"
            )
        low, high = center - float(value), center + float(value)
        if clip_first_on_zero:
            low = max(low, 0.0)
    elif (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, numbers.Number) for v in value)
    ):
        low, high = float(value[0]), float(value[1])
        if not bound[0] <= low <= high <= bound[1]:
            raise ValueError(
                f"{name} range must satisfy {bound[0]} <= low <= high <= {bound[1]}, got {value!r}"
            )
    else:
        raise ValueError(
            f"{name} must be a non-negative number or a (low, high) pair, got {value!r}"
        )
    return None if low == high == center else (low, high)


_HUE_RANGE = {"center": 0.0, "bound": (-0.5, 0.5), "clip_first_on_zero": False, "max_number": 0.5}


class _ColorTransform(KeyedTransform):
    """One colour adjustment at a factor drawn uniformly in ``self.range`` (None: nothing)."""

    kind = "brightness"
    range: tuple[float, float] | None

    def __init__(self, value: float | Sequence[float], keys: Sequence[str] | None = None) -> None:
        self.value = value
        self.range = _factor_range(value, self.kind, **(_HUE_RANGE if self.kind == "hue" else {}))
        self.keys = check_keys(keys, type(self).__name__)

    def _params(self, img: Any) -> float | None:
        return None if self.range is None else _uniform(*self.range)

    def _apply_image(self, img: Any, params: float | None) -> Any:
        return img if params is None else F.adjust(img, self.kind, params)

    def batched(self, state: BatchPlanState) -> Callable | None:
        self._image_only()
        return None if self.range is None else BatchColorAdjust(self.kind, *self.range)


class BrightnessTransform(_ColorTransform):
    """Scale the brightness by a factor drawn uniformly in ``[max(0, 1 - value), 1 + value]``
    (or in ``value = (low, high)``), Paddle's ``BrightnessTransform``.

    Args:
        value: a non-negative number (0: unchanged) or a ``(low, high)`` pair of factors.
        keys: see the module's docstring.

    Raises:
        ValueError: a negative number, a reversed or negative pair.

    Examples:
        >>> import torch
        >>> x = torch.full((3, 2, 2), 100, dtype=torch.uint8)
        >>> BrightnessTransform((1.5, 1.5))(x).unique().tolist()
        [150]
    """

    kind = "brightness"


class ContrastTransform(_ColorTransform):
    """Blend with the mean grey by a factor drawn uniformly in ``[max(0, 1 - value), 1 +
    value]`` (or in ``value = (low, high)``), Paddle's ``ContrastTransform``.

    Args:
        value: a non-negative number (0: unchanged) or a ``(low, high)`` pair of factors.
        keys: see the module's docstring.

    Raises:
        ValueError: a negative number, a reversed or negative pair.

    Examples:
        >>> import torch
        >>> x = torch.tensor([[[0, 200]]], dtype=torch.uint8)
        >>> ContrastTransform((0.0, 0.0))(x).tolist()  # factor 0: the mean grey
        [[[100, 100]]]
    """

    kind = "contrast"


class SaturationTransform(_ColorTransform):
    """Blend with the grey image by a factor drawn uniformly in ``[max(0, 1 - value), 1 +
    value]`` (or in ``value = (low, high)``), Paddle's ``SaturationTransform``.

    Args:
        value: a non-negative number (0: unchanged) or a ``(low, high)`` pair of factors.
        keys: see the module's docstring.

    Raises:
        ValueError: a negative number, a reversed or negative pair.

    Examples:
        >>> from PIL import Image
        >>> SaturationTransform((0.0, 0.0))(Image.new("RGB", (1, 1), (255, 0, 0))).getpixel((0, 0))
        (76, 76, 76)
    """

    kind = "saturation"


class HueTransform(_ColorTransform):
    """Rotate the hue by a shift drawn uniformly in ``[-value, value]`` turns (or in ``value =
    (low, high)``, within [-0.5, 0.5]), Paddle's ``HueTransform``.

    Args:
        value: a number in [0, 0.5] (0: unchanged) or a ``(low, high)`` pair.
        keys: see the module's docstring.

    Raises:
        ValueError: a number outside [0, 0.5], a pair outside [-0.5, 0.5] or reversed.

    Examples:
        >>> from PIL import Image
        >>> HueTransform((0.5, 0.5))(Image.new("RGB", (1, 1), (255, 0, 0))).getpixel((0, 0))
        (0, 255, 252)
    """

    kind = "hue"


class ColorJitter(KeyedTransform):
    """Random brightness, contrast, saturation and hue changes, applied in a random order.

    Args:
        brightness, contrast, saturation: ``v`` draws a factor uniformly in
            ``[max(0, 1 - v), 1 + v]`` (a ``(low, high)`` pair: in it); 0 leaves that property
            unchanged.
        hue: ``v`` in ``[0, 0.5]`` draws a hue shift uniformly in ``[-v, v]`` (a pair: in it,
            within [-0.5, 0.5]).
        keys: see the module's docstring.

    Examples:
        >>> from PIL import Image
        >>> ColorJitter(0.4, 0.4, 0.4, 0.1)(Image.new("RGB", (8, 8), (90, 30, 200))).size
        (8, 8)
    """

    def __init__(
        self,
        brightness: float | Sequence[float] = 0,
        contrast: float | Sequence[float] = 0,
        saturation: float | Sequence[float] = 0,
        hue: float | Sequence[float] = 0,
        keys: Sequence[str] | None = None,
    ) -> None:
        self._ranges = [
            ("brightness", _factor_range(brightness, "brightness")),
            ("contrast", _factor_range(contrast, "contrast")),
            ("saturation", _factor_range(saturation, "saturation")),
            ("hue", _factor_range(hue, "hue", **_HUE_RANGE)),
        ]
        as_float = lambda v: float(v) if isinstance(v, numbers.Number) else tuple(v)  # noqa: E731
        self.brightness, self.contrast = as_float(brightness), as_float(contrast)
        self.saturation, self.hue = as_float(saturation), as_float(hue)
        self.keys = check_keys(keys, "ColorJitter")

    def _params(self, img: Any) -> list[tuple[str, float]]:
        steps = []
        for k in torch.randperm(4).tolist():
            kind, r = self._ranges[k]
            if r is not None:
                steps.append((kind, _uniform(*r)))
        return steps

    def _apply_image(self, img: Any, params: list[tuple[str, float]]) -> Any:
        for kind, factor in params:
            img = F.adjust(img, kind, factor)
        return img

    def batched(self, state: BatchPlanState) -> None:
        if any(r is not None for _, r in self._ranges):
            raise NotBatchableError(f"{self!r} has no batched equivalent")
        return None


class Grayscale(KeyedTransform):
    """Convert to grey (ITU-R 601-2 luma, PIL's ``convert('L')``) with 1 or 3 channels,
    Paddle's ``Grayscale``.

    Args:
        num_output_channels: 1 (PIL mode ``'L'``, ``H x W x 1`` arrays, ``1 x H x W``
            tensors) or 3 (equal channels).
        keys: see the module's docstring.

    Raises:
        ValueError: ``num_output_channels`` is not 1 or 3.

    Examples:
        >>> import numpy as np
        >>> Grayscale()(np.full((2, 2, 3), (255, 0, 0), dtype=np.uint8))[..., 0].tolist()
        [[76, 76], [76, 76]]
    """

    def __init__(self, num_output_channels: int = 1, keys: Sequence[str] | None = None) -> None:
        if num_output_channels not in (1, 3):
            raise ValueError(f"num_output_channels must be 1 or 3, got {num_output_channels!r}")
        self.num_output_channels = num_output_channels
        self.keys = check_keys(keys, "Grayscale")

    def _apply_image(self, img: Any, params: Any) -> Any:
        return F.to_grayscale(img, self.num_output_channels)

    def batched(self, state: BatchPlanState) -> Callable:
        self._image_only()
        _, h, w = state.shape
        state.shape = (self.num_output_channels, h, w)
        return BatchGrayscale(self.num_output_channels)


# ------------------------------------------------------------------------------- geometric
class Pad(KeyedTransform):
    """Pad every side, Paddle's ``Pad``.

    Args:
        padding: an int (all sides), ``(left/right, top/bottom)`` or ``(left, top, right,
            bottom)``.
        fill: the value of constant padding: one number or one per channel (masks: 0).
        padding_mode: ``'constant'``, ``'edge'``, ``'reflect'`` (without repeating the edge
            pixel) or ``'symmetric'`` (repeating it).
        keys: see the module's docstring.

    Raises:
        ValueError: another padding shape or mode.

    Examples:
        >>> import numpy as np
        >>> Pad((1, 0), padding_mode="reflect")(np.array([[1, 2, 3]])).tolist()
        [[2, 1, 2, 3, 2]]
    """

    def __init__(
        self,
        padding: int | Sequence[int],
        fill: float | Sequence[float] = 0,
        padding_mode: str = "constant",
        keys: Sequence[str] | None = None,
    ) -> None:
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(
                f"padding_mode must be constant, edge, reflect or symmetric, got {padding_mode!r}"
            )
        self._padding = F.padding4(tuple(padding) if isinstance(padding, list) else padding)
        self.padding = tuple(padding) if isinstance(padding, list) else padding
        self.fill = tuple(fill) if isinstance(fill, list) else fill
        self.padding_mode = padding_mode
        self.keys = check_keys(keys, "Pad")

    def _apply_image(self, img: Any, params: Any) -> Any:
        return F.pad(img, self._padding, self.fill, self.padding_mode)

    def _apply_mask(self, mask: Any, params: Any) -> Any:
        return F.pad(mask, self._padding, 0, self.padding_mode)

    def batched(self, state: BatchPlanState) -> Callable:
        self._image_only()
        c, h, w = state.shape
        left, top, right, bottom = self._padding
        size = (h + top + bottom, w + left + right)
        state.shape = (c, *size)
        # a crop of the whole padded image: one position only, so nothing random
        return BatchRandomCrop(size, self._padding, self.fill, padding_mode=self.padding_mode)


def _angle_range(value: Any, name: str, sizes: Sequence[int] = (2,)) -> list[float]:
    """Paddle's angle ranges: a number ``d >= 0`` is ``[-d, d]``; else a sequence of a length
    in ``sizes``."""
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{name} must be non-negative when a single number, got {value!r}")
        return [-float(value), float(value)]
    if not isinstance(value, Sequence) or len(value) not in sizes:
        lengths = " or ".join(str(s) for s in sizes)
        raise ValueError(
            f"{name} must be a number or a sequence of {lengths} numbers, got {value!r}"
        )
    return [float(v) for v in value]


def _pair_of(value: Any, name: str) -> None:
    if not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{name} must be a sequence of 2 numbers, got {value!r}")


class RandomAffine(KeyedTransform):
    """A random affine map: rotation, translation, scale and shear, Paddle's ``RandomAffine``.

    Args:
        degrees: the rotation range in degrees, clockwise: ``d`` is ``(-d, d)``, or ``(low,
            high)``.
        translate: ``(a, b)`` in [0, 1]: shifts drawn in ``(-a W, a W)`` and ``(-b H, b H)``,
            truncated to whole pixels; None: none.
        scale: ``(low, high)``, positive: a scale drawn in it; None: 1.
        shear: degrees: ``s`` is an x shear in ``(-s, s)``; ``(low, high)`` an x shear; ``(xl,
            xh, yl, yh)`` x and y shears; None: none.
        interpolation: ``'nearest'``, ``'bilinear'`` or ``'bicubic'`` (masks: nearest).
        fill: the value of pixels from outside the image (one, or one per channel; masks: 0).
        center: ``(x, y)`` of the rotation and shear; None: the image centre.
        keys: see the module's docstring.

    Raises:
        ValueError: a range of the wrong length, translations outside [0, 1], a scale <= 0,
            another interpolation.

    Examples:
        >>> import torch
        >>> RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1))(torch.ones(3, 8, 8)).shape
        torch.Size([3, 8, 8])
    """

    def __init__(
        self,
        degrees: float | Sequence[float],
        translate: Sequence[float] | None = None,
        scale: Sequence[float] | None = None,
        shear: float | Sequence[float] | None = None,
        interpolation: str = "nearest",
        fill: float | Sequence[float] = 0,
        center: Sequence[float] | None = None,
        keys: Sequence[str] | None = None,
    ) -> None:
        self.degrees = _angle_range(degrees, "degrees")
        if translate is not None:
            _pair_of(translate, "translate")
            if not all(0.0 <= t <= 1.0 for t in translate):
                raise ValueError(f"translate values must be in [0, 1], got {translate!r}")
        if scale is not None:
            _pair_of(scale, "scale")
            if not all(s > 0 for s in scale):
                raise ValueError(f"scale values must be positive, got {scale!r}")
        if fill is None:
            fill = 0
        elif not isinstance(fill, (Sequence, numbers.Number)):
            raise ValueError(f"fill must be a number or a sequence, got {fill!r}")
        if center is not None:
            _pair_of(center, "center")
        self.translate, self.scale = translate, scale
        self.shear = None if shear is None else _angle_range(shear, "shear", (2, 4))
        self.interpolation = _check_interpolation(interpolation, _GEOMETRIC_INTERPOLATIONS)
        self.fill, self.center = fill, center
        self.keys = check_keys(keys, "RandomAffine")

    def _params(self, img: Any) -> tuple[float, tuple[int, int], float, tuple[float, float]]:
        h, w = F.get_size(img)
        angle = _uniform(*self.degrees)
        tx = ty = 0
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * w, self.translate[1] * h
            tx, ty = int(_uniform(-max_dx, max_dx)), int(_uniform(-max_dy, max_dy))
        scale = 1.0 if self.scale is None else _uniform(self.scale[0], self.scale[1])
        shear_x = shear_y = 0.0
        if self.shear is not None:
            shear_x = _uniform(self.shear[0], self.shear[1])
            if len(self.shear) == 4:
                shear_y = _uniform(self.shear[2], self.shear[3])
        return angle, (tx, ty), scale, (shear_x, shear_y)

    def _apply_image(self, img: Any, params: Any) -> Any:
        return F.affine(img, *params, self.interpolation, self.fill, self.center)

    def _apply_mask(self, mask: Any, params: Any) -> Any:
        return _on_mask(mask, lambda m: F.affine(m, *params, "nearest", 0, self.center))

    def batched(self, state: BatchPlanState) -> Callable:
        self._image_only()
        return BatchRandomAffine(self.degrees, self.translate, self.scale, self.shear,
                                 self.interpolation, self.fill, self.center)  # fmt: skip


class RandomRotation(KeyedTransform):
    """Rotate by an angle drawn uniformly in ``degrees`` (counter-clockwise), Paddle's
    ``RandomRotation``.

    Args:
        degrees: ``d >= 0`` is ``(-d, d)``; or ``(low, high)``.
        interpolation: ``'nearest'``, ``'bilinear'`` or ``'bicubic'`` (masks: nearest).
        expand: grow the output to hold the whole rotated image (PIL's ``expand``).
        center: ``(x, y)`` of the rotation; None: the image centre.
        fill: the value of pixels from outside the image (one, or one per channel; masks: 0).
        keys: see the module's docstring.

    Raises:
        ValueError: a negative number, a sequence of another length, another interpolation.

    Examples:
        >>> import torch
        >>> x = torch.arange(4, dtype=torch.uint8).reshape(1, 2, 2)
        >>> RandomRotation((90, 90))(x).tolist()  # a quarter turn counter-clockwise
        [[[1, 3], [0, 2]]]
    """

    def __init__(
        self,
        degrees: float | Sequence[float],
        interpolation: str = "nearest",
        expand: bool = False,
        center: Sequence[float] | None = None,
        fill: float | Sequence[float] = 0,
        keys: Sequence[str] | None = None,
    ) -> None:
        self.degrees = tuple(_angle_range(degrees, "degrees"))
        self.interpolation = _check_interpolation(interpolation, _GEOMETRIC_INTERPOLATIONS)
        self.expand, self.center, self.fill = bool(expand), center, fill
        self.keys = check_keys(keys, "RandomRotation")

    def _params(self, img: Any) -> float:
        return _uniform(*self.degrees)

    def _apply_image(self, img: Any, params: float) -> Any:
        return F.rotate(img, params, self.interpolation, self.fill, expand=self.expand,
                        center=self.center)  # fmt: skip

    def _apply_mask(self, mask: Any, params: float) -> Any:
        return _on_mask(mask, lambda m: F.rotate(m, params, "nearest", 0, expand=self.expand,
                                                 center=self.center))  # fmt: skip

    def batched(self, state: BatchPlanState) -> Callable:
        self._image_only()
        if self.expand:
            raise NotBatchableError(f"{self!r}: expand=True gives each image its own size")
        return BatchRandomRotation(self.degrees, self.interpolation, self.center, self.fill)


class RandomPerspective(KeyedTransform):
    """With probability ``prob``, move the four corners inwards by random amounts (up to
    ``distortion_scale`` of half the width / height) and warp, Paddle's ``RandomPerspective``.

    Args:
        prob: the probability of warping, in [0, 1].
        distortion_scale: in [0, 1].
        interpolation: ``'nearest'``, ``'bilinear'`` or ``'bicubic'`` (masks: nearest).
        fill: the value of pixels from outside the image (one, or one per channel; masks: 0).
        keys: see the module's docstring.

    Raises:
        ValueError: ``prob`` or ``distortion_scale`` outside [0, 1], another interpolation.

    Examples:
        >>> import torch
        >>> RandomPerspective(prob=1.0)(torch.ones(3, 8, 6)).shape
        torch.Size([3, 8, 6])
    """

    def __init__(
        self,
        prob: float = 0.5,
        distortion_scale: float = 0.5,
        interpolation: str = "nearest",
        fill: float | Sequence[float] = 0,
        keys: Sequence[str] | None = None,
    ) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        if not 0.0 <= distortion_scale <= 1.0:
            raise ValueError(f"distortion_scale must be in [0, 1], got {distortion_scale}")
        self.prob, self.distortion_scale = float(prob), float(distortion_scale)
        self.interpolation = _check_interpolation(interpolation, _GEOMETRIC_INTERPOLATIONS)
        self.fill = fill
        self.keys = check_keys(keys, "RandomPerspective")

    def get_params(
        self, width: int, height: int, distortion_scale: float
    ) -> tuple[list[list[int]], list[list[int]]]:
        """``(startpoints, endpoints)``: the corners (top-left, top-right, bottom-right,
        bottom-left) of the image, and where they go, each moved inwards by a whole number of
        pixels drawn uniformly up to ``distortion_scale`` of half the width / height."""
        dx, dy = int(distortion_scale * (width // 2)), int(distortion_scale * (height // 2))

        def near(low: float, high: float) -> int:
            return int(_uniform(low, high))

        endpoints = [
            [near(0, dx + 1), near(0, dy + 1)],
            [near(width - dx - 1, width), near(0, dy + 1)],
            [near(width - dx - 1, width), near(height - dy - 1, height)],
            [near(0, dx + 1), near(height - dy - 1, height)],
        ]
        startpoints = [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]]
        return startpoints, endpoints

    def _params(self, img: Any) -> Any:
        if not torch.rand(()).item() < self.prob:
            return None
        h, w = F.get_size(img)
        return self.get_params(w, h, self.distortion_scale)

    def _apply_image(self, img: Any, params: Any) -> Any:
        if params is None:
            return img
        return F.perspective(img, *params, self.interpolation, self.fill)

    def _apply_mask(self, mask: Any, params: Any) -> Any:
        if params is None:
            return mask
        return _on_mask(mask, lambda m: F.perspective(m, *params, "nearest", 0))


class RandomErasing(KeyedTransform):
    """Erase a random rectangle with probability ``prob`` (Zhong et al., 2017).

    Args:
        prob: the probability of erasing.
        scale: the range of the erased area as a fraction of the image.
        ratio: the range of the aspect ratio of the erased area (drawn log-uniformly).
        value: the fill: a number, one value per channel, or ``'random'`` (normal noise).
        inplace: modify tensors and arrays in place.
        keys: see the module's docstring (masks are not erased).

    Examples:
        >>> import torch
        >>> out = RandomErasing(prob=1.0, value=0)(torch.ones(3, 16, 16))
        >>> bool((out == 0).any()), out.shape
        (True, torch.Size([3, 16, 16]))
    """

    def __init__(
        self,
        prob: float = 0.5,
        scale: Sequence[float] = (0.02, 0.33),
        ratio: Sequence[float] = (0.3, 3.3),
        value: Any = 0,
        inplace: bool = False,
        keys: Sequence[str] | None = None,
    ) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        if not (len(scale) == 2 and 0 <= scale[0] <= scale[1] <= 1):
            raise ValueError(f"scale must be (min, max) within [0, 1], got {scale!r}")
        if not (len(ratio) == 2 and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f"ratio must be (min, max) with 0 < min <= max, got {ratio!r}")
        if isinstance(value, str) and value != "random":
            raise ValueError(f"value must be a number, a sequence or 'random', got {value!r}")
        self.prob, self.scale, self.ratio = float(prob), tuple(scale), tuple(ratio)
        self.value, self.inplace = value, inplace
        self.keys = check_keys(keys, "RandomErasing")

    def _params(self, img: Any) -> Any:
        if torch.rand(()).item() >= self.prob:
            return None
        h, w = F.get_size(img)
        area = h * w
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * torch.empty(()).uniform_(self.scale[0], self.scale[1]).item()
            aspect = math.exp(torch.empty(()).uniform_(*log_ratio).item())
            eh = round(math.sqrt(target * aspect))
            ew = round(math.sqrt(target / aspect))
            if not (0 < eh < h and 0 < ew < w):
                continue
            top = int(torch.randint(0, h - eh + 1, (1,)).item())
            left = int(torch.randint(0, w - ew + 1, (1,)).item())
            value = self.value
            if isinstance(value, str):  # 'random': standard normal noise per pixel
                channels = F.to_chw_tensor(img).shape[0]
                noise = torch.randn(channels, eh, ew)
                value = noise if isinstance(img, torch.Tensor) else noise.permute(1, 2, 0).numpy()
            return top, left, eh, ew, value
        return None

    def _apply_image(self, img: Any, params: Any) -> Any:
        if params is None:
            return img
        top, left, eh, ew, value = params
        if self.inplace and isinstance(img, torch.Tensor):
            v = torch.as_tensor(value, dtype=img.dtype)
            img[..., top : top + eh, left : left + ew] = v.reshape(-1, 1, 1) if v.ndim == 1 else v
            return img
        if self.inplace and not F.is_pil(img):
            img[top : top + eh, left : left + ew] = value
            return img
        return F.erase(img, top, left, eh, ew, value)

    def batched(self, state: BatchPlanState) -> Callable:
        self._image_only()
        if isinstance(self.value, str):
            raise NotBatchableError(f"{self!r}: value='random' is not batched")
        return BatchRandomErasing(self.prob, self.scale, self.ratio, self.value)
