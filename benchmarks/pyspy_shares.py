"""Where the time of ``fit(auto)`` goes, by a sampling profiler: py-spy's shares, as a JSON file.

    pip install py-spy
    python -m benchmarks.pyspy_shares                 # about 40 s
    python -m benchmarks.pyspy_shares --raw fit.txt   # classify an existing raw profile only

Records ``python -m benchmarks.fit_loop`` (resnet50@32 batch 64, ``fit``'s own settings, start-up
included) with ``py-spy record -r 50 -d 30 --native -f raw``, then counts, for each category
below, the samples with at least one frame that matches it (a sample counts once per
category; categories overlap where stacks nest, so shares do not add up to 100%). Writes
``benchmarks/results/pyspy-shares.json``, which ``benchmarks/README.md`` ("Gaps") quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable

from benchmarks.common import RESULTS_DIR, ROOT

#: category -> substrings of a frame (case-sensitive). A frame is "function (file:line)" in
#: py-spy's raw format, so Python and native frames are both matched.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "autograd backward": ("run_backward", "torch::autograd::Engine::"),
    # py-spy's native unwinding loses many frames under oneDNN, so the Python frame of the
    # convolution (Conv2d._conv_forward) and oneDNN's forward kernels count as well.
    "convolution forward": (
        "at::native::_convolution",
        "at::native::convolution",
        "_conv_forward",
        "convolution_fwd",
    ),
    "optimizer step (SGD)": ("_multi_tensor_sgd", "_single_tensor_sgd", "_fused_sgd"),
    "batch norm": ("batch_norm",),
    "relu": ("at::native::relu", "threshold_"),
    "finite-state guard (guards.state_finite)": ("state_finite",),
}
#: the forward-only categories exclude samples already under autograd's backward.
FORWARD_ONLY = {"convolution forward", "batch norm", "relu"}


def parse_raw(lines: Iterable[str]) -> list[tuple[list[str], int]]:
    """py-spy's ``-f raw`` lines (``frame;frame;... count``) as (frames, count) pairs."""
    stacks: list[tuple[list[str], int]] = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        try:
            n = int(count)
        except ValueError as err:
            raise ValueError(f"not a py-spy raw line (no trailing count): {line[:120]!r}") from err
        stacks.append((stack.split(";"), n))
    return stacks


def shares(stacks: list[tuple[list[str], int]]) -> dict[str, object]:
    """Each category's share of all samples (see the module docstring)."""
    total = sum(n for _, n in stacks)
    if total == 0:
        raise ValueError("the profile holds no samples")
    counts = dict.fromkeys(CATEGORIES, 0)
    for frames, n in stacks:
        backward = any(any(m in f for m in CATEGORIES["autograd backward"]) for f in frames)
        for name, marks in CATEGORIES.items():
            if name in FORWARD_ONLY and backward:
                continue
            if any(any(m in f for m in marks) for f in frames):
                counts[name] += n
    return {
        "samples": total,
        "shares": {k: v / total for k, v in counts.items()},
        "counts": counts,
    }


def record(raw_path: str, rate: int, duration: int) -> None:
    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    cmd = [exe, "record", "-r", str(rate), "-d", str(duration), "--native", "-f", "raw",
           "-o", raw_path, "--", sys.executable, "-m", "benchmarks.fit_loop"]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--raw", default=None, help="classify this raw profile instead of recording")
    p.add_argument("--rate", type=int, default=50)
    p.add_argument("--duration", type=int, default=30)
    p.add_argument("--out", default=os.path.join(RESULTS_DIR, "pyspy-shares.json"))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        raw = args.raw or os.path.join(tmp, "fit.txt")
        if args.raw is None:
            record(raw, args.rate, args.duration)
        with open(raw) as f:
            result = shares(parse_raw(f))
    result["command"] = "python -m benchmarks.pyspy_shares " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    result["profiled"] = "python -m benchmarks.fit_loop (resnet50@32 b64, fit(auto))"
    result["py_spy"] = f"record -r {args.rate} -d {args.duration} --native -f raw"
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"{result['samples']} samples")
    for name, share in result["shares"].items():
        print(f"  {name:45s} {100 * share:5.1f}%")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
