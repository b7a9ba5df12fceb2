"""Bad data, end to end: a folder seeded with every kind of bad file, damaged CIFAR archives and
labels out of range give clear errors (or, in Python with ``on_error='skip'``, a report of what
was skipped), never a trace from deep inside PIL, tarfile or the loss.

What is documented (``resvision.data.datasets.folder``, ``resvision.data.images``):

- ``resvision train`` refuses a folder holding an empty, non-image, undecodable or oversized
  (decompression bomb) file, listing each with its reason (exit 2); a file whose header is fine
  but whose data is cut short is found by ``resvision data DIR --decode`` (exit 1, listed) or,
  at the latest, when it is loaded (exit 1, the file named). ``DatasetFolder(on_error='skip')``
  leaves them out with one warning that counts and lists them.
- Images in other modes are converted: grey, palette, CMYK and alpha to RGB (alpha dropped),
  16-bit scaled to 8-bit.
- A CIFAR archive that is cut short, or a cached one that fails the MD5 check, is named.
- A label outside ``0 .. num_classes - 1`` stops training with the label and the class count.
"""

from __future__ import annotations

import contextlib
import io
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from resvision.cli.main import main
from resvision.datasets import Cifar10Sample, DatasetFolder
from resvision.engine.guards import LabelRangeError
from resvision.engine.model import Model
from resvision.transforms import ToTensor

RNG = np.random.default_rng(0)


