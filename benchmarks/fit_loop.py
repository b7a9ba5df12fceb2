"""``Model.fit`` with its own settings on in-memory batches, as a target for a sampling profiler.

    py-spy record -r 50 -d 30 --native -f raw -o fit.txt -- python -m benchmarks.fit_loop
    python -m benchmarks.fit_loop --model resnet20 --batch 128 --rounds 8

Runs ``--rounds`` epochs of ``--steps`` synthetic batches (resnet50 at 32x32, batch 64 by
default: the tutorial's recipe) through ``fit(auto)``, exactly as the ``training`` section
measures it, and prints the images/s of the last round. ``benchmarks/README.md`` ("Gaps")
gives what py-spy found.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import torch
from torch import nn

from benchmarks.training import synthetic_batches


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet50")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=4)
    args = p.parse_args(argv)
    import resvision
    from resvision.models import create_model

    torch.manual_seed(0)
    model = resvision.Model(create_model(args.model, num_classes=10), device="cpu")
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9), nn.CrossEntropyLoss())
    batches = synthetic_batches(args.steps, args.batch, args.size, 10, torch.device("cpu"))
    rate = 0.0
    for _ in range(args.rounds):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            model.fit(batches, epochs=1, verbose=0, log_freq=10**6)
        rate = args.steps * args.batch / (time.perf_counter() - start)
    print(f"{args.model}@{args.size} b{args.batch} fit(auto): {rate:.0f} images/s (last round)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
