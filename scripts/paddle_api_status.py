"""Paddle's public vision/hapi API, item by item, against resvision's: present, same arguments?

Run in an environment that has both paddlepaddle and resvision's dependencies (torch), with
resvision on the path::

    python3 -m venv /work/venvs/paddle
    /work/venvs/paddle/bin/pip install paddlepaddle==3.3.1 torch==2.13.0 pyyaml pillow
    PYTHONPATH=src /work/venvs/paddle/bin/python scripts/paddle_api_status.py

For every public name of ``paddle.vision.models``, ``paddle.vision.transforms`` (classes and the
functional ops it exports), ``paddle.vision.datasets``, ``paddle.optimizer``,
``paddle.optimizer.lr``, ``paddle.metric``, ``paddle.callbacks``, the methods of
``paddle.Model`` and ``paddle.summary`` / ``paddle.flops``, it looks the name up where resvision
keeps it and compares the parameter names (in order) and defaults. Paddle's ``name=None``
argument (a static-graph label that has no meaning in eager PyTorch) is left out of the
comparison. Writes ``benchmarks/results/paddle-api-status.json`` and prints a Markdown table
per area plus a summary (the README's table comes from it).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IGNORED = {"name"}

# area -> (paddle module, names or None for its __all__, resvision module)
AREAS: dict[str, tuple[str, list[str] | None, str]] = {
    "vision.models": ("paddle.vision.models", None, "resvision.models"),
    "vision.transforms": ("paddle.vision.transforms", None, "resvision.transforms"),
    "vision.datasets": ("paddle.vision.datasets", None, "resvision.datasets"),
    "optimizer": ("paddle.optimizer", None, "resvision.optim"),
    "optimizer.lr": ("paddle.optimizer.lr", None, "resvision.optim.lr"),
    "metric": ("paddle.metric", None, "resvision.metrics"),
    "callbacks": ("paddle.callbacks", None, "resvision.callbacks"),
    "summary, flops": ("paddle", ["summary", "flops"], "resvision"),
}
MODEL_METHODS = [
    "prepare", "fit", "evaluate", "predict", "train_batch", "eval_batch", "predict_batch",
    "save", "load", "parameters", "summary",
]  # fmt: skip


_NO_DEFAULT = object()


def _parameters(obj: Any) -> list[tuple[str, Any]] | None:
    """(name, default) of ``obj``'s call signature (``__init__`` for a class), or None."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    out = []
    for p in sig.parameters.values():
        if p.name in ("self", "cls") or p.name in IGNORED:
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            out.append((("*" if p.kind == p.VAR_POSITIONAL else "**") + p.name, _NO_DEFAULT))
            continue
        out.append((p.name, _NO_DEFAULT if p.default is p.empty else p.default))
    return out


def compare(paddle_obj: Any, ours: Any) -> dict[str, Any]:
    """Status of one item: 'same', 'differs' (with what) or 'missing'."""
    if ours is None:
        return {"status": "missing"}
    theirs, mine = _parameters(paddle_obj), _parameters(ours)
    if theirs is None or mine is None:
        return {"status": "present", "note": "signature not comparable"}
    mine_names = [n for n, _ in mine]
    missing = [n for n, _ in theirs if not n.startswith("*") and n not in mine_names]
    plain = [(n, d) for n, d in theirs if not n.startswith("*")]
    order_ok = [n for n in mine_names if n in {m for m, _ in plain}] == [
        n for n, _ in plain if n in mine_names
    ]
    mine_defaults = dict(mine)
    defaults = [
        f"{n}: {d!r} vs {mine_defaults[n]!r}"
        for n, d in plain
        if n in mine_defaults and not _same_default(d, mine_defaults[n])
    ]
    if not missing and order_ok and not defaults:
        return {"status": "same"}
    detail = {"status": "differs"}
    if missing:
        detail["missing_arguments"] = missing
    if not order_ok:
        detail["order"] = "argument order differs"
    if defaults:
        detail["defaults"] = defaults
    return detail


def _same_default(a: Any, b: Any) -> bool:
    """Equal defaults (0 == 0.0, but not True == 1); a side without a default is not compared."""
    if a is _NO_DEFAULT or b is _NO_DEFAULT:
        return True
    plain_numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if not plain_numbers and type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # an object whose == raises is not equal
        return False


def _lookup(module: Any, name: str) -> Any:
    """``module.name`` when it is a class or a function (a sub-module of the same name is not)."""
    value = getattr(module, name, None)
    return None if inspect.ismodule(value) else value


def collect() -> dict[str, Any]:
    import paddle

    import resvision

    rows: dict[str, dict[str, Any]] = {}
    for area, (paddle_name, names, ours_name) in AREAS.items():
        pmod = importlib.import_module(paddle_name)
        try:
            omod = importlib.import_module(ours_name)
        except ImportError:
            omod = None
        rows[area] = {}
        for name in names or list(pmod.__all__):
            ours = _lookup(omod, name) if omod is not None else None
            if ours is None and area == "vision.transforms" and name[:1].islower():
                functional = _try_import("resvision.transforms.functional")
                ours = _lookup(functional, name) if functional else None
            rows[area][name] = compare(getattr(pmod, name), ours)
    rows["Model methods"] = {
        m: compare(getattr(paddle.Model, m), getattr(resvision.Model, m, None))
        for m in MODEL_METHODS
    }
    summary = {
        area: {
            "total": len(items),
            "same": sum(v["status"] == "same" for v in items.values()),
            "present": sum(v["status"] != "missing" for v in items.values()),
        }
        for area, items in rows.items()
    }
    return {
        "what": "paddle's public API against resvision's: present, same argument names/order/"
        "defaults (Paddle's name=None ignored)",
        "command": "PYTHONPATH=src <paddle venv>/bin/python scripts/paddle_api_status.py",
        "paddle": paddle.__version__,
        "resvision": resvision.__version__,
        "summary": summary,
        "items": rows,
    }


def _try_import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def markdown(result: dict[str, Any], details: bool) -> str:
    lines = ["| area | Paddle | present in resvision | same arguments |", "|---|---|---|---|"]
    for area, s in result["summary"].items():
        lines.append(f"| {area} | {s['total']} | {s['present']} | {s['same']} |")
    if details:
        for area, items in result["items"].items():
            lines += ["", f"**{area}**", "", "| name | status |", "|---|---|"]
            for name, v in items.items():
                extra = "; ".join(
                    f"{k}: {', '.join(x) if isinstance(x, list) else x}"
                    for k, x in v.items()
                    if k != "status"
                )
                lines.append(f"| `{name}` | {v['status']}{' (' + extra + ')' if extra else ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--details", action="store_true", help="one row per item")
    p.add_argument(
        "--output", default=str(ROOT / "benchmarks" / "results" / "paddle-api-status.json")
    )
    args = p.parse_args(argv)
    result = collect()
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result, args.details))
    print(f"\nwritten: {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
