"""Out of memory: recognising the allocator's errors and finding a batch size that fits.

When a batch does not fit, the raw error is an allocator trace (``torch.OutOfMemoryError`` on
CUDA, ``RuntimeError: DefaultCPUAllocator: can't allocate memory`` on CPU, ``MPS backend out
of memory`` on Apple GPUs), or a library's allocation status (cuBLAS, cuDNN, ROCm's libraries:
see :data:`OUT_OF_MEMORY_MARKERS`). The loops turn it into :class:`BatchTooLargeError`, whose
message gives a batch size that was *tried* and fits: the failing batch is cut to halves,
quarters, ... and run again (forward, plus backward when training) until one goes through.

Under ``torchrun`` a training process cannot retry alone (its DDP peers wait in the gradient
all-reduce of the step it left): it gives up at once, says so naming its rank, and leaves its
message in the process group's store (:func:`report_to_peers`), where the peers, whose next
collective fails when it exits, can read it (:func:`peer_out_of_memory`).
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable

import torch

from resvision import distributed

#: What a failed allocation says, matched case-insensitively anywhere in a ``RuntimeError``'s
#: message (``torch.OutOfMemoryError`` and ``MemoryError`` count whatever they say). Each is an
#: allocation failing, so a smaller batch may fit.
OUT_OF_MEMORY_MARKERS: tuple[str, ...] = (
    # The caching allocators: "CUDA out of memory. Tried to allocate ...", "HIP out of memory",
    # "XPU out of memory", "MPS backend out of memory (MPS allocated: ...)"; and the text of
    # cudaErrorMemoryAllocation / hipErrorOutOfMemory, "CUDA error: out of memory" (a plain
    # RuntimeError or torch.AcceleratorError, from a cudaMalloc outside the caching allocator,
    # a library's workspace or handle, or Triton's "Triton Error [CUDA]: out of memory").
    "out of memory",
    # The CPU allocator: "DefaultCPUAllocator: can't allocate memory: you tried to allocate ..."
    # (Linux, macOS), "DefaultCPUAllocator: not enough memory: ..." (Windows).
    "can't allocate memory",
    "cannot allocate memory",
    "not enough memory",
    "failed to allocate",
    # CUDA runtime and driver status names (Thrust / CUB, NVRTC and driver-API callers).
    "cudaErrorMemoryAllocation",
    "CUDA_ERROR_OUT_OF_MEMORY",
    # CUDA math libraries: "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling
    # `cublasCreate(handle)`" (and cuBLASLt's workspace), cuSOLVER, cuSPARSE, cuFFT.
    "CUBLAS_STATUS_ALLOC_FAILED",
    "CUSOLVER_STATUS_ALLOC_FAILED",
    "CUSPARSE_STATUS_ALLOC_FAILED",
    "CUFFT_ALLOC_FAILED",
    # cuDNN: "cuDNN error: CUDNN_STATUS_ALLOC_FAILED" (cuDNN 8; a deprecated alias of the host
    # allocation status in cuDNN 9), cuDNN 9's two allocation sub-codes of INTERNAL_ERROR, and
    # the workspace shortage some builds and wrappers report.
    "CUDNN_STATUS_ALLOC_FAILED",
    "CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED",
    "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED",
    "CUDNN_STATUS_NOT_ENOUGH_WORKSPACE",
    # ROCm: the HIP runtime status (and its old alias), hipBLAS, rocBLAS, MIOpen.
    "hipErrorOutOfMemory",
    "hipErrorMemoryAllocation",
    "HIPBLAS_STATUS_ALLOC_FAILED",
    "rocblas_status_memory_error",
    "miopenStatusAllocFailed",
)
# Deliberately NOT recognised, because they are not necessarily memory and a retry on smaller
# slices with batch-size advice would hide a real fault: a bare "CUDNN_STATUS_INTERNAL_ERROR"
# (also a bad input, a driver or build problem), CUDNN_STATUS_EXECUTION_FAILED,
# CUDNN_STATUS_NOT_SUPPORTED / BAD_PARAM / MAPPING_ERROR, "CUBLAS_STATUS_NOT_INITIALIZED" (often
# memory at cublasCreate, but also the aftermath of a device-side assert), CUBLAS_STATUS_
# EXECUTION_FAILED / INTERNAL_ERROR, "an illegal memory access", "device-side assert
# triggered", "too many resources requested for launch" and Triton's "out of resource: shared
# memory" (a kernel's configuration, whatever the batch size).
_MARKERS = tuple(marker.lower() for marker in OUT_OF_MEMORY_MARKERS)

#: MPS refuses one buffer above the device's largest (``MTLDevice.maxBufferLength``) before it
#: tries to allocate: "Invalid buffer size: 12.50 GB". A smaller batch asks for a smaller one.
_MPS_BUFFER_TOO_LARGE = re.compile(r"invalid buffer size: \d+(?:\.\d+)? ?(?:bytes|[kmgtp]i?b)\b")

#: The exception types an allocation failure comes as: catch these, then ask
#: :func:`is_out_of_memory` (``torch.OutOfMemoryError`` and ``torch.AcceleratorError`` are
#: RuntimeErrors; a ``std::bad_alloc`` arrives as ``MemoryError``).
OUT_OF_MEMORY_TYPES: tuple[type[BaseException], ...] = (RuntimeError, MemoryError)

#: Key of the messages of processes that ran out of memory, in the process group's store.
OUT_OF_MEMORY_REPORT_KEY = "resvision/out_of_memory"


class BatchTooLargeError(MemoryError):
    """A batch did not fit in the device's memory.

    Attributes:
        batch_size: The size of the batch that failed.
        suggested: The largest size tried that fits (a power-of-two fraction of
            ``batch_size``), or None when even one sample does not fit (or nothing was tried:
            under torchrun a process cannot retry alone).
        device: The device.
        phase: ``'training'``, ``'evaluation'`` or ``'prediction'``.
        rank: The process's rank in a distributed job, or None alone.
    """

    def __init__(
        self,
        batch_size: int,
        suggested: int | None,
        device: torch.device,
        phase: str,
        detail: str,
        tried: bool = True,
        rank: int | None = None,
    ) -> None:
        self.batch_size, self.suggested, self.device, self.phase = (
            batch_size,
            suggested,
            device,
            phase,
        )
        self.rank = rank
        if suggested is not None:
            advice = (
                f"a batch of {suggested} was tried and fits: use batch_size={suggested} "
                f"(--batch-size {suggested})"
            )
            if phase == "training":
                factor = -(-batch_size // suggested)
                advice += (
                    f", with accumulate_grad_batches={factor} to keep an effective batch of "
                    f"{factor * suggested}"
                )
        elif not tried:  # several processes: one cannot retry alone
            advice = f"use a smaller batch_size (--batch-size), e.g. {max(1, batch_size // 2)}"
        else:
            advice = (
                "even a batch of 1 does not fit: use a smaller model or image size, mixed "
                "precision (amp 'bf16' / 'fp16'), or a device with more memory"
            )
        where = f"{device} (rank {rank})" if rank is not None else f"{device}"
        super().__init__(
            f"out of memory on {where} during {phase} with a batch of {batch_size} ({detail}); "
            f"{advice}"
        )


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is a device allocator's or a library's out-of-memory error.

    Args:
        err: The exception a forward / backward / optimizer step raised.

    Returns:
        True for ``torch.OutOfMemoryError``, a ``MemoryError`` (not a
        :class:`BatchTooLargeError`: that one is explained already), and a ``RuntimeError``
        (``torch.AcceleratorError`` included) whose message holds one of
        :data:`OUT_OF_MEMORY_MARKERS` or MPS's "Invalid buffer size: <size>".

    Examples:
        >>> is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried"))
        True
        >>> is_out_of_memory(RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling "
        ...     "`cublasCreate(handle)`"))
        True
        >>> is_out_of_memory(RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"))
        False
        >>> is_out_of_memory(RuntimeError("shape mismatch"))
        False
    """
    if isinstance(err, BatchTooLargeError):
        return False
    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        return True
    if not isinstance(err, RuntimeError):
        return False
    text = str(err).lower()
    return any(marker in text for marker in _MARKERS) or bool(_MPS_BUFFER_TOO_LARGE.search(text))


