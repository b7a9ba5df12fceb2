"""The argument parser of ``resvision``: sub-commands, their options, and friendly errors.

Parsing only: the commands themselves live in their own modules and receive the parsed
``argparse.Namespace``. The flags of ``train`` map to dotted config keys (:data:`TRAIN_FLAGS`), so
``--lr 0.1`` and ``--set optim.lr=0.1`` are the same thing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from resvision.recipe.config import DATA_NAMES
from resvision.recipe.errors import UsageError, close_names

#: train flag -> (config key, argparse keyword arguments). Flags default to None ("not given")
#: so that only the flags the user typed override the config file.
TRAIN_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--model": (
        "model.name",
        {"metavar": "NAME", "help": "a model of the zoo (`resvision models`)"},
    ),
    "--pretrained": (
        "model.pretrained",
        {
            "nargs": "?",
            "const": "true",
            "metavar": "WEIGHTS",
            "help": "start from weights: alone, the model's default published ones; or a name "
            "(IMAGENET1K_V1, PADDLE_IMAGENET1K), a URL, or a checkpoint / weights file "
            "(a different classifier is re-initialised: fine-tuning)",
        },
    ),
    "--freeze-backbone": (
        "model.freeze_backbone",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "train only the classifier (linear probing), see --unfreeze-epoch",
        },
    ),
    "--unfreeze-epoch": (
        "model.unfreeze_epoch",
        {"type": int, "metavar": "E", "help": "with --freeze-backbone: train all from epoch E"},
    ),
    "--data": (
        "data.name",
        {
            "metavar": "DATA",
            "help": f"{', '.join(DATA_NAMES)}, or a folder with train/ and val/ or test/ "
            "holding one folder per class, or a .tar.gz / .zip of one (unpacked safely into the "
            "cache) (default: sample, the embedded CIFAR-10 sample)",
        },
    ),
    "--data-root": (
        "data.root",
        {
            "metavar": "PATH",
            "help": "the CIFAR archive (or its folder), the folder of the MNIST idx files",
        },
    ),
    "--augment": (
        "data.augment",
        {"metavar": "KIND", "help": "none, flip, flip-crop (CIFAR standard), imagenet"},
    ),
    "--ra-sampler": (
        "data.aug_repeats",
        {
            "nargs": "?",
            "const": 3,
            "type": int,
            "metavar": "N",
            "help": "repeated augmentation: each image N times per epoch (alone: 3)",
        },
    ),
    "--auto-augment": (
        "data.auto_augment",
        {
            "metavar": "POLICY",
            "help": "ta_wide, ra, augmix, imagenet, cifar10, svhn (default none)",
        },
    ),
    "--random-erase": (
        "data.random_erase",
        {"type": float, "metavar": "P", "help": "random erasing probability per image"},
    ),
    "--tracking": (
        "train.tracking",
        {
            "metavar": "KIND",
            "help": "experiment tracking: mlflow (MLFLOW_TRACKING_URI or runs/mlruns), none",
        },
    ),
    "--mixup-alpha": (
        "data.mixup_alpha",
        {"type": float, "metavar": "A", "help": "MixUp of training batches, Beta(A, A)"},
    ),
    "--cutmix-alpha": (
        "data.cutmix_alpha",
        {"type": float, "metavar": "A", "help": "CutMix of training batches, Beta(A, A)"},
    ),
    "--image-size": ("data.image_size", {"type": int, "metavar": "PX", "help": "crop size"}),
    "--num-workers": ("data.num_workers", {"type": int, "metavar": "N", "help": "loader workers"}),
    "--epochs": ("train.epochs", {"type": int, "metavar": "N"}),
    "--batch-size": ("train.batch_size", {"type": int, "metavar": "N"}),
    "--optimizer": (
        "optim.name",
        {"metavar": "NAME", "help": "momentum (default), sgd, adam, adamw, muon"},
    ),
    "--lr": ("optim.lr", {"type": float, "metavar": "LR", "help": "peak learning rate"}),
    "--momentum": ("optim.momentum", {"type": float, "metavar": "M"}),
    "--weight-decay": ("optim.weight_decay", {"type": float, "metavar": "WD", "help": "L2 decay"}),
    "--norm-weight-decay": (
        "optim.norm_weight_decay",
        {"type": float, "metavar": "WD", "help": "L2 decay of normalisation layers (0: none)"},
    ),
    "--clip-grad-norm": (
        "optim.clip_grad_norm",
        {"type": float, "metavar": "NORM", "help": "clip the gradients' global L2 norm"},
    ),
    "--drop-path": (
        "model.drop_path_rate",
        {"type": float, "metavar": "P", "help": "stochastic depth of the last block (ResNets)"},
    ),
    "--schedule": (
        "schedule.name",
        {
            "metavar": "NAME",
            "help": "constant, step, multistep, linear, cosine (default), onecycle",
        },
    ),
    "--warmup-epochs": ("schedule.warmup_epochs", {"type": float, "metavar": "E"}),
    "--label-smoothing": ("train.label_smoothing", {"type": float, "metavar": "EPS"}),
    "--amp": (
        "train.amp",
        {
            "nargs": "?",
            "const": "auto",
            "metavar": "MODE",
            "help": "mixed precision: auto (the default: bf16 where native), bf16, fp16, off",
        },
    ),
    "--channels-last": (
        "train.channels_last",
        {"action": argparse.BooleanOptionalAction, "help": "NHWC memory format (default: auto)"},
    ),
    "--compile": (
        "train.compile",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "torch.compile the network (default: auto, off)",
        },
    ),
    "--ema": ("train.ema_decay", {"type": float, "metavar": "DECAY", "help": "EMA of the weights"}),
    "--sync-bn": (
        "train.sync_bn",
        {
            "action": argparse.BooleanOptionalAction,
            "help": "with --nproc / torchrun: BatchNorm statistics over all processes",
        },
    ),
    "--seed": ("train.seed", {"type": int, "metavar": "N"}),
    "--deterministic": (
        "train.deterministic",
        {"action": argparse.BooleanOptionalAction, "help": "bit-identical reruns (slower)"},
    ),
    "--device": (
        "train.device",
        {"metavar": "DEV", "help": "auto (default), cpu, cuda, cuda:N, mps"},
    ),
    "--max-steps": (
        "train.max_steps",
        {
            "type": int,
            "metavar": "N",
            "help": "stop after N steps in all (env RESVISION_MAX_STEPS; for smoke tests)",
        },
    ),
    "--save-steps": (
        "train.save_steps",
        {
            "type": int,
            "metavar": "N",
            "help": "also checkpoint every N steps (checkpoints/last.pt): a crash loses at most N",
        },
    ),
    "--output": ("output.dir", {"metavar": "DIR", "help": "the run folder (default runs/<name>)"}),
    "--resume": (
        "output.resume",
        {"metavar": "PATH|auto", "help": "continue from a checkpoint, a run folder, or auto"},
    ),
}


TRAIN_EPILOG = """\
settings are taken from, later ones winning: the defaults (configs/sample_quick.yaml),
--config FILE, the flags above, then each --set in order; --print-config shows the result.

