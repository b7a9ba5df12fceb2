"""Every Examples block of the export package runs as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

pytest.importorskip(
    "onnxruntime", reason="the export examples write ONNX: pip install 'resvision[onnx]'"
)


@pytest.mark.parametrize(
    "name", ["resvision.export", "resvision.export.api", "resvision.export.onnx"]
)
def test_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0
