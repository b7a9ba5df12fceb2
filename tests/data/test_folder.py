"""DatasetFolder (class folders) on temporary trees, including bad files."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from resvision.data.images import ImageDecodeError, decode_rgb
from resvision.data.loader import build_loader
from resvision.datasets import DatasetFolder
from resvision.transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip, Transpose


def png(path, mode="RGB", size=(6, 4), value=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        arr = np.full(size[::-1], 65535 if value is None else value, dtype=np.uint16)
        Image.fromarray(arr).save(path)
        return path
    color = (
        value
        if value is not None
        else {"RGB": (10, 20, 30), "L": 77, "RGBA": (1, 2, 3, 0), "P": 5}[mode]
    )
    Image.new(mode, size, color).save(path)
    return path


def jpeg_bytes(size=(16, 16)):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)).save(
        buf, format="JPEG"
    )
    return buf.getvalue()


@pytest.fixture
def good_tree(tmp_path):
    root = tmp_path / "good"
    for c, cls in enumerate(("cat", "dog", "emu")):
        for i in range(3):
            png(root / cls / f"{i}.png", value=(c * 50, i * 60, 7))
    png(root / "dog" / "nested" / "deep.PNG", value=(50, 200, 7))
    (root / "dog" / "notes.txt").write_text("not an image, not an image extension")
    png(root / ".ipynb_checkpoints" / "x.png")
    return root


def test_layout_and_items(good_tree):
    ds = DatasetFolder(good_tree, backend="cv2")
    assert ds.classes == ["cat", "dog", "emu"]
    assert ds.class_to_idx == {"cat": 0, "dog": 1, "emu": 2}
    assert len(ds) == 10 and ds.targets == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    names = [p.split("good/")[1] for p, _ in ds.samples]
    assert names[3:7] == ["dog/0.png", "dog/1.png", "dog/2.png", "dog/nested/deep.PNG"]
    img, label = ds[5]
    assert img.shape == (4, 6, 3) and img.dtype == np.float32 and int(label) == 1
    assert img[0, 0].tolist() == [50, 120, 7]
    pil, _ = DatasetFolder(good_tree, backend="pil")[0]
    assert isinstance(pil, Image.Image) and pil.mode == "RGB"


def test_dataset_folder_custom_loader_and_filter(good_tree):
    with pytest.raises(ValueError, match="cat: the class folder has no valid file"):
        DatasetFolder(good_tree, loader=lambda p: p.upper(), extensions=(".txt",))
    with pytest.warns(UserWarning, match="empty class"):
        ds = DatasetFolder(
            good_tree, loader=lambda p: p.upper(), extensions=(".txt",), on_error="skip"
        )
    assert len(ds) == 1 and ds[0][0].endswith("NOTES.TXT") and int(ds[0][1]) == 1
    only_zero = DatasetFolder(good_tree, is_valid_file=lambda p: p.endswith("0.png"))
    assert len(only_zero) == 3
    with pytest.raises(ValueError, match="not both"):
        DatasetFolder(good_tree, extensions=(".png",), is_valid_file=lambda p: True)


def test_conversions_to_rgb(tmp_path):
    root = tmp_path / "modes"
    png(root / "a" / "gray.png", "L")
    png(root / "a" / "rgba.png", "RGBA")
    png(root / "a" / "palette.png", "P")
    png(root / "a" / "sixteen.png", "I;16", value=257 * 100)
    ds = DatasetFolder(root, backend="cv2")
    by_name = {p.rsplit("/", 1)[1]: ds[i][0] for i, (p, _) in enumerate(ds.samples)}
    for img in by_name.values():
        assert img.shape == (4, 6, 3)
    assert by_name["gray.png"][0, 0].tolist() == [77, 77, 77]
    assert by_name["rgba.png"][0, 0].tolist() == [1, 2, 3]
    assert by_name["sixteen.png"][0, 0].tolist() == [100, 100, 100]
    palette = np.asarray(Image.open(root / "a" / "palette.png").convert("RGB"))[0, 0]
    assert by_name["palette.png"][0, 0].tolist() == palette.tolist()


@pytest.fixture
def bad_tree(good_tree):
    (good_tree / "cat" / "zero.jpg").write_bytes(b"")
    (good_tree / "cat" / "text.png").write_text("hello, I am not a PNG")
    data = jpeg_bytes((64, 64))
    (good_tree / "emu" / "cut.jpg").write_bytes(data[: len(data) // 2])  # header intact
    (good_tree / "fox").mkdir()
    return good_tree


def test_bad_files_raise_by_default_naming_them(bad_tree):
    with pytest.raises(ValueError) as err:
        DatasetFolder(bad_tree)
    text = str(err.value)
    assert "zero.jpg: the file is empty" in text
    assert "text.png: not an image format PIL can decode" in text
    assert "fox: the class folder has no valid file" in text
    assert "on_error='skip'" in text


def test_bad_files_skipped_with_a_counting_warning(bad_tree):
    with pytest.warns(UserWarning, match=r"skipped 3 bad file\(s\)") as rec:
        ds = DatasetFolder(bad_tree, on_error="skip", backend="cv2")
    assert "zero.jpg" in str(rec[0].message) and "fox" in str(rec[0].message)
    assert "fox" in ds.classes and ds.class_to_idx["fox"] == 3  # labels stay stable
    assert len(ds.skipped) == 3
    # The truncated JPEG passes the header check; loading it is a clear error naming it.
    cut = next(i for i, (p, _) in enumerate(ds.samples) if p.endswith("cut.jpg"))
    with pytest.raises(ImageDecodeError, match=r"cut.jpg.*check=.full. finds such files"):
        ds[cut]
    # The full check finds it at construction.
    with pytest.warns(UserWarning, match=r"skipped 4 bad file\(s\)"):
        full = DatasetFolder(bad_tree, on_error="skip", check="full")
    assert not any(p.endswith("cut.jpg") for p, _ in full.samples)


def test_decompression_bomb_refused(tmp_path, monkeypatch):
    path = png(tmp_path / "big" / "a" / "huge.png", size=(64, 64))
    with pytest.raises(ImageDecodeError, match=r"64x64 = 4096 pixels is above the limit of 1000"):
        decode_rgb(path, max_pixels=1000)
    with pytest.raises(ValueError, match=r"huge.png: 64x64 pixels is above the limit"):
        DatasetFolder(tmp_path / "big", max_pixels=1000)
    monkeypatch.setenv("RESVISION_MAX_IMAGE_PIXELS", "100")
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        decode_rgb(path)


def test_missing_or_empty_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        DatasetFolder(tmp_path / "nope")
    (tmp_path / "flat").mkdir()
    png(tmp_path / "flat" / "a.png")
    with pytest.raises(FileNotFoundError, match="no class sub-folder"):
        DatasetFolder(tmp_path / "flat")
    with pytest.raises(ValueError, match="on_error"):
        DatasetFolder(tmp_path / "flat", on_error="ignore")


def test_folder_fast_path_matches_dataloader(good_tree):
    for p in good_tree.rglob("*"):
        if p.suffix.lower() == ".png" and ".ipynb" not in str(p):
            png(
                p,
                size=(8, 8),
                value=tuple(int(v) for v in np.random.default_rng(len(str(p))).integers(0, 256, 3)),
            )
    t = Compose([Transpose(), Normalize([100, 100, 100], [50, 60, 70])])
    ds = DatasetFolder(good_tree, transform=t, backend="cv2")
    fast = build_loader(ds, 4, shuffle=True, seed=1)
    slow = build_loader(ds, 4, shuffle=True, seed=1, fast=False)
    assert fast.is_fast and not slow.is_fast
    for (xf, yf), (xs, ys) in zip(fast, slow):
        assert torch.equal(yf, ys)
        torch.testing.assert_close(xf, xs)
    aug = DatasetFolder(
        good_tree,
        transform=Compose([RandomCrop(8, padding=1), RandomHorizontalFlip(), Transpose()]),
    )
    assert build_loader(aug, 4).is_fast


def test_mixed_sizes_fall_back_to_dataloader(good_tree):
    png(good_tree / "cat" / "wide.png", size=(9, 4))
    ds = DatasetFolder(good_tree, transform=Transpose(), backend="cv2")
    assert ds.can_cache() == "the images have different sizes"
    assert not build_loader(ds, 4).is_fast
    with pytest.raises(ValueError, match="different sizes"):
        build_loader(ds, 4, fast=True)
