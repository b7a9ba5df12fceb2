"""``resvision export``: the entry point for exporting a checkpoint for deployment.

Exporters (TorchScript, ONNX, safetensors) arrive with the weights/export work; until then this
command checks its arguments and says what to do instead.
"""

from __future__ import annotations

import argparse
import sys

from resvision.cli.errors import unknown_name_error

FORMATS = ("torchscript", "onnx", "safetensors")


def run_export(args: argparse.Namespace) -> int:
    """``resvision export --checkpoint CKPT [--format F] [--output FILE]``.

    Returns:
        1: no exporter exists in this version (after the arguments were checked).
    """
    from resvision.cli.runinfo import load_run

    if args.format not in FORMATS:
        raise unknown_name_error("export format", args.format, FORMATS)
    file, info, _ = load_run(args.checkpoint)
    print(
        f"resvision: export to {args.format} is not available in this version of resvision; "
        "it arrives with the model export work.\n"
        f"The checkpoint {file} ({info['model']}, {len(info['classes'])} classes) can be used "
        "from Python meanwhile:\n"
        f"  net = resvision.create_model({info['model']!r}, num_classes={len(info['classes'])})\n"
        f"  resvision.Model(net).load({str(file)!r})",
        file=sys.stderr,
    )
    return 1
