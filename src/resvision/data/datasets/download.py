"""Finding, downloading and checking the official data files.

A file named ``filename`` is looked for in ``<cache>/datasets/<folder>/``; when it is missing or
fails its MD5 check and ``download`` is true, it is fetched from each URL in turn into a
temporary file beside its final place, checked, and moved into place atomically. A file that
passed the check is remembered (by size and modification time) so that the 170 MB of CIFAR are
not hashed on every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from resvision.atomic import atomic_write, atomic_write_bytes
from resvision.data.cache import cache_dir

DOWNLOAD_TIMEOUT_S = 60.0


class DatasetNotFoundError(FileNotFoundError):
    """A data file is missing or damaged and could not be downloaded (the message says what
    file is expected where, and how to get it)."""


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def check_md5(path: Path, md5: str) -> bool:
    """Whether ``path`` has MD5 ``md5`` (remembered in ``<path>.md5.json`` once verified)."""
    memo = path.with_name(path.name + ".md5.json")
    try:
        if json.loads(memo.read_text()) == {"md5": md5, "stamp": _stamp(path)}:
            return True
    except (OSError, ValueError):
        pass
    if md5_of(path) != md5:
        return False
    with contextlib.suppress(OSError):
        atomic_write_bytes(memo, json.dumps({"md5": md5, "stamp": _stamp(path)}).encode())
    return True


def _fetch(url: str, dest: Path, md5: str) -> None:
    """Download ``url`` to ``dest`` atomically; raise ValueError on an MD5 mismatch."""
    digest = hashlib.md5(usedforsecurity=False)

    with (
        atomic_write(dest) as f,
        urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
    ):
        for block in iter(lambda: response.read(1 << 20), b""):
            digest.update(block)
            f.write(block)
        if digest.hexdigest() != md5:
            raise ValueError(f"MD5 {digest.hexdigest()} of {url} is not the expected {md5}")


def fetch_data_file(
    filename: str,
    folder: str,
    urls: Sequence[str],
    md5: str,
    *,
    download: bool,
    what: str,
    hint: str = "",
) -> Path:
    """Return the path of a verified official data file, downloading it if allowed.

    Args:
        filename: the official file name, e.g. ``'cifar-10-python.tar.gz'``.
        folder: its folder under ``<cache>/datasets``.
        urls: where to download it from, tried in order.
        md5: its official MD5.
        download: whether downloading is allowed.
        what: the dataset's name for messages, e.g. ``'Cifar10'``.
        hint: a sentence added to the error message (an alternative to the download).

    Returns:
        The path of the file, whose MD5 matched.

    Raises:
        DatasetNotFoundError: the file is missing or damaged and downloading is disabled or
            failed; the message names the expected file, its location and how to get it.
    """
    target = cache_dir("datasets", folder) / filename
    problem = "it is missing"
    if target.exists():
        if check_md5(target, md5):
            return target
        problem = f"it fails the MD5 check (expected {md5})"
    errors: list[str] = []
    if download:
        for url in urls:
            try:
                _fetch(url, target, md5)
                check_md5(target, md5)  # remember the verified file
                return target
            except (OSError, ValueError, urllib.error.URLError) as exc:
                errors.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
    tried = (
        "; download failed: " + "; ".join(errors)
        if errors
        else "; downloading is disabled (download=False)"
    )
    raise DatasetNotFoundError(
        f"{what} needs the official file {filename} (MD5 {md5}) at {target}, but {problem}"
        f"{tried}. Download it on a machine with internet access from {urls[0]} and copy it "
        f"there (or set RESVISION_CACHE to the folder above 'datasets/{folder}'), or pass its "
        "path as data_file" + (f". {hint}." if hint else ".")
    )


def resolve_user_file(path: str | os.PathLike, what: str, expected: str) -> Path:
    """Check that a user-given data file exists; raise DatasetNotFoundError naming it."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DatasetNotFoundError(f"{what}: {expected} {str(p)!r} does not exist or is not a file")
    return p
