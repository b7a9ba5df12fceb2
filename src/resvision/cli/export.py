"""``resvision export CHECKPOINT --format F``: a trained network for deployment or other libraries.

Model formats (checked after writing: the file is run by ONNX Runtime / TorchScript on sample
batches and compared with PyTorch; a file that differs by more than ``--atol`` is not kept):

- ``onnx``: dynamic batch axis; class names, preprocessing and model name in the metadata;
- ``torchscript``: the same metadata in the archive's ``resvision.json``.

Weight formats (``--layout`` picks the key names: ``resvision``, ``torchvision``, ``paddle``):

- ``safetensors``, ``pth`` (a plain ``torch.save`` state dict), ``pdparams`` (Paddle).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from resvision.recipe.errors import UsageError, unknown_name_error

MODEL_FORMATS = ("onnx", "torchscript")
WEIGHT_FORMATS = ("safetensors", "pth", "pdparams")
FORMATS = MODEL_FORMATS + WEIGHT_FORMATS
LAYOUTS = ("resvision", "torchvision", "paddle", "paddle_tutorial")
_SUFFIX = {
    "onnx": ".onnx",
    "torchscript": ".torchscript.pt",
    "safetensors": ".safetensors",
    "pth": ".pth",
    "pdparams": ".pdparams",
}


def add_export_options(p: argparse.ArgumentParser) -> None:
    """The options of ``resvision export`` (called by the parser)."""
    p.add_argument("checkpoint_file", nargs="?", metavar="CHECKPOINT", help="checkpoint or run")
    p.add_argument("--checkpoint", metavar="CKPT", help="the same, as an option")
    p.add_argument("--format", default="onnx", help=f"{', '.join(FORMATS)} (default onnx)")
    p.add_argument("--output", metavar="FILE", help="default: in the run folder")
    p.add_argument(
        "--model",
        metavar="NAME",
        help="the zoo model of a plain weights file (not needed for "
        "checkpoints of `resvision train`)",
    )
    p.add_argument(
        "--input-size", metavar="C,H,W", help="input of one image (default: the training crop)"
    )
    p.add_argument(
        "--layout",
        help=f"key names of weight formats: {', '.join(LAYOUTS)} (default: "
        "paddle for pdparams, else resvision)",
    )
    p.add_argument(
        "--atol", type=float, default=1e-4, help="largest difference from PyTorch accepted"
    )


def _input_size(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        size = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise UsageError(f"--input-size must be C,H,W such as 3,224,224, got {text!r}")
    return size  # type: ignore[return-value]


def _run_preprocessing(pre: dict[str, Any]) -> dict[str, Any]:
    """The CLI's stored preprocessing in the metadata's terms (crop, resize, mean, std)."""
    return {
        "resize": pre.get("resize") or pre.get("size"),
        "crop": pre.get("size"),
        "mean": pre.get("mean"),
        "std": pre.get("std"),
        "channels": pre.get("channels"),
        "interpolation": pre.get("interpolation") or "bilinear",
        "scale": "0..1" if pre.get("mean") else "0..255 (raw pixels)",
    }


def _load(args: argparse.Namespace, checkpoint: str) -> tuple[Any, Path, tuple | None]:
    """The network (with its ``pretrained_cfg``), the checkpoint file and the input size."""
    from resvision.recipe.runs import checkpoint_of

    if args.model:  # a plain weights file: the export package builds the model
        from resvision.export.api import _model_from_checkpoint

        file = checkpoint_of(checkpoint)
        try:
            network, _ = _model_from_checkpoint(file, args.model)
        except (ValueError, OSError, KeyError) as err:
            raise UsageError(f"cannot load {str(file)!r} as {args.model}: {err}") from None
        return network, file, None
    from resvision.recipe.evaluation import load_model_for_inference
    from resvision.recipe.runs import load_run

    file, info, stored = load_run(checkpoint)
    network = load_model_for_inference(
        info, file, "cpu", stored, run_settings=False
    ).network  # EMA weights if kept
    pre = info.get("preprocess") or {}
    network.pretrained_cfg = {
        "model": info["model"],
        "source": str(file),
        "categories": [str(c) for c in info["classes"]],
        "preprocessing": _run_preprocessing(pre),
    }
    size = (pre["channels"], pre["size"], pre["size"]) if pre.get("size") else None
    return network, file, size


def run_export(args: argparse.Namespace) -> int:
    """``resvision export CHECKPOINT [--format F] [--output FILE] [--input-size C,H,W]``.

    Returns:
        0 when the file was written (and, for model formats, verified); 1 when the check failed.
    """
    checkpoint = args.checkpoint_file or args.checkpoint
    if not checkpoint:
        raise UsageError("export needs a CHECKPOINT (a checkpoint file or a run folder)")
    if args.format not in FORMATS:
        raise unknown_name_error("export format", args.format, FORMATS)
    if args.layout is not None and args.layout not in LAYOUTS:
        raise unknown_name_error("layout", args.layout, LAYOUTS)
    if args.layout is not None and args.format in MODEL_FORMATS:
        raise UsageError(f"--layout applies to weight formats ({', '.join(WEIGHT_FORMATS)})")
    from resvision.recipe.runs import run_dir_of

    size = _input_size(args.input_size)
    network, file, run_size = _load(args, checkpoint)
    # default: in the run folder (not among the checkpoints that resuming looks through)
    default = run_dir_of(file) / (file.stem + _SUFFIX[args.format])
    output = Path(args.output) if args.output else default
    if output.resolve() == file.resolve():
        raise UsageError(f"--output {str(output)!r} would overwrite the checkpoint")
    if args.format in WEIGHT_FORMATS:
        from resvision.models.weights import save_weights

        layout = args.layout or ("paddle" if args.format == "pdparams" else "resvision")
        try:
            save_weights(network, output, layout=layout)
        except (ValueError, ImportError) as err:
            raise UsageError(f"cannot write {args.format}: {err}") from None
        print(f"wrote {output} ({args.format}, {layout} key names)")
        return 0
    from resvision.export import ExportVerificationError, export

    try:
        result = export(
            network,
            output,
            args.format,
            input_size=size or run_size,
            check_batch_sizes=(1, 4),
            atol=args.atol,
        )
    except ImportError as err:
        raise UsageError(str(err)) from None
    except ExportVerificationError as err:
        print(f"resvision: export failed the check: {err}", file=sys.stderr)
        return 1
    print(f"wrote {result.summary()}")
    return 0
