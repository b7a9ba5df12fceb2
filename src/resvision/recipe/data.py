"""From ``data.*`` config keys to datasets and transforms, and the preprocessing ``predict`` repeats.

The data sets themselves come from :mod:`resvision.datasets`; this module only chooses which one,
which split serves for evaluation, and which transforms (normalisation statistics of the data
set, the augmentation named by ``data.augment``). The transforms are resvision's, so in-memory
data sets take the fast loader path with batched augmentation on the device.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from resvision.recipe.config import DATA_NAMES, DataSection
from resvision.recipe.errors import UsageError, unknown_name_error

# Channel statistics of the training images, in [0, 1] units. CIFAR: computed over the 50,000
# training images (the values every CIFAR recipe uses); MNIST: the classic 0.1307 / 0.3081;
# folders: ImageNet's, the usual choice for photos and what pretrained weights expect.
STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
STATS["sample"] = STATS["cifar10"]


@dataclass
class Preprocess:
    """How an image file becomes a network input, stored with a run so ``predict`` repeats it.

    Attributes:
        channels: 3 (RGB) or 1 (grey).
        size: the square crop fed to the network.
        resize: the shorter side is resized to this before the center crop (None: no resize
            when the image is already ``size``; otherwise ``size``).
        mean, std: normalisation in [0, 1] units; None when pixels are fed raw (0..255).
        interpolation: of the resize (published weights record theirs: torchvision's
            ViT-style entries use bicubic); runs saved before this field existed read bilinear.
    """

    channels: int
    size: int
    resize: int | None
    mean: list[float] | None
    std: list[float] | None
    interpolation: str = "bilinear"

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for JSON and checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        """Inverse of :meth:`to_dict`."""
        known = {k: data.get(k) for k in ("channels", "size", "resize", "mean", "std")}
        return cls(**known, interpolation=data.get("interpolation") or "bilinear")


@dataclass
class DataBundle:
    """The data of a run: datasets (None where not asked for), classes and preprocessing."""

    train: Any
    eval: Any
    eval_split: str
    classes: list[str]
    preprocess: Preprocess
    description: str


def data_kind(name: str) -> str:
    """``'sample'``, ``'cifar10'``, ... for a known name, ``'folder'`` for an existing folder.

    Raises:
        UsageError: neither a known name nor a folder (with the close names).
    """
    if name in DATA_NAMES:
        return name
    path = Path(name).expanduser()
    if path.is_dir():
        return "folder"
    if path.is_file() and name.lower().endswith(_ARCHIVE_SUFFIXES):
        return "folder"  # unpacked by folder_root
    if path.exists():
        raise UsageError(
            f"--data {name!r} is a file; give a data set name, a folder, or an archive of one "
            f"({', '.join(_ARCHIVE_SUFFIXES)})"
        )
    hint = "or a folder holding train/ and val/ (or test/) with one sub-folder per class"
    if name.lower() in ("imagenet", "imagenet-1k", "ilsvrc2012"):
        hint = (
            "ImageNet cannot be downloaded automatically: give its folder, e.g. "
            "--data /data/imagenet (train/<class>/*.JPEG and val/<class>/*.JPEG)"
        )
    elif "/" in name or "\\" in name or name.startswith("."):
        raise UsageError(f"data folder {name!r} does not exist")
    return _raise(unknown_name_error("data set", name, DATA_NAMES, hint=hint))


def _raise(err: Exception) -> str:
    raise err


# The suffixes of resvision.data.archives (not imported here: it loads numpy).
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")


def folder_root(name: str) -> Path:
    """The folder of a folder data set: the folder itself, or where its archive is unpacked
    (once, into the cache; archives with paths or links leading outside are refused).

    Raises:
        UsageError: an unsafe or unreadable archive.
    """
    path = Path(name).expanduser()
    if not path.is_file():
        return path
    from resvision.data.archives import extracted_folder

    try:
        return extracted_folder(path)
    except ValueError as err:  # UnsafeArchiveError included
        raise UsageError(f"--data {name!r}: {err}") from None


def folder_splits(root: Path) -> tuple[Path, Path, str]:
    """The train folder and the evaluation folder (val/, else test/) of a folder data set.

    Raises:
        UsageError: train/ or both val/ and test/ are missing.
    """
    train = root / "train"
    for split in ("val", "test"):
        if (root / split).is_dir():
            if not train.is_dir():
                break
            return train, root / split, split
    present = sorted(p.name for p in root.iterdir() if p.is_dir())[:10]
    raise UsageError(
        f"data folder {str(root)!r} must hold train/ and val/ (or test/), each with one "
        f"sub-folder per class; it has: {', '.join(present) or 'no folders'}"
    )


def _stats(cfg: DataSection, kind: str, channels: int) -> tuple[list[float], list[float]] | None:
    if not cfg.normalize:
        return None
    mean, std = STATS.get(kind, STATS["imagenet"])
    if len(mean) != channels:  # e.g. a grey folder: the mean of ImageNet's channels
        mean, std = (sum(mean) / len(mean),) * channels, (sum(std) / len(std),) * channels
    return list(mean), list(std)


def build_transforms(
    cfg: DataSection, pre: Preprocess, natural: int | None, train_size: int | None = None
) -> tuple[Any, Any]:
    """The training and evaluation transforms for ``data.augment`` and ``pre``.

    Args:
        cfg: the data section.
        pre: the preprocessing (crop size, resize, normalisation).
        natural: the side of the data set's images when they all have one size (CIFAR: 32),
            else None (folders of photos).
        train_size: the training crop when it differs from the evaluation one (``pre.size``).

    Returns:
        ``(train_transform, eval_transform)``; items come out as float32 CHW.
    """
    from resvision import transforms as T

    size = pre.size
    crop_size = train_size or size
    geometry_eval: list[Any] = []
    if natural != size:
        geometry_eval = [T.Resize(pre.resize or size, pre.interpolation), T.CenterCrop(size)]
    if cfg.augment == "imagenet":
        geometry_train: list[Any] = [T.RandomResizedCrop(crop_size), T.RandomHorizontalFlip()]
    elif cfg.augment == "flip-crop":
        padding = max(1, crop_size // 8) if cfg.crop_padding is None else cfg.crop_padding
        crop = T.RandomCrop(crop_size, padding=padding, padding_mode=cfg.padding_mode)
        geometry_train = [*geometry_eval, crop]
        geometry_train.append(T.RandomHorizontalFlip(alternate=cfg.flip == "alternate"))
    elif cfg.augment == "flip":
        geometry_train = [*geometry_eval, T.RandomHorizontalFlip(alternate=cfg.flip == "alternate")]
    else:
        geometry_train = list(geometry_eval)
    if cfg.auto_augment != "none":
        from resvision.data.autoaugment import policy_from_name

        geometry_train.append(policy_from_name(cfg.auto_augment))
    if pre.mean is None:
        # Raw 0..255 pixels in CHW, exactly what the tutorial's Transpose() gives (cv2 backend).
        tail: list[Any] = [T.Transpose()]
    else:
        tail = [T.ToTensor(), T.Normalize(pre.mean, pre.std)]
    erase = [T.RandomErasing(prob=cfg.random_erase, value=0)] if cfg.random_erase else []
    return T.Compose(geometry_train + tail + erase), T.Compose(geometry_eval + tail)


def _missing(err: BaseException) -> UsageError:
    # The data set's own message says which file is expected where and how to get it.
    return UsageError(
        f"{err}\nOn the command line, --data-root gives that file (or its folder); "
        "`resvision train` alone uses the embedded sample"
    )


def _file_kwargs(kind: str, cls: Any, root: str, mode: str) -> dict[str, Any]:
    """``data.root`` as the data set's file arguments: a file, or the folder holding them."""
    path = Path(root).expanduser()
    if kind in ("cifar10", "cifar100"):
        return {"data_file": str(path / cls.FILENAME if path.is_dir() else path)}
    # MNIST-like: a folder with the four official idx files.
    if not path.is_dir():
        raise UsageError(
            f"--data-root for {kind} must be the folder holding its idx files, got {root!r}"
        )
    images, labels = (name for name, _ in cls.FILES[mode])
    return {"image_path": str(path / images), "label_path": str(path / labels)}


