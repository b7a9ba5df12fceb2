"""Training throughput on synthetic data: resnet50 (or another zoo model) in a plain
bf16 + channels-last loop, and ``Model.fit`` with its automatic settings, interleaved.

    python -m benchmarks.gpu_throughput --batch 256 --size 224 --steps 20

Prints one JSON line with images/s (best and median round) of both.
"""

from __future__ import annotations

import argparse
import json

import torch

from benchmarks.common import interleaved_rounds
from benchmarks.training import Variant, fit_auto, plain_loop, synthetic_batches


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet50")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--steps", type=int, default=20, help="steps per timed round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)
    from resvision.engine.device import resolve_device
    from resvision.models import create_model

    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    # Channels-last batches for both sides, as a channels-last data path delivers them: the
    # plain loop and fit then do the same work per step.
    batches = [
        (x.contiguous(memory_format=torch.channels_last), y)
        for x, y in synthetic_batches(args.steps, args.batch, args.size, 1000, device)
    ]
    plain = plain_loop(create_model(args.model), Variant("bf16+cl", True, True), batches, device)
    fit, chosen = fit_auto(create_model(args.model), batches, device)
    plain(), fit()  # warm-up (cuDNN algorithm search)
    speeds = interleaved_rounds({"plain bf16+cl": plain, "fit(auto)": fit},
                                rounds=args.rounds, device=device)  # fmt: skip
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    print(json.dumps({"device": name, "model": args.model, "batch": args.batch,
                      "size": args.size, "fit_settings": chosen, **speeds}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
