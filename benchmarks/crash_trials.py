"""Crash anywhere, lose nothing: SIGKILL ``resvision train`` at random moments, resume, compare.

Each trial trains ResNet-20 on a small image folder cut from the embedded CIFAR-10 sample
(4 classes, 48 training and 16 validation images, batch 16: 3 steps per epoch, 4 epochs, so that
kills land in steps, evaluations, epoch-end and per-step checkpoint writes) with
``--seed N --deterministic --device cpu --save-steps 1``. The process is stopped,
then restarted with ``--resume auto`` until it finishes on its own. Kinds of stop:

- ``startup``: SIGKILL 0.1 to 2.5 s after the start (imports, data, model, first steps);
- ``random``: SIGKILL at a random moment of training (steps, evaluations, saving: anywhere),
  drawn from the start of this run's training;
- ``write``: SIGKILL the moment a checkpoint's temporary file appears in the folder (mid-write);
- ``self``: the process kills itself with SIGKILL after writing half of its N-th checkpoint
  (a partial file on disk, guaranteed);
- ``term`` / ``int``: SIGTERM / SIGINT (Ctrl-C) while it trains: it must write ``last.pt``,
  say how to resume and exit with 143 / 130.

After every kill, every ``*.pt`` file of the checkpoint folder must load with
``torch.load(weights_only=True)`` as a training checkpoint (temporary files of the killed
process may remain, hidden; they are removed when the run resumes). Every process must continue
from the checkpoint it found: the batches it logs (``metrics.jsonl``, one row per batch) start
with the one after that checkpoint, and the process that finishes trains exactly the batches
that were left. At the end the folder holds only loadable files and ``final.pt`` must equal the
uninterrupted run's in every entry, bit for bit (weights, buffers, optimizer state and param
groups, schedule, scaler, callbacks, metric counts, random states, loader position, progress,
config; the run folder's own name aside). A trial whose planned stops all missed (the run
finished first) proves nothing and fails.

    python benchmarks/crash_trials.py                    # 10 trials, up to 4 kills each
    python benchmarks/crash_trials.py --trials 20 --json other.json

The results go to ``benchmarks/results/crash_trials.json`` (the README's figures come from it).

The CI part of the suite (``tests/reliability/test_crash_resume.py``) runs a few trials with
these functions; ``pytest -m slow tests/reliability`` runs the full count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

KILL_KINDS = ("startup", "random", "write", "self", "term", "int")

# Run in the child for kind "self": SIGKILL itself after writing half of its N-th checkpoint.
_SELF_KILL = """
import io, os, signal, sys, torch
target, count, real_save = int(os.environ["CRASH_SAVE_NUMBER"]), [0], torch.save
def save(obj, f, *args, **kwargs):
    count[0] += 1
    if count[0] == target:
        buf = io.BytesIO()
        real_save(obj, buf, *args, **kwargs)
        out = open(f, "wb") if isinstance(f, (str, os.PathLike)) else f
        out.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        out.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *args, **kwargs)
torch.save = save
from resvision.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def build_folder(root: Path, classes: int = 4, train: int = 12, val: int = 4) -> Path:
    """Write ``root/train/<class>/*.png`` and ``root/val/<class>/*.png`` from the embedded
    sample (its first images of the first ``classes`` classes); returns ``root``."""
    from resvision.datasets import Cifar10Sample

    for split, mode, count in (("train", "train", train), ("val", "test", val)):
        ds = Cifar10Sample(mode=mode, backend="cv2")
        labels = np.asarray([int(np.asarray(ds[i][1]).reshape(-1)[0]) for i in range(len(ds))])
        for c in range(classes):
            folder = root / split / ds.classes[c]
            folder.mkdir(parents=True, exist_ok=True)
            for j, i in enumerate(np.flatnonzero(labels == c)[:count]):
                image = np.asarray(ds[int(i)][0], dtype=np.uint8)
                Image.fromarray(image).save(folder / f"{j:03d}.png")
    return root


EPOCHS = 4
BATCHES_PER_EPOCH = 3  # 48 training images, batch 16
RESULTS = Path(__file__).resolve().parent / "results" / "crash_trials.json"
# The run folder's own path is part of the saved command line; nothing else may differ.
RUN_PATHS = ("callbacks.resvision.cli.RunInfo.config.output",)


