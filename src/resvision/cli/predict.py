"""``resvision predict``: classify image files with a trained checkpoint.

The preprocessing is the one the network was evaluated with during training (stored in the
checkpoint): resize of the shorter side, center crop, normalisation. Any image file PIL reads is
accepted and converted as :mod:`resvision.data.images` documents (grey, palette, CMYK and alpha
to RGB, alpha dropped; 16-bit scaled to 8-bit; the EXIF orientation applied; to grey for
one-channel models); a file that cannot be read, or whose header declares more pixels than
``RESVISION_MAX_IMAGE_PIXELS`` (a decompression bomb), is skipped with its reason (exit 1).
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from resvision.cli.table import format_table
from resvision.data.walk import WalkResult, regular_file_problem, walk_files
from resvision.recipe.config import DataSection
from resvision.recipe.data import Preprocess, build_transforms
from resvision.recipe.errors import UsageError

_MAGIC = re.compile(r"[*?[]")  # what makes a path part a glob pattern (as in glob.has_magic)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


def _match(parts: tuple[str, ...], patterns: tuple[str, ...]) -> bool:
    """Whether a relative path's parts match glob parts (``**``: any number of folders)."""
    if not patterns:
        return not parts
    if patterns[0] == "**":
        return any(_match(parts[i:], patterns[1:]) for i in range(len(parts) + 1))
    return (
        bool(parts)
        and fnmatch.fnmatchcase(parts[0], patterns[0])
        and _match(parts[1:], patterns[1:])
    )


def _glob(pattern: str) -> WalkResult:
    """The regular files a glob matches, and what it matched that is not one."""
    parts = Path(pattern).parts
    if "**" not in parts:
        # One folder level per part of the pattern: links cannot make this walk run away.
        found = WalkResult()
        for match in sorted(Path(p) for p in glob.glob(pattern)):
            if match.is_dir():
                continue  # a folder the pattern names is not an image (and is not walked)
            problem = regular_file_problem(match)
            if problem is None:
                found.files.append(match)
            else:
                found.left_out.append((match, problem))
                found.problems.append((match, problem))
        return found
    # glob's own ``**`` follows link loops until paths grow too long (and two loops never end):
    # walk from the literal start of the pattern instead, each real folder once.
    start = next(i for i, part in enumerate(parts) if _MAGIC.search(part))
    base, rest = Path(*parts[:start]), parts[start:]
    try:
        found = walk_files(
            base, is_valid_file=lambda f: _match(Path(f).relative_to(base).parts, rest)
        )
    except OSError:  # the start of the pattern is not a folder: nothing matches
        return WalkResult()
    found.files.sort()
    # The walk reports every special file it meets; only those the pattern names concern the user
    # (and the folders it could not enter, which may hold matches).
    found.problems = [
        (p, why)
        for p, why in found.problems
        if p.is_dir() or _match(p.relative_to(base).parts, rest)
    ]
    return found


def _report(left_out: list[tuple[Path, str]], limit: int = 20) -> None:
    for path, why in left_out[:limit]:
        print(f"resvision: left out {path}: {why}", file=sys.stderr)
    if len(left_out) > limit:
        print(f"resvision: ... and {len(left_out) - limit} more left out", file=sys.stderr)


def expand_images(patterns: list[str]) -> list[Path]:
    """Files, folders (searched recursively for images) and globs, to image files in order.

    Duplicates are kept once, in first-seen order. Folders and ``**`` globs are walked by
    :func:`resvision.data.walk.walk_files` (each real folder once, hidden entries skipped); only
    regular files are kept: a FIFO or a device is never opened (it would wait or read forever).
    Those found in folders and globs are left out with a line on stderr.

    Raises:
        UsageError: a pattern that matches nothing, or a path given by name that is not a
            regular file (a FIFO, a device, a broken link).
    """
    files: list[Path] = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.is_dir():
            walk = walk_files(path, extensions=IMAGE_SUFFIXES)
            found = sorted(walk.files)
            _report(walk.problems)
            if not found:
                raise UsageError(
                    f"folder {pattern!r} holds no image files ({', '.join(IMAGE_SUFFIXES)})"
                )
        elif os.path.lexists(path):
            problem = regular_file_problem(path)
            if problem is not None:
                raise UsageError(f"image {pattern!r} is {problem}; give image files")
            found = [path]
        else:
            walk = _glob(os.path.expanduser(pattern))
            found = walk.files
            _report(walk.problems)
            if not found:
                raise UsageError(f"no image file matches {pattern!r}")
        files.extend(found)
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def load_image(path: Path, pre: Preprocess, transform: Any) -> Any:
    """Decode one file and apply the evaluation transform; returns a float32 CHW tensor."""
    import torch

    from resvision.data.images import open_image

    image = open_image(path, mode="L" if pre.channels == 1 else "RGB")
    x = transform(image)
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).float()


