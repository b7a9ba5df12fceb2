"""Where training runs: choosing the device and moving batches onto it.

The device is chosen by itself (CUDA, then Apple MPS, then CPU) or given by the user in any of
the spellings people bring with them: ``'cuda:1'``, ``torch.device('cpu')``, a GPU index, or
Paddle's ``'gpu'`` / ``'gpu:1'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

DeviceLike = str | int | torch.device | None


def resolve_device(device: DeviceLike = None) -> torch.device:
    """Return the ``torch.device`` to train on.

    Args:
        device: None or ``'auto'`` picks CUDA when available, then MPS, then CPU. A string
            (``'cpu'``, ``'cuda'``, ``'cuda:1'``, ``'mps'``, or Paddle's ``'gpu'`` / ``'gpu:1'``),
            a ``torch.device`` or a CUDA device index.

    Returns:
        The device. A bare ``'cuda'`` becomes ``cuda:<current device>`` so that comparisons
        with tensors' devices work.

    Raises:
        ValueError: the string is not a device name, or the device is not available here.
        TypeError: ``device`` is of another type.

    Examples:
        >>> resolve_device("cpu")
        device(type='cpu')
        >>> resolve_device(None).type in ("cuda", "mps", "cpu")
        True
    """
    if device is None or (isinstance(device, str) and device.lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise TypeError(
            f"device must be None, 'auto', a device name, a torch.device or a CUDA index, "
            f"got {type(device).__name__}"
        )
    given = str(device)  # named in errors as the user spelled it
    if isinstance(device, int):
        device = torch.device("cuda", device)
    elif isinstance(device, str):
        name = device.strip().lower()
        if name == "gpu" or name.startswith("gpu:"):  # Paddle's spelling
            name = "cuda" + name[3:]
        try:
            device = torch.device(name)
        except RuntimeError as err:
            raise ValueError(
                f"unknown device {device!r}; expected 'auto', 'cpu', 'cuda', 'cuda:N', 'gpu', "
                "'gpu:N' or 'mps'"
            ) from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {given!r} was asked for, but CUDA is not available")
        index = torch.cuda.current_device() if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device {given!r} was asked for, but only {torch.cuda.device_count()} "
                "CUDA device(s) exist"
            )
        return torch.device("cuda", index)
    if device.type == "mps" and not _mps_available():
        raise ValueError("device 'mps' was asked for, but MPS is not available")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def move_to_device(obj: Any, device: torch.device, *, channels_last: bool = False) -> Any:
    """Move a batch (tensors, numpy arrays, or lists/tuples/dicts of them) onto ``device``.

    Copies are ``non_blocking``: from pinned CPU memory to CUDA they overlap with computation.
    Tensors already on ``device`` are returned as they are (no copy).

    Args:
        obj: A tensor, a numpy array, a number, or a (nested) list, tuple or mapping of them.
        device: The target device.
        channels_last: Give 4-d floating-point tensors the channels-last memory format.

    Returns:
        The same structure with every tensor and array on ``device``.

    Examples:
        >>> x, y = move_to_device((np.zeros((2, 3), "float32"), torch.tensor([1, 0])), "cpu")
        >>> x.dtype, y.device
        (torch.float32, device(type='cpu'))
    """
    if isinstance(obj, torch.Tensor):
        out = obj.to(device, non_blocking=True)
        if channels_last and out.dim() == 4 and out.is_floating_point():
            out = out.contiguous(memory_format=torch.channels_last)
        return out
    if isinstance(obj, np.ndarray):
        return move_to_device(torch.as_tensor(obj), device, channels_last=channels_last)
    if isinstance(obj, (list, tuple)):
        return type(obj)(move_to_device(o, device, channels_last=channels_last) for o in obj)
    if isinstance(obj, Mapping):
        return {k: move_to_device(v, device, channels_last=channels_last) for k, v in obj.items()}
    return obj


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (a no-op on CPU); used around timings."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
