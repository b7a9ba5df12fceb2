"""Run the benchmark suite: one table with images/s and ratios, and a JSON file of results.

    python -m benchmarks                       # every section the machine allows
    python -m benchmarks --quick               # fewer rounds, no compile, no time-to-accuracy
    python -m benchmarks --only training,peers # some sections
    python -m benchmarks --only tta --data-root /tmp/cifar10-jpeg

Sections: roofline, training, peers, data, epoch, inference, tta (time to accuracy). Results go
to ``benchmarks/results/<machine>-<date>.json`` (and the time-to-accuracy curve next to it as
a PNG); the table is printed as text and, with ``--markdown``, as the README's Markdown.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path

import torch

from benchmarks.common import (
    RESULTS_DIR,
    ROOT,
    SHARED_ARCHIVE,
    Result,
    format_markdown,
    format_table,
    machine_info,
    machine_slug,
    skipped,
)

SECTIONS = ("roofline", "training", "peers", "data", "epoch", "inference", "tta")


def _data_section(root: Path, quick: bool) -> list[Result]:
    """``benchmarks/data_pipeline.py`` (the data helper's script), run as it is."""
    out = Path(tempfile.mkdtemp(prefix="resvision-data-"))
    cmd = [sys.executable, os.path.join(ROOT, "benchmarks", "data_pipeline.py"),
           "--root", str(root), "--out", str(out)]  # fmt: skip
    if quick:
        cmd += ["--dataloader-images", "2560"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=3600)
    files = list(out.glob("*.json"))
    if proc.returncode != 0 or not files:
        return [skipped("data", "data pipeline", (proc.stderr or "no result")[-80:])]
    report = json.loads(files[0].read_text())
    rows = []
    entries = report.get("rows") or report.get("results") or []
    base = next((e["images_per_s"] for e in entries
                 if e.get("workers") == 2 and "fast" not in e.get("path", "")), None)  # fmt: skip
    for e in entries:
        ips = e.get("images_per_s")
        name = f"{e.get('path')} workers={e.get('workers')} threads={e.get('threads', '')}"
        rows.append(Result("data", name, ips, "images/s",
                           ratio=ips / base if base and ips else None,
                           baseline="DataLoader 2 workers" if base else None))  # fmt: skip
    return rows


def _cifar_root(args: argparse.Namespace, tmp: str) -> Path | None:
    if args.data_root:
        return Path(args.data_root)
    if not os.path.exists(SHARED_ARCHIVE):
        return None
    with tarfile.open(SHARED_ARCHIVE) as tar:
        tar.extractall(tmp, filter="data")
    return Path(tmp)


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the chosen sections, print the table, write the JSON."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds; no compile, no tta")
    p.add_argument("--only", default=None, help=f"comma-separated sections of {SECTIONS}")
    p.add_argument("--data-root", default=None, help="extracted CIFAR-10 (JPEG) tree")
    p.add_argument("--tta-epochs", type=int, default=None, help="override the recipe's epochs")
    p.add_argument(
        "--tta-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the fast_cifar10 preset (e.g. train.amp=off)",
    )
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    p.add_argument("--device", default=None, help="default: CUDA when available, else CPU")
    p.add_argument("--markdown", action="store_true", help="also print the Markdown table")
    p.add_argument("--out", default=RESULTS_DIR)
    args = p.parse_args(argv)
    sections = SECTIONS if args.only is None else tuple(s.strip() for s in args.only.split(","))
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    info = machine_info(device)
    print(f"machine: {info['cpu']} ({info['cores']} cores), {info.get('gpu', 'no GPU')}, "
          f"torch {info['torch']}, load {info.get('load_average_at_start')}", flush=True)  # fmt: skip
    results: list[Result] = []
    peaks = None
    started = time.perf_counter()
    extra: dict = {}
    with tempfile.TemporaryDirectory(prefix="resvision-bench-") as tmp:
        root = None
        for section in sections:
            t0 = time.perf_counter()
            print(f"[{section}]", flush=True)
            try:
                rows = _run_section(section, args, device, info, tmp, peaks, extra, root)
            except Exception as err:  # one broken section must not lose the others' results
                traceback.print_exc()
                rows = [skipped(section, section, f"failed: {type(err).__name__}: {err}"[:120])]
            if section == "roofline" and len(rows) >= 2 and rows[0].value and rows[1].value:
                peaks = {"fp32": rows[0].value, "bf16": rows[1].value}
            root = root or extra.pop("_root", None)
            results.extend(rows)
            _write(args, info, sections, results, extra, final=False)
            print(f"[{section}] {time.perf_counter() - t0:.0f} s", flush=True)
    info["seconds"] = round(time.perf_counter() - started)
    info["command"] = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    if hasattr(os, "getloadavg"):
        info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print()
    print(format_table(results))
    if args.markdown:
        print()
        print(format_markdown(results))
    path = _write(args, info, sections, results, extra, final=True)
    print(f"\nwrote {path}")
    return 0


def _write(args, info, sections, results, extra, final: bool) -> str:
    """Write the JSON atomically (after every section too, so a crash keeps what was done)."""
    os.makedirs(args.out, exist_ok=True)
    name = f"{machine_slug(info)}-{dt.date.today().isoformat()}"
    if args.only:
        name += "-" + "-".join(sections)
    path = os.path.join(args.out, name + ".json")
    payload = {"machine": info, "complete": final, "results": [r.to_dict() for r in results],
               **extra}  # fmt: skip
    tmp_path = path + ".tmp"
    with open(tmp_path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp_path, path)
    return path


def _run_section(
    section: str,
    args: argparse.Namespace,
    device: torch.device,
    info: dict,
    tmp: str,
    peaks: dict | None,
    extra: dict,
    root: Path | None,
) -> list[Result]:
    """The rows of one section (``extra['_root']`` passes an extracted CIFAR tree on)."""
    if section == "roofline":
        from benchmarks import roofline

        return roofline.run(device, quick=args.quick)[0]
    if section == "training":
        from benchmarks import roofline, training

        if peaks is None:
            peaks = roofline.run(device, quick=True)[1]
        return training.run(device, peaks, quick=args.quick, compile_ok=not args.no_compile)
    if section == "peers":
        from benchmarks import peers

        if device.type != "cpu":
            return [skipped("peers", "peers", "the peer scripts run on the CPU")]
        return peers.run(quick=args.quick)
    if section == "inference":
        from benchmarks import inference

        return inference.run(device, quick=args.quick)
    if args.quick and section == "tta" and args.only is None:
        return [skipped("time-to-acc", "fast_cifar10", "long: --only tta runs it")]
    root = root or _cifar_root(args, tmp)
    if root is None:
        return [skipped(section, section, "no CIFAR-10 (JPEG); give --data-root")]
    extra["_root"] = root
    if section == "data":
        return _data_section(root, args.quick)
    if section == "epoch":
        from benchmarks import epoch

        return epoch.run(root, quick=args.quick)
    from benchmarks import time_to_accuracy

    os.makedirs(args.out, exist_ok=True)
    png = os.path.join(args.out, f"{machine_slug(info)}-tta.png")
    rows, extra["tta"] = time_to_accuracy.run(
        root=str(root), epochs=args.tta_epochs, png=png, overrides=tuple(args.tta_set)
    )
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