examples:
  resvision train                                     # ResNet-20, embedded sample, CPU minutes
  resvision train --config resnet20_cifar10 --data-root ~/data/cifar-10-python.tar.gz
  resvision train --data ~/data/pets --model resnet18 --epochs 10 --image-size 224
  resvision train --config fast_cifar10 --set optim.lr=0.2 --set train.epochs=30
  resvision train --resume runs/resnet20-sample-20260101-120000   # continue a stopped run
  resvision train --config resnet20_cifar10 --nproc 4   # 4 processes (GPUs) of this machine
  torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \
      -m resvision train --config imagenet_resnet50    # several machines (same on each)
"""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors become :class:`UsageError` with suggestions.

    Abbreviated options are refused (``--epoch`` is not ``--epochs``): a config typed today
    keeps its meaning when a new flag with the same prefix arrives.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        if "invalid choice:" in message:
            # "argument command: invalid choice: 'trian' (choose from ...)"
            bad = message.split("invalid choice:", 1)[1].split("(", 1)[0].strip().strip("'\"")
            choices = _subcommands(self)
            close = close_names(bad, choices)
            if close:
                message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
        raise UsageError(f"{message}\n(see `{self.prog} --help`)")


def _subcommands(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def option_names(parser: argparse.ArgumentParser) -> list[str]:
    """Every long option string of ``parser`` (``--lr``, ``--no-compile``, ...)."""
    return [s for a in parser._actions for s in a.option_strings if s.startswith("--")]


def unknown_arguments_error(parser: argparse.ArgumentParser, extras: list[str]) -> UsageError:
    """The error for arguments the command does not take, with the close option names.

    Examples:
        >>> p = Parser(prog="resvision train")
        >>> _ = p.add_argument("--epochs")
        >>> print(unknown_arguments_error(p, ["--epoch", "3"]))
        unrecognized option '--epoch'; did you mean '--epochs'?
        (see `resvision train --help`)
    """
    options = [e for e in extras if e.startswith("-")]
    if not options:
        return UsageError(
            f"unexpected argument(s): {' '.join(extras)}\n(see `{parser.prog} --help`)"
        )
    bad = options[0].split("=", 1)[0]
    message = f"unrecognized option {bad!r}"
    close = close_names(bad, option_names(parser))
    if close:
        message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return UsageError(f"{message}\n(see `{parser.prog} --help`)")


def _add_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="a YAML config, or a preset name of configs/")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set schedule.milestones=[82,123] (repeatable)",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train on N processes of this machine (one per GPU; data-parallel, through "
        "torch.distributed.run); --batch-size is per process",
    )
    for flag, (key, kwargs) in TRAIN_FLAGS.items():
        kwargs = {"default": None, **kwargs}
        help_text = kwargs.get("help")
        kwargs["help"] = f"{help_text} [{key}]" if help_text else f"[{key}]"
        p.add_argument(flag, dest=key.replace(".", "__"), **kwargs)


def train_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys set by the ``train`` flags the user typed (others are None)."""
    return {key: getattr(args, key.replace(".", "__")) for key, _ in TRAIN_FLAGS.values()}


