"""``DatasetFolder`` (one sub-folder per class) and ``ImageFolder`` (unlabeled images), with the
meanings Paddle gives them.

``DatasetFolder`` (torchvision's ``ImageFolder`` layout), items ``(image, label)``::

    root/cat/001.jpg
    root/cat/kitten/002.png
    root/dog/003.jpg

``ImageFolder`` (Paddle's, without labels), items ``[image]``::

    root/001.jpg
    root/more/002.png

In ``DatasetFolder``, ``classes`` are the sub-folder names in sorted order (hidden ones,
starting with ``.``, are ignored), or the list given as ``classes=`` (a train/ and val/ split
sharing one list: labels are indices in it), ``class_to_idx`` maps them to labels, ``samples``
lists ``(path, label)`` in sorted order; ``ImageFolder``'s ``samples`` lists the paths.

Both walk their folders with :func:`resvision.data.walk.walk_files`: symbolic
links are followed, each real folder once (a link loop does not repeat the data), only regular
files are kept (a FIFO or a device is never opened), by extension (or by ``is_valid_file``).
What is not kept is listed in ``left_out`` with its reason; special files, broken links and
unreadable or repeated folders also give one warning.

Bad data (the default loader): at construction the files are checked (``check='header'``: empty,
non-image, unreadable header or too many pixels; ``'full'`` also decodes every file, catching
truncated data; ``'none'`` skips the check). The result of a check is cached, keyed by the
files' names, sizes and times. With ``on_error='raise'`` (default) a bad file or an empty class
folder is a ``ValueError`` naming it; with ``on_error='skip'`` they are left out with one warning
that counts and lists them (also in ``skipped``). Images are converted to RGB as described in
:mod:`resvision.data.images`.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from resvision.atomic import atomic_write_bytes
from resvision.data.backend import check_backend
from resvision.data.cache import cache_dir, cached_arrays, fingerprint
from resvision.data.datasets.base import check_transform, finish_image, finish_item
from resvision.data.images import (
    ImageDecodeError,
    decode_rgb,
    max_image_pixels,
    open_image,
    oriented_size,
)
from resvision.data.walk import IMG_EXTENSIONS, scan_class_folders, walk_files

CHECKS = ("none", "header", "full")


def fast_cache_budget() -> int:
    """Bytes a decoded folder may take in memory for the fast path (``RESVISION_FAST_MAX_BYTES``,
    default a quarter of the RAM, at most 8 GiB)."""
    value = os.environ.get("RESVISION_FAST_MAX_BYTES")
    if value is not None:
        return int(value)
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 8 << 30
    return min(ram // 4, 8 << 30)


def _check_file(path: str, full: bool, limit: int) -> tuple[str | None, tuple[int, int] | None]:
    """``(problem or None, (h, w) or None)`` for one image file."""
    try:
        if os.path.getsize(path) == 0:
            return "the file is empty (0 bytes)", None
        if full:
            img = open_image(path, max_pixels=limit)
            return None, (img.height, img.width)
        with Image.open(path) as img:
            w, h = oriented_size(img)
        if w * h > limit:
            return f"{w}x{h} pixels is above the limit of {limit} (a decompression bomb?)", None
        return None, (h, w)
    except UnidentifiedImageError:
        return "not an image format PIL can decode", None
    except ImageDecodeError as exc:
        return str(exc).split(": ", 1)[-1], None
    except Exception as exc:  # PIL raises many types for damaged headers
        return f"not a readable image ({type(exc).__name__}: {exc})", None


def _check_image_files(
    files: list[str], check: str, max_pixels: int
) -> tuple[list[tuple[str, str]], dict[str, tuple[int, int]]]:
    """Check image files (``check='header'`` or ``'full'``; see the module documentation).

    The result is cached (``<cache>/scans/``), keyed by the files' names, sizes and times.

    Returns:
        ``(bad, sizes)``: ``(path, problem)`` of each bad file, ``{path: (h, w)}`` of the others.
    """
    # fingerprint() hashes each file by its resolved path, size and time; the names as listed
    # are hashed too, since the scan is stored under them (two links to one file differ).
    names = b"\0".join(os.fsencode(f) for f in files)
    key = fingerprint([*files, names], extra=f"check:{check}:{max_pixels}:exif")
    memo = None
    try:
        memo = cache_dir("scans") / f"{key}.json"
        scan = json.loads(memo.read_text())
    except (OSError, ValueError):
        scan = None
    if scan is None:
        scan = {"bad": [], "sizes": {}}
        for f in files:
            problem, size = _check_file(f, check == "full", max_pixels)
            if problem is None:
                scan["sizes"][f] = size
            else:
                scan["bad"].append([f, problem])
        if memo is not None:
            with contextlib.suppress(OSError):  # an unwritable cache only costs a rescan
                atomic_write_bytes(memo, json.dumps(scan).encode())
    bad = [(p, why) for p, why in scan["bad"]]
    return bad, {p: (int(s[0]), int(s[1])) for p, s in scan["sizes"].items()}


def _describe(bad: Sequence[tuple[str, str]], limit: int = 10) -> str:
    lines = [f"  {p}: {why}" for p, why in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"  ... and {len(bad) - limit} more")
    return "\n".join(lines)


def _configure(
    ds: Any, root: Any, loader: Any, extensions: Any, transform: Any, is_valid_file: Any,
    backend: Any, on_error: str, check: str, max_pixels: int | None,
) -> tuple[str, ...]:  # fmt: skip
    """Check and set the settings both folder datasets share; return the lower-case extensions.

    Raises:
        ValueError: a bad ``on_error`` or ``check``, or both ``extensions`` and ``is_valid_file``.
        TypeError: a ``loader`` that is not callable.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if check not in CHECKS:
        raise ValueError(f"check must be one of {list(CHECKS)}, got {check!r}")
    if extensions is not None and is_valid_file is not None:
        raise ValueError("give extensions or is_valid_file, not both")
    if loader is not None and not callable(loader):
        raise TypeError(f"loader must be callable, got {type(loader).__name__}")
    ds.root = Path(root).expanduser()
    ds.loader = loader
    ds.transform = check_transform(transform)
    ds.backend = check_backend(backend)
    ds.on_error = on_error
    ds._check = check
    ds.max_pixels = max_image_pixels() if max_pixels is None else int(max_pixels)
    exts = tuple(e.lower() for e in (extensions or IMG_EXTENSIONS))
    ds.extensions = None if is_valid_file is not None else exts
    return exts


