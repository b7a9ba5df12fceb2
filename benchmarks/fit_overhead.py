"""Training overhead of ``Model.fit`` against a minimal hand-written PyTorch loop.

Both train the same network with the same optimizer on the same in-memory batches (already
on the device), in one process, interleaved round by round so that machine noise hits them
alike. The table gives images/s of the best round (the least disturbed one, as ``timeit``
reports) and of the median round, and their ratios to the hand loop. Target: ``Model.fit``
within 3% of the hand loop.

On a shared machine the rounds vary a lot; raise ``--rounds`` until the best-round column is
stable. Measured numbers and the machine they come from are in the README.

    python benchmarks/fit_overhead.py                     # resnet20, batch 128, CPU/GPU auto
    python benchmarks/fit_overhead.py --model resnet50 --image-size 224 --batch-size 64 \
        --device cuda --amp fp16 --json fit_overhead.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

import resvision
from resvision.engine.device import resolve_device, synchronize
from resvision.metrics import Accuracy


def hand_loop(net: nn.Module, opt: torch.optim.Optimizer, batches: list, amp: str | None) -> None:
    """The minimal loop a PyTorch user writes (with autocast + GradScaler when asked)."""
    device_type = batches[0][0].device.type
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(amp or "")
    scaler = torch.amp.GradScaler(device_type) if amp == "fp16" and device_type == "cuda" else None
    net.train()
    for x, y in batches:
        with torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
            loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()


def fit_runner(model: resvision.Model, batches: list, **fit_kwargs) -> Callable[[], None]:
    def run() -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # verbose rows: keep the table readable
            model.fit(batches, epochs=1, **fit_kwargs)

    return run


def timed(fn: Callable[[], None], device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20", help="a name from resvision.list_models()")
    parser.add_argument("--image-size", type=int, default=None, help="default: the model's own")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before the rounds")
    parser.add_argument("--device", default=None, help="default: CUDA, then MPS, then CPU")
    parser.add_argument("--amp", choices=["fp16", "bf16"], default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    torch.manual_seed(0)
    net = resvision.create_model(args.model, num_classes=10)
    model = resvision.Model(net, device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    channels, height, width = resvision.models.model_info(args.model).input_size
    if args.image_size:
        height = width = args.image_size
    size = (channels, height, width)
    batches = [
        (
            torch.randn(args.batch_size, *size, device=device),
            torch.randint(0, 10, (args.batch_size,), device=device),
        )
        for _ in range(args.steps)
    ]
    loss = nn.CrossEntropyLoss()
    with_metric = resvision.Model(net, device=device)
    # The hand loop's settings, explicitly: the automatic ones (channels-last) would change
    # the shared network's memory format and measure that instead of the engine's own cost.
    same = {"amp_configs": args.amp, "channels_last": False, "compile": False}
    model.prepare(opt, loss, **same)
    with_metric.prepare(opt, loss, Accuracy(topk=(1, 5)), **same)

    variants: dict[str, Callable[[], None]] = {
        "hand-written loop": lambda: hand_loop(net, opt, batches, args.amp),
        "Model.fit": fit_runner(model, batches, verbose=0),
        "Model.fit + Accuracy(top1, top5)": fit_runner(with_metric, batches, verbose=0),
        "Model.fit + Accuracy, verbose=2": fit_runner(with_metric, batches, verbose=2),
    }
    hand_loop(net, opt, batches[: args.warmup], args.amp)
    model.fit(batches[: args.warmup], epochs=1, verbose=0)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(args.rounds):  # rotate the order so that no variant always goes first
        for name in names[r % len(names) :] + names[: r % len(names)]:
            seconds[name].append(timed(variants[name], device))

    images = args.steps * args.batch_size
    best_base = images / min(seconds["hand-written loop"])
    median_base = images / statistics.median(seconds["hand-written loop"])
    rows = []
    for name, times in seconds.items():
        best, median = images / min(times), images / statistics.median(times)
        rows.append(
            {
                "variant": name,
                "images_per_s_best": best,
                "ratio_best": best / best_base,
                "images_per_s_median": median,
                "ratio_median": median / median_base,
                "seconds": times,
            }
        )
    setting = (
        f"{args.model} {'x'.join(map(str, size))}, batch {args.batch_size}, "
        f"{args.steps} steps x {args.rounds} rounds, amp={args.amp}, device={device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}"
    )
    width = max(len(r["variant"]) for r in rows)
    print(setting)
    print(
        f"{'variant':{width}}  {'best img/s':>10}  {'ratio':>6}  {'median img/s':>12}  {'ratio':>6}"
    )
    for r in rows:
        print(
            f"{r['variant']:{width}}  {r['images_per_s_best']:10.1f}  {r['ratio_best']:6.3f}"
            f"  {r['images_per_s_median']:12.1f}  {r['ratio_median']:6.3f}"
        )
    result = {"setting": setting, "args": vars(args), "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
