"""Atomic, durable file writes: the one way resvision puts a finished file on disk.

A crash, a full disk or Ctrl-C while writing never leaves a partial file where a good one was:
the data goes to a temporary file in the same folder (same file system, so the rename is
atomic), which is flushed, fsynced and renamed over the destination with ``os.replace``; the
folder is then fsynced so the rename itself survives a power cut. On any error the temporary
file is removed and the destination is untouched.

Temporary files are named ``.<name>.<random><suffix>`` (hidden, beside the destination), so a
reader listing a folder can skip them. Files get the permissions the umask gives (not the
0600 of ``tempfile.mkstemp``): a run folder's files are ordinary files.

Checkpoints (``resvision.engine.checkpoint``) add disk-full diagnostics on top of the same
steps and use :func:`fsync_dir` from here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_path", "atomic_write", "atomic_write_bytes", "atomic_write_text", "fsync_dir"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_beside(path: Path, suffix: str) -> tuple[int, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.chmod(name, 0o666 & ~_umask())
    return fd, Path(name)


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    if os.name != "posix":  # directories cannot be opened for fsync on Windows
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """Open a binary file that appears at ``path`` whole, or not at all.

    Args:
        path: the destination; missing parent folders are created.
        suffix: the temporary file's suffix.

    Yields:
        A binary file open for writing. When the ``with`` block ends without an exception the
        file is flushed, fsynced and renamed over ``path``; otherwise it is deleted.

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     with atomic_write(Path(d) / "a.bin") as f:
        ...         _ = f.write(b"whole")
        ...     (Path(d) / "a.bin").read_bytes()
        b'whole'
    """
    dest = Path(path)
    fd, tmp = _temp_beside(dest, suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(dest.parent)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path for writers that need a file name (an exporter, a library's ``save``).

    The caller writes the file at the yielded path (and may check it there); when the ``with``
    block ends without an exception it is fsynced and renamed over ``path``, otherwise deleted.

    Args:
        path: the destination; missing parent folders are created.
        suffix: the temporary file's suffix (some writers pick the format from it).

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     with atomic_path(Path(d) / "m.txt", suffix=".txt") as tmp:
        ...         _ = tmp.write_text("checked before it is kept")
        ...     (Path(d) / "m.txt").read_text()
        'checked before it is kept'
    """
    dest = Path(path)
    fd, tmp = _temp_beside(dest, suffix)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(dest.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write_bytes(path, text.encode("utf-8"))