def _open_builtin(kind: str, cfg: DataSection, mode: str, transform: Any, backend: str) -> Any:
    import resvision.datasets as D

    names = {
        "sample": "Cifar10Sample",
        "cifar10": "Cifar10",
        "cifar100": "Cifar100",
        "mnist": "MNIST",
        "fashion-mnist": "FashionMNIST",
    }
    cls = getattr(D, names[kind])
    if kind == "sample":
        return cls(mode=mode, transform=transform, backend=backend)
    kwargs: dict[str, Any] = {"mode": mode, "transform": transform, "backend": backend}
    kwargs["download"] = cfg.download
    if cfg.root:
        kwargs.update(_file_kwargs(kind, cls, cfg.root, mode))
    try:
        return cls(**kwargs)
    except OSError as err:  # DatasetNotFoundError, a failed download, an unreadable file
        raise _missing(err) from None
    except ValueError as err:  # a damaged archive
        raise UsageError(str(err)) from None


def _open_folder(
    root: Path,
    train: bool,
    evaluation: bool,
    eval_split: str | None,
    backend: str,
    classes: list[str] | None = None,
) -> tuple[Any, Any, str]:
    """The train and evaluation ``DatasetFolder`` of a folder data set (without transforms).

    The labels come from one class list: ``classes`` when given (a trained network's), else
    the training split's folders. The evaluation split's class folders are matched to it by
    name: one that is not in the list is refused, naming it; a class of the list without a
    folder is fine (it has no samples, and the evaluation counts it so).
    """
    import resvision.datasets as D

    train_dir, eval_dir, split = folder_splits(root)
    if eval_split in ("train", "val", "test"):
        eval_dir, split = root / eval_split, eval_split
        if not eval_dir.is_dir():
            raise UsageError(f"data folder {str(root)!r} has no {eval_split}/ folder")
    elif eval_split is not None:
        raise UsageError(f"--split must be train, val or test, got {eval_split!r}")
    try:
        train_ds = None
        if train:
            train_ds = D.DatasetFolder(str(train_dir), backend=backend, classes=classes)
            classes = list(train_ds.classes)
        elif classes is None and evaluation:  # labels of the training split's folders
            classes = sorted(
                e.name for e in os.scandir(train_dir) if e.is_dir() and not e.name.startswith(".")
            )
        eval_ds = None
        if evaluation:
            eval_ds = D.DatasetFolder(str(eval_dir), backend=backend, classes=classes)
    except (OSError, ValueError) as err:  # bad files, empty class folders, unknown classes
        raise UsageError(f"cannot use the data folder {str(root)!r}: {err}") from None
    return train_ds, eval_ds, split


