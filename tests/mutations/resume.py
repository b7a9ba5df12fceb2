"""Do the resume tests have teeth? Break resume in seven ways and watch them go red.

Each breakage is a named patch of the package's source. For each one, this script copies
``src/`` to a temporary folder, applies the patch there, puts that copy first on ``PYTHONPATH``
(so the command-line runs that the tests start in subprocesses import it too) and runs the
resume tests (``pytest -m resume``). A breakage that no test notices fails this check, and so
does a patch whose source lines are no longer in the code (the patch must move with the code it
breaks). "Checkpoint not loaded" (a run that silently starts over) must fail *every* resume
test; for the others one failing test is enough, so those runs stop at the first failure and
the in-process tests run first.

    python tests/mutations/resume.py            # all breakages, about 2 minutes on 2 cores
    python tests/mutations/resume.py --only rng

Run by ``.ci/run`` before the test suite. Prints one line per breakage with the tests that
caught it; exits 1 when a breakage went unnoticed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
TRAINER = "resvision/engine/trainer.py"
RESUME = "resvision/engine/resume.py"


@dataclass(frozen=True)
class Breakage:
    """A named patch: ``(file under src/, a line of code, the lines that replace it)``.

    The line is matched without its indentation, which the replacement lines take over, so a
    patch survives code being re-indented but not the line being changed or duplicated.
    """

    key: str
    name: str
    patches: tuple[tuple[str, str, tuple[str, ...]], ...]
    every_test: bool = False  # must every resume test fail?


BREAKAGES = (
    Breakage(
        "not-loaded",
        "checkpoint not loaded",
        (
            (
                TRAINER,
                "ckpt = load_resume_checkpoint(opts.resume, opts.save_dir, self.verbose)",
                ("load_resume_checkpoint(opts.resume, opts.save_dir, self.verbose)", "ckpt = None"),
            ),
        ),
        every_test=True,
    ),
    Breakage(
        "optimizer",
        "optimizer state not restored",
        ((RESUME, 'runner.optimizer.load_state_dict(ckpt["optimizer"])', ("pass",)),),
    ),
    Breakage(
        "scheduler",
        "scheduler not restored",
        (
            (
                "resvision/optim/lr.py",
                # the schedules' own load_state_dict (ReduceOnPlateau has another)
                'self.last_epoch = int(state["last_epoch"])\nself.last_lr = float(self.get_lr())',
                ("self.last_lr = float(self.get_lr())",),
            ),
        ),
    ),
    Breakage(
        "rng",
        "RNG states not restored",
        ((TRAINER, 'restore_rng_state(self.own["rng"])', ("pass",)),),
    ),
    Breakage(
        "loader",
        "loader position ignored (mid-epoch)",
        (
            (
                TRAINER,
                "iterator = resume_epoch(self.loader, progress.epoch, progress.batch, saved)",
                ("iterator = start_epoch(self.loader, progress.epoch, session)",),
            ),
        ),
    ),
    Breakage(
        "batchnorm",
        "BatchNorm buffers not restored",
        (
            (
                RESUME,
                'model.network.load_state_dict(ckpt["model"])',
                (
                    "buffers = {name for name, _ in model.network.named_buffers()}",
                    'weights = {k: v for k, v in ckpt["model"].items() if k not in buffers}',
                    "model.network.load_state_dict(weights, strict=False)",
                ),
            ),
        ),
    ),
    Breakage(
        "scaler",
        "gradient scaler state not restored",
        ((RESUME, 'runner.scaler.load_state_dict(ckpt["scaler"])', ("pass",)),),
    ),
)


@dataclass
class Outcome:
    breakage: Breakage
    failed: list[str]
    passed: list[str]
    seconds: float
    problem: str | None = None

    @property
    def caught(self) -> bool:
        if self.problem is not None or not self.failed:
            return False
        return not (self.breakage.every_test and self.passed)


def patched_source(breakage: Breakage, into: Path) -> None:
    """Copy ``src/`` into ``into`` and apply the breakage's patches there.

    Raises:
        ValueError: a patch's old text is not in its file exactly once.
    """
    shutil.copytree(SRC, into, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for rel, old, new in breakage.patches:
        path = into / rel
        lines = path.read_text().splitlines(keepends=True)
        # ``old`` is one line, or consecutive lines joined by "\n" where one line alone is not
        # unique; each line is matched without its indent.
        block = old.split("\n")
        found = [
            i
            for i in range(len(lines) - len(block) + 1)
            if all(lines[i + j].strip() == want for j, want in enumerate(block))
        ]
        if len(found) != 1:
            raise ValueError(
                f"{breakage.name}: the patched lines are in {rel} {len(found)} times, not once; "
                f"update this patch with the code it breaks:\n{old}"
            )
        i = found[0]
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        lines[i : i + len(block)] = [f"{indent}{line}\n" for line in new]
        path.write_text("".join(lines))


def resume_tests() -> list[str]:
    """The resume tests' node ids, the in-process ones first (those starting no subprocess)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "resume", "-p",
         "no:cacheprovider", "tests"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    if not ids:
        raise RuntimeError(f"no resume tests collected:\n{proc.stdout}\n{proc.stderr}")
    files = list(dict.fromkeys(i.split("::")[0] for i in ids))

    def starts_processes(file: str) -> bool:
        text = (ROOT / file).read_text()
        return "subprocess" in text or "crash_trials" in text

    order = sorted(files, key=starts_processes)  # stable: in-process files keep their order
    return sorted(ids, key=lambda i: order.index(i.split("::")[0]))


