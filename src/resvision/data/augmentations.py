"""Geometric and colour transforms (``paddle.vision.transforms`` namesakes).

Like the transforms in :mod:`resvision.data.transforms`, each accepts PIL images, HWC arrays and
CHW tensors, and random ones draw from torch's global generator (seeded per sample by the
loaders). ``RandomCrop`` (constant padding), ``CenterCrop``, ``RandomHorizontalFlip`` and
``RandomErasing`` (numeric value) have batched equivalents for the fast loader.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch

from resvision.data import functional as F
from resvision.data.batch_transforms import (
    BatchAlternatingFlip,
    BatchCenterCrop,
    BatchPlanState,
    BatchRandomCrop,
    BatchRandomErasing,
    BatchRandomHorizontalFlip,
    NotBatchableError,
)
from resvision.data.epoch_context import alternating_flip, current_sample
from resvision.data.transforms import BaseTransform

__all__ = [
    "CenterCrop",
    "ColorJitter",
    "RandomCrop",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "Resize",
]


def _resize_target(h: int, w: int, size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int):  # the smaller edge becomes ``size``, aspect ratio kept
        if w <= h:
            return (int(size * h / w), size) if w != size else (h, w)
        return (size, int(size * w / h)) if h != size else (h, w)
    return size


class Resize(BaseTransform):
    """Resize to ``size``: an int sets the smaller edge (aspect ratio kept), ``(h, w)`` is exact.

    Args:
        size: an int or ``(h, w)``.
        interpolation: ``'nearest'``, ``'bilinear'`` (default), ``'bicubic'``, ``'box'``,
            ``'lanczos'`` or ``'hamming'``.

    Examples:
        >>> from PIL import Image
        >>> Resize(16)(Image.new("RGB", (64, 32))).size
        (32, 16)
    """

    def __init__(self, size: int | Sequence[int], interpolation: str = "bilinear") -> None:
        self.size = size if isinstance(size, int) else F.pair(size, "size")
        if isinstance(size, int) and size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        if interpolation not in F.INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {sorted(F.INTERPOLATIONS)}, got {interpolation!r}"
            )
        self.interpolation = interpolation

    def _apply(self, img: Any) -> Any:
        h, w = F.get_size(img)
        target = _resize_target(h, w, self.size)
        return img if target == (h, w) else F.resize(img, target, self.interpolation)

    def batched(self, state: BatchPlanState) -> None:
        _, h, w = state.shape
        if _resize_target(h, w, self.size) != (h, w):
            raise NotBatchableError(f"{self!r} changes the size of {h}x{w} images")
        return None  # a no-op on these images


class CenterCrop(BaseTransform):
    """Crop the central ``size`` region (an int or ``(h, w)``).

    Raises:
        ValueError: the image is smaller than ``size``.

    Examples:
        >>> import numpy as np
        >>> CenterCrop(2)(np.arange(16).reshape(4, 4)).tolist()
        [[5, 6], [9, 10]]
    """

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = F.pair(size, "size")

    def _apply(self, img: Any) -> Any:
        h, w = F.get_size(img)
        th, tw = self.size
        if th > h or tw > w:
            raise ValueError(f"CenterCrop size {self.size} is larger than the image ({h}, {w})")
        top, left = round((h - th) / 2.0), round((w - tw) / 2.0)
        return F.crop(img, top, left, th, tw)

    def batched(self, state: BatchPlanState) -> Callable:
        c, h, w = state.shape
        if self.size[0] > h or self.size[1] > w:
            raise ValueError(f"CenterCrop size {self.size} is larger than the images ({h}, {w})")
        state.shape = (c, *self.size)
        return BatchCenterCrop(self.size)


class RandomCrop(BaseTransform):
    """Crop ``size`` at a random position, after optional padding.

    Args:
        size: an int or ``(h, w)``.
        padding: an int, ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
        pad_if_needed: pad images smaller than ``size`` so that the crop fits.
        fill: the constant padding value (one value or one per channel).
        padding_mode: ``'constant'``, ``'edge'``, ``'reflect'`` or ``'symmetric'``.

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

    def _apply(self, img: Any) -> Any:
        h, w = F.get_size(img)
        padding = self._total_padding(h, w)
        if any(padding):
            img = F.pad(img, padding, self.fill, self.padding_mode)
            h, w = F.get_size(img)
        th, tw = self.size
        if th > h or tw > w:
            raise ValueError(
                f"RandomCrop size {self.size} is larger than the (padded) image ({h}, {w}); "
                "use padding or pad_if_needed=True"
            )
        top = int(torch.randint(0, h - th + 1, (1,)).item())
        left = int(torch.randint(0, w - tw + 1, (1,)).item())
        return F.crop(img, top, left, th, tw)

    def batched(self, state: BatchPlanState) -> Callable:
        c, h, w = state.shape
        padding = self._total_padding(h, w)
        if self.size[0] > h + padding[1] + padding[3] or self.size[1] > w + padding[0] + padding[2]:
            raise ValueError(f"RandomCrop size {self.size} is larger than the images ({h}, {w})")
        state.shape = (c, *self.size)
        return BatchRandomCrop(self.size, padding, self.fill, padding_mode=self.padding_mode)


