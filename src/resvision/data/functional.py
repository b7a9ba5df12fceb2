"""Image operations on the three image kinds the transforms accept.

- ``PIL.Image``: processed with PIL, returned as PIL.
- ``numpy.ndarray``: ``H x W x C`` or ``H x W`` (Paddle's ``cv2`` backend layout), returned as an
  array of the same dtype.
- ``torch.Tensor``: ``C x H x W`` or ``H x W``, returned as a tensor of the same dtype.

Colour bounds: integer images are taken to span 0..255, floating images 0..1 (the torchvision
convention) when an operation must clamp.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance, ImageOps

from resvision.data import kernels

Img = Any  # PIL.Image.Image | np.ndarray | torch.Tensor

INTERPOLATIONS = {
    "nearest": (Image.NEAREST, "nearest-exact"),  # PIL's pixel-centre convention
    "bilinear": (Image.BILINEAR, "bilinear"),
    "bicubic": (Image.BICUBIC, "bicubic"),
    "box": (Image.BOX, None),
    "lanczos": (Image.LANCZOS, None),
    "hamming": (Image.HAMMING, None),
}


def is_pil(img: Img) -> bool:
    return isinstance(img, Image.Image)


def check_image(img: Img, what: str) -> None:
    """Raise a TypeError naming ``what`` when ``img`` is not one of the three accepted kinds."""
    if is_pil(img):
        return
    if isinstance(img, np.ndarray | torch.Tensor):
        if img.ndim in (2, 3):
            return
        raise ValueError(
            f"{what} expects a 2-D or 3-D image (HWC array or CHW tensor), got shape "
            f"{tuple(img.shape)}"
        )
    raise TypeError(
        f"{what} expects a PIL image, an HWC numpy array or a CHW tensor, got {type(img).__name__}"
    )


def get_size(img: Img) -> tuple[int, int]:
    """Return ``(height, width)``."""
    if is_pil(img):
        return img.height, img.width
    if isinstance(img, np.ndarray):
        return int(img.shape[0]), int(img.shape[1])
    return int(img.shape[-2]), int(img.shape[-1])


def pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """Return ``(h, w)`` from an int or a pair; reject anything else with a clear error."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        out = (int(value), int(value))
    elif (
        isinstance(value, Sequence)
        and len(value) == 2
        and all(isinstance(v, int | np.integer) for v in value)
    ):
        out = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair (h, w) of ints, got {value!r}")
    if min(out) <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return out


def padding4(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """Return ``(left, top, right, bottom)`` from Paddle's 1-, 2- or 4-value padding."""
    if isinstance(padding, int) and not isinstance(padding, bool):
        values = [padding] * 4
    elif isinstance(padding, Sequence) and len(padding) == 2:
        values = [padding[0], padding[1], padding[0], padding[1]]
    elif isinstance(padding, Sequence) and len(padding) == 4:
        values = list(padding)
    else:
        raise ValueError(
            f"padding must be an int, (left/right, top/bottom) or (left, top, right, bottom), "
            f"got {padding!r}"
        )
    if any(not isinstance(v, int) or v < 0 for v in values):
        raise ValueError(f"padding values must be non-negative ints, got {padding!r}")
    return values[0], values[1], values[2], values[3]


def to_chw_tensor(img: Img) -> torch.Tensor:
    """PIL / HWC array -> CHW tensor (dtype kept; a 2-D input gets one channel)."""
    if is_pil(img):
        img = np.asarray(img)
    if isinstance(img, np.ndarray):
        arr = np.ascontiguousarray(img)
        t = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
        return t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)
    return img.unsqueeze(0) if img.ndim == 2 else img


def from_chw_tensor(t: torch.Tensor, like: Img) -> Img:
    """Inverse of :func:`to_chw_tensor`: give ``t`` the kind, layout and dtype of ``like``."""
    if is_pil(like):
        arr = t.permute(1, 2, 0).numpy()
        return Image.fromarray(arr[..., 0] if like.mode in ("L", "1", "I", "F") else arr, like.mode)
    if isinstance(like, np.ndarray):
        arr = t.permute(1, 2, 0).numpy()
        return np.ascontiguousarray(arr[..., 0] if like.ndim == 2 else arr).astype(like.dtype)
    return t[0] if like.ndim == 2 else t


def crop(img: Img, top: int, left: int, height: int, width: int) -> Img:
    if is_pil(img):
        return img.crop((left, top, left + width, top + height))
    if isinstance(img, np.ndarray):
        return img[top : top + height, left : left + width].copy()
    return img[..., top : top + height, left : left + width]


