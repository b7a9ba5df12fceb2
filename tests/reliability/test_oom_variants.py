"""Every way a device says "out of memory" gets the batch-size advice; other faults do not.

cuBLAS, cuDNN, the CUDA runtime (``torch.AcceleratorError``), ROCm's libraries and MPS report
a failed allocation in their own words, not as ``torch.OutOfMemoryError``. The device is a
test double as in ``test_out_of_memory.py``: :class:`FailsAbove` raises the library's real
message when a batch is larger than its bound. A fault that is not (necessarily) memory, such
as a bare ``CUDNN_STATUS_INTERNAL_ERROR``, must reach the user as itself.

Under ``torchrun`` (two gloo processes here) the rank that runs out of memory gives up without
retrying alone, names itself, and leaves its message where the peers can read it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from resvision.engine import memory
from resvision.engine.memory import BatchTooLargeError, is_out_of_memory
from resvision.engine.model import Model

CUDA_ADVICE = (
    "\nCUDA kernel errors might be asynchronously reported at some other API call, so the "
    "stacktrace below might be incorrect.\nFor debugging consider passing CUDA_LAUNCH_BLOCKING=1"
    "\nCompile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.\n"
)

#: (exception type, message) of allocation failures, as the libraries word them.
OUT_OF_MEMORY = {
    "cublas_create": (RuntimeError, "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
    "cublaslt": (RuntimeError, "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasLtMatmul(ltHandle, computeDesc.descriptor(), ...)`"),
    "cudnn_alloc": (RuntimeError, "cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
    "cudnn9_device": (RuntimeError, "cuDNN error: CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED"),
    "cudnn9_host": (RuntimeError, "cuDNN error: CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED"),
    "cudnn_workspace": (RuntimeError, "cuDNN error: CUDNN_STATUS_NOT_ENOUGH_WORKSPACE"),
    "accelerator_error": (torch.AcceleratorError, "CUDA error: out of memory" + CUDA_ADVICE),
    "cuda_error_plain": (RuntimeError, "CUDA error: out of memory" + CUDA_ADVICE),
    "cuda_driver": (RuntimeError, "CUDA driver error: CUDA_ERROR_OUT_OF_MEMORY"),
    "thrust": (RuntimeError, "radix_sort: failed on 1st step: cudaErrorMemoryAllocation"),
    "cusolver": (RuntimeError, "cusolver error: CUSOLVER_STATUS_ALLOC_FAILED, when calling `cusolverDnCreate(handle)`"),
    "cusparse": (RuntimeError, "CUDA error: CUSPARSE_STATUS_ALLOC_FAILED when calling `cusparseCreate(handle)`"),
    "cufft": (RuntimeError, "cuFFT error: CUFFT_ALLOC_FAILED"),
    "hip_caching": (torch.OutOfMemoryError, "HIP out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 63.98 GiB of which 1.20 GiB is free."),
    "hip_runtime": (RuntimeError, "HIP error: hipErrorOutOfMemory"),
    "hip_alias": (RuntimeError, "hipMalloc failed: hipErrorMemoryAllocation"),
    "hipblas": (RuntimeError, "CUDA error: HIPBLAS_STATUS_ALLOC_FAILED when calling `hipblasCreate(handle)`"),
    "rocblas": (RuntimeError, "rocBLAS error: rocblas_status_memory_error"),
    "miopen": (RuntimeError, "MIOpen error: miopenStatusAllocFailed"),
    "mps_backend": (RuntimeError, "MPS backend out of memory (MPS allocated: 17.92 GB, other allocations: 1.26 GB, max allowed: 18.13 GB). Tried to allocate 256.00 MB on private pool. Use PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 to disable upper limit for memory allocations (may cause system failure)."),
    "mps_buffer": (RuntimeError, "Invalid buffer size: 12.50 GB"),
    "cpu_windows": (RuntimeError, "[enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: not enough memory: you tried to allocate 8589934592 bytes."),
    "bad_alloc": (MemoryError, "std::bad_alloc"),
}  # fmt: skip

#: Faults that are not (necessarily) memory: they must not be explained as a batch too large.
NOT_OUT_OF_MEMORY = [
    "cuDNN error: CUDNN_STATUS_INTERNAL_ERROR",
    "cuDNN error: CUDNN_STATUS_EXECUTION_FAILED",
    "cuDNN error: CUDNN_STATUS_NOT_SUPPORTED. This error may appear if you passed in a non-contiguous input.",
    "cuDNN error: CUDNN_STATUS_BAD_PARAM",
    "cuDNN error: CUDNN_STATUS_MAPPING_ERROR",
    "CUDA error: CUBLAS_STATUS_NOT_INITIALIZED when calling `cublasCreate(handle)`",
    "CUDA error: CUBLAS_STATUS_EXECUTION_FAILED when calling `cublasSgemm( handle, opa, opb, m, n, k, ...)`",
    "CUDA error: CUBLAS_STATUS_INTERNAL_ERROR when calling `cublasGemmEx( handle, opa, opb, ...)`",
    "CUDA error: an illegal memory access was encountered" + CUDA_ADVICE,
    "CUDA error: device-side assert triggered" + CUDA_ADVICE,
    "CUDA error: too many resources requested for launch",
    "out of resource: shared memory, Required: 262144, Hardware limit: 232448. Reducing block sizes or `num_stages` may help.",
    "Invalid buffer size: -1",
]  # fmt: skip


class FailsAbove(nn.Module):
    """Wraps a network; a batch above ``max_batch`` raises ``error()``, as a device would."""

    def __init__(self, net: nn.Module, max_batch: int, error: Callable[[], BaseException]) -> None:
        super().__init__()
        self.net, self.max_batch, self.error = net, max_batch, error

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.max_batch:
            raise self.error()
        return self.net(x)


_G = torch.Generator().manual_seed(4)
DATA = TensorDataset(
    torch.randn(128, 3, 4, 4, generator=_G), torch.randint(0, 3, (128,), generator=_G)
)


def _model(max_batch: int, error: Callable[[], BaseException]) -> Model:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 3))
    model = Model(FailsAbove(net, max_batch, error), device="cpu")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.prepare(opt, nn.CrossEntropyLoss(), amp_configs=None)
    return model


@pytest.mark.parametrize("name", sorted(OUT_OF_MEMORY))
def test_training_explains_every_out_of_memory_variant(name):
    kind, message = OUT_OF_MEMORY[name]
    model = _model(max_batch=20, error=lambda: kind(message))
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    with pytest.raises(BatchTooLargeError) as info:
        model.fit(DATA, batch_size=64, epochs=1, verbose=0)
    err = info.value
    assert (err.batch_size, err.suggested, err.phase, err.rank) == (64, 16, "training", None)
    text = str(err)
    assert text.startswith("out of memory on cpu during training with a batch of 64 (")
    assert "use batch_size=16 (--batch-size 16)" in text and "accumulate_grad_batches=4" in text
    # One line of the library's words, not the CUDA debugging advice after it.
    assert "\n" not in text and "asynchronously" not in text and len(text) < 400
    after = model.network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("name", ["cublas_create", "cudnn9_device", "hip_runtime", "mps_buffer"])
def test_evaluation_and_prediction_explain_the_variants_too(name):
    kind, message = OUT_OF_MEMORY[name]
    model = _model(max_batch=64, error=lambda: kind(message))
    with pytest.raises(BatchTooLargeError, match=r"during evaluation with a batch of 128.*=64"):
        model.evaluate(DATA, batch_size=128, verbose=0)
    with pytest.raises(BatchTooLargeError, match=r"during prediction with a batch of 100.*=50"):
        model.predict(TensorDataset(DATA.tensors[0][:100]), batch_size=100, verbose=0)


@pytest.mark.parametrize("message", NOT_OUT_OF_MEMORY)
def test_faults_that_are_not_memory_pass_through_as_themselves(message):
    calls = []

    def error() -> RuntimeError:
        calls.append(1)
        return RuntimeError(message)

    model = _model(max_batch=0, error=error)
    with pytest.raises(RuntimeError) as info:
        model.fit(DATA, batch_size=8, epochs=1, verbose=0)
    assert type(info.value) is RuntimeError and str(info.value) == message
    assert calls == [1]  # no retry on smaller slices
    assert not is_out_of_memory(RuntimeError(message))
    assert not is_out_of_memory(torch.AcceleratorError(message))


def test_the_marker_list_is_exactly_the_documented_one():
    """A marker added or dropped is a decision: this list changes with it."""
    assert memory.OUT_OF_MEMORY_MARKERS == (
        "out of memory",
        "can't allocate memory",
        "cannot allocate memory",
        "not enough memory",
        "failed to allocate",
        "cudaErrorMemoryAllocation",
        "CUDA_ERROR_OUT_OF_MEMORY",
        "CUBLAS_STATUS_ALLOC_FAILED",
        "CUSOLVER_STATUS_ALLOC_FAILED",
        "CUSPARSE_STATUS_ALLOC_FAILED",
        "CUFFT_ALLOC_FAILED",
        "CUDNN_STATUS_ALLOC_FAILED",
        "CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED",
        "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED",
        "CUDNN_STATUS_NOT_ENOUGH_WORKSPACE",
        "hipErrorOutOfMemory",
        "hipErrorMemoryAllocation",
        "HIPBLAS_STATUS_ALLOC_FAILED",
        "rocblas_status_memory_error",
        "miopenStatusAllocFailed",
    )
    for marker in memory.OUT_OF_MEMORY_MARKERS:
        for text in (marker, f"prefix: {marker} (suffix)", marker.upper(), marker.lower()):
            assert is_out_of_memory(RuntimeError(text)), text
            assert is_out_of_memory(torch.AcceleratorError(text)), text
        assert not is_out_of_memory(ValueError(marker))  # only what a device op raises


def test_memory_errors_count_but_an_explained_one_is_not_explained_again():
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(torch.OutOfMemoryError("anything"))
    assert not is_out_of_memory(BatchTooLargeError(8, 4, torch.device("cpu"), "training", "x"))
    assert is_out_of_memory(RuntimeError("Invalid buffer size: 512.00 MB"))
    assert is_out_of_memory(RuntimeError("Invalid buffer size: 100 bytes"))


def test_the_rank_is_named_when_there_is_one():
    err = BatchTooLargeError(64, None, torch.device("cuda", 1), "training", "x", False, rank=1)
    assert str(err).startswith("out of memory on cuda:1 (rank 1) during training")
    assert err.rank == 1 and "e.g. 32" in str(err)


def test_alone_there_is_no_peer_to_report_to():
    assert memory.report_to_peers(RuntimeError("x")) is False
    assert memory.peer_out_of_memory() is None


_DDP_SCRIPT = r"""
import json, os, sys, time
import torch
from torch import nn
from torch.utils.data import TensorDataset
from resvision import distributed
from resvision.engine.model import Model

