"""Peers on equal work: Paddle's ``Model.fit`` and torchvision in a plain loop, against resvision.

Every comparison runs the same work on each side, each side in its own process per round:

- **recipe**: the tutorial's, Momentum (lr 0.01, momentum 0.9, coupled L2 weight decay 1e-4),
  cross-entropy, accuracy top-1 and top-5 computed on every batch (passed to every side as
  the same arguments, and echoed back by each);
- **data path**: a per-sample in-memory Dataset of the same random images (numpy
  ``default_rng(seed)``; each side reports a digest of them, the harness checks they agree)
  through each framework's DataLoader, shuffled, the same batch and ``num_workers``;
- **network**: the same architecture and size (trainable parameter counts are recorded and
  checked);
- **threads**: ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` set in each
  process's environment and by ``torch.set_num_threads`` / ``paddle.base.core.set_num_threads``
  in it; each side reports what it runs with;
- **timing**: the same untimed warm-up steps in every process, then one timed epoch of
  ``steps`` batches (the whole ``fit`` call, or the whole loop); the same number of rounds per
  side, alternating ABBA (round 1: A B, round 2: B A, ...); best and median round reported.

The resvision side (``peers/resvision_fit.py``) runs with the peer's interpreter and ``src/`` on
``PYTHONPATH``, so both sides of a comparison share one Python, torch and numpy build.
Precisions are paired: resvision ``fp32`` against the peer in float32, and resvision's own
choice (``auto``: bf16 autocast + channels-last on a CPU with native bf16) against
torchvision's best hand tuning (bf16 autocast + channels-last) and against Paddle's float32
(Paddle's default on the CPU, the tutorial's run).

The peers live in their own virtual environments; a peer whose interpreter is missing is
reported as skipped:

- ``RESVISION_PADDLE_PYTHON`` (default ``/work/venvs/paddle/bin/python``): paddlepaddle 3.3.1,
  and torch + numpy + PyYAML + Pillow for the resvision side::

      python3.11 -m venv /work/venvs/paddle
      /work/venvs/paddle/bin/pip install paddlepaddle==3.3.1 numpy pyyaml pillow
      /work/venvs/paddle/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

- ``RESVISION_TV_PYTHON`` (default ``/work/venvs/tv/bin/python``): torch 2.14.1 + torchvision
  0.29.1 (the issue's versions; about 5.5 GB with the CUDA wheels)::

      python3.11 -m venv /work/venvs/tv
      /work/venvs/tv/bin/pip install torch==2.14.1 torchvision==0.29.1 numpy pyyaml pillow

Usage (on an idle machine; prints a table, writes ``benchmarks/results/peers.json``)::

    python -m benchmarks.peers                      # about 15 min on 2 idle cores
    python -m benchmarks.peers --quick --out /tmp/peers-quick.json   # smoke run, a few minutes

``python -m benchmarks --only peers`` runs the same comparisons and puts the rows in the
suite's JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from benchmarks.common import RESULTS_DIR, ROOT, Result, format_table, machine_info, skipped

PADDLE_PYTHON = os.environ.get("RESVISION_PADDLE_PYTHON", "/work/venvs/paddle/bin/python")
TV_PYTHON = os.environ.get("RESVISION_TV_PYTHON", "/work/venvs/tv/bin/python")
PEERS_DIR = os.path.join(ROOT, "benchmarks", "peers")
SRC = os.path.join(ROOT, "src")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

#: The tutorial's recipe, passed to every side as the same arguments.
RECIPE = {"lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4, "topk": (1, 5)}
DATA_PATH = (
    "per-sample in-memory Dataset of the same random images (numpy default_rng(seed), digest "
    "checked) through each framework's DataLoader: shuffled, same batch, same num_workers"
)


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a script of ``benchmarks/peers/`` run by an interpreter.

    Attributes:
        key: unique within its comparison.
        label: for the table.
        python: the interpreter (a missing one skips the comparison).
        script: a file name in ``benchmarks/peers/`` or an absolute path.
        precision: the script's ``--precision``.
        resvision: put ``src/`` on ``PYTHONPATH``.
    """

    key: str
    label: str
    python: str
    script: str
    precision: str
    resvision: bool = False


