"""End-to-end training epochs on CIFAR-10 (JPEG), data included: resvision against the
conventional DataLoader + PIL pipeline, for the tutorial's network (resnet50, 32x32, batch 64)
and a light one (resnet20, batch 128), where the data path weighs more.

Both sides run ``Model.fit`` with the same automatic speed settings, the same recipe (SGD, lr
0.01, momentum 0.9, cross-entropy), the same network from the same seed and the same torch
threads (set explicitly and recorded), so the difference is the data path:

- resvision: ``fit`` on the ``DatasetFolder`` (random crop + flip + normalise): the loader decodes
  the JPEG files once into memory (reported apart, it is cached on disk for later runs) and
  augments whole batches;
- conventional: a ``torch.utils.data.DataLoader`` over the same ``DatasetFolder`` with 2 worker
  processes, decoding and transforming each image with PIL every epoch.

Each side trains ``warmup`` steps untimed, then ``rounds`` timed rounds, alternating (forward,
then backward: ABBA). A round is one complete ``fit`` epoch: with ``whole_epoch`` over all 50,000
training images (the epoch time is measured), otherwise over a fixed subset of ``steps``
batches' worth of images (the same for both sides), and the epoch time is **extrapolated** from
it to the batches of a whole epoch; the rows say which, and from how many batches.

    python -m benchmarks.epoch --data-root /tmp/cifar10-jpeg --whole-epoch   # about 20 min
    python -m benchmarks.epoch --data-root /tmp/cifar10-jpeg                 # extrapolated, 3 min

write ``benchmarks/results/epoch.json`` (``--out`` elsewhere); ``python -m benchmarks --only
epoch`` runs the extrapolated form inside the suite.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS_DIR, Result, format_table, machine_info
from benchmarks.peers import round_order

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
CASES = (("resnet50", 64), ("resnet20", 128))


def _transform():
    from resvision import transforms as T

    return T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                      T.Normalize(MEAN, STD)])  # fmt: skip


def plan(model_name: str, quick: bool, whole_epoch: bool) -> dict[str, int]:
    """Warm-up steps, timed rounds and (extrapolated form) batches per round of one case.

    Examples:
        >>> plan("resnet50", quick=False, whole_epoch=False)
        {'warmup': 3, 'rounds': 5, 'steps': 30}
        >>> plan("resnet20", quick=True, whole_epoch=True)
        {'warmup': 3, 'rounds': 1, 'steps': 0}
    """
    if whole_epoch:
        return {"warmup": 3, "rounds": 1 if quick else 3, "steps": 0}
    steps = 10 if quick else 30
    if model_name != "resnet50":
        steps *= 3  # light networks: longer rounds
    return {"warmup": 3, "rounds": 2 if quick else 5, "steps": steps}


def run(
    root: Path,
    quick: bool = False,
    *,
    whole_epoch: bool = False,
    threads: int | None = None,
    cases: tuple[tuple[str, int], ...] = CASES,
) -> list[Result]:
    """Rows: both pipelines' epoch time and images/s per network, and the one-off decode."""
    from resvision.datasets import DatasetFolder

    threads = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RESVISION_CACHE"] = tmp
        fast_ds = DatasetFolder(str(root / "train"), transform=_transform(), backend="pil")
        t0 = time.perf_counter()
        fast_ds.tensors()
        decode = time.perf_counter() - t0
        slow_ds = DatasetFolder(str(root / "train"), transform=_transform(), backend="pil")
        rows = []
        for model_name, batch in cases:
            rows += _case(model_name, batch, fast_ds, slow_ds, quick, whole_epoch, threads)
    rows.append(Result("epoch", "one-off JPEG decode of the 50,000 training images", decode, "s",
                       note="resvision fast path, cached on disk for later runs"))  # fmt: skip
    print("  epoch: done", flush=True)
    return rows


