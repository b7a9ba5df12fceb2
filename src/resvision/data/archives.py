"""Unpacking a data set archive (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``,
``.zip``) safely, on every supported Python.

Rule: an image data set archive may hold only regular files and folders. Every member is
checked *before* anything is written, and the archive is refused as a whole
(:class:`UnsafeArchiveError` names the member) when any member has an absolute, drive-letter,
``..``, NUL or empty name, is a symbolic or hard link, a device, FIFO or other special file, or
has the same path as another member (a file given twice, a file and a folder). Links are refused
outright, even pointing inside: following them safely needs the path resolution that tar's
``'data'`` filter got wrong before Python 3.10.18 / 3.11.13 / 3.12.11 / 3.13.4 (CVE-2025-4517),
and ``extractall(filter=...)`` does not exist before 3.10.12 / 3.11.4.

So ``extractall`` is not used at all: each member is written by this module at the path computed
from its checked name, folders with mode ``0o755`` and files with ``0o644`` (less the umask; no
set-uid bits, owners or stored times), each file opened with ``O_CREAT | O_EXCL`` (and
``O_NOFOLLOW``) so nothing existing is ever followed or overwritten.

Size limits stop decompression bombs (:class:`ArchiveTooLargeError`): at most
``RESVISION_MAX_UNPACK_RATIO`` (default 100) times the archive's own size, and at most
``RESVISION_MAX_UNPACK_BYTES`` (default 1 TiB), checked on the sizes the members declare before
writing and on the bytes actually written. A full disk is reported as such
(:class:`ArchiveSpaceError`). The archive is unpacked into a temporary folder beside the
destination, renamed into place only when complete and removed on any failure: a crash never
leaves a half-unpacked folder that looks finished.
"""

from __future__ import annotations

import contextlib
import errno
import lzma
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import IO

from resvision.data.cache import cache_dir, fingerprint

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")

DEFAULT_MAX_UNPACK_RATIO = 100.0
DEFAULT_MAX_UNPACK_BYTES = 1 << 40  # 1 TiB
RATIO_VARIABLE = "RESVISION_MAX_UNPACK_RATIO"
BYTES_VARIABLE = "RESVISION_MAX_UNPACK_BYTES"

_CHUNK = 1 << 20
# O_NOFOLLOW and O_CLOEXEC are POSIX only, O_BINARY Windows only (no newline translation there).
_OPEN_FLAGS = (
    os.O_CREAT
    | os.O_EXCL
    | os.O_WRONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_SPACE_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
# What a damaged or unsupported archive raises while it is read (gzip and bz2 raise OSError).
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error, lzma.LZMAError)


class UnsafeArchiveError(ValueError):
    """An archive member is not a plain file or folder, would be written outside the
    destination, or clashes with another member; nothing of the archive was extracted."""


class ArchiveTooLargeError(ValueError):
    """An archive unpacks to more than the allowed size (see :func:`unpack_limits`)."""


class ArchiveSpaceError(ValueError):
    """The disk is too small or became full while unpacking an archive."""


@dataclass(frozen=True)
class _Entry:
    name: str  # as stored, for messages
    path: PurePosixPath  # checked, relative, normalised
    is_dir: bool
    size: int  # declared; 0 for folders
    open: Callable[[], IO[bytes]]