def run_cli(argv: list[str], stdout: io.StringIO | None = None) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(stdout or io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def _jpeg(size=(16, 16)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (*size, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width x height`` pixels (a decompression bomb's
    signature: the size is read from the header, before any decoding)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


BAD_FILES = {  # name -> (bytes, phrase of the reason)
    "empty.jpg": (b"", "empty (0 bytes)"),
    "notes.png": (b"these are notes, not pixels\n" * 4, "not an image format"),
    "garbage.jpg": (bytes(RNG.integers(0, 256, 300, dtype=np.uint8)), "not an image"),
    "bomb.png": (_png_claiming(20000, 20000), "decompression bomb"),
}


@pytest.fixture
def seeded_folder(tmp_path) -> Path:
    """train/ and val/ with two classes of good images, plus every kind of bad file in train/,
    and images in other modes that are converted."""
    root = tmp_path / "pets"
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(3):
                (folder / f"{i}.jpg").write_bytes(_jpeg())
    cat = root / "train" / "cat"
    for name, (payload, _) in BAD_FILES.items():
        (cat / name).write_bytes(payload)
    data = _jpeg((64, 64))
    (cat / "cut.jpg").write_bytes(data[: len(data) // 2])  # header intact, data cut short
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(cat / "cmyk.jpg")  # red, in CMYK
    Image.fromarray(np.full((16, 16), 65535, np.uint16)).save(cat / "deep16.png")
    Image.new("P", (16, 16), 3).save(cat / "palette.png")
    Image.new("LA", (16, 16), (90, 0)).save(cat / "grey_alpha.png")
    return root


def test_train_refuses_the_folder_listing_every_bad_file(seeded_folder, tmp_path):
    code, err = run_cli(["train", "--data", str(seeded_folder), "--output", str(tmp_path / "r")])
    assert code == 2, err
    assert err.startswith("resvision: error: cannot use the data folder") and "Traceback" not in err
    for name, (_, reason) in BAD_FILES.items():
        line = next(x for x in err.splitlines() if name in x)
        assert reason in line, line
    for converted in ("cmyk.jpg", "deep16.png", "palette.png", "grey_alpha.png"):
        assert converted not in err  # other modes are not errors: they are converted
    assert "on_error='skip'" in err


def test_data_decode_lists_the_truncated_file_too(seeded_folder):
    out = io.StringIO()
    code, _ = run_cli(["data", str(seeded_folder), "--decode", "--json"], stdout=out)
    assert code == 1
    listed = out.getvalue()
    assert all(name in listed for name in [*BAD_FILES, "cut.jpg"]), listed


def test_skipping_reports_what_was_left_out_and_trains_on_the_rest(seeded_folder):
    with pytest.warns(UserWarning, match=r"skipped 5 bad file\(s\)") as warned:
        ds = DatasetFolder(
            seeded_folder / "train", on_error="skip", check="full", transform=ToTensor()
        )
    report = str(warned[0].message)
    assert all(name in report for name in [*BAD_FILES, "cut.jpg"])
    assert {Path(p).name for p, _ in ds.skipped} == {*BAD_FILES, "cut.jpg"}
    names = {Path(p).name: i for i, (p, _) in enumerate(ds.samples)}
    # Documented conversions: CMYK -> RGB, 16-bit -> 8-bit, alpha dropped.
    assert torch.allclose(
        ds[names["cmyk.jpg"]][0][:, 0, 0], torch.tensor([1.0, 0.0, 0.0]), atol=0.02
    )
    assert torch.all(ds[names["deep16.png"]][0] == 1.0)
    assert torch.allclose(ds[names["grey_alpha.png"]][0], torch.full((3, 16, 16), 90 / 255))
    model = Model(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2)), device="cpu")
    model.prepare(
        torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), amp_configs=None
    )
    model.fit(ds, batch_size=4, epochs=1, verbose=0)


def test_a_file_found_truncated_only_when_loaded_is_named(seeded_folder, tmp_path, monkeypatch):
    """Only the truncated JPEG is left: it passes the header check, and fails when decoded."""
    for name in BAD_FILES:
        (seeded_folder / "train" / "cat" / name).unlink()
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    code, err = run_cli(["train", "--data", str(seeded_folder), "--epochs", "1", "--batch-size",
                         "4", "--device", "cpu", "--output", str(tmp_path / "run")])  # fmt: skip
    assert code == 1, err
    assert "Traceback" not in err
    assert "cut.jpg" in err and "truncated" in err and "--decode" in err


def _cifar_archive(path: Path) -> None:
    with tarfile.open(path, "w:gz") as tar:
        payload = RNG.integers(0, 256, 1 << 16, dtype=np.uint8).tobytes()  # incompressible
        for name in ("data_batch_1", "test_batch"):
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def test_a_truncated_cifar_archive_is_named(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    _cifar_archive(archive)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    code, err = run_cli(["train", "--data", "cifar10", "--data-root", str(archive), "--output",
                         str(tmp_path / "run")])  # fmt: skip
    assert code == 2, err
    assert "cifar-10-python.tar.gz" in err and "not a readable tar.gz" in err
    assert "Traceback" not in err


def test_a_cached_cifar_archive_with_the_wrong_checksum_is_refused(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cached = cache / "datasets" / "cifar" / "cifar-10-python.tar.gz"
    cached.parent.mkdir(parents=True)
    _cifar_archive(cached)
    monkeypatch.setenv("RESVISION_CACHE", str(cache))
    code, err = run_cli(["train", "--data", "cifar10", "--set", "data.download=false",
                         "--output", str(tmp_path / "run")])  # fmt: skip
    assert code == 2, err
    assert "fails the MD5 check (expected c58f30108f718f92721af3b95e74349a)" in err
    assert "Traceback" not in err


class _Labelled(Dataset):
    """Eight 4x4 RGB samples; ``bad`` replaces the label of sample 5 (a map-style dataset
    that the DataLoader path loads)."""

    def __init__(self, bad: int) -> None:
        self.bad = bad

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int):
        x = torch.full((3, 4, 4), float(i))
        return x, np.int64(self.bad if i == 5 else i % 3)


def _classifier(num_classes: int = 3) -> Model:
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, num_classes))
    net.num_classes = num_classes
    model = Model(net, device="cpu")
    model.prepare(
        torch.optim.SGD(net.parameters(), lr=0.1), nn.CrossEntropyLoss(), amp_configs=None
    )
    return model


@pytest.mark.parametrize("bad", [3, 7, -1])
def test_a_label_out_of_range_names_the_label_and_the_class_count(bad):
    with pytest.raises(LabelRangeError) as info:
        _classifier().fit(_Labelled(bad), batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert (info.value.label, info.value.num_classes) == (bad, 3)
    assert f"label {bad} in a batch is outside the 3 classes" in str(info.value)
    with pytest.raises(LabelRangeError):
        _classifier().evaluate(_Labelled(bad), batch_size=4, verbose=0)


def test_the_ignored_index_is_not_an_error():
    _classifier().fit(_Labelled(-100), batch_size=4, epochs=1, verbose=0)


def test_in_memory_labels_are_checked_once_before_training():
    """The fast path keeps labels on the device; they are checked when fit starts."""
    ds = Cifar10Sample(mode="test", transform=ToTensor())
    ds.labels = ds.labels.copy()
    ds.labels[17] = 10
    model = Model(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)), device="cpu")
    model.network.num_classes = 10
    model.prepare(
        torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), amp_configs=None
    )
    with pytest.raises(
        LabelRangeError, match="label 10 in the training data is outside the 10 classes"
    ):
        model.fit(ds, batch_size=100, epochs=1, verbose=0)
