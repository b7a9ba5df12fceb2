"""Out of memory: recognising the allocator's errors and finding a batch size that fits.

When a batch does not fit, the raw error is an allocator trace (``torch.OutOfMemoryError`` on
CUDA, ``RuntimeError: DefaultCPUAllocator: can't allocate memory`` on CPU, ``MPS backend out
of memory`` on Apple GPUs). The loops turn it into :class:`BatchTooLargeError`, whose message
gives a batch size that was *tried* and fits: the failing batch is cut to halves, quarters, ...
and run again (forward, plus backward when training) until one goes through.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable

import torch

# Allocator messages of the devices PyTorch supports (the CPU and MPS ones are RuntimeErrors).
_OOM_MARKERS = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "failed to allocate",
)


class BatchTooLargeError(MemoryError):
    """A batch did not fit in the device's memory.

    Attributes:
        batch_size: The size of the batch that failed.
        suggested: The largest size tried that fits (a power-of-two fraction of
            ``batch_size``), or None when even one sample does not fit (or nothing was tried:
            under torchrun a process cannot retry alone).
        device: The device.
        phase: ``'training'``, ``'evaluation'`` or ``'prediction'``.
    """

    def __init__(
        self,
        batch_size: int,
        suggested: int | None,
        device: torch.device,
        phase: str,
        detail: str,
        tried: bool = True,
    ) -> None:
        self.batch_size, self.suggested, self.device, self.phase = (
            batch_size,
            suggested,
            device,
            phase,
        )
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
        super().__init__(
            f"out of memory on {device} during {phase} with a batch of {batch_size} ({detail}); "
            f"{advice}"
        )


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is a device allocator's out-of-memory error.

    Examples:
        >>> is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried"))
        True
        >>> is_out_of_memory(RuntimeError("shape mismatch"))
        False
    """
    if isinstance(err, torch.OutOfMemoryError):
        return True
    if not isinstance(err, RuntimeError):
        return False
    text = str(err).lower()
    return any(marker in text for marker in _OOM_MARKERS)


def short_reason(err: BaseException) -> str:
    """The first sentence of an allocator message, without c10's ``[enforce fail at ...]``
    prefix and the long advice that follows.

    Examples:
        >>> short_reason(RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. "
        ...     "DefaultCPUAllocator: can't allocate memory: you tried to allocate 64 bytes. Error"))
        "DefaultCPUAllocator: can't allocate memory: you tried to allocate 64 bytes"
    """
    text = " ".join(str(err).split())
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
        except RuntimeError as err:  # torch.OutOfMemoryError is a RuntimeError
            if not is_out_of_memory(err):
                raise
            failed = True  # decided outside the handler, so the failed try's memory is freed
        if not failed:
            return size
        size //= 2
    return None


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
