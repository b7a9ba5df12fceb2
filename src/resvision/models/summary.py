"""Per-layer tables and operation counts, in two conventions.

``summary`` (a per-layer table with MACs) and ``count_macs``: multiply-accumulates (MACs) follow
the convention of the published numbers (torchvision's "GFLOPS" column, the ResNet paper's
"FLOPs", fvcore): convolutions and linear layers only, one MAC per weight use per output
element, biases, normalisation, activations and pooling not counted. ResNet-50 at 224x224
counts 4.09 G, ResNet-18 1.81 G.

``paddle_summary`` and ``flops`` are ``paddle.summary`` and ``paddle.flops`` (Paddle 3.3.1's
signatures, printed columns and return values; the top-level ``resvision.summary`` and
``resvision.flops``). Paddle's FLOPs are its own count, not MACs: a convolution counts one
operation per weight use plus one per bias per output element, a linear layer ``in_features``
per output element (no bias), ``BatchNorm2d`` two per element, an average pooling one per output
element (adaptive: the window's size plus one), ``LeakyReLU`` one per element, and ReLU, ReLU6,
Dropout and every other layer (max pooling too) nothing. ResNet-50 at ``[1, 3, 224, 224]``
counts 4,111,514,624 (Paddle's number for its ``resnet50``). Paddle holds a BatchNorm's running
mean and variance as non-trainable parameters (``_mean``, ``_variance``), so both functions
count them as such: ResNet-50 has 25,610,152 parameters there, 25,557,032 trainable.

All run one forward pass under ``torch.no_grad()`` in eval mode (so batch-norm statistics do not
move), then restore every module's train/eval flag and remove their hooks.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["count_macs", "flops", "paddle_summary", "summary"]


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


def _device_and_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where the model's tensors are, and their floating dtype (float32 when none is)."""
    first = next(iter(model.parameters()), None)
    if first is None:
        first = next(iter(model.buffers()), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    return device, dtype


def _run_with_hooks(
    model: nn.Module,
    modules: Sequence[tuple[str, nn.Module]],
    make_hook: Callable[[str, nn.Module], Callable[..., None]],
    args: Sequence[Any],
) -> None:
    """``model(*args)`` once, in eval mode without gradients, with ``make_hook(name, module)``
    as a forward hook on each of ``modules``; every train/eval flag is restored and every hook
    removed afterwards, also when the pass fails. The one tracer of this module."""
    modes = [(m, m.training) for m in model.modules()]
    handles = [module.register_forward_hook(make_hook(name, module)) for name, module in modules]
    try:
        model.eval()
        with torch.no_grad():
            model(*args)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training


def _trace(model: nn.Module, shape: tuple[int, ...], dtype: torch.dtype | None) -> list[_Row]:
    """Run one forward pass and return a row per call of a leaf (or parameter-holding) module."""
    device, default_dtype = _device_and_dtype(model)
    x = torch.zeros(shape, dtype=dtype or default_dtype, device=device)

    rows: list[_Row] = []
    counted: set[int] = set()  # a module called twice shows its parameters once

    def make_hook(name: str, _: nn.Module) -> Callable[..., None]:
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

    traced = [
        (name or type(module).__name__, module)
        for name, module in model.named_modules()
        if not any(True for _ in module.children()) or any(True for _ in module.parameters(False))
    ]
    _run_with_hooks(model, traced, make_hook, (x,))
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


# ------------------------------------------------------------------ Paddle's summary and flops
# Paddle names a layer after its class in snake case ("Conv2D" -> "conv2d", "ReLU" -> "re_lu")
# plus a counter per name; its tables show those names.
_FIRST_CAP = re.compile(r"(.)([A-Z][a-z]+)")
_ALL_CAP = re.compile(r"([a-z])([A-Z])")


def _snake_case(name: str) -> str:
    return _ALL_CAP.sub(r"\1_\2", _FIRST_CAP.sub(r"\1_\2", name)).lower()


def _paddle_indices(model: nn.Module) -> dict[int, int]:
    """``id(module) -> k``: the module is the k-th (from 0) of its snake-case name in ``model``.

    Paddle numbers layers by creation in the whole process; within one network built in a fresh
    process that is the registration order, which these numbers follow.
    """
    counters: dict[str, int] = {}
    indices: dict[int, int] = {}
    for module in model.modules():
        name = _snake_case(type(module).__name__)
        indices[id(module)] = counters.get(name, 0)
        counters[name] = indices[id(module)] + 1
    return indices


def _paddle_parameters(module: nn.Module) -> list[tuple[torch.Tensor, bool]]:
    """The tensors Paddle holds as ``module``'s own parameters, each with its trainable flag.

    Those are torch's parameters plus a BatchNorm's running mean and variance, which Paddle
    keeps as non-trainable parameters (``_mean``, ``_variance``) and torch as buffers.
    """
    held = [(p, p.requires_grad) for p in module.parameters(recurse=False)]
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        for stat in (module.running_mean, module.running_var):
            if stat is not None:  # None without track_running_stats
                held.append((stat, False))
    return held


def _input_shapes(value: Any) -> Any:
    """Paddle's input shape of a hooked call: a list per tensor, nested like the inputs."""
    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if isinstance(value, (list, tuple)):
        return [_input_shapes(v) for v in value]
    return None


def _output_shapes(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [_output_shapes(v) for v in value]
    if isinstance(value, torch.Tensor):
        return list(value.shape)
    return []


def _elements(shape: list[Any]) -> int:
    """Elements of an output shape, or the sum over the shapes of several outputs."""
    if all(isinstance(v, int) for v in shape):
        return math.prod(shape)  # [] (not a tensor) counts 1, as Paddle's np.prod
    return sum(_elements(s) for s in shape if isinstance(s, list))


def _is_shape(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and not any(isinstance(v, (list, tuple)) for v in value)


def _check_shape(shape: Sequence[Any]) -> tuple[int, ...]:
    """A shape with its one unknown dimension (None or -1, the batch) set to 1."""
    unknown = 0
    out = []
    for v in shape:
        if v is None or v == -1:
            unknown += 1
            if unknown > 1:
                raise ValueError(
                    f"input_size {list(shape)}: only the batch dimension can be None or -1"
                )
            v = 1
        elif isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(
                f"input_size {list(shape)}: dimensions must be ints > 0 (or None/-1 for the "
                f"batch), got {v!r}"
            )
        out.append(int(v))
    return tuple(out)


def _paddle_input_sizes(input_size: Any) -> Any:
    """Paddle's forms of ``input_size``, as a tuple (one input) or a list of them (several).

    Accepted: an int, a shape tuple, an InputSpec-like object (anything with ``.shape``), a list
    of shapes / InputSpecs (one per input); a list of plain ints is one shape (Paddle would take
    it for one-dimensional inputs, one per int).
    """
    if hasattr(input_size, "shape") and not isinstance(input_size, (list, tuple)):
        return _check_shape(tuple(input_size.shape))
    if isinstance(input_size, bool):
        raise ValueError(f"input_size must be a shape, got {input_size!r}")
    if isinstance(input_size, int):
        return _check_shape((input_size,))
    if isinstance(input_size, tuple) and _is_shape(input_size):
        return _check_shape(input_size)
    if isinstance(input_size, (list, tuple)) and input_size:
        if all(isinstance(v, int) or v is None for v in input_size):
            return _check_shape(input_size)
        sizes = []
        for item in input_size:
            if isinstance(item, int) and not isinstance(item, bool):
                item = (item,)
            if hasattr(item, "shape") and not isinstance(item, (list, tuple)):
                item = tuple(item.shape)
            if not isinstance(item, (list, tuple)):
                raise ValueError(
                    f"input_size: each item of a list must be a shape tuple or an InputSpec, "
                    f"got {item!r}"
                )
            sizes.append(_check_shape(item) if _is_shape(item) else _paddle_input_sizes(item))
        return sizes
    raise ValueError(
        "input_size must be a shape such as (1, 3, 224, 224), an InputSpec, or a list of them "
        f"(one per input), got {input_size!r}"
    )


def _sizes_of(input: Any) -> Any:
    """The ``input_size`` Paddle derives from a sample ``input``."""
    if isinstance(input, torch.Tensor):
        return tuple(input.shape)
    if isinstance(input, (list, tuple)):
        return [tuple(x.shape) for x in input]
    if isinstance(input, Mapping):
        return [tuple(x.shape) for x in input.values()]
    raise ValueError(
        "input must be a tensor, a list/tuple of tensors or a dict of tensors (to take "
        f"input_size from), got {type(input).__name__}"
    )


def _torch_dtype(value: Any) -> torch.dtype:
    if isinstance(value, torch.dtype):
        return value
    found = getattr(torch, value, None) if isinstance(value, str) else None
    if not isinstance(found, torch.dtype):
        raise ValueError(f"dtypes: unknown dtype {value!r}; use names like 'float32' or 'int64'")
    return found


def _build_inputs(
    sizes: list[Any], dtypes: Any, device: torch.device, default: torch.dtype
) -> list[Any]:
    """Random inputs in [0, 1) of the given shapes, cast to the dtypes (Paddle's rule)."""
    if dtypes is None or isinstance(dtypes, (str, torch.dtype)):
        dtypes = [dtypes] * len(sizes)
    elif len(dtypes) != len(sizes):
        raise ValueError(f"dtypes {list(dtypes)!r} has {len(dtypes)} items for {len(sizes)} inputs")
    out = []
    for size, dt in zip(sizes, dtypes):
        if _is_shape(size):
            dt = dt[0] if isinstance(dt, (list, tuple)) else dt
            dtype = default if dt is None else _torch_dtype(dt)
            out.append(torch.rand(size, device=device).to(dtype))
        else:
            out.append(_build_inputs(list(size), dt, device, default))
    return out


@dataclass
class _PaddleRow:
    input_shape: Any
    output_shape: list[Any]
    params: int
    trainable_params: int


def _paddle_table(rows: Mapping[str, _PaddleRow], sizes: list[Any]) -> tuple[str, int, int]:
    """Paddle's summary text, and its total and trainable parameter counts."""
    widths = {"layer": 15, "input": 20, "output": 20, "params": 15}
    for key, row in rows.items():
        widths["layer"] = max(widths["layer"], len(key))
        widths["input"] = max(widths["input"], len(str(row.input_shape)))
        widths["output"] = max(widths["output"], len(str(row.output_shape)))
        widths["params"] = max(widths["params"], len(str(row.params)))
    table = max(75, sum(widths.values()) + 5)
    w = (widths["layer"], widths["input"], widths["output"], widths["params"])

    def line(cells: Sequence[str]) -> str:
        return " ".join(f"{c:^{n}}" for c, n in zip(cells, w))

    lines = ["-" * table, line(("Layer (type)", "Input Shape", "Output Shape", "Param #"))]
    lines.append("=" * table)
    for key, row in rows.items():
        cells = (key, str(row.input_shape), str(row.output_shape), f"{row.params:,}")
        lines.append(line(cells))
    total = sum(row.params for row in rows.values())
    trainable = sum(row.trainable_params for row in rows.values())
    outputs = sum(_elements(row.output_shape) for row in rows.values())

    def megabytes(n: float) -> float:
        return abs(n * 4.0 / 1024**2)  # Paddle counts 4 bytes per element, whatever the dtype

    def input_elements(size: Any) -> int:
        return math.prod(size) if _is_shape(size) else sum(input_elements(s) for s in size)

    input_mb = megabytes(sum(input_elements(s) for s in sizes))
    output_mb = megabytes(2.0 * outputs)  # x2 for the gradients
    params_mb = megabytes(total)
    lines += [
        "=" * table,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        "-" * table,
        f"Input size (MB): {input_mb:0.2f}",
        f"Forward/backward pass size (MB): {output_mb:0.2f}",
        f"Params size (MB): {params_mb:0.2f}",
        f"Estimated Total Size (MB): {params_mb + output_mb + input_mb:0.2f}",
        "-" * table,
        "",
    ]
    return "\n".join(lines), total, trainable


def paddle_summary(
    net: nn.Module,
    input_size: Any = None,
    dtypes: Any = None,
    input: Any = None,
    *,
    dtype: Any = None,
) -> dict[str, int]:
    """Print Paddle's summary table of a network and return its parameter totals.

    ``paddle.summary`` with its arguments, columns and result (the top-level
    ``resvision.summary``). A row is printed per call of every module but the network itself
    and its ``nn.Sequential`` / ``nn.ModuleList`` containers, in the order the calls end,
    named ``{class}-{k}`` (the k-th module of that class in the network; Paddle counts in the
    whole process, so its numbers match in a fresh process), with the module's own parameters.
    A BatchNorm's running mean and variance count as non-trainable parameters, as Paddle holds
    them. The sizes in MB assume 4 bytes per element, as Paddle's.

    Args:
        net: The network.
        input_size: The input shape with its batch dimension (``(1, 3, 224, 224)``; the batch
            may be None or -1, taken as 1), an InputSpec-like object (with ``.shape``), an int,
            or a list of shapes for a network with several inputs. Not needed with ``input``.
        dtypes: Input dtype(s): a name (``'float32'``, ``'int64'``), a ``torch.dtype``, or one
            per input; default the network's parameter dtype (float32, Paddle's default).
        input: A sample input instead of ``input_size``: a tensor, a list of tensors or a dict
            (passed to the network as one argument, as Paddle does).
        dtype: The dtype as resvision's ``summary`` took it (used when ``dtypes`` is None).

    Returns:
        ``{'total_params': ..., 'trainable_params': ...}``.

    Raises:
        ValueError: neither ``input_size`` nor ``input``, a malformed size, more than one
            unknown dimension, or an unknown dtype.

    Examples:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Flatten(),
        ...                     nn.Linear(6 * 4 * 4, 10))
        >>> paddle_summary(net, (1, 1, 4, 4))
        ---------------------------------------------------------------------------
         Layer (type)       Input Shape          Output Shape         Param #
        ===========================================================================
           Conv2d-1        [[1, 1, 4, 4]]        [1, 6, 4, 4]           60
            ReLU-1         [[1, 6, 4, 4]]        [1, 6, 4, 4]            0
           Flatten-1       [[1, 6, 4, 4]]          [1, 96]               0
           Linear-1          [[1, 96]]             [1, 10]              970
        ===========================================================================
        Total params: 1,030
        Trainable params: 1,030
        Non-trainable params: 0
        ---------------------------------------------------------------------------
        Input size (MB): 0.00
        Forward/backward pass size (MB): 0.00
        Params size (MB): 0.00
        Estimated Total Size (MB): 0.01
        ---------------------------------------------------------------------------
        <BLANKLINE>
        {'total_params': 1030, 'trainable_params': 1030}
    """
    if input_size is None and input is None:
        raise ValueError(
            "input_size and input cannot be None at the same time: give a shape such as "
            "(1, 3, 224, 224) or a sample input"
        )
    sizes = _paddle_input_sizes(_sizes_of(input) if input_size is None else input_size)
    sizes = [sizes] if isinstance(sizes, tuple) else sizes
    if dtypes is None:
        dtypes = dtype
    device, default = _device_and_dtype(net)
    args = [input] if input is not None else _build_inputs(sizes, dtypes, device, default)

    indices = _paddle_indices(net)
    rows: dict[str, _PaddleRow] = {}

    def make_hook(_: str, module: nn.Module) -> Callable[..., None]:
        key = f"{type(module).__name__}-{indices[id(module)] + 1}"

        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            held = _paddle_parameters(module)
            rows[key] = _PaddleRow(  # a second call keeps the first call's place, as Paddle's
                _input_shapes(inputs),
                _output_shapes(output),
                sum(t.numel() for t, _ in held),
                sum(t.numel() for t, trainable in held if trainable),
            )

        return hook

    alone = not any(True for _ in net.children())
    hooked = [
        (name, m)
        for name, m in net.named_modules()
        if not isinstance(m, (nn.Sequential, nn.ModuleList)) and (m is not net or alone)
    ]
    _run_with_hooks(net, hooked, make_hook, args)
    text, total, trainable = _paddle_table(rows, sizes)
    print(text)
    return {"total_params": total, "trainable_params": trainable}


# Paddle's counting rules (paddle.hapi.dynamic_flops), with its protocol: ``fn(module, inputs,
# output)`` adds to ``module.total_ops``. Custom rules passed to ``flops`` follow it too.
def _count_conv(m: Any, x: tuple[Any, ...], y: torch.Tensor) -> None:
    kernel = math.prod(m.weight.shape[2:])
    bias = 1 if m.bias is not None else 0
    m.total_ops += abs(int(y.numel() * (x[0].shape[1] / m.groups * kernel + bias)))


def _count_leaky_relu(m: Any, x: tuple[Any, ...], y: torch.Tensor) -> None:
    m.total_ops += int(x[0].numel())


def _count_bn(m: Any, x: tuple[Any, ...], y: torch.Tensor) -> None:
    if not m.training:  # always so here: flops runs the network in eval mode
        m.total_ops += abs(int(2 * x[0].numel()))


def _count_linear(m: Any, x: tuple[Any, ...], y: torch.Tensor) -> None:
    m.total_ops += abs(int(m.in_features * y.numel()))


def _count_avgpool(m: Any, x: tuple[Any, ...], y: torch.Tensor) -> None:
    m.total_ops += int(y.numel())


def _count_adaptive_avgpool(m: Any, x: tuple[Any, ...], y: torch.Tensor) -> None:
    window = math.prod(i // o for i, o in zip(x[0].shape[2:], y.shape[2:]))
    m.total_ops += abs(int((window + 1) * y.numel()))


def _count_zero(m: Any, x: tuple[Any, ...], y: torch.Tensor) -> None:
    m.total_ops += 0


# Paddle's table, with torch's layer classes for Paddle's (its BatchNorm rule is BatchNorm2D's
# and the legacy BatchNorm's: BatchNorm1D/3D count nothing there, so BatchNorm1d/3d here).
FLOPS_RULES: dict[type[nn.Module], Callable[..., None]] = {
    nn.Conv1d: _count_conv,
    nn.Conv2d: _count_conv,
    nn.Conv3d: _count_conv,
    nn.ConvTranspose1d: _count_conv,
    nn.ConvTranspose2d: _count_conv,
    nn.ConvTranspose3d: _count_conv,
    nn.BatchNorm2d: _count_bn,
    nn.ReLU: _count_zero,
    nn.ReLU6: _count_zero,
    nn.LeakyReLU: _count_leaky_relu,
    nn.Linear: _count_linear,
    nn.Dropout: _count_zero,
    nn.AvgPool1d: _count_avgpool,
    nn.AvgPool2d: _count_avgpool,
    nn.AvgPool3d: _count_avgpool,
    nn.AdaptiveAvgPool1d: _count_adaptive_avgpool,
    nn.AdaptiveAvgPool2d: _count_adaptive_avgpool,
    nn.AdaptiveAvgPool3d: _count_adaptive_avgpool,
}


def _flops_rule(
    kind: type, custom_ops: Mapping[type, Callable[..., None]]
) -> tuple[Callable[..., None] | None, str]:
    """The counting function for a layer class (its own, else its nearest base class's), and
    Paddle's line about it."""
    for cls in kind.__mro__:
        if cls in custom_ops:
            return custom_ops[cls], f"Customize Function has been applied to {kind}"
        if cls in FLOPS_RULES:
            return FLOPS_RULES[cls], f"{kind}'s flops has been counted"
    return None, f"Cannot find suitable count function for {kind}. Treat it as zero FLOPs."


def _print_flops_table(rows: list[list[Any]]) -> None:
    """Paddle's FLOPs table: centred cells between ``|``, ``+---+`` rules."""
    heads = ["Layer Name", "Input Shape", "Output Shape", "Params", "Flops"]
    widths = [max([len(h)] + [len(str(r[i])) for r in rows]) for i, h in enumerate(heads)]
    shelf = "".join("+" + "-" * (n + 2) for n in widths) + "+"

    def row(cells: Sequence[Any]) -> str:
        return "".join("|" + str(c).center(n + 2) for c, n in zip(cells, widths)) + "|"

    print("\n".join([shelf, row(heads), shelf, *(row(r) for r in rows), shelf]))


def flops(
    net: nn.Module,
    input_size: Sequence[int],
    custom_ops: Mapping[type, Callable[..., None]] | None = None,
    print_detail: bool = False,
) -> int:
    """Count a network's FLOPs by Paddle's rules and print them (``paddle.flops``).

    Runs the network once on a random input of ``input_size`` in eval mode and counts, for each
    leaf module called, what its class's rule gives (the module docstring lists the rules):
    convolution, BatchNorm2d, average pooling, Linear, LeakyReLU; every other layer counts 0.
    Prints a line per layer class (counted, customised, or treated as zero), the table when
    ``print_detail`` (layer name in Paddle's style ``conv2d_0``, input and output shapes,
    parameters, FLOPs) and the totals. Parameters include a BatchNorm's running mean and
    variance, as Paddle holds them.

    Args:
        net: The network.
        input_size: The input shape, batch included (``[1, 3, 224, 224]``).
        custom_ops: ``{layer class: fn(module, inputs, output)}`` counting rules that take
            precedence; ``fn`` adds its count to ``module.total_ops`` (``inputs`` is the tuple
            of positional inputs), as Paddle's.
        print_detail: Print the per-layer table.

    Returns:
        The total FLOPs (an int); -1, with a warning, when ``net`` is not an ``nn.Module``
        (Paddle also takes a static ``Program`` there).

    Raises:
        ValueError: a malformed ``input_size``.

    Examples:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        ...                     nn.Flatten(), nn.Linear(6 * 14 * 14, 10))
        >>> flops(net, [1, 1, 28, 28], print_detail=True)
        <class 'torch.nn.modules.conv.Conv2d'>'s flops has been counted
        <class 'torch.nn.modules.activation.ReLU'>'s flops has been counted
        Cannot find suitable count function for <class 'torch.nn.modules.pooling.MaxPool2d'>. Treat it as zero FLOPs.
        Cannot find suitable count function for <class 'torch.nn.modules.flatten.Flatten'>. Treat it as zero FLOPs.
        <class 'torch.nn.modules.linear.Linear'>'s flops has been counted
        +--------------+----------------+----------------+--------+-------+
        |  Layer Name  |  Input Shape   |  Output Shape  | Params | Flops |
        +--------------+----------------+----------------+--------+-------+
        |   conv2d_0   | [1, 1, 28, 28] | [1, 6, 28, 28] |   60   | 47040 |
        |   re_lu_0    | [1, 6, 28, 28] | [1, 6, 28, 28] |   0    |   0   |
        | max_pool2d_0 | [1, 6, 28, 28] | [1, 6, 14, 14] |   0    |   0   |
        |  flatten_0   | [1, 6, 14, 14] |   [1, 1176]    |   0    |   0   |
        |   linear_0   |   [1, 1176]    |    [1, 10]     | 11770  | 11760 |
        +--------------+----------------+----------------+--------+-------+
        Total Flops: 58800     Total Params: 11830
        58800
    """
    if not isinstance(net, nn.Module):
        warnings.warn(
            f"flops needs a torch.nn.Module, got {type(net).__name__}; returning -1",
            stacklevel=2,
        )
        return -1
    if (
        isinstance(input_size, (str, bytes))
        or not isinstance(input_size, Sequence)
        or not input_size
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in input_size)
    ):
        raise ValueError(
            f"input_size must be a list of ints > 0 such as [1, 3, 224, 224], got {input_size!r}"
        )
    custom_ops = dict(custom_ops or {})
    indices = _paddle_indices(net)
    leaves = [(name, m) for name, m in net.named_modules() if not any(True for _ in m.children())]
    rules: dict[int, Callable[..., None] | None] = {}
    seen: set[type] = set()
    for _, module in leaves:
        rules[id(module)], message = _flops_rule(type(module), custom_ops)
        if type(module) not in seen:
            seen.add(type(module))
            print(message)

    # A called leaf: its input shape, output shape, parameters (set on the first call)
    called: dict[int, tuple[list[int], list[int], int]] = {}

    def make_hook(_: str, module: nn.Module) -> Callable[..., None]:
        rule = rules[id(module)]

        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if rule is not None:
                rule(module, inputs, output)
            first = output[0] if isinstance(output, (list, tuple)) else output
            shape_in = list(inputs[0].shape) if inputs and hasattr(inputs[0], "shape") else []
            params = sum(t.numel() for t, _ in _paddle_parameters(module))
            called[id(module)] = (shape_in, list(getattr(first, "shape", [])), params)

        return hook

    device, dtype = _device_and_dtype(net)
    x = torch.randn(list(input_size), device=device, dtype=dtype)
    for _, module in leaves:
        module.total_ops = 0  # what the rules add to (Paddle's protocol)
    try:
        _run_with_hooks(net, leaves, make_hook, (x,))
        rows = [
            [f"{_snake_case(type(m).__name__)}_{indices[id(m)]}", *called[id(m)], m.total_ops]
            for _, m in leaves
            if id(m) in called
        ]
    finally:
        for _, module in leaves:
            del module.total_ops
    total_ops = sum(int(r[4]) for r in rows)
    total_params = sum(r[3] for r in rows)
    if print_detail:
        _print_flops_table([[*r[:4], int(r[4])] for r in rows])
    print(f"Total Flops: {total_ops}     Total Params: {total_params}")
    return total_ops