def predict_files(model: Any, files: list[Path], pre: Preprocess, batch_size: int):
    """Probabilities [N, C] for the readable files, and the errors of the others.

    Returns:
        ``(readable files, probabilities, {file: error message})``.
    """
    import torch

    from resvision.data.images import ImageDecodeError

    _, transform = build_transforms(DataSection(augment="none"), pre, natural=None)
    ok: list[Path] = []
    probs: list[np.ndarray] = []
    errors: dict[Path, str] = {}
    batch: list[Any] = []

    def flush() -> None:
        if batch:
            (logits,) = model.predict_batch([torch.stack(batch)])
            probs.append(torch.softmax(torch.from_numpy(logits).float(), dim=1).numpy())
            batch.clear()

    for file in files:
        try:
            batch.append(load_image(file, pre, transform))
            ok.append(file)
        except ImageDecodeError as err:
            errors[file] = str(err)
            continue
        if len(batch) == batch_size:
            flush()
    flush()
    n_classes = model.network.num_classes if hasattr(model.network, "num_classes") else 0
    return ok, (np.concatenate(probs) if probs else np.zeros((0, n_classes))), errors


def pretrained_model(name: str, weights: str | None, device: str) -> tuple[Any, list, Any, str]:
    """A zoo model with published (or given) weights, predicting with the weights' own class
    names and preprocessing: ``(Model, classes, Preprocess, source of the weights)``.

    Raises:
        UsageError: unknown model, weights that cannot be had, or weights that carry no class
            names or preprocessing.
    """
    import resvision
    from resvision.models.weights import create_model_from_weights
    from resvision.recipe.build import check_model_name, pretrained_value, resolve_device_name

    check_model_name(name)
    value = pretrained_value(weights or "true")
    if value is None:
        raise UsageError(f"--pretrained {weights!r}: predictions need trained weights")
    try:
        net = create_model_from_weights(value, name)
    except (ValueError, OSError) as err:
        raise UsageError(f"cannot load the weights of {name}: {err}") from None
    cfg = net.pretrained_cfg
    classes, pre = cfg.get("categories"), cfg.get("preprocessing")
    if not classes or not pre or not pre.get("mean"):
        raise UsageError(
            f"the weights {cfg['source']} do not say which classes they predict or how images "
            "are prepared; predict with a checkpoint of `resvision train` instead"
        )
    preprocess = Preprocess(
        channels=len(pre["mean"]),
        size=pre["crop"],
        resize=pre.get("resize"),
        mean=list(pre["mean"]),
        std=list(pre["std"]),
        interpolation=pre.get("interpolation") or "bilinear",
    )
    model = resvision.Model(net, device=resolve_device_name(device))
    return model, [str(c) for c in classes], preprocess, cfg["source"]


def run_predict(args: argparse.Namespace) -> int:
    """``resvision predict --checkpoint CKPT IMAGE... [--topk K] [--json]``."""
    from resvision.recipe.evaluation import load_model_for_inference
    from resvision.recipe.runs import load_run, parse_classes

    if args.topk < 1:
        raise UsageError(f"--topk must be at least 1, got {args.topk}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.checkpoint and args.pretrained:
        raise UsageError("give --checkpoint, or --model with --pretrained, not both")
    if args.classes and not args.checkpoint:
        raise UsageError("--classes names the classes of a --checkpoint; give one")
    if args.checkpoint:
        classes = parse_classes(args.classes) if args.classes else None
        file, info, checkpoint = load_run(args.checkpoint, model=args.model, classes=classes)
        files = expand_images(args.images)
        classes = [str(c) for c in info["classes"]]
        pre = Preprocess.from_dict(info["preprocess"])
        model = load_model_for_inference(info, file, args.device, checkpoint)
    elif args.model:
        files = expand_images(args.images)
        model, classes, pre, file = pretrained_model(args.model, args.pretrained, args.device)
    else:
        raise UsageError("predict needs --checkpoint CKPT, or --model NAME [--pretrained WEIGHTS]")
    ok, probs, errors = predict_files(model, files, pre, args.batch_size)
    k = min(args.topk, len(classes))
    results = []
    for f, p in zip(ok, probs):
        top = np.argsort(-p, kind="stable")[:k]
        results.append(
            {
                "image": str(f),
                "predictions": [
                    {"class": classes[i], "index": int(i), "probability": float(p[i])} for i in top
                ],
            }
        )
    if args.json:
        out: dict[str, Any] = {"checkpoint": str(file), "results": results}
        if errors:
            out["errors"] = {str(f): msg for f, msg in errors.items()}
        print(json.dumps(out, indent=2))
    else:
        header = ["image"]
        for j in range(k):
            header += [f"top-{j + 1}", "prob"]
        rows = []
        for r in results:
            row = [r["image"]]
            for pred in r["predictions"]:
                row += [pred["class"], f"{100 * pred['probability']:.1f}%"]
            rows.append(row)
        if rows:
            print(format_table(header, rows, align="l" + "lr" * k))
        for f, msg in errors.items():
            print(f"resvision: skipped {f}: {msg}", file=sys.stderr)
    return 1 if errors else 0
