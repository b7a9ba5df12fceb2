"""The ``pretrained`` argument of every model constructor.

Every constructor ends with ``load_pretrained(model, pretrained, model_name=...)``, so weight
sources are handled in one place. What is accepted today:

- ``False`` / ``None``: keep the random initialisation;
- a path (``str`` or ``os.PathLike``) to a file that ``torch.load`` reads as a resvision / PyTorch
  state dict, or as a checkpoint dict holding one under ``'model'`` or ``'state_dict'``.

``True`` or a weight name (``'imagenet'``, a URL) are rejected with an error that says no
pretrained weights are registered offline yet. Converters from torchvision and Paddle names come
with the weight registry in a later version; they extend this module only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["PretrainedWeightsError", "load_pretrained", "read_state_dict"]

# A string with one of these endings, or with a path separator, is meant as a file path: a missing
# file is then reported as such instead of as an unknown weight name.
_FILE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar", ".pdparams", ".safetensors")
# Prefixes that wrappers add to every key: DistributedDataParallel and torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


class PretrainedWeightsError(ValueError):
    """The ``pretrained`` argument names weights that cannot be loaded."""


def _looks_like_path(value: str) -> bool:
    return (
        os.sep in value
        or "/" in value
        or value.lower().endswith(_FILE_SUFFIXES)
        or value.startswith(("~", "."))
    )


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state dict from a file written by ``torch.save``.

    Only tensors and plain containers are unpickled (``weights_only=True``), so a file from an
    untrusted source cannot run code. A checkpoint dict holding the weights under ``'model'`` or
    ``'state_dict'`` is unwrapped, and the ``module.`` / ``_orig_mod.`` prefixes that
    DistributedDataParallel and ``torch.compile`` add to every key are removed.

    Args:
        path: the file.

    Returns:
        The state dict (tensors on the CPU).

    Raises:
        FileNotFoundError: no such file.
        PretrainedWeightsError: the file cannot be read as a state dict.

    Examples:
        >>> import tempfile, os
        >>> from torch import nn
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, 'w.pt')
        ...     torch.save({'model': nn.Linear(2, 3).state_dict(), 'epoch': 4}, path)
        ...     sorted(read_state_dict(path))
        ['bias', 'weight']
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"pretrained weights file not found: {str(path)!r}")
    if file.suffix.lower() in (".pdparams", ".safetensors"):
        raise PretrainedWeightsError(
            f"{str(path)!r}: {file.suffix} files are not supported yet; accepted is a PyTorch "
            "state dict saved with torch.save (.pt/.pth)"
        )
    try:
        obj: Any = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a foreign or broken file
        raise PretrainedWeightsError(
            f"could not read {str(path)!r} as a PyTorch state dict (torch.load with "
            f"weights_only=True failed: {type(exc).__name__}: {exc})"
        ) from exc
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise PretrainedWeightsError(
            f"{str(path)!r} does not hold a state dict (a mapping of str to tensors, or a "
            f"checkpoint dict with one under 'model' or 'state_dict'); got {type(obj).__name__}"
        )
    state = dict(obj)
    for prefix in _WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _check_fits(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise one clear error listing every missing, unexpected and mis-shaped key."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    for label, keys in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("shape mismatches", mis_shaped),
    ):
        if keys:
            shown = ", ".join(keys[:10]) + (", ..." if len(keys) > 10 else "")
            problems.append(f"{len(keys)} {label}: {shown}")
    if problems:
        raise PretrainedWeightsError(
            f"weights in {source} do not fit the model: " + "; ".join(problems)
        )


def load_pretrained(model: nn.Module, pretrained: object, *, model_name: str) -> nn.Module:
    """Load the weights that ``pretrained`` names into ``model`` (in place).

    Args:
        model: the freshly built model.
        pretrained: ``False``/``None`` (nothing to load) or a path to a state-dict file.
        model_name: the registered name of the model, for error messages.

    Returns:
        ``model``.

    Raises:
        TypeError: ``pretrained`` is neither a bool, None, str nor path.
        FileNotFoundError: ``pretrained`` is a path to a file that does not exist.
        PretrainedWeightsError: ``pretrained`` is True or a weight name (none is registered
            yet), or the file does not fit the model (missing / unexpected / mis-shaped keys).

    Examples:
        >>> from torch import nn
        >>> net = load_pretrained(nn.Linear(2, 2), False, model_name='demo')
        >>> try:
        ...     load_pretrained(nn.Linear(2, 2), True, model_name='demo')
        ... except PretrainedWeightsError as err:
        ...     print(str(err)[:60])
        pretrained=True: no pretrained weights are registered for 'd
    """
    if pretrained is None or pretrained is False:
        return model
    if pretrained is True or (
        isinstance(pretrained, str) and "://" not in pretrained and not _looks_like_path(pretrained)
    ):
        raise PretrainedWeightsError(
            f"pretrained={pretrained!r}: no pretrained weights are registered for {model_name!r} "
            "(none are available offline in this version); pass a path to a local state-dict "
            "file (torch.save(model.state_dict(), 'weights.pt')), or pretrained=False"
        )
    if isinstance(pretrained, str) and "://" in pretrained:
        raise PretrainedWeightsError(
            f"pretrained={pretrained!r}: downloading weights is not supported in this version; "
            "download the file yourself and pass its local path"
        )
    if not isinstance(pretrained, (str, os.PathLike)):
        raise TypeError(
            f"pretrained must be False, None, or a path to a state-dict file (str or "
            f"os.PathLike), got {pretrained!r} of type {type(pretrained).__name__}"
        )
    state = read_state_dict(pretrained)
    _check_fits(model, state, repr(str(pretrained)))
    model.load_state_dict(state, strict=True)
    return model