def train_argv(data: Path, out: Path, seed: int = 7, epochs: int = EPOCHS) -> list[str]:
    """The ``resvision train`` arguments of every run of a trial."""
    return [
        "train",
        "--data", str(data),
        "--model", "resnet20",
        "--epochs", str(epochs),
        "--batch-size", "16",
        "--seed", str(seed),
        "--deterministic",
        "--device", "cpu",
        "--save-steps", "1",
        "--output", str(out),
        "--resume", "auto",
        "--set", "train.log_freq=1",
        "--set", "output.report=false",
    ]  # fmt: skip


def child_env(cache: Path, **extra: str) -> dict[str, str]:
    """One intra-op thread (identical numerics in every run) and a private cache."""
    env = dict(os.environ)
    env.update({"RESVISION_NUM_THREADS": "1", "RESVISION_CACHE": str(cache)})
    env.pop("RESVISION_MAX_STEPS", None)
    env.update(extra)
    return env


def start(
    argv: list[str], env: dict[str, str], self_kill_at: int | None = None
) -> subprocess.Popen:
    """Start ``resvision ARGV`` (with the self-kill wrapper when ``self_kill_at`` is set)."""
    if self_kill_at is None:
        cmd = [sys.executable, "-m", "resvision", *argv]
    else:
        cmd = [sys.executable, "-c", _SELF_KILL, *argv]
        env = {**env, "CRASH_SAVE_NUMBER": str(self_kill_at)}
    return subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint if os.name == "posix" else None,
    )


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and resvision rightly keeps a signal
    # the user chose to ignore; the Ctrl-C trials need the default, as in a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def temp_files(folder: Path) -> list[Path]:
    """Temporary files of unfinished checkpoint writes (``.<name>.<pid>.<hex>.tmp``)."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]


def unreadable_checkpoints(folder: Path) -> list[str]:
    """The ``*.pt`` files of ``folder`` that do not load as training checkpoints."""
    bad = []
    for file in sorted(folder.glob("*.pt")) if folder.is_dir() else []:
        try:
            obj = torch.load(file, map_location="cpu", weights_only=True)
            if obj.get("format") != "resvision.checkpoint":
                bad.append(f"{file.name}: not a training checkpoint")
        except Exception as err:
            bad.append(f"{file.name}: {type(err).__name__}: {err}")
    return bad


def differences(a: Path, b: Path) -> list[str]:
    """Where two checkpoints' states differ, bit for bit, in any entry (the run folder's name
    and the time of writing aside): :func:`resvision.engine.checkpoint.checkpoint_differences`."""
    from resvision.engine.checkpoint import RUN_INDEPENDENT_KEYS, checkpoint_differences

    ca = torch.load(a, map_location="cpu", weights_only=True)
    cb = torch.load(b, map_location="cpu", weights_only=True)
    return checkpoint_differences(ca, cb, ignore=RUN_INDEPENDENT_KEYS + RUN_PATHS)


def resume_start(folder: Path) -> int:
    """Batches done in the checkpoint ``--resume auto`` will take from ``folder`` (0: none)."""
    from resvision.engine.checkpoint import find_latest_checkpoint

    latest = find_latest_checkpoint(folder)
    if latest is None:
        return 0
    progress = torch.load(latest, map_location="cpu", weights_only=True)["progress"]
    return progress["epoch"] * BATCHES_PER_EPOCH + progress["batch"]


def logged_batches(metrics: Path, offset: int) -> list[int]:
    """The batches (numbered from 0 over the run) whose ``train_batch`` rows were written after
    byte ``offset`` of ``metrics.jsonl``: those the process started there trained."""
    if not metrics.exists():
        return []
    with open(metrics, "rb") as f:
        f.seek(offset)
        rows = [json.loads(line) for line in f.read().decode().splitlines() if line.strip()]
    return [r["epoch"] * BATCHES_PER_EPOCH + r["step"] for r in rows if r["event"] == "train_batch"]


def continuation_problem(batches: list[int], start: int, finished: bool) -> str | None:
    """Why a process that found a checkpoint after ``start`` batches did not continue from it:
    its batches must be ``start, start + 1, ...`` (all of the rest when it ``finished``)."""
    total = EPOCHS * BATCHES_PER_EPOCH
    expected = list(range(start, total))
    ok = batches == expected if finished else batches == expected[: len(batches)]
    if ok:
        return None
    return (
        f"the process resumed after batch {start} but trained batches {batches[:4]}... "
        f"({len(batches)} of them; {len(expected)} were left)"
    )


def _kill_when_writing(proc: subprocess.Popen, folder: Path, timeout: float) -> None:
    """SIGKILL ``proc`` as soon as a checkpoint temp file appears (it may finish first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if temp_files(folder):
            proc.send_signal(signal.SIGKILL)
            return
        time.sleep(0.001)


def _signal_when_training(
    proc: subprocess.Popen, folder: Path, signum: int, delay: float, timeout: float
) -> None:
    """Send ``signum`` ``delay`` s after this run's first checkpoint write (it is training)."""
    since = time.time()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):  # a file replaced while listed
            times = [p.stat().st_mtime for p in folder.glob("*.pt")] if folder.is_dir() else []
            if times and max(times) >= since:
                time.sleep(delay)
                if proc.poll() is None:
                    proc.send_signal(signum)
                return
        time.sleep(0.01)


