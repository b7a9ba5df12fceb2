"""Data pipeline throughput on the full CIFAR-10 (JPEG): fast path vs DataLoader.

The training recipe's augmentation (random crop with 4-pixel padding, horizontal flip,
normalisation), as images per second delivered to the training loop:

- fast path: ``build_loader`` on the decoded ``uint8`` cache, batched augmentation on the device
  (here the CPU, with one intra-op thread so the other core is left to the model);
- DataLoader: the same dataset with the same per-sample PIL transforms (``RandomCrop``,
  ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize``) in 0 and 2 worker processes, reading the
  same decoded images from memory (no JPEG decode in the loop either);
- for reference, the DataLoader decoding the JPEG files in its 2 workers.

Decoding the 50,000 JPEG files once (the fast path's one-off cost, cached on disk afterwards) is
reported separately.

Usage::

    python benchmarks/data_pipeline.py [--archive ../shared/data/cifar10-jpeg.tar.gz | --root DIR]

Prints a table with ratios and writes ``benchmarks/results/data_pipeline.json``. The machine is
what it is: run it on a quiet machine for numbers to quote (the fast path target is at least 10x
the 2-worker DataLoader).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tarfile
import tempfile
import time
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


def throughput(loader, max_images: int, epochs: int = 1) -> float:
    """Images per second over up to ``max_images`` images per epoch (best of ``epochs``)."""
    best = 0.0
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        seen, start = 0, time.perf_counter()
        for images, _ in loader:
            seen += images.shape[0]
            if seen >= max_images:
                break
        best = max(best, seen / (time.perf_counter() - start))
    return best


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
    parser.add_argument(
        "--dataloader-images",
        type=int,
        default=12_800,
        help="images timed per DataLoader run (the fast path runs full epochs)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    from resvision.data.loader import build_loader
    from resvision.datasets import ImageFolder

    rows: list[dict] = []
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
        ds = ImageFolder(root / "train", transform=recipe(), backend="pil")
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

        bs = args.batch_size
        for threads in (1, 2):
            torch.set_num_threads(threads)
            fast = build_loader(ds, bs, shuffle=True, drop_last=True, seed=0)
            assert fast.is_fast
            throughput(fast, bs * 4)  # warm-up
            rows.append(
                {
                    "path": "fast path (batched, in memory)",
                    "workers": 0,
                    "threads": threads,
                    "images_per_s": throughput(fast, n, epochs=3),
                }
            )
        torch.set_num_threads(1)
        for workers in (0, 2):
            slow = build_loader(
                ds, bs, shuffle=True, drop_last=True, seed=0, fast=False, num_workers=workers
            )
            throughput(slow, bs)  # warm-up (starts the workers)
            rows.append(
                {
                    "path": "DataLoader + PIL transforms (in memory)",
                    "workers": workers,
                    "threads": 1,
                    "images_per_s": throughput(slow, args.dataloader_images),
                }
            )
            del slow
        files = ImageFolder(root / "train", transform=recipe(), backend="pil")
        slow = build_loader(
            files, bs, shuffle=True, drop_last=True, seed=0, fast=False, num_workers=2
        )
        throughput(slow, bs)
        rows.append(
            {
                "path": "DataLoader + PIL transforms (JPEG files)",
                "workers": 2,
                "threads": 1,
                "images_per_s": throughput(slow, args.dataloader_images),
            }
        )
        del slow

    print(f"(benchmark wall time {time.perf_counter() - started:.0f} s)")
    reference = next(
        r["images_per_s"]
        for r in rows
        if r["path"].endswith("(in memory)")
        and r["workers"] == 2
        and r["path"].startswith("DataLoader")
    )
    print("\n| path | workers | torch threads | images/s | vs DataLoader, 2 workers |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        r["ratio_vs_dataloader_2_workers"] = r["images_per_s"] / reference
        print(
            f"| {r['path']} | {r['workers']} | {r['threads']} | {r['images_per_s']:,.0f} | "
            f"{r['ratio_vs_dataloader_2_workers']:.1f}x |"
        )

    result = {
        "benchmark": "data_pipeline",
        "dataset": "CIFAR-10 (JPEG) train, 50,000 images",
        "augmentation": "RandomCrop(32, padding=4), RandomHorizontalFlip(), ToTensor(), Normalize",
        "batch_size": bs,
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
