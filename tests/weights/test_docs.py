"""Every Examples block of the weights package and the fine-tuning callback runs as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "resvision.models.weights.convert",
    "resvision.models.weights.entries",
    "resvision.models.weights.formats",
    "resvision.models.weights.hub",
    "resvision.models.weights.loading",
    "resvision.engine.callbacks.finetune",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0
