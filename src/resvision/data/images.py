"""Decoding image files into RGB arrays, with clear errors for bad files.

Every decoded image is converted to 8-bit RGB (documented behaviour of the folder datasets):

- grayscale (``L``, ``1``), palette (``P``), ``CMYK``, ``YCbCr`` and images with an alpha
  channel (``RGBA``, ``LA``, ``PA``) go through ``PIL.Image.convert('RGB')``; the alpha channel
  is dropped (not composited), as torchvision's and Paddle's folder loaders do;
- 16-bit (``I;16*``) and 32-bit integer (``I``) images are scaled from 0..65535 to 0..255
  (``round(v / 257)``); float (``F``) images are clipped to 0..255;
- an EXIF orientation tag (photos from phones and cameras) is applied
  (``PIL.ImageOps.exif_transpose``), so the pixels are the right way up, as viewers show them.

Images whose header declares more than ``max_pixels`` pixels (default 2**26, about 67
megapixels; ``RESVISION_MAX_IMAGE_PIXELS`` changes it) are refused before decoding, so a
decompression bomb never allocates its memory.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 1 << 26


class ImageDecodeError(ValueError):
    """A file could not be read as an image; the message names the file and the reason."""


def max_image_pixels() -> int:
    """Return the pixel limit above which images are refused (``RESVISION_MAX_IMAGE_PIXELS``)."""
    value = os.environ.get("RESVISION_MAX_IMAGE_PIXELS")
    if value is None:
        return DEFAULT_MAX_PIXELS
    try:
        limit = int(value)
    except ValueError:
        raise ValueError(
            f"RESVISION_MAX_IMAGE_PIXELS must be a positive integer, got {value!r}"
        ) from None
    if limit <= 0:
        raise ValueError(f"RESVISION_MAX_IMAGE_PIXELS must be a positive integer, got {value!r}")
    return limit


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I") or img.mode == "F":
        arr = np.asarray(img)
        if img.mode == "F":
            arr8 = np.clip(arr, 0, 255).astype(np.uint8)
        else:
            # 16-bit data stored in a wider container: map 0..65535 onto 0..255.
            arr8 = np.clip(np.rint(arr.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    return img.convert("RGB")


def open_image(
    source: str | os.PathLike | bytes,
    *,
    name: str | None = None,
    max_pixels: int | None = None,
    mode: str = "RGB",
) -> Image.Image:
    """Open, fully decode and convert an image file (path or encoded bytes).

    Args:
        source: a file path or the encoded bytes of an image.
        name: how the image is named in error messages (default: the path, or ``'<bytes>'``).
        max_pixels: refuse images with more pixels than this (default: :func:`max_image_pixels`).
        mode: ``'RGB'`` (conversions described in the module documentation) or ``'L'``.

    Returns:
        A loaded ``PIL.Image`` in ``mode``.

    Raises:
        ImageDecodeError: the file is empty, is not an image, is truncated or corrupt, or is
            larger than ``max_pixels``.

    Examples:
        >>> import io
        >>> from PIL import Image
        >>> buf = io.BytesIO()
        >>> Image.new("L", (4, 3), 7).save(buf, format="PNG")
        >>> open_image(buf.getvalue()).size, open_image(buf.getvalue()).mode
        ((4, 3), 'RGB')
    """
    if name is None:
        name = "<bytes>" if isinstance(source, bytes | bytearray) else str(source)
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    limit = max_image_pixels() if max_pixels is None else max_pixels
    try:
        data = bytes(source) if isinstance(source, bytes | bytearray) else Path(source).read_bytes()
    except OSError as exc:
        raise ImageDecodeError(f"cannot read image file {name}: {exc}") from exc
    if not data:
        raise ImageDecodeError(f"cannot read image {name}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # PIL's own bomb check warns or raises with its global limit; ours replaces it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > limit:
                raise ImageDecodeError(
                    f"refusing image {name}: {width}x{height} = {width * height} pixels is above "
                    f"the limit of {limit} pixels (a decompression bomb?); raise the limit with "
                    "max_pixels=... or the RESVISION_MAX_IMAGE_PIXELS environment variable"
                )
            img.load()
            if exif_orientation(img) != 1:
                img = ImageOps.exif_transpose(img)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(
            f"cannot read image {name}: not an image format PIL can decode ({len(data)} bytes)"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"refusing image {name}: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(
            f"cannot read image {name}: truncated or corrupt data ({exc})"
        ) from exc
    if mode == "L":
        return img if img.mode == "L" else _to_rgb(img).convert("L")
    return _to_rgb(img)


def exif_orientation(img: Image.Image) -> int:
    """The EXIF orientation tag of an opened image (1, upright, when it has none)."""
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:  # a damaged EXIF block: the pixels are still usable as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def oriented_size(img: Image.Image) -> tuple[int, int]:
    """``(width, height)`` as decoded, after the EXIF orientation (5 to 8 swap the sides);
    read from the header alone."""
    width, height = img.size
    return (height, width) if exif_orientation(img) >= 5 else (width, height)


def decode_rgb(
    source: str | os.PathLike | bytes, *, name: str | None = None, max_pixels: int | None = None
) -> np.ndarray:
    """Decode an image file into an ``H x W x 3`` ``uint8`` RGB array (see :func:`open_image`).

    Examples:
        >>> import io
        >>> from PIL import Image
        >>> buf = io.BytesIO()
        >>> Image.new("RGBA", (5, 2), (1, 2, 3, 0)).save(buf, format="PNG")
        >>> arr = decode_rgb(buf.getvalue())
        >>> arr.shape, arr.dtype, arr[0, 0].tolist()
        ((2, 5, 3), dtype('uint8'), [1, 2, 3])
    """
    return np.asarray(open_image(source, name=name, max_pixels=max_pixels))
