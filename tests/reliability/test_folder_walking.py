"""Folder walking: link loops, special files and left-out files, and class lists from outside.

What is documented (``resvision.data.walk``, ``resvision.data.datasets.folder``):

- Symbolic links to folders are followed, each real folder once: a link loop neither
  multiplies the samples nor runs forever, and ``resvision data`` counts what ``DatasetFolder``
  loads.
- Only regular files are kept: a FIFO or a link to a device is left out with its reason and
  never opened (opening a FIFO waits for a writer; ``/dev/zero`` never ends).
- ``resvision data DIR`` lists what it leaves out (a ``.gif``, a loop), also under ``left_out``
  in ``--json``.
- ``DatasetFolder(root, classes=[...])`` takes its labels from the list, refuses a sub-folder that
  is not in it, and accepts a class without a sub-folder (``missing_classes``).
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import json
import os
import warnings
from pathlib import Path

import pytest
from PIL import Image

from resvision.cli.main import main
from resvision.datasets import DatasetFolder

pytestmark = pytest.mark.filterwarnings("ignore:left out:UserWarning")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))


def images(folder: Path, n: int, size: tuple[int, int] = (8, 8)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i}.png" for i in range(n)]
    for i, path in enumerate(paths):
        Image.new("RGB", size, (30 * i, 0, 0)).save(path)
    return paths


def pets(root: Path, n: int = 4) -> Path:
    """``root/train`` and ``root/val``, each with cat/ and dog/ of ``n`` images."""
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            images(root / split / cls, n)
    return root


def data_json(folder: Path) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["data", str(folder), "--json"])
    assert code == 0, out.getvalue()
    return json.loads(out.getvalue())


def data_json_split(split: Path) -> dict:
    """``resvision data`` on a lone split folder (as ``root/train``): that split's entry."""
    root = split.parent / f"{split.name}-as-data"
    root.mkdir()
    (root / "train").symlink_to(split, target_is_directory=True)
    (root / "val").mkdir()
    return data_json(root)["splits"]["train"]


def left_out_reasons(found) -> dict[str, str]:
    return {Path(p).name: why for p, why in found.left_out}


@pytest.mark.timeout(60)
def test_a_link_loop_does_not_multiply_the_samples(tmp_path):
    root = pets(tmp_path / "pets")
    cat = root / "train" / "cat"
    os.symlink(cat, cat / "again")  # a loop: cat/again/again/... is cat
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = DatasetFolder(root / "train")
    assert len(ds) == 8 and ds.targets == [0] * 4 + [1] * 4
    assert [str(w.message).split(" in ")[0] for w in caught] == [
        "left out 1 special file(s), broken link(s) or unreadable or repeated folder(s)"
    ]
    info = data_json(root)
    assert info["splits"]["train"]["counts"] == {"cat": 4, "dog": 4}
    left = {Path(e["path"]).name: e["reason"] for e in info["splits"]["train"]["left_out"]}
    assert left.keys() == {"again"} and "repeated folder" in left["again"]


@pytest.mark.timeout(60)
def test_two_link_loops_finish_quickly(tmp_path):
    root = tmp_path / "loops"
    cat = root / "cat"
    images(cat, 3)
    os.symlink(cat, cat / "a")
    os.symlink(root, cat / "b")  # two loops: 2**depth paths for a walk that follows both
    ds = DatasetFolder(root)
    assert [Path(p).name for p, _ in ds.samples] == ["0.png", "1.png", "2.png"]
    assert sorted(left_out_reasons(ds)) == ["a", "b"]
    info = data_json_split(root)
    assert info["counts"] == {"cat": 3}


@pytest.mark.timeout(60)
def test_a_fifo_and_a_device_link_are_left_out_never_opened(tmp_path):
    root = tmp_path / "special"
    cat = images(root / "cat", 2)[0].parent
    images(root / "dog", 2)
    os.mkfifo(cat / "pipe.png")  # opening it would wait for a writer forever
    os.symlink("/dev/zero", cat / "zero.png")  # reading it would never end
    for check in ("header", "full", "none"):
        with pytest.warns(UserWarning, match=r"left out 2 special file"):
            ds = DatasetFolder(root, check=check)
        assert len(ds) == 4
        assert not any("pipe" in p or "zero" in p for p, _ in ds.samples)
        reasons = left_out_reasons(ds)
        assert "FIFO" in reasons["pipe.png"]
        assert "/dev/zero" in reasons["zero.png"] and "character device" in reasons["zero.png"]
    assert data_json_split(root)["counts"] == {"cat": 2, "dog": 2}
    os.symlink(cat / "gone.png", cat / "broken.png")
    with pytest.warns(UserWarning, match=r"left out 3 special file"):
        ds = DatasetFolder(root)
    assert "broken symbolic link" in left_out_reasons(ds)["broken.png"]


