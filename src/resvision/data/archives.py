"""Unpacking a data set archive (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``,
``.zip``) safely.

An archive from elsewhere may try to write outside the folder it is unpacked into: member names
with ``../`` or an absolute path, symbolic or hard links that point outside, device files. Every
member is checked *before* anything is written, and an archive with any such member is refused
as a whole (:class:`UnsafeArchiveError` names the member). Tar archives are then extracted with
Python's ``'data'`` extraction filter as a second line of defence (it also drops set-uid bits
and foreign owners). The archive is unpacked into a temporary folder beside the destination,
which is renamed into place only when complete: a crash never leaves a half-unpacked folder
that looks finished.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from resvision.data.cache import cache_dir, fingerprint

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the destination, or is not a plain file,
    folder or inside link; nothing of the archive was extracted."""


def is_archive(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an archive by its suffix.

    Examples:
        >>> is_archive("pets.tar.gz"), is_archive("pets.zip"), is_archive("pets")
        (True, True, False)
    """
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def _check_name(archive: Path, name: str) -> PurePosixPath:
    """The member's relative path; refuses absolute paths and ``..`` components."""
    posix = name.replace("\\", "/")
    path = PurePosixPath(posix)
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":") or ".." in path.parts:
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} would be written outside the destination folder "
            "(absolute path or '..'); the archive is refused"
        )
    return path


def _inside(base: PurePosixPath, target: str) -> bool:
    """Whether a link at ``base`` (a relative member path) pointing to ``target`` stays inside."""
    if target.startswith("/") or (len(target) > 1 and target[1] == ":"):
        return False
    depth = 0
    for part in [*base.parent.parts, *PurePosixPath(target.replace("\\", "/")).parts]:
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return True


def check_tar_members(archive: Path, tar: tarfile.TarFile) -> None:
    """Raise :class:`UnsafeArchiveError` for the first member that is not safe to extract."""
    for member in tar.getmembers():
        path = _check_name(archive, member.name)
        if member.issym() and not _inside(path, member.linkname):
            raise UnsafeArchiveError(
                f"{archive}: symbolic link {member.name!r} points outside the destination "
                f"({member.linkname!r}); the archive is refused"
            )
        if member.islnk() and not _inside(PurePosixPath("x"), member.linkname):
            raise UnsafeArchiveError(
                f"{archive}: hard link {member.name!r} points outside the destination "
                f"({member.linkname!r}); the archive is refused"
            )
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise UnsafeArchiveError(
                f"{archive}: member {member.name!r} is a device, FIFO or other special file; "
                "the archive is refused"
            )


def check_zip_members(archive: Path, zf: zipfile.ZipFile) -> None:
    """Raise :class:`UnsafeArchiveError` for the first member that is not safe to extract."""
    for info in zf.infolist():
        _check_name(archive, info.filename)
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the writer set no type bits
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchiveError(
                f"{archive}: member {info.filename!r} is a link or special file; the archive is "
                "refused"
            )


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Unpack ``archive`` into the new folder ``dest``, refusing unsafe archives.

    Args:
        archive: A tar (optionally gzip / bzip2 / xz compressed) or zip file.
        dest: The folder to create (its parent must exist); it must not exist yet.

    Returns:
        ``dest``.

    Raises:
        UnsafeArchiveError: a member with an absolute path or ``..``, a link pointing outside,
            or a special file (nothing is written).
        ValueError: the file is not a readable archive, or ``dest`` exists.

    Examples:
        >>> import io, tarfile, tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> with tarfile.open(d / "a.tar", "w") as tar:
        ...     info = tarfile.TarInfo("../evil.txt"); info.size = 1
        ...     tar.addfile(info, io.BytesIO(b"x"))
        >>> extract_archive(d / "a.tar", d / "out")
        Traceback (most recent call last):
        ...
        resvision.data.archives.UnsafeArchiveError: ... member '../evil.txt' would be written outside the destination folder (absolute path or '..'); the archive is refused
    """
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        raise ValueError(f"{dest} exists already; extract_archive creates its destination")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                check_zip_members(archive, zf)
                tmp.mkdir()
                zf.extractall(tmp)
        else:
            with tarfile.open(archive, mode="r:*") as tar:
                check_tar_members(archive, tar)
                tmp.mkdir()
                tar.extractall(tmp, filter="data")
        os.replace(tmp, dest)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        raise ValueError(f"{archive} is not a readable archive ({err})") from err
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
    return dest


def extracted_folder(archive: str | os.PathLike) -> Path:
    """The folder a data set archive unpacks to, in the cache (unpacked once, reused).

    The cache entry is keyed by the archive's path, size and modification time. When the
    archive holds one top-level folder only (``pets/train/...``), that folder is returned.

    Raises:
        UnsafeArchiveError, ValueError: see :func:`extract_archive`.
    """
    archive = Path(archive).expanduser()
    name = archive.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    dest = cache_dir("extracted") / f"{name}-{fingerprint([archive], extra='extract')}"
    if not dest.is_dir():
        try:
            extract_archive(archive, dest)
        except ValueError:
            if not dest.is_dir():  # another process may have unpacked it meanwhile
                raise
    entries = [e for e in dest.iterdir() if not e.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest
