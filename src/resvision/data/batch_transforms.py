"""Batched augmentations: whole ``N x C x H x W`` batches on the training device at once.

A batch transform is any callable ``(images, generator) -> images``: ``images`` a 4-D tensor
(``uint8`` or floating), ``generator`` a ``torch.Generator`` on the same device (or None for the
global one). The fast loader seeds that generator from ``(seed, epoch, batch index)``, so a batch's
augmentation is reproducible, for exact mid-epoch resume.

Each class draws its random numbers in one vectorised call per batch (no per-sample Python), and
samples the same distribution as its per-sample namesake in :mod:`resvision.data.transforms`.
Nothing here waits for the device per batch: no ``.item()``, ``.tolist()``, ``.cpu()`` or shapes
that depend on values, and the constants made from Python values (normalisation statistics,
padding fill, erasing value) are copied to the device once, at the first batch, then reused
(:class:`_DeviceConstants`), so that the host can queue batches ahead of a GPU.
:func:`plan_batched` turns a per-sample pipeline (``Compose`` of known transforms) into a
:class:`BatchCompose`, or says why it cannot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import torch

from resvision.data import kernels
from resvision.data.epoch_context import BatchContext, alternating_flip_mask


class BatchTransform(Protocol):
    """The protocol of a batched transform."""

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...


class NotBatchableError(ValueError):
    """A per-sample pipeline has no batched equivalent; the message says which step and why."""


def describe(transform: object) -> str:
    """A short name for a transform in messages (a function's name, else its repr)."""
    name = getattr(transform, "__qualname__", None) or getattr(transform, "__name__", None)
    if name is not None and not isinstance(transform, type):
        return name.rsplit(".", 1)[-1] if "<lambda>" in name else name
    return repr(transform)


class _DeviceConstants:
    """Small tensors made from a transform's Python values, built once per key and reused.

    Why: ``torch.tensor([...], device="cuda")`` copies pageable host memory to the device, which
    blocks the host until the GPU has run everything queued before it. Done for every batch, it
    stops the CPU from running ahead of the GPU. Built once per (device, dtype, ...) key, the
    copy happens at the first batch only. The values are read when a key is first built: the
    transforms treat them as fixed after construction (as the per-sample ``Normalize`` does).

    Pickling or copying gives an empty cache (device tensors are not worth carrying along).
    """

    def __init__(self) -> None:
        self._tensors: dict[tuple, torch.Tensor] = {}

    def get(self, key: tuple, build: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The tensor stored under ``key``, made by ``build()`` the first time.

        Args:
            key: hashable; must name everything the tensor depends on (device, dtype, shape).
            build: makes the tensor (called once per key).

        Returns:
            The cached tensor. Callers must not modify it in place.
        """
        tensor = self._tensors.get(key)
        if tensor is None:
            tensor = self._tensors[key] = build()
        return tensor

    def __reduce__(self) -> tuple:
        return (_DeviceConstants, ())


def _check_batch(images: torch.Tensor, what: str) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(
            f"{what} expects an N x C x H x W tensor, got "
            f"{type(images).__name__} with shape {tuple(getattr(images, 'shape', ()))}"
        )


class BatchToFloat:
    """Cast to ``float32`` and multiply by ``scale`` (``1/255`` mirrors ``ToTensor``)."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = float(scale)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        out = images.float()
        return out.mul_(self.scale) if self.scale != 1.0 else out

    def __repr__(self) -> str:
        return f"BatchToFloat(scale={self.scale:g})"


class BatchNormalize:
    """``(x - mean) / std`` per channel, in ``float32``; ``to_rgb`` reverses the channels first."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], to_rgb: bool = False) -> None:
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        if any(s == 0 for s in self.std):
            raise ValueError(f"std must be non-zero, got {list(std)}")
        self.to_rgb = to_rgb
        self._constants = _DeviceConstants()

    def _stat(self, name: str, c: int, x: torch.Tensor) -> torch.Tensor:
        values = self.mean if name == "mean" else self.std
        return self._constants.get(
            (name, x.device, x.dtype, c),
            lambda: (
                torch.tensor(values, dtype=x.dtype, device=x.device).expand(c).reshape(1, c, 1, 1)
            ),
        )

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        _check_batch(images, "BatchNormalize")
        x = images.float()
        if self.to_rgb:
            x = x.flip(1)
        c = x.shape[1]
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, c):
                raise ValueError(f"BatchNormalize {name} has {len(values)} values for {c} channels")
        # Built once per device (see _DeviceConstants): no host-to-device copy per batch.
        mean, std = self._stat("mean", c, x), self._stat("std", c, x)
        # Divide (not multiply by 1/std) so results equal the per-sample Normalize bit for bit.
        if x is images:  # already float: do not modify the caller's tensor
            return (x - mean) / std
        return x.sub_(mean).div_(std)  # x is a fresh copy: work in place

    def __repr__(self) -> str:
        return f"BatchNormalize(mean={self.mean}, std={self.std}, to_rgb={self.to_rgb})"


class BatchRandomCrop:
    """Pad by ``padding`` (left, top, right, bottom), then crop ``size`` at a uniformly random
    position per image; optionally flip (fused, one gather).

    ``padding_mode`` is ``'constant'`` (``fill``), ``'edge'``, ``'reflect'`` or ``'symmetric'``,
    as the per-sample :class:`~resvision.transforms.RandomCrop`. The non-constant modes build no
    padded copy: each output pixel's source row and column are mapped back into the image.
    The flip is fused so that the usual CIFAR recipe (pad 4, crop 32, flip) reads every pixel
    once; :class:`BatchCompose` fuses a following :class:`BatchRandomHorizontalFlip` into it.
    """

    def __init__(
        self,
        size: tuple[int, int],
        padding: tuple[int, int, int, int] = (0, 0, 0, 0),
        fill: float | Sequence[float] = 0,
        flip_prob: float = 0.0,
        padding_mode: str = "constant",
    ) -> None:
        if padding_mode not in _SOURCE_INDEX:
            raise ValueError(
                f"padding_mode must be one of {sorted(_SOURCE_INDEX)}, got {padding_mode!r}"
            )
        self.size = size
        self.padding = padding
        self.fill = fill
        self.flip_prob = float(flip_prob)
        self.padding_mode = padding_mode
        self._constants = _DeviceConstants()

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        _check_batch(images, "BatchRandomCrop")
        n, c, h, w = images.shape
        left, top, right, bottom = self.padding
        ch, cw = self.size
        hp, wp = h + top + bottom, w + left + right
        if ch > hp or cw > wp:
            raise ValueError(f"crop size {self.size} is larger than the padded image ({hp}, {wp})")
        constant = self.padding_mode == "constant" and any(self.padding)
        if self.padding_mode == "reflect" and (max(left, right) >= w or max(top, bottom) >= h):
            raise ValueError(
                f"reflect padding {self.padding} must be smaller than the image ({h}, {w})"
            )
        if constant:
            padded = images.new_empty((n, c, hp, wp))
            padded[...] = self._constants.get(
                (images.device, images.dtype),
                lambda: torch.as_tensor(
                    self.fill, dtype=images.dtype, device=images.device
                ).reshape(1, -1, 1, 1),
            )
            padded[:, :, top : top + h, left : left + w] = images
            src_h, src_w = hp, wp
        else:
            padded, src_h, src_w = images, h, w
        dev = images.device
        # Same draw order as the per-sample RandomCrop: top offset, then left offset.
        tops = torch.randint(0, hp - ch + 1, (n,), device=dev, generator=generator)
        lefts = torch.randint(0, wp - cw + 1, (n,), device=dev, generator=generator)
        cols = torch.arange(cw, device=dev).expand(n, cw)
        if self.flip_prob > 0:
            flip = torch.rand(n, device=dev, generator=generator) < self.flip_prob
            cols = torch.where(flip[:, None], cw - 1 - cols, cols)
        rows = tops[:, None] + torch.arange(ch, device=dev)
        cols = lefts[:, None] + cols
        if not constant:  # padded coordinates -> image coordinates
            rows = _SOURCE_INDEX[self.padding_mode](rows - top, h)
            cols = _SOURCE_INDEX[self.padding_mode](cols - left, w)
        index = (rows[:, :, None] * src_w + cols[:, None, :]).reshape(n, 1, ch * cw)
        out = torch.gather(padded.reshape(n, c, src_h * src_w), 2, index.expand(n, c, -1))
        return out.reshape(n, c, ch, cw)

    def __repr__(self) -> str:
        mode = "" if self.padding_mode == "constant" else f", padding_mode={self.padding_mode!r}"
        return (
            f"BatchRandomCrop(size={self.size}, padding={self.padding}, fill={self.fill}, "
            f"flip_prob={self.flip_prob}{mode})"
        )


def _reflect(i: torch.Tensor, n: int) -> torch.Tensor:
    # ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...  (the edge pixel is not repeated)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = i.remainder(period)
    return torch.where(i < n, i, period - i)


def _symmetric(i: torch.Tensor, n: int) -> torch.Tensor:
    # ... 1 0 | 0 1 2 ... n-1 | n-1 n-2 ...  (the edge pixel is repeated)
    i = i.remainder(2 * n)
    return torch.where(i < n, i, 2 * n - 1 - i)


#: padding mode -> map from a padded coordinate (relative to the image's first pixel) to the
#: image pixel it shows; 'constant' is handled by building the padded batch.
_SOURCE_INDEX = {
    "constant": None,
    "edge": lambda i, n: i.clamp(0, n - 1),
    "reflect": _reflect,
    "symmetric": _symmetric,
}


class BatchCenterCrop:
    """Crop the central ``size = (h, w)`` region (deterministic)."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        _check_batch(images, "BatchCenterCrop")
        h, w = images.shape[-2:]
        ch, cw = self.size
        if ch > h or cw > w:
            raise ValueError(f"center crop {self.size} is larger than the images ({h}, {w})")
        top, left = round((h - ch) / 2.0), round((w - cw) / 2.0)
        return images[:, :, top : top + ch, left : left + cw]

    def __repr__(self) -> str:
        return f"BatchCenterCrop(size={self.size})"


class BatchRandomHorizontalFlip:
    """Flip each image left-right with probability ``prob``."""

    def __init__(self, prob: float = 0.5) -> None:
        self.prob = float(prob)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        _check_batch(images, "BatchRandomHorizontalFlip")
        flip = torch.rand(images.shape[0], device=images.device, generator=generator) < self.prob
        return torch.where(flip[:, None, None, None], images.flip(-1), images)

    def __repr__(self) -> str:
        return f"BatchRandomHorizontalFlip(prob={self.prob})"


class BatchAlternatingFlip:
    """The alternating flip (see :mod:`resvision.data.epoch_context`): each image is mirrored
    on every other epoch, starting at random (fixed per image and seed).

    It needs the batch's data-set indices and epoch (``uses_context``): resvision's fast loader
    passes them. Called without them, it raises.
    """

    uses_context = True

    def __call__(
        self,
        images: torch.Tensor,
        generator: torch.Generator | None = None,
        context: BatchContext | None = None,
    ):
        _check_batch(images, "BatchAlternatingFlip")
        if context is None:
            raise ValueError(
                "BatchAlternatingFlip needs the batch's indices and epoch: run it through "
                "resvision's loader (build_loader), or pass context=BatchContext(...)"
            )
        flip = alternating_flip_mask(context.indices, context.epoch, context.seed)
        flip = flip.to(images.device)
        return torch.where(flip[:, None, None, None], images.flip(-1), images)

    def __repr__(self) -> str:
        return "BatchAlternatingFlip()"


class BatchRandomErasing:
    """Random erasing (cutout of a random rectangle), vectorised.

    With probability ``prob`` per image, up to 10 candidate rectangles are drawn (area a uniform
    fraction in ``scale`` of the image, log-uniform aspect ratio in ``ratio``) and the first that
    fits is set to ``value``, as the per-sample ``RandomErasing`` does.
    """

    def __init__(
        self,
        prob: float = 0.5,
        scale: Sequence[float] = (0.02, 0.33),
        ratio: Sequence[float] = (0.3, 3.3),
        value: float | Sequence[float] = 0,
        tries: int = 10,
    ) -> None:
        self.prob = float(prob)
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.value = value
        self.tries = tries
        self._constants = _DeviceConstants()

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        _check_batch(images, "BatchRandomErasing")
        n, _, h, w = images.shape
        dev = images.device
        apply = torch.rand(n, device=dev, generator=generator) < self.prob
        area = (
            h
            * w
            * torch.empty(n, self.tries, device=dev).uniform_(
                self.scale[0], self.scale[1], generator=generator
            )
        )
        log_r = torch.empty(n, self.tries, device=dev).uniform_(
            math.log(self.ratio[0]), math.log(self.ratio[1]), generator=generator
        )
        aspect = torch.exp(log_r)
        eh = torch.round(torch.sqrt(area * aspect)).long()
        ew = torch.round(torch.sqrt(area / aspect)).long()
        fits = (eh < h) & (ew < w) & (eh > 0) & (ew > 0)
        first = torch.argmax(fits.int(), dim=1)  # first fitting try (0 when none fits)
        ok = fits.any(dim=1) & apply
        eh = eh.gather(1, first[:, None])[:, 0]
        ew = ew.gather(1, first[:, None])[:, 0]
        u = torch.rand(n, 2, device=dev, generator=generator)
        top = (u[:, 0] * (h - eh + 1).clamp(min=1)).floor().long()
        left = (u[:, 1] * (w - ew + 1).clamp(min=1)).floor().long()
        rows = torch.arange(h, device=dev)[None, :]
        cols = torch.arange(w, device=dev)[None, :]
        in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])
        in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])
        mask = (in_rows[:, :, None] & in_cols[:, None, :] & ok[:, None, None])[:, None]
        value = self._constants.get(
            (dev, images.dtype),
            lambda: torch.as_tensor(self.value, dtype=images.dtype, device=dev).reshape(
                1, -1, 1, 1
            ),
        )
        return torch.where(mask, value, images)

    def __repr__(self) -> str:
        return (
            f"BatchRandomErasing(prob={self.prob}, scale={self.scale}, ratio={self.ratio}, "
            f"value={self.value})"
        )