def test_data_lists_a_gif_as_left_out(tmp_path):
    root = pets(tmp_path / "pets", n=2)
    Image.new("RGB", (8, 8)).save(root / "train" / "dog" / "anim.gif")
    (root / "train" / "README").write_text("not a class")
    info = data_json(root)
    assert info["splits"]["train"]["counts"] == {"cat": 2, "dog": 2}
    left = {Path(e["path"]).name: e["reason"] for e in info["splits"]["train"]["left_out"]}
    assert "'.gif' is not an accepted extension" in left["anim.gif"]
    assert "not in a class folder" in left["README"]
    assert info["splits"]["val"]["left_out"] == []
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["data", str(root)]) == 0
    text = out.getvalue()
    assert "left out: 2" in text and "anim.gif: '.gif' is not an accepted extension" in text


def test_classes_from_outside_label_by_name_and_allow_a_missing_class(tmp_path):
    root = pets(tmp_path / "pets", n=2)
    val = DatasetFolder(root / "val", classes=["bird", "cat", "dog"])
    assert val.classes == ["bird", "cat", "dog"]
    assert val.class_to_idx == {"bird": 0, "cat": 1, "dog": 2}
    assert val.targets == [1, 1, 2, 2] and val.missing_classes == ["bird"]
    assert [Path(p).parent.name for p, _ in val.samples] == ["cat", "cat", "dog", "dog"]
    # The list's order gives the labels, not the folders' sorted order.
    flipped = DatasetFolder(root / "val", classes=("dog", "cat"))
    assert flipped.targets == [0, 0, 1, 1] and flipped.missing_classes == []
    assert [Path(p).parent.name for p, _ in flipped.samples] == ["dog", "dog", "cat", "cat"]
    plain = DatasetFolder(root / "val")  # without classes=: the sorted sub-folders, as before
    assert plain.classes == ["cat", "dog"] and plain.missing_classes == []


def test_classes_from_outside_refuse_an_unknown_class_folder(tmp_path):
    root = pets(tmp_path / "pets", n=2)
    images(root / "val" / "emu", 1)
    images(root / "val" / "yak", 1)
    with pytest.raises(ValueError) as err:
        DatasetFolder(root / "val", classes=["cat", "dog"])
    text = str(err.value)
    assert "'emu'" in text and "'yak'" in text and "accepted class names: 'cat', 'dog'" in text
    (root / "val" / "bird").mkdir()  # an empty class folder: still an error, as before
    with pytest.raises(ValueError, match="bird: the class folder has no valid file"):
        DatasetFolder(root / "val", classes=["bird", "cat", "dog", "emu", "yak"])
    for bad, error in (("cat", TypeError), ([], ValueError), (["cat", "cat"], ValueError),
                       (["a/b"], ValueError), ([".cat"], ValueError)):  # fmt: skip
        with pytest.raises(error, match="class"):
            DatasetFolder(root / "train", classes=bad)


def test_the_check_cache_is_keyed_by_the_names_listed(tmp_path):
    real = images(tmp_path / "real", 2)
    for name, prefix in (("a", "x"), ("b", "y")):  # two roots linking the same two files
        (tmp_path / name / "cat").mkdir(parents=True)
        for i, target in enumerate(real):
            os.symlink(target, tmp_path / name / "cat" / f"{prefix}{i}.png")
    first = DatasetFolder(tmp_path / "a")
    second = DatasetFolder(tmp_path / "b")  # same files, sizes and times: other names
    assert first.image_shape == second.image_shape == (3, 8, 8)
    assert second.can_cache() is None


def test_walk_order_links_and_unreadable_folders(tmp_path, monkeypatch):
    from resvision.data.walk import walk_files

    root = tmp_path / "tree"
    for name in ("b.png", "a.png", "sub/z.png", "sub/deeper/y.png", "zz/x.png", ".hidden/h.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "e.png").write_bytes(b"x")
    os.symlink(tmp_path / "elsewhere", root / "linked")  # a linked folder: followed
    os.symlink(tmp_path / "elsewhere", root / "twin")  # a second link to it: once
    os.symlink(tmp_path / "elsewhere" / "e.png", root / "file_link.png")  # counts as a file
    found = walk_files(root, extensions=(".png",))
    names = [str(p.relative_to(root)) for p in found.files]
    # A folder's files first (sorted), then its sub-folders in sorted order (os.walk's order).
    assert names == ["a.png", "b.png", "file_link.png", "linked/e.png", "sub/z.png",
                     "sub/deeper/y.png", "zz/x.png"]  # fmt: skip
    assert [(p.name, why.split(" (")[0]) for p, why in found.problems] == [
        ("twin", "a repeated folder")
    ]
    real_scandir = os.scandir

    def denied(path):
        if Path(path).name == "sub":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    found = walk_files(root, extensions=(".png",))
    assert "sub/z.png" not in [str(p.relative_to(root)) for p in found.files]
    assert any(p.name == "sub" and "unreadable folder" in why for p, why in found.problems)


@pytest.mark.parametrize("name", ["resvision.data.walk", "resvision.data.datasets.folder"])
def test_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
