"""The ``pretrained`` argument of every model constructor: resolve, read, convert, fit, report.

Every constructor ends with ``load_pretrained(model, pretrained, model_name=...)``, so weight
sources are handled in one place. ``pretrained`` may be:

- ``False`` / ``None``: keep the random initialisation;
- ``True``, ``'imagenet'`` or ``'default'``: the model's default registered weights; an entry
  name (``'IMAGENET1K_V1'``, ``'PADDLE_IMAGENET1K'``; see ``list_weights(model)``) or a
  :class:`~resvision.models.weights.WeightsEntry`: downloaded once into the cache and checked;
- a URL: downloaded once into the cache; checked against ``#sha256=<hex>`` at its end, or
  against the hash prefix in a torchvision-style file name (``name-1a2b3c4d.pth``);
- a path to a file in any supported format (resvision checkpoint, torchvision / timm state dict,
  Paddle ``.pdparams``, safetensors), in any supported key layout (detected);
- a state dict (a mapping of names to tensors), e.g. one you loaded yourself.

When the head of the weights does not fit the model (another ``num_classes``, or
``num_classes <= 0``: no classifier) the rest is loaded and every layer of the head that the
model does not have, or whose shape changed, is left out and reported: in a
:class:`PretrainedHeadSkippedWarning` (with the reason for each key) and in
``model.pretrained_cfg['skipped_keys']``. The head is what the network describes: its classifier
(``get_classifier()``) and, for a network that lists its stages in ``feature_info``, every
sub-module registered after the last stage (the convention :mod:`resvision.models.features`
relies on too): pooling, hidden classifier layers (VGG's ``classifier.0/3``, AlexNet's
``_fc6/_fc7``), auxiliary heads (GoogLeNet's ``_conv_o1`` .. ``_out2``). Layers of the head that
still fit are loaded (VGG fine-tuned to 10 classes keeps its two hidden layers). Any mismatch
outside the head is an error listing every missing, unexpected and mis-shaped key.

Key layouts: a Paddle file (``.pdparams``) or entry is converted as Paddle's; otherwise the layout
is detected from the key names (:func:`~resvision.models.weights.detect_source_format`) and, for
a state dict without BatchNorm statistics (LeNet, VGG, AlexNet, SqueezeNet), from the shapes of
its 2-D weights: Paddle stores a Linear weight ``[in, out]`` where PyTorch stores ``[out, in]``, so
weights that are all the transpose of the network's are read as Paddle's. Square weights cannot
tell; when nothing else does, a warning says how to convert them yourself
(``convert_state_dict(state, source='paddle')``).

``model.pretrained_cfg`` (a dict, timm's attribute name) records what was loaded: source, formats,
the weights' ``categories`` and ``preprocessing`` (kept only when the classifier was loaded),
reported ``metrics``, and the skipped / missing keys.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .convert import convert_state_dict, detect_source_format
from .entries import UnknownWeightsError, WeightsEntry, get_weights, list_weights
from .formats import WeightsFile, read_weights_file
from .hub import download_weights

__all__ = [
    "PretrainedHeadSkippedWarning",
    "PretrainedLayoutWarning",
    "PretrainedWeightsError",
    "create_model_from_weights",
    "load_pretrained",
    "read_state_dict",
]

# A string with one of these endings, or with a path separator, is meant as a file path: a missing
# file is then reported as such instead of as an unknown weight name.
_FILE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar", ".pdparams", ".safetensors")
# torch.hub's convention: the file name carries a prefix of its SHA-256 after the last dash.
_NAME_HASH = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z]+$")
_OPTIONAL_BUFFERS = ("num_batches_tracked",)  # Paddle files lack them; the model's 0 is kept


class PretrainedWeightsError(ValueError):
    """The ``pretrained`` argument names weights that cannot be loaded into the model."""


class PretrainedHeadSkippedWarning(UserWarning):
    """Layers of the head of the weights did not fit the model and were left out (fine-tuning)."""


class PretrainedLayoutWarning(UserWarning):
    """The key layout of the weights could not be told for sure (see the message)."""


def _looks_like_path(value: str) -> bool:
    return (
        os.sep in value
        or "/" in value
        or value.lower().endswith(_FILE_SUFFIXES)
        or value.startswith(("~", "."))
        or Path(value).is_file()
    )


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read the tensors of a weights file safely, in the file's own key layout.

    Only tensors, NumPy arrays and plain containers are rebuilt (see
    :func:`~resvision.models.weights.read_weights_file`), so a file from an untrusted source
    cannot run code. A checkpoint dict holding the weights under ``'model'`` or ``'state_dict'``
    is unwrapped, and the ``module.`` / ``_orig_mod.`` prefixes that DistributedDataParallel and
    ``torch.compile`` add to every key are removed.

    Args:
        path: the file.

    Returns:
        The state dict (tensors on the CPU).

    Raises:
        FileNotFoundError: no such file.
        PretrainedWeightsError: the file cannot be read as weights, or needs code to be run.

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, 'w.pt')
        ...     torch.save({'model': nn.Linear(2, 3).state_dict(), 'epoch': 4}, path)
        ...     sorted(read_state_dict(path))
        ['bias', 'weight']
    """
    return _read(path).state


