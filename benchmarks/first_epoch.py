"""Where does the first epoch's extra time go? Per-step times of the fast recipe's first steps.

Trains ``airnet`` with the ``fast_cifar10`` preset's optimizer, schedule and speed settings
through ``Model.fit`` on an in-memory data set of random CIFAR-sized images (the fast loader
path, as for CIFAR-10), and prints the wall time of each optimizer step of the first
``--epochs`` epochs, with ``torch.profiler``'s top operators of the first step and of a later
one. Separates the one-off costs (oneDNN primitive creation for each new shape, the whitening
layer's initialisation, first-touch allocations) from the steady state.

    python -m benchmarks.first_epoch --images 20000 --epochs 2 --profile

writes ``benchmarks/results/first-epoch.json`` (``--out``): every step's time, the first and
second epoch's step totals, the steady step, the setup outside the steps and the machine.
``benchmarks/README.md`` ("The slow first epoch") quotes it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--profile", action="store_true", help="torch.profiler tables of steps 1 and 5")
    p.add_argument("--out", default=None, help="results JSON (default results/first-epoch.json)")
    args = p.parse_args(argv)
    import resvision
    from benchmarks.common import RESULTS_DIR, machine_info
    from resvision.callbacks import Callback
    from resvision.data.datasets.base import InMemoryImageDataset
    from resvision.recipe.build import (
        build_network,
        build_optimizer,
        build_schedule,
        steps_per_epoch,
    )
    from resvision.recipe.config import resolve
    from resvision.recipe.presets import find_config
    from resvision.transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip, ToTensor

    cfg = resolve(find_config("fast_cifar10"), {}, [f"train.epochs={args.epochs}"])

    class Random(InMemoryImageDataset):
        def __init__(self, n: int) -> None:
            pipe = Compose([RandomCrop(32, padding=2, padding_mode="reflect"),
                            RandomHorizontalFlip(alternate=True), ToTensor(),
                            Normalize([0.5] * 3, [0.25] * 3)])  # fmt: skip
            super().__init__(pipe, "pil")
            rng = np.random.default_rng(0)
            self.images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
            self.labels = rng.integers(0, 10, n).astype(np.int64)
            self.classes = [str(i) for i in range(10)]

    data = Random(args.images)
    network = build_network(cfg.model, 10, 3)
    model = resvision.Model(network)
    spe = steps_per_epoch(len(data), cfg.train.batch_size, 1)
    optimizer = build_optimizer(cfg.optim, network, build_schedule(cfg, spe), spe)
    loss = torch.nn.CrossEntropyLoss(label_smoothing=cfg.train.label_smoothing)
    model.prepare(optimizer, loss, amp_configs="bf16", channels_last=True)

    times: list[float] = []
    profiles: dict[int, str] = {}

    class Clock(Callback):
        def __init__(self) -> None:
            self.prof = None
            self.t = 0.0

        def on_train_batch_begin(self, step, logs=None):
            n = len(times)
            if args.profile and n in (0, 4):
                self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
                self.prof.__enter__()
            self.t = time.perf_counter()

        def on_train_batch_end(self, step, logs=None):
            times.append(time.perf_counter() - self.t)
            if self.prof is not None:
                self.prof.__exit__(None, None, None)
                table = self.prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8)
                profiles[len(times)] = table
                self.prof = None

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        model.fit(data, batch_size=cfg.train.batch_size, epochs=args.epochs, verbose=0,
                  callbacks=[Clock()])  # fmt: skip
    total = time.perf_counter() - t0
    steady = float(np.median(times[spe:])) if len(times) > spe else float(np.median(times[2:]))
    print(f"{len(times)} steps of {cfg.train.batch_size} images, {total:.1f} s in all "
          f"(fit's own setup and loader included)")  # fmt: skip
    print("step  seconds  x steady")
    for i, t in enumerate(times):
        print(f"{i + 1:4d}  {t:7.3f}  {t / steady:6.2f}")
    first = sum(times[:spe])
    second = sum(times[spe : 2 * spe]) if len(times) >= 2 * spe else float("nan")
    print(f"epoch 1 steps: {first:.1f} s; epoch 2 steps: {second:.1f} s; "
          f"steady step {steady:.3f} s; first step {times[0]:.2f} s = {times[0] / steady:.1f} steady steps; "
          f"setup outside the steps {total - sum(times):.1f} s")  # fmt: skip
    for step, table in profiles.items():
        print(f"\n--- torch.profiler, step {step} ---\n{table}")
    out = args.out or os.path.join(RESULTS_DIR, "first-epoch.json")
    record = {
        "command": "python -m benchmarks.first_epoch "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(torch.device("cpu")),
        "images": args.images,
        "epochs": args.epochs,
        "batch_size": cfg.train.batch_size,
        "steps_per_epoch": spe,
        "step_seconds": [round(t, 5) for t in times],
        "steady_step_s": steady,
        "first_step_in_steady_steps": times[0] / steady,
        "epoch1_steps_s": first,
        "epoch2_steps_s": second if second == second else None,
        "total_s": total,
        "setup_outside_steps_s": total - sum(times),
        "profiled": args.profile,
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(record, f, indent=1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
