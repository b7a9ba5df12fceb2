"""Flowers-102 and VOC2012 read from small archives built here in the official layouts, and the
MAT-file reader they rely on (Paddle's splits, mode mappings, item types; download through the
same code path as a real one, from a local file:// URL)."""

import hashlib
import inspect
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest
from PIL import Image

from resvision.data.datasets import matfile, tarstore
from resvision.data.datasets.matfile import MatFileError, read_mat, write_mat
from resvision.data.datasets.tarstore import index_tar
from resvision.datasets import VOC2012, DatasetNotFoundError, Flowers
from resvision.transforms import Transpose

UNREACHABLE = "http://127.0.0.1:9/"


def _md5(path):
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _jpeg(seed, size=(10, 8)):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
        buf, format="JPEG", quality=95
    )
    return buf.getvalue()


def _add(tar, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


# --- the MAT-file reader ---------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("big_endian", [False, True])
def test_mat_round_trip(tmp_path, compress, big_endian):
    arrays = {
        "labels": np.array([77.0, 1.0, 102.0]),  # a double row, as imagelabels.mat
        "trnid": np.arange(1, 21, dtype=np.uint16),
        "m": np.arange(6, dtype=np.int32).reshape(2, 3),  # column-major on disk
        "one": np.array([[5]], dtype=np.uint8),  # 1 byte: the small element format
        "flag": np.array([True, False]),
        "f32": np.array([[0.5], [-2.0]], dtype=np.float32),
        "i64": np.array([-(2**40), 3], dtype=np.int64),
    }
    path = tmp_path / "a.mat"
    write_mat(path, arrays, compress=compress, big_endian=big_endian)
    back = read_mat(path)
    assert list(back) == list(arrays)
    for name, value in arrays.items():
        want = value.reshape(1, -1) if value.ndim < 2 else value
        assert back[name].dtype == value.dtype, name
        np.testing.assert_array_equal(back[name], want)
    assert list(read_mat(path, ["m"])) == ["m"]


def _char_variable_file(path):
    """A MAT-file holding one char array (text), built by hand."""
    body = (
        struct.pack("<II", 6, 8) + struct.pack("<II", 4, 0)  # flags: mxCHAR_CLASS
        + struct.pack("<II", 5, 8) + struct.pack("<ii", 1, 2)  # dims 1 x 2
        + struct.pack("<I", (1 << 16) | 1) + b"s\0\0\0"  # name 's', small format
        + struct.pack("<II", 4, 4) + "hi".encode("utf-16-le") + b"\0" * 4
    )  # fmt: skip
    header = b"MATLAB 5.0 MAT-file".ljust(116) + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
    path.write_bytes(header + struct.pack("<II", 14, len(body)) + body)
    return path


def test_mat_refusals_name_what_is_wrong(tmp_path, monkeypatch):
    text = _char_variable_file(tmp_path / "text.mat")
    with pytest.raises(MatFileError, match=r"variable 's' is text \(a char array\); only numeric"):
        read_mat(text)
    assert read_mat(text, []) == {}  # not asked for: skipped unchecked
    with pytest.raises(MatFileError, match=r"has no variable 'labels' \(it has: 's'\)"):
        read_mat(text, ["labels"])
    v73 = tmp_path / "v73.mat"
    v73.write_bytes(b"MATLAB 7.3 MAT-file".ljust(124) + struct.pack("<H", 0x0200) + b"IM")
    with pytest.raises(MatFileError, match=r"v7.3 file \(HDF5\)"):
        read_mat(v73)
    (tmp_path / "v4.mat").write_bytes(b"\0" * 200)
    with pytest.raises(MatFileError, match="not a level-5 MAT-file"):
        read_mat(tmp_path / "v4.mat")
    (tmp_path / "short.mat").write_bytes(b"MATLAB")
    with pytest.raises(MatFileError, match="too short"):
        read_mat(tmp_path / "short.mat")
    good = tmp_path / "good.mat"
    write_mat(good, {"labels": np.arange(1000.0)}, compress=False)
    cut = tmp_path / "cut.mat"
    cut.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(MatFileError, match="truncated"):
        read_mat(cut)
    write_mat(good, {"labels": np.zeros(10000)})
    bad = bytearray(good.read_bytes())
    bad[140:150] = b"\xff" * 10  # inside the zlib stream
    (tmp_path / "bad.mat").write_bytes(bytes(bad))
    with pytest.raises(MatFileError, match=r"damaged|truncated"):
        read_mat(tmp_path / "bad.mat")
    monkeypatch.setattr(matfile, "MAX_INFLATED_BYTES", 1000)
    with pytest.raises(MatFileError, match="compression bomb"):
        read_mat(good)


def test_mat_agrees_with_scipy(tmp_path):
    sio = pytest.importorskip("scipy.io")
    arrays = {"labels": np.array([3.0, 1.0, 2.0]), "tstid": np.array([[4, 5, 6]], np.uint16)}
    for compress in (True, False):
        sio.savemat(tmp_path / "s.mat", arrays, do_compression=compress)
        back = read_mat(tmp_path / "s.mat")
        for name, value in arrays.items():
            np.testing.assert_array_equal(back[name], value.reshape(1, -1))
        write_mat(tmp_path / "r.mat", arrays, compress=compress)
        theirs = sio.loadmat(tmp_path / "r.mat")
        for name, value in arrays.items():
            np.testing.assert_array_equal(theirs[name], value.reshape(1, -1))


# --- Flowers ---------------------------------------------------------------------------------

# 7 images; labels are 1-based classes of images 1..7, uint8 as in the official
# imagelabels.mat (MATLAB 5.0 MAT-file, labels 1 x 8189 uint8); Paddle's 'train' is tstid.
LABELS = np.array([3, 1, 2, 102, 5, 7, 1], dtype=np.uint8)
SETID = {"trnid": [2, 1], "valid": [3], "tstid": [7, 4, 5, 6]}


def make_flowers(folder, labels=LABELS, setid=SETID, skip=()):
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "102flowers.tgz", "w:gz") as tar:
        for i in range(1, len(labels) + 1):
            if i not in skip:
                _add(tar, f"jpg/image_{i:05d}.jpg", _jpeg(i))
        _add(tar, "jpg/README.txt", b"not an image")
    write_mat(folder / "imagelabels.mat", {"labels": labels})
    write_mat(folder / "setid.mat", {k: np.array(v, dtype=np.uint16) for k, v in setid.items()})
    return {n: str(folder / f) for n, f in (
        ("data_file", "102flowers.tgz"), ("label_file", "imagelabels.mat"),
        ("setid_file", "setid.mat"))}  # fmt: skip


