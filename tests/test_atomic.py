"""resvision.atomic: a file appears whole or not at all, and an old good file survives a failure."""

from __future__ import annotations

import doctest
import os
from pathlib import Path

import pytest

from resvision import atomic
from resvision.atomic import atomic_path, atomic_write, atomic_write_bytes, atomic_write_text


def test_examples_run() -> None:
    assert doctest.testmod(atomic).failed == 0


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "ckpt.bin"
    atomic_write_bytes(target, b"good")
    with pytest.raises(OSError, match="disk full"), atomic_write(target) as f:
        f.write(b"half of a new fi")
        raise OSError(28, "disk full")
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in target.parent.iterdir()) == ["ckpt.bin"]


def test_a_failed_check_keeps_nothing_at_the_destination(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    with pytest.raises(ValueError, match="mismatch"), atomic_path(target, suffix=".onnx") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".model.onnx.")
        tmp.write_bytes(b"bad export")
        raise ValueError("mismatch")
    assert list(tmp_path.iterdir()) == []


def test_text_and_permissions_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "héllo")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo"
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
