"""TorchScript: trace, store the metadata as an extra file, load back.

PyTorch deprecates TorchScript in favour of ``torch.export``; it is kept here because LibTorch
(C++) deployments still load ``.pt`` TorchScript files. The deprecation warnings of our own
calls are silenced; a batch of any size runs (convolutional classifiers trace without
batch-size-specific shapes).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

#: The extra file of a TorchScript archive that holds resvision's metadata (JSON).
EXTRA_FILE = "resvision.json"


def write_torchscript(
    model: nn.Module, sample: torch.Tensor, path: Path, metadata: Mapping[str, str]
) -> None:
    """Trace ``model`` on ``sample`` and save it with ``metadata`` as ``resvision.json``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, sample, check_trace=False)
        extra = {EXTRA_FILE: json.dumps(dict(metadata)).encode()}
        torch.jit.save(traced, str(path), _extra_files=extra)


def _load(path: Path, extra: dict[str, bytes | str]) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path), map_location="cpu", _extra_files=extra)


def run_torchscript(path: Path, batch: torch.Tensor) -> list[np.ndarray]:
    """The outputs of the TorchScript file at ``path`` for ``batch``, in order."""
    module = _load(path, {})
    with torch.no_grad():
        output = module(batch)
    outputs = output if isinstance(output, (list, tuple)) else [output]
    return [o.numpy() for o in outputs]


def read_torchscript_metadata(path: str | Path) -> dict[str, str]:
    """The metadata :func:`write_torchscript` stored (``{}`` when there is none)."""
    extra: dict[str, bytes | str] = {EXTRA_FILE: ""}
    _load(Path(path), extra)
    raw = extra[EXTRA_FILE]
    return json.loads(raw) if raw else {}