def short_reason(err: BaseException) -> str:
    """The first sentence of an allocator message, without c10's ``[enforce fail at ...]``
    prefix and the long advice that follows.

    Only the first line counts: CUDA errors go on with lines of debugging advice
    ("CUDA kernel errors might be asynchronously reported ...").

    Examples:
        >>> short_reason(RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. "
        ...     "DefaultCPUAllocator: can't allocate memory: you tried to allocate 64 bytes. Error"))
        "DefaultCPUAllocator: can't allocate memory: you tried to allocate 64 bytes"
        >>> short_reason(RuntimeError("CUDA error: out of memory\\nCUDA kernel errors might be "
        ...     "asynchronously reported at some other API call"))
        'CUDA error: out of memory'
    """
    lines = [line for line in str(err).splitlines() if line.strip()]
    text = " ".join(lines[0].split()) if lines else ""
    text = re.sub(r"\[enforce fail at [^\]]*\]\s*(\S+\.\s)?", "", text)
    return (text.split(". ")[0] or type(err).__name__)[:200]


def release_cached_memory(device: torch.device) -> None:
    """Give the allocator's cached blocks back, so a retry sees the memory really free."""
    gc.collect()
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def largest_fitting_batch(
    run: Callable[[int], None], batch_size: int, device: torch.device
) -> int | None:
    """The largest of ``batch_size // 2``, ``// 4``, ... ``1`` for which ``run(size)`` fits.

    Args:
        run: Runs the work on a batch of the given size; raises the allocator's error when it
            does not fit.
        batch_size: The size that did not fit.
        device: Where it runs (its cache is emptied between tries).

    Returns:
        The size, or None when even 1 does not fit.

    Raises:
        Exception: whatever ``run`` raises that is not an out-of-memory error.

    Examples:
        >>> def run(n):
        ...     if n > 5:
        ...         raise torch.OutOfMemoryError("CUDA out of memory")
        >>> largest_fitting_batch(run, 64, torch.device("cpu"))
        4
    """
    size = batch_size // 2
    while size >= 1:
        release_cached_memory(device)
        failed = False
        try:
            run(size)
        except OUT_OF_MEMORY_TYPES as err:
            if not is_out_of_memory(err):
                raise
            failed = True  # decided outside the handler, so the failed try's memory is freed
        if not failed:
            return size
        size //= 2
    return None