# --------------------------------------------------------------------------------------------
# The batched forms of Paddle's flips, colour and geometric transforms. Each has ``draw``
# (one vectorised draw of every image's parameters from ``generator``) and ``apply`` (the
# kernels of :mod:`resvision.data.kernels` with those parameters, the kernels the per-sample
# forms use on arrays and tensors), so a batch is transformed as its images would be one by
# one with the same parameters, and the draws follow the per-sample distributions.


def _uniform(n: int, low: float, high: float, device: torch.device, generator) -> torch.Tensor:
    return torch.empty(n, device=device).uniform_(low, high, generator=generator)


class BatchRandomVerticalFlip:
    """Flip each image top-bottom with probability ``prob``.

    Examples:
        >>> import torch
        >>> x = torch.arange(2, dtype=torch.uint8).reshape(1, 1, 2, 1)
        >>> BatchRandomVerticalFlip(1.0)(x).flatten().tolist()
        [1, 0]
    """

    def __init__(self, prob: float = 0.5) -> None:
        self.prob = float(prob)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        _check_batch(images, "BatchRandomVerticalFlip")
        flip = torch.rand(images.shape[0], device=images.device, generator=generator) < self.prob
        return torch.where(flip[:, None, None, None], images.flip(-2), images)

    def __repr__(self) -> str:
        return f"BatchRandomVerticalFlip(prob={self.prob})"


