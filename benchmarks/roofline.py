"""Roofline: the machine's measured matrix-multiply peak, fp32 and bf16 (and GPU copy bandwidth).

Convolutions on the CPU run through oneDNN, not through ``torch.matmul`` (MKL / OpenBLAS, often
half as fast in fp32), so the peak that bounds a convolutional network is measured through the
same path: a 1x1 convolution over a channels-last ``[64, 1024, 8, 8]`` input is exactly a
``4096 x 1024 x 1024`` matrix product computed by oneDNN's convolution kernels. On CUDA both
paths are cuBLAS/cuDNN and ``torch.matmul`` is used. ``torch.matmul`` is reported too, for
reference.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from benchmarks.common import Result, synchronize


def _best_rate(fn, flops: float, device: torch.device, seconds: float) -> float:
    """Best GFLOP/s over repeated calls for about ``seconds`` (after a warm-up call)."""
    fn()
    synchronize(device)
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        synchronize(device)
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        best = max(best, flops / (time.perf_counter() - t0) / 1e9)
    return best


def conv_gemm_peak(dtype: torch.dtype, device: torch.device, seconds: float = 3.0) -> float:
    """GFLOP/s of a large matrix product through the convolution path (see module doc)."""
    if device.type == "cuda":
        n = 8192
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        return _best_rate(lambda: torch.matmul(a, b), 2.0 * n**3, device, seconds)
    m_batch, k, n, hw = 64, 1024, 1024, 8
    x = torch.randn(m_batch, k, hw, hw, dtype=dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(n, k, 1, 1, dtype=dtype).contiguous(memory_format=torch.channels_last)
    flops = 2.0 * m_batch * hw * hw * k * n
    with torch.no_grad():
        return _best_rate(lambda: F.conv2d(x, w), flops, device, seconds)


def matmul_peak(dtype: torch.dtype, device: torch.device, seconds: float = 2.0) -> float:
    """GFLOP/s of ``torch.matmul`` on a 2048-square product (the BLAS path, for reference)."""
    n = 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return _best_rate(lambda: torch.matmul(a, b), 2.0 * n**3, device, seconds)


def copy_bandwidth(device: torch.device, seconds: float = 2.0) -> float:
    """GB/s of a device-to-device copy of 1 GiB (read + write counted)."""
    src = torch.empty(2**28, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    nbytes = 2.0 * src.numel() * 4
    return _best_rate(lambda: dst.copy_(src), nbytes, device, seconds)


def run(device: torch.device, quick: bool = False) -> tuple[list[Result], dict[str, float]]:
    """Measure the peaks; returns the rows and ``{'fp32': GFLOP/s, 'bf16': GFLOP/s}``."""
    seconds = 1.5 if quick else 4.0
    peaks = {
        "fp32": conv_gemm_peak(torch.float32, device, seconds),
        "bf16": conv_gemm_peak(torch.bfloat16, device, seconds),
    }
    path = "cuBLAS matmul" if device.type == "cuda" else "oneDNN 1x1 conv GEMM"
    rows = [
        Result("roofline", f"fp32 peak ({path})", peaks["fp32"], "GFLOP/s"),
        Result(
            "roofline",
            f"bf16 peak ({path})",
            peaks["bf16"],
            "GFLOP/s",
            ratio=peaks["bf16"] / peaks["fp32"],
            baseline="fp32 peak",
        ),
    ]
    if device.type == "cpu":
        mm = matmul_peak(torch.float32, device, seconds / 2)
        rows.append(
            Result(
                "roofline",
                "fp32 torch.matmul (BLAS)",
                mm,
                "GFLOP/s",
                ratio=mm / peaks["fp32"],
                baseline="fp32 peak",
                note="reference: not the path convolutions take",
            )
        )
    else:
        bw = copy_bandwidth(device, seconds / 2)
        rows.append(Result("roofline", "device copy bandwidth", bw, "GB/s"))
    return rows, peaks