def report_to_peers(error: BaseException) -> bool:
    """Leave ``error``'s message in the process group's store, for the other processes.

    A process that ran out of memory under ``torchrun`` gives up; its peers wait in a
    collective of the step it left and fail when it exits ("Connection closed by peer"),
    knowing only that a peer is gone. The message lets them say which rank failed and why
    (:func:`peer_out_of_memory`). Messages of several processes are kept, one a line.

    Best effort: a store that cannot be reached is not an error here, the error being reported
    is the one that matters.

    Args:
        error: The :class:`BatchTooLargeError` this process is about to raise.

    Returns:
        Whether the message was left (False alone, or when the store is out of reach).
    """
    if not distributed.is_distributed():
        return False
    message = " ".join(str(error).split())
    try:
        store = torch.distributed.distributed_c10d._get_default_store()
        store.append(OUT_OF_MEMORY_REPORT_KEY, message + "\n")
    except Exception:  # the store's process may be gone too: nothing more to tell
        return False
    return True


def peer_out_of_memory() -> str | None:
    """What processes that ran out of memory left in the store (:func:`report_to_peers`).

    For a process whose collective failed because a peer left: ``'out of memory on cuda:1
    (rank 1) during training ...'`` names the peer and the batch size to use. It does not
    wait: None when no process left a message, or the store cannot be reached (it lives in
    rank 0's process, or in torchrun's agent).

    Returns:
        The messages, one a line, or None.
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return None
    try:
        store = dist.distributed_c10d._get_default_store()
        if not store.check([OUT_OF_MEMORY_REPORT_KEY]):
            return None
        text = store.get(OUT_OF_MEMORY_REPORT_KEY).decode("utf-8", errors="replace")
    except Exception:  # the store's process is gone with the peer
        return None
    return text.strip() or None


def physical_memory(device: torch.device) -> int | None:
    """Bytes of memory the device has: the GPU's for CUDA, the machine's RAM otherwise (CPU,
    and MPS, whose memory is the machine's); None when it cannot be told."""
    if device.type == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(device).total_memory)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


#: Copies of a float32 input batch that training certainly holds at once: the batch, its
#: augmented and normalised copy, the first layer's output (as large or larger) and its
#: gradient. A floor, not an estimate: the real need is many times higher.
BATCH_COPIES_FLOOR = 4


def batch_memory_floor(batch_size: int, channels: int, side: int) -> int:
    """A lower bound of the bytes one training step needs for a batch of square images.

    Examples:
        >>> batch_memory_floor(64, 3, 224) / 2**20  # MiB
        147.0
    """
    return BATCH_COPIES_FLOOR * batch_size * channels * side * side * 4


def check_batch_fits(batch_size: int, channels: int, side: int, device: torch.device) -> None:
    """Refuse, before anything is allocated, a batch that cannot fit in the device's memory.

    Raises:
        ValueError: even :func:`batch_memory_floor` exceeds the device's memory; the message
            names the sizes and a batch size (or image size) whose floor fits.
    """
    total = physical_memory(device)
    need = batch_memory_floor(batch_size, channels, side)
    if total is None or need <= total:
        return
    fits = max(1, batch_size * total // need)
    raise ValueError(
        f"a batch of {batch_size} images of {channels}x{side}x{side} needs at least "
        f"{need / 2**30:.1f} GiB to train (the images in float32, x{BATCH_COPIES_FLOOR}: a lower "
        f"bound), and {device} has {total / 2**30:.1f} GiB; use a batch size of at most "
        f"{fits} (with accumulate_grad_batches to keep the effective batch) or smaller images"
    )