def test_flowers_signature_is_paddles():
    sig = inspect.signature(Flowers)
    assert [(p.name, p.default) for p in sig.parameters.values()] == [
        ("data_file", None), ("label_file", None), ("setid_file", None), ("mode", "train"),
        ("transform", None), ("download", True), ("backend", None),
    ]  # fmt: skip


def test_flowers_splits_labels_and_items(tmp_path):
    files = make_flowers(tmp_path / "src")
    before = sorted(p.name for p in (tmp_path / "src").iterdir())
    sizes = {m: len(Flowers(**files, mode=m)) for m in ("train", "valid", "test")}
    assert sizes == {"train": 4, "valid": 1, "test": 2}  # Paddle's swap: train = tstid
    ds = Flowers(**files, mode="train", backend="pil")
    assert ds.indexes.tolist() == [7, 4, 5, 6] and ds.labels.tolist() == LABELS.tolist()
    img, label = ds[1]  # image 4, whose class is 102
    assert isinstance(img, Image.Image) and img.mode == "RGB" and img.size == (10, 8)
    assert label.dtype == np.int64 and label.shape == (1,) and label.tolist() == [102]
    expected = np.asarray(Image.open(io.BytesIO(_jpeg(4))).convert("RGB"))
    np.testing.assert_array_equal(np.asarray(img), expected)
    arr, label = Flowers(**files, mode="TEST", transform=Transpose(), backend="cv2")[-1]
    assert arr.dtype == np.float32 and arr.shape == (3, 8, 10) and label.tolist() == [3]
    # read in place: nothing unpacked beside the archive (Paddle unpacks a 102flowers/ folder)
    assert sorted(p.name for p in (tmp_path / "src").iterdir()) == before
    clone = pickle.loads(pickle.dumps(ds))  # DataLoader workers get a copy
    np.testing.assert_array_equal(np.asarray(clone[1][0]), expected)


def test_flowers_cache_copy_is_reused(tmp_path, monkeypatch):
    files = make_flowers(tmp_path / "src")
    Flowers(**files, mode="valid")

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the archive was streamed again")

    monkeypatch.setattr(tarstore, "_copy_members", no_second_pass)
    assert int(Flowers(**files, mode="test")[0][1][0]) == 1


