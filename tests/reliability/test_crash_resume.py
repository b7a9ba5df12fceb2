"""Crash anywhere, lose nothing: ``resvision train`` stopped by SIGKILL (at random, while a
checkpoint is being written, after half a checkpoint is on disk), SIGTERM and Ctrl-C, resumed
with ``--resume auto`` each time, ends bit-identical to an uninterrupted run, and its checkpoint
folder never holds a file that does not load.

The harness is ``benchmarks/crash_trials.py``; CI runs three planned trials that cover every
kind of stop, ``pytest -m slow`` runs the full count (10 random trials).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

_HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "crash_trials.py"


def _load_harness():
    spec = importlib.util.spec_from_file_location("crash_trials", _HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ct = _load_harness()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The image folder, the shared cache and the uninterrupted run's final.pt."""
    work = tmp_path_factory.mktemp("crash")
    data = ct.build_folder(work / "data")
    began = time.monotonic()
    reference = ct.run_reference(data, work, work / "cache")
    return work, data, reference, time.monotonic() - began


@pytest.mark.resume
@pytest.mark.parametrize(
    ("seed", "plan"),
    [
        (0, ["self", "term"]),  # half a checkpoint on disk, then SIGTERM while training
        (1, ["int", "write"]),  # Ctrl-C while training, then SIGKILL mid-write
        (2, ["random", "startup"]),  # SIGKILL anywhere in training, then at start-up
    ],
)
def test_stopped_and_resumed_run_is_bit_identical(setup, seed, plan):
    work, data, reference, duration = setup
    trial = ct.run_trial(seed, data, work, work / "cache", reference, plan=plan, duration=duration)
    assert trial.ok, trial.problems or f"no planned stop landed: {trial.missed}"
    assert trial.resumed_from[0] == 0 and all(n > 0 for n in trial.resumed_from[2:])
    # The first planned stop lands (the later ones almost always: a resumed run may finish
    # first); a signal may land just after training, which is fine: final.pt is there.
    assert trial.kills and trial.kills[0].removesuffix("-after-training") == plan[0], trial
    if "self" in plan:
        assert trial.partial_files_seen >= 1  # a half-written file was there, and was ignored


def test_unreadable_checkpoint_detection_is_not_vacuous(tmp_path):
    """The folder check the trials rely on does flag a truncated or foreign *.pt file."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "cut.pt").write_bytes(b"PK\x03\x04 truncated zip")
    (folder / "other.pt").write_bytes(b"")
    bad = ct.unreadable_checkpoints(folder)
    assert [b.split(":")[0] for b in bad] == ["cut.pt", "other.pt"]


def test_a_trial_whose_stops_all_missed_is_not_a_pass():
    assert not ct.Trial(seed=0, plan=["random"], missed=["random"]).ok
    assert ct.Trial(seed=0, plan=["random"], kills=["random"]).ok


def test_continuation_check_flags_a_run_that_started_over():
    assert ct.continuation_problem([4, 5, 6], start=4, finished=False) is None
    assert ct.continuation_problem(list(range(4, 12)), start=4, finished=True) is None
    assert "trained batches [0, 1" in ct.continuation_problem(list(range(12)), 4, finished=True)
    assert ct.continuation_problem([4, 5], start=4, finished=True) is not None  # stopped early


@pytest.mark.slow
def test_full_count_of_random_trials(capsys, tmp_path):
    """The full run: 10 trials of up to 4 random stops each (about 3 minutes on 2 cores)."""
    assert ct.main(["--trials", "10", "--json", str(tmp_path / "trials.json")]) == 0
    print(capsys.readouterr().out)
