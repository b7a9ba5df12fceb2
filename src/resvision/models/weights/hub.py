"""Downloading weights once into a cache, with a hash check, and finding them offline.

Where files go: ``$RESVISION_CACHE/weights/`` (default ``~/.cache/resvision/weights/``), named as
the last part of their URL. A file already there is checked and used without the network.

Offline machines: set ``RESVISION_WEIGHTS_MIRROR`` to a folder holding the files under their
published names (copied there by hand), or to a base URL of an internal server; the mirror is
tried before the original URL. The cache folder itself works the same way: a file copied to
``<cache>/weights/<name>`` is found, checked and used.

``RESVISION_OFFLINE=1`` forbids network access: only the cache and a mirror folder are used.

Checks: a SHA-256 (full digest or published prefix) or an MD5 (Paddle's). A download that fails
the check is deleted and the error says so; so is a cached file that no longer matches.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from resvision.atomic import atomic_write

__all__ = [
    "WeightsDownloadError",
    "WeightsHashMismatchError",
    "download_weights",
    "file_digest",
    "weights_cache_dir",
]

DOWNLOAD_TIMEOUT_S = 30.0
CACHE_ENV = "RESVISION_CACHE"
MIRROR_ENV = "RESVISION_WEIGHTS_MIRROR"
OFFLINE_ENV = "RESVISION_OFFLINE"


class WeightsDownloadError(OSError):
    """Weights could not be downloaded; the message says where to put the file by hand."""


class WeightsHashMismatchError(ValueError):
    """A downloaded or cached weights file does not have the expected hash (it was deleted)."""


def weights_cache_dir() -> Path:
    """The folder downloaded weights are kept in: ``$RESVISION_CACHE/weights``.

    Examples:
        >>> weights_cache_dir().name
        'weights'
    """
    root = os.environ.get(CACHE_ENV) or os.path.join(Path.home(), ".cache", "resvision")
    return Path(root).expanduser() / "weights"


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks.

    Examples:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile() as f:
        ...     file_digest(f.name)[:12]
        'e3b0c44298fc'
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected(sha256: str | None, md5: str | None) -> tuple[str, str] | None:
    if sha256:
        return "sha256", sha256.lower()
    if md5:
        return "md5", md5.lower()
    return None


def _matches(actual: str, expected: str) -> bool:
    # A published prefix (torchvision's file names) is compared as a prefix.
    return actual.startswith(expected)


def _describe(check: tuple[str, str] | None) -> str:
    if check is None:
        return "no hash given"
    algorithm, value = check
    kind = "prefix " if algorithm == "sha256" and len(value) < 64 else ""
    return f"{algorithm.upper()} {kind}{value}"


def _mirror_sources(filename: str) -> list[str]:
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return []
    if "://" in mirror:
        return [mirror.rstrip("/") + "/" + filename]
    return [str(Path(mirror).expanduser() / filename)]


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _fetch(source: str, dest: Path, check: tuple[str, str] | None, progress: bool) -> None:
    """Copy or download ``source`` to ``dest`` atomically, hashing on the way.

    Raises:
        WeightsHashMismatchError: the data has another hash (nothing is left at ``dest``).
        OSError / urllib.error.URLError: the source cannot be read.
    """
    digest = hashlib.new(check[0]) if check else None
    with atomic_write(dest, suffix=".part") as out:
        if "://" in source:
            response = urllib.request.urlopen(source, timeout=DOWNLOAD_TIMEOUT_S)
        else:
            response = open(source, "rb")  # noqa: SIM115 (closed by the with below)
        with response:
            total = getattr(response, "length", None)
            done = 0
            for block in iter(lambda: response.read(1 << 20), b""):
                if digest is not None:
                    digest.update(block)
                out.write(block)
                done += len(block)
                if progress and total:
                    print(f"\r{dest.name}: {100 * done // total}%", end="", file=sys.stderr)
        if progress and total:
            print(file=sys.stderr)
        if digest is not None and check is not None and not _matches(digest.hexdigest(), check[1]):
            raise WeightsHashMismatchError(
                f"{source} has {check[0].upper()} {digest.hexdigest()}, expected "
                f"{_describe(check)}; the downloaded file was deleted (a damaged transfer, or the "
                "file was replaced at its source)"
            )


def download_weights(
    url: str,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    filename: str | None = None,
    progress: bool = False,
) -> Path:
    """Return a checked local copy of ``url``, downloading it into the cache if needed.

    Order: a checked file in the cache; a file in the ``RESVISION_WEIGHTS_MIRROR`` folder (used
    in place) or server; the URL itself. With ``RESVISION_OFFLINE=1`` nothing is downloaded.

    Args:
        url: the published location (``https://``, ``http://`` or ``file://``).
        sha256: expected SHA-256, the full digest or a prefix of at least 8 hex digits.
        md5: expected MD5 (used when ``sha256`` is None).
        filename: name in the cache (default: the last part of the URL).
        progress: print the percentage downloaded to stderr.

    Returns:
        The path of the checked file.

    Raises:
        WeightsHashMismatchError: the downloaded file has another hash; it was deleted.
        WeightsDownloadError: no source could be read (offline, refused, 404, ...): the message
            names the URL, the expected hash and where to put the file by hand.

    Examples:
        >>> import tempfile, pathlib
        >>> saved = os.environ.get('RESVISION_CACHE')
        >>> with tempfile.TemporaryDirectory() as d:
        ...     src = pathlib.Path(d, 'net-2c26b46b.pt'); _ = src.write_bytes(b'foo')
        ...     os.environ['RESVISION_CACHE'] = d
        ...     path = download_weights(src.as_uri(), sha256='2c26b46b')
        ...     path.parent.name, path.read_bytes()
        ('weights', b'foo')
        >>> _ = os.environ.pop('RESVISION_CACHE') if saved is None else os.environ.update(
        ...     RESVISION_CACHE=saved)
    """
    check = _expected(sha256, md5)
    name = filename or url.rstrip("/").rsplit("/", 1)[-1]
    if not name or name in (".", ".."):
        raise ValueError(f"cannot name a cache file after the URL {url!r}; pass filename=")
    target = weights_cache_dir() / name
    problems: list[str] = []
    if target.is_file():
        if check is None or _matches(file_digest(target, check[0]), check[1]):
            return target
        target.unlink()
        problems.append(
            f"the cached {target} did not match the expected {_describe(check)} and was deleted"
        )
    for source in _mirror_sources(name):
        if "://" not in source:
            if not Path(source).is_file():
                problems.append(f"mirror folder: no {source}")
                continue
            if check is None or _matches(file_digest(source, check[0]), check[1]):
                return Path(source)
            problems.append(f"mirror file {source} does not match {_describe(check)} (kept as is)")
            continue
        if _offline():
            problems.append(f"mirror {source}: not tried, {OFFLINE_ENV} is set")
            continue
        try:
            _fetch(source, target, check, progress)
            return target
        except (OSError, urllib.error.URLError) as err:
            problems.append(f"mirror {source}: {getattr(err, 'reason', None) or err}")
    source = url[len("file://") :] if url.startswith("file://") else url
    if _offline() and "://" in source:
        problems.append(f"not downloaded, {OFFLINE_ENV} is set")
    else:
        try:
            _fetch(source, target, check, progress)
            return target
        except (OSError, urllib.error.URLError) as err:
            problems.append(f"{url}: {getattr(err, 'reason', None) or err}")
    raise WeightsDownloadError(
        f"could not get the weights file {name} ({_describe(check)}): "
        + "; ".join(problems)
        + f". Download it on a machine with internet access from {url} and copy it to {target} "
        f"(or set {CACHE_ENV} to the folder above 'weights/', or {MIRROR_ENV} to a folder or "
        f"server holding {name}); it is checked against the {_describe(check)} when used"
    )