def test_flowers_refuses_bad_inputs(tmp_path):
    files = make_flowers(tmp_path / "a", setid={**SETID, "valid": [9]})
    with pytest.raises(ValueError, match=r"'valid' names image 9, but .* labels images 1 to 7"):
        Flowers(**files, mode="valid")
    with pytest.raises(ValueError, match=r"mode must be one of \['train', 'valid', 'test'\]"):
        Flowers(**files, mode="val")
    files = make_flowers(tmp_path / "b", skip=(5,))
    with pytest.raises(ValueError, match=r"has no jpg/image_00005.jpg \(1 of the 4 images"):
        Flowers(**files)
    files = make_flowers(tmp_path / "c")
    (tmp_path / "c" / "setid.mat").write_bytes(b"not a mat file")
    with pytest.raises(MatFileError, match="too short"):
        Flowers(**files)


def test_flowers_download_md5_and_offline_message(tmp_path, monkeypatch):
    src = tmp_path / "mirror"
    make_flowers(src)
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(Flowers, "URL_PREFIXES", (UNREACHABLE,))
    with pytest.raises(DatasetNotFoundError) as err:
        Flowers(mode="valid")
    text = str(err.value)
    assert "102flowers.tgz" in text and "52808999861908f626f3c1f4e79d11fa" in text
    assert "download failed" in text
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        Flowers(download=False)
    files = {k: (name, _md5(src / name)) for k, (name, _) in Flowers.FILES.items()}
    monkeypatch.setattr(Flowers, "FILES", files)
    monkeypatch.setattr(Flowers, "URL_PREFIXES", (UNREACHABLE, src.as_uri() + "/"))
    ds = Flowers(mode="train")  # the second URL of each file serves it
    assert len(ds) == 4 and ds.data_file.startswith(str(tmp_path / "cache"))
    monkeypatch.setattr(Flowers, "URL_PREFIXES", (UNREACHABLE,))
    assert len(Flowers(mode="valid", download=False)) == 1  # found in the cache, verified


# --- VOC2012 ---------------------------------------------------------------------------------

VOC = "VOCdevkit/VOC2012/"
IDS = {"train": ["2007_000032", "2007_000039"], "val": ["2007_000033"]}