def build_parser() -> Parser:
    """The whole command line: ``resvision <command> [options]``."""
    from resvision import __version__

    parser = Parser(
        prog="resvision",
        description="Image classification with deep residual networks (PyTorch). "
        "Run `resvision train` to train a ResNet-20 on the embedded CIFAR-10 sample.",
    )
    parser.add_argument("--version", action="version", version=f"resvision {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show Python tracebacks for every error"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser(
        "train",
        help="train a model (default: ResNet-20 on the embedded sample)",
        description="Train a model; the results go to a run folder (config, metrics, "
        "checkpoints, report.html).",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_train_options(p)

    _add_eval_and_predict(sub)
    p = sub.add_parser("export", help="export a checkpoint for deployment (checked after writing)")
    from resvision.cli.export import add_export_options

    add_export_options(p)

    _add_inspection_commands(sub)
    return parser


def _add_eval_and_predict(sub: Any) -> None:
    """``resvision eval`` and ``resvision predict``."""
    p = sub.add_parser("eval", help="evaluate a checkpoint: loss, top-1/5, per-class, confusion")
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="a checkpoint or run folder")
    p.add_argument(
        "--model", metavar="NAME", help="the checkpoint's model, when it does not name it"
    )
    p.add_argument(
        "--classes",
        metavar="LIST",
        help="its class names in label order (a,b,c or a file), when it does not name them",
    )
    p.add_argument("--data", metavar="DATA", help="data set (default: the one it was trained on)")
    p.add_argument("--data-root", metavar="DIR")
    p.add_argument(
        "--split",
        default=None,
        help="test, val or train (default: the split the run evaluated on: val/, else test/, of "
        "a folder; test of a built-in data set)",
    )
    p.add_argument("--batch-size", type=int, default=256, metavar="N")
    p.add_argument("--num-workers", type=int, default=0, metavar="N")
    p.add_argument("--device", default="auto", metavar="DEV")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument(
        "--output", metavar="DIR", help="also write evaluation.json and report.html here"
    )

    p = sub.add_parser("predict", help="classify image files: top-k classes with probabilities")
    p.add_argument("--checkpoint", metavar="CKPT", help="a checkpoint or run folder")
    p.add_argument(
        "--model",
        metavar="NAME",
        help="instead of --checkpoint: a zoo model ... (with --checkpoint: its model, when the "
        "checkpoint does not name it)",
    )
    p.add_argument(
        "--classes",
        metavar="LIST",
        help="with --checkpoint: its class names in label order (a,b,c or a file), when it does "
        "not name them",
    )
    p.add_argument(
        "--pretrained", metavar="WEIGHTS", help="... with these weights (default: its published)"
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, folders or globs")
    p.add_argument("--topk", type=int, default=3, metavar="K")
    p.add_argument("--batch-size", type=int, default=64, metavar="N")
    p.add_argument("--device", default="auto", metavar="DEV")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_inspection_commands(sub: Any) -> None:
    """``resvision models``, ``summary``, ``data`` and ``report``."""
    p = sub.add_parser("models", help="list the model zoo: parameters and MACs")
    p.add_argument("pattern", nargs="?", help="shell pattern, e.g. 'resnet*'")
    p.add_argument(
        "--family",
        help="resnet, cifar_resnet, airnet, vgg, mobilenet, densenet, squeezenet, alexnet, "
        "shufflenet, googlenet, inception, lenet",
    )
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("summary", help="layer-by-layer summary of a model")
    p.add_argument("model", metavar="MODEL")
    p.add_argument(
        "--input-size", metavar="C,H,W", help="input size, e.g. 3,224,224 (default: natural size)"
    )
    p.add_argument("--num-classes", type=int, metavar="N")

    p = sub.add_parser("data", help="inspect a data set: classes, counts, image sizes, bad files")
    p.add_argument("data", nargs="?", default="sample", metavar="DATA", help="default: sample")
    p.add_argument("--data", dest="data_option", metavar="DATA", help="the same as DATA")
    p.add_argument("--data-root", metavar="PATH")
    p.add_argument(
        "--decode", action="store_true", help="decode every image (finds truncated files)"
    )
    p.add_argument(
        "--export",
        metavar="DIR",
        help="write test images as PNG files there (e.g. to try `resvision predict`)",
    )
    p.add_argument("--count", type=int, default=10, metavar="N", help="images to --export")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("report", help="(re)build report.html of a run folder")
    p.add_argument("run", metavar="RUN_DIR")


def parse(argv: list[str] | None) -> tuple[Parser, argparse.Namespace]:
    """Parse ``argv`` (default ``sys.argv[1:]``).

    Raises:
        UsageError: unknown command or option, with suggestions.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        sub = _subcommand_parser(parser, args.command)
        raise unknown_arguments_error(sub or parser, extras)
    args.argv = argv  # `train --nproc N` starts the same command line on N processes
    return parser, args


def _subcommand_parser(parser: argparse.ArgumentParser, name: str | None):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]
    return None
