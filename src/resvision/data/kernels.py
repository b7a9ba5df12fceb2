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
    "adjust_hue",
    "adjust_saturation",
    "adjust_sharpness",
    "affine",
    "autocontrast",
    "equalize",
    "expand_rotation",
    "grayscale",
    "inverse_affine_matrix",
    "invert",
    "perspective",
    "posterize",
    "rotation_matrix",
    "rotation_size",
    "shear_matrix",
    "solarize",
    "to_grayscale",
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
    r, g, b = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)


def to_grayscale(x: torch.Tensor, num_output_channels: int = 1) -> torch.Tensor:
    """The luma image, in the input's dtype, with 1 or 3 (equal) channels.

    ``uint8`` images get PIL's ``convert('L')`` exactly: ``(19595 R + 38470 G + 7471 B +
    2**15) >> 16``; floating ones ``0.299 R + 0.587 G + 0.114 B``. A one-channel image is its
    own luma; channels after the third (alpha) are ignored.

    Raises:
        ValueError: ``num_output_channels`` is not 1 or 3.

    Examples:
        >>> import torch
        >>> to_grayscale(torch.tensor([[[255]], [[0]], [[0]]], dtype=torch.uint8)).tolist()
        [[[76]]]
    """
    if num_output_channels not in (1, 3):
        raise ValueError(f"num_output_channels must be 1 or 3, got {num_output_channels!r}")
    b, single = _batch(x, "to_grayscale")
    if b.shape[1] == 1:
        luma = b
    elif b.dtype == torch.uint8:
        rgb = b[:, :3].to(torch.int32)
        luma = (rgb[:, 0:1] * 19595 + rgb[:, 1:2] * 38470 + rgb[:, 2:3] * 7471 + 32768) >> 16
        luma = luma.to(torch.uint8)
    else:
        luma = grayscale(b).to(b.dtype)
    out = luma.expand(-1, num_output_channels, -1, -1).contiguous()
    return out[0] if single else out


