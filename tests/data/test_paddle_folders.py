"""Paddle's meanings of the folder data sets: ``ImageFolder`` is a tree of unlabeled images
(items ``[image]``), ``DatasetFolder`` one sub-folder per class (items ``(image, label)``)."""

import inspect
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resvision.datasets import DatasetFolder, ImageFolder
from resvision.transforms import Transpose

PADDLE_ARGS = ["root", "loader", "extensions", "transform", "is_valid_file"]


def png(path, value=(10, 20, 30), size=(6, 4)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, value).save(path)
    return path


@pytest.fixture
def flat_tree(tmp_path):
    """Paddle's ImageFolder example: files at the top and in nested folders."""
    root = tmp_path / "flat"
    png(root / "abc.jpg", (1, 2, 3))
    png(root / "def.png", (4, 5, 6))
    png(root / "ghi" / "jkl.jpeg", (7, 8, 9))
    png(root / "ghi" / "mno" / "pqr.jpg", (10, 11, 12))
    (root / "this_will_be_ignored.txt").write_text("x")
    return root


@pytest.fixture
def class_tree(tmp_path):
    root = tmp_path / "classes"
    for c, cls in enumerate(("cat", "dog")):
        for i in range(2):
            png(root / cls / f"{i}.png", (c * 100, i * 50, 0))
    return root


def test_signatures_start_with_paddles():
    for cls in (ImageFolder, DatasetFolder):
        params = list(inspect.signature(cls).parameters.values())
        assert [p.name for p in params[:5]] == PADDLE_ARGS, cls
        assert all(p.default is None for p in params[1:5]), cls


def test_image_folder_items_are_unlabeled_lists(flat_tree):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a flat tree: no class-folder warning
        ds = ImageFolder(flat_tree, backend="pil")
    names = [p.relative_to(flat_tree).as_posix() for p in map(Path, ds.samples)]
    assert names == ["abc.jpg", "def.png", "ghi/jkl.jpeg", "ghi/mno/pqr.jpg"]
    assert len(ds) == 4 and isinstance(ds.samples[0], str)
    item = ds[1]
    assert isinstance(item, list) and len(item) == 1
    assert isinstance(item[0], Image.Image) and item[0].mode == "RGB" and item[0].size == (6, 4)
    (arr,) = ImageFolder(flat_tree, transform=Transpose(), backend="cv2")[1]
    assert arr.dtype == np.float32 and arr.shape == (3, 4, 6)
    assert arr[:, 0, 0].tolist() == [4, 5, 6]
    assert any(p.endswith("this_will_be_ignored.txt") for p, _ in ds.left_out)


def test_image_folder_loader_extensions_and_filter(flat_tree):
    only_jpg = ImageFolder(flat_tree, loader=lambda p: p.upper(), extensions=(".jpg",))
    assert [s.rsplit("/", 1)[1] for s in only_jpg.samples] == ["abc.jpg", "pqr.jpg"]
    assert only_jpg[1] == [only_jpg.samples[1].upper()]  # a custom loader's sample, as it is
    text = ImageFolder(flat_tree, loader=lambda p: "t", is_valid_file=lambda p: p.endswith("txt"))
    assert len(text) == 1 and text[0] == ["t"]
    with pytest.raises(ValueError, match="not both"):
        ImageFolder(flat_tree, extensions=(".png",), is_valid_file=lambda p: True)


def test_image_folder_warns_once_on_class_folders(class_tree):
    with pytest.warns(UserWarning, match=r"DatasetFolder\(.*classes.*\)") as rec:
        ds = ImageFolder(class_tree)
    text = str(rec[0].message)
    assert "looks like one sub-folder per class (2: 'cat', 'dog')" in text
    assert len(ds) == 4 and isinstance(ds[0], list)  # still read, as Paddle reads it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ImageFolder(class_tree)  # once per folder
    labeled = DatasetFolder(class_tree, backend="cv2")
    assert labeled.classes == ["cat", "dog"] and labeled.targets == [0, 0, 1, 1]
    image, label = labeled[3]
    assert image.shape == (4, 6, 3) and int(label) == 1


def test_image_folder_errors(tmp_path, flat_tree):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no file to load"):
        ImageFolder(tmp_path / "empty")
    with pytest.raises(ValueError, match="on_error"):
        ImageFolder(flat_tree, on_error="ignore")
    (flat_tree / "ghi" / "broken.png").write_text("not a png")
    with pytest.raises(ValueError, match=r"broken.png: not an image format PIL can decode"):
        ImageFolder(flat_tree)
    with pytest.warns(UserWarning, match=r"skipped 1 bad file"):
        ds = ImageFolder(flat_tree, on_error="skip")
    assert len(ds) == 4 and ds.skipped[0][0].endswith("broken.png")
