"""Reading the members of a tar archive by name, without unpacking it into files.

The official Flowers-102 images come as one ``.tgz`` and PASCAL VOC as one ``.tar``; Paddle
unpacks the first beside the archive and keeps the second open as a ``tarfile``. Here an archive
is indexed once, and each item then costs one ``seek`` and one ``read``:

- an **uncompressed** tar is read in place: the index holds each member's data offset in the
  archive itself (the index is cached, keyed by the archive's path, size and time);
- a **compressed** tar (gzip, bzip2, xz) cannot be read at an offset, so the selected members'
  bytes are copied once, in one pass, into one file in the cache
  (``<cache>/decoded/<name>-<key>.bin``) beside its index. The copy is bounded like an unpacked
  archive (:func:`resvision.data.archives.unpack_limits`: ``RESVISION_MAX_UNPACK_RATIO`` times
  the archive's size, at most ``RESVISION_MAX_UNPACK_BYTES``); where the cache cannot be
  written, the bytes are held in memory instead.

Only regular-file members are indexed (links, folders and special members are not data); a name
given twice resolves to its last copy, as ``tarfile.getmember`` does. Names are indexed without a
leading ``./``. A :class:`TarMembers` holds no open file, so it can be pickled into
``DataLoader`` workers.
"""

from __future__ import annotations

import contextlib
import io
import lzma
import os
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from resvision.atomic import atomic_write
from resvision.data.archives import ArchiveTooLargeError, unpack_limits
from resvision.data.cache import cache_dir, cached_arrays, fingerprint, load_arrays, save_arrays

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
_READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)
_CHUNK = 1 << 20


class _CacheWriteError(Exception):
    """Writing the copy of the members failed (a full or read-only cache)."""


