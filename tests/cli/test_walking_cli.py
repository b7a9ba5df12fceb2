"""``resvision predict`` never opens a FIFO or a device, and walks link loops once.

Each command runs in a subprocess with a time limit (a FIFO opened for reading waits forever)
and a memory limit (``/dev/zero`` read as an image grows without end), so a regression fails
the test instead of hanging or exhausting the machine.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image


def _limit_memory() -> None:
    # Private writable memory only: the address space reserved by torch's libraries is not
    # counted, so the fixed command is unaffected.
    resource.setrlimit(resource.RLIMIT_DATA, (6 << 30, 6 << 30))


@pytest.fixture
def predict(trained_run, cli_env, tmp_path):
    """``predict(*paths)``: ``resvision predict --checkpoint RUN --json PATHS`` in a subprocess."""

    def run(*paths: str | Path) -> subprocess.CompletedProcess[str]:
        argv = ["predict", "--checkpoint", str(trained_run), "--json", "--device", "cpu"]
        return subprocess.run(
            [sys.executable, "-m", "resvision", *argv, *map(str, paths)],
            cwd=tmp_path,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=_limit_memory,
        )

    return run


@pytest.fixture
def specials(tmp_path) -> Path:
    """A folder with one image, a FIFO and a link to ``/dev/zero``, both named as images."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(folder / "real.png")
    os.mkfifo(folder / "pipe.png")
    os.symlink("/dev/zero", folder / "zero.png")
    return folder


def test_a_fifo_given_by_name_is_refused_naming_it(predict, specials):
    proc = predict(specials / "pipe.png")
    assert proc.returncode == 2, proc.stderr
    assert "pipe.png" in proc.stderr and "FIFO" in proc.stderr and "Traceback" not in proc.stderr


def test_a_device_link_given_by_name_is_refused_naming_it(predict, specials):
    proc = predict(specials / "zero.png")
    assert proc.returncode == 2, proc.stderr
    assert "zero.png" in proc.stderr and "/dev/zero" in proc.stderr
    assert "character device" in proc.stderr and "Traceback" not in proc.stderr


def test_special_files_in_a_folder_or_glob_are_left_out_with_a_line(predict, specials):
    for given in (specials, specials / "*.png", f"{specials}/**/*.png"):
        proc = predict(given)
        assert proc.returncode == 0, proc.stderr
        results = json.loads(proc.stdout)["results"]
        assert [Path(r["image"]).name for r in results] == ["real.png"]
        assert "left out" in proc.stderr and "pipe.png: a FIFO" in proc.stderr
        assert "zero.png: a symbolic link to /dev/zero" in proc.stderr


def test_a_recursive_glob_through_two_link_loops_finishes(predict, tmp_path):
    folder = tmp_path / "loops"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        Image.new("RGB", (32, 32)).save(folder / name)
    os.symlink(folder, folder / "sub" / "up")
    os.symlink(folder, folder / "sub" / "again")  # glob's ** would follow 2**depth paths
    for given in (folder, f"{folder}/**/*.png"):
        proc = predict(given)
        assert proc.returncode == 0, proc.stderr
        names = [Path(r["image"]).relative_to(folder) for r in json.loads(proc.stdout)["results"]]
        assert names == [Path("a.png"), Path("sub/b.png")]