def hflip(img: Img) -> Img:
    if is_pil(img):
        return img.transpose(Image.FLIP_LEFT_RIGHT)
    if isinstance(img, np.ndarray):
        return img[:, ::-1].copy()
    return img.flip(-1)


def vflip(img: Img) -> Img:
    """Flip top-bottom."""
    if is_pil(img):
        return img.transpose(Image.FLIP_TOP_BOTTOM)
    if isinstance(img, np.ndarray):
        return img[::-1].copy()
    return img.flip(-2)


def pad(
    img: Img,
    padding: tuple[int, int, int, int],
    fill: float | Sequence[float] = 0,
    mode: str = "constant",
) -> Img:
    """Pad by ``(left, top, right, bottom)`` with ``mode`` constant/edge/reflect/symmetric."""
    if mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError(f"padding_mode must be constant, edge, reflect or symmetric, got {mode!r}")
    left, top, right, bottom = padding
    if is_pil(img) and mode == "constant" and img.mode in ("RGB", "L"):
        # PIL pads in C: much faster than a round trip through numpy for every sample.
        fills = [int(v) for v in np.broadcast_to(np.asarray(fill), (len(img.getbands()),))]
        return ImageOps.expand(
            img, (left, top, right, bottom), tuple(fills) if len(fills) > 1 else fills[0]
        )
    if is_pil(img):
        arr = np.asarray(img)
        return Image.fromarray(pad(arr, padding, fill, mode), img.mode)
    if isinstance(img, np.ndarray):
        widths = [(top, bottom), (left, right)] + [(0, 0)] * (img.ndim - 2)
        if mode != "constant":
            return np.pad(img, widths, mode=mode)
        out = np.empty(
            (img.shape[0] + top + bottom, img.shape[1] + left + right, *img.shape[2:]), img.dtype
        )
        out[...] = np.asarray(fill, dtype=img.dtype) if img.ndim == 3 else np.asarray(fill).flat[0]
        out[top : top + img.shape[0], left : left + img.shape[1]] = img
        return out
    t = img.unsqueeze(0) if img.ndim == 2 else img
    if mode == "constant":
        out = t.new_empty((t.shape[0], t.shape[1] + top + bottom, t.shape[2] + left + right))
        out[...] = torch.as_tensor(fill, dtype=t.dtype).reshape(-1, 1, 1)
        out[:, top : top + t.shape[1], left : left + t.shape[2]] = t
    else:
        torch_mode = {"edge": "replicate", "reflect": "reflect", "symmetric": None}[mode]
        if torch_mode is None:  # torch has no symmetric mode: go through numpy
            arr = np.pad(t.numpy(), [(0, 0), (top, bottom), (left, right)], mode="symmetric")
            out = torch.from_numpy(arr)
        else:
            out = F.pad(t.unsqueeze(0).float(), (left, right, top, bottom), mode=torch_mode)
            out = out[0].to(t.dtype)
    return out[0] if img.ndim == 2 else out


