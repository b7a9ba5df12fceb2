"""Cross-check against real Paddle: the same weights give the same logits in resvision.

For each model: Paddle's model is built with a fixed seed, its BatchNorm statistics and affine
parameters are drawn at random too (a fresh network's are 0/1, which would hide a swapped mean
and variance or scale and bias), and its ``state_dict()`` is written with ``paddle.save`` to a
real ``.pdparams`` file. resvision builds the model from that file through the path a user
takes, ``create_model(name, pretrained='x.pdparams')`` (``load_pretrained``: reading, Paddle
layout detection, conversion, fitting); then both run in eval mode on the same random input at
the model's natural size and the logits are compared. A model whose output is a list (Paddle's
GoogLeNet returns ``[out, aux1, aux2]``) is compared output by output.

Per model it records the largest absolute difference, the relative one (that difference over the
largest absolute Paddle logit), the parameter counts of both (Paddle's trainable parameters: its
BatchNorm statistics are non-trainable parameters there, buffers here) and pass/fail
(relative difference < 1e-5, and the classifier loaded from the file), and merges the rows into
``benchmarks/results/paddle-zoo-check.json`` so that each family can be (re)run on its own.

Run in the venv that has paddlepaddle 3.3.1 and torch, from the repository root::

    . /work/venvs/paddle/bin/activate
    PYTHONPATH=src python benchmarks/paddle_zoo_check.py                      # every model
    PYTHONPATH=src python benchmarks/paddle_zoo_check.py --models densenet121 alexnet

Default models: every builder function of ``paddle.vision.models.__all__`` that resvision
registers under the same name, plus resvision's names for Paddle models built another way:
``vgg{11,13,16,19}_bn`` (Paddle's ``vgg*(batch_norm=True)``) and ``lenet`` (Paddle's ``LeNet``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "paddle-zoo-check.json")
THRESHOLD = 1e-5  # largest relative logit difference that passes

# resvision names of Paddle models that Paddle builds under another name or with an argument.
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    **{f"vgg{d}_bn": (f"vgg{d}", {"batch_norm": True}) for d in (11, 13, 16, 19)},
    "lenet": ("LeNet", {}),
}


def paddle_builders() -> dict[str, tuple[str, dict[str, Any]]]:
    """resvision name -> (Paddle constructor name, its arguments), for every model both have."""
    import paddle.vision.models as pm

    from resvision.models import list_models

    registered = set(list_models())
    found = {
        name: (name, {})
        for name in pm.__all__
        if inspect.isfunction(getattr(pm, name)) and name in registered
    }
    found.update({k: v for k, v in ALIASES.items() if k in registered})
    return dict(sorted(found.items()))


def _randomize_batch_norm(net: Any, rng: np.random.Generator) -> int:
    """Random statistics, scale and shift for every BatchNorm of a Paddle network."""
    count = 0
    for layer in net.sublayers():
        if not (hasattr(layer, "_mean") and hasattr(layer, "_variance")):
            continue
        shape = layer._mean.shape
        layer._mean.set_value(rng.uniform(-0.5, 0.5, shape).astype("float32"))
        layer._variance.set_value(rng.uniform(0.5, 2.0, shape).astype("float32"))
        if getattr(layer, "weight", None) is not None:
            layer.weight.set_value(rng.uniform(0.5, 1.5, shape).astype("float32"))
        if getattr(layer, "bias", None) is not None:
            layer.bias.set_value(rng.uniform(-0.5, 0.5, shape).astype("float32"))
        count += 1
    return count


def _outputs(value: Any) -> list[np.ndarray]:
    """A network's output as a list of arrays (a list or tuple of outputs, or one)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [
        np.asarray(item.detach().cpu().numpy() if hasattr(item, "detach") else item.numpy())
        for item in items
    ]