def _pil_blend(degenerate: torch.Tensor, image: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's ``Image.blend(degenerate, image, factor)`` of 8-bit images, as ``ImageEnhance``
    uses it: ``degenerate + factor * (image - degenerate)`` in float32, truncated towards zero
    and clipped to 0..255 (``Blend.c``)."""
    return (degenerate + factor * (image - degenerate)).trunc_().clamp_(0, 255)


def adjust_brightness(x: torch.Tensor, factor: Any) -> torch.Tensor:
    """Scale the values by ``factor`` (0: black, 1: unchanged), PIL's ``Brightness`` (exactly,
    for ``uint8`` images)."""
    b, single = _batch(x, "adjust_brightness")
    f = _per_image(factor, b.shape[0], b.device)
    if b.dtype == torch.uint8:
        return _done(_pil_blend(torch.zeros((), device=b.device), b.float(), f), x, single)
    return _done((b.float() * f).clamp_(0, bound(x)), x, single)


def adjust_contrast(x: torch.Tensor, factor: Any) -> torch.Tensor:
    """Blend with the image's mean grey (0: flat grey, 1: unchanged), PIL's ``Contrast``
    (exactly, for ``uint8`` images: the mean of the 8-bit luma, rounded to a level)."""
    b, single = _batch(x, "adjust_contrast")
    f = _per_image(factor, b.shape[0], b.device)
    if b.dtype == torch.uint8:
        luma = to_grayscale(b).to(torch.int64)
        total = luma.sum(dim=(-3, -2, -1), keepdim=True).double()
        mean = torch.floor(total / luma[0].numel() + 0.5).float()
        return _done(_pil_blend(mean, b.float(), f), x, single)
    mean = grayscale(b).mean(dim=(-3, -2, -1), keepdim=True)
    return _done(_blend(b.float(), mean, f, bound(x)), x, single)


def adjust_saturation(x: torch.Tensor, factor: Any) -> torch.Tensor:
    """Blend with the image's grey version (0: grey, 1: unchanged), PIL's ``Color`` (exactly,
    for ``uint8`` images)."""
    b, single = _batch(x, "adjust_saturation")
    if b.shape[1] == 1:
        return x.clone()
    f = _per_image(factor, b.shape[0], b.device)
    if b.dtype == torch.uint8:
        return _done(_pil_blend(to_grayscale(b).float(), b.float(), f), x, single)
    return _done(_blend(b.float(), grayscale(b), f, bound(x)), x, single)


def adjust_hue(x: torch.Tensor, shift: Any) -> torch.Tensor:
    """Rotate the hue by ``shift`` turns (in ``[-0.5, 0.5]``), as Paddle's ``adjust_hue``.

    ``uint8`` images follow PIL's path exactly (Paddle's PIL backend): ``convert('HSV')`` with
    its 8-bit hue, a shift of ``int(shift * 255)`` levels modulo 256, and PIL's conversion back.
    Floating images (0..1) shift a continuous hue. Channels after the third are kept; a
    one-channel image is returned unchanged.

    Examples:
        >>> import torch
        >>> red = torch.tensor([[[200]], [[0]], [[0]]], dtype=torch.uint8)
        >>> adjust_hue(red, 1 / 3).flatten().tolist()  # a third of a turn: red -> green
        [0, 200, 0]
    """
    b, single = _batch(x, "adjust_hue")
    if b.shape[1] < 3:
        return x.clone()
    n = b.shape[0]
    s = torch.as_tensor(shift, dtype=torch.float64, device=b.device)
    s = (s.expand(n) if s.dim() == 0 else s).reshape(n, 1, 1)
    if b.dtype == torch.uint8:
        rgb = _pil_hue_shift(b[:, :3], s)
    else:
        rgb = _float_hue_shift(b[:, :3].float(), s).to(b.dtype)
    out = torch.cat([rgb, b[:, 3:]], 1) if b.shape[1] > 3 else rgb
    return out[0] if single else out


def _pil_hue_shift(rgb: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """PIL's RGB -> HSV (8 bits) -> hue + ``int(shift * 255)`` -> RGB, for ``uint8`` ``[N, 3,
    H, W]``; the float32 / float64 steps are those of PIL's C code (``Convert.c``)."""
    f32, f64 = torch.float32, torch.float64
    r, g, b = (v.to(torch.int32) for v in rgb.unbind(1))
    maxc = torch.maximum(r, torch.maximum(g, b))
    minc = torch.minimum(r, torch.minimum(g, b))
    grey = maxc == minc
    cr = torch.where(grey, 1, maxc - minc).to(f32)
    sat = (maxc - minc).to(f32) / torch.where(maxc == 0, 1, maxc).to(f32)
    rc, gc, bc = ((maxc - v).to(f32) / cr for v in (r, g, b))
    hue = torch.where(
        r == maxc,
        (bc - gc).to(f64),
        torch.where(g == maxc, 2.0 + rc.to(f64) - bc.to(f64), 4.0 + gc.to(f64) - rc.to(f64)),
    ).to(f32)
    hue = torch.fmod(hue.to(f64) / 6.0 + 1.0, 1.0).to(f32).to(f64)  # stored in a C float
    h8 = torch.where(grey, 0, (hue * 255.0).trunc().clamp(0, 255).to(torch.int32))
    s8 = torch.where(grey, 0, (sat.to(f64) * 255.0).trunc().clamp(0, 255).to(torch.int32))
    h8 = torch.remainder(h8 + (shift * 255.0).trunc().to(torch.int32), 256)
    # HSV -> RGB
    v = maxc.to(f64)
    h6 = h8.to(f64) * 6.0 / 255.0
    i = torch.floor(h6)
    frac = (h6 - i).to(f32)
    fs = (s8.to(f64) / 255.0).to(f32)

    def level(value: torch.Tensor) -> torch.Tensor:  # C's round(): half away from zero
        return torch.floor(value + 0.5).clamp(0, 255).to(torch.int32)

    p = level(v * (1.0 - fs.to(f64)))
    q = level(v * (1.0 - (fs * frac).to(f64)))
    t = level(v * (1.0 - fs.to(f64) * (1.0 - frac.to(f64))))
    vi = maxc
    sector = i.to(torch.int64) % 6
    table = torch.stack([
        torch.stack([vi, q, p, p, t, vi]),
        torch.stack([t, vi, vi, q, p, p]),
        torch.stack([p, p, t, vi, vi, q]),
    ])  # [3, 6, N, H, W]  # fmt: skip
    out = table.gather(1, sector.unsqueeze(0).unsqueeze(0).expand(3, 1, *sector.shape))[:, 0]
    out = torch.where((s8 == 0).unsqueeze(0), vi.unsqueeze(0), out)
    return out.permute(1, 0, 2, 3).to(torch.uint8).contiguous()