def resize(img: Img, size: tuple[int, int], interpolation: str = "bilinear") -> Img:
    """Resize to exactly ``size = (h, w)``."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"interpolation must be one of {sorted(INTERPOLATIONS)}, got {interpolation!r}"
        )
    pil_mode, torch_mode = INTERPOLATIONS[interpolation]
    h, w = size
    if is_pil(img):
        return img.resize((w, h), pil_mode)
    if (
        isinstance(img, np.ndarray)
        and img.dtype == np.uint8
        and (img.ndim == 2 or img.shape[2] in (1, 3, 4))
    ):
        squeeze = img.ndim == 3 and img.shape[2] == 1
        pil = Image.fromarray(img[..., 0] if squeeze else img)
        out = np.asarray(pil.resize((w, h), pil_mode))
        return out[..., None] if squeeze else out
    if torch_mode is None:
        raise ValueError(f"interpolation {interpolation!r} is only available for PIL/uint8 images")
    t = to_chw_tensor(img)
    x = t.unsqueeze(0).float()
    kwargs: dict[str, Any] = {}
    if not torch_mode.startswith("nearest"):
        kwargs = {"align_corners": False, "antialias": True}
    out = F.interpolate(x, size=(h, w), mode=torch_mode, **kwargs)[0]
    if not t.is_floating_point():
        out = out.round().clamp(0, 255 if t.dtype == torch.uint8 else None)
    return from_chw_tensor(out.to(t.dtype), img)


def _bound(t: torch.Tensor) -> float:
    return 1.0 if t.is_floating_point() else 255.0


def _blend(a: torch.Tensor, b: torch.Tensor | float, ratio: float, bound: float) -> torch.Tensor:
    return (ratio * a + (1.0 - ratio) * b).clamp(0, bound)


def _gray(t: torch.Tensor) -> torch.Tensor:
    if t.shape[0] == 1:
        return t
    r, g, b = t[0], t[1], t[2]
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(0)


_ADJUST_KERNELS = {
    "brightness": kernels.adjust_brightness,
    "contrast": kernels.adjust_contrast,
    "saturation": kernels.adjust_saturation,
    "hue": kernels.adjust_hue,
}


def adjust(img: Img, kind: str, factor: float) -> Img:
    """Brightness / contrast / saturation (a factor, 1 = unchanged) or hue (a shift in [-0.5, 0.5]).

    PIL images go through PIL (``ImageEnhance``; the hue through 8-bit HSV, shifted by
    ``int(factor * 255)`` levels, as Paddle's PIL backend); ``uint8`` and floating arrays and
    tensors through :mod:`resvision.data.kernels` (the kernels of the batched forms).
    """
    if kind not in _ADJUST_KERNELS:
        raise ValueError(f"unknown adjustment {kind!r}: expected one of {sorted(_ADJUST_KERNELS)}")
    if is_pil(img) and kind != "hue":
        enhancer = {
            "brightness": ImageEnhance.Brightness,
            "contrast": ImageEnhance.Contrast,
            "saturation": ImageEnhance.Color,
        }[kind]
        return enhancer(img).enhance(factor)
    if is_pil(img):
        mode = img.mode
        if mode in ("L", "1", "I", "F"):
            return img
        h, s, v = img.convert("HSV").split()
        h_arr = np.asarray(h).astype(np.int16)
        h_arr = ((h_arr + int(factor * 255)) % 256).astype(np.uint8)
        return Image.merge("HSV", (Image.fromarray(h_arr, "L"), s, v)).convert(mode)
    t = to_chw_tensor(img)
    if t.dtype == torch.uint8 or t.is_floating_point():
        return from_chw_tensor(_ADJUST_KERNELS[kind](t, float(factor)), img)
    # other integer types (16-bit images): on 0..255 in float, rounded back
    x = t.float()
    bound = _bound(t)
    if kind == "brightness":
        out = (x * factor).clamp(0, bound)
    elif kind == "contrast":
        out = _blend(x, _gray(x).mean().item(), factor, bound)
    elif kind == "saturation":
        out = x if x.shape[0] == 1 else _blend(x, _gray(x), factor, bound)
    else:
        out = x if x.shape[0] == 1 else shift_hue(x / bound, factor) * bound
    return from_chw_tensor(out.round().to(t.dtype), img)


def shift_hue(x: torch.Tensor, shift: float) -> torch.Tensor:
    """Shift the hue of RGB values in [0, 1] (``[..., 3, H, W]``) by ``shift`` turns."""
    r, g, b = x.unbind(-3)
    maxc, _ = x.max(-3)
    minc, _ = x.min(-3)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    hue = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = torch.where(delta > 0, (hue / 6.0) % 1.0, torch.zeros_like(hue))
    sat = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), 0.0)
    hue = (hue + shift) % 1.0
    i = torch.floor(hue * 6.0)
    f = hue * 6.0 - i
    p, q, t_ = maxc * (1 - sat), maxc * (1 - sat * f), maxc * (1 - sat * (1 - f))
    i = i.long() % 6
    v = maxc
    choices = [(v, t_, p), (q, v, p), (p, v, t_), (p, q, v), (t_, p, v), (v, p, q)]
    out = [torch.zeros_like(v) for _ in range(3)]
    for k, (cr, cg, cb) in enumerate(choices):
        mask = i == k
        out[0] = torch.where(mask, cr, out[0])
        out[1] = torch.where(mask, cg, out[1])
        out[2] = torch.where(mask, cb, out[2])
    return torch.stack(out, -3)


def erase(img: Img, top: int, left: int, height: int, width: int, value: Any) -> Img:
    """Set a rectangle to ``value`` (a number, a per-channel sequence or an array of that shape)."""
    if is_pil(img):
        arr = np.array(img)
        return Image.fromarray(erase(arr, top, left, height, width, value), img.mode)
    if isinstance(img, np.ndarray):
        out = img.copy()
        out[top : top + height, left : left + width] = np.asarray(value, dtype=img.dtype)
        return out
    out = img.clone()
    v = torch.as_tensor(value, dtype=img.dtype)
    if v.ndim == 1 and img.ndim == 3:
        v = v.reshape(-1, 1, 1)
    out[..., top : top + height, left : left + width] = v
    return out


def random_crop_box(
    height: int,
    width: int,
    scale: Sequence[float],
    ratio: Sequence[float],
) -> tuple[int, int, int, int]:
    """Sample ``(top, left, h, w)`` for RandomResizedCrop (10 tries, then a central crop)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * torch.empty(1).uniform_(scale[0], scale[1]).item()
        aspect = math.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1]).item())
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,)).item())
            left = int(torch.randint(0, width - w + 1, (1,)).item())
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        h, w = height, round(height * max(ratio))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


