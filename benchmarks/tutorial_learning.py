"""Does the tutorial's example learn? resvision and Paddle side by side on the same pixels.

The PaddlePaddle tutorial's 14-line example (``examples/tutorial_cifar10.py``: ResNet-50,
Momentum lr 0.01 with L2Decay 1e-4, batch 64, unnormalised 0-255 inputs through ``Transpose()``)
trained on the embedded CIFAR-10 sample (5,000 training / 1,000 test images) for ``--epochs``
epochs, evaluated on the test split after each one:

- resvision: the example's lines, through ``resvision.Model`` with the settings ``fit`` picks by
  itself (``--amp fp32`` forces fp32, as Paddle computes);
- Paddle: ``benchmarks/peers/paddle_tutorial.py`` in the Paddle venv (``/work/venvs/paddle``, or
  ``RESVISION_PADDLE_PYTHON``), the tutorial's code with the same data; skipped when missing.

Prints one table (per epoch: training top-1, test top-1 / top-5 / loss of each), writes the
rows as JSON (``--out``). Minutes per epoch on 2 CPU cores, so it lives here, not in the tests.

    python benchmarks/tutorial_learning.py --epochs 6 --seeds 0,1
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PADDLE_PYTHON = os.environ.get("RESVISION_PADDLE_PYTHON", "/work/venvs/paddle/bin/python")


def resvision_run(epochs: int, seed: int, amp: str) -> list[dict]:
    """The example's lines on resvision; one row per epoch."""
    import resvision
    from resvision.callbacks import Callback
    from resvision.datasets import Cifar10Sample as Cifar10
    from resvision.metrics import Accuracy
    from resvision.models import resnet50
    from resvision.optim import L2Decay, Momentum
    from resvision.transforms import Transpose

    rows: list[dict] = []

    class Record(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            rows.append({
                "epoch": epoch + 1,
                "loss": float(logs["eval_loss"]),
                "acc_top1": float(logs["eval_acc_top1"]),
                "acc_top5": float(logs["eval_acc_top5"]),
                "train_acc_top1": float(logs["acc_top1"]),
            })  # fmt: skip

    torch.manual_seed(seed)
    resvision.set_image_backend("cv2")
    model = resvision.Model(resnet50(pretrained=False, num_classes=10))
    train_dataset = Cifar10(mode="train", transform=Transpose())
    val_dataset = Cifar10(mode="test", transform=Transpose())
    optimizer = Momentum(learning_rate=0.01, momentum=0.9, weight_decay=L2Decay(1e-4),
                         parameters=model.parameters())  # fmt: skip
    model.prepare(optimizer, torch.nn.CrossEntropyLoss(), Accuracy(topk=(1, 5)),
                  **({"amp_configs": None} if amp == "fp32" else {}))  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        model.fit(train_dataset, val_dataset, epochs=epochs, batch_size=64, verbose=0,
                  callbacks=[Record()], seed=seed)  # fmt: skip
    return rows


def paddle_run(epochs: int, seed: int) -> list[dict] | str:
    """The tutorial in Paddle (a subprocess); a reason string when Paddle is not installed."""
    if not Path(PADDLE_PYTHON).exists():
        return f"skipped: no Paddle interpreter at {PADDLE_PYTHON}"
    script = ROOT / "benchmarks" / "peers" / "paddle_tutorial.py"
    cmd = [PADDLE_PYTHON, str(script), "--epochs", str(epochs), "--seed", str(seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return f"failed: {proc.stderr.strip().splitlines()[-1:]}"
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def table(runs: dict[str, list[dict] | str]) -> str:
    names = list(runs)
    head = "| epoch | " + " | ".join(
        f"{n} train top-1 | {n} test top-1 | {n} test top-5 | {n} test loss" for n in names
    )
    lines = [head + " |", "|---:|" + "---:|" * (4 * len(names))]
    epochs = max((len(r) for r in runs.values() if isinstance(r, list)), default=0)
    for e in range(epochs):
        cells = []
        for n in names:
            r = runs[n]
            if isinstance(r, list) and e < len(r):
                row = r[e]
                cells += [f"{100 * row['train_acc_top1']:.1f}%", f"{100 * row['acc_top1']:.1f}%",
                          f"{100 * row['acc_top5']:.1f}%", f"{row['loss']:.2f}"]  # fmt: skip
            else:
                cells += ["-"] * 4
        lines.append(f"| {e + 1} | " + " | ".join(cells) + " |")
    for n in names:
        if isinstance(runs[n], str):
            lines.append(f"\n{n}: {runs[n]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--seeds", default="0", help="comma-separated seeds, one run of each per seed")
    p.add_argument("--amp", choices=("auto", "fp32"), default="auto")
    p.add_argument("--no-paddle", action="store_true")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "tutorial_learning.json"))
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    results = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
               "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "epochs": args.epochs,
               "amp": args.amp, "torch_threads": torch.get_num_threads(), "runs": {}}  # fmt: skip
    for seed in seeds:
        runs: dict[str, list[dict] | str] = {}
        t0 = time.perf_counter()
        runs[f"resvision (seed {seed})"] = resvision_run(args.epochs, seed, args.amp)
        t1 = time.perf_counter()
        if not args.no_paddle:
            runs[f"Paddle (seed {seed})"] = paddle_run(args.epochs, seed)
        t2 = time.perf_counter()
        print(table(runs), flush=True)
        print(f"\nseconds: resvision {t1 - t0:.0f}, Paddle {t2 - t1:.0f}\n", flush=True)
        results["runs"].update(runs)
        results.setdefault("seconds", {})[str(seed)] = {"resvision": t1 - t0, "paddle": t2 - t1}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
