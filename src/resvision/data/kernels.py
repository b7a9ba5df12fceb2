"""Tensor kernels of the pixel and geometric operations, for one image or a whole batch.

Each kernel takes ``[C, H, W]`` or ``[N, C, H, W]`` tensors (``uint8`` on 0..255 or floating on
0..1) and per-image parameters (a number, or a tensor of ``N`` values), and returns a tensor of
the input's shape and dtype. The per-sample transforms call them on tensors and arrays (PIL
images go through PIL's own operations, :mod:`resvision.data.functional`), and the batched forms
of the fast data path call them on whole batches, so that a sample augmented alone and the same
sample augmented in a batch with the same parameters come out identical. Integer results are
rounded to the nearest level. Nothing here reads a value back from the device.

The operations and their conventions follow PIL's (``ImageOps``, ``ImageEnhance``) as
torchvision's tensor versions do: :func:`equalize` is PIL's histogram equalisation,
:func:`adjust_sharpness` blends with PIL's ``SMOOTH`` filter (borders kept), and :func:`affine`
samples with PIL's pixel-centre convention from an inverse matrix in PIL's ``Image.AFFINE`` form.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_sharpness",
    "affine",
    "autocontrast",
    "equalize",
    "grayscale",
    "invert",
    "posterize",
    "rotation_matrix",
    "shear_matrix",
    "solarize",
    "translation_matrix",
]


def _batch(x: torch.Tensor, what: str) -> tuple[torch.Tensor, bool]:
    if not isinstance(x, torch.Tensor) or x.dim() not in (3, 4):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{what} takes [C, H, W] or [N, C, H, W] tensors, got {shape}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise ValueError(f"{what} takes uint8 or floating images, got {x.dtype}")
    return (x.unsqueeze(0), True) if x.dim() == 3 else (x, False)


def _done(out: torch.Tensor, like: torch.Tensor, single: bool) -> torch.Tensor:
    if like.dtype == torch.uint8:
        out = out.round().clamp_(0, 255).to(torch.uint8)
    else:
        out = out.to(like.dtype)
    return out[0] if single else out


def bound(x: torch.Tensor) -> float:
    """The white level: 255 for ``uint8``, 1 for floating images."""
    return 255.0 if x.dtype == torch.uint8 else 1.0


def _per_image(value: Any, n: int, device: torch.device) -> torch.Tensor:
    """``value`` (a number, a sequence or a tensor of ``n``) as float32 ``[n, 1, 1, 1]``."""
    t = torch.as_tensor(value, dtype=torch.float32, device=device)
    if t.dim() == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise ValueError(
            f"expected one parameter or one per image ({n}), got shape {tuple(t.shape)}"
        )
    return t.reshape(n, 1, 1, 1)


def _blend(a: torch.Tensor, b: torch.Tensor | float, factor: torch.Tensor, top: float):
    return (factor * a + (1.0 - factor) * b).clamp_(0, top)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601-2 luma ``0.299 R + 0.587 G + 0.114 B`` (PIL's ``convert('L')``), as float
    ``[..., 1, H, W]``; a one-channel image is its own luma."""
    x = x.float()
    if x.shape[-3] == 1:
        return x
    r, g, b = x.unbind(-3)
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)


def adjust_brightness(x: torch.Tensor, factor: Any) -> torch.Tensor:
    """Scale the values by ``factor`` (0: black, 1: unchanged), PIL's ``Brightness``."""
    b, single = _batch(x, "adjust_brightness")
    f = _per_image(factor, b.shape[0], b.device)
    return _done((b.float() * f).clamp_(0, bound(x)), x, single)


def adjust_contrast(x: torch.Tensor, factor: Any) -> torch.Tensor:
    """Blend with the image's mean grey (0: flat grey, 1: unchanged), PIL's ``Contrast``."""
    b, single = _batch(x, "adjust_contrast")
    f = _per_image(factor, b.shape[0], b.device)
    mean = grayscale(b).mean(dim=(-3, -2, -1), keepdim=True)
    return _done(_blend(b.float(), mean, f, bound(x)), x, single)


def adjust_saturation(x: torch.Tensor, factor: Any) -> torch.Tensor:
    """Blend with the image's grey version (0: grey, 1: unchanged), PIL's ``Color``."""
    b, single = _batch(x, "adjust_saturation")
    if b.shape[1] == 1:
        return x.clone()
    f = _per_image(factor, b.shape[0], b.device)
    return _done(_blend(b.float(), grayscale(b), f, bound(x)), x, single)


_SMOOTH = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0


