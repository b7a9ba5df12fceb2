"""Cross-check against real torchvision: its weights give its logits in resvision, and back.

For each family that torchvision defines as the same function as Paddle's (resvision follows
Paddle), two directions are checked on the same random input at the model's natural size:

- **torchvision -> resvision**: torchvision's model is built with a fixed seed, its BatchNorm
  statistics and affine parameters and its Linear biases drawn at random (a fresh network's are
  0/1/0, which would hide a swapped mean and variance or scale and bias), and its
  ``state_dict()`` goes through the path a user takes,
  ``create_model(name, pretrained=state_dict)`` (layout detection, conversion, fitting).
- **resvision -> torchvision**: resvision's model, randomized the same way, is written with
  ``convert_state_dict(..., target='torchvision')`` and loaded by torchvision's model with
  ``load_state_dict(strict=True)``.

Per model it records, for each direction, the largest absolute logit difference, the relative
one (over the largest absolute reference logit) and whether the logits are bit-for-bit equal,
plus both parameter counts; pass: relative difference < 1e-5 both ways, nothing missing. The
families where the two libraries differ are listed with the reason and not compared. Rows are
merged into ``benchmarks/results/torchvision-zoo-check.json``.

Run in a venv that has torchvision (never the project's own), from the repository root::

    python3 -m venv /work/venvs/tv
    /work/venvs/tv/bin/pip install torch==2.14.1 torchvision==0.29.1
    PYTHONPATH=src /work/venvs/tv/bin/python benchmarks/torchvision_zoo_check.py
    PYTHONPATH=src /work/venvs/tv/bin/python benchmarks/torchvision_zoo_check.py --models alexnet
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "torchvision-zoo-check.json")
THRESHOLD = 1e-5  # largest relative logit difference that passes


@dataclass(frozen=True)
class Pair:
    """One resvision model and torchvision's model of the same function."""

    name: str  # resvision's registered name
    torchvision: str  # how torchvision's model is built, as text for the results
    build: Callable[[Any], Any]  # torchvision.models -> torchvision's model (1000 classes)
    kwargs: dict[str, Any] = field(default_factory=dict)  # resvision constructor arguments
    size: int = 224
    note: str = ""


def _builder(name: str, **kwargs: Any) -> Callable[[Any], Any]:
    return lambda tvm: getattr(tvm, name)(**kwargs)


def _shufflenet(widths: tuple[int, ...]) -> Callable[[Any], Any]:
    return lambda tvm: tvm.ShuffleNetV2([4, 8, 4], list(widths))


# Paddle's stage widths for the ShuffleNetV2 variants torchvision has no builder for (x2_0:
# torchvision's builder makes the first stage 244 wide, Paddle 224); torchvision's class takes
# any widths, so the function is still torchvision's.
PADDLE_SHUFFLENET_WIDTHS = {
    "shufflenet_v2_x0_25": (24, 24, 48, 96, 512),
    "shufflenet_v2_x0_33": (24, 32, 64, 128, 512),
    "shufflenet_v2_x2_0": (24, 224, 488, 976, 2048),
}

