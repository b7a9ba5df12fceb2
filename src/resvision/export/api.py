"""``export``: write a model as ONNX or TorchScript, then prove the file computes what it should.

The file is written beside its destination under a temporary name, loaded back with ONNX Runtime
(or TorchScript), and run on a seeded sample batch of each size in ``check_batch_sizes``; only
when every output is within ``atol`` of eager PyTorch is it moved into place. Otherwise
:class:`ExportVerificationError` says by how much they differ, and nothing is left at ``path``.

The file computes what :meth:`resvision.Model.predict` gives. For a network with auxiliary
outputs, which declares them by a ``loss_weights`` attribute (GoogLeNet returns ``(out, aux1,
aux2)`` as Paddle's does, in evaluation too), that is the main output alone, one ``logits``
tensor ``[N, classes]``: the auxiliary classifiers regularise training and are dead weight in
deployment (39% of GoogLeNet's parameters), and a deployment expects one score per class from a
classifier, as torchvision's GoogLeNet gives in evaluation and as PaddleClas's export wrapper does
(it keeps ``output[0]`` of a network that returns a list). Paddle's own ``paddle.jit.save`` of
the bare network keeps all three; ``net.loss_weights = None`` on the instance gives that form
here, every output exported and checked (``logits``, ``output_1``, ...), as for any other network
that returns several tensors.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resvision.atomic import atomic_path

from . import onnx as onnx_format
from . import torchscript as ts_format

__all__ = ["FORMATS", "ExportResult", "ExportVerificationError", "export"]

FORMATS = ("onnx", "torchscript")
_SUFFIXES = {
    ".onnx": "onnx",
    ".pt": "torchscript",
    ".ts": "torchscript",
    ".torchscript": "torchscript",
}


class ExportVerificationError(RuntimeError):
    """The exported file does not compute what the PyTorch model computes (it was not kept)."""


@dataclass
class ExportResult:
    """What :func:`export` wrote and how closely it matches eager PyTorch.

    Attributes:
        path: the file written.
        format: ``'onnx'`` or ``'torchscript'``.
        input_size: ``(C, H, W)`` of the sample batches (the batch axis is dynamic).
        max_abs_diff: the largest absolute difference from eager PyTorch, per batch size
            checked (empty when ``verify=False``).
        output_scale: the largest absolute PyTorch output over the checked batches.
        seconds: time spent exporting and checking.
        metadata: the metadata stored in the file.
    """

    path: Path
    format: str
    input_size: tuple[int, int, int]
    max_abs_diff: dict[int, float] = field(default_factory=dict)
    output_scale: float = 0.0
    seconds: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: file, format and the largest difference found."""
        worst = max(self.max_abs_diff.values()) if self.max_abs_diff else float("nan")
        sizes = ", ".join(str(b) for b in self.max_abs_diff) or "none"
        return (
            f"{self.path} ({self.format}, input [N, {', '.join(map(str, self.input_size))}]): "
            f"max |diff| vs PyTorch {worst:.2e} (outputs up to {self.output_scale:.3g}) over "
            f"batch sizes {sizes}, {self.seconds:.1f} s"
        )


