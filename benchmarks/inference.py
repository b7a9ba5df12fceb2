"""Inference: resnet50 at 224x224, batch-1 latency and batch-32 throughput.

Variants, interleaved round by round: eager fp32; eager fp32 channels-last; eager bf16 autocast
+ channels-last; ``torch.compile`` of the bf16 channels-last network (compile time excluded);
ONNX Runtime (CPU execution provider, fp32, the model exported by ``resvision.export``'s ONNX
writer). Ratios are against eager fp32.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import Result, skipped, synchronize


def _variants(net, device: torch.device, quick: bool, tmp: str):
    """name -> (callable(x), needs channels-last input); and skip notes."""
    out, notes = {}, {}
    out["eager fp32"] = (net, False)
    cl = torch.nn.Module.to(_copy(net), memory_format=torch.channels_last)
    out["eager fp32+cl"] = (cl, True)

    def bf16(x, cl=cl):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            return cl(x)

    out["eager bf16+cl"] = (bf16, True)
    if quick:
        notes["compiled bf16+cl"] = "skipped: quick run"
    else:
        compiled = torch.compile(cl)

        def comp(x, compiled=compiled):
            with torch.autocast(device.type, dtype=torch.bfloat16):
                return compiled(x)

        out["compiled bf16+cl"] = (comp, True)
    if device.type != "cpu":
        notes["onnxruntime fp32"] = "skipped: CPU execution provider only"
        return out, notes
    try:
        import onnxruntime as ort

        from resvision.export.onnx import write_onnx

        path = Path(tmp) / "resnet50.onnx"
        write_onnx(net, torch.randn(1, 3, 224, 224), path, {})
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        out["onnxruntime fp32"] = (lambda x: session.run(None, {name: x.numpy()})[0], False)
        notes["onnxruntime fp32"] = f"onnxruntime {ort.__version__}"
    except Exception as err:  # not installed, or the exporter failed: say which
        notes["onnxruntime fp32"] = f"skipped: {type(err).__name__}: {str(err)[:60]}"
    return out, notes


def _copy(net):
    import copy

    return copy.deepcopy(net)


def run(device: torch.device, quick: bool = False) -> list[Result]:
    """Batch-1 latency (ms, best and median of the calls) and batch-32 images/s."""
    from resvision.models import create_model

    torch.manual_seed(0)
    net = create_model("resnet50").eval().to(device)
    rows: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        variants, notes = _variants(net, device, quick, tmp)
        for batch, calls in ((1, 5 if quick else 20), (32, 1 if quick else 3)):
            x = torch.randn(batch, 3, 224, 224, device=device)
            x_cl = x.contiguous(memory_format=torch.channels_last)
            times: dict[str, list[float]] = {k: [] for k in variants}
            for fn, needs_cl in variants.values():  # warm-up (compiles)
                fn(x_cl if needs_cl else x)
            for _ in range(calls):
                for name, (fn, needs_cl) in variants.items():
                    synchronize(device)
                    t0 = time.perf_counter()
                    fn(x_cl if needs_cl else x)
                    synchronize(device)
                    times[name].append(time.perf_counter() - t0)
            base = min(times["eager fp32"])
            for name in ["eager fp32", "eager fp32+cl", "eager bf16+cl", "compiled bf16+cl",
                         "onnxruntime fp32"]:  # fmt: skip
                title = f"resnet50@224 b{batch} {name}"
                if name not in times:
                    rows.append(skipped("inference", title, notes.get(name, "")[9:]))
                    continue
                best, med = min(times[name]), statistics.median(times[name])
                if batch == 1:
                    rows.append(
                        Result("inference", title + " latency", 1000 * best, "ms",
                               ratio=base / best, baseline="eager fp32 (speed-up)",
                               median=1000 * med, note=notes.get(name, ""))
                    )  # fmt: skip
                else:
                    rows.append(
                        Result("inference", title, batch / best, "images/s",
                               ratio=base / best, baseline="eager fp32",
                               median=batch / med, note=notes.get(name, ""))
                    )  # fmt: skip
    print("  inference: done", flush=True)
    return rows


if __name__ == "__main__":  # pragma: no cover - manual use
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count()))
    for r in run(torch.device("cpu"), quick=True):
        print(r)
    _ = contextlib
