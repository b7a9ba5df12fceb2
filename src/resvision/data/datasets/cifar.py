"""CIFAR-10 and CIFAR-100 from the official python archives, read without unpacking them.

The archives hold pickled dicts (``b'data'``: ``uint8 N x 3072`` in CHW order, ``b'labels'`` or
``b'fine_labels'``); they are unpickled with a restricted unpickler that only builds numpy arrays
and plain containers, so a tampered archive cannot run code. Decoded arrays are cached (see
:mod:`resvision.data.cache`).
"""

from __future__ import annotations

import io
import pickle
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from resvision.data.cache import cached_arrays, fingerprint
from resvision.data.datasets.base import InMemoryImageDataset, check_mode
from resvision.data.datasets.download import fetch_data_file, resolve_user_file
from resvision.data.datasets.sample import CIFAR10_CLASSES

_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data archive")


def _unpickle(data: bytes) -> Any:
    return _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()


def _bytes_keys(obj: Any) -> dict[bytes, Any]:
    """The official batches were pickled by Python 2 (bytes keys); accept str keys too."""
    if not isinstance(obj, dict):
        raise TypeError(f"expected a dict, got {type(obj).__name__}")
    return {k.encode() if isinstance(k, str) else k: v for k, v in obj.items()}


def read_cifar_archive(
    path: Path, flag: str, label_key: bytes, meta_name: str, names_key: bytes
) -> dict[str, np.ndarray]:
    """Read the batches whose member names contain ``flag`` (sorted by name) from ``path``.

    Returns:
        ``images`` (``uint8 N x 3 x 32 x 32``), ``labels`` (``int64 N``) and ``classes``.

    Raises:
        ValueError: the file is not a readable tar.gz, has no such batches, or a batch is not in
            the official format; the message names the file and the member.
    """
    images, labels, classes = [], [], None
    try:
        with tarfile.open(path, mode="r:*") as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            batches = sorted(m.name for m in members if flag in Path(m.name).name)
            if not batches:
                found = ", ".join(sorted(m.name for m in members)[:8]) or "nothing"
                raise ValueError(
                    f"{path} has no CIFAR batch named like '*{flag}*' (found: {found}); is it "
                    "the official python archive?"
                )
            for name in batches:
                raw = tar.extractfile(name).read()  # type: ignore[union-attr]
                try:
                    batch = _bytes_keys(_unpickle(raw))
                    data = np.asarray(batch[b"data"], dtype=np.uint8)
                    lbl = np.asarray(batch[label_key], dtype=np.int64)
                except (pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError) as exc:
                    raise ValueError(
                        f"{path}: member {name} is not a CIFAR batch ({type(exc).__name__}: {exc})"
                    ) from exc
                if data.ndim != 2 or data.shape[1] != 3072 or len(lbl) != len(data):
                    raise ValueError(
                        f"{path}: member {name} has data of shape {data.shape} and "
                        f"{len(lbl)} labels; expected N x 3072 and N labels"
                    )
                images.append(data.reshape(-1, 3, 32, 32))
                labels.append(lbl)
            meta = [m.name for m in members if Path(m.name).name == meta_name]
            if meta:
                info = _bytes_keys(_unpickle(tar.extractfile(meta[0]).read()))  # type: ignore[union-attr]
                classes = [n.decode() if isinstance(n, bytes) else str(n) for n in info[names_key]]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable tar.gz archive ({exc})") from exc
    return {
        "images": np.concatenate(images),
        "labels": np.concatenate(labels),
        "classes": np.array(classes if classes is not None else [], dtype=str),
    }


class Cifar10(InMemoryImageDataset):
    """CIFAR-10 (Krizhevsky, 2009) with ``paddle.vision.datasets.Cifar10`` semantics.

    Args:
        data_file: path of the official ``cifar-10-python.tar.gz``; None looks in (and with
            ``download``, downloads to) ``<cache>/datasets/cifar/``.
        mode: ``'train'`` (50,000 images) or ``'test'`` (10,000).
        transform: applied to each image (see :mod:`resvision.data.datasets.base`).
        download: fetch the official archive when ``data_file`` is None and it is not cached.
        backend: ``'pil'`` or ``'cv2'``; None uses :func:`~resvision.data.backend.get_image_backend`.

    Raises:
        DatasetNotFoundError: the archive is missing or fails its MD5 check and cannot be
            downloaded (the message says where it is expected and how to get it).
        ValueError: ``mode`` or ``backend`` is not accepted, or the archive is damaged.

    Examples:
        >>> from resvision.datasets import Cifar10
        >>> Cifar10(data_file="no/such/cifar-10-python.tar.gz", mode="test")
        Traceback (most recent call last):
        ...
        resvision.data.datasets.download.DatasetNotFoundError: Cifar10: data_file 'no/such/cifar-10-python.tar.gz' does not exist or is not a file
    """

    URLS = (
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "https://dataset.bj.bcebos.com/cifar/cifar-10-python.tar.gz",
    )
    MD5 = "c58f30108f718f92721af3b95e74349a"
    FILENAME = "cifar-10-python.tar.gz"
    _FLAGS: ClassVar[dict[str, str]] = {"train": "data_batch", "test": "test_batch"}
    _LABEL_KEY = b"labels"
    _META = ("batches.meta", b"label_names")
    _DEFAULT_CLASSES: ClassVar[list[str]] = CIFAR10_CLASSES
    _HINT = (
        "Without a download, resvision.datasets.Cifar10Sample is a 6,000-image subset of "
        "CIFAR-10 shipped in the package"
    )

    def __init__(
        self,
        data_file: str | None = None,
        mode: str = "train",
        transform: Callable | None = None,
        download: bool = True,
        backend: str | None = None,
    ) -> None:
        super().__init__(transform, backend)
        self.mode = check_mode(mode)
        name = type(self).__name__
        if data_file is None:
            path = fetch_data_file(
                self.FILENAME,
                "cifar",
                self.URLS,
                self.MD5,
                download=download,
                what=name,
                hint=self._HINT,
            )
        else:
            path = resolve_user_file(data_file, name, "data_file")
        self.data_file = str(path)
        flag = self._FLAGS[self.mode]
        arrays = cached_arrays(
            f"{name.lower()}-{self.mode}",
            fingerprint([path], extra=f"{name}:{flag}"),
            lambda: read_cifar_archive(path, flag, self._LABEL_KEY, *self._META),
        )
        self.images, self.labels = arrays["images"], arrays["labels"]
        classes = [str(c) for c in arrays["classes"]]
        self.classes = classes or list(self._DEFAULT_CLASSES)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        bad = (self.labels < 0) | (self.labels >= len(self.classes))
        if bad.any():
            raise ValueError(
                f"{path}: label {int(self.labels[bad][0])} is outside the "
                f"{len(self.classes)} classes of {name}"
            )


class Cifar100(Cifar10):
    """CIFAR-100 (fine labels, 100 classes) with ``paddle.vision.datasets.Cifar100`` semantics.

    Arguments as :class:`Cifar10`; the archive is the official ``cifar-100-python.tar.gz``.
    """

    URLS = (
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "https://dataset.bj.bcebos.com/cifar/cifar-100-python.tar.gz",
    )
    MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
    FILENAME = "cifar-100-python.tar.gz"
    _FLAGS: ClassVar[dict[str, str]] = {"train": "train", "test": "test"}
    _LABEL_KEY = b"fine_labels"
    _META = ("meta", b"fine_label_names")
    _DEFAULT_CLASSES: ClassVar[list[str]] = [str(i) for i in range(100)]
    _HINT = ""
