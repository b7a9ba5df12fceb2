"""Export trained models for deployment: ONNX and TorchScript, checked after writing.

>>> import tempfile
>>> from resvision.models import resnet20
>>> from resvision.export import export
>>> with tempfile.TemporaryDirectory() as d:
...     result = export(resnet20(), f'{d}/resnet20.pt', check_batch_sizes=(2,))
>>> result.format, result.max_abs_diff[2] <= 1e-4
('torchscript', True)

ONNX files get a dynamic batch axis and carry the preprocessing, categories and model name in
their ``metadata_props`` (read them with :func:`read_onnx_metadata`); TorchScript files carry the
same in an extra file ``resvision.json`` (:func:`read_torchscript_metadata`). The package runs
inference engines (ONNX Runtime), so it lives outside :mod:`resvision.models`.
"""

from .api import FORMATS, ExportResult, ExportVerificationError, export
from .onnx import read_onnx_metadata
from .torchscript import read_torchscript_metadata

__all__ = [
    "FORMATS",
    "ExportResult",
    "ExportVerificationError",
    "export",
    "read_onnx_metadata",
    "read_torchscript_metadata",
]