def is_archive(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an archive by its suffix.

    Examples:
        >>> is_archive("pets.tar.gz"), is_archive("pets.zip"), is_archive("pets")
        (True, True, False)
    """
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def unpack_limits() -> tuple[float, int]:
    """The size limits for unpacking: ``(ratio, bytes)`` from ``RESVISION_MAX_UNPACK_RATIO``
    (unpacked size / archive size, default 100, ``inf`` for none) and
    ``RESVISION_MAX_UNPACK_BYTES`` (default 1 TiB).

    Raises:
        ValueError: a variable is set to something else than a positive number (a whole number
            of bytes for ``RESVISION_MAX_UNPACK_BYTES``).

    Examples:
        >>> unpack_limits() == (DEFAULT_MAX_UNPACK_RATIO, DEFAULT_MAX_UNPACK_BYTES)
        True
    """
    ratio_text = os.environ.get(RATIO_VARIABLE, "").strip()
    bytes_text = os.environ.get(BYTES_VARIABLE, "").strip()
    try:
        ratio = float(ratio_text) if ratio_text else DEFAULT_MAX_UNPACK_RATIO
    except ValueError:
        ratio = -1.0
    if not ratio > 0:  # also NaN
        raise ValueError(
            f"{RATIO_VARIABLE}={ratio_text!r} is not a positive number; give the largest allowed "
            f"unpacked size / archive size, e.g. {DEFAULT_MAX_UNPACK_RATIO:g} (or inf for no limit)"
        )
    try:
        max_bytes = int(bytes_text) if bytes_text else DEFAULT_MAX_UNPACK_BYTES
    except ValueError:
        max_bytes = -1
    if max_bytes <= 0:
        raise ValueError(
            f"{BYTES_VARIABLE}={bytes_text!r} is not a positive whole number of bytes; give the "
            f"largest allowed unpacked size, e.g. {DEFAULT_MAX_UNPACK_BYTES} (1 TiB)"
        )
    return ratio, max_bytes


def _refused(archive: Path, name: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"{archive}: member {name!r} {why}; the archive is refused")


def _short(text: str, limit: int = 80) -> str:
    """``repr(text)``, cut in the middle when long (a crafted link target can fill a screen)."""
    return repr(text) if len(text) <= limit else f"{text[: limit // 2]!r}...{text[-limit // 2 :]!r}"


def _member_path(archive: Path, name: str) -> PurePosixPath:
    """The member's relative path; refuses absolute, drive-letter, ``..`` and NUL names."""
    if "\0" in name:
        raise _refused(archive, name, "has a NUL character in its name")
    posix = name.replace("\\", "/")  # Windows separators count as separators everywhere
    path = PurePosixPath(posix)
    # PurePath(part) != part catches what this platform reads as a drive ("C:x" on Windows).
    if (
        posix.startswith("/")
        or (len(posix) > 1 and posix[1] == ":")
        or ".." in path.parts
        or any(PurePath(part).parts != (part,) for part in path.parts)
    ):
        raise _refused(
            archive, name, "would be written outside the destination folder (absolute path or '..')"
        )
    return path


def _check_paths(archive: Path, entries: list[_Entry]) -> None:
    """Refuses files naming the destination itself, and members sharing a path."""
    kinds: dict[tuple[str, ...], tuple[bool, str]] = {}  # parts -> (is_dir, first member name)
    for entry in entries:
        parts = entry.path.parts
        if not parts and not entry.is_dir:  # "" or "./": only a folder may be the root itself
            raise _refused(archive, entry.name, "has an empty name (it names the destination)")
        for i in range(1, len(parts)):  # its parents are folders
            is_dir, other = kinds.setdefault(parts[:i], (True, entry.name))
            if not is_dir:
                raise _refused(
                    archive,
                    entry.name,
                    f"needs {'/'.join(parts[:i])!r}, the file {other!r}, to be a folder",
                )
        if parts in kinds:
            other_is_dir, other = kinds[parts]
            if not entry.is_dir and not other_is_dir:
                raise _refused(archive, entry.name, f"is given twice (as {other!r} before)")
            if entry.is_dir != other_is_dir:
                raise _refused(
                    archive, entry.name, f"is both a file and a folder (see the member {other!r})"
                )
        kinds[parts] = (entry.is_dir, entry.name)


def _tar_entries(archive: Path, tar: tarfile.TarFile) -> list[_Entry]:
    entries = []
    for member in tar.getmembers():
        path = _member_path(archive, member.name)
        if member.issym() or member.islnk():
            kind = "symbolic link" if member.issym() else "hard link"
            raise _refused(
                archive,
                member.name,
                f"is a {kind} (to {_short(member.linkname)}); data set archives "
                "may hold only files and folders",
            )
        if not (member.isfile() or member.isdir()):
            raise _refused(archive, member.name, "is a device, FIFO or other special file")

        def open_member(member: tarfile.TarInfo = member) -> IO[bytes]:
            src = tar.extractfile(member)
            if src is None:
                raise tarfile.ReadError(f"member {member.name!r} has no content")
            return src

        size = member.size if member.isfile() else 0
        entries.append(_Entry(member.name, path, member.isdir(), size, open_member))
    _check_paths(archive, entries)
    return entries


def _zip_entries(archive: Path, zf: zipfile.ZipFile) -> list[_Entry]:
    entries = []
    for info in zf.infolist():
        path = _member_path(archive, info.filename)
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the writer set no type bits
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            raise _refused(
                archive,
                info.filename,
                "is a link or special file; data set archives may hold only files and folders",
            )
        is_dir = info.is_dir() or kind == stat.S_IFDIR

        def open_member(info: zipfile.ZipInfo = info) -> IO[bytes]:
            try:
                return zf.open(info)
            except (RuntimeError, NotImplementedError) as err:  # encrypted, unknown method
                raise zipfile.BadZipFile(f"member {info.filename!r}: {err}") from err

        entries.append(
            _Entry(info.filename, path, is_dir, 0 if is_dir else info.file_size, open_member)
        )
    _check_paths(archive, entries)
    return entries


def check_tar_members(archive: Path, tar: tarfile.TarFile) -> int:
    """Check every member of a tar archive before anything is written.

    Args:
        archive: The archive's path, for messages.
        tar: The open archive.

    Returns:
        The unpacked size the members declare, in bytes.

    Raises:
        UnsafeArchiveError: for the first member that is not a plain file or folder, has an
            unsafe name or the path of another member.

    Examples:
        >>> import io, tarfile
        >>> buf = io.BytesIO()
        >>> with tarfile.open(fileobj=buf, mode="w") as tar:
        ...     info = tarfile.TarInfo("pets/cat.png"); info.size = 3
        ...     tar.addfile(info, io.BytesIO(b"png"))
        ...     link = tarfile.TarInfo("pets/dog.png"); link.type = tarfile.SYMTYPE
        ...     link.linkname = "cat.png"; tar.addfile(link)
        >>> check_tar_members(Path("pets.tar"), tarfile.open(fileobj=io.BytesIO(buf.getvalue())))
        Traceback (most recent call last):
        ...
        resvision.data.archives.UnsafeArchiveError: pets.tar: member 'pets/dog.png' is a symbolic link (to 'cat.png'); data set archives may hold only files and folders; the archive is refused
    """
    return sum(entry.size for entry in _tar_entries(archive, tar))


def check_zip_members(archive: Path, zf: zipfile.ZipFile) -> int:
    """Check every member of a zip archive before anything is written.

    Args:
        archive: The archive's path, for messages.
        zf: The open archive.

    Returns:
        The unpacked size the members declare, in bytes.

    Raises:
        UnsafeArchiveError: see :func:`check_tar_members`.

    Examples:
        >>> import io, zipfile
        >>> buf = io.BytesIO()
        >>> with zipfile.ZipFile(buf, "w") as zf:
        ...     zf.writestr("pets/cat.png", b"png"); zf.writestr("pets/cat.png/x", b"png")
        >>> check_zip_members(Path("pets.zip"), zipfile.ZipFile(buf))
        Traceback (most recent call last):
        ...
        resvision.data.archives.UnsafeArchiveError: pets.zip: member 'pets/cat.png/x' needs 'pets/cat.png', the file 'pets/cat.png', to be a folder; the archive is refused
    """
    return sum(entry.size for entry in _zip_entries(archive, zf))


class _Budget:
    """The unpacked-size limits of one archive, and the bytes written so far into ``dest``."""

    def __init__(
        self, archive: Path, dest: Path, archive_size: int, ratio: float, max_bytes: int
    ) -> None:
        self.archive, self.dest, self.archive_size = archive, dest, archive_size
        self.ratio, self.max_bytes = ratio, max_bytes
        self.written = 0

    def check(self, amount: int, what: str) -> None:
        by_ratio = self.ratio * max(self.archive_size, 1)
        if amount > by_ratio and by_ratio <= self.max_bytes:
            raise ArchiveTooLargeError(
                f"{self.archive} {what} {amount:,} bytes, more than {self.ratio:g} times its own "
                f"size ({self.archive_size:,} bytes): refused as a likely decompression bomb; if "
                f"it is genuine, set {RATIO_VARIABLE} to a larger ratio (now {self.ratio:g})"
            )
        if amount > self.max_bytes:
            raise ArchiveTooLargeError(
                f"{self.archive} {what} {amount:,} bytes, more than the limit of "
                f"{self.max_bytes:,} bytes; if it is genuine, set {BYTES_VARIABLE} to a larger "
                "number of bytes"
            )

    def take(self, n: int) -> None:
        """Called before writing ``n`` more bytes: stops as soon as a limit would be passed."""
        self.check(self.written + n, "unpacks to at least")  # more than its members declare


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` (``os.write`` may write only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@contextlib.contextmanager
def _writing(archive: Path, target: Path, budget: _Budget, member: bool = True) -> Iterator[None]:
    """Turns an ``OSError`` while writing into a message about the disk, not the archive;
    with ``member``, an existing ``target`` is a clash between members."""
    try:
        yield
    except OSError as err:
        if err.errno in _SPACE_ERRNOS:
            raise ArchiveSpaceError(
                f"the disk is full while unpacking {archive} into {budget.dest} "
                f"({budget.written:,} bytes written); free some space, or set RESVISION_CACHE to "
                "a folder on a larger disk"
            ) from err
        # The checks made member paths unique, but "Cat" and "cat" are one on some disks.
        if member and isinstance(err, FileExistsError):
            raise UnsafeArchiveError(
                f"{archive}: {target} clashes with a path unpacked before (on this file system "
                "the two names are the same); the archive is refused"
            ) from err
        raise ValueError(f"{archive}: could not write {target} while unpacking ({err})") from err


def _unpack(archive: Path, entries: list[_Entry], root: Path, budget: _Budget) -> None:
    """Write ``entries`` under the existing empty folder ``root``, in archive order (a
    compressed tar reads forwards only)."""
    made: set[PurePosixPath] = {PurePosixPath()}
    for entry in entries:
        folders = (
            [*reversed(entry.path.parents), entry.path] if entry.is_dir else entry.path.parents
        )
        for folder in sorted(set(folders) - made, key=lambda p: len(p.parts)):
            target = root.joinpath(*folder.parts)
            with _writing(archive, target, budget):
                os.mkdir(target, 0o755)  # a new folder: the checks made paths unique
            made.add(folder)
        if entry.is_dir:
            continue
        target = root.joinpath(*entry.path.parts)
        with entry.open() as src:
            with _writing(archive, target, budget):
                fd = os.open(target, _OPEN_FLAGS, 0o644)
            try:
                while chunk := src.read(_CHUNK):
                    budget.take(len(chunk))
                    with _writing(archive, target, budget):
                        _write_all(fd, chunk)
                    budget.written += len(chunk)
            finally:
                with _writing(archive, target, budget):
                    os.close(fd)


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Unpack ``archive`` into the new folder ``dest``, refusing unsafe archives.

    Args:
        archive: A tar (optionally gzip / bzip2 / xz compressed) or zip file.
        dest: The folder to create (its parent must exist); it must not exist yet.

    Returns:
        ``dest``.

    Raises:
        UnsafeArchiveError: a link, special file, unsafe name or duplicate path (nothing is
            written).
        ArchiveTooLargeError: over the limits of :func:`unpack_limits` (by the declared sizes,
            before writing, or while writing).
        ArchiveSpaceError: not enough free space for the declared sizes, or the disk became full.
        ValueError: the file is not a readable archive, ``dest`` exists, a limit variable is
            invalid, or the unpacked files could not be written.

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
        >>> with tarfile.open(d / "b.tar", "w") as tar:
        ...     info = tarfile.TarInfo("pets/train/cat/0.png"); info.size = 3
        ...     tar.addfile(info, io.BytesIO(b"png"))
        >>> (extract_archive(d / "b.tar", d / "out") / "pets/train/cat/0.png").read_bytes()
        b'png'
    """
    archive, dest = Path(archive), Path(dest)
    ratio, max_bytes = unpack_limits()
    if dest.exists():
        raise ValueError(f"{dest} exists already; extract_archive creates its destination")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        budget = _Budget(archive, dest, archive.stat().st_size, ratio, max_bytes)
        with contextlib.ExitStack() as stack:
            if zipfile.is_zipfile(archive):
                zf = stack.enter_context(zipfile.ZipFile(archive))
                entries = _zip_entries(archive, zf)
            else:
                tar = stack.enter_context(tarfile.open(archive, mode="r:*"))
                entries = _tar_entries(archive, tar)
            declared = sum(entry.size for entry in entries)
            budget.check(declared, "would unpack to")
            with contextlib.suppress(OSError):  # no answer: the writes still report a full disk
                free = shutil.disk_usage(tmp.parent).free
                if declared > free:
                    raise ArchiveSpaceError(
                        f"not enough disk space to unpack {archive}: it unpacks to {declared:,} "
                        f"bytes and {tmp.parent} has {free:,} bytes free; free some space, or set "
                        "RESVISION_CACHE to a folder on a larger disk"
                    )
            with _writing(archive, tmp, budget, member=False):
                os.mkdir(tmp, 0o755)
            _unpack(archive, entries, tmp, budget)
        with _writing(archive, dest, budget, member=False):
            os.replace(tmp, dest)
    except _READ_ERRORS as err:  # those from writing were turned into ValueErrors above
        raise ValueError(f"{archive} is not a readable archive ({err})") from err
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
    return dest


def extracted_folder(archive: str | os.PathLike) -> Path:
    """The folder a data set archive unpacks to, in the cache (unpacked once, reused).

    The cache entry is keyed by the archive's path, size and modification time. When the
    archive holds one top-level folder only (``pets/train/...``), that folder is returned.

    Args:
        archive: The archive (see :func:`extract_archive`).

    Returns:
        The unpacked folder, or its single top-level folder.

    Raises:
        UnsafeArchiveError, ArchiveTooLargeError, ArchiveSpaceError, ValueError: see
            :func:`extract_archive`; nothing is left in the cache then.
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