def _read(path: str | os.PathLike[str]) -> WeightsFile:
    try:
        return read_weights_file(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"pretrained weights file not found: {str(path)!r}") from None
    except (ValueError, ImportError) as err:  # UnsafeWeightsError is a ValueError
        raise PretrainedWeightsError(str(err)) from err


def _url_check(url: str) -> tuple[str, str | None]:
    """Split ``url#sha256=HEX`` and find the hash to check (fragment, else file-name prefix)."""
    base, _, fragment = url.partition("#")
    if fragment:
        key, _, value = fragment.partition("=")
        if key.lower() != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{8,64}", value):
            raise PretrainedWeightsError(
                f"pretrained={url!r}: the part after '#' must be sha256=<8 to 64 hex digits>"
            )
        return base, value.lower()
    match = _NAME_HASH.search(base.rsplit("/", 1)[-1])
    return base, match[1] if match else None


def _resolve(pretrained: object, model_name: str) -> tuple[WeightsFile, dict[str, Any]]:
    """Read the weights ``pretrained`` names; returns them and a description of the source."""
    entry: WeightsEntry | None = None
    if isinstance(pretrained, WeightsEntry):
        entry = pretrained
    elif pretrained is True or (
        isinstance(pretrained, str) and "://" not in pretrained and not _looks_like_path(pretrained)
    ):
        try:
            entry = get_weights(model_name, pretrained)
        except UnknownWeightsError as err:
            raise PretrainedWeightsError(f"pretrained={pretrained!r}: {err}") from None
    if entry is not None:
        if not entry.loadable:
            loadable = ", ".join(repr(n) for n in list_weights(entry.model)) or "none"
            raise PretrainedWeightsError(
                f"pretrained={entry.name!r}: {entry.model}.{entry.name} is listed for reference "
                f"only: {entry.note} (loadable entries for {entry.model!r}: {loadable})"
            )
        path = download_weights(entry.url, sha256=entry.sha256, md5=entry.md5)
        found = _read(path)
        info = {
            "source": f"{entry.model}.{entry.name}",
            "url": entry.url,
            "file": str(path),
            "source_format": entry.source_format,
            "categories": list(entry.categories) if entry.categories else None,
            "preprocessing": entry.preprocessing.to_dict(),
            "metrics": entry.metrics,
            "verified": entry.verified,
            "note": entry.note,
        }
        return found, info
    if isinstance(pretrained, str) and "://" in pretrained:
        url, sha256 = _url_check(pretrained)
        path = download_weights(url, sha256=sha256)
        return _read(path), {"source": url, "url": url, "file": str(path)}
    if isinstance(pretrained, (str, os.PathLike)):
        return _read(pretrained), {"source": str(pretrained), "file": str(pretrained)}
    if isinstance(pretrained, Mapping) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in pretrained.items()
    ):
        return WeightsFile(dict(pretrained), "state_dict"), {"source": "state dict"}
    raise TypeError(
        "pretrained must be False/None, True, a weights name (see list_weights()), a "
        "WeightsEntry, a URL, a path to a weights file (str or os.PathLike), or a state dict; "
        f"got {pretrained!r} of type {type(pretrained).__name__}"
    )