@dataclass(frozen=True)
class Comparison:
    """Sides that do the same work; ``pairs`` are the ``(resvision side, peer side)`` ratios."""

    name: str
    model: str
    size: int
    batch: int
    classes: int
    steps: int
    sides: tuple[Side, ...]
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Protocol:
    """How every side of every comparison is run (the same for all sides)."""

    rounds: int = 5
    warmup: int = 3
    threads: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))
    workers: int = 0
    seed: int = 0
    steps: int | None = None  # None: each comparison's own
    timeout_s: int = 1800


def comparisons(paddle_python: str = PADDLE_PYTHON, tv_python: str = TV_PYTHON) -> list[Comparison]:
    """The comparisons: Paddle's tutorial recipe, and torchvision's resnet50 and resnet18."""

    def ours(python: str) -> tuple[Side, Side]:
        return (
            Side("resvision-fp32", "resvision Model.fit fp32", python, "resvision_fit.py",
                 "fp32", resvision=True),
            Side("resvision-auto", "resvision Model.fit auto", python, "resvision_fit.py",
                 "auto", resvision=True),
        )  # fmt: skip

    paddle = Side("paddle", "Paddle Model.fit fp32", paddle_python, "paddle_fit.py", "fp32")
    out = [
        Comparison(
            "tutorial resnet50@32 b64 vs Paddle",
            "resnet50", 32, 64, 10, 20,
            (paddle, *ours(paddle_python)),
            (("resvision-fp32", "paddle"), ("resvision-auto", "paddle")),
        )
    ]  # fmt: skip
    for model, batch in (("resnet50", 64), ("resnet18", 128)):
        tv = (
            Side("tv-fp32", "torchvision loop fp32", tv_python, "torchvision_loop.py", "fp32"),
            Side("tv-bf16cl", "torchvision loop bf16+cl", tv_python, "torchvision_loop.py",
                 "bf16+cl"),
        )  # fmt: skip
        out.append(
            Comparison(
                f"{model}@32 b{batch} vs torchvision",
                model, 32, batch, 10, 30,
                (tv[0], *ours(tv_python), tv[1]),
                (("resvision-fp32", "tv-fp32"), ("resvision-auto", "tv-bf16cl")),
            )
        )  # fmt: skip
    return out


def round_order(keys: Sequence[str], rounds: int) -> list[list[str]]:
    """The order of the sides in each round: forward, then backward, ... (ABBA for two).

    Examples:
        >>> round_order(["a", "b"], 3)
        [['a', 'b'], ['b', 'a'], ['a', 'b']]
    """
    return [list(keys) if r % 2 == 0 else list(reversed(keys)) for r in range(rounds)]


def common_args(comparison: Comparison, protocol: Protocol) -> list[str]:
    """The arguments every side of ``comparison`` gets (everything but ``--precision``)."""
    steps = protocol.steps or comparison.steps
    return [
        "--model", comparison.model, "--size", str(comparison.size),
        "--batch", str(comparison.batch), "--classes", str(comparison.classes),
        "--steps", str(steps), "--warmup", str(min(protocol.warmup, steps)),
        "--rounds", "1", "--threads", str(protocol.threads),
        "--workers", str(protocol.workers), "--seed", str(protocol.seed),
        "--lr", str(RECIPE["lr"]), "--momentum", str(RECIPE["momentum"]),
        "--weight-decay", str(RECIPE["weight_decay"]),
        "--topk", ",".join(str(k) for k in RECIPE["topk"]),
    ]  # fmt: skip


