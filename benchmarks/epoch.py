"""End-to-end training epochs on CIFAR-10 (JPEG), data included: resvision against the
conventional DataLoader + PIL pipeline, for the tutorial's network (resnet50, 32x32, batch 64)
and a light one (resnet20, batch 128), where the data path weighs more.

Both sides run ``Model.fit`` with the same automatic speed settings on the same network, so
the difference is the data path:

- resvision: ``fit`` on the ``ImageFolder`` (random crop + flip + normalise): the loader decodes
  the JPEG files once into memory (reported apart, it is cached on disk for later runs) and
  augments whole batches;
- conventional: a ``torch.utils.data.DataLoader`` over the same ``ImageFolder`` with 2 worker
  processes, decoding and transforming each image with PIL every epoch.

Each side trains ``steps`` batches per round, interleaved; the epoch time is extrapolated from
the best round to the batches of an epoch.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import Result, interleaved_rounds

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def _transform():
    from resvision import transforms as T

    return T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                      T.Normalize(MEAN, STD)])  # fmt: skip


CASES = (("resnet50", 64), ("resnet20", 128))


def run(root: Path, quick: bool = False) -> list[Result]:
    """Rows: both pipelines' images/s and epoch time per network, and the one-off decode."""
    from resvision.datasets import ImageFolder

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RESVISION_CACHE"] = tmp
        fast_ds = ImageFolder(str(root / "train"), transform=_transform(), backend="pil")
        t0 = time.perf_counter()
        fast_ds.tensors()
        decode = time.perf_counter() - t0
        slow_ds = ImageFolder(str(root / "train"), transform=_transform(), backend="pil")
        rows = []
        for model_name, batch in CASES:
            rows += _case(model_name, batch, fast_ds, slow_ds, quick)
    rows.append(Result("epoch", "one-off JPEG decode of the 50,000 training images", decode, "s",
                       note="resvision fast path, cached on disk for later runs"))  # fmt: skip
    print("  epoch: done", flush=True)
    return rows


def _case(model_name: str, batch: int, fast_ds, slow_ds, quick: bool) -> list[Result]:
    import resvision
    from resvision.models import create_model

    steps, rounds = (10, 2) if quick else (30, 3)
    if model_name != "resnet50":
        steps *= 3  # light networks: longer rounds
    device = torch.device("cpu")
    n = len(fast_ds)
    loader = torch.utils.data.DataLoader(
        slow_ds, batch_size=batch, shuffle=True, num_workers=2, persistent_workers=True
    )
    models = {}
    for name in ("resvision", "conventional"):
        torch.manual_seed(0)
        m = resvision.Model(create_model(model_name, num_classes=10), device=device)
        m.prepare(torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9),
                  torch.nn.CrossEntropyLoss())  # fmt: skip
        models[name] = m

    def fast_round() -> int:
        with contextlib.redirect_stdout(io.StringIO()):
            models["resvision"].fit(fast_ds, batch_size=batch, epochs=1, verbose=0,
                                    num_iters=steps, log_freq=10**6)  # fmt: skip
        return steps * batch

    def slow_round() -> int:
        with contextlib.redirect_stdout(io.StringIO()):
            models["conventional"].fit(loader, epochs=1, verbose=0, num_iters=steps,
                                       log_freq=10**6)  # fmt: skip
        return steps * batch

    fast_round(), slow_round()  # warm-up: builds the loader, starts the workers
    speeds = interleaved_rounds(
        {"resvision": fast_round, "conventional": slow_round}, rounds=rounds, device=device
    )
    base = speeds["conventional"]["best"]
    chosen = models["resvision"].auto_settings.describe()
    rows = []
    for name, label in (("conventional", "DataLoader(2 workers) + PIL, per-image"),
                        ("resvision", "resvision fast path")):  # fmt: skip
        ips = speeds[name]["best"]
        epoch_s = math.ceil(n / batch) * batch / ips
        rows.append(Result("epoch", f"{model_name}@32 b{batch} epoch, {label}", epoch_s,
                           "s/epoch", ratio=ips / base,
                           baseline="DataLoader epoch (speed-up)",
                           median=math.ceil(n / batch) * batch / speeds[name]["median"],
                           note=f"{ips:.0f} images/s" + (f"; {chosen}" if name == "resvision"
                                                          else "")))  # fmt: skip
    return rows
