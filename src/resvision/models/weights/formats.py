"""Reading and writing weight files safely, whatever wrote them; the format is found by content.

Read (:func:`read_weights_file`):

- ``torch.save`` files (zip, or the legacy pickle format) through ``torch.load(weights_only=True)``:
  only tensors and plain containers are rebuilt. That covers resvision checkpoints (the engine's
  one-file dict, weights under ``'model'``), plain state dicts, torchvision and timm files.
- safetensors files (``pip install safetensors``): raw tensors and a string header, no code.
- Paddle ``.pdparams``: a pickled dict of NumPy arrays. Read by an unpickler that can build only
  NumPy arrays, dtypes and plain containers; any other global in the stream (a function, a
  class with a ``__reduce__`` payload) stops the read before it is called.

A file that needs anything else is refused with :class:`UnsafeWeightsError`, which says what it
asked for. Nothing in a weights file is executed.

Write (:func:`save_weights`): a state dict in resvision, torchvision or Paddle layout, as a
``torch.save`` file, a safetensors file or a Paddle ``.pdparams`` file (chosen by suffix), written
atomically.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import re
import struct
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from resvision.atomic import atomic_write

__all__ = ["UnsafeWeightsError", "WeightsFile", "read_weights_file", "save_weights"]

# The first object of a legacy (non-zip) torch.save file: torch's magic number.
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_ZIP_MAGIC = b"PK\x03\x04"
# Containers other tools put a state dict in, tried in order.
_STATE_KEYS = ("model", "state_dict", "model_state_dict", "model_state", "net", "params")
# Wrapper prefixes on every key: DistributedDataParallel and torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
#: The key under which resvision's writer stores metadata (categories, preprocessing).
META_KEY = "resvision.pretrained_cfg"


class UnsafeWeightsError(ValueError):
    """A weights file needs code to be run to be read; it was refused (nothing was executed)."""


@dataclass
class WeightsFile:
    """What :func:`read_weights_file` found.

    Attributes:
        state: the tensors by name, wrapper prefixes removed.
        file_format: ``'torch'``, ``'torch-legacy'``, ``'safetensors'`` or ``'paddle'``.
        meta: extra information the file carries: ``categories`` / ``preprocessing`` stored by
            resvision's writer or by ``resvision train`` (which also stores ``model``, the
            registered name), and ``container`` (the key the weights were under, e.g.
            ``'model'``).
    """

    state: dict[str, torch.Tensor]
    file_format: str
    meta: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ Paddle's NumPy pickles
def _numpy_core(submodule: str) -> Any:
    import importlib

    try:  # NumPy 2 moved numpy.core to numpy._core; files written by both exist
        return importlib.import_module(f"numpy._core.{submodule}")
    except ImportError:
        return importlib.import_module(f"numpy.core.{submodule}")


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    # Protocol-2 pickles store bytes as latin-1 text passed through _codecs.encode; nothing else
    # is accepted, so the codec registry cannot be steered to other encodings.
    if encoding.replace("-", "").lower() != "latin1":
        raise UnsafeWeightsError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1", errors)


def _allowed_globals() -> dict[tuple[str, str], Any]:
    multiarray = _numpy_core("multiarray")
    numeric = _numpy_core("numeric")
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("collections", "OrderedDict"): OrderedDict,
        ("_codecs", "encode"): _latin1_encode,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds NumPy arrays and plain containers; any other global is refused before use."""

    def __init__(self, file: Any) -> None:
        super().__init__(file, encoding="latin1")
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafeWeightsError(
                f"the file asks to run {module}.{name} while being read; a weights file only "
                "needs NumPy arrays (Paddle) or tensors (PyTorch), so it was refused and nothing "
                "was executed"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeWeightsError("the pickle refers to external objects; refused")


def _unpickle_numpy(raw: bytes, path: str) -> Any:
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(raw)).load()
    except UnsafeWeightsError as err:
        raise UnsafeWeightsError(f"{path!r}: {err}") from None
    except Exception as err:  # a truncated or foreign pickle
        raise ValueError(f"{path!r} is not a readable pickle of arrays: {err}") from err


