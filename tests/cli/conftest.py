"""Fixtures for the CLI tests: run ``python -m resvision`` in a subprocess; one shared tiny run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cli_env(tmp_path_factory) -> Callable[..., dict[str, str]]:
    """``cli_env(**extra)``: the environment of a CLI subprocess (one thread, own cache)."""
    cache = str(tmp_path_factory.getbasetemp() / "cli-cache")

    def make(**extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"RESVISION_NUM_THREADS": "1", "RESVISION_CACHE": cache})
        env.pop("RESVISION_MAX_STEPS", None)
        env.update(extra)
        return env

    return make


@pytest.fixture(scope="session")
def cli(cli_env) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(*args, cwd=..., **env)``: run ``python -m resvision ARGS`` and return the result."""

    def run(*args: str, cwd: Path, timeout: float = 180, **env: str):
        return subprocess.run(
            [sys.executable, "-m", "resvision", *args],
            cwd=cwd,
            env=cli_env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def trained_run(cli, tmp_path_factory) -> Path:
    """``resvision train`` with no arguments, cut to 3 steps: the run folder."""
    cwd = tmp_path_factory.mktemp("work")
    proc = cli("train", cwd=cwd, RESVISION_MAX_STEPS="3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = list((cwd / "runs").iterdir())
    assert len(runs) == 1, runs
    run = runs[0]
    run.joinpath("train_stdout.txt").write_text(proc.stdout)
    return run


@pytest.fixture(scope="session")
def sample_images(cli, tmp_path_factory) -> Path:
    """A folder of 4 test images of the embedded sample, written by ``resvision data``."""
    cwd = tmp_path_factory.mktemp("images")
    proc = cli("data", "--export", "imgs", "--count", "4", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd / "imgs"
