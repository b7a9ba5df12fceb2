"""Pretrained weights described as data: where a file is, how to check it, what it expects.

A :class:`WeightsEntry` says everything a user of published weights needs besides the file
itself: its URL and hash, the number of classes and their names, the preprocessing it was
trained with (:class:`Preprocessing`), its reported accuracy and the layout of its keys. Entries
are registered per model name (:func:`register_weights`); ``pretrained=True`` takes the entry
marked ``default``.

About hashes: torchvision publishes only the first 8 hex digits of each file's SHA-256, in the
file name (``resnet50-11ad3fa6.pth``), and checks just that prefix after a download. An entry's
``sha256`` may therefore be a prefix (at least 8 hex digits) or the full 64-digit digest; the
check compares the prefix it is given. A prefix catches a truncated or damaged download, not a
deliberately forged file; give the full digest when you know it (``register_weights`` accepts
one). Paddle publishes an MD5 per file (``md5``), checked the same way.

Two more facts an entry records, because published weights and resvision's networks do not
always match:

- ``loadable``: False when the publisher's network is not the one resvision builds under that
  name (torchvision's GoogLeNet has BatchNorm, Paddle's has not). Such an entry is kept as data,
  for reference (``list_weights(model, include_reference=True)``), its ``note`` says why, and
  ``pretrained=`` refuses it with that note. It can never be a default.
- ``verified``: True once the file has been downloaded and loaded into resvision's network and its
  outputs checked. Entries written from a publisher's sources without the file at hand (no
  network where they were written) stay False and say so in their ``note``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Preprocessing",
    "UnknownWeightsError",
    "WeightsEntry",
    "get_weights",
    "list_weights",
    "register_weights",
]

_HEX = re.compile(r"^[0-9a-f]+$")
#: Layouts of the keys of a weights file; see :mod:`resvision.models.weights.convert`.
SOURCE_FORMATS = ("resvision", "torchvision", "timm", "paddle")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class Preprocessing:
    """How images were prepared for the network when the weights were trained and evaluated.

    The evaluation transform is: resize the shorter side to ``resize`` with ``interpolation``,
    center-crop ``crop`` x ``crop``, scale to [0, 1], subtract ``mean`` and divide by ``std``
    (per channel, RGB order).

    Examples:
        >>> p = Preprocessing(resize=232, crop=224)
        >>> p.to_dict()['mean']
        [0.485, 0.456, 0.406]
    """

    resize: int = 256
    crop: int = 224
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        for name in ("resize", "crop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Preprocessing.{name} must be a positive int, got {value!r}")
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(
                f"Preprocessing mean and std need one value per channel, got mean={self.mean!r} "
                f"and std={self.std!r}"
            )
        if any(s <= 0 for s in self.std):
            raise ValueError(f"Preprocessing std values must be > 0, got {self.std!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"Preprocessing.interpolation must be one of {INTERPOLATIONS}, "
                f"got {self.interpolation!r}"
            )

    def transforms(self) -> Any:
        """The evaluation transform: ``Resize(resize, interpolation)`` of the shorter side,
        ``CenterCrop(crop)``, ``ToTensor()``, ``Normalize(mean, std)`` (resvision's transforms:
        a PIL image or HWC array in, a float32 CHW tensor out), as torchvision's
        ``weights.transforms()``.

        Examples:
            >>> from PIL import Image
            >>> Preprocessing(resize=232, crop=224)(Image.new("RGB", (300, 250))).shape
            torch.Size([3, 224, 224])
        """
        from resvision.data.augmentations import CenterCrop, Resize
        from resvision.data.transforms import Compose, Normalize, ToTensor

        return Compose(
            [
                Resize(self.resize, interpolation=self.interpolation),
                CenterCrop(self.crop),
                ToTensor(),
                Normalize(list(self.mean), list(self.std)),
            ]
        )

    def __call__(self, img: Any) -> Any:
        """Apply :meth:`transforms` to one image."""
        return self.transforms()(img)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (lists, not tuples)."""
        return {
            "resize": self.resize,
            "crop": self.crop,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
        }