def _arrays_to_tensors(obj: Mapping[Any, Any], path: str) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray):
            continue  # Paddle's "StructuredToParameterName@@" name table, optimizer scalars
        if value.dtype.kind not in "biufc":
            raise UnsafeWeightsError(
                f"{path!r}: array {key!r} has dtype {value.dtype}; weights are numeric arrays"
            )
        state[key] = torch.from_numpy(np.array(value, copy=True))
    return state


# ------------------------------------------------------------------ torch and safetensors
def _torch_load(path: Path, legacy: bool) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        asked = re.search(r"GLOBAL ([\w.]+)", str(err))
        detail = f" (it asks for {asked[1]})" if asked else ""
        raise UnsafeWeightsError(
            f"{str(path)!r} holds Python objects that only arbitrary code could rebuild{detail}; "
            "it was refused and nothing was executed. Weights files hold tensors only: if you "
            "trust its source, load it yourself (torch.load(path, weights_only=False)) and pass "
            "the state dict as pretrained="
        ) from None
    except Exception as err:
        kind = "legacy torch.save" if legacy else "torch.save (zip)"
        raise ValueError(f"could not read {str(path)!r} as a {kind} file: {err}") from err


def _is_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= size - 8 and head[8:9] == b"{"


def _read_safetensors(path: Path) -> WeightsFile:
    try:
        from safetensors import safe_open
    except ImportError:
        raise ImportError(
            f"{str(path)!r} is a safetensors file; reading it needs the safetensors package "
            "(pip install 'resvision[safetensors]')"
        ) from None
    state: dict[str, torch.Tensor] = {}
    with safe_open(str(path), framework="pt", device="cpu") as f:
        header = f.metadata() or {}
        for key in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
            state[key] = f.get_tensor(key)
    meta: dict[str, Any] = {}
    if META_KEY in header:
        with contextlib.suppress(ValueError):
            meta.update(json.loads(header[META_KEY]))
    return WeightsFile(state, "safetensors", meta)