_COLOUR = {
    "brightness": kernels.adjust_brightness,
    "contrast": kernels.adjust_contrast,
    "saturation": kernels.adjust_saturation,
    "hue": kernels.adjust_hue,
}


class BatchColorAdjust:
    """One colour adjustment (``kind``: brightness, contrast, saturation or hue) at a factor
    (a hue shift for ``'hue'``) drawn per image uniformly in ``[low, high]``: the batched
    ``BrightnessTransform``, ``ContrastTransform``, ``SaturationTransform``, ``HueTransform``.

    Examples:
        >>> import torch
        >>> x = torch.full((2, 3, 1, 1), 100, dtype=torch.uint8)
        >>> BatchColorAdjust("brightness", 1.5, 1.5)(x).flatten().tolist()
        [150, 150, 150, 150, 150, 150]
    """

    def __init__(self, kind: str, low: float, high: float) -> None:
        if kind not in _COLOUR:
            raise ValueError(f"kind must be one of {sorted(_COLOUR)}, got {kind!r}")
        self.kind, self.low, self.high = kind, float(low), float(high)

    def draw(self, n: int, device: torch.device, generator=None) -> torch.Tensor:
        return _uniform(n, self.low, self.high, device, generator)

    def apply(self, images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
        return _COLOUR[self.kind](images, factors)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        _check_batch(images, "BatchColorAdjust")
        return self.apply(images, self.draw(images.shape[0], images.device, generator))

    def __repr__(self) -> str:
        return f"BatchColorAdjust({self.kind!r}, low={self.low}, high={self.high})"


class BatchGrayscale:
    """The luma of each image with ``num_output_channels`` (1 or 3) channels (PIL's
    ``convert('L')`` values for ``uint8`` batches).

    Examples:
        >>> import torch
        >>> BatchGrayscale(3)(torch.zeros(2, 3, 4, 4, dtype=torch.uint8)).shape
        torch.Size([2, 3, 4, 4])
    """

    def __init__(self, num_output_channels: int = 1) -> None:
        self.num_output_channels = int(num_output_channels)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        _check_batch(images, "BatchGrayscale")
        return kernels.to_grayscale(images, self.num_output_channels)

    def __repr__(self) -> str:
        return f"BatchGrayscale(num_output_channels={self.num_output_channels})"


class BatchRandomRotation:
    """Rotate each image by an angle drawn uniformly in ``degrees = (low, high)``
    (counter-clockwise, about ``center`` or the image centre), keeping the size.

    Examples:
        >>> import torch
        >>> x = torch.arange(4, dtype=torch.uint8).reshape(1, 1, 2, 2)
        >>> BatchRandomRotation((90, 90))(x).tolist()
        [[[[1, 3], [0, 2]]]]
    """

    def __init__(
        self,
        degrees: tuple[float, float],
        interpolation: str = "nearest",
        center: Sequence[float] | None = None,
        fill: float | Sequence[float] | None = 0,
    ) -> None:
        self.degrees = (float(degrees[0]), float(degrees[1]))
        self.interpolation, self.center, self.fill = interpolation, center, fill

    def draw(self, n: int, device: torch.device, generator=None) -> torch.Tensor:
        return _uniform(n, self.degrees[0], self.degrees[1], device, generator)

    def apply(self, images: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        matrix = kernels.rotation_matrix(angles, h, w, self.center)
        return kernels.affine(images, matrix, self.interpolation, self.fill)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        _check_batch(images, "BatchRandomRotation")
        return self.apply(images, self.draw(images.shape[0], images.device, generator))

    def __repr__(self) -> str:
        return (
            f"BatchRandomRotation(degrees={self.degrees}, interpolation={self.interpolation!r}, "
            f"center={self.center}, fill={self.fill})"
        )


class BatchRandomAffine:
    """``RandomAffine`` batched: per image an angle (clockwise), a translation (truncated to
    whole pixels), a scale and shears drawn as the per-sample form draws them.

    Examples:
        >>> import torch
        >>> op = BatchRandomAffine((-10, 10), translate=(0.1, 0.1), scale=(0.9, 1.1))
        >>> op(torch.zeros(4, 3, 8, 8), torch.Generator().manual_seed(0)).shape
        torch.Size([4, 3, 8, 8])
    """

    def __init__(
        self,
        degrees: tuple[float, float],
        translate: Sequence[float] | None = None,
        scale: Sequence[float] | None = None,
        shear: Sequence[float] | None = None,
        interpolation: str = "nearest",
        fill: float | Sequence[float] | None = 0,
        center: Sequence[float] | None = None,
    ) -> None:
        self.degrees = (float(degrees[0]), float(degrees[1]))
        self.translate, self.scale, self.shear = translate, scale, shear
        self.interpolation, self.fill, self.center = interpolation, fill, center

    def draw(self, n: int, height: int, width: int, device: torch.device, generator=None):
        """``{'angle', 'translate' ([n, 2]), 'scale', 'shear' ([n, 2])}``, tensors of ``n``."""
        zeros = torch.zeros(n, device=device)
        angle = _uniform(n, self.degrees[0], self.degrees[1], device, generator)
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * width, self.translate[1] * height
            tx = _uniform(n, -max_dx, max_dx, device, generator).trunc()
            ty = _uniform(n, -max_dy, max_dy, device, generator).trunc()
        else:
            tx, ty = zeros, zeros
        scale = zeros + 1.0
        if self.scale is not None:
            scale = _uniform(n, self.scale[0], self.scale[1], device, generator)
        sx, sy = zeros, zeros
        if self.shear is not None:
            sx = _uniform(n, self.shear[0], self.shear[1], device, generator)
            if len(self.shear) == 4:
                sy = _uniform(n, self.shear[2], self.shear[3], device, generator)
        return {"angle": angle, "translate": torch.stack([tx, ty], 1), "scale": scale,
                "shear": torch.stack([sx, sy], 1)}  # fmt: skip

    def apply(self, images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        h, w = images.shape[-2:]
        center = (w * 0.5, h * 0.5) if self.center is None else self.center
        t, s = params["translate"], params["shear"]
        matrix = kernels.inverse_affine_matrix(
            params["angle"], (t[:, 0], t[:, 1]), params["scale"], (s[:, 0], s[:, 1]), center
        )
        return kernels.affine(images, matrix, self.interpolation, self.fill)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        _check_batch(images, "BatchRandomAffine")
        n, _, h, w = images.shape
        return self.apply(images, self.draw(n, h, w, images.device, generator))

    def __repr__(self) -> str:
        return (
            f"BatchRandomAffine(degrees={self.degrees}, translate={self.translate}, "
            f"scale={self.scale}, shear={self.shear}, interpolation={self.interpolation!r}, "
            f"fill={self.fill}, center={self.center})"
        )


class BatchCompose:
    """Apply batch transforms in order; fuses ``BatchRandomCrop`` + ``BatchRandomHorizontalFlip``.

    Examples:
        >>> import torch
        >>> pipe = BatchCompose([BatchRandomCrop((4, 4), (1, 1, 1, 1)),
        ...                      BatchRandomHorizontalFlip(), BatchToFloat(1 / 255)])
        >>> x = torch.randint(0, 256, (8, 3, 4, 4), dtype=torch.uint8)
        >>> y = pipe(x, torch.Generator().manual_seed(0))
        >>> y.shape, y.dtype
        (torch.Size([8, 3, 4, 4]), torch.float32)
    """

    def __init__(self, transforms: Sequence[Callable]) -> None:
        fused: list[Callable] = []
        for t in transforms:
            prev = fused[-1] if fused else None
            if (
                isinstance(t, BatchRandomHorizontalFlip)
                and isinstance(prev, BatchRandomCrop)
                and prev.flip_prob == 0
            ):
                fused[-1] = BatchRandomCrop(
                    prev.size, prev.padding, prev.fill, t.prob, prev.padding_mode
                )
            else:
                fused.append(t)
        self.transforms = fused

    def __call__(
        self,
        images: torch.Tensor,
        generator: torch.Generator | None = None,
        context: BatchContext | None = None,
    ):
        for t in self.transforms:
            if getattr(t, "uses_context", False):
                images = t(images, generator, context)
            else:
                images = t(images, generator)
        return images

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"BatchCompose([{inner}])"


class BatchPlanState:
    """What a per-sample pipeline has done so far, while it is translated step by step.

    Attributes:
        kind: what the per-sample image is at this step: ``'pil'``, ``'array'`` or ``'tensor'``.
        layout: ``'HWC'`` (PIL images and arrays from the datasets) or ``'CHW'``.
        is_float: whether the per-sample values are floating point already.
        shape: ``(C, H, W)`` of the images at this step.
    """

    def __init__(self, kind: str, shape: tuple[int, int, int]) -> None:
        self.kind = kind
        self.layout = "HWC"
        self.is_float = False
        self.shape = shape


def plan_batched(
    transform: Callable | None, shape: tuple[int, int, int], backend: str
) -> BatchCompose:
    """Translate a per-sample pipeline into its batched equivalent.

    The batched pipeline takes the ``uint8`` ``N x C x H x W`` cache and returns ``float32``
    batches equal (bit for bit for deterministic steps, in distribution for random ones) to
    stacking the per-sample items, which the dataset casts to ``float32``.

    Args:
        transform: the dataset's transform: None, a ``Compose`` or a single transform. Each step
            must have a ``batched(state)`` method (the resvision transforms do).
        shape: ``(C, H, W)`` of the cached images.
        backend: the dataset's image backend, ``'pil'`` or ``'cv2'``.

    Returns:
        The batched pipeline.

    Raises:
        NotBatchableError: a step has no batched equivalent, or the pipeline does not end in
            ``C x H x W`` layout (the layout the loaders yield).

    Examples:
        >>> from resvision.transforms import Compose, Normalize, RandomCrop, ToTensor
        >>> pipe = Compose([RandomCrop(32, padding=4), ToTensor(), Normalize(0.5, 0.5)])
        >>> plan_batched(pipe, (3, 32, 32), "pil")
        BatchCompose([BatchRandomCrop(size=(32, 32), padding=(4, 4, 4, 4), fill=0, flip_prob=0.0), BatchToFloat(scale=0.00392157), BatchNormalize(mean=[0.5], std=[0.5], to_rgb=False)])
    """
    state = BatchPlanState("pil" if backend == "pil" else "array", shape)
    steps = [] if transform is None else [transform]
    out: list[Callable] = []
    for step in steps:
        batched = getattr(step, "batched", None)
        if batched is None:
            raise NotBatchableError(
                f"transform {describe(step)} has no batched equivalent (no batched() method)"
            )
        op = batched(state)
        if isinstance(op, BatchCompose):
            out.extend(op.transforms)
        elif op is not None:
            out.append(op)
    if state.layout != "CHW":
        raise NotBatchableError(
            "the transform does not produce C x H x W images (add Transpose() or ToTensor())"
        )
    if not state.is_float:
        out.append(BatchToFloat(1.0))
    return BatchCompose(out)