@dataclass(frozen=True)
class WeightsEntry:
    """One set of published weights for one model.

    Attributes:
        model: the registered model name (``'resnet50'``).
        name: the entry's name for that model (``'IMAGENET1K_V2'``); looked up case-blind.
        url: where the file is published.
        num_classes: outputs of the classifier the file holds.
        categories: the class names, index order (None when unknown).
        preprocessing: the evaluation preprocessing the reported metrics were measured with.
        sha256: full SHA-256 hex digest or a prefix of at least 8 digits (see module doc).
        md5: full MD5 hex digest (Paddle's published check), used when ``sha256`` is None.
        metrics: reported accuracy, e.g. ``{'ImageNet-1K': {'acc@1': 80.858, 'acc@5': 95.434}}``.
        source_format: key layout of the file, one of ``SOURCE_FORMATS``.
        default: the entry ``pretrained=True`` takes for this model.
        recipe: where the training recipe is described.
        file_size_mb: size of the file, for messages.
        loadable: the file is for resvision's network of that name (see the module doc); False:
            listed for reference only, refused by ``pretrained=`` with ``note``.
        verified: the file was downloaded and loaded into resvision's network and checked.
        note: why the entry is (not) loadable, where its data were taken from, what is unverified.
    """

    model: str
    name: str
    url: str
    num_classes: int
    categories: tuple[str, ...] | None = None
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    sha256: str | None = None
    md5: str | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    source_format: str = "torchvision"
    default: bool = False
    recipe: str | None = None
    file_size_mb: float | None = None
    loadable: bool = True
    verified: bool = False
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://", "file://")):
            raise ValueError(f"WeightsEntry.url must be an http(s) or file URL, got {self.url!r}")
        if self.sha256 is None and self.md5 is None:
            raise ValueError(
                f"WeightsEntry {self.model}.{self.name}: give sha256 (a full digest or a prefix "
                "of at least 8 hex digits) or md5, so that downloads can be checked"
            )
        if self.sha256 is not None and not (
            8 <= len(self.sha256) <= 64 and _HEX.match(self.sha256)
        ):
            raise ValueError(
                f"WeightsEntry.sha256 must be 8 to 64 lower-case hex digits, got {self.sha256!r}"
            )
        if self.md5 is not None and not (len(self.md5) == 32 and _HEX.match(self.md5)):
            raise ValueError(f"WeightsEntry.md5 must be 32 lower-case hex digits, got {self.md5!r}")
        if self.source_format not in SOURCE_FORMATS:
            raise ValueError(
                f"WeightsEntry.source_format must be one of {SOURCE_FORMATS}, "
                f"got {self.source_format!r}"
            )
        if self.categories is not None and len(self.categories) != self.num_classes:
            raise ValueError(
                f"WeightsEntry {self.model}.{self.name}: {len(self.categories)} categories for "
                f"num_classes={self.num_classes}"
            )
        if not self.loadable and (self.default or not self.note):
            raise ValueError(
                f"WeightsEntry {self.model}.{self.name}: an entry that is not loadable needs a "
                "note saying why, and cannot be the default"
            )

    @property
    def filename(self) -> str:
        """The file's name in the cache: the last part of the URL."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def transforms(self) -> Any:
        """The evaluation transform these weights were measured with (see
        :meth:`Preprocessing.transforms`)."""
        return self.preprocessing.transforms()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        out = dataclasses.asdict(self)
        out["preprocessing"] = self.preprocessing.to_dict()
        out["categories"] = list(self.categories) if self.categories is not None else None
        return out


_ENTRIES: dict[str, dict[str, WeightsEntry]] = {}


class UnknownWeightsError(KeyError):
    """No weights of that name are registered for the model (the message lists those that are).

    A ``KeyError`` whose message prints as written, not quoted.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def register_weights(entry: WeightsEntry) -> WeightsEntry:
    """Register ``entry`` for ``entry.model``.

    Raises:
        ValueError: an entry of that name is already registered for the model, or a second
            default is declared.

    Examples:
        >>> e = register_weights(WeightsEntry(
        ...     model='doc_net', name='DEMO', url='https://example.com/doc_net-0123abcd.pt',
        ...     sha256='0123abcd', num_classes=2, default=True))
        >>> get_weights('doc_net', True) is e
        True
        >>> _ = _ENTRIES.pop('doc_net')
    """
    entries = _ENTRIES.setdefault(entry.model, {})
    key = entry.name.upper()
    if key in entries:
        raise ValueError(f"weights {entry.name!r} are already registered for {entry.model!r}")
    if entry.default and any(e.default for e in entries.values()):
        raise ValueError(f"{entry.model!r} already has a default weights entry")
    entries[key] = entry
    return entry