def _case(
    model_name: str, batch: int, fast_ds, slow_ds, quick: bool, whole_epoch: bool, threads: int
) -> list[Result]:
    import resvision
    from resvision.models import create_model

    p = plan(model_name, quick, whole_epoch)
    device = torch.device("cpu")
    n = len(fast_ds)
    epoch_batches = math.ceil(n / batch)
    if whole_epoch:
        fast_part, slow_part = fast_ds, slow_ds
    else:  # the same fixed random subset for both sides: each round is one complete epoch of it
        keep = torch.randperm(n, generator=torch.Generator().manual_seed(0))[: p["steps"] * batch]
        keep = keep.tolist()
        fast_part = torch.utils.data.Subset(fast_ds, keep)
        slow_part = torch.utils.data.Subset(slow_ds, keep)
    loader = torch.utils.data.DataLoader(
        slow_part, batch_size=batch, shuffle=True, num_workers=2, persistent_workers=True
    )
    models = {}
    for name in ("resvision", "conventional"):
        torch.manual_seed(0)
        m = resvision.Model(create_model(model_name, num_classes=10), device=device)
        m.prepare(torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9),
                  torch.nn.CrossEntropyLoss())  # fmt: skip
        models[name] = m
    data = {"resvision": (fast_part, {"batch_size": batch}), "conventional": (loader, {})}

    def round_of(name: str, num_iters: int | None = None) -> tuple[int, float]:
        part, kw = data[name]
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            models[name].fit(part, epochs=1, verbose=0, num_iters=num_iters, log_freq=10**6,
                             **kw)  # fmt: skip
        return len(part if name == "resvision" else slow_part), time.perf_counter() - t0

    for name in data:  # warm-up: builds the loader, starts the workers
        round_of(name, num_iters=p["warmup"])
    seconds: dict[str, list[float]] = {name: [] for name in data}
    images = 0
    for order in round_order(list(data), p["rounds"]):
        for name in order:
            images, s = round_of(name)
            seconds[name].append(s)
    base = images / min(seconds["conventional"])
    chosen = models["resvision"].auto_settings.describe()
    how = ("whole epoch, measured" if whole_epoch
           else f"extrapolated from {p['steps']} batches")  # fmt: skip
    rows = []
    for name, label in (("conventional", "DataLoader(2 workers) + PIL, per-image"),
                        ("resvision", "resvision fast path")):  # fmt: skip
        per_round = seconds[name]
        ips = [images / s for s in per_round]
        epoch_s = [s * n / images for s in per_round]  # n / images: 1 for a whole epoch
        rows.append(
            Result(
                "epoch",
                f"{model_name}@32 b{batch} epoch ({how}), {label}",
                min(epoch_s),
                "s/epoch",
                ratio=max(ips) / base,
                baseline="DataLoader epoch (speed-up)",
                median=statistics.median(epoch_s),
                note=f"{max(ips):.0f} images/s; {p['rounds']} rounds, {threads} threads"
                + (f"; {chosen}" if name == "resvision" else ""),
                extra={
                    "extrapolated": not whole_epoch,
                    "from_batches": epoch_batches if whole_epoch else p["steps"],
                    "epoch_batches": epoch_batches,
                    "images_per_round": images,
                    "warmup_steps": p["warmup"],
                    "rounds": p["rounds"],
                    "threads": threads,
                    "seconds": per_round,
                    "images_per_s": ips,
                    "median_images_per_s": statistics.median(ips),
                },
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.epoch``: run, print the table, write the JSON."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.epoch",
                                description=__doc__.splitlines()[0])  # fmt: skip
    p.add_argument("--data-root", required=True, type=Path, help="extracted CIFAR-10 (JPEG)")
    p.add_argument("--whole-epoch", action="store_true", help="time whole epochs")
    p.add_argument("--quick", action="store_true", help="fewer and shorter rounds")
    p.add_argument("--threads", type=int, default=None, help="default: the usable CPU cores")
    p.add_argument("--out", default=os.path.join(RESULTS_DIR, "epoch.json"))
    args = p.parse_args(argv)
    started = time.perf_counter()
    rows = run(args.data_root, args.quick, whole_epoch=args.whole_epoch, threads=args.threads)
    print(format_table(rows))
    payload: dict[str, Any] = {
        "benchmark": "epoch",
        "command": "python -m benchmarks.epoch " + " ".join(argv or sys.argv[1:]),
        "machine": machine_info(torch.device("cpu")),
        "seconds": round(time.perf_counter() - started),
        "whole_epoch": args.whole_epoch,
        "results": [r.to_dict() for r in rows],
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1)
    os.replace(tmp, args.out)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
