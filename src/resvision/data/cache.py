"""The on-disk cache: downloads and decoded ``uint8`` arrays, written atomically.

Location: ``$RESVISION_CACHE`` if set, else ``~/.cache/resvision``. Decoded data sets live in
``<cache>/decoded/<name>-<key>.npz``, where ``key`` hashes what the data was decoded from (file
paths, sizes and modification times, plus a format version), so a changed source gets a new
entry and the stale one is never read.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from resvision.atomic import atomic_write

CACHE_FORMAT_VERSION = 1


def cache_dir(*parts: str) -> Path:
    """Return (and create) ``<cache root>/<parts...>``.

    Examples:
        >>> cache_dir("decoded").name
        'decoded'
    """
    root = os.environ.get("RESVISION_CACHE") or os.path.join(Path.home(), ".cache", "resvision")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def fingerprint(items: Iterable[str | os.PathLike | bytes], extra: str = "") -> str:
    """Hash files (by absolute path, size and mtime) and literal bytes into a short hex key.

    Examples:
        >>> len(fingerprint([b"abc"], extra="v1"))
        16
    """
    digest = hashlib.sha256(f"v{CACHE_FORMAT_VERSION}:{extra}".encode())
    for item in items:
        if isinstance(item, bytes):
            digest.update(b"B" + item)
            continue
        path = Path(item).resolve()
        st = path.stat()
        digest.update(f"F{path}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:16]


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Save arrays as an uncompressed ``.npz``, atomically."""

    with (
        atomic_write(path) as f,
        zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf,
    ):
        for key, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(value), allow_pickle=False)
            zf.writestr(f"{key}.npy", buf.getvalue())


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """Load an ``.npz`` written by :func:`save_arrays`; None if it is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None


def cached_arrays(name: str, key: str, build) -> dict[str, np.ndarray]:
    """Return ``build()``'s arrays, from ``<cache>/decoded/<name>-<key>.npz`` when present.

    ``build`` is called (and its result stored) on a miss or an unreadable entry. A cache that
    cannot be written (read-only home, full disk) is not an error: the arrays are returned.
    """
    try:
        path = cache_dir("decoded") / f"{name}-{key}.npz"
    except OSError:  # no writable cache folder: decode every time
        return build()
    arrays = load_arrays(path) if path.exists() else None
    if arrays is not None:
        return arrays
    arrays = build()
    with contextlib.suppress(OSError):  # an unwritable cache only costs a decode next time
        save_arrays(path, **arrays)
    return arrays