def adjust_sharpness(x: torch.Tensor, factor: Any) -> torch.Tensor:
    """Blend with PIL's ``SMOOTH`` filter of the image (0: smoothed, 1: unchanged, 2: sharper);
    the one-pixel border keeps its values, as in PIL's ``Sharpness``."""
    b, single = _batch(x, "adjust_sharpness")
    n, c, h, w = b.shape
    f = _per_image(factor, n, b.device)
    xf = b.float()
    if h <= 2 or w <= 2:
        return x.clone()
    kernel = _SMOOTH.to(b.device).repeat(c, 1, 1, 1)
    smooth = F.conv2d(xf, kernel, groups=c)
    if x.dtype == torch.uint8:
        smooth = smooth.round()
    degenerate = xf.clone()
    degenerate[..., 1:-1, 1:-1] = smooth
    return _done(_blend(xf, degenerate, f, bound(x)), x, single)


def posterize(x: torch.Tensor, bits: Any) -> torch.Tensor:
    """Keep the ``bits`` highest bits of each 8-bit value (0..8), PIL's ``posterize``.
    Floating images are quantised to 8 bits first."""
    b, single = _batch(x, "posterize")
    n = b.shape[0]
    k = torch.as_tensor(bits, device=b.device).to(torch.int64)
    k = k.expand(n) if k.dim() == 0 else k
    shifted = torch.bitwise_left_shift(torch.full_like(k, 255), 8 - k.clamp(0, 8))
    mask = (shifted & 255).to(torch.uint8).reshape(n, 1, 1, 1)
    u8 = b if b.dtype == torch.uint8 else (b * 255).round().clamp(0, 255).to(torch.uint8)
    out = u8 & mask
    out = out if x.dtype == torch.uint8 else out.to(x.dtype) / 255
    return out[0] if single else out


def solarize(x: torch.Tensor, threshold: Any) -> torch.Tensor:
    """Invert the values at or above ``threshold`` (in the image's scale), PIL's ``solarize``."""
    b, single = _batch(x, "solarize")
    t = _per_image(threshold, b.shape[0], b.device)
    out = torch.where(b.float() >= t, bound(x) - b.float(), b.float())
    return _done(out, x, single)


def invert(x: torch.Tensor) -> torch.Tensor:
    """White minus each value, PIL's ``invert``."""
    b, single = _batch(x, "invert")
    out = (255 - b) if b.dtype == torch.uint8 else (1.0 - b)
    return out[0] if single else out


