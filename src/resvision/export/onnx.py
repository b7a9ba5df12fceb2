"""ONNX: write with a dynamic batch axis and metadata, run with ONNX Runtime.

Needs the ``onnx`` extra (``pip install 'resvision[onnx]'``: onnx, onnxruntime and onnxscript,
which ``torch.onnx.export``'s default exporter uses).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise ImportError(
            f"ONNX export needs the {module} package: pip install 'resvision[onnx]' "
            "(onnx, onnxruntime, onnxscript)"
        ) from None


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    # The exporter logs one line per torchvision operator it cannot find, and warns about
    # internals; none of it concerns a plain image classifier.
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def write_onnx(
    model: nn.Module,
    sample: torch.Tensor,
    path: Path,
    metadata: Mapping[str, str],
    *,
    opset: int | None = None,
    dynamo: bool = True,
    num_outputs: int = 1,
) -> None:
    """Export ``model`` to ``path`` with a dynamic batch axis and ``metadata`` as model props.

    Args:
        model: the network (eval mode, CPU, float32).
        sample: an input batch fixing the other dimensions.
        path: the file to write.
        metadata: strings stored in the model's ``metadata_props``.
        opset: ONNX opset (None: the exporter's default).
        dynamo: use ``torch.onnx.export``'s ``torch.export``-based exporter (the default of
            recent PyTorch); False uses the older TorchScript-based one.
        num_outputs: how many tensors ``model`` returns: named ``logits``, then ``output_1``,
            ``output_2``, ... (each with a dynamic batch axis).
    """
    _require("onnx")
    import onnx

    outputs = output_names(num_outputs)
    kwargs = {"opset_version": opset} if opset is not None else {}
    with _quiet_exporter():
        if dynamo:
            _require("onnxscript")
            batch = torch.export.Dim("batch", min=1, max=65536)
            torch.onnx.export(
                model,
                (sample,),
                str(path),
                dynamo=True,
                verbose=False,
                # one self-contained file (weights inside), so it can be moved and copied
                external_data=False,
                input_names=[INPUT_NAME],
                output_names=outputs,
                dynamic_shapes=({0: batch},),
                **kwargs,
            )
        else:
            torch.onnx.export(
                model,
                (sample,),
                str(path),
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=outputs,
                dynamic_axes={name: {0: "batch"} for name in [INPUT_NAME, *outputs]},
                **kwargs,
            )
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, dict(metadata))
    onnx.save(proto, str(path))


def output_names(count: int) -> list[str]:
    """The names of an exported model's outputs: ``logits``, then ``output_1``, ...

    Examples:
        >>> output_names(1), output_names(3)
        (['logits'], ['logits', 'output_1', 'output_2'])
    """
    return [OUTPUT_NAME] + [f"output_{i}" for i in range(1, count)]


def run_onnx(path: Path, batch: torch.Tensor) -> list[np.ndarray]:
    """The ONNX Runtime (CPU) outputs of the model at ``path`` for ``batch``, in order."""
    _require("onnxruntime")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return list(session.run(None, {name: batch.numpy()}))


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file (what :func:`write_onnx` stored).

    Examples:
        >>> import tempfile, torch
        >>> from resvision.export import export
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = export(torch.nn.Conv2d(3, 2, 1), f'{d}/m.onnx', input_size=(3, 4, 4))
        ...     meta = read_onnx_metadata(f'{d}/m.onnx')
        >>> meta['resvision.input_size']
        '[3, 4, 4]'
    """
    _require("onnx")
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}