PAIRS: list[Pair] = [
    *(Pair(f"densenet{d}", f"densenet{d}()", _builder(f"densenet{d}")) for d in (121, 161, 169)),
    Pair("densenet201", "densenet201()", _builder("densenet201")),
    Pair(
        "densenet264",
        "DenseNet(32, (6, 12, 64, 48), 64)",
        lambda tvm: tvm.DenseNet(32, (6, 12, 64, 48), 64),
        note="torchvision has no densenet264 builder; its DenseNet class with Paddle's blocks",
    ),
    Pair("mobilenet_v3_small", "mobilenet_v3_small()", _builder("mobilenet_v3_small")),
    Pair("mobilenet_v3_large", "mobilenet_v3_large()", _builder("mobilenet_v3_large")),
    Pair(
        "mobilenet_v3_large(scale=0.75)",
        "mobilenet_v3_large(width_mult=0.75)",
        _builder("mobilenet_v3_large", width_mult=0.75),
        kwargs={"scale": 0.75},
    ),
    *(
        Pair(f"shufflenet_v2_{v}", f"shufflenet_v2_{v}()", _builder(f"shufflenet_v2_{v}"))
        for v in ("x0_5", "x1_0", "x1_5")
    ),
    *(
        Pair(
            name,
            f"ShuffleNetV2([4, 8, 4], {list(widths)})",
            _shufflenet(widths),
            note="torchvision's ShuffleNetV2 class with Paddle's widths (no such builder there)",
        )
        for name, widths in PADDLE_SHUFFLENET_WIDTHS.items()
    ),
    Pair("alexnet", "alexnet()", _builder("alexnet"), note="fc6/fc7 weights x2 (exact)"),
    Pair(
        "inception_v3",
        "inception_v3(init_weights=False) (aux_logits=False to load resvision's weights)",
        # init_weights=True draws every convolution from N(0, 0.1): logits of order 1e12
        _builder("inception_v3", init_weights=False),
        size=299,
        note="running_var + (1e-3 - 1e-5), fc.weight / 0.8; AuxLogits left out",
    ),
    Pair("resnext50_32x4d", "resnext50_32x4d()", _builder("resnext50_32x4d")),
    Pair("resnext101_64x4d", "resnext101_64x4d()", _builder("resnext101_64x4d")),
    Pair(
        "resnext101_32x8d",
        "resnext101_32x8d()",
        _builder("resnext101_32x8d"),
        note="not registered in resvision (nor in Paddle): built with Paddle's ResNet form, "
        "ResNet(BottleneckBlock, 101, width=8, groups=32)",
    ),
    Pair("wide_resnet50_2", "wide_resnet50_2()", _builder("wide_resnet50_2")),
    Pair("wide_resnet101_2", "wide_resnet101_2()", _builder("wide_resnet101_2")),
]

# Same name, other network: not compared.
EXCLUDED: dict[str, str] = {
    "squeezenet1_0": (
        "other network: Paddle's max-pools floor their output size, torchvision's round it up "
        "(ceil_mode=True): 12x12 vs 13x13 final map at 224 px; Paddle's dropout before the "
        "classifier is downscale_in_infer. The tensors fit under renaming, the outputs differ"
    ),
    "squeezenet1_1": (
        "other network: as squeezenet1_0 (ceil_mode pools), and Paddle pads the 3x3 stride-2 "
        "stem convolution by 1 where torchvision does not (112x112 vs 111x111 at 224 px)"
    ),
    "googlenet": (
        "other network: Paddle's GoogLeNet has no BatchNorm and no ReLU after each convolution, "
        "real 5x5 kernels (torchvision: 3x3), floor-mode pools, fixed 5x5 aux pooling into "
        "1152-wide layers (torchvision: adaptive 4x4, 2048), aux heads also in evaluation"
    ),
    "shufflenet_v2_x2_0 (torchvision's builder)": (
        "other widths: torchvision's shufflenet_v2_x2_0 has a 244-channel first stage, Paddle's "
        "224 (7,393,996 vs 7,366,536 parameters); compared above against torchvision's "
        "ShuffleNetV2 class with Paddle's widths"
    ),
    "shufflenet_v2_swish": "torchvision's ShuffleNetV2 has no activation choice (ReLU only)",
    "shufflenet_v2_x0_25 / x0_33 builders": (
        "torchvision has no such builders; compared above through its ShuffleNetV2 class"
    ),
    "resnext50_64x4d, resnext101_32x4d, resnext152_32x4d, resnext152_64x4d": (
        "torchvision has no such builders (its ResNeXts: 50_32x4d, 101_32x8d, 101_64x4d)"
    ),
}