def run_breakage(breakage: Breakage, tests: list[str]) -> Outcome:
    """Run the resume tests against the broken copy; which failed and which passed."""
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"mutation-{breakage.key}-") as tmp:
        src = Path(tmp) / "src"
        try:
            patched_source(breakage, src)
        except ValueError as err:
            return Outcome(breakage, [], [], 0.0, problem=str(err))
        report = Path(tmp) / "report.xml"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
        env["RESVISION_NUM_THREADS"] = "1"
        stop_early = [] if breakage.every_test else ["-x"]
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "resume",
             f"--junitxml={report}", *stop_early, *tests],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if not report.exists():
            return Outcome(breakage, [], [], time.monotonic() - began, problem=proc.stdout[-2000:])
        failed, passed = _results(report)
    return Outcome(breakage, failed, passed, time.monotonic() - began)


def _results(report: Path) -> tuple[list[str], list[str]]:
    failed, passed = [], []
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        if case.find("skipped") is not None:
            continue
        bad = case.find("failure") is not None or case.find("error") is not None
        (failed if bad else passed).append(name)
    return failed, passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=[b.key for b in BREAKAGES])
    parser.add_argument("--jobs", type=int, default=2, help="breakages checked at once")
    args = parser.parse_args(argv)
    chosen = [b for b in BREAKAGES if not args.only or b.key in args.only]
    began = time.monotonic()
    tests = resume_tests()
    print(f"resume mutation check: {len(chosen)} breakages x {len(tests)} resume tests", flush=True)
    # The run that must fail every test is the longest: it starts first, the others beside it.
    chosen.sort(key=lambda b: not b.every_test)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda b: run_breakage(b, tests), chosen))
    for o in outcomes:
        status = "caught" if o.caught else "NOT CAUGHT"
        if o.problem is not None:
            detail = o.problem
        elif o.breakage.every_test:
            detail = f"{len(o.failed)}/{len(o.failed) + len(o.passed)} resume tests failed"
            if o.passed:
                detail += f"; still passing: {', '.join(o.passed)}"
        else:
            detail = f"first caught by {o.failed[0]}" if o.failed else "every resume test passed"
        print(f"  {status:10s} {o.breakage.name:38s} {o.seconds:5.0f} s  {detail}", flush=True)
    missed = [o for o in outcomes if not o.caught]
    print(
        f"{len(outcomes) - len(missed)} of {len(outcomes)} breakages caught by the resume tests "
        f"in {time.monotonic() - began:.0f} s"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