def autocontrast(x: torch.Tensor) -> torch.Tensor:
    """Stretch each channel to the full range (its minimum to black, maximum to white); a flat
    channel is left as it is (PIL's ``autocontrast`` with no cut-off)."""
    b, single = _batch(x, "autocontrast")
    xf = b.float()
    low = xf.amin(dim=(-2, -1), keepdim=True)
    high = xf.amax(dim=(-2, -1), keepdim=True)
    flat = high <= low
    scale = bound(x) / torch.where(flat, torch.ones_like(high), high - low)
    low = torch.where(flat, torch.zeros_like(low), low)
    scale = torch.where(flat, torch.ones_like(scale), scale)
    return _done(((xf - low) * scale).clamp_(0, bound(x)), x, single)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """PIL's histogram equalisation, each channel of each image on its own.

    The look-up table of a channel with histogram ``h`` is ``(step // 2 + (pixels below the
    level)) // step`` with ``step = (pixels - pixels at the highest level) // 255``; a channel
    with a single level, or ``step == 0``, is unchanged. Floating images are quantised to 8 bits.
    """
    b, single = _batch(x, "equalize")
    n, c, h, w = b.shape
    u8 = b if b.dtype == torch.uint8 else (b * 255).round().clamp(0, 255).to(torch.uint8)
    flat = u8.reshape(n * c, h * w).long()
    hist = torch.zeros(n * c, 256, dtype=torch.long, device=b.device)
    hist.scatter_add_(1, flat, torch.ones_like(flat))
    top_level = flat.amax(dim=1, keepdim=True)
    step = (h * w - hist.gather(1, top_level)) // 255  # [n*c, 1]
    below = torch.cumsum(hist, 1) - hist  # pixels strictly below each level
    safe = torch.where(step > 0, step, torch.ones_like(step))
    lut = ((step // 2 + below) // safe).clamp_(0, 255)
    lut = torch.where(step > 0, lut, torch.arange(256, device=b.device).expand(n * c, 256))
    out = lut.gather(1, flat).to(torch.uint8).reshape(n, c, h, w)
    out = out if x.dtype == torch.uint8 else out.to(x.dtype) / 255
    return out[0] if single else out


def rotation_matrix(angle: Any, height: int, width: int) -> torch.Tensor:
    """PIL's inverse matrices (``Image.AFFINE`` data) of rotations by ``angle`` degrees
    counter-clockwise about the image centre: ``[N, 6]`` float64 for ``N`` angles."""
    a = -torch.deg2rad(torch.as_tensor(angle, dtype=torch.float64).reshape(-1))
    cos, sin = torch.cos(a), torch.sin(a)
    cx, cy = width / 2.0, height / 2.0
    c = cos * -cx + sin * -cy + cx
    f = -sin * -cx + cos * -cy + cy
    return torch.stack([cos, sin, c, -sin, cos, f], dim=1)


def affine(
    x: torch.Tensor,
    matrix: torch.Tensor | Sequence[float],
    interpolation: str = "nearest",
    fill: float | Sequence[float] | None = None,
) -> torch.Tensor:
    """Resample each image through an inverse affine map, PIL's ``Image.transform(AFFINE)``.

    Args:
        x: the image(s).
        matrix: ``(a, b, c, d, e, f)`` or ``[N, 6]``: the output pixel at ``(x, y)`` (pixel
            centres at ``+0.5``) takes the input at ``(a x + b y + c, d x + e y + f)``.
        interpolation: ``'nearest'`` or ``'bilinear'``.
        fill: the value of pixels from outside the image (one, or one per channel); None: 0.

    Raises:
        ValueError: another interpolation, a matrix of another shape.
    """
    b, single = _batch(x, "affine")
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
    n, c, h, w = b.shape
    m = torch.as_tensor(matrix, dtype=torch.float64)
    m = m.reshape(1, 6).expand(n, 6) if m.numel() == 6 else m
    if m.shape != (n, 6):
        raise ValueError(f"matrix must be 6 numbers or [{n}, 6], got shape {tuple(m.shape)}")
    # In grid_sample's normalised coordinates (align_corners=False) an absolute x is
    # (g + 1) w / 2, so the input u = a x + b y + c of output (gx, gy) normalises to
    # a gx + (b h / w) gy + (a + b h / w + 2 c / w - 1), and v likewise.
    a, b_, c_, d, e, f = m.unbind(1)
    theta = torch.stack(
        [
            torch.stack([a, b_ * h / w, a + b_ * h / w + 2 * c_ / w - 1], 1),
            torch.stack([d * w / h, e, d * w / h + e + 2 * f / h - 1], 1),
        ],
        1,
    ).to(device=b.device, dtype=torch.float32)
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    xf = b.float()
    if fill is None or (isinstance(fill, (int, float)) and fill == 0):
        out = F.grid_sample(xf, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    else:
        ones = torch.ones_like(xf[:, :1])
        sampled = F.grid_sample(torch.cat([xf, ones], 1), grid, mode=interpolation,
                                padding_mode="zeros", align_corners=False)  # fmt: skip
        out, inside = sampled[:, :c], sampled[:, c:]
        value = torch.as_tensor(fill, dtype=torch.float32, device=b.device)
        value = value.reshape(1, -1, 1, 1) if value.dim() == 1 else value
        if interpolation == "bilinear":
            out = out * inside + value * (1 - inside)
        else:
            out = torch.where(inside > 0.5, out, value.expand_as(out))
    return _done(out, x, single)


def translation_matrix(dx: Any, dy: Any) -> torch.Tensor:
    """Inverse matrices of shifts by ``(dx, dy)`` pixels (right, down): ``[N, 6]``."""
    dx = torch.as_tensor(dx, dtype=torch.float64).reshape(-1)
    dy = torch.as_tensor(dy, dtype=torch.float64).reshape(-1)
    dx, dy = torch.broadcast_tensors(dx, dy)
    one, zero = torch.ones_like(dx), torch.zeros_like(dx)
    return torch.stack([one, zero, -dx, zero, one, -dy], 1)


def shear_matrix(sx: Any, sy: Any) -> torch.Tensor:
    """Inverse matrices of shears about the top-left corner (input ``x + sx y``, ``y + sy x``),
    AutoAugment's ``ShearX``/``ShearY`` with ``tan`` of the shear angle: ``[N, 6]``."""
    sx = torch.as_tensor(sx, dtype=torch.float64).reshape(-1)
    sy = torch.as_tensor(sy, dtype=torch.float64).reshape(-1)
    sx, sy = torch.broadcast_tensors(sx, sy)
    one, zero = torch.ones_like(sx), torch.zeros_like(sx)
    return torch.stack([one, sx, zero, sy, one, zero], 1)


def degrees_to_shear(degrees: float) -> float:
    """``tan`` of a shear angle in degrees (torchvision's ``affine(shear=)`` to a factor)."""
    return math.tan(math.radians(degrees))
