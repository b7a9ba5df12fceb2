"""Data pipeline throughput on the full CIFAR-10 (JPEG): fast path vs DataLoader.

The training recipe's augmentation (random crop with 4-pixel padding, horizontal flip,
normalisation), as images per second delivered to the training loop:

- fast path: ``build_loader`` on the decoded ``uint8`` cache, batched augmentation on the device
  (here the CPU), with 1 and with 2 intra-op threads;
- DataLoader: the same dataset with the same per-sample PIL transforms (``RandomCrop``,
  ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize``) in 0 and 2 worker processes, reading the
  same decoded images from memory (no JPEG decode in the loop either);
- for reference, the DataLoader decoding the JPEG files in its 2 workers.

Every path does the same runs: one untimed warm-up epoch, then ``--rounds`` timed rounds of one
whole epoch each over the same images (all 50,000, or the first ``--batches`` batches' worth),
batch ``--batch-size``, ``drop_last`` on, so every round of every path delivers the same number
of batches. The paths alternate round by round (forward, then backward: ABBA...), each round
ends at the end of its epoch (no worker is left prefetching into the next path's round), and
the table gives the best and the median round. Decoding the 50,000 JPEG files once (the fast
path's one-off cost, cached on disk afterwards) is reported separately.

Usage::

    python benchmarks/data_pipeline.py [--archive ../shared/data/cifar10-jpeg.tar.gz | --root DIR]
        [--rounds 5] [--batches N] [--out DIR]

Prints a table with ratios and writes ``DIR/data_pipeline.json`` (default
``benchmarks/results``). Run it on an idle machine for numbers to quote (about 2 minutes on 2
cores; the fast path target is at least 10x the 2-worker DataLoader).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
MEAN = [125.3, 123.0, 113.9]
STD = [63.0, 62.1, 66.7]


def recipe():
    from resvision.transforms import (
        Compose,
        Normalize,
        RandomCrop,
        RandomHorizontalFlip,
        ToTensor,
    )

    mean = [m / 255 for m in MEAN]
    std = [s / 255 for s in STD]
    return Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), ToTensor(),
                    Normalize(mean, std)])  # fmt: skip


def one_epoch(loader, threads: int) -> Callable[[], int]:
    """A round: one whole epoch of ``loader`` with ``threads`` intra-op threads; its images."""
    epochs = iter(range(10**9))  # a new shuffle every call

    def run() -> int:
        torch.set_num_threads(threads)
        loader.set_epoch(next(epochs))
        seen = 0
        for images, _ in loader:
            seen += images.shape[0]
        return seen

    return run


def alternating_rounds(
    candidates: dict[str, Callable[[], int]], rounds: int
) -> dict[str, dict[str, float]]:
    """One untimed call of each, then ``rounds`` timed calls each, alternating ABBA.

    Returns:
        name -> ``{'best', 'median'}`` images/s, ``'images_per_s'`` (every round),
        ``'rounds'`` and ``'images_per_round'``.
    """
    images: dict[str, set[int]] = {k: set() for k in candidates}
    for fn in candidates.values():
        fn()
    speeds: dict[str, list[float]] = {k: [] for k in candidates}
    names = list(candidates)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            t0 = time.perf_counter()
            n = candidates[name]()
            speeds[name].append(n / (time.perf_counter() - t0))
            images[name].add(n)
    return {
        k: {
            "best": max(v),
            "median": statistics.median(v),
            "images_per_s": v,
            "rounds": len(v),
            "images_per_round": sorted(images[k]),
        }
        for k, v in speeds.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="an already extracted copy (holding train/<class>/*.jpg): no extract",
    )
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of every path")
    parser.add_argument(
        "--batches",
        type=int,
        default=None,
        help="batches per round, the same for every path (default: a whole epoch)",
    )
    parser.add_argument(
        "--dataloader-images",
        type=int,
        default=None,
        help="older spelling: images per round (rounded up to batches), for every path",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if args.batches is None and args.dataloader_images is not None:
        args.batches = math.ceil(args.dataloader_images / args.batch_size)

    from torch.utils.data import Subset

    from resvision.data.loader import build_loader
    from resvision.datasets import DatasetFolder

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="resvision-bench-") as tmp:
        os.environ["RESVISION_CACHE"] = str(Path(tmp) / "cache")
        t0 = time.perf_counter()
        root = args.root
        if root is None:
            root = Path(tmp)
            with tarfile.open(args.archive) as tar:
                tar.extractall(tmp, filter="data")
        extract_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        ds = DatasetFolder(root / "train", transform=recipe(), backend="pil")
        scan_s = time.perf_counter() - t0
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        ds.tensors()  # decode every JPEG once into the uint8 cache
        decode_s = time.perf_counter() - t0
        n = len(ds)
        print(
            f"CIFAR-10 (JPEG) train: {n} images; extract {extract_s:.1f} s, header scan "
            f"{scan_s:.1f} s, decode once {decode_s:.1f} s ({n / decode_s:,.0f} images/s)"
        )
        files = DatasetFolder(root / "train", transform=recipe(), backend="pil")
        bs = args.batch_size
        used = n if args.batches is None else min(n, args.batches * bs)

        def part(dataset):
            return dataset if used == n else Subset(dataset, range(used))

        def loader(dataset, **kw):
            return build_loader(part(dataset), bs, shuffle=True, drop_last=True, seed=0, **kw)

        # (path, workers, torch threads in the main process, the loader)
        paths = [
            ("fast path (batched, in memory)", 0, 1, loader(ds, fast=True)),
            ("fast path (batched, in memory)", 0, 2, loader(ds, fast=True)),
            ("DataLoader + PIL transforms (in memory)", 0, 1, loader(ds, fast=False)),
            ("DataLoader + PIL transforms (in memory)", 2, 1,
             loader(ds, fast=False, num_workers=2)),
            ("DataLoader + PIL transforms (JPEG files)", 2, 1,
             loader(files, fast=False, num_workers=2)),
        ]  # fmt: skip
        candidates = {
            f"{path} workers={w} threads={t}": one_epoch(ld, t) for path, w, t, ld in paths
        }
        speeds = alternating_rounds(candidates, args.rounds)
        rows = []
        for (path, workers, threads, ld), key in zip(paths, candidates):
            s = speeds[key]
            rows.append(
                {
                    "path": path,
                    "workers": workers,
                    "threads": threads,
                    "images_per_s": s["best"],
                    "median_images_per_s": s["median"],
                    "rounds_images_per_s": s["images_per_s"],
                    "rounds": s["rounds"],
                    "batches_per_round": len(ld),
                    "images_per_round": s["images_per_round"],
                }
            )
        del paths, candidates

    print(f"(benchmark wall time {time.perf_counter() - started:.0f} s)")
    reference = next(
        r
        for r in rows
        if r["path"].endswith("(in memory)")
        and r["workers"] == 2
        and r["path"].startswith("DataLoader")
    )
    print(
        f"\nevery path: 1 warm-up epoch, then {args.rounds} rounds of "
        f"{rows[0]['batches_per_round']} batches of {bs}, alternating\n"
    )
    print("| path | workers | torch threads | best images/s | median | vs DataLoader, 2 workers |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        r["ratio_vs_dataloader_2_workers"] = r["images_per_s"] / reference["images_per_s"]
        r["median_ratio_vs_dataloader_2_workers"] = (
            r["median_images_per_s"] / reference["median_images_per_s"]
        )
        print(
            f"| {r['path']} | {r['workers']} | {r['threads']} | {r['images_per_s']:,.0f} | "
            f"{r['median_images_per_s']:,.0f} | {r['ratio_vs_dataloader_2_workers']:.1f}x |"
        )

    result = {
        "benchmark": "data_pipeline",
        "command": "python benchmarks/data_pipeline.py " + " ".join(sys.argv[1:]),
        "dataset": f"CIFAR-10 (JPEG) train, {n:,} images",
        "augmentation": "RandomCrop(32, padding=4), RandomHorizontalFlip(), ToTensor(), Normalize",
        "batch_size": bs,
        "protocol": {
            "warmup": "one untimed epoch per path",
            "rounds": args.rounds,
            "batches_per_round": rows[0]["batches_per_round"],
            "images": used,
            "whole_epoch": used == n,
            "order": "alternating: paths forward in odd rounds, backward in even ones",
            "drop_last": True,
        },
        "decode_once_s": decode_s,
        "header_scan_s": scan_s,
        "rows": rows,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
        },
        "load_average": os.getloadavg(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "data_pipeline.json"
    tmp_path = path.with_suffix(".json.tmp")
    with open(tmp_path, "w") as f:
        json.dump(result, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp_path, path)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
