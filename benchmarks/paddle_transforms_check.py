"""Cross-check against real Paddle: ``paddle.vision.transforms`` and resvision's give the same
pixels.

Every functional operation of ``paddle.vision.transforms.functional`` and every transform class
whose randomness can be pinned (a range of one value, a probability of 1) runs on the same
fixed image in Paddle and in resvision, for three input kinds:

- ``pil``: a PIL image, through Paddle's PIL backend and resvision's PIL path (the reference
  for exactness);
- ``array``: an ``H x W x 3`` ``uint8`` array. Paddle processes arrays with OpenCV, which this
  venv does not have (nor does resvision depend on it), so resvision's array result is compared
  with Paddle's PIL result: the deviation of resvision's torch kernels from PIL;
- ``tensor``: a ``3 x H x W`` ``float32`` tensor in [0, 1], through Paddle's tensor backend and
  resvision's kernels; differences are reported in grey levels (x 255).

One row per operation and input kind: the largest absolute difference (grey levels), the mean
one, the fraction of differing values, whether the shapes agree, or the error either side
raised. Written to ``benchmarks/results/paddle-transforms-check.json``.

Run in the venv that has paddlepaddle 3.3.1 and torch, from the repository root::

    . /work/venvs/paddle/bin/activate
    PYTHONPATH=src python benchmarks/paddle_transforms_check.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "paddle-transforms-check.json")
HEIGHT, WIDTH = 37, 53  # odd, non-square: centres and rounding are not symmetric

START = [[0, 0], [WIDTH - 1, 0], [WIDTH - 1, HEIGHT - 1], [0, HEIGHT - 1]]
END = [[3, 2], [WIDTH - 6, 1], [WIDTH - 2, HEIGHT - 4], [5, HEIGHT - 3]]


def test_image(seed: int = 0) -> np.ndarray:
    """Smooth colour content with the full range (edges, gradients, saturated and grey areas)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (HEIGHT // 4 + 1, WIDTH // 4 + 1, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(base).resize((WIDTH, HEIGHT), Image.BILINEAR)).copy()
    smooth[:4, :4] = (255, 0, 0)  # pure colours and greys: hue and saturation corner cases
    smooth[-4:, -4:] = (128, 128, 128)
    return smooth


def cases() -> list[tuple[str, Callable[[Any, Any], Any]]]:
    """(name, run(module_of_transforms, functional_module, image)) pairs; each ``run`` is called
    once with Paddle's modules and once with resvision's."""

    def fn(name: str, *args: Any, **kwargs: Any) -> Callable:
        return lambda T, F, img: getattr(F, name)(img, *args, **kwargs)

    def cls(name: str, *args: Any, **kwargs: Any) -> Callable:
        return lambda T, F, img: getattr(T, name)(*args, **kwargs)(img)

    return [
        ("hflip", fn("hflip")),
        ("vflip", fn("vflip")),
        ("resize int bilinear", fn("resize", 20)),
        ("resize (h, w) nearest", fn("resize", (17, 29), "nearest")),
        ("pad constant fill", fn("pad", 3, (10, 20, 30))),
        ("pad edge", fn("pad", (2, 1, 3, 4), 0, "edge")),
        ("pad reflect", fn("pad", (2, 3), 0, "reflect")),
        ("pad symmetric", fn("pad", [4, 1, 0, 2], 0, "symmetric")),
        ("crop", fn("crop", 3, 5, 20, 30)),
        ("center_crop", fn("center_crop", (20, 30))),
        ("adjust_brightness 1.4", fn("adjust_brightness", 1.4)),
        ("adjust_brightness 0.3", fn("adjust_brightness", 0.3)),
        ("adjust_contrast 0.6", fn("adjust_contrast", 0.6)),
        ("adjust_contrast 1.8", fn("adjust_contrast", 1.8)),
        ("adjust_saturation 1.7", fn("adjust_saturation", 1.7)),
        ("adjust_saturation 0.2", fn("adjust_saturation", 0.2)),
        ("adjust_hue 0.23", fn("adjust_hue", 0.23)),
        ("adjust_hue -0.4", fn("adjust_hue", -0.4)),
        ("affine nearest", fn("affine", 17.0, (3, -2), 0.9, (8.0, -5.0))),
        ("affine bilinear", fn("affine", -31.0, (0, 4), 1.2, (0.0, 12.0), "bilinear")),
        ("affine fill", fn("affine", 45.0, (0, 0), 0.7, 0.0, "nearest", (9, 99, 199))),
        ("rotate 33 nearest", fn("rotate", 33)),
        ("rotate 90", fn("rotate", 90)),
        ("rotate -20 bilinear", fn("rotate", -20, "bilinear")),
        ("rotate expand", fn("rotate", 33, "nearest", True)),
        ("rotate center", fn("rotate", 33, "nearest", False, (10, 5))),
        ("perspective nearest", fn("perspective", START, END)),
        ("perspective bilinear", fn("perspective", START, END, "bilinear")),
        ("to_grayscale 1", fn("to_grayscale", 1)),
        ("to_grayscale 3", fn("to_grayscale", 3)),
        ("RandomVerticalFlip(1)", cls("RandomVerticalFlip", 1.0)),
        ("BrightnessTransform", cls("BrightnessTransform", (1.3, 1.3))),
        ("ContrastTransform", cls("ContrastTransform", (0.7, 0.7))),
        ("SaturationTransform", cls("SaturationTransform", (1.5, 1.5))),
        ("HueTransform", cls("HueTransform", (0.2, 0.2))),
        ("ColorJitter (one)", cls("ColorJitter", brightness=(1.2, 1.2))),
        ("Pad", cls("Pad", (1, 2, 3, 4), 7, "constant")),
        ("RandomAffine", cls("RandomAffine", (20, 20), None, (1.1, 1.1), (5, 5, 3, 3))),
        ("RandomRotation", cls("RandomRotation", (25, 25))),
        ("RandomRotation expand", cls("RandomRotation", (25, 25), "bilinear", True)),
        ("RandomPerspective identity", cls("RandomPerspective", 1.0, 0.0)),
        ("Grayscale(3)", cls("Grayscale", 3)),
    ]


def _as_hwc255(out: Any) -> np.ndarray:
    """A result as an ``H x W x C`` float64 array in grey levels."""
    if hasattr(out, "numpy") and not isinstance(out, np.ndarray):  # paddle or torch tensor
        arr = np.asarray(out.numpy(), dtype=np.float64)
        arr = arr[None] if arr.ndim == 2 else arr
        return arr.transpose(1, 2, 0) * 255.0
    arr = np.asarray(out, dtype=np.float64)
    return arr[..., None] if arr.ndim == 2 else arr


def _row(name: str, kind: str, reference: str, theirs: Any, ours: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"transform": name, "kind": kind, "reference": reference}
    for side, value in (("paddle", theirs), ("resvision", ours)):
        if isinstance(value, Exception):
            row[f"{side}_error"] = f"{type(value).__name__}: {value}"[:300]
    if "paddle_error" in row or "resvision_error" in row:
        return row
    a, b = _as_hwc255(theirs), _as_hwc255(ours)
    row["shape_equal"] = a.shape == b.shape
    if a.shape != b.shape:
        row["shapes"] = [list(a.shape), list(b.shape)]
        return row
    diff = np.abs(a - b)
    row["max_abs_diff"] = round(float(diff.max()), 4)
    row["mean_abs_diff"] = round(float(diff.mean()), 5)
    row["differing_fraction"] = round(float((diff > 1e-3).mean()), 5)
    row["exact"] = bool(diff.max() <= 1e-3)
    return row


def _call(run: Callable, T: Any, F: Any, img: Any) -> Any:
    try:
        return run(T, F, img)
    except Exception as e:
        return e


def check() -> list[dict[str, Any]]:
    import paddle
    import paddle.vision.transforms as PT
    import paddle.vision.transforms.functional as PF
    import torch
    from PIL import Image

    import resvision.transforms as RT
    import resvision.transforms.functional as RF

    paddle.set_device("cpu")
    hwc = test_image()
    rows = []
    for name, run in cases():
        # pil: Paddle's PIL backend against resvision's PIL path
        theirs_pil = _call(run, PT, PF, Image.fromarray(hwc))
        rows.append(_row(name, "pil", "paddle PIL", theirs_pil,
                         _call(run, RT, RF, Image.fromarray(hwc))))  # fmt: skip
        # array: resvision's kernels against Paddle's PIL result (Paddle's arrays need OpenCV)
        rows.append(_row(name, "array", "paddle PIL (no OpenCV here)", theirs_pil,
                         _call(run, RT, RF, hwc.copy())))  # fmt: skip
        # tensor: float CHW in [0, 1], Paddle's tensor backend against resvision's kernels
        chw = hwc.transpose(2, 0, 1).astype(np.float32) / 255.0
        theirs_t = _call(run, PT, PF, paddle.to_tensor(chw))
        rows.append(_row(name, "tensor", "paddle tensor", theirs_t,
                         _call(run, RT, RF, torch.from_numpy(chw.copy()))))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", default=RESULTS)
    args = p.parse_args(argv)
    import paddle
    import PIL
    import torch

    rows = check()
    result = {
        "what": "paddle.vision.transforms against resvision.transforms on the same image: "
        "largest absolute difference in grey levels per operation and input kind",
        "command": "PYTHONPATH=src /work/venvs/paddle/bin/python benchmarks/paddle_transforms_check.py",
        "date": dt.date.today().isoformat(),
        "paddle": paddle.__version__,
        "torch": torch.__version__,
        "pillow": PIL.__version__,
        "image": f"{HEIGHT}x{WIDTH} RGB uint8 (test_image(seed=0))",
        "rows": rows,
    }
    with open(args.output, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    width = max(len(r["transform"]) for r in rows)
    for r in rows:
        status = (
            r.get("paddle_error") or r.get("resvision_error")
            if "max_abs_diff" not in r
            else f"max {r['max_abs_diff']:g}  mean {r['mean_abs_diff']:g}  "
            f"differing {r['differing_fraction']:.3%}"
        )
        if r.get("shape_equal") is False:
            status = f"shapes differ {r['shapes']}"
        print(f"{r['transform']:<{width}}  {r['kind']:<6}  {status}")
    print(f"\nwritten: {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