# --- the operations of the policy augmentations (AutoAugment, RandAugment, TrivialAugment,
# AugMix): PIL images through PIL, tensors and arrays through resvision.data.kernels, which the
# batched forms of the fast path call on whole batches.

_RESAMPLE = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def _through_kernel(img: Img, op: Any, *args: Any) -> Img:
    return from_chw_tensor(op(to_chw_tensor(img), *args), img)


def _pil_fill(img: Image.Image, fill: Any) -> Any:
    if fill is None:
        return None
    bands = len(img.getbands())
    if isinstance(fill, (int, float)):
        return int(fill) if bands == 1 else (int(fill),) * bands
    values = tuple(int(v) for v in fill)
    return values[0] if bands == 1 else values


def affine_matrix(
    img: Img, matrix: Sequence[float], interpolation: str = "nearest", fill: Any = None
) -> Img:
    """Resample through the inverse affine map ``matrix`` (PIL's ``Image.AFFINE`` data: the
    output pixel at ``(x, y)`` takes the input at ``(a x + b y + c, d x + e y + f)``).

    Examples:
        >>> import torch
        >>> x = torch.arange(9, dtype=torch.uint8).reshape(1, 3, 3)
        >>> affine_matrix(x, (1, 0, -1, 0, 1, 0))[0].tolist()  # one pixel to the right
        [[0, 0, 1], [0, 3, 4], [0, 6, 7]]
    """
    if is_pil(img):
        return img.transform(img.size, Image.AFFINE, tuple(float(v) for v in matrix),
                             _RESAMPLE[interpolation], fillcolor=_pil_fill(img, fill))  # fmt: skip
    return _through_kernel(img, lambda t: kernels.affine(t, list(matrix), interpolation, fill))


