"""CIFAR and MNIST read from small archives built here in the exact official formats."""

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
from PIL import Image

from resvision.data.backend import set_image_backend
from resvision.data.loader import build_loader
from resvision.datasets import MNIST, Cifar10, Cifar100, DatasetNotFoundError, FashionMNIST
from resvision.transforms import ToTensor, Transpose

UNREACHABLE = "http://127.0.0.1:9/nothing-listens-here.tar.gz"


def _add(tar, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def make_cifar10(path, per_batch=4, n_test=3, seed=0):
    """cifar-10-python.tar.gz layout: 5 data batches, a test batch, batches.meta (pickle 2,
    bytes keys as written by Python 2). Returns {'train': (data, labels), 'test': ...}."""
    rng = np.random.default_rng(seed)
    out = {}
    with tarfile.open(path, "w:gz") as tar:
        chunks = []
        for i in range(1, 6):
            data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
            labels = [int(v) for v in rng.integers(0, 10, per_batch)]
            batch = {
                b"batch_label": f"training batch {i} of 5".encode(),
                b"labels": labels,
                b"data": data,
                b"filenames": [b"x.png"] * per_batch,
            }
            _add(tar, f"cifar-10-batches-py/data_batch_{i}", pickle.dumps(batch, protocol=2))
            chunks.append((data, labels))
        out["train"] = (np.concatenate([c[0] for c in chunks]), [v for c in chunks for v in c[1]])
        data = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n_test)]
        batch = {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": labels,
            b"data": data,
            b"filenames": [b"y.png"] * n_test,
        }
        _add(tar, "cifar-10-batches-py/test_batch", pickle.dumps(batch, protocol=2))
        out["test"] = (data, labels)
        names = [
            b"airplane",
            b"automobile",
            b"bird",
            b"cat",
            b"deer",
            b"dog",
            b"frog",
            b"horse",
            b"ship",
            b"truck",
        ]
        meta = {b"num_cases_per_batch": per_batch, b"label_names": names, b"num_vis": 3072}
        _add(tar, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
        _add(tar, "cifar-10-batches-py/readme.html", b"<html></html>")
    return out


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_cifar10_counts_pixels_labels(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    truth = make_cifar10(archive)
    train = Cifar10(data_file=str(archive), mode="train", backend="cv2")
    test = Cifar10(data_file=str(archive), mode="test", transform=Transpose(), backend="cv2")
    assert len(train) == 20 and len(test) == 3
    assert train.classes[9] == "truck"
    img, label = train[13]
    data, labels = truth["train"]
    assert img.shape == (32, 32, 3) and img.dtype == np.float32
    expected = data[13].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_array_equal(img, expected.astype(np.float32))
    assert label.dtype == np.int64 and label.shape == () and int(label) == labels[13]
    chw, label = test[2]
    np.testing.assert_array_equal(chw, truth["test"][0][2].reshape(3, 32, 32))
    assert int(label) == truth["test"][1][2]


def test_cifar10_pil_backend_is_paddle_semantics(tmp_path):
    archive = tmp_path / "c.tar.gz"
    truth = make_cifar10(archive)
    set_image_backend("pil")
    ds = Cifar10(data_file=str(archive))
    img, _ = ds[0]
    assert isinstance(img, Image.Image) and img.mode == "RGB" and img.size == (32, 32)
    tensor, _ = Cifar10(data_file=str(archive), transform=ToTensor())[0]
    expected = truth["train"][0][0].reshape(3, 32, 32) / 255.0
    np.testing.assert_allclose(tensor.numpy(), expected, atol=1e-6)


def test_cifar100_fine_labels(tmp_path):
    archive = tmp_path / "cifar-100-python.tar.gz"
    rng = np.random.default_rng(1)
    with tarfile.open(archive, "w:gz") as tar:
        for split, n in (("train", 6), ("test", 2)):
            batch = {
                b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                b"fine_labels": list(range(90, 90 + n)),
                b"coarse_labels": [1] * n,
                b"filenames": [b"z"] * n,
                b"batch_label": split.encode(),
            }
            _add(tar, f"cifar-100-python/{split}", pickle.dumps(batch, protocol=2))
        meta = {
            b"fine_label_names": [f"c{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"s{i}".encode() for i in range(20)],
        }
        _add(tar, "cifar-100-python/meta", pickle.dumps(meta, protocol=2))
    ds = Cifar100(data_file=str(archive), mode="train", backend="cv2")
    assert len(ds) == 6 and len(ds.classes) == 100 and ds.classes[95] == "c95"
    assert [int(ds[i][1]) for i in range(6)] == list(range(90, 96))
    assert len(Cifar100(data_file=str(archive), mode="test")) == 2


def test_cifar_damaged_archives_are_named(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not a tar.gz")
    with pytest.raises(ValueError, match=r"junk.tar.gz is not a readable tar.gz"):
        Cifar10(data_file=str(junk))
    empty = tmp_path / "other.tar.gz"
    with tarfile.open(empty, "w:gz") as tar:
        _add(tar, "something/else.txt", b"x")
    with pytest.raises(ValueError, match="no CIFAR batch"):
        Cifar10(data_file=str(empty))
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        _add(tar, "cifar-10-batches-py/data_batch_1", pickle.dumps(print, protocol=2))
    with pytest.raises(ValueError, match="data_batch_1 is not a CIFAR batch"):
        Cifar10(data_file=str(evil))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Cifar10(data_file=str(tmp_path / "missing.tar.gz"))
    with pytest.raises(ValueError, match="mode"):
        Cifar10(data_file=str(evil), mode="val")
    with pytest.raises(ValueError, match="backend"):
        Cifar10(data_file=str(evil), backend="opencv")


def test_download_checks_md5_and_reports_clearly(tmp_path, monkeypatch):
    archive = tmp_path / "served" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    make_cifar10(archive)
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    expected_path = tmp_path / "cache" / "datasets" / "cifar" / "cifar-10-python.tar.gz"

    # No network: the message names the file, where it is expected and how to get it.
    monkeypatch.setattr(Cifar10, "URLS", (UNREACHABLE,))
    with pytest.raises(DatasetNotFoundError) as err:
        Cifar10(mode="train")
    text = str(err.value)
    assert "cifar-10-python.tar.gz" in text and str(expected_path) in text
    assert (
        "download failed" in text
        and "data_file" in text
        and "Cifar10Sample" in text
        and UNREACHABLE in text
    )
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        Cifar10(download=False)

    # A download whose MD5 does not match is refused and not kept.
    monkeypatch.setattr(Cifar10, "URLS", (archive.as_uri(),))
    with pytest.raises(DatasetNotFoundError, match="MD5"):
        Cifar10(mode="train")
    assert not expected_path.exists()

    # The right MD5: downloaded into the cache, then found there with no network.
    monkeypatch.setattr(Cifar10, "MD5", md5(archive))
    assert len(Cifar10(mode="test")) == 3
    assert expected_path.exists() and md5(expected_path) == md5(archive)
    monkeypatch.setattr(Cifar10, "URLS", (UNREACHABLE,))
    assert len(Cifar10(mode="train", download=False)) == 20

    # A damaged cached file fails the check and is reported as such.
    expected_path.write_bytes(b"damaged")
    with pytest.raises(DatasetNotFoundError, match="fails the MD5 check"):
        Cifar10(download=False)


def idx_gz(path, magic, array):
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_mnist_idx_files(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9, 2], dtype=np.uint8)
    idx_gz(tmp_path / "t10k-images-idx3-ubyte.gz", 2051, images)
    idx_gz(tmp_path / "t10k-labels-idx1-ubyte.gz", 2049, labels)
    kwargs = dict(
        image_path=str(tmp_path / "t10k-images-idx3-ubyte.gz"),
        label_path=str(tmp_path / "t10k-labels-idx1-ubyte.gz"),
        mode="test",
    )
    ds = MNIST(**kwargs, backend="cv2")
    assert len(ds) == 7
    img, label = ds[5]
    assert img.shape == (28, 28) and img.dtype == np.float32
    np.testing.assert_array_equal(img, images[5])
    assert label.shape == (1,) and label.dtype == np.int64 and int(label[0]) == 9
    pil, _ = MNIST(**kwargs, backend="pil")[0]
    assert pil.mode == "L" and np.array_equal(np.asarray(pil), images[0])
    chw, _ = MNIST(**kwargs, transform=Transpose(), backend="cv2")[0]
    assert chw.shape == (1, 28, 28)
    # Both loader paths turn Paddle's (1,)-shaped labels into a [B] batch.
    transposed = MNIST(**kwargs, transform=Transpose(), backend="cv2")
    for fast in (True, False):
        x, y = next(iter(build_loader(transposed, 4, fast=fast)))
        assert x.shape == (4, 1, 28, 28) and y.tolist() == [3, 1, 4, 1]
    fashion = FashionMNIST(**kwargs)
    assert fashion.classes[9] == "Ankle boot" and len(fashion) == 7


def test_mnist_bad_files(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    idx_gz(tmp_path / "img.gz", 2051, images)
    idx_gz(tmp_path / "lbl.gz", 2049, np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match=r"3 images but .* 2 labels"):
        MNIST(str(tmp_path / "img.gz"), str(tmp_path / "lbl.gz"))
    with pytest.raises(ValueError, match="magic number 2049, expected 2051"):
        MNIST(str(tmp_path / "lbl.gz"), str(tmp_path / "img.gz"))
    raw = gzip.decompress((tmp_path / "img.gz").read_bytes())
    (tmp_path / "cut.gz").write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(ValueError, match=r"cut.gz declares"):
        MNIST(str(tmp_path / "cut.gz"), str(tmp_path / "lbl.gz"))
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8bnot gzip at all")
    with pytest.raises(ValueError, match=r"bad.gz is not a readable idx.gz"):
        MNIST(str(tmp_path / "bad.gz"), str(tmp_path / "lbl.gz"))


def test_mnist_download_error_names_file(monkeypatch):
    monkeypatch.setattr(MNIST, "URL_PREFIXES", ("http://127.0.0.1:9/",))
    with pytest.raises(DatasetNotFoundError, match=r"train-images-idx3-ubyte.gz"):
        MNIST(mode="train")


def test_decoded_cache_follows_the_source(tmp_path, monkeypatch):
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    archive = tmp_path / "c.tar.gz"
    first = make_cifar10(archive, seed=1)
    ds = Cifar10(data_file=str(archive), mode="test", backend="cv2")
    np.testing.assert_array_equal(ds.images.reshape(3, -1), first["test"][0])
    entries = list((tmp_path / "cache" / "decoded").glob("cifar10-test-*.npz"))
    assert len(entries) == 1 and not list((tmp_path / "cache" / "decoded").glob("*.tmp"))

    # A changed source gets a new entry (same size, new content and time).
    second = make_cifar10(archive, seed=2)
    os.utime(archive, ns=(1, 10**18))
    ds = Cifar10(data_file=str(archive), mode="test", backend="cv2")
    np.testing.assert_array_equal(ds.images.reshape(3, -1), second["test"][0])

    # A damaged cache entry is ignored and rewritten, never read as data.
    for entry in (tmp_path / "cache" / "decoded").glob("cifar10-test-*.npz"):
        entry.write_bytes(b"garbage")
    ds = Cifar10(data_file=str(archive), mode="test", backend="cv2")
    np.testing.assert_array_equal(ds.images.reshape(3, -1), second["test"][0])