torch.set_num_threads(1)
rank = int(os.environ["RANK"])

class FailsOnRankOne(nn.Module):
    # rank 1's second training batch fails the way cuBLAS does; every forward is counted
    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, 0
    def forward(self, x):
        self.calls += 1
        if rank == 1 and self.calls >= 2:
            raise RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`")
        return self.net(x)

torch.manual_seed(0)
bound = FailsOnRankOne(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)))
model = Model(bound, device="cpu")
model.prepare(torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), amp_configs=None)
data = TensorDataset(torch.randn(96, 3, 2, 2), torch.randint(0, 3, (96,)))
result = {"rank": rank}
started = time.monotonic()
try:
    model.fit(data, batch_size=4, epochs=3, verbose=0)
except Exception as err:
    result.update(error=type(err).__name__, message=str(err),
                  seconds=time.monotonic() - started, calls=bound.calls,
                  peer_failure=distributed.is_peer_failure(err),
                  suggested=getattr(err, "suggested", "n/a"))
    if rank == 0:
        from resvision.engine.memory import peer_out_of_memory
        result["peer_report"] = peer_out_of_memory()
print(json.dumps(result), flush=True)
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_rank_out_of_memory_under_ddp_names_itself_and_its_peer_learns_why():
    """Rank 1 runs out of memory at its second step: it raises at once (no lone retry, which
    would wait for rank 0 forever), naming its rank; rank 0, waiting in the gradient
    all-reduce, fails when rank 1 exits, long before the collective timeout, and reads rank
    1's message from the store."""
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ)
        env.update(
            RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2",
            MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1",
            RESVISION_DIST_TIMEOUT="90",
        )  # fmt: skip
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _DDP_SCRIPT],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        outputs = [p.communicate(timeout=150) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    results = []
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    zero, one = results

    assert one["error"] == "BatchTooLargeError" and one["suggested"] is None
    assert one["message"].startswith(
        "out of memory on cpu (rank 1) during training with a batch of 4 "
        "(CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`)"
    )
    assert "use a smaller batch_size (--batch-size), e.g. 2" in one["message"]
    assert one["calls"] == 2  # no retry on slices: it would wait for rank 0's all-reduce

    assert zero["error"] is not None and zero["peer_failure"], zero
    assert zero["seconds"] < 45, zero  # not the 90 s collective timeout
    assert zero["peer_report"] == one["message"]
