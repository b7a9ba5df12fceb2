"""``summary`` (a per-layer table like ``paddle.summary``) and ``count_macs`` (like
``paddle.flops``).

Multiply-accumulates (MACs) follow the convention of the published numbers (torchvision's
"GFLOPS" column, the ResNet paper's "FLOPs", fvcore): convolutions and linear layers only, one
MAC per weight use per output element, biases, normalisation, activations and pooling not
counted. ResNet-50 at 224x224 counts 4.09 G, ResNet-18 1.81 G.

Both run one forward pass on a zero input under ``torch.no_grad()`` in eval mode (so batch-norm
statistics do not move), then restore every module's train/eval flag and remove their hooks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["count_macs", "summary"]


@dataclass
class _Row:
    name: str
    kind: str
    output: str
    params: int
    macs: int


def _normalise_size(input_size: Sequence[int], batch_size: int) -> tuple[int, ...]:
    size = tuple(input_size)
    if len(size) not in (3, 4) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size
    ):
        raise ValueError(
            f"input_size must be (C, H, W) or (N, C, H, W) with positive ints, got {input_size!r}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    return (batch_size, *size) if len(size) == 3 else size


def _layer_macs(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> int:
    """MACs of one call of ``module`` (conv and linear layers; 0 for everything else)."""
    if not isinstance(output, torch.Tensor):
        return 0
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        # Every input element is multiplied by out_channels/groups * prod(kernel) weights.
        x = inputs[0]
        per_input = module.out_channels // module.groups * math.prod(module.kernel_size)
        return x.numel() * per_input
    if isinstance(module, nn.modules.conv._ConvNd):
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return output.numel() * per_output
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, nn.Bilinear):
        return output.numel() * module.in1_features * module.in2_features
    return 0


def _shape_of(output: Any) -> str:
    if isinstance(output, torch.Tensor):
        return str(list(output.shape))
    if isinstance(output, (list, tuple)):
        return "[" + ", ".join(_shape_of(o) for o in output) + "]"
    if isinstance(output, dict):
        return "{" + ", ".join(f"{k}: {_shape_of(v)}" for k, v in output.items()) + "}"
    return type(output).__name__


def _trace(model: nn.Module, shape: tuple[int, ...], dtype: torch.dtype | None) -> list[_Row]:
    """Run one forward pass and return a row per call of a leaf (or parameter-holding) module."""
    first = next(iter(model.parameters()), None)
    if first is None:
        first = next(iter(model.buffers()), None)
    device = first.device if first is not None else torch.device("cpu")
    if dtype is None:
        dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    x = torch.zeros(shape, dtype=dtype, device=device)

    rows: list[_Row] = []
    counted: set[int] = set()  # a module called twice shows its parameters once

    def make_hook(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            params = 0
            if id(module) not in counted:
                counted.add(id(module))
                params = sum(p.numel() for p in module.parameters(recurse=False))
            kind = type(module).__name__
            rows.append(
                _Row(name, kind, _shape_of(output), params, _layer_macs(module, inputs, output))
            )

        return hook

    modes = [(m, m.training) for m in model.modules()]
    handles = [
        module.register_forward_hook(make_hook(name or type(module).__name__))
        for name, module in model.named_modules()
        if not any(True for _ in module.children()) or any(True for _ in module.parameters(False))
    ]
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training
    return rows


def count_macs(
    model: nn.Module, input_size: Sequence[int], *, dtype: torch.dtype | None = None
) -> int:
    """Multiply-accumulates of one forward pass (convolution and linear layers).

    Args:
        model: the network.
        input_size: ``(C, H, W)`` (one image) or ``(N, C, H, W)`` (the count is for N images).
        dtype: input dtype; default the dtype of the model's first parameter.

    Returns:
        The number of MACs.

    Raises:
        ValueError: a malformed ``input_size``.

    Examples:
        >>> from resvision.models import resnet18
        >>> round(count_macs(resnet18(), (3, 224, 224)) / 1e9, 2)
        1.81
    """
    shape = _normalise_size(input_size, 1)
    return sum(row.macs for row in _trace(model, shape, dtype))


def summary(
    model: nn.Module,
    input_size: Sequence[int],
    *,
    batch_size: int = 1,
    dtype: torch.dtype | None = None,
    print_fn: Callable[[str], Any] | None = print,
) -> dict[str, int]:
    """Print a per-layer table (layer, output shape, parameters, MACs) with the totals.

    Args:
        model: the network (left in its train/eval mode, without hooks, afterwards).
        input_size: ``(C, H, W)`` or ``(N, C, H, W)``.
        batch_size: N when ``input_size`` is ``(C, H, W)``.
        dtype: input dtype; default the dtype of the model's first parameter.
        print_fn: called with the table text; None prints nothing.

    Returns:
        ``{'total_params', 'trainable_params', 'macs'}`` (MACs for the whole batch).

    Raises:
        ValueError: a malformed ``input_size`` or ``batch_size``.

    Examples:
        >>> from resvision.models import lenet
        >>> info = summary(lenet(), (1, 28, 28), print_fn=None)
        >>> info['total_params'], info['macs']
        (61610, 341256)
    """
    shape = _normalise_size(input_size, batch_size)
    rows = _trace(model, shape, dtype)
    params = {id(p): p for p in model.parameters()}.values()  # shared parameters count once
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    macs = sum(row.macs for row in rows)

    if print_fn is not None:
        headers = ("Layer (type)", "Output Shape", "Param #", "MACs")
        cells = [(f"{r.name} ({r.kind})", r.output, f"{r.params:,}", f"{r.macs:,}") for r in rows]
        widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
        line_width = sum(widths) + 3 * (len(widths) - 1)

        def fmt(cols: Sequence[str]) -> str:
            left = cols[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(cols[1:], widths[1:])]
            return "   ".join([left, *rest])

        lines = ["-" * line_width, fmt(headers), "=" * line_width, *(fmt(c) for c in cells)]
        lines += [
            "=" * line_width,
            f"Total params: {total:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}",
            f"MACs: {macs:,} ({macs / 1e9:.2f} G) for input {list(shape)}",
            "-" * line_width,
        ]
        print_fn("\n".join(lines))
    return {"total_params": total, "trainable_params": trainable, "macs": macs}