def _float_hue_shift(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Continuous hue rotation of RGB values in [0, 1], ``[N, 3, H, W]``."""
    r, g, b = x.unbind(1)
    maxc, minc = x.amax(1), x.amin(1)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    hue = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = torch.where(delta > 0, (hue / 6.0) % 1.0, torch.zeros_like(hue))
    sat = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), 0.0)
    hue = (hue + shift.to(x.dtype)) % 1.0
    i = torch.floor(hue * 6.0)
    f = hue * 6.0 - i
    v = maxc
    p, q, t = v * (1 - sat), v * (1 - sat * f), v * (1 - sat * (1 - f))
    sector = i.long() % 6
    table = torch.stack([
        torch.stack([v, q, p, p, t, v]),
        torch.stack([t, v, v, q, p, p]),
        torch.stack([p, p, t, v, v, q]),
    ])  # fmt: skip
    out = table.gather(1, sector.unsqueeze(0).unsqueeze(0).expand(3, 1, *sector.shape))[:, 0]
    return out.permute(1, 0, 2, 3)


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


def rotation_matrix(
    angle: Any, height: int, width: int, center: Sequence[float] | None = None
) -> torch.Tensor:
    """PIL's inverse matrices (``Image.AFFINE`` data) of rotations by ``angle`` degrees
    counter-clockwise about ``center`` (``(x, y)``, default the image centre), as
    ``Image.rotate`` makes them (cosine and sine rounded to 15 decimals, so that right angles
    are exact): ``[N, 6]`` float64 for ``N`` angles.

    Examples:
        >>> rotation_matrix(90.0, 4, 4)[0].tolist()
        [0.0, -1.0, 4.0, 1.0, 0.0, 0.0]
    """
    a = -torch.deg2rad(torch.as_tensor(angle, dtype=torch.float64).reshape(-1))
    cos, sin = torch.round(torch.cos(a), decimals=15), torch.round(torch.sin(a), decimals=15)
    cx, cy = (width / 2.0, height / 2.0) if center is None else (center[0], center[1])
    c = cos * -cx + sin * -cy + cx
    f = -sin * -cx + cos * -cy + cy
    return torch.stack([cos, sin, c, -sin, cos, f], dim=1)


def rotation_size(matrix: Sequence[float], height: int, width: int) -> tuple[int, int]:
    """``(height, width)`` of ``Image.rotate(expand=True)``'s output for a rotation ``matrix``
    (one row of :func:`rotation_matrix`): the box of the image's corners, mapped by it."""
    a, b, c, d, e, f = (float(v) for v in matrix)
    corners = [(0, 0), (width, 0), (width, height), (0, height)]
    xs = [a * x + b * y + c for x, y in corners]
    ys = [d * x + e * y + f for x, y in corners]
    return (
        math.ceil(max(ys)) - math.floor(min(ys)),
        math.ceil(max(xs)) - math.floor(min(xs)),
    )


def expand_rotation(
    matrix: Sequence[float], height: int, width: int
) -> tuple[list[float], int, int]:
    """The matrix and size of ``Image.rotate(expand=True)``: the output grows to hold the
    rotated image, and the map shifts by half the growth. Returns ``(matrix, height, width)``."""
    a, b, c, d, e, f = (float(v) for v in matrix)
    nh, nw = rotation_size(matrix, height, width)
    dx, dy = -(nw - width) / 2.0, -(nh - height) / 2.0
    return [a, b, a * dx + b * dy + c, d, e, d * dx + e * dy + f], nh, nw


def inverse_affine_matrix(
    angle: Any,
    translate: Sequence[Any],
    scale: Any,
    shear: Sequence[Any],
    center: Sequence[Any],
) -> torch.Tensor:
    """Inverse matrices (``Image.AFFINE`` data) of Paddle's / torchvision's ``affine``: rotate
    by ``angle`` degrees clockwise and shear by ``shear = (sx, sy)`` degrees about ``center =
    (cx, cy)``, scale by ``scale``, then translate by ``translate = (tx, ty)`` pixels.

    Each value is a number or a tensor of ``N`` (one per image); returns ``[N, 6]`` float64.
    The forward map is ``T C R S C^-1`` with ``R S`` the rotation-shear of determinant 1 times
    ``scale``; its inverse is written out, so no matrix is inverted numerically.

    Examples:
        >>> m = inverse_affine_matrix(0.0, (2, 0), 1.0, (0.0, 0.0), (4.0, 4.0))
        >>> [v + 0.0 for v in m[0].tolist()]  # the output at x takes the input at x - 2
        [1.0, 0.0, -2.0, 0.0, 1.0, 0.0]
    """
    f64 = torch.float64
    raw = (angle, translate[0], translate[1], scale, shear[0], shear[1], center[0], center[1])
    device = next((v.device for v in raw if isinstance(v, torch.Tensor)), None)
    values = [torch.as_tensor(v, dtype=f64, device=device).reshape(-1) for v in raw]
    rot, tx, ty, s, sx, sy, cx, cy = torch.broadcast_tensors(*values)
    rot, sx, sy = torch.deg2rad(rot), torch.deg2rad(sx), torch.deg2rad(sy)
    # forward rotation-shear [[a, b], [c, d]] (determinant 1)
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -torch.cos(rot - sy) * torch.tan(sx) / torch.cos(sy) - torch.sin(rot)
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = -torch.sin(rot - sy) * torch.tan(sx) / torch.cos(sy) + torch.cos(rot)
    m0, m1, m3, m4 = d / s, -b / s, -c / s, a / s
    m2 = m0 * (-cx - tx) + m1 * (-cy - ty) + cx
    m5 = m3 * (-cx - tx) + m4 * (-cy - ty) + cy
    return torch.stack([m0, m1, m2, m3, m4, m5], dim=1)


_INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


def _check_interpolation(interpolation: str) -> None:
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            f"interpolation must be 'nearest', 'bilinear' or 'bicubic', got {interpolation!r}"
        )


