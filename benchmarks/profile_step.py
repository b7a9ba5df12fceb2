"""Where a training step's time goes: ``torch.profiler`` over a few steps of a zoo model.

    python -m benchmarks.profile_step --model airnet --batch 512 --size 32 [--fp32] [--nchw]

Prints the operators by self CPU time (top 15) and the share of time in convolutions.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.training import Variant, plain_loop, synthetic_batches


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="airnet")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--fp32", action="store_true")
    p.add_argument("--nchw", action="store_true")
    args = p.parse_args(argv)
    from resvision.models import create_model

    device = torch.device("cpu")
    torch.manual_seed(0)
    kwargs = {"tta_level": 0} if args.model == "airnet" else {}
    net = create_model(args.model, num_classes=10, **kwargs)
    variant = Variant("x", bf16=not args.fp32, channels_last=not args.nchw)
    step = plain_loop(net, variant, synthetic_batches(args.steps, args.batch, args.size, 10,
                                                      device), device)  # fmt: skip
    step()  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    conv = sum(e.self_cpu_time_total for e in events if "conv" in e.key or "mkldnn" in e.key)
    print(events.table(sort_by="self_cpu_time_total", row_limit=15))
    print(f"convolution kernels: {100 * conv / total:.0f}% of self CPU time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