def list_weights(model: str | None = None, *, include_reference: bool = False) -> list[str]:
    """Names of the registered weights: ``'MODEL.NAME'`` for all models, ``'NAME'`` for one.

    Args:
        model: one model's entries; None: every model's.
        include_reference: also the entries kept for reference only (``loadable=False``: the
            publisher's network is not resvision's, e.g. torchvision's GoogLeNet).

    Returns:
        The sorted names; by default only those ``pretrained=`` accepts.

    Examples:
        >>> list_weights('resnet50')
        ['IMAGENET1K_V1', 'IMAGENET1K_V2', 'PADDLE_IMAGENET1K']
        >>> list_weights('googlenet'), list_weights('googlenet', include_reference=True)
        (['PADDLE_IMAGENET1K'], ['IMAGENET1K_V1', 'PADDLE_IMAGENET1K'])
    """
    pairs = [
        (m, e)
        for m, entries in _ENTRIES.items()
        if model is None or m == model
        for e in entries.values()
        if e.loadable or include_reference
    ]
    if model is not None:
        return sorted(e.name for _, e in pairs)
    return sorted(f"{m}.{e.name}" for m, e in pairs)


def get_weights(model: str, name: object = True) -> WeightsEntry:
    """The entry ``name`` of ``model``: True, ``'default'`` or ``'imagenet'`` give its default.

    A dotted name holds both, as torchvision's ``get_weights('ResNet50_Weights.IMAGENET1K_V2')``
    does: ``get_weights('resnet50.IMAGENET1K_V2')`` (or ``'resnet50.DEFAULT'``). The entry's
    :meth:`WeightsEntry.transforms` is its evaluation transform.

    Args:
        model: registered model name, or ``model.ENTRY``.
        name: an entry name (case-blind), True, ``'default'`` or ``'imagenet'``.

    Returns:
        The entry.

    Raises:
        UnknownWeightsError: (a ``KeyError``) no such entry; the message lists the model's.

    Examples:
        >>> get_weights('resnet50').name
        'IMAGENET1K_V2'
        >>> get_weights('resnet18', 'imagenet').url
        'https://download.pytorch.org/models/resnet18-f37072fd.pth'
        >>> get_weights('resnet50.IMAGENET1K_V1').transforms().transforms[0]
        Resize(size=256, interpolation='bilinear')
    """
    if isinstance(model, str) and "." in model and model not in _ENTRIES:
        if name is not True:
            raise ValueError(
                f"get_weights({model!r}, {name!r}): the dotted name already names the entry; "
                "give one of the two"
            )
        model, name = model.split(".", 1)
    entries = _ENTRIES.get(model, {})
    if name is True or (isinstance(name, str) and name.lower() in ("default", "imagenet")):
        for entry in entries.values():
            if entry.default:
                return entry
    elif isinstance(name, str) and name.upper() in entries:
        return entries[name.upper()]
    known = ", ".join(repr(n) for n in list_weights(model, include_reference=True)) or "none"
    raise UnknownWeightsError(
        f"no pretrained weights {name!r} for {model!r}; registered for it: {known} "
        "(or pass a local file path or a URL)"
    )