def _model_from_checkpoint(
    path: str | os.PathLike[str], model_name: str | None
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the network a checkpoint / weights file holds, with its metadata."""
    from resvision.models.weights import PretrainedWeightsError, create_model_from_weights

    try:
        network = create_model_from_weights(os.fspath(path), model_name)
    except PretrainedWeightsError as err:
        raise ValueError(str(err).replace("give the model name", "pass model_name=")) from err
    return network, {"model": network.pretrained_cfg["model"]}


def _input_size(model: nn.Module, name: str | None, given: Sequence[int] | None) -> tuple:
    if given is not None:
        size = tuple(int(v) for v in given)
        if len(size) == 4:
            size = size[1:]
        if len(size) != 3 or min(size) < 1:
            raise ValueError(f"input_size must be (C, H, W) of positive ints, got {given!r}")
        return size
    cfg = getattr(model, "pretrained_cfg", None) or {}
    pre = cfg.get("preprocessing") or {}
    if name:
        from resvision.models import model_info

        with contextlib.suppress(KeyError):
            channels, height, width = model_info(name).input_size
            crop = pre.get("crop")
            return (channels, crop, crop) if crop else (channels, height, width)
    # A model built by a constructor: the natural size its registered constructors declare.
    from resvision.models import list_models, model_info

    cls = type(model).__name__
    declared = {
        model_info(n).input_size
        for n in list_models()
        if getattr(ann := model_info(n).constructor.__annotations__.get("return"), "__name__", ann)
        == cls
    }
    if len(declared) == 1:
        return declared.pop()
    raise ValueError(
        f"input_size=(C, H, W) is needed: the natural input size of a {cls} is unknown"
    )


class _MainOutput(nn.Module):
    """The deployed form of a network with auxiliary outputs: its main (first) output alone."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        # In the network's mode (eval here): an exporter that restores the mode it found after
        # tracing (the TorchScript-based ONNX one) sets it on the wrapper and all it holds.
        self.train(network.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self.network(x)
        return output[0] if isinstance(output, (list, tuple)) else output


def _deployed(network: nn.Module) -> tuple[nn.Module, int]:
    """What is exported: the network, or its main output alone when it has auxiliary outputs.

    The rule is the engine's (:func:`resvision.engine.loops.output_loss_weights`, which this
    layer cannot import): a ``loss_weights`` attribute that is not None marks a network whose
    outputs are the main one followed by auxiliary ones.

    Returns:
        ``(module to export, number of auxiliary outputs left out)``.
    """
    weights = getattr(network, "loss_weights", None)
    if weights is None:
        return network, 0
    return _MainOutput(network), len(weights) - 1 if isinstance(weights, (list, tuple)) else 0


def _outputs(value: Any) -> list[torch.Tensor]:
    """A forward's result as a list of tensors (one for a classifier)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _metadata(
    model: nn.Module, name: str | None, size: tuple, extra: Mapping[str, Any] | None
) -> dict[str, str]:
    from resvision import __version__

    cfg = getattr(model, "pretrained_cfg", None) or {}
    meta: dict[str, Any] = {
        "resvision.version": __version__,
        "resvision.model": name or type(model).__name__,
        "resvision.input_size": list(size),
        "resvision.input_layout": "NCHW float32, RGB",
        "resvision.num_classes": getattr(model, "num_classes", None),
        "resvision.preprocessing": cfg.get("preprocessing"),
        "resvision.categories": cfg.get("categories"),
        "resvision.weights": cfg.get("source"),
    }
    for key, value in (extra or {}).items():
        meta[key if key.startswith("resvision.") else f"resvision.{key}"] = value
    # ONNX metadata values are strings: JSON for structured values, omitted when unknown.
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items() if v is not None}


def export(
    model_or_checkpoint: nn.Module | str | os.PathLike[str],
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    input_size: Sequence[int] | None = None,
    model_name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    check_batch_sizes: Sequence[int] = (1, 4),
    atol: float = 1e-4,
    rtol: float = 1e-3,
    verify: bool = True,
    opset: int | None = None,
    dynamo: bool = True,
    seed: int = 0,
) -> ExportResult:
    """Export a model for deployment and check the file against eager PyTorch.

    Args:
        model_or_checkpoint: a network, or a checkpoint / weights file (a checkpoint of
            ``resvision train`` names its model; other files need ``model_name``).
        path: the file to write; missing folders are created.
        format: ``'onnx'`` or ``'torchscript'``; None: from the suffix (``.onnx``; ``.pt``,
            ``.ts``, ``.torchscript``).
        input_size: ``(C, H, W)`` of one image; default: the crop of the weights'
            preprocessing, else the model's natural size (``model_info``). The batch axis is
            dynamic in either format.
        model_name: the registered model name (for a file; recorded in the metadata).
        metadata: more ``key: value`` pairs to store (keys get a ``resvision.`` prefix).
        check_batch_sizes: batch sizes the file is run with and compared at.
        atol: the largest absolute difference accepted (1e-4 suits float32 classifiers).
        rtol: the largest difference accepted relative to the largest output, so that a
            network with tiny outputs (an untrained one) is not checked by ``atol`` alone.
        verify: False skips the check (not recommended).
        opset: ONNX opset version (None: the exporter's default).
        dynamo: ONNX through ``torch.export`` (PyTorch's default exporter); False uses the
            older TorchScript-based ONNX exporter.
        seed: seed of the random sample batches.

    The file returns what ``Model.predict`` gives: for a network with auxiliary outputs (a
    ``loss_weights`` attribute, as GoogLeNet) the main output alone, named ``logits``, and the
    metadata says how many were left out (``resvision.auxiliary_outputs_dropped``); see the
    module's text for why. A network that returns several tensors otherwise has them all in the
    file (``logits``, ``output_1``, ...), each checked.

    Returns:
        An :class:`ExportResult` (path, differences per batch size, metadata, time).

    Raises:
        ValueError: unknown format, bad ``input_size`` / ``check_batch_sizes``, or a file that
            does not say which model it holds.
        ImportError: ONNX export without the ``onnx`` extra.
        ExportVerificationError: the exported file differs from PyTorch by more than
            ``atol``; nothing is left at ``path``.

    Examples:
        >>> import tempfile
        >>> from resvision.models import resnet20
        >>> with tempfile.TemporaryDirectory() as d:
        ...     result = export(resnet20(), f'{d}/resnet20.onnx', check_batch_sizes=(1, 3))
        >>> sorted(result.max_abs_diff), result.max_abs_diff[3] <= 1e-4
        ([1, 3], True)
    """
    started = time.perf_counter()
    destination = Path(path)
    fmt = format or _SUFFIXES.get(destination.suffix.lower())
    if fmt not in FORMATS:
        raise ValueError(
            f"format must be one of {FORMATS} (or a path ending in "
            f"{', '.join(_SUFFIXES)}), got format={format!r} for {str(path)!r}"
        )
    sizes = [int(b) for b in check_batch_sizes]
    if verify and (not sizes or min(sizes) < 1):
        raise ValueError(f"check_batch_sizes must be positive ints, got {check_batch_sizes!r}")
    extra = dict(metadata or {})
    if isinstance(model_or_checkpoint, nn.Module):
        network = model_or_checkpoint
        name = model_name or (getattr(network, "pretrained_cfg", None) or {}).get("model")
    elif isinstance(model_or_checkpoint, (str, os.PathLike)):
        network, info = _model_from_checkpoint(model_or_checkpoint, model_name)
        name = info["model"]
    else:
        raise TypeError(
            "model_or_checkpoint must be an nn.Module or a path to a checkpoint, got "
            f"{type(model_or_checkpoint).__name__}"
        )
    # A CPU float32 copy in eval mode: the caller's model keeps its device, dtype and mode.
    network = copy.deepcopy(network).cpu().float().eval()
    size = _input_size(network, name, input_size)
    deployed, dropped = _deployed(network)
    if dropped:
        extra.setdefault("resvision.auxiliary_outputs_dropped", dropped)
    meta = _metadata(network, name, size, extra)
    label = name or type(network).__name__  # for messages: the network, not the wrapper
    network = deployed
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randn(max(sizes) if verify else 2, *size, generator=generator)
    num_outputs = 1
    if fmt == "onnx":  # how many tensors the file returns, for their names
        with torch.no_grad():
            num_outputs = len(_outputs(network(sample[:1])))

    diffs: dict[int, float] = {}
    scale = 0.0
    # The file is written and checked at a temporary path and kept only when the check passes.
    with atomic_path(destination, suffix=destination.suffix) as tmp:
        with torch.no_grad():
            if fmt == "onnx":
                onnx_format.write_onnx(
                    network,
                    sample[:1],
                    tmp,
                    meta,
                    opset=opset,
                    dynamo=dynamo,
                    num_outputs=num_outputs,
                )
            else:
                ts_format.write_torchscript(network, sample[:1], tmp, meta)
            if verify:
                run = onnx_format.run_onnx if fmt == "onnx" else ts_format.run_torchscript
                for b in sizes:
                    batch = sample[:b].contiguous()
                    expected = [o.numpy() for o in _outputs(network(batch))]
                    got = run(tmp, batch)
                    if [g.shape for g in got] != [e.shape for e in expected]:
                        raise ExportVerificationError(
                            f"exported {fmt} model returns shapes {[g.shape for g in got]} for a "
                            f"batch of {b}, PyTorch {[e.shape for e in expected]}; the file was "
                            "not kept"
                        )
                    diffs[b] = max(float(abs(g - e).max()) for g, e in zip(got, expected))
                    scale = max(scale, *(float(abs(e).max()) for e in expected))
        worst = max(diffs.values(), default=0.0)
        allowed = min(atol, rtol * scale) if scale > 0 else atol
        if worst > allowed or worst != worst:
            raise ExportVerificationError(
                f"the {fmt} export of {label} differs from PyTorch by "
                f"up to {worst:.3e} (per batch size: "
                + ", ".join(f"{b}: {d:.3e}" for b, d in diffs.items())
                + f"; outputs up to {scale:.3g}), more than allowed (atol={atol:g}, "
                f"rtol={rtol:g}); the file was not kept"
            )
    return ExportResult(
        path=destination,
        format=fmt,
        input_size=size,
        max_abs_diff=diffs,
        output_scale=scale,
        seconds=time.perf_counter() - started,
        metadata=meta,
    )