_NATURAL = {"sample": (3, 32), "cifar10": (3, 32), "cifar100": (3, 32)}
_NATURAL.update({"mnist": (1, 28), "fashion-mnist": (1, 28)})


def open_data(
    cfg: DataSection,
    *,
    train: bool = True,
    evaluation: bool = True,
    eval_split: str | None = None,
    preprocess: Preprocess | None = None,
    model_size: int | None = None,
    classes: list[str] | None = None,
) -> DataBundle:
    """Open the data sets a command needs, with their transforms.

    Args:
        cfg: the data section of the config.
        train: open the training split (with augmentation).
        evaluation: open the evaluation split (test for the built-in data sets; val/, else
            test/ for folders).
        eval_split: ``'train'``, ``'val'`` or ``'test'`` to evaluate on another split.
        preprocess: the preprocessing of a trained network (``eval``); None derives it from
            ``cfg`` and the data set (``train``).
        model_size: the network's natural input side, the crop size of a folder of photos of
            different sizes when ``data.image_size`` is not set (default 224).
        classes: the class names of a trained network (``eval``): a folder's labels follow
            them by name; None takes the training split's.

    Returns:
        The :class:`DataBundle`.

    Raises:
        UsageError: unknown name, missing folder or files, wrong layout.
    """
    kind = data_kind(cfg.name)
    backend = "pil" if cfg.normalize else "cv2"
    if preprocess is not None:
        backend = "pil" if preprocess.mean is not None else "cv2"
    if kind == "folder":
        # Opened without transforms first: the folder's image size decides them.
        train_ds, eval_ds, split = _open_folder(
            folder_root(cfg.name), train, evaluation, eval_split, backend, classes
        )
        ref = train_ds if train_ds is not None else eval_ds
        classes = list(ref.classes)
        shape = getattr(ref, "image_shape", None)
        natural_size = shape[1] if shape is not None and shape[1] == shape[2] else None
        ch = 3
        default_size = natural_size or model_size or 224
    else:
        if eval_split not in (None, "test", "train"):
            raise UsageError(f"{kind} has the splits train and test, not {eval_split!r}")
        split = eval_split or "test"
        ch, natural_size = _NATURAL[kind]
        default_size = natural_size
    train_size = cfg.image_size or default_size
    if preprocess is None:
        size = cfg.eval_size or train_size
        resize = cfg.eval_resize or (None if natural_size == size else round(size * 8 / 7))
        stats = _stats(cfg, kind, ch)
        pre = Preprocess(ch, size, resize, *(stats or (None, None)))
    else:
        pre = preprocess
    train_tf, eval_tf = build_transforms(cfg, pre, natural_size, train_size)
    if kind == "folder":
        for ds, tf in ((train_ds, train_tf), (eval_ds, eval_tf)):
            if ds is not None:
                ds.transform = tf
    else:
        train_ds = _open_builtin(kind, cfg, "train", train_tf, backend) if train else None
        eval_ds = _open_builtin(kind, cfg, split, eval_tf, backend) if evaluation else None
        ref = train_ds if train_ds is not None else eval_ds
        classes = [str(c) for c in ref.classes]
    description = "the embedded CIFAR-10 sample" if kind == "sample" else cfg.name
    return DataBundle(train_ds, eval_ds, split, classes, pre, description)