def rotate(
    img: Img,
    angle: float,
    interpolation: str = "nearest",
    fill: Any = None,
    *,
    expand: bool = False,
    center: Sequence[float] | None = None,
) -> Img:
    """Rotate by ``angle`` degrees counter-clockwise about ``center`` (``(x, y)``, default the
    image centre), PIL's ``Image.rotate``; ``expand=True`` grows the output to hold the whole
    rotated image, shifted by half the growth, as in PIL."""
    if is_pil(img):
        return img.rotate(float(angle), _RESAMPLE[interpolation], expand=bool(expand),
                          center=None if center is None else tuple(center),
                          fillcolor=_pil_fill(img, fill))  # fmt: skip
    h, w = get_size(img)
    turn = float(angle) % 360.0
    if center is None and (turn == 180.0 or (turn in (90.0, 270.0) and (expand or h == w))):
        # PIL transposes there (so a right angle with expand=True swaps the sides exactly)
        t = to_chw_tensor(img)
        return from_chw_tensor(torch.rot90(t, 2 if turn == 180.0 else int(turn // 90), (-2, -1)),
                               img)  # fmt: skip
    matrix = kernels.rotation_matrix(angle, h, w, center)[0].tolist()
    if not expand:
        return affine_matrix(img, matrix, interpolation, fill)
    matrix, nh, nw = kernels.expand_rotation(matrix, h, w)
    return _through_kernel(
        img, lambda t: kernels.affine(t, matrix, interpolation, fill, size=(nh, nw))
    )


def affine(
    img: Img,
    angle: float,
    translate: Sequence[float],
    scale: float,
    shear: Sequence[float],
    interpolation: str = "nearest",
    fill: Any = None,
    center: Sequence[float] | None = None,
) -> Img:
    """Paddle's (and torchvision's) affine: rotate by ``angle`` degrees clockwise and shear by
    ``shear = (sx, sy)`` degrees about ``center`` (default the image centre), scale, then
    translate by ``translate = (tx, ty)`` pixels; the size is kept.

    Examples:
        >>> import torch
        >>> x = torch.arange(9, dtype=torch.uint8).reshape(1, 3, 3)
        >>> affine(x, 0.0, (0, 1), 1.0, (0.0, 0.0))[0].tolist()  # one pixel down
        [[0, 0, 0], [0, 1, 2], [3, 4, 5]]
    """
    h, w = get_size(img)
    if center is None:
        center = (w * 0.5, h * 0.5)
    matrix = kernels.inverse_affine_matrix(angle, translate, scale, shear, center)[0].tolist()
    return affine_matrix(img, matrix, interpolation, fill)


def perspective_coeffs(
    startpoints: Sequence[Sequence[float]], endpoints: Sequence[Sequence[float]]
) -> list[float]:
    """The 8 coefficients of PIL's ``Image.PERSPECTIVE`` mapping each of the four
    ``endpoints`` (output corners) to its ``startpoints`` (input corners): the least-squares
    solution of the 8 equations, as Paddle computes it (so PIL results agree to the bit)."""
    rows = []
    for (x, y), (u, v) in zip(endpoints, startpoints):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.asarray(rows, dtype=np.float64)
    b = np.asarray(startpoints, dtype=np.float64).reshape(8)
    return [float(v) for v in np.linalg.lstsq(a, b, rcond=None)[0]]


def perspective(
    img: Img,
    startpoints: Sequence[Sequence[float]],
    endpoints: Sequence[Sequence[float]],
    interpolation: str = "nearest",
    fill: Any = None,
) -> Img:
    """Warp so that the four ``startpoints`` (top-left, top-right, bottom-right, bottom-left
    ``(x, y)``) land on the four ``endpoints``; the size is kept.

    Examples:
        >>> import torch
        >>> x = torch.arange(9, dtype=torch.uint8).reshape(1, 3, 3)
        >>> corners = [[0, 0], [2, 0], [2, 2], [0, 2]]
        >>> torch.equal(perspective(x, corners, corners), x)
        True
    """
    coeffs = perspective_coeffs(startpoints, endpoints)
    if is_pil(img):
        return img.transform(img.size, Image.PERSPECTIVE, tuple(coeffs),
                             _RESAMPLE[interpolation], fillcolor=_pil_fill(img, fill))  # fmt: skip
    return _through_kernel(img, lambda t: kernels.perspective(t, coeffs, interpolation, fill))


def to_grayscale(img: Img, num_output_channels: int = 1) -> Img:
    """The luma image with 1 or 3 equal channels (PIL's ``convert('L')``; ``uint8`` arrays and
    tensors get the same values, :func:`resvision.data.kernels.to_grayscale`).

    Raises:
        ValueError: ``num_output_channels`` is not 1 or 3.
    """
    if num_output_channels not in (1, 3):
        raise ValueError(f"num_output_channels must be 1 or 3, got {num_output_channels!r}")
    if is_pil(img):
        grey = img.convert("L")
        return grey if num_output_channels == 1 else Image.merge("RGB", (grey, grey, grey))
    t = kernels.to_grayscale(to_chw_tensor(img), num_output_channels)
    if isinstance(img, np.ndarray):
        arr = t.permute(1, 2, 0).numpy()
        return np.ascontiguousarray(arr[..., 0] if img.ndim == 2 else arr)
    return t[0] if img.ndim == 2 else t


def posterize(img: Img, bits: int) -> Img:
    """Keep the ``bits`` highest bits of each 8-bit value."""
    if is_pil(img):
        return ImageOps.posterize(img, int(bits))
    return _through_kernel(img, kernels.posterize, int(bits))


def solarize(img: Img, threshold: float) -> Img:
    """Invert the values at or above ``threshold`` (0..255 for 8-bit images)."""
    if is_pil(img):
        return ImageOps.solarize(img, threshold)
    return _through_kernel(img, kernels.solarize, float(threshold))


def autocontrast(img: Img) -> Img:
    """Stretch each channel to the full range."""
    if is_pil(img):
        return ImageOps.autocontrast(img)
    return _through_kernel(img, kernels.autocontrast)


def equalize(img: Img) -> Img:
    """Histogram equalisation of each channel (PIL's)."""
    if is_pil(img):
        return ImageOps.equalize(img)
    return _through_kernel(img, kernels.equalize)


def invert(img: Img) -> Img:
    """White minus each value."""
    if is_pil(img):
        return ImageOps.invert(img)
    return _through_kernel(img, kernels.invert)


def adjust_sharpness(img: Img, factor: float) -> Img:
    """Sharpen (``factor`` > 1) or blur (< 1) with PIL's ``SMOOTH`` filter; 1: unchanged."""
    if is_pil(img):
        return ImageEnhance.Sharpness(img).enhance(factor)
    return _through_kernel(img, kernels.adjust_sharpness, float(factor))