class RandomHorizontalFlip(BaseTransform):
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

    def __init__(self, prob: float = 0.5, alternate: bool = False) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        if alternate and prob != 0.5:
            raise ValueError(
                f"the alternating flip mirrors half of the time: prob must be 0.5, got {prob}"
            )
        self.prob = float(prob)
        self.alternate = bool(alternate)

    def _apply(self, img: Any) -> Any:
        ctx = current_sample() if self.alternate else None
        if ctx is not None:
            flip = alternating_flip(ctx.index, ctx.epoch, ctx.seed)
        else:
            flip = torch.rand(()).item() < self.prob
        return F.hflip(img) if flip else img

    def batched(self, state: BatchPlanState) -> Callable:
        return BatchAlternatingFlip() if self.alternate else BatchRandomHorizontalFlip(self.prob)


class RandomResizedCrop(BaseTransform):
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
    ) -> None:
        self.size = F.pair(size, "size")
        if not (len(scale) == 2 and 0 < scale[0] <= scale[1]):
            raise ValueError(f"scale must be (min, max) with 0 < min <= max, got {scale!r}")
        if not (len(ratio) == 2 and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f"ratio must be (min, max) with 0 < min <= max, got {ratio!r}")
        if interpolation not in F.INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {sorted(F.INTERPOLATIONS)}, got {interpolation!r}"
            )
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.interpolation = interpolation

    def _apply(self, img: Any) -> Any:
        h, w = F.get_size(img)
        top, left, ch, cw = F.random_crop_box(h, w, self.scale, self.ratio)
        return F.resize(F.crop(img, top, left, ch, cw), self.size, self.interpolation)


class ColorJitter(BaseTransform):
    """Random brightness, contrast, saturation and hue changes, applied in a random order.

    Args:
        brightness, contrast, saturation: ``v`` draws a factor uniformly in
            ``[max(0, 1 - v), 1 + v]``; 0 leaves that property unchanged.
        hue: ``v`` in ``[0, 0.5]`` draws a hue shift uniformly in ``[-v, v]``.

    Examples:
        >>> from PIL import Image
        >>> ColorJitter(0.4, 0.4, 0.4, 0.1)(Image.new("RGB", (8, 8), (90, 30, 200))).size
        (8, 8)
    """

    def __init__(
        self, brightness: float = 0, contrast: float = 0, saturation: float = 0, hue: float = 0
    ) -> None:
        for name, value in (
            ("brightness", brightness),
            ("contrast", contrast),
            ("saturation", saturation),
        ):
            if not isinstance(value, numbers.Number) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if not isinstance(hue, numbers.Number) or not 0 <= hue <= 0.5:
            raise ValueError(f"hue must be a number in [0, 0.5], got {hue!r}")
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.saturation, self.hue = float(saturation), float(hue)

    def _apply(self, img: Any) -> Any:
        steps = [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
            ("hue", self.hue),
        ]
        for k in torch.randperm(4).tolist():
            kind, v = steps[k]
            if v == 0:
                continue
            if kind == "hue":
                factor = torch.empty(()).uniform_(-v, v).item()
            else:
                factor = torch.empty(()).uniform_(max(0.0, 1.0 - v), 1.0 + v).item()
            img = F.adjust(img, kind, factor)
        return img

    def batched(self, state: BatchPlanState) -> None:
        if self.brightness or self.contrast or self.saturation or self.hue:
            raise NotBatchableError(f"{self!r} has no batched equivalent")
        return None


class RandomErasing(BaseTransform):
    """Erase a random rectangle with probability ``prob`` (Zhong et al., 2017).

    Args:
        prob: the probability of erasing.
        scale: the range of the erased area as a fraction of the image.
        ratio: the range of the aspect ratio of the erased area (drawn log-uniformly).
        value: the fill: a number, one value per channel, or ``'random'`` (normal noise).
        inplace: modify tensors and arrays in place.

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

    def _apply(self, img: Any) -> Any:
        if torch.rand(()).item() >= self.prob:
            return img
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
            if self.inplace and isinstance(img, torch.Tensor):
                v = torch.as_tensor(value, dtype=img.dtype)
                img[..., top : top + eh, left : left + ew] = (
                    v.reshape(-1, 1, 1) if v.ndim == 1 else v
                )
                return img
            if self.inplace and not F.is_pil(img):
                img[top : top + eh, left : left + ew] = value
                return img
            return F.erase(img, top, left, eh, ew, value)
        return img

    def batched(self, state: BatchPlanState) -> Callable:
        if isinstance(self.value, str):
            raise NotBatchableError(f"{self!r}: value='random' is not batched")
        return BatchRandomErasing(self.prob, self.scale, self.ratio, self.value)