def _module_name(model: nn.Module, target: nn.Module) -> str | None:
    for name, module in model.named_modules():
        if module is target and name:
            return name
    return None


def _classifier_prefix(model: nn.Module) -> str | None:
    """``'fc.'``, ``'classifier.6.'``, ...: the prefix of the last layer's keys
    (``get_classifier()``); None without one (or an ``nn.Identity`` that is not in the model)."""
    get = getattr(model, "get_classifier", None)
    if not callable(get):
        return None
    name = _module_name(model, get())
    return name + "." if name else None


def _head_prefixes(model: nn.Module) -> tuple[str, ...]:
    """The prefixes of the network's head: its classifier and, for a network with
    ``feature_info``, every top-level sub-module registered after the one that holds the last
    stage (pooling, hidden classifier layers, auxiliary heads)."""
    prefixes = []
    classifier = _classifier_prefix(model)
    if classifier:
        prefixes.append(classifier)
    stages = getattr(model, "feature_info", None)
    if isinstance(stages, (list, tuple)) and stages:
        last = getattr(stages[-1], "module", None)
        children = [name for name, _ in model.named_children()]
        top = last.split(".", 1)[0] if isinstance(last, str) else None
        if top in children:
            prefixes += [f"{name}." for name in children[children.index(top) + 1 :]]
    return tuple(prefixes)