def _kill_after(proc: subprocess.Popen, delay: float) -> None:
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


#: kind -> the exit code of a run it stopped (SIGKILL: -9; SIGTERM / Ctrl-C: resvision's own).
EXPECTED_CODE = {"startup": -9, "random": -9, "write": -9, "self": -9, "term": 143, "int": 130}


@dataclass
class Trial:
    """What happened in one trial."""

    seed: int
    plan: list[str] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # the run finished before the stop landed
    resumed_from: list[int] = field(default_factory=list)  # batches done when each run began
    partial_files_seen: int = 0
    runs: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.kills)


def run_reference(data: Path, work: Path, cache: Path) -> Path:
    """Train uninterrupted; returns its ``final.pt``."""
    out = work / "reference"
    proc = start(train_argv(data, out), child_env(cache))
    stdout, stderr = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"reference run failed ({proc.returncode}):\n{stdout}\n{stderr}")
    return out / "checkpoints" / "final.pt"


def run_trial(
    seed: int,
    data: Path,
    work: Path,
    cache: Path,
    reference: Path,
    *,
    max_kills: int = 4,
    duration: float = 12.0,
    kinds: tuple[str, ...] = KILL_KINDS,
    plan: list[str] | None = None,
) -> Trial:
    """Stop and resume one training run until it finishes; check the folder after each stop.

    Args:
        seed: Seeds this trial's choice of kills (not the training, which uses ``--seed 7``).
        data: The image folder (:func:`build_folder`).
        work: Where the trial's run folder goes.
        cache: The shared ``RESVISION_CACHE``.
        reference: ``final.pt`` of the uninterrupted run.
        max_kills: Stops drawn at random before the run is let finish.
        duration: About how long an uninterrupted run takes (s): random kills land before it.
        kinds: The kinds of stop to draw from (see :data:`EXPECTED_CODE`).
        plan: The kinds of stop, in order, instead of drawing them.

    Returns:
        The :class:`Trial`; ``problems`` lists every broken guarantee.
    """
    rng = random.Random(seed)
    plan = list(plan) if plan is not None else [rng.choice(kinds) for _ in range(max_kills)]
    trial = Trial(seed, plan=plan)
    out = work / f"trial-{seed}"
    ckpt = out / "checkpoints"
    env = child_env(cache)
    started = time.monotonic()
    while True:
        kind = plan[len(trial.kills)] if len(trial.kills) < len(plan) else None
        trial.runs += 1
        self_kill = rng.randint(1, 6) if kind == "self" else None
        begun, offset = resume_start(ckpt), _size(out / "metrics.jsonl")
        trial.resumed_from.append(begun)
        proc = start(train_argv(data, out), env, self_kill_at=self_kill)
        if kind == "startup":
            _kill_after(proc, rng.uniform(0.1, 2.5))
        elif kind == "random":  # training is about the last third of a run; margin for load
            _signal_when_training(
                proc, ckpt, signal.SIGKILL, rng.uniform(0, 0.15 * duration), 3 * duration
            )
        elif kind == "write":
            _kill_when_writing(proc, ckpt, timeout=3 * duration)
        elif kind in ("term", "int"):
            signum = signal.SIGTERM if kind == "term" else signal.SIGINT
            _signal_when_training(proc, ckpt, signum, rng.uniform(0, 0.3), 3 * duration)
        _, stderr = proc.communicate(timeout=600)
        problem = continuation_problem(
            logged_batches(out / "metrics.jsonl", offset), begun, proc.returncode == 0
        )
        if problem is not None:
            trial.problems.append(f"run {trial.runs}: {problem}")
            return trial
        if proc.returncode == 0:
            if kind is not None:
                trial.missed.append(kind)
            break
        # Default signal handling is back once fit has returned (final evaluation, report):
        # fine when training had finished, since final.pt holds everything.
        after_training = proc.returncode in (-signal.SIGTERM, -signal.SIGINT)
        if kind in ("term", "int") and after_training and (ckpt / "final.pt").exists():
            trial.kills.append(f"{kind}-after-training")
            continue
        if kind is None or proc.returncode != EXPECTED_CODE[kind]:
            trial.problems.append(
                f"run {trial.runs} ({kind}) exited {proc.returncode}: {stderr[-1500:]}"
            )
            return trial
        trial.kills.append(kind)
        stopped_cleanly = (ckpt / "last.pt").exists() and "resvision train --resume" in stderr
        if kind in ("term", "int") and not stopped_cleanly:
            trial.problems.append(f"{kind}: no last.pt or no resume hint: {stderr[-500:]}")
        trial.partial_files_seen += len(temp_files(ckpt))
        trial.problems += [
            f"after stop {len(trial.kills)} ({kind}): {b}" for b in unreadable_checkpoints(ckpt)
        ]
        if trial.runs > len(plan) + 3:
            trial.problems.append("the run did not finish")
            return trial
    trial.seconds = time.monotonic() - started
    if not trial.kills:
        trial.problems.append(f"no planned stop landed ({', '.join(trial.missed)} missed)")
    leftovers = temp_files(ckpt)
    if leftovers:
        trial.problems.append(f"temporary files left: {[p.name for p in leftovers]}")
    trial.problems += unreadable_checkpoints(ckpt)
    final = ckpt / "final.pt"
    if not final.exists():
        trial.problems.append("no final.pt")
    else:
        diffs = differences(final, reference)
        if diffs:
            trial.problems.append(
                f"{len(diffs)} entries differ from the uninterrupted run: {', '.join(diffs[:3])}"
            )
    return trial


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--max-kills", type=int, default=4, help="kills per trial")
    parser.add_argument("--seed", type=int, default=0, help="first trial seed")
    parser.add_argument(
        "--json", metavar="FILE", default=str(RESULTS), help="where the results JSON goes"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="crash-trials-") as tmp:
        work = Path(tmp)
        data = build_folder(work / "data")
        began = time.monotonic()
        reference = run_reference(data, work, work / "cache")
        duration = time.monotonic() - began
        trials = []
        for seed in range(args.seed, args.seed + args.trials):
            trial = run_trial(
                seed, data, work, work / "cache", reference,
                max_kills=args.max_kills, duration=duration,
            )  # fmt: skip
            trials.append(trial)
            status = "ok" if trial.ok else "FAILED: " + "; ".join(trial.problems)
            print(
                f"trial {seed:3d}: {len(trial.kills)} stops ({', '.join(trial.kills)})"
                + (f", finished before {trial.missed[0]}" if trial.missed else "")
                + f", {trial.partial_files_seen} partial files left by kills, {trial.runs} runs, "
                f"{trial.seconds:.0f} s: {status}",
                flush=True,
            )
    kinds = Counter(k for t in trials for k in t.kills)
    passed = sum(t.ok for t in trials)
    sigkill = sum(kinds[k] for k in ("startup", "random", "write", "self"))
    print(
        f"\n{passed}/{len(trials)} trials ended bit-identical to the uninterrupted run, every "
        f"checkpoint readable after every stop; {sum(kinds.values())} stops: {sigkill} SIGKILL "
        f"({kinds['startup']} at start-up, {kinds['random']} at random in training, "
        f"{kinds['write']} while a checkpoint was written, "
        f"{kinds['self']} after half a checkpoint), {kinds['term']} SIGTERM and {kinds['int']} "
        f"Ctrl-C while training (each wrote last.pt first), "
        f"{kinds['term-after-training'] + kinds['int-after-training']} signal(s) just after "
        "training; "
        f"{sum(t.partial_files_seen for t in trials)} partial temporary files left by kills, "
        f"all removed on resume; uninterrupted run {duration:.1f} s"
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {
                "command": "python benchmarks/crash_trials.py " + " ".join(argv or sys.argv[1:]),
                "trials": [asdict(t) | {"ok": t.ok} for t in trials],
                "passed": passed,
                "kills": dict(kinds),
                "partial_files_seen": sum(t.partial_files_seen for t in trials),
                "reference_seconds": round(duration, 2),
                "torch": torch.__version__,
                "when": time.strftime("%Y-%m-%d"),
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if passed == len(trials) else 1


if __name__ == "__main__":
    raise SystemExit(main())
