"""Peers on the same work: torchvision's ResNets in a plain loop, and Paddle's ``Model.fit``.

The peers live in their own virtual environments (another torch, or Paddle, next to
resvision's) and run in a subprocess; a peer that is not installed is reported as such:

- ``RESVISION_TV_PYTHON`` (default ``/work/tvvenv/bin/python``): torch 2.14.1 + torchvision
  0.29.1, ``python3 -m venv /work/tvvenv && /work/tvvenv/bin/pip install torch==2.14.1
  torchvision==0.29.1``;
- ``RESVISION_PADDLE_PYTHON`` (default ``/work/paddlevenv/bin/python``): ``pip install
  paddlepaddle``.

resvision's side is ``Model.fit`` with the settings it picks by itself on the same network
size, batch and in-memory data, measured in this process right after the peer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from benchmarks.common import ROOT, Result, interleaved_rounds, skipped
from benchmarks.training import fit_auto, synthetic_batches

TV_PYTHON = os.environ.get("RESVISION_TV_PYTHON", "/work/tvvenv/bin/python")
PADDLE_PYTHON = os.environ.get("RESVISION_PADDLE_PYTHON", "/work/paddlevenv/bin/python")

# (label, torchvision name, resvision name + kwargs, side, batch)
TV_CASES = [
    ("resnet50@32", "resnet50", ("resnet50", {}), 32, 64),
    ("resnet18@32", "resnet18", ("resnet18", {}), 32, 128),
]


def _peer(python: str, script: str, args: list[str], timeout: int) -> dict:
    cmd = [python, os.path.join(ROOT, "benchmarks", "peers", script), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/tmp")
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _resvision_fit(name: str, kwargs: dict, side: int, batch: int, n: int, rounds: int):
    from resvision.models import create_model

    device = torch.device("cpu")
    torch.manual_seed(0)
    net = create_model(name, num_classes=10, **kwargs)
    fn, chosen = fit_auto(net, synthetic_batches(n, batch, side, 10, device), device)
    fn()
    return interleaved_rounds({"fit": fn}, rounds=rounds, device=device)["fit"], chosen


def run(quick: bool = False) -> list[Result]:
    """One row per peer measurement and one per resvision comparison."""
    rows: list[Result] = []
    n, rounds = (2, 2) if quick else (3, 4)
    if not os.path.exists(TV_PYTHON):
        rows.append(skipped("peers", "torchvision plain loop", f"not installed ({TV_PYTHON})"))
    else:
        for label, tv_name, (rv_name, rv_kwargs), side, batch in TV_CASES:
            args = ["--model", tv_name, "--size", str(side), "--batch", str(batch)]
            args += ["--batches", str(n), "--rounds", str(rounds)]
            try:
                peer = _peer(TV_PYTHON, "torchvision_loop.py", args, timeout=1800)
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as err:
                rows.append(skipped("peers", f"torchvision {label}", str(err)[:80]))
                continue
            ours, chosen = _resvision_fit(rv_name, rv_kwargs, side, batch, n, rounds)
            versions = peer.pop("versions", {})
            tag = f"torchvision {versions.get('torchvision', '?')}"
            for variant, speed in peer.items():
                rows.append(
                    Result(
                        "peers",
                        f"{label} b{batch} torchvision loop {variant}",
                        speed["best"],
                        "images/s",
                        median=speed["median"],
                        note=tag,
                    )
                )
            best_peer = max(s["best"] for s in peer.values())
            rows.append(
                Result(
                    "peers",
                    f"{label} b{batch} resvision fit(auto)",
                    ours["best"],
                    "images/s",
                    ratio=ours["best"] / best_peer,
                    baseline="best torchvision loop",
                    median=ours["median"],
                    note=chosen,
                )
            )
            fp32 = peer.get("fp32", {}).get("best")
            if fp32:
                rows[-1].extra["ratio_vs_torchvision_fp32"] = ours["best"] / fp32
            print(f"  peers torchvision {label}: done", flush=True)
    if not os.path.exists(PADDLE_PYTHON):
        rows.append(skipped("peers", "Paddle Model.fit", f"not installed ({PADDLE_PYTHON})"))
        return rows
    iters = 6 if quick else 15
    try:
        peer = _peer(PADDLE_PYTHON, "paddle_fit.py", ["--iters", str(iters), "--rounds", "2"], 1800)
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as err:
        rows.append(skipped("peers", "Paddle Model.fit", str(err)[:80]))
        return rows
    ours, chosen = _resvision_fit("resnet50", {}, 32, 64, n, rounds)
    version = peer.get("versions", {}).get("paddle", "?")
    rows.append(
        Result(
            "peers",
            "tutorial resnet50@32 b64 Paddle Model.fit",
            peer["best"],
            "images/s",
            median=peer["median"],
            note=f"paddlepaddle {version}, CPU",
        )
    )
    rows.append(
        Result(
            "peers",
            "tutorial resnet50@32 b64 resvision fit(auto)",
            ours["best"],
            "images/s",
            ratio=ours["best"] / peer["best"],
            baseline="Paddle Model.fit",
            median=ours["median"],
            note=chosen,
        )
    )
    print("  peers paddle: done", flush=True)
    return rows


if __name__ == "__main__":  # pragma: no cover - manual use
    for r in run(quick="--quick" in sys.argv):
        print(r)