def _linear_layout(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> str | None:
    """What the 2-D weights that can tell (not square) say of the layout: ``'paddle'`` (all the
    transpose of the network's), ``'torch'`` (all as the network's), ``'mixed'``, or None."""
    transposed = same = 0
    for key, value in state.items():
        want = expected.get(key)
        if key.rsplit(".", 1)[-1] != "weight" or value.dim() != 2 or want is None:
            continue
        rows, cols = value.shape
        if rows == cols or want.dim() != 2:
            continue
        if tuple(want.shape) == (rows, cols):
            same += 1
        elif tuple(want.shape) == (cols, rows):
            transposed += 1
    if transposed and same:
        return "mixed"
    return "paddle" if transposed else "torch" if same else None


def _square_linears_only(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> bool:
    """True when the state dict has square 2-D weights that fit the network and no BatchNorm
    statistics of PyTorch's: nothing tells PyTorch's layout from Paddle's."""
    if any(k.endswith(("running_mean", "num_batches_tracked")) for k in state):
        return False
    return any(
        k.rsplit(".", 1)[-1] == "weight"
        and v.dim() == 2
        and v.shape[0] == v.shape[1]
        and k in expected
        and v.shape == expected[k].shape
        for k, v in state.items()
    )


_PADDLE_HINT = (
    "if these are Paddle weights (Linear weights stored [in, out]), convert them first: "
    "pretrained=convert_state_dict(state, source='paddle') "
    "(from resvision.models.weights import convert_state_dict)"
)


def _fit(
    model: nn.Module, state: Mapping[str, torch.Tensor], source: str, guessed: bool = False
) -> dict[str, Any]:
    """Load ``state`` into ``model``, leaving out the layers of its head that do not fit.

    ``guessed``: the key layout was detected, not given (a failure then says how to give it).
    """
    expected = model.state_dict()
    head = _head_prefixes(model)
    children = {name for name, _ in model.named_children()}
    # A network built without a classifier lacks whole modules of the head (AlexNet's _fc6,
    # GoogLeNet's auxiliary heads): a key of a module it does not have at all is part of the
    # head when it comes after every key of the network's body in the file. A network with a
    # classifier has all its head: such a key is an error there.
    get_classifier = getattr(model, "get_classifier", None)
    headless = callable(get_classifier) and not any(True for _ in get_classifier().parameters())
    body_positions = [
        i for i, k in enumerate(state) if not k.startswith(head) and k.split(".", 1)[0] in children
    ]
    last_body = max(body_positions, default=-1)

    def in_head(key: str) -> bool:
        return bool(head) and key.startswith(head)

    def in_file_head(index: int, key: str) -> bool:
        absent = key.split(".", 1)[0] not in children
        return in_head(key) or (headless and absent and index > last_body)

    def optional(key: str) -> bool:
        return key.rsplit(".", 1)[-1] in _OPTIONAL_BUFFERS

    file_head = {k for i, k in enumerate(state) if in_file_head(i, k)}
    # A 2-D weight stored transposed is another layout, not another head: never skipped. (A
    # class count cannot transpose a layer: its input width stays the network's.)
    transposed = [
        k
        for k in expected
        if guessed
        and k in state
        and state[k].dim() == 2
        and state[k].shape[0] != state[k].shape[1]
        and state[k].t().shape == expected[k].shape
    ]
    body_missing = [k for k in expected if k not in state and not in_head(k) and not optional(k)]
    body_unexpected = [
        k for k in state if k not in expected and k not in file_head and not optional(k)
    ]
    mis_shaped = [
        k
        for k in expected
        if k in state
        and (not in_head(k) or k in transposed)
        and state[k].shape != expected[k].shape
    ]
    problems = []
    for label, keys in (
        ("missing keys", body_missing),
        ("unexpected keys", body_unexpected),
        (
            "shape mismatches",
            [
                f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                for k in mis_shaped
            ],
        ),
    ):
        if keys:
            shown = ", ".join(keys[:10]) + (", ..." if len(keys) > 10 else "")
            problems.append(f"{len(keys)} {label}: {shown}")
    if problems:
        hint = ""
        if not any(k in state for k in expected):
            hint = " (no key matches: are these weights of another architecture?)"
        if transposed:
            hint += f"; {transposed[0]} is stored transposed: {_PADDLE_HINT}"
        raise PretrainedWeightsError(
            f"weights in {source} do not fit the model{hint}: " + "; ".join(problems)
        )
    loadable = {k: v for k, v in state.items() if k in expected and v.shape == expected[k].shape}
    model.load_state_dict(loadable, strict=False)
    skipped = sorted(k for k in state if k not in loadable and not optional(k))
    head_missing = sorted(
        k for k in expected if in_head(k) and k not in loadable and not optional(k)
    )
    reinitialized = bool(skipped or head_missing)
    classifier = _classifier_prefix(model)
    classifier_keys = [k for k in expected if classifier and k.startswith(classifier)]
    if any(k not in loadable for k in classifier_keys) and callable(
        getattr(model, "reset_classifier", None)
    ):
        # A fresh last layer, whatever the model held before: fine-tuning starts from the
        # backbone (and from the hidden head layers that fit). A network built without a
        # classifier has none to refresh, and must keep returning what it returns.
        model.reset_classifier(model.num_classes)
    reasons = {
        k: (
            f"file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
            if k in expected
            else "not in this network"
        )
        for k in skipped
    }
    return {
        "loaded_keys": len(loadable),
        "skipped_keys": skipped,
        "skipped_reasons": reasons,
        "missing_keys": sorted(k for k in expected if k not in loadable),
        "head_reinitialized": reinitialized,
    }


def load_pretrained(model: nn.Module, pretrained: object, *, model_name: str) -> nn.Module:
    """Load the weights that ``pretrained`` names into ``model`` (in place).

    See the module docstring for every accepted value of ``pretrained``.

    Args:
        model: the freshly built model.
        pretrained: False/None (nothing to load), True, a weights name, a URL, a path or a
            state dict.
        model_name: the registered name of the model (where weight names are looked up). It
            is also recorded as ``model.model_name`` when it is a registered name and the
            model carries none yet, so that the registry, and the checkpoints of a run, name
            the network that was built (``vgg16(batch_norm=True)`` loads, and is,
            ``'vgg16_bn'``).

    Returns:
        ``model``, with ``model.pretrained_cfg`` describing what was loaded.

    Raises:
        TypeError: ``pretrained`` is of none of the accepted types.
        FileNotFoundError: ``pretrained`` is a path to a file that does not exist.
        PretrainedWeightsError: an unknown weights name, an unreadable or unsafe file, or
            weights that do not fit the model (other than its head), or an entry listed for
            reference only (``loadable=False``: weights of another network).
        WeightsDownloadError: the file could not be downloaded (the message says where to put
            it by hand); WeightsHashMismatchError: the download had another hash (deleted).

    Examples:
        >>> net = load_pretrained(nn.Linear(2, 2), False, model_name='demo')
        >>> from resvision.models import resnet20
        >>> source = resnet20(num_classes=10)
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter('always')
        ...     net = resnet20(num_classes=2, pretrained=source.state_dict())
        >>> net.pretrained_cfg['skipped_keys']
        ['fc.bias', 'fc.weight']
        >>> print(caught[0].message)  # doctest: +ELLIPSIS
        fine-tuning resnet20: the classifier of state dict does not fit ...
    """
    _name(model, model_name)
    if pretrained is None or pretrained is False:
        return model
    found, info = _resolve(pretrained, model_name)
    return _apply(model, found, info, model_name)


def _name(model: nn.Module, model_name: str) -> None:
    """Record the registered name ``model_name`` as ``model.model_name`` if it has none."""
    from resvision.models.registry import list_models

    if not getattr(model, "model_name", None) and model_name in list_models():
        model.model_name = model_name


def _convert(found: WeightsFile, info: dict[str, Any], model: nn.Module) -> tuple[dict, str, bool]:
    """``found``'s tensors in resvision's layout: ``(state, source format, guessed)``.

    The layout is the entry's or the file's when they say; otherwise the key names tell it, and
    for weights without Paddle's BatchNorm names the shapes of the 2-D weights against ``model``
    (Paddle stores Linear weights ``[in, out]``).
    """
    given = "paddle" if found.file_format == "paddle" else info.get("source_format")
    source_format = given or detect_source_format(found.state)
    try:
        state = convert_state_dict(found.state, source=source_format)
        if given is None and source_format != "paddle":
            expected = model.state_dict()
            layout = _linear_layout(state, expected)
            if layout == "paddle":
                source_format = "paddle"
                state = convert_state_dict(found.state, source="paddle")
            elif (
                layout is None
                and "model" not in found.meta
                and _square_linears_only(state, expected)
            ):
                warnings.warn(
                    PretrainedLayoutWarning(
                        f"{info['source']}: every linear weight is square, so its layout cannot "
                        "be told: loaded as PyTorch's [out, in]; " + _PADDLE_HINT + "; if they "
                        "are PyTorch's, nothing is wrong (warnings.simplefilter('ignore', "
                        "PretrainedLayoutWarning) silences this)"
                    ),
                    stacklevel=6,  # _convert <- _apply <- load_pretrained <- helper <- builder
                )
    except ValueError as err:
        raise PretrainedWeightsError(f"{info['source']}: {err}") from err
    return state, source_format, given is None


def _apply(
    model: nn.Module, found: WeightsFile, info: dict[str, Any], model_name: str
) -> nn.Module:
    """Convert, fit and describe weights already read (the second half of load_pretrained)."""
    info = dict(info)
    state, source_format, guessed = _convert(found, info, model)
    try:
        report = _fit(model, state, repr(info["source"]), guessed=guessed)
    except PretrainedWeightsError as err:
        if info.get("verified") is False:
            raise PretrainedWeightsError(
                f"{err} (the registered entry {info['source']} has not been verified: "
                f"{info.get('note')}; please report it)"
            ) from None
        raise
    categories = info.get("categories", found.meta.get("categories"))
    preprocessing = info.get("preprocessing", found.meta.get("preprocessing"))
    head_loaded = not report["head_reinitialized"]
    model.pretrained_cfg = {  # type: ignore[assignment]
        "model": model_name,
        "source": info["source"],
        "url": info.get("url"),
        "file": info.get("file"),
        "file_format": found.file_format,
        "source_format": source_format,
        "num_classes": getattr(model, "num_classes", None),
        "categories": list(categories) if categories and head_loaded else None,
        "preprocessing": dict(preprocessing) if preprocessing else None,
        "metrics": info.get("metrics", {}) if head_loaded else {},
        **({"verified": info["verified"], "note": info.get("note")} if "verified" in info else {}),
        **report,
    }
    if report["head_reinitialized"]:
        reasons = report["skipped_reasons"]
        absent = [k for k in report["skipped_keys"] if k not in report["missing_keys"]]
        reshaped = [f"{k} {reasons[k]}" for k in report["skipped_keys"] if k not in absent]
        details = "; ".join(
            part
            for part in (
                f"not in this network: {', '.join(absent)}" if absent else "",
                f"another shape: {', '.join(reshaped)}" if reshaped else "",
            )
            if part
        )
        head = _head_prefixes(model)
        fresh = [
            k
            for k in report["missing_keys"]
            if head
            and k.startswith(head)
            and k not in reasons
            and not k.endswith(_OPTIONAL_BUFFERS)
        ]
        warnings.warn(
            PretrainedHeadSkippedWarning(
                f"fine-tuning {model_name}: the classifier of {info['source']} does not fit "
                f"num_classes={getattr(model, 'num_classes', '?')}; loaded the other "
                f"{report['loaded_keys']} tensors, re-initialised the classifier, skipped "
                f"keys: {', '.join(report['skipped_keys']) or 'none'}"
                + (f" ({details})" if details else "")
                + (f"; not in the file, initialised here: {', '.join(fresh)}" if fresh else "")
            ),
            stacklevel=5,  # _apply <- load_pretrained <- family helper <- constructor <- caller
        )
    return model


def create_model_from_weights(
    pretrained: object, model_name: str | None = None, **kwargs: Any
) -> nn.Module:
    """Build the model that weights are for, with as many classes as their classifier has.

    ``pretrained`` is anything :func:`load_pretrained` takes. The model name comes from
    ``model_name``, else from the file (checkpoints of ``resvision train`` name their model).

    Args:
        pretrained: the weights.
        model_name: the registered model name; None: the one the file names.
        **kwargs: more constructor arguments (``num_classes`` is taken from the weights).

    Returns:
        The model with the weights loaded and ``pretrained_cfg`` set.

    Raises:
        PretrainedWeightsError: no model name is known, or the weights do not fit it.

    Examples:
        >>> from resvision.models import resnet20
        >>> net = create_model_from_weights(resnet20(num_classes=3).state_dict(), 'resnet20')
        >>> net.num_classes
        3
    """
    from resvision.models.registry import create_model

    if model_name is None and (
        pretrained is True
        or (
            isinstance(pretrained, str)
            and "://" not in pretrained
            and not _looks_like_path(pretrained)
        )
    ):
        raise PretrainedWeightsError(
            f"pretrained={pretrained!r} names registered weights: give the model name too"
        )
    found, info = _resolve(pretrained, model_name or "")
    name = model_name or found.meta.get("model")
    if not name:
        raise PretrainedWeightsError(
            f"{info['source']} does not say which model it holds (checkpoints of `resvision "
            "train` do): give the model name, e.g. model_name='resnet50'"
        )
    with torch.device("meta"):  # names and shapes only: no memory, no initialisation
        shape_only = create_model(name)
    prefix = _classifier_prefix(shape_only)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PretrainedLayoutWarning)  # said again when loading
        state, _, _ = _convert(found, info, shape_only)
    weight = state.get(f"{prefix}weight") if prefix else None
    if weight is not None and weight.dim() >= 2:  # Linear [out, in]; a 1x1 conv [out, in, 1, 1]
        kwargs["num_classes"] = int(weight.shape[0])
    elif prefix and not any(k.startswith(prefix) for k in state):
        kwargs["num_classes"] = 0  # weights without a classifier: Paddle's num_classes <= 0
    model = create_model(name, **kwargs)
    return _apply(model, found, info, name)