def check(name: str, paddle_name: str, paddle_kwargs: dict[str, Any], seed: int) -> dict[str, Any]:
    """Build, save, load and compare one model; the row of the results."""
    import paddle
    import paddle.vision.models as pm
    import torch

    from resvision.models import create_model, model_info

    info = model_info(name)
    rng = np.random.default_rng(seed)
    row: dict[str, Any] = {
        "paddle_constructor": f"{paddle_name}({', '.join(f'{k}={v!r}' for k, v in paddle_kwargs.items())})",
        "input_shape": "x".join(map(str, (2, *info.input_size))),
        "seed": seed,
    }
    start = time.perf_counter()
    paddle.seed(seed)
    reference = getattr(pm, paddle_name)(**paddle_kwargs)
    reference.eval()
    row["batch_norms_randomized"] = _randomize_batch_norm(reference, rng)
    row["paddle_params"] = int(
        sum(int(np.prod(p.shape)) for p in reference.parameters() if not p.stop_gradient)
    )
    x = rng.standard_normal((2, *info.input_size)).astype("float32")
    with paddle.no_grad():
        expected = _outputs(reference(paddle.to_tensor(x)))

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{name}.pdparams")
        paddle.save(reference.state_dict(), path)
        row["paddle_keys"] = len(reference.state_dict())
        del reference
        gc.collect()
        torch.manual_seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a skipped classifier must not pass silently
            net = create_model(name, pretrained=path)
    cfg = net.pretrained_cfg
    row["resvision_params"] = int(sum(p.numel() for p in net.parameters()))
    row["params_equal"] = row["resvision_params"] == row["paddle_params"]
    row["loaded_keys"] = cfg["loaded_keys"]
    row["missing_keys"] = [k for k in cfg["missing_keys"] if not k.endswith("num_batches_tracked")]
    net.eval()
    with torch.no_grad():
        got = _outputs(net(torch.from_numpy(x)))
    if [a.shape for a in got] != [a.shape for a in expected]:
        raise ValueError(
            f"output shapes differ: Paddle {[a.shape for a in expected]}, resvision "
            f"{[a.shape for a in got]}"
        )
    abs_diffs = [float(np.max(np.abs(a - b))) for a, b in zip(got, expected)]
    scales = [float(np.max(np.abs(b))) for b in expected]
    rel_diffs = [d / s if s > 0 else d for d, s in zip(abs_diffs, scales)]
    row.update(
        outputs=len(expected),
        output_shapes=["x".join(map(str, a.shape)) for a in expected],
        max_abs_diff=max(abs_diffs),
        max_rel_diff=max(rel_diffs),
        per_output_rel_diff=rel_diffs,
        max_abs_logit=max(scales),
        passed=bool(max(rel_diffs) < THRESHOLD and not row["missing_keys"]),
        seconds=round(time.perf_counter() - start, 1),
    )
    return row


def _versions() -> dict[str, str]:
    import paddle
    import torch

    import resvision

    try:
        commit = subprocess.run(
            ["git", "-C", ROOT, "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    return {
        "resvision_commit": commit,
        "paddle": paddle.__version__,
        "torch": torch.__version__,
        "resvision": getattr(resvision, "__version__", "?"),
        "python": sys.version.split()[0],
    }


def _dumps(data: dict[str, Any]) -> str:
    """JSON with one line per model, so that a rerun of one family is a small diff."""
    head = {k: v for k, v in data.items() if k != "models"}
    lines = [json.dumps(head, indent=1)[:-2] + ",", ' "models": {']
    rows = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in data["models"].items()]
    return "\n".join(lines) + "\n" + ",\n".join(rows) + "\n }\n}\n"


def _table(rows: dict[str, dict[str, Any]]) -> str:
    head = (
        f"{'model':22} {'paddle params':>14} {'resvision':>14} {'max abs diff':>13} "
        f"{'max rel diff':>13} {'outputs':>7}  result"
    )
    lines = [head, "-" * len(head)]
    for name, row in rows.items():
        if "error" in row:
            lines.append(
                f"{name:22} {'':>14} {'':>14} {'':>13} {'':>13} {'':>7}  ERROR: {row['error']}"
            )
            continue
        params = "" if row["params_equal"] else "  (parameter counts differ)"
        lines.append(
            f"{name:22} {row['paddle_params']:>14,} {row['resvision_params']:>14,} "
            f"{row['max_abs_diff']:>13.2e} {row['max_rel_diff']:>13.2e} {row['outputs']:>7}  "
            f"{'pass' if row['passed'] else 'FAIL'}{params}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", help="resvision names (default: every shared one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=RESULTS, help="results file (entries are merged)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of both frameworks")
    args = parser.parse_args(argv)

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import paddle
    import torch

    paddle.set_device("cpu")
    torch.set_num_threads(args.threads)
    builders = paddle_builders()
    names = args.models or list(builders)
    unknown = [n for n in names if n not in builders]
    if unknown:
        parser.error(
            f"no Paddle counterpart registered for {unknown}; known: {', '.join(builders)}"
        )

    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        paddle_name, kwargs = builders[name]
        print(f"{name} ...", end=" ", flush=True)
        try:
            rows[name] = check(name, paddle_name, kwargs, args.seed)
        except Exception as err:  # recorded and reported; the other models still run
            rows[name] = {"error": f"{type(err).__name__}: {err}"[:500], "passed": False}
        row = rows[name]
        print("error" if "error" in row else f"rel {row['max_rel_diff']:.2e} ({row['seconds']} s)")
        gc.collect()

    data: dict[str, Any] = {}
    if os.path.exists(args.json):
        with open(args.json, encoding="utf-8") as f:
            data = json.load(f)
    stamp = dt.datetime.now().isoformat(timespec="seconds")
    versions = _versions()
    models = data.get("models", {})
    for name, row in rows.items():
        models[name] = {**row, "date": stamp, "versions": versions}
    data = {
        "what": "max |logit difference| between paddle.vision.models and resvision for the same "
        "random weights (BatchNorm statistics included), loaded from a paddle.save .pdparams "
        "file; rel = abs / max |Paddle logit|; pass: rel < 1e-5 and nothing missing",
        "command": "PYTHONPATH=src python benchmarks/paddle_zoo_check.py [--models ...]",
        "threshold": THRESHOLD,
        "models": dict(sorted(models.items())),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as f:
        f.write(_dumps(data))
    print()
    print(_table(rows))
    print(f"\n{sum(r['passed'] for r in rows.values())}/{len(rows)} pass; written to {args.json}")
    return 0 if all(r["passed"] for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
