"""What every resume test asserts, so that a run that silently restarts from scratch fails it.

A seeded run that ignores its checkpoint and trains from the start can end exactly where the
uninterrupted reference ends (the seed fixes the initial weights). So a resume test checks two
things, each of which such a run breaks:

1. **The resumed process continued**: it trained only the batches that were left, starting
   with the one after the checkpoint (:func:`assert_ran_only_the_rest`). In-process runs record
   their batches with :class:`BatchTrace`; command-line runs are read from ``metrics.jsonl``
   (:func:`jsonl_batches`, with ``train.log_freq=1``).
2. **It ended where the uninterrupted run ends**: the whole final checkpoint, bit for bit
   (:func:`assert_same_end_state`): weights, buffers, optimizer state and param groups, the
   schedule, the loss scaler, callbacks, metric counts, progress, random states and loader
   position.

``tests/mutations/resume.py`` breaks the resume code in seven ways and checks that these
assertions notice each one.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from resvision.callbacks import Callback
from resvision.engine.checkpoint import (
    RUN_INDEPENDENT_KEYS,
    checkpoint_differences,
    find_latest_checkpoint,
    load_checkpoint,
)


class BatchTrace(Callback):
    """Records ``(epoch, step)`` of every training batch this process trains on."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[int, int]] = []
        self._epoch = -1

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self.batches.append((self._epoch, step))


def batches_done(progress: dict[str, int], per_epoch: int) -> int:
    """Batches trained before a checkpoint with this ``progress`` entry."""
    return progress["epoch"] * per_epoch + progress["batch"]


def resume_point(folder: str | os.PathLike[str]) -> dict[str, int]:
    """The ``progress`` of the checkpoint that ``resume='auto'`` takes from ``folder``."""
    latest = find_latest_checkpoint(folder)
    assert latest is not None, f"no checkpoint to resume from in {folder}"
    return dict(load_checkpoint(latest)["progress"])


def assert_ran_only_the_rest(
    batches: list[tuple[int, int]], resumed_from: dict[str, int], total: int, per_epoch: int
) -> None:
    """The resumed process trained exactly the batches after ``resumed_from``, in order."""
    done = batches_done(resumed_from, per_epoch)
    assert 0 < done <= total, f"the checkpoint ({resumed_from}) is not inside the run"
    expected = [(g // per_epoch, g % per_epoch) for g in range(done, total)]
    assert batches == expected, (
        f"the resumed process trained {len(batches)} batches {batches[:3]}...; expected the "
        f"{len(expected)} after batch {done} of {total}, from {expected[:1]}: it did not "
        "continue from the checkpoint"
    )


def jsonl_batches(metrics: str | os.PathLike[str], offset: int = 0) -> list[tuple[int, int]]:
    """``(epoch, step)`` of the ``train_batch`` rows written after byte ``offset`` of a
    ``metrics.jsonl`` (one row per batch with ``train.log_freq=1``)."""
    with open(metrics, "rb") as f:
        f.seek(offset)
        rows = [json.loads(line) for line in f.read().decode().splitlines() if line.strip()]
    return [(r["epoch"], r["step"]) for r in rows if r["event"] == "train_batch"]


def file_size(path: str | os.PathLike[str]) -> int:
    """The size of ``path`` in bytes, 0 when it does not exist yet."""
    return Path(path).stat().st_size if Path(path).exists() else 0


def assert_same_end_state(
    reference: str | os.PathLike[str], resumed: str | os.PathLike[str], ignore: tuple[str, ...] = ()
) -> None:
    """The two checkpoints hold the same state, bit for bit (``meta`` and ``ignore`` aside)."""
    diffs = checkpoint_differences(
        load_checkpoint(reference), load_checkpoint(resumed), ignore=RUN_INDEPENDENT_KEYS + ignore
    )
    assert not diffs, f"{len(diffs)} entries differ from the uninterrupted run: {diffs[:6]}"


def default_sigint_in_child() -> None:
    """``preexec_fn`` of a subprocess that must stop on Ctrl-C as in a terminal, whatever this
    process inherited (a shell starts background jobs with SIGINT ignored, and resvision rightly
    keeps a signal the user chose to ignore)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
