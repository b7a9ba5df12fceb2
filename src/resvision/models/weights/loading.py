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

When the classifier of the weights does not fit the model (another ``num_classes``) the backbone
is loaded, the classifier is re-initialised, and the keys left out are reported: in a
:class:`PretrainedHeadSkippedWarning` and in ``model.pretrained_cfg['skipped_keys']``. Any other
mismatch is an error listing every missing, unexpected and mis-shaped key.

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
from .entries import UnknownWeightsError, WeightsEntry, get_weights
from .formats import WeightsFile, read_weights_file
from .hub import download_weights

__all__ = [
    "PretrainedHeadSkippedWarning",
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
    """The classifier of the weights did not fit the model and was left out (fine-tuning)."""


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


def _head_prefix(model: nn.Module) -> str | None:
    """``'fc.'``, ``'classifier.6.'``, ...: the prefix of the classifier's keys."""
    get = getattr(model, "get_classifier", None)
    if not callable(get):
        return None
    head = get()
    for name, module in model.named_modules():
        if module is head and name:
            return name + "."
    return None


def _fit(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> dict[str, Any]:
    """Load ``state`` into ``model``, leaving out only a classifier that does not fit."""
    expected = model.state_dict()
    head = _head_prefix(model)

    def in_head(key: str) -> bool:
        return head is not None and key.startswith(head)

    def optional(key: str) -> bool:
        return key.rsplit(".", 1)[-1] in _OPTIONAL_BUFFERS

    body_missing = [k for k in expected if k not in state and not in_head(k) and not optional(k)]
    body_unexpected = [k for k in state if k not in expected and not in_head(k) and not optional(k)]
    body_mis_shaped = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and not in_head(k) and state[k].shape != expected[k].shape
    ]
    problems = []
    for label, keys in (
        ("missing keys", body_missing),
        ("unexpected keys", body_unexpected),
        ("shape mismatches", body_mis_shaped),
    ):
        if keys:
            shown = ", ".join(keys[:10]) + (", ..." if len(keys) > 10 else "")
            problems.append(f"{len(keys)} {label}: {shown}")
    if problems:
        hint = ""
        if not any(k in state for k in expected):
            hint = " (no key matches: are these weights of another architecture?)"
        raise PretrainedWeightsError(
            f"weights in {source} do not fit the model{hint}: " + "; ".join(problems)
        )
    file_head = {k for k in state if in_head(k)}
    model_head = {k for k in expected if in_head(k)}
    head_fits = file_head == model_head and all(
        state[k].shape == expected[k].shape for k in model_head
    )
    loadable = {k: v for k, v in state.items() if k in expected and (head_fits or not in_head(k))}
    model.load_state_dict(loadable, strict=False)
    if not head_fits and callable(getattr(model, "reset_classifier", None)):
        # A fresh head, whatever the model held before: fine-tuning starts from the backbone.
        model.reset_classifier(model.num_classes)
    missing = [k for k in expected if k not in loadable]
    return {
        "loaded_keys": len(loadable),
        "skipped_keys": sorted(file_head) if not head_fits else [],
        "missing_keys": sorted(missing),
        "head_reinitialized": not head_fits,
    }


def load_pretrained(model: nn.Module, pretrained: object, *, model_name: str) -> nn.Module:
    """Load the weights that ``pretrained`` names into ``model`` (in place).

    See the module docstring for every accepted value of ``pretrained``.

    Args:
        model: the freshly built model.
        pretrained: False/None (nothing to load), True, a weights name, a URL, a path or a
            state dict.
        model_name: the registered name of the model (where weight names are looked up).

    Returns:
        ``model``, with ``model.pretrained_cfg`` describing what was loaded.

    Raises:
        TypeError: ``pretrained`` is of none of the accepted types.
        FileNotFoundError: ``pretrained`` is a path to a file that does not exist.
        PretrainedWeightsError: an unknown weights name, an unreadable or unsafe file, or
            weights that do not fit the model (other than its classifier).
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
    if pretrained is None or pretrained is False:
        return model
    found, info = _resolve(pretrained, model_name)
    return _apply(model, found, info, model_name)


def _apply(
    model: nn.Module, found: WeightsFile, info: dict[str, Any], model_name: str
) -> nn.Module:
    """Convert, fit and describe weights already read (the second half of load_pretrained)."""
    info = dict(info)
    source_format = info.pop("source_format", None)
    if found.file_format == "paddle":
        source_format = "paddle"
    source_format = source_format or detect_source_format(found.state)
    try:
        state = convert_state_dict(found.state, source=source_format)
    except ValueError as err:
        raise PretrainedWeightsError(f"{info['source']}: {err}") from err
    report = _fit(model, state, repr(info["source"]))
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
        **report,
    }
    if report["head_reinitialized"]:
        warnings.warn(
            PretrainedHeadSkippedWarning(
                f"fine-tuning {model_name}: the classifier of {info['source']} does not fit "
                f"num_classes={getattr(model, 'num_classes', '?')}; loaded the other "
                f"{report['loaded_keys']} tensors, re-initialised the classifier, skipped "
                f"keys: {', '.join(report['skipped_keys']) or 'none'}"
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
    with torch.device("meta"):  # the classifier's name only: no memory, no initialisation
        prefix = _head_prefix(create_model(name))
    source_format = "paddle" if found.file_format == "paddle" else info.get("source_format")
    state = convert_state_dict(found.state, source=source_format)
    weight = state.get(f"{prefix}weight") if prefix else None
    if weight is not None and weight.dim() == 2:
        kwargs["num_classes"] = int(weight.shape[0])
    model = create_model(name, **kwargs)
    return _apply(model, found, info, name)