def randomize(net: Any, seed: int) -> Any:
    """Random BatchNorm statistics and affine parameters and Linear biases, in eval mode."""
    import torch
    from torch import nn

    generator = torch.Generator().manual_seed(seed)

    def uniform(t: Any, low: float, high: float) -> None:
        t.copy_(torch.rand(t.shape, generator=generator) * (high - low) + low)

    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                uniform(m.running_mean, -0.5, 0.5)
                uniform(m.running_var, 0.5, 2.0)
                uniform(m.weight, 0.5, 1.5)
                uniform(m.bias, -0.5, 0.5)
            elif isinstance(m, nn.Linear) and m.bias is not None:
                uniform(m.bias, -0.5, 0.5)
    return net.eval()


def _resvision_model(pair: Pair, pretrained: Any = False) -> Any:
    from resvision.models import BottleneckBlock, ResNet, create_model

    if pair.name == "resnext101_32x8d":
        net = ResNet(BottleneckBlock, 101, width=8, groups=32)
        if pretrained is not False:
            from resvision.models.weights import load_pretrained

            net = load_pretrained(net, pretrained, model_name="resnext101_32x8d")
        return net
    name = pair.name.split("(")[0]
    return create_model(name, pretrained=pretrained, **pair.kwargs)


def _compare(got: Any, expected: Any) -> dict[str, Any]:
    import torch

    abs_diff = float((got - expected).abs().max())
    scale = float(expected.abs().max())
    return {
        "max_abs_diff": abs_diff,
        "max_rel_diff": abs_diff / scale if scale > 0 else abs_diff,
        "bit_identical": bool(torch.equal(got, expected)),
        "max_abs_logit": scale,
    }


def check(pair: Pair, seed: int) -> dict[str, Any]:
    """Both directions for one pair; the row of the results."""
    import torch
    import torchvision.models as tvm

    from resvision.models.weights import convert_state_dict

    start = time.perf_counter()
    row: dict[str, Any] = {
        "torchvision_model": pair.torchvision,
        "input_shape": [2, 3, pair.size, pair.size],
        "seed": seed,
    }
    if pair.note:
        row["note"] = pair.note
    x = torch.randn(2, 3, pair.size, pair.size, generator=torch.Generator().manual_seed(seed))

    # torchvision -> resvision, through create_model(pretrained=state_dict)
    torch.manual_seed(seed)
    theirs = randomize(pair.build(tvm), seed)
    row["torchvision_params"] = sum(
        p.numel() for n, p in theirs.named_parameters() if not n.startswith("AuxLogits.")
    )
    with torch.no_grad():
        expected = theirs(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a skipped classifier must not pass silently
        ours = _resvision_model(pair, pretrained=theirs.state_dict()).eval()
    cfg = ours.pretrained_cfg
    row["detected_layout"] = cfg["source_format"]
    row["missing_keys"] = [k for k in cfg["missing_keys"] if not k.endswith("num_batches_tracked")]
    row["resvision_params"] = sum(p.numel() for p in ours.parameters())
    with torch.no_grad():
        row["torchvision_to_resvision"] = _compare(ours(x), expected)
    del theirs, ours
    gc.collect()

    # resvision -> torchvision, through convert_state_dict(target='torchvision')
    torch.manual_seed(seed + 1)
    ours = randomize(_resvision_model(pair), seed + 1)
    with torch.no_grad():
        expected = ours(x)
    theirs = pair.build(tvm)
    if (
        getattr(theirs, "AuxLogits", None) is not None
    ):  # inception_v3: resvision (Paddle) has no aux head
        theirs = tvm.inception_v3(init_weights=False, aux_logits=False)  # strict load
    theirs.load_state_dict(convert_state_dict(ours.state_dict(), target="torchvision"))
    with torch.no_grad():
        row["resvision_to_torchvision"] = _compare(theirs.eval()(x), expected)

    rel = max(
        row[d]["max_rel_diff"] for d in ("torchvision_to_resvision", "resvision_to_torchvision")
    )
    row.update(
        max_rel_diff=rel,
        bit_identical=all(
            row[d]["bit_identical"]
            for d in ("torchvision_to_resvision", "resvision_to_torchvision")
        ),
        params_equal=row["torchvision_params"] == row["resvision_params"],
        passed=bool(
            rel < THRESHOLD and not row["missing_keys"] and row["detected_layout"] == "torchvision"
        ),
        seconds=round(time.perf_counter() - start, 1),
    )
    return row


def _versions() -> dict[str, str]:
    import torch
    import torchvision

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
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "resvision": getattr(resvision, "__version__", "?"),
        "python": sys.version.split()[0],
    }


