"""``resvision predict`` on odd images: grayscale, RGBA, CMYK, 16-bit, 1x1, huge, EXIF-rotated.

Each either gets the prediction of the equivalent plain RGB image (the conversion documented in
``resvision.data.images`` and ``resvision.cli.predict``: grey replicated, alpha dropped, CMYK
through PIL's conversion, 16-bit scaled by 1/257, EXIF orientation applied) or a clear error
naming the file (a decompression bomb, a non-image), never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resvision.cli.main import main


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A ResNet-20 trained 2 steps on the embedded sample (predictions need not be good, only
    deterministic)."""
    work = tmp_path_factory.mktemp("odd")
    run = work / "run"
    code, _, err = run_cli(["train", "--max-steps", "2", "--batch-size", "16", "--device",
                              "cpu", "--amp", "off", "--output", str(run), "--set",
                              "output.report=false", "--set", "output.misclassified=0"])  # fmt: skip
    assert code == 0, err
    return run


def predict(checkpoint: Path, *files: Path) -> tuple[int, dict, str]:
    code, out, err = run_cli(["predict", "--checkpoint", str(checkpoint), "--json", "--device",
                              "cpu", *map(str, files)])  # fmt: skip
    return code, json.loads(out) if out.strip() else {}, err


def probabilities(result: dict) -> dict[str, list[float]]:
    return {
        Path(r["image"]).name: sorted((p["index"], p["probability"]) for p in r["predictions"])
        for r in result["results"]
    }


RGB = np.random.default_rng(3).integers(0, 256, (40, 48, 3), dtype=np.uint8)


def test_other_modes_predict_as_their_rgb_equivalent(checkpoint, tmp_path):
    grey = RGB.mean(axis=2).astype(np.uint8)
    Image.fromarray(RGB).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([RGB, np.full(RGB.shape[:2], 7, np.uint8)])).save(
        tmp_path / "rgba.png"
    )
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([grey] * 3)).save(tmp_path / "grey_rgb.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep16.png")  # 16-bit
    cmyk = Image.fromarray(RGB).convert("CMYK")
    cmyk.save(tmp_path / "cmyk.tif")
    cmyk.convert("RGB").save(tmp_path / "cmyk_as_rgb.png")
    files = sorted(tmp_path.iterdir())
    code, result, err = predict(checkpoint, *files)
    assert code == 0, err
    p = probabilities(result)
    assert p["rgba.png"] == p["rgb.png"]  # alpha dropped
    assert p["grey.png"] == p["grey_rgb.png"] == p["deep16.png"]  # grey replicated, 16 -> 8 bit
    assert p["cmyk.tif"] == p["cmyk_as_rgb.png"]
    assert Image.open(tmp_path / "deep16.png").mode.startswith("I")  # really a 16-bit file


def test_exif_rotated_photo_is_predicted_upright(checkpoint, tmp_path):
    upright = Image.fromarray(RGB)  # 48 wide, 40 high
    upright.save(tmp_path / "upright.png")
    # A camera stores the sensor's pixels turned and says so in EXIF (orientation 6: the
    # viewer turns them 90 degrees clockwise).
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=100, subsampling=0)
    Image.open(tmp_path / "rotated.jpg").transpose(Image.Transpose.ROTATE_270).save(
        tmp_path / "rotated_upright.png"
    )
    stored.save(tmp_path / "sideways.png")  # the same pixels without the tag
    code, result, err = predict(checkpoint, *sorted(tmp_path.iterdir()))
    assert code == 0, err
    p = probabilities(result)
    assert p["rotated.jpg"] == p["rotated_upright.png"]
    assert p["rotated.jpg"] != p["sideways.png"]  # the tag made a difference


def test_tiny_and_huge_images_are_predicted(checkpoint, tmp_path):
    Image.new("RGB", (1, 1), (200, 30, 60)).save(tmp_path / "one_pixel.png")
    Image.new("RGB", (32, 32), (200, 30, 60)).save(tmp_path / "flat32.png")
    big = np.broadcast_to(np.array([200, 30, 60], np.uint8), (3000, 4000, 3))
    Image.fromarray(np.ascontiguousarray(big)).save(tmp_path / "huge.png")  # 12 megapixels
    code, result, err = predict(checkpoint, *sorted(tmp_path.iterdir()))
    assert code == 0, err
    p = probabilities(result)
    assert p["one_pixel.png"] == p["flat32.png"] == p["huge.png"]  # a flat colour at any size


def test_bombs_and_non_images_are_skipped_with_their_reason(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("RESVISION_MAX_IMAGE_PIXELS", str(1000 * 1000))
    Image.new("L", (1200, 1000)).save(tmp_path / "over_limit.png")
    (tmp_path / "notes.png").write_text("not an image")
    Image.fromarray(RGB).save(tmp_path / "fine.png")
    code, result, err = predict(checkpoint, *sorted(tmp_path.iterdir()))
    assert code == 1  # something was skipped
    assert [Path(r["image"]).name for r in result["results"]] == ["fine.png"]
    errors = {Path(k).name: v for k, v in result["errors"].items()}
    assert "decompression bomb" in errors["over_limit.png"]
    assert "not an image format" in errors["notes.png"]
    assert "Traceback" not in err
