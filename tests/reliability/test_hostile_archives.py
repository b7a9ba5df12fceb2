"""Hostile data set archives, built here: link chains escaping through long folder names
(CVE-2025-4517), links and hard links, duplicate names, decompression bombs and a full disk. Each
is refused with a message naming the member or the limit; nothing is written outside the
destination, and nothing half-unpacked stays behind. A normal archive still unpacks, without
relying on ``extractall(filter=...)``.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import types
import warnings
import zipfile
from pathlib import Path

import pytest

from resvision.data import archives
from resvision.data.archives import UnsafeArchiveError, extract_archive, extracted_folder


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    return info


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _file(name: str, data: bytes = b"abc") -> tuple[tarfile.TarInfo, bytes]:
    return _info(name), data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    return _info(name, kind, target), b""


def _escaping_chain(payload: dict[str, bytes]) -> list[tuple[tarfile.TarInfo, bytes]]:
    """The CVE-2025-4517 shape: folders with long names 16 deep, a link to each, a link through
    all of them (a path longer than PATH_MAX, which ``os.path.realpath`` stops resolving) climbing
    back to the top, ``pets/escape`` pointing one level above it, then files written through."""
    comp, steps, path = "d" * 240, "abcdefghijklmnop", "pets"
    members = [(_info("pets", tarfile.DIRTYPE), b"")]
    for step in steps:
        members += [(_info(f"{path}/{comp}", tarfile.DIRTYPE), b""), _link(f"{path}/{step}", comp)]
        path = f"{path}/{comp}"
    long_link = "/".join(["pets", *steps, "l" * 254])
    members.append(_link(long_link, "/".join([".."] * (len(steps) + 1))))
    members.append(_link("pets/escape", "/".join([*steps, "l" * 254, ".."])))
    members += [_file(f"pets/escape/{name}", data) for name, data in payload.items()]
    return members


def _outside(root: Path, dest: Path) -> dict[str, object]:
    """Every entry under ``root`` except ``dest``: files by content, links by target."""
    seen: dict[str, object] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(folder, d) != dest]
        for name in dirs + files:
            path = Path(folder, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                seen[rel] = ("link", os.readlink(path))
            elif path.is_file():
                seen[rel] = path.read_bytes()
    return seen


@pytest.fixture
def work(tmp_path):
    """``(dest, sentinel)``: a destination in ``tmp_path/work`` and a file beside it."""
    (tmp_path / "work").mkdir()
    sentinel = tmp_path / "work" / "sentinel.txt"
    sentinel.write_bytes(b"original")
    return tmp_path / "work" / "dest", sentinel


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _refused_untouched(tmp_path, dest, archive, match):
    before = _outside(tmp_path, dest)
    with pytest.raises(UnsafeArchiveError, match=match):
        extract_archive(archive, dest)
    assert not dest.exists()
    assert _outside(tmp_path, dest) == before  # the sentinel unchanged, nothing new anywhere
    assert sorted(os.listdir(dest.parent)) == ["sentinel.txt"]  # no partial folder


def test_a_symlink_chain_through_long_folder_names_cannot_escape(tmp_path, work):
    dest, sentinel = work
    members = _escaping_chain({"sentinel.txt": b"overwritten", "new.txt": b"new"})
    archive = _tar(tmp_path / "chain.tar.gz", members)
    _refused_untouched(tmp_path, dest, archive, r"member 'pets/a' is a symbolic link")
    assert sentinel.read_bytes() == b"original"


def test_a_symlink_pointing_inside_is_refused_too(tmp_path, work):
    dest, _ = work
    members = [_file("pets/train/cat/0.png"), _link("pets/train/cat/alias.png", "0.png")]
    archive = _tar(tmp_path / "alias.tar.gz", members)
    _refused_untouched(
        tmp_path, dest, archive, r"'pets/train/cat/alias.png' is a symbolic link \(to '0.png'\)"
    )


def test_a_hard_link_is_refused(tmp_path, work):
    dest, _ = work
    members = [
        _file("pets/train/cat/0.png"),
        _link("pets/train/cat/copy.png", "pets/train/cat/0.png", tarfile.LNKTYPE),
    ]
    archive = _tar(tmp_path / "hard.tar.gz", members)
    _refused_untouched(tmp_path, dest, archive, r"'pets/train/cat/copy.png' is a hard link")


def test_a_member_written_through_an_earlier_symlink_is_refused(tmp_path, work):
    # Read as text, each link stays inside; followed, pets/up/out is the folder above.
    dest, _ = work
    members = [
        _file("pets/train/cat/0.png"),
        _link("pets/up", ".."),
        _link("pets/up/out", ".."),
        _file("pets/up/out/sentinel.txt", b"overwritten"),
    ]
    archive = _tar(tmp_path / "through.tar.gz", members)
    _refused_untouched(tmp_path, dest, archive, r"member 'pets/up' is a symbolic link")


def test_a_name_with_nul_is_refused(tmp_path, work):
    dest, _ = work
    info = _info("pets/a.png")
    info.pax_headers = {"path": "pets/a.png\x00.txt"}  # a pax header keeps what ustar cuts
    archive = _tar(tmp_path / "nul.tar", [(info, b"png")], mode="w")
    _refused_untouched(tmp_path, dest, archive, r"'pets/a.png\\x00.txt' has a NUL character")


DUPLICATES = {
    "a file twice": (["pets/a.png", "pets/a.png"], r"'pets/a.png' is given twice"),
    "the same file after normalising": (["pets/a.png", "pets/./a.png"], "given twice"),
    "a file then a folder": (["pets/a", "pets/a/"], "is both a file and a folder"),
    "a folder then a file": (["pets/a/", "pets/a"], "is both a file and a folder"),
    "a file under a file": (["pets/a", "pets/a/b.png"], r"needs 'pets/a', the file 'pets/a'"),
    "a file naming the destination": (["pets/a.png", "./"], "has an empty name"),
}


@pytest.mark.parametrize(
    "kind, case",
    [("tar", c) for c in sorted(DUPLICATES)]
    # In a zip, "./" ends with "/": a folder entry, and the root folder is harmless.
    + [("zip", c) for c in sorted(DUPLICATES) if c != "a file naming the destination"],
)
def test_duplicate_member_names_are_refused(tmp_path, work, kind, case):
    dest, _ = work
    names, match = DUPLICATES[case]
    if kind == "zip":
        archive = tmp_path / "dup.zip"
        with zipfile.ZipFile(archive, "w") as zf, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate it writes
            for name in names:
                zf.writestr(name, b"" if name.endswith("/") else name.encode())
    else:
        members = [
            (_info(n, tarfile.DIRTYPE), b"") if n.endswith("/") and n != "./" else _file(n)
            for n in names
        ]
        archive = _tar(tmp_path / "dup.tar.gz", members)
    _refused_untouched(tmp_path, dest, archive, match)


def _zeros_zip(path: Path, size: int) -> Path:
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("pets/zeros.bin", "w") as f,
    ):
        for _ in range(size // (1 << 20)):
            f.write(bytes(1 << 20))
    return path


def _cache_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if not p.is_dir()] if cache.exists() else []


def test_a_zip_bomb_is_refused_and_nothing_stays_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    bomb = _zeros_zip(tmp_path / "bomb.zip", 32 << 20)
    assert bomb.stat().st_size * 100 < 32 << 20
    with pytest.raises(ValueError, match="RESVISION_MAX_UNPACK_RATIO") as caught:
        extracted_folder(bomb)
    assert isinstance(caught.value, archives.ArchiveTooLargeError)
    assert "bomb.zip would unpack to 33,554,432 bytes, more than 100 times its" in str(caught.value)
    assert _cache_files(tmp_path / "cache") == []
    # A genuine archive of that kind goes through once the limit is raised.
    monkeypatch.setenv("RESVISION_MAX_UNPACK_RATIO", "inf")
    assert (extracted_folder(bomb) / "zeros.bin").stat().st_size == 32 << 20


def test_a_declared_total_over_the_byte_limit_is_refused_before_writing(
    tmp_path, work, monkeypatch
):
    dest, _ = work
    monkeypatch.setenv("RESVISION_MAX_UNPACK_BYTES", "1000")
    members = [_file("pets/a.bin", b"a" * 600), _file("pets/b.bin", b"b" * 600)]
    archive = _tar(tmp_path / "big.tar", members, mode="w")
    writes = []
    monkeypatch.setattr(archives, "_write_all", lambda *a: writes.append(a), raising=False)
    with pytest.raises(ValueError, match=r"1,200 bytes, more than the limit of 1,000 bytes") as err:
        extract_archive(archive, dest)
    assert "set RESVISION_MAX_UNPACK_BYTES to a larger" in str(err.value)
    assert writes == [] and sorted(os.listdir(dest.parent)) == ["sentinel.txt"]


def test_bytes_actually_written_are_counted_when_declared_sizes_lie(tmp_path, work, monkeypatch):
    dest, _ = work
    archive = _tar(tmp_path / "liar.tar.gz", [_file("pets/zeros.bin", bytes(8 << 20))])
    real = getattr(archives, "_tar_entries", None)
    if real is not None:  # the sizes the members declare read as 0
        lying = lambda *a: [e.__class__(**{**vars(e), "size": 0}) for e in real(*a)]  # noqa: E731
        monkeypatch.setattr(archives, "_tar_entries", lying)
    with pytest.raises(
        ValueError, match="unpacks to at least 1,048,576 bytes, more than 100 times"
    ):
        extract_archive(archive, dest)
    assert sorted(os.listdir(dest.parent)) == ["sentinel.txt"]


@pytest.mark.parametrize(
    "variable, value",
    [
        ("RESVISION_MAX_UNPACK_RATIO", "lots"),
        ("RESVISION_MAX_UNPACK_RATIO", "0"),
        ("RESVISION_MAX_UNPACK_RATIO", "nan"),
        ("RESVISION_MAX_UNPACK_BYTES", "1.5e9"),
        ("RESVISION_MAX_UNPACK_BYTES", "-1"),
    ],
)
def test_a_bad_limit_value_is_named(tmp_path, work, monkeypatch, variable, value):
    dest, _ = work
    monkeypatch.setenv(variable, value)
    archive = _tar(tmp_path / "ok.tar.gz", [_file("pets/a.png")])
    with pytest.raises(ValueError, match=rf"{variable}='{value}' is not a positive"):
        extract_archive(archive, dest)
    assert not dest.exists()


def test_too_little_free_space_is_refused_before_writing(tmp_path, work, monkeypatch):
    dest, _ = work
    archive = _tar(tmp_path / "ok.tar.gz", [_file("pets/a.bin", b"a" * 5000)])
    usage = types.SimpleNamespace(total=10**9, used=10**9 - 4096, free=4096)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage)
    with pytest.raises(
        ValueError, match=r"not enough disk space .* 5,000 bytes .* 4,096 bytes free"
    ):
        extract_archive(archive, dest)
    assert sorted(os.listdir(dest.parent)) == ["sentinel.txt"]


def test_a_full_disk_is_reported_as_such(tmp_path, monkeypatch):
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    files = [_file(f"pets/train/cat/{i}.bin", os.urandom(1000)) for i in range(3)]
    archive = _tar(tmp_path / "pets.tar.gz", files)

    def fill_up(fd: int, data: bytes) -> None:
        if fill_up.calls:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fill_up.calls += 1
        os.write(fd, data)

    fill_up.calls = 0
    monkeypatch.setattr(archives, "_write_all", fill_up, raising=False)
    with pytest.raises(ValueError, match="the disk is full while unpacking") as caught:
        extracted_folder(archive)
    assert isinstance(caught.value, archives.ArchiveSpaceError)
    assert "(1,000 bytes written)" in str(caught.value) and "RESVISION_CACHE" in str(caught.value)
    assert list((tmp_path / "cache" / "extracted").iterdir()) == []


def _pngs() -> dict[str, bytes]:
    from PIL import Image

    files = {}
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            for i in range(2):
                buf = io.BytesIO()
                Image.new("RGB", (8, 8), (i * 100, 20, 30)).save(buf, format="PNG")
                files[f"pets/{split}/{cls}/{i}.png"] = buf.getvalue()
    return files


def _tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    return {
        str(p.relative_to(root)): (
            stat.S_IMODE(p.lstat().st_mode),
            p.read_bytes() if p.is_file() else None,
        )
        for p in root.rglob("*")
    }


def test_a_normal_archive_unpacks_with_plain_modes(tmp_path, monkeypatch, umask_022):
    """Stored modes (set-uid, private folders) are not kept: folders 0o755, files 0o644."""
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    files = _pngs()
    expected = {"pets": (0o755, None)}
    for name, data in files.items():
        for parent in list(Path(name).parents)[:-2]:
            expected[str(parent)] = (0o755, None)
        expected[name] = (0o644, data)
    members = [(_info("pets/train", tarfile.DIRTYPE, mode=0o700), b"")]
    members += [(_info(n, mode=0o4777), data) for n, data in files.items()]
    tar_folder = extracted_folder(_tar(tmp_path / "pets.tar.gz", members))
    assert tar_folder.name == "pets" and _tree(tar_folder.parent) == expected
    with zipfile.ZipFile(tmp_path / "pets.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pets/val/", b"")
        for name, data in files.items():
            zf.writestr(name, data)
    zip_folder = extracted_folder(tmp_path / "pets.zip")
    assert zip_folder.name == "pets" and _tree(zip_folder.parent) == expected


def test_extraction_does_not_need_the_filter_argument(tmp_path, work, monkeypatch):
    """Before Python 3.10.12 / 3.11.4, ``extractall(filter=...)`` is a TypeError."""
    dest, _ = work
    real = tarfile.TarFile.extractall

    def old_extractall(self, *args, **kwargs):
        if "filter" in kwargs:
            raise TypeError("extractall() got an unexpected keyword argument 'filter'")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(tarfile.TarFile, "extractall", old_extractall)
    files = _pngs()
    extract_archive(_tar(tmp_path / "pets.tar.gz", [_file(n, d) for n, d in files.items()]), dest)
    assert {str(p.relative_to(dest)): p.read_bytes() for p in dest.rglob("*.png")} == files


def test_the_command_line_refuses_a_hostile_archive_in_one_line(tmp_path):
    cache = tmp_path / "cache"
    sentinel = cache / "extracted" / "sentinel.txt"  # beside the unpacking folder
    sentinel.parent.mkdir(parents=True)
    sentinel.write_bytes(b"original")
    members = [_file(n, d) for n, d in _pngs().items()]
    members += _escaping_chain({"sentinel.txt": b"overwritten", "new.txt": b"new"})
    archive = _tar(tmp_path / "pets.tar.gz", members)
    env = {**os.environ, "RESVISION_NUM_THREADS": "1", "RESVISION_CACHE": str(cache)}
    argv = ["train", "--data", str(archive), "--max-steps", "1", "--output", str(tmp_path / "run")]
    result = subprocess.run(
        [sys.executable, "-m", "resvision", *argv, "--set", "output.report=false"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "member 'pets/a' is a symbolic link" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(os.listdir(sentinel.parent)) == ["sentinel.txt"]
    assert sentinel.read_bytes() == b"original"