def side_command(side: Side, comparison: Comparison, protocol: Protocol) -> list[str]:
    """The command line of one side's process."""
    script = side.script if os.path.isabs(side.script) else os.path.join(PEERS_DIR, side.script)
    return [side.python, script, *common_args(comparison, protocol), "--precision", side.precision]


def side_env(side: Side, protocol: Protocol) -> dict[str, str]:
    """The environment of one side's process: the thread variables, and ``src/`` if resvision."""
    env = dict(os.environ)
    for var in THREAD_VARIABLES:
        env[var] = str(protocol.threads)
    # resvision's src/ goes first for resvision's side and never to a peer, whatever
    # PYTHONPATH the harness inherited
    inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    inherited = [p for p in inherited if os.path.abspath(p) != os.path.abspath(SRC)]
    path = [SRC, *inherited] if side.resvision else inherited
    if path:
        env["PYTHONPATH"] = os.pathsep.join(path)
    else:
        env.pop("PYTHONPATH", None)
    return env


def run_process(cmd: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run one side's process; its last stdout line is its JSON report.

    Raises:
        RuntimeError: the process failed (the message ends with its last stderr line).
    """
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, cwd=PEERS_DIR, env=env
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        err = proc.stderr.strip().splitlines()
        raise RuntimeError(f"exit {proc.returncode}: {err[-1] if err else 'no output'}")
    return json.loads(lines[-1])


Runner = Callable[[list[str], dict[str, str], float], dict[str, Any]]


def measure(
    comparison: Comparison,
    protocol: Protocol,
    runner: Runner = run_process,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every side ``protocol.rounds`` times, alternating; the comparison's JSON record.

    Returns:
        ``{'name', 'sides': {key: {...best, median, rounds...}}, 'pairs': [...], 'order',
        'equal': {...}}``, or ``{'name', 'skipped': reason}`` when a peer is missing or a
        process failed.
    """
    record: dict[str, Any] = {
        "name": comparison.name,
        "model": comparison.model,
        "size": comparison.size,
        "batch": comparison.batch,
        "classes": comparison.classes,
        "steps": protocol.steps or comparison.steps,
    }
    missing = sorted({s.python for s in comparison.sides if not os.path.exists(s.python)})
    if missing:
        return {**record, "skipped": f"not installed: {', '.join(missing)}"}
    sides = {s.key: s for s in comparison.sides}
    reports: dict[str, list[dict[str, Any]]] = {k: [] for k in sides}
    order = round_order(list(sides), protocol.rounds)
    for r, keys in enumerate(order):
        for key in keys:
            side = sides[key]
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
            t0 = time.perf_counter()
            try:
                rep = runner(
                    side_command(side, comparison, protocol),
                    side_env(side, protocol),
                    protocol.timeout_s,
                )
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as err:
                return {**record, "skipped": f"{side.label} failed: {str(err)[-160:]}"}
            rep.update(round=r, load_average=load, process_s=time.perf_counter() - t0)
            reports[key].append(rep)
            log(
                f"  peers {comparison.name} round {r + 1}/{protocol.rounds} {side.label}: "
                f"{rep['best']:.1f} images/s"
            )
    record["order"] = order
    record["sides"] = {}
    for key, reps in reports.items():
        speeds = [rep["best"] for rep in reps]
        first = reps[0]
        record["sides"][key] = {
            "label": sides[key].label,
            "best": max(speeds),
            "median": statistics.median(speeds),
            "images_per_s": speeds,
            "rounds": len(reps),
            "precision": first["precision"],
            "params": first["params"],
            "threads": first["threads"],
            "versions": first["versions"],
            "implementation": first["implementation"],
            "interpreter": sides[key].python,
            "final": [rep.get("final", {}) for rep in reps],
            "load_average": [rep["load_average"] for rep in reps],
        }
    record["equal"] = equal_conditions(protocol, reports)
    record["pairs"] = []
    for ours, peer in comparison.pairs:
        a, b = record["sides"][ours], record["sides"][peer]
        record["pairs"].append(
            {
                "resvision": ours,
                "peer": peer,
                "ratio_best": a["best"] / b["best"],
                "ratio_median": a["median"] / b["median"],
            }
        )
    return record


def equal_conditions(
    protocol: Protocol, reports: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """What every process of a comparison reported, checked to be the same.

    Returns:
        ``{what: True | [the values seen]}`` for the recipe, batch, steps, warm-up, data
        (digest, images, workers), threads (each process's request, thread variables and
        torch's count must all be ``protocol.threads``), trainable parameters and the number
        of rounds; ``'all'``: whether everything agrees.
    """
    every = [rep for reps in reports.values() for rep in reps]

    def same(get: Callable[[dict[str, Any]], Any], expected: Any = None) -> bool | list[Any]:
        values = {json.dumps(get(rep), sort_keys=True) for rep in every}
        if len(values) == 1 and (expected is None or values == {json.dumps(expected)}):
            return True
        return sorted(values)

    n = protocol.threads
    rounds = {len(v) for v in reports.values()}
    checks: dict[str, Any] = {
        "recipe": same(lambda r: r["recipe"]),
        "batch": same(lambda r: r["batch"]),
        "steps": same(lambda r: r["steps"]),
        "warmup": same(lambda r: r["warmup"]),
        "data": same(lambda r: {k: r["data"][k] for k in ("sha256", "images", "workers")}),
        "threads": same(
            lambda r: (
                [r["threads"].get("requested")]
                + [r["threads"].get(v) for v in THREAD_VARIABLES]
                + [r["threads"].get("torch", n)]  # Paddle reports no count of its own
            ),
            expected=[n, *[str(n)] * len(THREAD_VARIABLES), n],
        ),
        "params": same(lambda r: r["params"]),
        "rounds": True if len(rounds) == 1 else sorted(rounds),
    }
    checks["all"] = all(v is True for v in checks.values())
    return checks


def rows_of(record: dict[str, Any]) -> list[Result]:
    """The table rows of one comparison record."""
    name = record["name"]
    if "skipped" in record:
        return [skipped("peers", name, record["skipped"])]
    rows = []
    ratios = {p["resvision"]: p for p in record["pairs"]}
    for key, side in record["sides"].items():
        pair = ratios.get(key)
        peer = record["sides"][pair["peer"]]["label"] if pair else None
        versions = ", ".join(f"{k} {v}" for k, v in side["versions"].items() if k != "python")
        note = f"{side['precision']}; {versions}"
        if record["equal"]["all"] is not True:
            note += "; UNEQUAL: " + ", ".join(
                k for k, v in record["equal"].items() if v is not True and k != "all"
            )
        rows.append(
            Result(
                "peers",
                f"{name}: {side['label']}",
                side["best"],
                "images/s",
                ratio=pair["ratio_best"] if pair else None,
                baseline=peer,
                median=side["median"],
                note=note,
                extra={
                    "ratio_median": pair["ratio_median"] if pair else None,
                    "rounds": side["rounds"],
                    "threads": side["threads"],
                    "steps": record["steps"],
                    "batch": record["batch"],
                    "images_per_s": side["images_per_s"],
                },
            )
        )
    return rows


def run(
    quick: bool = False,
    *,
    out: str | None = None,
    protocol: Protocol | None = None,
    only: Sequence[str] | None = None,
    cases: Sequence[Comparison] | None = None,
    runner: Runner = run_process,
    log: Callable[[str], None] = print,
) -> list[Result]:
    """Measure every comparison; the table rows (and ``out``: the JSON record, if given).

    Args:
        quick: a smoke run: 2 rounds of 2 timed steps after 1 warm-up step.
        out: where to write the JSON record (None: nowhere).
        protocol: overrides the rounds, warm-up, threads... (default: ``Protocol()``).
        only: names of comparisons to run (substrings), default all.
        cases: the comparisons (default :func:`comparisons`).
        runner: runs one process (tests pass a fake).
        log: progress lines.
    """
    if protocol is None:
        protocol = Protocol(rounds=2, warmup=1, steps=2) if quick else Protocol()
    chosen = [c for c in (cases or comparisons()) if not only or any(o in c.name for o in only)]
    started, machine = time.perf_counter(), machine_info(torch.device("cpu"))
    machine.pop("torch_threads", None)  # the harness's own; each side records its threads
    records = [measure(c, protocol, runner=runner, log=log) for c in chosen]
    rows = [row for rec in records for row in rows_of(rec)]
    if out is not None:
        write_json(out, machine, protocol, records, quick, time.perf_counter() - started)
    return rows


def write_json(
    path: str,
    machine: dict[str, Any],
    protocol: Protocol,
    records: list[dict[str, Any]],
    quick: bool,
    seconds: float,
) -> None:
    """The results JSON: machine, protocol, recipe, data path and every comparison."""
    payload = {
        "benchmark": "peers",
        "quick": quick,
        "command": "python -m benchmarks.peers " + " ".join(sys.argv[1:]),
        "seconds": round(seconds),
        "machine": machine,
        "protocol": {
            **asdict(protocol),
            "order": "ABBA: the sides forward in odd rounds, "
            "backward in even ones; one process per side and round",
            "timed": "one epoch of `steps` batches per process: the whole fit call "
            "(or the whole loop), after `warmup` untimed steps",
        },
        "recipe": {
            "optimizer": "Momentum",
            **{k: v for k, v in RECIPE.items() if k != "topk"},
            "weight_decay_kind": "coupled L2 (Paddle L2Decay)",
            "loss": "cross-entropy",
            "metrics": [f"acc_top{k}" for k in RECIPE["topk"]],
        },
        "data_path": DATA_PATH,
        "comparisons": records,
    }
    if hasattr(os, "getloadavg"):
        payload["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def markdown(rows: Sequence[Result]) -> str:
    """The peers table as Markdown: best and median images/s, and the ratios."""
    out = [
        "| comparison: side | best images/s | median | vs | ratio best | ratio median | "
        "rounds | note |",
        "|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in rows:
        if r.value is None:
            out.append(f"| {r.name} | - | - | | | | | {r.note} |")
            continue
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        rmed = r.extra.get("ratio_median")
        out.append(
            f"| {r.name} | {r.value:,.1f} | {r.median:,.1f} | {r.baseline or ''} | {ratio} | "
            f"{f'{rmed:.2f}x' if rmed is not None else ''} | {r.extra.get('rounds')} | "
            f"{r.note} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.peers``: run, print the table, write the JSON."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.peers", description=__doc__.splitlines()[0]
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 2 rounds of 2 steps")
    p.add_argument(
        "--out",
        default=None,
        help="JSON path (default benchmarks/results/peers.json; with --quick "
        "/tmp/peers-quick.json, so a smoke run never replaces the results)",
    )
    p.add_argument("--only", default=None, help="comma-separated substrings of comparison names")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="timed steps (default per case)")
    p.add_argument("--threads", type=int, default=None, help="default: the usable CPU cores")
    args = p.parse_args(argv)
    base = Protocol(rounds=2, warmup=1, steps=2) if args.quick else Protocol()
    overrides = {
        k: getattr(args, k)
        for k in ("rounds", "warmup", "steps", "threads")
        if getattr(args, k) is not None
    }
    protocol = replace(base, **overrides)
    out = args.out or (
        "/tmp/peers-quick.json" if args.quick else os.path.join(RESULTS_DIR, "peers.json")
    )
    only = args.only.split(",") if args.only else None
    print(f"peers: {protocol}", flush=True)
    rows = run(args.quick, out=out, protocol=protocol, only=only)
    print()
    print(format_table(rows))
    print()
    print(markdown(rows))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
