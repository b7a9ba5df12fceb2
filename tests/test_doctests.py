"""Every example in every module's docstrings runs and prints what it says.

One runner that discovers the modules (``pkgutil.walk_packages``), so that a new module's
examples are run without being listed anywhere. A module without examples is fine; the count
of modules with examples is checked so that a broken discovery cannot pass by running none.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import resvision

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(resvision.__path__, "resvision.")
    if not m.name.endswith("__main__")
)


def test_the_discovery_finds_the_package():
    assert len(MODULES) > 100 and "resvision.engine.trainer" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name, monkeypatch):
    # the download examples must fail fast offline
    monkeypatch.setattr("resvision.data.datasets.download.DOWNLOAD_TIMEOUT_S", 0.01)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