def _mask(seed, size=(10, 8)):
    values = np.random.default_rng(seed).choice([0, 1, 15, 255], size=(size[1], size[0]))
    img = Image.fromarray(values.astype(np.uint8))  # mode L; putpalette makes it P
    img.putpalette([v for i in range(256) for v in (i, 255 - i, i // 2)])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue(), values


def make_voc(path, mode="w", drop=()):
    masks = {}
    with tarfile.open(path, mode) as tar:
        for split, ids in (*IDS.items(), ("trainval", IDS["train"] + IDS["val"])):
            _add(tar, f"{VOC}ImageSets/Segmentation/{split}.txt", "\n".join(ids).encode() + b"\n")
        _add(tar, f"{VOC}ImageSets/Main/train.txt", b"2008_000001\n")
        for n, i in enumerate([*IDS["train"], *IDS["val"], "2008_000001"]):
            if f"{i}.jpg" not in drop:
                _add(tar, f"{VOC}JPEGImages/{i}.jpg", _jpeg(n))
            _add(tar, f"{VOC}Annotations/{i}.xml", b"<annotation/>")
            if i != "2008_000001" and f"{i}.png" not in drop:
                data, masks[i] = _mask(n)
                _add(tar, f"{VOC}SegmentationClass/{i}.png", data)
    return masks


def test_voc_signature_is_paddles():
    sig = inspect.signature(VOC2012)
    assert [(p.name, p.default) for p in sig.parameters.values()] == [
        ("data_file", None), ("mode", "train"), ("transform", None), ("download", True),
        ("backend", None),
    ]  # fmt: skip


def test_voc_modes_and_items(tmp_path):
    tar = tmp_path / "VOCtrainval_11-May-2012.tar"
    masks = make_voc(tar)
    sizes = {m: len(VOC2012(str(tar), mode=m)) for m in ("train", "valid", "test")}
    assert sizes == {"train": 3, "valid": 1, "test": 2}  # Paddle: train = trainval, test = train
    ds = VOC2012(str(tar), mode="train", backend="pil")
    assert ds._members.backing == str(tar)  # read in place, at the members' offsets
    assert ds.data[2] == f"{VOC}JPEGImages/2007_000033.jpg"
    image, mask = ds[2]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (10, 8)
    assert isinstance(mask, Image.Image) and mask.mode == "P"
    np.testing.assert_array_equal(np.asarray(mask), masks["2007_000033"])
    expected = np.asarray(Image.open(io.BytesIO(_jpeg(2))).convert("RGB"))
    np.testing.assert_array_equal(np.asarray(image), expected)
    # cv2: both float32; the transform applies to the image only, as in Paddle
    image, mask = VOC2012(str(tar), mode="test", transform=Transpose(), backend="cv2")[1]
    assert image.dtype == np.float32 and image.shape == (3, 8, 10)
    assert mask.dtype == np.float32 and mask.shape == (8, 10)
    np.testing.assert_array_equal(mask, masks["2007_000039"])
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(np.asarray(clone[0][1]), masks["2007_000032"])


def test_voc_compressed_copy_and_errors(tmp_path):
    gz = tmp_path / "voc.tar.gz"
    masks = make_voc(gz, "w:gz")
    ds = VOC2012(str(gz), mode="valid", backend="cv2")
    assert ds._members.backing != str(gz)  # a .tar.gz cannot be read at offsets: copied once
    np.testing.assert_array_equal(ds[0][1], masks["2007_000033"])
    make_voc(tmp_path / "no-mask.tar", drop=("2007_000039.png",))
    with pytest.raises(ValueError, match=r"has no VOCdevkit/VOC2012/SegmentationClass/2007_000039"):
        VOC2012(str(tmp_path / "no-mask.tar"), mode="test")
    with tarfile.open(tmp_path / "other.tar", "w") as tar:
        _add(tar, f"{VOC}ImageSets/Segmentation/val.txt", b"x\n")
    with pytest.raises(ValueError, match=r"has no .*/trainval.txt .*split lists found: \['val'\]"):
        VOC2012(str(tmp_path / "other.tar"))
    (tmp_path / "junk.tar").write_bytes(b"\0\1" * 700)
    with pytest.raises(ValueError, match="not a readable tar archive"):
        VOC2012(str(tmp_path / "junk.tar"))


def test_voc_download(tmp_path, monkeypatch):
    src = tmp_path / "mirror" / "VOCtrainval_11-May-2012.tar"
    src.parent.mkdir()
    make_voc(src)
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(VOC2012, "URLS", (UNREACHABLE + "voc.tar",))
    with pytest.raises(DatasetNotFoundError, match="6cd6e144f989b92b3379bac3b3de84fd"):
        VOC2012()
    monkeypatch.setattr(VOC2012, "URLS", (src.as_uri(),))
    monkeypatch.setattr(VOC2012, "MD5", _md5(src))
    assert len(VOC2012(mode="valid")) == 1


def test_tar_index_limits_and_truncation(tmp_path, monkeypatch):
    gz = tmp_path / "a.tgz"
    with tarfile.open(gz, "w:gz") as tar:
        _add(tar, "big.bin", b"\0" * 100_000)  # compresses ~1000 times
    monkeypatch.setenv("RESVISION_MAX_UNPACK_RATIO", "10")
    with pytest.raises(ValueError, match=r"exceed .*RESVISION_MAX_UNPACK_RATIO"):
        index_tar(gz, lambda n: True, cache_name="t-limit")
    plain = tmp_path / "a.tar"
    with tarfile.open(plain, "w") as tar:
        _add(tar, "./x/a.bin", b"abc" * 1000)
    members = index_tar(plain, lambda n: True, cache_name="t-plain")
    assert members.names == ["x/a.bin"] and members.read("x/a.bin") == b"abc" * 1000
    with pytest.raises(KeyError, match=r"has no file member 'x/b\.bin'"):
        members.read("x/b.bin")
    with open(plain, "r+b") as f:
        f.truncate(1500)
    with pytest.raises(ValueError, match="cut short"):
        members.read("x/a.bin")


def test_tar_copy_kept_in_memory_without_a_writable_cache(tmp_path, monkeypatch):
    gz = tmp_path / "a.tgz"
    with tarfile.open(gz, "w:gz") as tar:
        _add(tar, "a.bin", b"hello")

    def unwritable(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tarstore, "atomic_write", unwritable)
    members = index_tar(gz, lambda n: True, cache_name="t-memory")
    assert members.backing is None and members.read("a.bin") == b"hello"
    assert pickle.loads(pickle.dumps(members)).read("a.bin") == b"hello"
