"""Data-parallel training on PyTorch's own distributed engine (``torchrun`` + DDP).

``Model.fit`` notices a ``torchrun`` launch by itself (the ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` environment variables) and then:

* starts the process group: NCCL when the model is on a GPU (each process on the GPU of its
  local rank, ``torch.cuda.set_device`` before the group starts), gloo on CPU; collectives time
  out after ``RESVISION_DIST_TIMEOUT`` seconds (default 1800), so a peer that is gone cannot
  block the others forever;
* shards the data: each process loads a disjoint part of every epoch (same order on every rank,
  a new one each epoch through ``set_epoch``); evaluation shards cover every sample exactly once;
* wraps the network in ``DistributedDataParallel`` for the training steps (``no_sync`` for the
  micro-batches of a gradient-accumulation group) and evaluates with the bare network, whose
  forward pass needs no collective, so shards of unequal length are fine;
* sums the metrics' counts and the loss totals over the processes: distributed evaluation gives
  exactly the single-process numbers;
* lets rank 0 alone print and write files; a checkpoint written inside an epoch also holds each
  rank's own accumulators and random states, and every rank resumes from rank 0's file.

This module starts and describes the process group; :mod:`resvision.engine.data_parallel`
holds what the training loop does with it (the DDP wrapper, the reductions, the per-rank
checkpoint states). None of them does anything in a single process.

Examples:
    >>> world_size(), rank(), is_distributed()
    (1, 0, False)
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import math
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

#: Seconds a collective may wait for the other processes before it fails.
DEFAULT_TIMEOUT_S = 1800.0
TIMEOUT_ENV = "RESVISION_DIST_TIMEOUT"


@dataclass(frozen=True)
class ProcessInfo:
    """Where this process stands in a distributed job.

    Attributes:
        rank: Global rank, 0 .. world_size - 1.
        world_size: Number of processes.
        local_rank: Rank on this machine (the GPU index it uses).
        local_world_size: Processes on this machine.
    """

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int


def _env_int(name: str, default: int | None = None) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None
    if number < 0:
        raise ValueError(f"environment variable {name} must be >= 0, got {value!r}")
    return number


def launch_environment() -> ProcessInfo | None:
    """The rank, world size and local rank ``torchrun`` gave this process, or None.

    Returns:
        A :class:`ProcessInfo` when ``WORLD_SIZE`` is set (``torchrun``, or any launcher
        that follows its environment convention), else None.

    Raises:
        ValueError: a variable is not a non-negative integer, or ``RANK`` / ``LOCAL_RANK``
            is out of range.

    Examples:
        >>> launch_environment() is None  # not started by torchrun
        True
    """
    world = _env_int("WORLD_SIZE")
    if world is None:
        return None
    if world < 1:
        raise ValueError(f"environment variable WORLD_SIZE must be >= 1, got {world}")
    global_rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", global_rank)
    local_world = _env_int("LOCAL_WORLD_SIZE", world)
    assert global_rank is not None and local_rank is not None and local_world is not None
    if global_rank >= world:
        raise ValueError(f"RANK={global_rank} is not below WORLD_SIZE={world}")
    if local_rank >= max(local_world, 1):
        raise ValueError(f"LOCAL_RANK={local_rank} is not below LOCAL_WORLD_SIZE={local_world}")
    return ProcessInfo(global_rank, world, local_rank, local_world)


def is_distributed() -> bool:
    """True when a process group of more than one process is running."""
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's global rank (0 without a process group)."""
    return torch.distributed.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return torch.distributed.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on the process that prints and writes files: rank 0, or the only process.

    Before the process group starts (early in ``fit``), ``RANK`` from the launcher decides.

    Examples:
        >>> is_main_process()
        True
    """
    if is_distributed():
        return rank() == 0
    info = launch_environment()
    return info is None or info.rank == 0


def select_local_device() -> None:
    """Under ``torchrun`` with GPUs, make ``cuda`` mean this process's GPU (``LOCAL_RANK``).

    Called before a device is chosen, so that ``device=None`` / ``'cuda'`` resolve to
    ``cuda:<local rank>`` and every process trains on its own GPU.

    Raises:
        ValueError: more processes on this machine than GPUs.
    """
    info = launch_environment()
    if info is None or info.world_size == 1 or not torch.cuda.is_available():
        return
    count = torch.cuda.device_count()
    if info.local_rank >= count:
        raise ValueError(
            f"local rank {info.local_rank} has no GPU: this machine has {count}; start at most "
            f"{count} processes per node (torchrun --nproc_per_node {count}) or use device='cpu'"
        )
    torch.cuda.set_device(info.local_rank)


def _timeout(seconds: float | None) -> datetime.timedelta:
    if seconds is None:
        text = os.environ.get(TIMEOUT_ENV)
        try:
            seconds = float(text) if text else DEFAULT_TIMEOUT_S
        except ValueError:
            raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            f"the collective timeout must be a positive number of seconds, got {seconds}"
        )
    return datetime.timedelta(seconds=seconds)


def init_distributed(
    device: torch.device | str | None = None,
    *,
    backend: str | None = None,
    timeout: float | None = None,
) -> ProcessInfo | None:
    """Start the process group of a ``torchrun`` job, once; a no-op otherwise.

    Args:
        device: The device this process trains on: NCCL for CUDA (the device must be
            ``cuda:<local rank>``), gloo for anything else.
        backend: Force a backend (``'nccl'``, ``'gloo'``).
        timeout: Seconds a collective waits for the other processes before failing
            (default ``$RESVISION_DIST_TIMEOUT`` or 1800). With NCCL, asynchronous error
            handling is switched on so that a timed-out process really stops.

    Returns:
        This process's :class:`ProcessInfo`, or None when not started by a launcher with
        more than one process.

    Raises:
        ValueError: a CUDA device other than the local rank's, or bad environment variables.

    Examples:
        >>> init_distributed("cpu") is None  # a plain single process
        True
    """
    dist = torch.distributed
    info = launch_environment()
    if dist.is_available() and dist.is_initialized():
        local = info.local_rank if info is not None else 0
        local_world = info.local_world_size if info is not None else 1
        return ProcessInfo(dist.get_rank(), dist.get_world_size(), local, local_world)
    if info is None or info.world_size == 1:
        return None
    if not dist.is_available():
        raise RuntimeError(
            "this PyTorch build has no torch.distributed; it cannot run under torchrun"
        )
    device = torch.device(device) if device is not None else torch.device("cpu")
    backend = backend or ("nccl" if device.type == "cuda" else "gloo")
    device_id = None
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index != info.local_rank:
            raise ValueError(
                f"under torchrun each process uses the GPU of its local rank, but local rank "
                f"{info.local_rank} was given device cuda:{index}; pass device=None or 'cuda'"
            )
        torch.cuda.set_device(index)  # before the group starts: NCCL binds to it
        device_id = torch.device("cuda", index)
    if backend == "nccl":
        # Without it a collective that timed out only logs, and the process hangs on.
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
    dist.init_process_group(
        backend,
        timeout=_timeout(timeout),
        rank=info.rank,
        world_size=info.world_size,
        device_id=device_id if backend == "nccl" else None,
    )
    atexit.register(_shutdown)
    return info


def _shutdown() -> None:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        with contextlib.suppress(Exception):  # at exit, a peer may be gone already
            dist.destroy_process_group()


def abandon(status: int = 1) -> None:
    """Exit at once after a peer failure, without tearing down the broken process group.

    Destroying a gloo or NCCL group whose peers are gone can block or abort (SIGABRT) in C++
    destructors; the launcher stops the job anyway. Output streams are flushed first.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def communication_device() -> torch.device:
    """Where tensors for collectives must live: this process's GPU with NCCL, else the CPU."""
    dist = torch.distributed
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait until every process arrives here (a no-op in a single process)."""
    if not is_distributed():
        return
    dist = torch.distributed
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Run the block on each machine's first process, then on the others (downloads, caches).

    The first process of every machine (local rank 0) runs the block while the others wait;
    then they run it and find its files. One barrier, on every process.

    Examples:
        >>> with main_process_first():
        ...     print("local rank 0 downloads, the others then find the files")
        local rank 0 downloads, the others then find the files
    """
    if not is_distributed():
        yield
        return
    info = launch_environment()
    first = (info.local_rank if info is not None else rank()) == 0
    if not first:
        barrier()
    yield
    if first:
        barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every process (picklable objects; returned as it is alone).

    Examples:
        >>> broadcast_object({"seed": 3})
        {'seed': 3}
    """
    if not is_distributed():
        return obj
    holder = [obj]
    torch.distributed.broadcast_object_list(holder, src=src, device=communication_device())
    return holder[0]


def all_gather_object(obj: Any) -> list[Any]:
    """Every process's ``obj``, in rank order (picklable objects; ``[obj]`` alone).

    Examples:
        >>> all_gather_object({"rows": 3})
        [{'rows': 3}]
    """
    if not is_distributed():
        return [obj]
    gathered: list[Any] = [None] * world_size()
    torch.distributed.all_gather_object(gathered, obj)
    return gathered


def all_reduce_numbers(values: Sequence[float], op: str = "sum") -> list[float]:
    """Sum (or ``'max'`` / ``'min'``) numbers element-wise over the processes, in float64.

    Examples:
        >>> all_reduce_numbers([1.5, 2.0])
        [1.5, 2.0]
    """
    if not is_distributed():
        return [float(v) for v in values]
    ops = {
        "sum": torch.distributed.ReduceOp.SUM,
        "max": torch.distributed.ReduceOp.MAX,
        "min": torch.distributed.ReduceOp.MIN,
    }
    if op not in ops:
        raise ValueError(f"op must be one of {sorted(ops)}, got {op!r}")
    tensor = torch.tensor(
        [float(v) for v in values], dtype=torch.float64, device=communication_device()
    )
    torch.distributed.all_reduce(tensor, op=ops[op])
    return tensor.cpu().tolist()


#: What gloo and NCCL say when a peer process died or stopped answering.
_PEER_FAILURE_MARKERS = (
    "Connection closed by peer",
    "Connection reset by peer",
    "Broken pipe",
    "Timed out",
    "timed out",
    "NCCL communicator was aborted",
    "NCCL error",
)


def is_peer_failure(err: BaseException) -> bool:
    """True when ``err`` is a collective failing because another process died or hung.

    Examples:
        >>> is_peer_failure(RuntimeError("pair.cc:553] Connection closed by peer [127.0.0.1]"))
        True
        >>> is_peer_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
        False
    """
    dist_error = getattr(torch.distributed, "DistError", None)
    if dist_error is not None and isinstance(err, dist_error):
        return True
    text = str(err)
    return any(marker in text for marker in _PEER_FAILURE_MARKERS)
