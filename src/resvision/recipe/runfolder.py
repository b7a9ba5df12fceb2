"""The run folder: where a training run keeps its config, environment, metrics and checkpoints.

Layout (every file written atomically)::

    runs/resnet20-sample-20260101-120000/
      config.yaml        the resolved config (what `--config` needs to repeat the run)
      env.json           versions of Python, resvision, torch, numpy, pillow; git commit; seed;
                         device; the command line; start and end times
      metrics.jsonl      one JSON object per logged step / epoch / evaluation
      checkpoints/       {epoch}.pt, final.pt, last.pt (model, optimizer, schedule, RNG states)
      evaluation.json    final test loss, top-1/top-5, confusion matrix, per-class accuracy
      misclassified.npz  the misclassified test images shown in the report
      report.html        a self-contained page (plots embedded)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from resvision.atomic import atomic_write_text

CONFIG_FILE = "config.yaml"
ENV_FILE = "env.json"
METRICS_FILE = "metrics.jsonl"
EVALUATION_FILE = "evaluation.json"
MISCLASSIFIED_FILE = "misclassified.npz"
REPORT_FILE = "report.html"
CHECKPOINT_DIR = "checkpoints"


def default_run_dir(model: str, data: str, root: str | Path = "runs") -> Path:
    """``runs/<model>-<data>-<YYYYmmdd-HHMMSS>``, with a suffix if that exists already.

    Args:
        model: the model name.
        data: the data set name or folder (its last component is used).
        root: the folder holding the runs.

    Returns:
        A path that does not exist yet.
    """
    data_name = Path(data).name or "data"
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{model}-{data_name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def run_dir_of(path: Path) -> Path:
    """The run folder of a checkpoint file, a ``checkpoints/`` folder or a run folder.

    Examples:
        >>> run_dir_of(Path("runs/a/checkpoints/final.pt")).as_posix()
        'runs/a'
    """
    if path.suffix in (".pt", ".pth", ".ckpt") or path.is_file():
        path = path.parent
    return path.parent if path.name == CHECKPOINT_DIR else path


def git_commit(start: str | Path) -> dict[str, Any] | None:
    """The git commit of the repository holding ``start``, and whether it has local changes.

    Returns:
        ``{'commit': sha, 'dirty': bool}``, or None outside a git checkout or without git.
    """
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=start,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=start,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha, "dirty": bool(status.strip())}


def environment(seed: int, device: str, argv: list[str] | None = None) -> dict[str, Any]:
    """What a run needs to be reproduced: library versions, git commit, seed, command line.

    Args:
        seed: the run's seed.
        device: the device the run uses.
        argv: the command-line arguments (default ``sys.argv[1:]``).

    Returns:
        A JSON-serialisable dict.

    Examples:
        >>> env = environment(seed=0, device="cpu", argv=["train"])
        >>> env["command"], {"python", "torch", "numpy"} <= set(env["versions"])
        (['resvision', 'train'], True)
    """
    import numpy
    import PIL
    import torch

    import resvision

    versions = {
        "python": platform.python_version(),
        "resvision": resvision.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
    }
    try:
        import matplotlib

        versions["matplotlib"] = matplotlib.__version__
    except ImportError:
        pass
    cuda = None
    if torch.cuda.is_available():
        cuda = {
            "version": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        }
    return {
        "seed": seed,
        "device": device,
        "command": ["resvision", *(sys.argv[1:] if argv is None else argv)],
        "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "versions": versions,
        "git": git_commit(Path(resvision.__file__).parent),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": cuda,
    }


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically, indented for people."""
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file, None when it does not exist."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file; a last line cut short by a crash is skipped."""
    rows = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return rows
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