class DatasetFolder(Dataset):
    """Samples in ``root/<class>/**/<file>``, loaded by ``loader``.

    Args:
        root: the folder holding one sub-folder per class.
        loader: ``loader(path) -> sample``; None decodes images to RGB (see the module
            documentation) and applies Paddle's item semantics with ``backend``. A custom
            loader's sample goes to ``transform`` as it is, and is returned as the transform
            left it.
        extensions: file name endings to keep (case-insensitive); default: image extensions.
        transform: applied to each sample.
        is_valid_file: ``is_valid_file(path) -> bool``, instead of ``extensions``.
        backend: ``'pil'`` or ``'cv2'`` for the default loader; None uses the current default.
        on_error: ``'raise'`` or ``'skip'`` bad files and empty class folders.
        check: ``'header'``, ``'full'`` or ``'none'`` (see the module documentation).
        max_pixels: refuse images with more pixels (default ``RESVISION_MAX_IMAGE_PIXELS`` or
            2**26).
        classes: keyword only; the class names, label = index in the list (e.g. the training
            split's ``classes`` for its val/ split). Every sub-folder must be one of them;
            classes without a sub-folder are allowed (see ``missing_classes``). None: the
            sorted sub-folder names.

    Attributes:
        left_out: ``(path, reason)`` of the files and folders not read (other extensions,
            special files, broken links, unreadable or repeated folders, files in ``root``).
        missing_classes: the classes with no sample (no sub-folder, or, with
            ``on_error='skip'``, an empty one).

    Raises:
        FileNotFoundError: ``root`` does not exist or has no class folder.
        ValueError: a bad argument; a sub-folder that is not in ``classes``; with
            ``on_error='raise'``, a bad file or an empty class folder.

    Examples:
        >>> import tempfile, pathlib
        >>> from PIL import Image, UnidentifiedImageError
        >>> from resvision.datasets import DatasetFolder
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for cls in ("cat", "dog"):
        ...     (root / cls).mkdir()
        ...     Image.new("RGB", (8, 8)).save(root / cls / "0.png")
        >>> ds = DatasetFolder(root, backend="cv2")
        >>> ds.classes, ds.class_to_idx["dog"], len(ds), ds[1][0].shape, int(ds[1][1])
        (['cat', 'dog'], 1, 2, (8, 8, 3), 1)
        >>> val = DatasetFolder(root, classes=["bird", "cat", "dog"])
        >>> val.targets, val.missing_classes
        ([1, 2], ['bird'])
    """

    def __init__(
        self,
        root: str | os.PathLike,
        loader: Callable[[str], Any] | None = None,
        extensions: Sequence[str] | None = None,
        transform: Callable | None = None,
        is_valid_file: Callable[[str], bool] | None = None,
        backend: str | None = None,
        on_error: str = "raise",
        check: str = "header",
        max_pixels: int | None = None,
        *,
        classes: Sequence[str] | None = None,
    ) -> None:
        exts = _configure(self, root, loader, extensions, transform, is_valid_file, backend,
                          on_error, check, max_pixels)  # fmt: skip
        scan = scan_class_folders(
            self.root,
            classes,
            extensions=None if is_valid_file else exts,
            is_valid_file=is_valid_file,
        )
        if not scan.files:
            raise FileNotFoundError(
                f"{self.root} has no class sub-folder; expected root/<class>/<image files>"
            )
        self.classes = scan.classes
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.left_out = scan.left_out
        if scan.problems:
            warnings.warn(
                f"left out {len(scan.problems)} special file(s), broken link(s) or unreadable or "
                f"repeated folder(s) in {self.root}:\n{_describe(scan.problems)}",
                stacklevel=2,
            )
        per_class = scan.files

        self.skipped: list[tuple[str, str]] = []
        self._sizes: dict[str, tuple[int, int]] = {}
        if loader is None and check != "none":
            self._check_files([f for files in per_class.values() for f in files], check)
        bad = {p for p, _ in self.skipped}
        empty = []
        self.samples: list[tuple[str, int]] = []
        for cls in self.classes:
            if cls not in per_class:
                continue  # a class of the given list without a folder: allowed
            kept = [f for f in per_class[cls] if f not in bad]
            if not kept:
                empty.append(cls)
            self.samples += [(f, self.class_to_idx[cls]) for f in kept]
        have = {t for _, t in self.samples}
        self.missing_classes = [c for i, c in enumerate(self.classes) if i not in have]
        self.skipped += [(str(self.root / c), "the class folder has no valid file") for c in empty]
        if self.skipped:
            message = f"{len(self.skipped)} bad file(s) or empty class folder(s) in {self.root}:\n"
            message += _describe(self.skipped)
            if on_error == "raise":
                raise ValueError(message + "\n(pass on_error='skip' to leave them out)")
            warnings.warn("skipped " + message, stacklevel=2)
        if not self.samples:
            raise ValueError(f"{self.root} has no valid file to load (extensions {exts})")
        self.targets = [t for _, t in self.samples]
        self.imgs = self.samples  # torchvision's alias
        self._images: np.ndarray | None = None

    def _check_files(self, files: list[str], check: str) -> None:
        self.skipped, self._sizes = _check_image_files(files, check, self.max_pixels)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, np.ndarray]:
        path, target = self.samples[index]
        if self.loader is not None:
            sample = self.loader(path)
            if self.transform is not None:
                sample = self.transform(sample)
            return sample, np.asarray(target, dtype=np.int64)
        if self._images is not None:
            hwc = np.ascontiguousarray(self._images[index].transpose(1, 2, 0))
        else:
            try:
                hwc = decode_rgb(path, max_pixels=self.max_pixels)
            except ImageDecodeError as exc:
                if self._check == "full":
                    raise
                raise ImageDecodeError(
                    f"{exc} (check='full' finds such files when the dataset is built)"
                ) from exc
        return finish_item(hwc, target, self.transform, self.backend)

    # The fast path (see resvision.data.loader): the decoded folder as one uint8 array.

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        """``(3, H, W)`` when every image is known to have the same size, else None."""
        sizes = {self._sizes.get(p) for p, _ in self.samples}
        if len(sizes) == 1 and None not in sizes:
            h, w = sizes.pop()  # type: ignore[misc]
            return (3, h, w)
        return None

    def can_cache(self) -> str | None:
        """Why the decoded folder cannot be held in memory, or None if it can."""
        if self.loader is not None:
            return "the dataset has a custom loader"
        shape = self.image_shape
        if shape is None:
            if not self._sizes:
                return "image sizes are unknown (check='none')"
            return "the images have different sizes"
        need = len(self) * int(np.prod(shape))
        budget = fast_cache_budget()
        if need > budget:
            return (
                f"the decoded images need {need / 2**30:.1f} GiB, more than the "
                f"{budget / 2**30:.1f} GiB budget (RESVISION_FAST_MAX_BYTES)"
            )
        return None

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode every image once (cached on disk) into ``uint8 N x 3 x H x W`` and labels.

        Raises:
            resvision.data.loader.NotCacheableError: see :meth:`can_cache`.
        """
        from resvision.data.loader import NotCacheableError  # the loader imports datasets

        reason = self.can_cache()
        if reason is not None:
            raise NotCacheableError(reason)
        if self._images is None:
            shape = self.image_shape
            paths = [p for p, _ in self.samples]

            def build() -> dict[str, np.ndarray]:
                images = np.empty((len(paths), *shape), dtype=np.uint8)  # type: ignore[misc]
                for i, p in enumerate(paths):
                    hwc = decode_rgb(p, max_pixels=self.max_pixels)
                    if hwc.shape[:2] != shape[1:]:  # type: ignore[index]
                        raise NotCacheableError(f"{p} is {hwc.shape[:2]}, not {shape[1:]}")
                    images[i] = hwc.transpose(2, 0, 1)
                return {"images": images}

            key = fingerprint(paths, extra="folder-rgb-exif")  # decoded upright (EXIF applied)
            self._images = cached_arrays("folder", key, build)["images"]
        labels = torch.as_tensor(self.targets, dtype=torch.int64)
        return torch.from_numpy(self._images), labels

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, n={len(self)}, "
            f"classes={len(self.classes)}, backend={self.backend!r})"
        )


_WARNED_CLASS_LAYOUT: set[str] = set()


def _looks_like_class_folders(root: Path, files: Sequence[Path]) -> list[str]:
    """The first-level sub-folders holding the files, when no file lies in ``root`` itself and
    there are at least two of them (the ``root/<class>/...`` layout); else ``[]``."""
    tops = sorted({f.relative_to(root).parts[0] for f in files if f.parent != root})
    if len(tops) < 2 or any(f.parent == root for f in files):
        return []
    return tops


class ImageFolder(Dataset):
    """Unlabeled images anywhere under ``root``, with Paddle's ``ImageFolder`` meaning.

    .. code-block:: text

        root/1.jpg
        root/2.png
        root/sub_dir/3.jpg

    Items are one-element lists ``[image]`` (no label), in sorted walk order (a folder's files
    before its sub-folders; see :mod:`resvision.data.walk`). For one sub-folder per class and
    ``(image, label)`` items (torchvision's ``ImageFolder``), use :class:`DatasetFolder`; a tree
    that looks like class folders (no image in ``root`` itself, two or more sub-folders) gives
    one warning saying so, once per folder and process.

    Args:
        root: the folder to walk (recursively).
        loader: ``loader(path) -> sample``; None decodes images to RGB (see the module
            documentation) with ``backend``'s item semantics (``'cv2'``: the transform's result
            cast to ``float32``). A custom loader's sample goes to ``transform`` as it is.
        extensions: file name endings to keep (case-insensitive); default: image extensions.
        transform: applied to each sample.
        is_valid_file: ``is_valid_file(path) -> bool``, instead of ``extensions``.
        backend: ``'pil'`` or ``'cv2'`` for the default loader; None uses the current default.
        on_error: ``'raise'`` or ``'skip'`` bad files (see :class:`DatasetFolder`).
        check: ``'header'``, ``'full'`` or ``'none'`` (see the module documentation).
        max_pixels: refuse images with more pixels (default ``RESVISION_MAX_IMAGE_PIXELS``).

    Attributes:
        samples: the paths of the items (strings).
        left_out: ``(path, reason)`` of the files and folders not read.
        skipped: with ``on_error='skip'``, ``(path, problem)`` of the bad files left out.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        NotADirectoryError: ``root`` is not a folder.
        ValueError: a bad argument; no file to load; with ``on_error='raise'``, a bad file.

    Examples:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> from resvision.datasets import ImageFolder
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "more").mkdir()
        >>> for name in ("b.png", "a.png", "more/c.jpg"):
        ...     Image.new("RGB", (8, 6)).save(root / name)
        >>> ds = ImageFolder(root, backend="cv2")
        >>> [pathlib.Path(p).relative_to(root).as_posix() for p in ds.samples]
        ['a.png', 'b.png', 'more/c.jpg']
        >>> item = ds[2]
        >>> type(item).__name__, len(item), item[0].shape, item[0].dtype
        ('list', 1, (6, 8, 3), dtype('float32'))
    """

    def __init__(
        self,
        root: str | os.PathLike,
        loader: Callable[[str], Any] | None = None,
        extensions: Sequence[str] | None = None,
        transform: Callable | None = None,
        is_valid_file: Callable[[str], bool] | None = None,
        backend: str | None = None,
        on_error: str = "raise",
        check: str = "header",
        max_pixels: int | None = None,
    ) -> None:
        exts = _configure(self, root, loader, extensions, transform, is_valid_file, backend,
                          on_error, check, max_pixels)  # fmt: skip
        found = walk_files(self.root, self.extensions, is_valid_file)
        self.left_out = [(str(p), why) for p, why in found.left_out]
        if found.problems:
            warnings.warn(
                f"left out {len(found.problems)} special file(s), broken link(s) or unreadable "
                f"or repeated folder(s) in {self.root}:\n"
                f"{_describe([(str(p), why) for p, why in found.problems])}",
                stacklevel=2,
            )
        classes = _looks_like_class_folders(self.root, found.files)
        key = str(self.root.resolve())
        if classes and key not in _WARNED_CLASS_LAYOUT:
            _WARNED_CLASS_LAYOUT.add(key)
            shown = ", ".join(repr(c) for c in classes[:5]) + (", ..." if len(classes) > 5 else "")
            warnings.warn(
                f"ImageFolder reads {self.root} as unlabeled images (items [image]), but it looks "
                f"like one sub-folder per class ({len(classes)}: {shown}); for (image, label) "
                f"items use resvision.datasets.DatasetFolder({str(self.root)!r}) (Paddle's "
                "ImageFolder has no labels; torchvision's ImageFolder is DatasetFolder here)",
                UserWarning,
                stacklevel=2,
            )
        files = [str(p) for p in found.files]
        self.skipped: list[tuple[str, str]] = []
        if loader is None and check != "none":
            self.skipped, _ = _check_image_files(files, check, self.max_pixels)
        if self.skipped:
            message = f"{len(self.skipped)} bad file(s) in {self.root}:\n"
            message += _describe(self.skipped)
            if on_error == "raise":
                raise ValueError(message + "\n(pass on_error='skip' to leave them out)")
            warnings.warn("skipped " + message, stacklevel=2)
        bad = {p for p, _ in self.skipped}
        self.samples: list[str] = [f for f in files if f not in bad]
        if not self.samples:
            raise ValueError(
                f"{self.root} has no file to load under it "
                f"({'is_valid_file' if is_valid_file else f'extensions {exts}'})"
            )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> list[Any]:
        path = self.samples[index]
        if self.loader is not None:
            sample = self.loader(path)
            return [self.transform(sample) if self.transform is not None else sample]
        try:
            hwc = decode_rgb(path, max_pixels=self.max_pixels)
        except ImageDecodeError as exc:
            if self._check == "full":
                raise
            raise ImageDecodeError(
                f"{exc} (check='full' finds such files when the dataset is built)"
            ) from exc
        return [finish_image(hwc, self.transform, self.backend)]

    def __repr__(self) -> str:
        return f"ImageFolder(root={str(self.root)!r}, n={len(self)}, backend={self.backend!r})"