def _compression_of(path: str | os.PathLike) -> str | None:
    """``'gzip'``, ``'bzip2'`` or ``'xz'`` from the file's first bytes; None for a plain file."""
    with open(path, "rb") as f:
        head = f.read(6)
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def _clean(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


@dataclass
class TarMembers:
    """Selected regular-file members of a tar archive, read by name (see :func:`index_tar`).

    Attributes:
        source: the archive.
        backing: the file the offsets point into: the archive itself (uncompressed) or the copy
            in the cache; None when the bytes are held in memory.
        names: the member names, in archive order (later duplicates replace earlier ones).
        offsets, sizes: where each member's bytes are in ``backing``.
    """

    source: str
    backing: str | None
    names: list[str]
    offsets: np.ndarray
    sizes: np.ndarray
    memory: bytes | None = field(default=None, repr=False)
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {name: i for i, name in enumerate(self.names)}

    def __contains__(self, name: object) -> bool:
        return name in self.index

    def __len__(self) -> int:
        return len(self.index)

    def read(self, name: str) -> bytes:
        """The bytes of member ``name``.

        Raises:
            KeyError: no such regular-file member (the message names the archive).
            ValueError: the bytes cannot be read whole (the archive changed or was truncated
                after it was indexed).
        """
        i = self.index.get(name)
        if i is None:
            raise KeyError(f"{self.source} has no file member {name!r}")
        start, size = int(self.offsets[i]), int(self.sizes[i])
        if self.memory is not None:
            return self.memory[start : start + size]
        with open(self.backing, "rb") as f:  # type: ignore[arg-type]
            f.seek(start)
            data = f.read(size)
        if len(data) != size:
            raise ValueError(
                f"{self.source}: member {name!r} is cut short ({len(data)} of {size} bytes); "
                "the archive changed or was truncated since it was indexed"
            )
        return data


def _index_in_place(path: Path, select: Callable[[str], bool]) -> dict[str, np.ndarray]:
    names, offsets, sizes = [], [], []
    try:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                name = _clean(member.name)
                if member.isfile() and not member.issparse() and select(name):
                    names.append(name)
                    offsets.append(member.offset_data)
                    sizes.append(member.size)
    except _READ_ERRORS as exc:
        raise ValueError(f"{path} is not a readable tar archive ({exc})") from exc
    end = max((o + s for o, s in zip(offsets, sizes)), default=0)
    size = path.stat().st_size
    if end > size:
        raise ValueError(f"{path} is truncated: its members need {end} bytes, the file has {size}")
    return {
        "names": np.array(names, dtype=str),
        "offsets": np.array(offsets, dtype=np.int64),
        "sizes": np.array(sizes, dtype=np.int64),
    }


def _copy_members(path: Path, select: Callable[[str], bool], out) -> dict[str, np.ndarray]:
    """Stream the compressed archive once, writing the selected members' bytes to ``out``."""
    ratio, max_bytes = unpack_limits()
    limit = min(float(max_bytes), ratio * path.stat().st_size)
    names, offsets, sizes = [], [], []
    total = 0
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                name = _clean(member.name)
                if not (member.isfile() and select(name)):
                    continue
                if total + member.size > limit:
                    raise ArchiveTooLargeError(
                        f"{path}: the selected members exceed {int(limit)} bytes at {name!r} "
                        f"(RESVISION_MAX_UNPACK_RATIO={ratio:g} times the archive's size, at most "
                        f"RESVISION_MAX_UNPACK_BYTES={max_bytes}); raise the limits if the "
                        "archive is trusted"
                    )
                source = tar.extractfile(member)
                while block := source.read(_CHUNK):  # type: ignore[union-attr]
                    try:
                        out.write(block)
                    except OSError as exc:  # the cache, not the archive
                        raise _CacheWriteError(exc) from exc
                names.append(name)
                offsets.append(total)
                sizes.append(member.size)
                total += member.size
    except ArchiveTooLargeError:
        raise
    except _READ_ERRORS as exc:
        raise ValueError(f"{path} is not a readable compressed tar archive ({exc})") from exc
    return {
        "names": np.array(names, dtype=str),
        "offsets": np.array(offsets, dtype=np.int64),
        "sizes": np.array(sizes, dtype=np.int64),
        "end": np.array([total], dtype=np.int64),  # 1-D: save_arrays stores 0-d as 1-D
    }


def _members(source: Path, backing: str | None, arrays: dict, memory: bytes | None = None):
    names = [str(n) for n in arrays["names"]]
    return TarMembers(str(source), backing, names, arrays["offsets"], arrays["sizes"], memory)


def index_tar(
    path: str | os.PathLike, select: Callable[[str], bool], *, cache_name: str
) -> TarMembers:
    """Index the regular-file members of a tar archive whose names ``select`` accepts.

    Args:
        path: a ``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2`` or ``.tar.xz`` archive.
        select: ``select(name) -> bool`` on each member's name (without a leading ``./``).
        cache_name: names the cache entries; it must change when ``select`` does (the cache
            is keyed by the archive and this name, not by the function).

    Returns:
        A :class:`TarMembers`.

    Raises:
        ValueError: the file is not a readable tar archive, or is truncated.
        resvision.data.archives.ArchiveTooLargeError: a compressed archive's selected members
            exceed the unpacking limits.

    Examples:
        >>> import io, os, tarfile, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "a.tar.gz")
        >>> with tarfile.open(path, "w:gz") as tar:
        ...     for name in ("jpg/b.jpg", "jpg/a.jpg", "notes.txt"):
        ...         info = tarfile.TarInfo(name)
        ...         info.size = len(name)
        ...         tar.addfile(info, io.BytesIO(name.encode()))
        >>> members = index_tar(path, lambda n: n.endswith(".jpg"), cache_name="doctest-jpg")
        >>> members.names, members.read("jpg/a.jpg"), "notes.txt" in members
        (['jpg/b.jpg', 'jpg/a.jpg'], b'jpg/a.jpg', False)
    """
    path = Path(path)
    key = fingerprint([path], extra=f"tar-members:{cache_name}")
    if _compression_of(path) is None:
        arrays = cached_arrays(f"{cache_name}-index", key, lambda: _index_in_place(path, select))
        return _members(path, str(path), arrays)
    try:
        folder = cache_dir("decoded")
    except OSError:
        folder = None
    if folder is not None:
        index_path, blob = folder / f"{cache_name}-{key}.npz", folder / f"{cache_name}-{key}.bin"
        arrays = load_arrays(index_path) if index_path.exists() else None
        with contextlib.suppress(OSError):
            if arrays is not None and blob.stat().st_size == int(arrays["end"][0]):
                return _members(path, str(blob), arrays)
        try:
            with atomic_write(blob) as out:
                arrays = _copy_members(path, select, out)
        except (OSError, _CacheWriteError):
            pass  # no room or no right to write the copy: keep it in memory below
        else:
            with contextlib.suppress(OSError):  # written after the copy: an index implies it
                save_arrays(index_path, **arrays)
            return _members(path, str(blob), arrays)
    # No writable cache (read-only, full): the selected bytes in memory.
    buf = io.BytesIO()
    arrays = _copy_members(path, select, buf)
    return _members(path, None, arrays, memory=buf.getvalue())
