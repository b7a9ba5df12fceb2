"""Every Examples block in resvision.models runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "resvision.models",
    "resvision.models.classifier",
    "resvision.models.layers",
    "resvision.models.registry",
    "resvision.models.weights",
    "resvision.models.summary",
    "resvision.models.resnet",
    "resvision.models.cifar_resnet",
    "resvision.models.mobilenet",
    "resvision.models.lenet",
    "resvision.models.vgg",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0