def _sample(xf: torch.Tensor, grid: torch.Tensor, interpolation: str, fill: Any) -> torch.Tensor:
    """``grid_sample`` of float images, pixels from outside the image set to ``fill``."""
    if fill is None or (isinstance(fill, (int, float)) and fill == 0):
        return F.grid_sample(xf, grid, mode=interpolation, padding_mode="zeros",
                             align_corners=False)  # fmt: skip
    c = xf.shape[1]
    ones = torch.ones_like(xf[:, :1])
    sampled = F.grid_sample(torch.cat([xf, ones], 1), grid, mode=interpolation,
                            padding_mode="zeros", align_corners=False)  # fmt: skip
    out, inside = sampled[:, :c], sampled[:, c:]
    value = torch.as_tensor(fill, dtype=torch.float32, device=xf.device)
    value = value.reshape(1, -1, 1, 1) if value.dim() == 1 else value
    if interpolation == "nearest":
        return torch.where(inside > 0.5, out, value.expand_as(out))
    inside = inside.clamp(0, 1)
    return out * inside + value * (1 - inside)


def affine(
    x: torch.Tensor,
    matrix: torch.Tensor | Sequence[float],
    interpolation: str = "nearest",
    fill: float | Sequence[float] | None = None,
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Resample each image through an inverse affine map, PIL's ``Image.transform(AFFINE)``.

    Args:
        x: the image(s).
        matrix: ``(a, b, c, d, e, f)`` or ``[N, 6]``: the output pixel at ``(x, y)`` (pixel
            centres at ``+0.5``) takes the input at ``(a x + b y + c, d x + e y + f)``.
        interpolation: ``'nearest'``, ``'bilinear'`` or ``'bicubic'``.
        fill: the value of pixels from outside the image (one, or one per channel); None: 0.
        size: ``(height, width)`` of the output; None: the input's.

    Returns:
        The resampled image(s), in the input's dtype.

    Raises:
        ValueError: another interpolation, a matrix of another shape.
    """
    b, single = _batch(x, "affine")
    _check_interpolation(interpolation)
    n, c, h, w = b.shape
    oh, ow = (h, w) if size is None else (int(size[0]), int(size[1]))
    m = torch.as_tensor(matrix, dtype=torch.float64)
    m = m.reshape(1, 6).expand(n, 6) if m.numel() == 6 else m
    if m.shape != (n, 6):
        raise ValueError(f"matrix must be 6 numbers or [{n}, 6], got shape {tuple(m.shape)}")
    # In grid_sample's normalised coordinates (align_corners=False) an absolute output x is
    # (g + 1) ow / 2 and an input u normalises to 2 u / w - 1, so the input u = a x + b y + c
    # of output (gx, gy) is a (ow / w) gx + (b oh / w) gy + (a ow / w + b oh / w + 2 c / w - 1),
    # and v likewise (ow / w is exactly 1 when the size is kept).
    a, b_, c_, d, e, f = m.unbind(1)
    sx, sy = ow / w, oh / h
    theta = torch.stack(
        [
            torch.stack([a * sx, b_ * oh / w, a * sx + b_ * oh / w + 2 * c_ / w - 1], 1),
            torch.stack([d * ow / h, e * sy, d * ow / h + e * sy + 2 * f / h - 1], 1),
        ],
        1,
    ).to(device=b.device, dtype=torch.float32)
    grid = F.affine_grid(theta, [n, c, oh, ow], align_corners=False)
    return _done(_sample(b.float(), grid, interpolation, fill), x, single)


def perspective(
    x: torch.Tensor,
    coeffs: torch.Tensor | Sequence[float],
    interpolation: str = "nearest",
    fill: float | Sequence[float] | None = None,
) -> torch.Tensor:
    """Resample each image through an inverse perspective map, PIL's
    ``Image.transform(PERSPECTIVE)``: the output pixel at ``(x, y)`` (pixel centres at
    ``+0.5``) takes the input at ``((a x + b y + c) / (g x + h y + 1), (d x + e y + f) /
    (g x + h y + 1))`` for ``coeffs = (a, b, c, d, e, f, g, h)`` (or ``[N, 8]``).

    Args:
        x: the image(s).
        coeffs: the 8 coefficients, or one row of them per image.
        interpolation: ``'nearest'``, ``'bilinear'`` or ``'bicubic'``.
        fill: the value of pixels from outside the image (one, or one per channel); None: 0.

    Returns:
        The resampled image(s), in the input's dtype.

    Raises:
        ValueError: another interpolation, coefficients of another shape.

    Examples:
        >>> import torch
        >>> x = torch.arange(9, dtype=torch.uint8).reshape(1, 3, 3)
        >>> perspective(x, (1, 0, 1, 0, 1, 0, 0, 0))[0].tolist()  # one pixel to the left
        [[1, 2, 0], [4, 5, 0], [7, 8, 0]]
    """
    b, single = _batch(x, "perspective")
    _check_interpolation(interpolation)
    n, _, h, w = b.shape
    k = torch.as_tensor(coeffs, dtype=torch.float64, device=b.device)
    k = k.reshape(1, 8).expand(n, 8) if k.numel() == 8 else k
    if k.shape != (n, 8):
        raise ValueError(f"coeffs must be 8 numbers or [{n}, 8], got shape {tuple(k.shape)}")
    ys = torch.arange(h, dtype=torch.float64, device=b.device).reshape(1, h, 1) + 0.5
    xs = torch.arange(w, dtype=torch.float64, device=b.device).reshape(1, 1, w) + 0.5
    a_, b_, c_, d, e, f, g, h_ = (v.reshape(n, 1, 1) for v in k.unbind(1))
    den = g * xs + h_ * ys + 1
    u = (a_ * xs + b_ * ys + c_) / den
    v = (d * xs + e * ys + f) / den
    grid = torch.stack([2 * u / w - 1, 2 * v / h - 1], dim=-1).to(torch.float32)
    return _done(_sample(b.float(), grid, interpolation, fill), x, single)


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
