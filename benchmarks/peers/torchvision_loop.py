"""Peer: torchvision's ResNets trained by a plain PyTorch loop (runs in its own venv).

Run by ``benchmarks/peers.py`` with the peer venv's Python; imports nothing from resvision.
Prints one JSON object: ``{variant: {"best": images/s, "median": images/s}}``. The variants
(fp32, and the best hand tuning: bf16 autocast + channels-last) run interleaved, round by
round, on the same in-memory batches.

    /work/tvvenv/bin/python benchmarks/peers/torchvision_loop.py --model resnet50 --size 32 \
        --batch 64 --classes 10
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import torch
import torchvision


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resnet50")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    data = [
        (
            torch.randn(args.batch, 3, args.size, args.size, generator=g),
            torch.randint(0, args.classes, (args.batch,), generator=g),
        )
        for _ in range(args.batches)
    ]
    runs = {}
    for name, bf16, cl in (("fp32", False, False), ("bf16+cl", True, True)):
        torch.manual_seed(0)
        net = getattr(torchvision.models, args.model)(num_classes=args.classes)
        batches = data
        if cl:
            net = net.to(memory_format=torch.channels_last)
            batches = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in data]
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()

        def one_round(net=net, opt=opt, batches=batches, bf16=bf16, loss_fn=loss_fn) -> int:
            for x, y in batches:
                ctx = torch.autocast("cpu", torch.bfloat16) if bf16 else contextlib.nullcontext()
                with ctx:
                    loss = loss_fn(net(x), y)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            return sum(len(y) for _, y in batches)

        one_round()  # warm-up
        runs[name] = one_round
    speeds = {k: [] for k in runs}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            n = fn()
            speeds[name].append(n / (time.perf_counter() - t0))
    out = {k: {"best": max(v), "median": statistics.median(v)} for k, v in speeds.items()}
    out["versions"] = {"torch": torch.__version__, "torchvision": torchvision.__version__}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