def _run_description(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Categories and preprocessing that ``resvision train`` stores in its checkpoints."""
    for state in (obj.get("callbacks") or {}).values():
        if isinstance(state, Mapping) and isinstance(state.get("classes"), list):
            meta: dict[str, Any] = {"categories": [str(c) for c in state["classes"]]}
            if isinstance(state.get("model"), str):
                meta["model"] = state["model"]
            pre = state.get("preprocess")
            if isinstance(pre, Mapping) and pre.get("mean") and pre.get("std"):
                meta["preprocessing"] = {
                    "resize": pre.get("resize") or pre.get("size"),
                    "crop": pre.get("size"),
                    "mean": list(pre["mean"]),
                    "std": list(pre["std"]),
                    "interpolation": "bilinear",
                }
            return meta
    return {}


def _unwrap(obj: Any, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The state dict inside a checkpoint-like object, and what else it says."""
    meta: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        if isinstance(obj.get(META_KEY), Mapping):
            meta.update(obj[META_KEY])
        meta.update(_run_description(obj))
        for key in _STATE_KEYS:
            if isinstance(obj.get(key), Mapping):
                meta["container"] = key
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise ValueError(
            f"{path!r} holds no state dict (a mapping of names to tensors, or a checkpoint "
            f"with one under {', '.join(repr(k) for k in _STATE_KEYS)}); got {type(obj).__name__}"
        )
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(
            f"{path!r}: entries {bad[:5]} are not tensors; a state dict maps names to tensors"
        )
    return dict(obj), meta


def _strip_wrappers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in _WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def read_weights_file(path: str | os.PathLike[str]) -> WeightsFile:
    """Read a weights file of any supported format, without running code from it.

    Args:
        path: the file.

    Returns:
        The tensors, the detected file format and the metadata found.

    Raises:
        FileNotFoundError: no such file.
        UnsafeWeightsError: the file needs code to be run to be read (refused).
        ValueError: not a weights file of a known format, or no state dict inside.
        ImportError: a safetensors file without the safetensors package.

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = Path(d, 'w.pt')
        ...     torch.save({'model': {'fc.weight': torch.ones(2, 3)}, 'epoch': 3}, p)
        ...     w = read_weights_file(p)
        >>> w.file_format, list(w.state), w.meta['container']
        ('torch', ['fc.weight'], 'model')
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"weights file not found: {str(path)!r}")
    size = file.stat().st_size
    with open(file, "rb") as f:
        head = f.read(16)
    name = str(path)
    if head.startswith(_ZIP_MAGIC):
        state, meta = _unwrap(_torch_load(file, legacy=False), name)
        return WeightsFile(_strip_wrappers(state), "torch", meta)
    if _is_safetensors(head, size):
        found = _read_safetensors(file)
        found.state = _strip_wrappers(found.state)
        return found
    if head[:1] != b"\x80":
        raise ValueError(
            f"{name!r} is not a weights file of a known format (torch.save .pt/.pth, "
            f"safetensors, Paddle .pdparams); its first bytes are {head[:8]!r}"
        )
    first = _unpickle_numpy(file.read_bytes(), name)
    if first == _TORCH_LEGACY_MAGIC:
        state, meta = _unwrap(_torch_load(file, legacy=True), name)
        return WeightsFile(_strip_wrappers(state), "torch-legacy", meta)
    if isinstance(first, Mapping):
        state = _arrays_to_tensors(first, name)
        if not state:
            raise ValueError(f"{name!r} is a pickled dict without arrays; no weights in it")
        return WeightsFile(_strip_wrappers(state), "paddle", {})
    raise ValueError(f"{name!r} is a pickle of a {type(first).__name__}, not of weights")


# ------------------------------------------------------------------ writing
def _atomic_write(path: Path, write: Any) -> Path:
    with atomic_write(path) as f:
        write(f)
    return path


def save_weights(
    weights: nn.Module | Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    *,
    layout: str = "resvision",
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write a model's weights for resvision, torchvision or Paddle; the suffix picks the format.

    ``.safetensors``: safetensors (``meta`` as JSON in its header); ``.pdparams``: a pickled
    dict of NumPy arrays as ``paddle.save`` writes it (``paddle.load`` reads it); anything else:
    ``torch.save`` of the plain state dict, so ``net.load_state_dict(torch.load(path))`` works
    in the target library as it is.

    Args:
        weights: a resvision model or its state dict (resvision layout).
        path: the file to write (atomically).
        layout: key layout of the file, one of ``'resvision'``, ``'torchvision'``, ``'paddle'``
            (``paddle.vision.models``) or ``'paddle_tutorial'`` (the tutorial's Paddle ResNet).
        meta: JSON-ready metadata stored in safetensors headers; default: the model's
            ``pretrained_cfg`` categories and preprocessing, when it has them.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ValueError: an unknown layout, or one that cannot hold this model.
        ImportError: a ``.safetensors`` path without the safetensors package.

    Examples:
        >>> import tempfile
        >>> from resvision.models import resnet18
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = save_weights(resnet18(), Path(d, 'r18.pdparams'), layout='paddle')
        ...     w = read_weights_file(p)
        >>> w.file_format, tuple(w.state['fc.weight'].shape), 'bn1._mean' in w.state
        ('paddle', (512, 1000), True)
    """
    from .convert import convert_state_dict

    if isinstance(weights, nn.Module):
        cfg = getattr(weights, "pretrained_cfg", None) or {}
        if meta is None and (cfg.get("categories") or cfg.get("preprocessing")):
            meta = {k: cfg.get(k) for k in ("categories", "preprocessing")}
        weights = weights.state_dict()
    state = convert_state_dict(weights, source="resvision", target=layout)
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            from safetensors.torch import save as st_save
        except ImportError:
            raise ImportError(
                "writing .safetensors needs the safetensors package "
                "(pip install 'resvision[safetensors]')"
            ) from None
        header = {META_KEY: json.dumps(dict(meta))} if meta else None
        data = st_save(tensors, metadata=header)
        return _atomic_write(path, lambda f: f.write(data))
    if suffix == ".pdparams":
        arrays: dict[str, Any] = {k: v.numpy() for k, v in tensors.items()}
        arrays["StructuredToParameterName@@"] = {k: k for k in tensors}
        return _atomic_write(path, lambda f: pickle.dump(arrays, f, protocol=4))
    return _atomic_write(path, lambda f: torch.save(tensors, f))
