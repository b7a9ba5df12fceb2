"""What every side of a peer comparison shares: arguments, threads, data, recipe, report.

The side scripts of this folder (``paddle_fit.py``, ``torchvision_loop.py``,
``resvision_fit.py``) run in different virtual environments, one process per side and round,
started by ``benchmarks/peers.py``. They import this module first: it needs the standard
library and numpy only, and it sets the thread variables (``OMP_NUM_THREADS``,
``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``) before torch or Paddle loads the libraries that
read them.

One process: build the network and the recipe from the arguments, train ``--warmup`` steps
(untimed), then time ``--rounds`` whole epochs (default 1) of ``--steps`` batches each over a
per-sample in-memory data set of ``steps * batch`` random images, and print one JSON line
(:func:`report`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

#: What every side reports about its data (the harness checks the digest is the same).
DATA_PATH = (
    "per-sample in-memory Dataset of random float32 images (numpy default_rng(seed)), each "
    "framework's DataLoader, shuffled, num_workers as given, drop_last off"
)


def parse_args(description: str, precisions: Sequence[str]) -> argparse.Namespace:
    """The arguments every side takes (``--precision`` from ``precisions``); sets the threads.

    Call it before importing torch or Paddle: it writes the thread variables.
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", default="resnet50")
    p.add_argument("--size", type=int, default=32, help="image side")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--steps", type=int, default=20, help="batches per timed epoch")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    p.add_argument("--rounds", type=int, default=1, help="timed epochs in this process")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-4, help="coupled L2 coefficient")
    p.add_argument("--topk", default="1,5", help="accuracy top-k values, comma-separated")
    p.add_argument("--precision", default=precisions[0], choices=list(precisions))
    args = p.parse_args()
    for name in ("steps", "batch", "rounds", "threads", "size", "classes"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if not 0 <= args.warmup <= args.steps:
        p.error(f"--warmup must be between 0 and --steps ({args.steps}), got {args.warmup}")
    args.topk = tuple(int(k) for k in args.topk.split(","))
    for var in THREAD_VARIABLES:
        os.environ[var] = str(args.threads)
    return args


def random_images(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """``steps * batch`` images ``float32 [N, 3, size, size]`` and labels ``int64 [N]``.

    The same arrays in every environment: numpy's ``default_rng`` (PCG64) stream and its
    ``standard_normal`` / ``integers`` are stable across numpy releases, and :func:`digest`
    lets the harness check it.
    """
    rng = np.random.default_rng(args.seed)
    n = args.steps * args.batch
    x = rng.standard_normal((n, 3, args.size, args.size), dtype=np.float32)
    y = rng.integers(0, args.classes, n, dtype=np.int64)
    return x, y


def digest(x: np.ndarray, y: np.ndarray) -> str:
    """A short SHA-256 of the images and labels."""
    h = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    return h.hexdigest()[:16]


def recipe(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe as the arguments set it (the harness checks every side reports the same)."""
    return {
        "optimizer": "momentum SGD",
        "learning_rate": args.lr,
        "momentum": args.momentum,
        "weight_decay": {
            "kind": "L2, coupled (coeff * w added to the gradient)",
            "coeff": args.weight_decay,
        },
        "loss": "cross-entropy",
        "metrics": [f"acc_top{k}" for k in args.topk],
    }


def report(
    args: argparse.Namespace,
    *,
    side: str,
    seconds: Sequence[float],
    params: int,
    data_digest: str,
    threads: dict[str, Any],
    versions: dict[str, str],
    precision: str,
    implementation: str,
    final: dict[str, float] | None = None,
) -> None:
    """Print the process's one JSON line: its speed, and everything the harness compares."""
    images = args.steps * args.batch
    speeds = [images / s for s in seconds]
    out = {
        "side": side,
        "model": args.model,
        "size": args.size,
        "classes": args.classes,
        "batch": args.batch,
        "steps": args.steps,
        "warmup": args.warmup,
        "images_per_round": images,
        "seconds": list(seconds),
        "images_per_s": speeds,
        "best": max(speeds),
        "median": statistics.median(speeds),
        "params": params,
        "precision": precision,
        "recipe": recipe(args),
        "implementation": implementation,
        "data": {
            "path": DATA_PATH,
            "images": images,
            "workers": args.workers,
            "seed": args.seed,
            "sha256": data_digest,
        },
        "threads": {
            "requested": args.threads,
            **threads,
            **{v: os.environ.get(v) for v in THREAD_VARIABLES},
        },
        "versions": {"python": platform.python_version(), "numpy": np.__version__, **versions},
        "final": final or {},
    }
    sys.stdout.flush()
    print(json.dumps(out), flush=True)
