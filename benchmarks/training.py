"""Training step speed: the zoo's networks in a plain PyTorch loop under each speed setting,
and ``Model.fit`` with the settings it picks by itself, on the same in-memory batches.

Variants (each on its own copy of the same initial network, SGD with momentum, cross-entropy):

- ``fp32``: the plain loop, contiguous (NCHW) tensors: the baseline of every ratio;
- ``cl``: channels-last network and inputs;
- ``bf16``: bfloat16 autocast, NCHW;
- ``bf16+cl``: both;
- ``compile`` / ``bf16+cl+compile``: ``torch.compile`` of the network (compile time excluded:
  the first call, untimed, compiles);
- ``fit(auto)``: ``resvision.Model(net).prepare(opt, loss)`` with no speed option, then
  ``fit`` on the same batches: what a user gets without tuning anything.

Achieved FLOP/s count ``3 x forward MACs x 2`` per image (forward, and backward as twice the
forward); ``% peak`` divides them by the measured peak of the dtype the variant computes in.
"""

from __future__ import annotations

import contextlib
import copy
import io
from dataclasses import dataclass

import torch
from torch import nn

from benchmarks.common import Result, interleaved_rounds

# (label, model name, constructor kwargs, image side, batch size, num_classes)
CASES = {
    "resnet50@32": ("resnet50", {}, 32, 64, 10),
    "resnet50@224": ("resnet50", {}, 224, 32, 1000),
    "resnet20@32": ("resnet20", {}, 32, 128, 10),
    "resnet18-cifar@32": ("resnet18", {"stem": "cifar"}, 32, 128, 10),
}


@dataclass(frozen=True)
class Variant:
    """A speed setting of the plain loop."""

    name: str
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False


VARIANTS = (
    Variant("fp32"),
    Variant("cl", channels_last=True),
    Variant("bf16", bf16=True),
    Variant("bf16+cl", bf16=True, channels_last=True),
    Variant("compile", compile=True),
    Variant("bf16+cl+compile", bf16=True, channels_last=True, compile=True),
)


def synthetic_batches(
    n: int, batch: int, side: int, classes: int, device: torch.device, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``n`` random batches, kept in memory on ``device``."""
    g = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(batch, 3, side, side, generator=g).to(device),
            torch.randint(0, classes, (batch,), generator=g).to(device),
        )
        for _ in range(n)
    ]


def plain_loop(net: nn.Module, variant: Variant, batches: list, device: torch.device):
    """A round function running the textbook loop over ``batches`` under ``variant``."""
    net = net.to(device)
    if variant.channels_last:
        net = net.to(memory_format=torch.channels_last)
        batches = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in batches]
    forward = torch.compile(net) if variant.compile else net
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    net.train()

    def one_round() -> int:
        for x, y in batches:
            ctx = (
                torch.autocast(device.type, dtype=torch.bfloat16)
                if variant.bf16
                else contextlib.nullcontext()
            )
            with ctx:
                loss = loss_fn(forward(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return sum(len(y) for _, y in batches)

    return one_round


def fit_auto(net: nn.Module, batches: list, device: torch.device):
    """A round function running ``Model.fit`` with the settings it chooses; and its choice."""
    import resvision

    model = resvision.Model(net, device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.prepare(opt, nn.CrossEntropyLoss())
    chosen = getattr(model, "auto_settings", None)

    def one_round() -> int:
        with contextlib.redirect_stdout(io.StringIO()):
            model.fit(batches, epochs=1, verbose=0, log_freq=10**6)
        return sum(len(y) for _, y in batches)

    return one_round, (chosen.describe() if chosen is not None else "")


def run(
    device: torch.device,
    peaks: dict[str, float] | None,
    *,
    cases: list[str] | None = None,
    quick: bool = False,
    compile_ok: bool = True,
) -> list[Result]:
    """Measure every case; one row per variant, ratios against the case's ``fp32`` row."""
    from resvision.models import count_macs, create_model

    rows: list[Result] = []
    for label in cases or list(CASES):
        name, kwargs, side, batch, classes = CASES[label]
        big = side >= 224
        n_batches = 1 if big else (2 if quick else 3)
        rounds = 2 if quick or big else 4
        torch.manual_seed(0)
        base = create_model(name, num_classes=classes, **kwargs)
        macs = count_macs(base, (3, side, side))
        batches = synthetic_batches(n_batches, batch, side, classes, device)
        candidates, notes = {}, {}
        for v in VARIANTS:
            if v.compile and (quick or big or not compile_ok):
                reason = "quick run" if quick else ("slow to compile here" if big else "off")
                notes[v.name] = f"skipped: {reason}"
                continue
            candidates[v.name] = plain_loop(copy.deepcopy(base), v, batches, device)
        fit_fn, chosen = fit_auto(copy.deepcopy(base), batches, device)
        candidates["fit(auto)"] = fit_fn
        for fn in candidates.values():  # warm-up: compiles, allocator, oneDNN primitive caches
            fn()
        speeds = interleaved_rounds(candidates, rounds=rounds, device=device)
        base_ips = speeds["fp32"]["best"]
        for vname in [v.name for v in VARIANTS] + ["fit(auto)"]:
            title = f"{label} b{batch} {vname}"
            if vname not in speeds:
                rows.append(Result("training", title, None, "images/s", note=notes[vname]))
                continue
            ips = speeds[vname]["best"]
            is_bf16 = "bf16" in vname or (vname == "fit(auto)" and "bf16" in chosen)
            peak = (peaks or {}).get("bf16" if is_bf16 else "fp32")
            rows.append(
                Result(
                    "training",
                    title,
                    ips,
                    "images/s",
                    ratio=ips / base_ips,
                    baseline="fp32",
                    peak_frac=(ips * 6 * macs / 1e9 / peak) if peak else None,
                    median=speeds[vname]["median"],
                    note=chosen if vname == "fit(auto)" else "",
                    extra={"macs": macs, "rounds": speeds[vname]["rounds"]},
                )
            )
        best = max((r for r in rows[-len(VARIANTS) - 1 :] if r.value), key=lambda r: r.value)
        rows.append(
            Result(
                "training",
                f"{label} b{batch} best",
                best.value,
                "images/s",
                ratio=best.ratio,
                baseline="fp32",
                peak_frac=best.peak_frac,
                note=best.name.split(" ")[-1],
            )
        )
        print(f"  training {label}: done", flush=True)
    return rows
