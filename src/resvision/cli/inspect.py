"""The inspection commands: ``models``, ``summary``, ``data`` and ``report``."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from resvision.cli.table import format_table, human
from resvision.recipe.build import check_model_name
from resvision.recipe.config import DataSection
from resvision.recipe.data import data_kind, folder_root, folder_splits, open_data
from resvision.recipe.errors import UsageError, unknown_name_error


def weights_rows(name: str) -> list[dict[str, Any]]:
    """The registered weights of model ``name``, reference-only ones included: one dict each
    (``name``, ``publisher``, ``default``, ``loadable``, ``verified``, ``url``, ``acc@1``)."""
    from resvision.models.weights import get_weights, list_weights

    rows = []
    for entry_name in list_weights(name, include_reference=True):
        entry = get_weights(name, entry_name)
        top1 = entry.metrics.get("ImageNet-1K", {}).get("acc@1")
        rows.append(
            {
                "name": entry.name,
                "publisher": entry.source_format,
                "default": entry.default,
                "loadable": entry.loadable,
                "verified": entry.verified,
                "url": entry.url,
                "acc@1": top1,
            }
        )
    return rows


def weights_summary(rows: list[dict[str, Any]]) -> str:
    """The weights column: publishers of the loadable entries (``x2``: two of them; ``*``: the
    default), then those listed for reference only, whose network differs.

    Examples:
        >>> weights_summary([
        ...     {"publisher": "torchvision", "default": True, "loadable": True},
        ...     {"publisher": "torchvision", "default": False, "loadable": True},
        ...     {"publisher": "paddle", "default": False, "loadable": True}])
        'torchvision x2*, paddle'
        >>> weights_summary([{"publisher": "paddle", "default": True, "loadable": True},
        ...                  {"publisher": "torchvision", "default": False, "loadable": False}])
        'paddle*, (torchvision: other net)'
    """
    parts = []
    loadable = [r for r in rows if r["loadable"]]
    for publisher in dict.fromkeys(r["publisher"] for r in loadable):
        mine = [r for r in loadable if r["publisher"] == publisher]
        count = f" x{len(mine)}" if len(mine) > 1 else ""
        parts.append(publisher + count + ("*" if any(r["default"] for r in mine) else ""))
    reference = sorted({r["publisher"] for r in rows if not r["loadable"]})
    if reference:
        parts.append(f"({', '.join(reference)}: other net)")
    return ", ".join(parts) or "-"


def zoo_rows(pattern: str | None = None, family: str | None = None) -> list[dict[str, Any]]:
    """One row per model: name, family, natural input size, classes, parameters, MACs, weights.

    The networks are built on PyTorch's ``meta`` device: shapes only, no memory and no
    initialisation, so the whole zoo is measured in seconds.
    """
    import torch

    from resvision.models import count_macs, create_model, list_models, model_info

    rows = []
    for name in list_models(pattern, family=family):
        info = model_info(name)
        with torch.device("meta"):
            net = create_model(name)
            macs = count_macs(net, info.input_size)
        params = sum(p.numel() for p in net.parameters())
        rows.append(
            {
                "name": name,
                "family": info.family,
                "input_size": list(info.input_size),
                "num_classes": info.num_classes,
                "params": params,
                "macs": macs,
                "weights": weights_rows(name),
            }
        )
    return rows


def run_models(args: argparse.Namespace) -> int:
    """``resvision models [PATTERN] [--family F] [--json]``."""
    from resvision.models import list_models

    families = sorted({r for r in _families()})
    if args.family and args.family not in families:
        raise unknown_name_error("model family", args.family, families)
    rows = zoo_rows(args.pattern, args.family)
    if not rows:
        raise UsageError(
            f"no model matches {args.pattern!r}; the zoo has {len(list_models())} models "
            "(`resvision models` lists them)"
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [
        [
            r["name"],
            r["family"],
            "x".join(map(str, r["input_size"])),
            r["num_classes"],
            weights_summary(r["weights"]),
            human(r["params"]),
            human(r["macs"]),
        ]
        for r in sorted(rows, key=lambda r: (r["family"], r["params"]))
    ]
    header = ["model", "family", "input", "classes", "weights", "params", "MACs"]
    print(format_table(header, table, align="llrrlrr"))
    print(
        f"\n{len(rows)} models; MACs of one image at its natural input size.\n"
        "weights: registered ImageNet weights by publisher (* the one pretrained=True takes; "
        "'other net': listed for\nreference only, the publisher's network differs); --json lists "
        "each entry, with 'verified' (downloaded and\nchecked by resvision)."
    )
    return 0


def _families() -> list[str]:
    from resvision.models import list_models, model_info

    return [model_info(n).family for n in list_models()]


def parse_input_size(text: str) -> tuple[int, ...]:
    """``'3,224,224'``, ``'3x224x224'`` or ``'224'`` (3 channels, square) to a tuple.

    Examples:
        >>> parse_input_size("1x28x28"), parse_input_size("64")
        ((1, 28, 28), (3, 64, 64))
    """
    parts = [p for p in text.replace("x", ",").replace(" ", ",").split(",") if p]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) == 1:
        values = (3, values[0], values[0])
    if len(values) not in (3, 4) or min(values) < 1:
        raise UsageError(f"--input-size must be C,H,W (e.g. 3,224,224) or a side, got {text!r}")
    return values


def run_summary(args: argparse.Namespace) -> int:
    """``resvision summary MODEL [--input-size C,H,W] [--num-classes N]``."""
    from resvision.models import create_model, model_info, summary

    check_model_name(args.model)
    info = model_info(args.model)
    size = parse_input_size(args.input_size) if args.input_size else info.input_size
    kwargs = {} if args.num_classes is None else {"num_classes": args.num_classes}
    try:
        net = create_model(args.model, **kwargs)
        summary(net, size)
    except (ValueError, RuntimeError) as err:
        # A size the network cannot take (too small for its strides, wrong channels).
        raise UsageError(f"{args.model} cannot take input size {tuple(size)}: {err}") from None
    return 0


def _scan_folder(split_dir: Path, decode: bool) -> dict[str, Any]:
    """Images per class, image sizes, unreadable files and what is left out, of one split.

    The files are listed as ``DatasetFolder`` lists them (the same walk, extensions and classes),
    so the counts here are the samples a run gets.
    """
    from PIL import Image

    from resvision.data.walk import scan_class_folders

    scan = scan_class_folders(split_dir)
    counts: dict[str, int] = {}
    sizes: Counter[str] = Counter()
    bad: list[str] = []
    for cls in scan.classes:
        n = 0
        for f in scan.files.get(cls, []):
            try:
                with Image.open(f) as img:
                    if decode:
                        img.load()
                    channels = len(img.getbands())
                    sizes[f"{channels}x{img.height}x{img.width}"] += 1
                n += 1
            except (OSError, ValueError, Image.DecompressionBombError) as err:
                bad.append(f"{f}: {err}")
        counts[cls] = n
    left_out = [{"path": p, "reason": why} for p, why in scan.left_out]
    return {
        "counts": counts,
        "sizes": dict(sizes.most_common()),
        "unreadable": bad,
        "left_out": left_out,
    }


def describe_data(data: str, root: str | None = None, decode: bool = False) -> dict[str, Any]:
    """Classes, images per class and split, image sizes, unreadable files and (folders) what is
    left out of a data set: ``{'data', 'classes', 'splits': {split: {'counts', 'sizes',
    'unreadable', 'left_out': [{'path', 'reason'}]}}}``."""
    kind = data_kind(data)
    if kind == "folder":
        base = folder_root(data)
        folder_splits(base)  # the layout check with its helpful error
        splits = {
            s: _scan_folder(base / s, decode)
            for s in ("train", "val", "test")
            if (base / s).is_dir()
        }
        classes = sorted({c for s in splits.values() for c in s["counts"]})
        return {"data": str(base), "classes": classes, "splits": splits}
    bundle = open_data(DataSection(name=data, root=root), train=True, evaluation=True)
    splits = {}
    for split, ds in (("train", bundle.train), (bundle.eval_split, bundle.eval)):
        labels = getattr(ds, "labels", None)
        if labels is None:
            labels = [int(ds[i][1]) for i in range(len(ds))]
        counter = Counter(int(v) for v in labels)
        shape = getattr(ds, "image_shape", None)
        splits[split] = {
            "counts": {c: counter.get(i, 0) for i, c in enumerate(bundle.classes)},
            "sizes": {"x".join(map(str, shape)): len(ds)} if shape else {},
            "unreadable": [],
            "left_out": [],
        }
    return {"data": bundle.description, "classes": bundle.classes, "splits": splits}


def export_images(data: str, root: str | None, folder: Path, count: int) -> list[Path]:
    """Write ``count`` evaluation images of a data set as ``<index>_<class>.png``, classes in
    turn (image 0 of class 0, of class 1, ...).

    Raises:
        UsageError: a data set whose images are not held in memory (a folder: use its files).
    """
    from PIL import Image

    if count < 1:
        raise UsageError(f"--count must be at least 1, got {count}")
    if data_kind(data) == "folder":
        raise UsageError(f"{data!r} is a folder of image files already: give them to predict")
    bundle = open_data(DataSection(name=data, root=root), train=False)
    ds = bundle.eval
    labels = [int(v) for v in ds.labels]
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    order = [i for group in zip(*by_class.values()) for i in group][:count]
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i in order:
        name = bundle.classes[labels[i]].replace("/", "_").replace(" ", "_")
        path = folder / f"{i:05d}_{name}.png"
        Image.fromarray(np.asarray(ds.hwc(i))).save(path)
        written.append(path)
    return written


def run_data(args: argparse.Namespace) -> int:
    """``resvision data [DATA] [--json] [--export DIR --count N]``: exit 1 if files are unreadable."""
    if args.data_option:
        args.data = args.data_option
    if args.export:
        written = export_images(args.data, args.data_root, Path(args.export), args.count)
        print(f"wrote {len(written)} images to {args.export}/ (e.g. {written[0].name})")
        return 0
    info = describe_data(args.data, args.data_root, decode=args.decode)
    splits = info["splits"]
    bad = [b for s in splits.values() for b in s["unreadable"]]
    if args.json:
        print(json.dumps(info, indent=2))
        return 1 if bad else 0
    print(f"data set: {info['data']}")
    print(f"classes ({len(info['classes'])}): {', '.join(info['classes'][:20])}", end="")
    print(" ..." if len(info["classes"]) > 20 else "")
    print()
    rows = []
    for name, s in splits.items():
        counts = list(s["counts"].values()) or [0]
        sizes = ", ".join(f"{k} ({v})" for k, v in list(s["sizes"].items())[:4])
        if len(s["sizes"]) > 4:
            sizes += f", ... ({len(s['sizes'])} sizes)"
        rows.append([name, sum(counts), f"{min(counts)}-{max(counts)}", sizes or "-"])
    print(format_table(["split", "images", "per class", "image sizes (CxHxW)"], rows, left=1))
    if len(info["classes"]) <= 100:
        print()
        header = ["class", *splits]
        rows = [[c, *(s["counts"].get(c, 0) for s in splits.values())] for c in info["classes"]]
        print(format_table(header, rows, left=1))
    left_out = [e for s in splits.values() for e in s.get("left_out", [])]
    if left_out:
        # Not errors (a README, a .gif, a link loop): listed so that nothing goes silently.
        print(f"\nleft out: {len(left_out)} files or folders, not read by the data set")
        for e in left_out[:10]:
            print(f"  {e['path']}: {e['reason']}")
        if len(left_out) > 10:
            print(f"  ... and {len(left_out) - 10} more (--json lists all)")
    print(f"\nunreadable files: {len(bad) or 'none'}")
    for line in bad[:20]:
        print(f"  {line}")
    if len(bad) > 20:
        print(f"  ... and {len(bad) - 20} more (--json lists all)")
    return 1 if bad else 0


def run_report(args: argparse.Namespace) -> int:
    """``resvision report RUN_DIR``: rebuild ``report.html`` from the run folder's files."""
    from resvision.report import build_report

    run = Path(args.run)
    if not run.is_dir():
        raise UsageError(f"run folder {args.run!r} does not exist")
    print(f"report: {build_report(run)}")
    return 0
