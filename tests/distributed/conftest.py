"""Fixtures of the distributed tests: all training scenarios run in one two-process launch
(starting Python and torch is most of the cost)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # ddp_cases, launching

from launching import launch


@pytest.fixture(scope="session")
def ddp_results(tmp_path_factory) -> dict[str, list[Any]]:
    """Every training scenario of ``ddp_cases`` run once on two processes."""
    import ddp_cases

    return launch(tmp_path_factory.mktemp("ddp"), *ddp_cases.SCENARIOS)
