"""Shared pieces of the benchmark suite: the machine, timing, FLOP counts, the result rows.

Every timed comparison runs its candidates *interleaved*: round 1 of A, round 1 of B, round 2
of A, ... so that a burst of load from another process hits all candidates alike. A result
keeps the best round (the least disturbed one, as ``timeit`` reports) and the median round.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from resvision.engine.autotune import cpu_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(ROOT, "benchmarks", "results")
SHARED_ARCHIVE = os.path.join(os.path.dirname(ROOT), "shared", "data", "cifar10-jpeg.tar.gz")


@dataclass
class Result:
    """One line of the table.

    Attributes:
        section: the section that measured it (``'training'``, ``'inference'``...).
        name: what was measured (``'resnet50@32 b64 bf16+cl'``).
        value: the main number, in ``unit``.
        unit: ``'images/s'``, ``'ms'``, ``'GFLOP/s'``, ``'%'``, ``'s'``.
        ratio: ``value`` over the section's baseline (None when there is none).
        baseline: what ``ratio`` is relative to.
        peak_frac: achieved model FLOP/s over the matmul peak of the dtype used.
        median: the median-round value, when rounds were timed.
        note: conditions, skips and their reasons.
    """

    section: str
    name: str
    value: float | None
    unit: str
    ratio: float | None = None
    baseline: str | None = None
    peak_frac: float | None = None
    median: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self)


def skipped(section: str, name: str, reason: str) -> Result:
    """A row for something that could not run here, saying why."""
    return Result(section, name, None, "", note=f"skipped: {reason}")


def cpu_name() -> str:
    """The processor's model name."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on: processor, cores, threads, GPU, versions, load."""
    flags = cpu_flags()
    info: dict[str, Any] = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_features": sorted(
            f for f in flags if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
        ),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def machine_slug(info: dict[str, Any]) -> str:
    """A short file-name-safe machine name: ``cpu-amd-epyc-2c`` or ``cuda-nvidia-h200``."""
    name = info.get("gpu") or f"{info['cpu']}-{info['cores']}c"
    kind = "cuda" if info.get("gpu") else "cpu"
    slug = re.sub(r"[^a-z0-9]+", "-", f"{kind}-{name}".lower()).strip("-")
    return slug[:60]


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_rounds(
    candidates: dict[str, Callable[[], int]],
    *,
    rounds: int,
    device: torch.device,
    min_round_s: float = 0.0,
) -> dict[str, dict[str, float]]:
    """Time each candidate ``rounds`` times, interleaved; return throughput per candidate.

    Args:
        candidates: name -> a function that runs one round and returns the images it processed.
        rounds: timed rounds per candidate (call each once before, untimed, to warm up).
        device: synchronised around each round.
        min_round_s: a round is repeated (and counted together) until it lasts this long.

    Returns:
        name -> ``{'best': images/s, 'median': images/s, 'rounds': n}``.
    """
    times: dict[str, list[float]] = {k: [] for k in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            synchronize(device)
            t0 = time.perf_counter()
            images = 0
            while True:
                images += fn()
                synchronize(device)
                elapsed = time.perf_counter() - t0
                if elapsed >= min_round_s:
                    break
            times[name].append(images / elapsed)
    return {
        k: {"best": max(v), "median": statistics.median(v), "rounds": len(v)}
        for k, v in times.items()
    }


def format_table(results: Sequence[Result]) -> str:
    """The results as one aligned text table (also used in the README)."""
    header = ["section", "what", "value", "unit", "ratio", "vs", "% peak", "median", "note"]
    lines = []
    for r in results:
        lines.append(
            [
                r.section,
                r.name,
                _num(r.value),
                r.unit,
                f"{r.ratio:.2f}x" if r.ratio is not None else "",
                r.baseline or "",
                f"{100 * r.peak_frac:.0f}%" if r.peak_frac is not None else "",
                _num(r.median),
                r.note,
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in lines)) if lines else len(h)
              for i, h in enumerate(header)]  # fmt: skip
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    out.append("-|-".join("-" * w for w in widths))
    out += [" | ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in lines]
    return "\n".join(out)


def format_markdown(results: Sequence[Result]) -> str:
    """The results as a Markdown table (for the README)."""
    out = ["| section | what | value | ratio | % of peak | note |", "|---|---|---:|---:|---:|---|"]
    for r in results:
        value = f"{_num(r.value)} {r.unit}".strip() if r.value is not None else "-"
        ratio = f"{r.ratio:.2f}x vs {r.baseline}" if r.ratio is not None else ""
        peak = f"{100 * r.peak_frac:.0f}%" if r.peak_frac is not None else ""
        out.append(f"| {r.section} | {r.name} | {value} | {ratio} | {peak} | {r.note} |")
    return "\n".join(out)


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