def _dumps(data: dict[str, Any]) -> str:
    """JSON with one line per model, so that a rerun of one family is a small diff."""
    head = {k: v for k, v in data.items() if k not in ("models", "excluded")}
    lines = [json.dumps(head, indent=1)[:-2] + ","]
    for section in ("models", "excluded"):
        rows = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in data[section].items()]
        lines.append(f' "{section}": {{\n' + ",\n".join(rows) + "\n },")
    return "\n".join(lines)[:-1] + "\n}\n"


def _table(rows: dict[str, dict[str, Any]]) -> str:
    head = (
        f"{'resvision model':32} {'torchvision params':>18} {'resvision':>12} "
        f"{'tv->rv rel':>10} {'rv->tv rel':>10} {'bit-equal':>9}  result"
    )
    lines = [head, "-" * len(head)]
    for name, row in rows.items():
        if "error" in row:
            lines.append(f"{name:32} ERROR: {row['error']}")
            continue
        params = "" if row["params_equal"] else "  (parameter counts differ)"
        lines.append(
            f"{name:32} {row['torchvision_params']:>18,} {row['resvision_params']:>12,} "
            f"{row['torchvision_to_resvision']['max_rel_diff']:>10.1e} "
            f"{row['resvision_to_torchvision']['max_rel_diff']:>10.1e} "
            f"{'yes' if row['bit_identical'] else 'no':>9}  "
            f"{'pass' if row['passed'] else 'FAIL'}{params}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    known = [p.name for p in PAIRS]
    parser.add_argument("--models", nargs="+", help=f"a subset of: {', '.join(known)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=RESULTS, help="results file (entries are merged)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    unknown = [n for n in args.models or [] if n not in known]
    if unknown:
        parser.error(f"no torchvision pair for {unknown}; known: {', '.join(known)}")
    pairs = [p for p in PAIRS if not args.models or p.name in args.models]

    rows: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        print(f"{pair.name} ...", end=" ", flush=True)
        try:
            rows[pair.name] = check(pair, args.seed)
        except Exception as err:  # recorded and reported; the other models still run
            rows[pair.name] = {"error": f"{type(err).__name__}: {err}"[:500], "passed": False}
        row = rows[pair.name]
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
        "what": "max |logit difference| between torchvision.models and resvision for the same "
        "random weights (BatchNorm statistics included), both ways: torchvision's state_dict "
        "loaded by create_model(name, pretrained=state_dict), and resvision's written by "
        "convert_state_dict(target='torchvision') and loaded strictly by torchvision; rel = abs "
        "/ max |reference logit|; pass: rel < 1e-5 both ways and nothing missing",
        "command": "PYTHONPATH=src /work/venvs/tv/bin/python benchmarks/torchvision_zoo_check.py "
        "[--models ...]",
        "threshold": THRESHOLD,
        "models": dict(sorted(models.items())),
        "excluded": EXCLUDED,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as f:
        f.write(_dumps(data))
    print()
    print(_table(rows))
    print(f"\n{sum(r['passed'] for r in rows.values())}/{len(rows)} pass; written to {args.json}")
    print("not compared (other networks):")
    for name, reason in EXCLUDED.items():
        print(f"  {name}: {reason}")
    return 0 if all(r["passed"] for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
