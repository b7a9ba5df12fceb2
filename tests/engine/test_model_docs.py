"""The Examples blocks of the engine-core modules run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "resvision.engine.amp",
    "resvision.engine.muon",
    "resvision.engine.checkpoint",
    "resvision.engine.device",
    "resvision.engine.fit",
    "resvision.engine.interrupt",
    "resvision.engine.loops",
    "resvision.engine.model",
    "resvision.engine.resume",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
