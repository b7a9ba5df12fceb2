"""The training loop's side of data parallelism: DDP, exact reductions, per-rank checkpoints.

:mod:`resvision.distributed` starts the process group; this module holds what
``fit`` and the loops do with it: the DDP wrapper of the network (:class:`DistributedTraining`),
sums of metric counts and loss totals over the processes (exact distributed evaluation),
agreeing on when to stop, and the per-rank part of checkpoints written inside an epoch. In a
single process every function here returns at once.

Examples:
    >>> agree_to_stop(False, None)  # one process: nothing to agree on
    (False, None)
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from resvision.distributed import (
    all_reduce_numbers,
    communication_device,
    is_distributed,
    rank,
    world_size,
)

_warned_metrics: set[str] = set()


def all_reduce_metrics(metrics: Sequence[Any]) -> None:
    """Sum each metric's accumulators (``state_dict``) over the processes, in place.

    Counts are summed, not values averaged, so the result equals one process seeing every
    sample. A metric without summable state (a Paddle-style metric keeping Python lists) keeps
    this process's value, with a warning.
    """
    if not is_distributed():
        return
    device = communication_device()
    for metric in metrics:
        state = metric.state_dict() if callable(getattr(metric, "state_dict", None)) else {}
        tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
        if not tensors or len(tensors) != len(state):
            name = type(metric).__name__
            if name not in _warned_metrics:
                _warned_metrics.add(name)
                warnings.warn(
                    f"metric {name} has no summable state (resvision.metrics.Metric.add_state), "
                    "so its value covers this process's shard only",
                    stacklevel=3,
                )
            continue
        reduced = {}
        for key, value in tensors.items():
            value = value.to(device)
            torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.SUM)
            reduced[key] = value
        metric.load_state_dict(reduced)


def reduce_evaluation(losses: Any, samples: int, metrics: Sequence[Any]) -> int:
    """Sum an evaluation's loss total, sample count and metric counts over the processes.

    Args:
        losses: The evaluation's ``LossTracker`` (read already); its total and count become
            the sums, so ``losses.mean()`` is the mean over every sample.
        samples: Samples this process evaluated.
        metrics: The metrics, reduced in place (:func:`all_reduce_metrics`).

    Returns:
        The number of samples evaluated by all processes together.
    """
    total, count, n = all_reduce_numbers([losses.total, losses.count, samples])
    losses.total, losses.count = total, round(count)
    all_reduce_metrics(metrics)
    return round(n)


def reduced_train_logs(losses: Any, metrics: Sequence[Any], names: Any) -> dict[str, float]:
    """The epoch's training loss and metrics over all processes, from copies of the metrics.

    The metrics themselves keep this process's counts: a checkpoint written after the epoch
    must hold each process's own, or a resumed run would count the others twice.

    Args:
        losses: The epoch's ``LossTracker`` (read already).
        metrics: The training metrics.
        names: ``metric_values``: turns metrics into ``{name: value}``.
    """
    total, count = all_reduce_numbers([losses.total, losses.count])
    copies = [copy.deepcopy(m) for m in metrics]
    all_reduce_metrics(copies)
    return {"loss": total / count if count else math.nan, **names(copies)}


def agree_to_stop(stop: bool, signum: int | None) -> tuple[bool, int | None]:
    """Share a stop request between the processes, so that all stop at the same step.

    Args:
        stop: This process wants to stop (``model.stop_training``).
        signum: A signal this process received (SIGINT / SIGTERM), or None.

    Returns:
        ``(any process wants to stop, the highest signal number received, or None)``.
    """
    if not is_distributed():
        return stop, signum
    wanted, sig = all_reduce_numbers([float(bool(stop)), float(signum or 0)], op="max")
    return bool(wanted), (int(sig) or None)


def check_same_length(steps: int | None, what: str = "training batches per epoch") -> None:
    """Raise when the processes would run a different number of steps (DDP would hang).

    Raises:
        ValueError: naming the smallest and largest counts.
    """
    if not is_distributed():
        return
    value = -1.0 if steps is None else float(steps)
    low, high = all_reduce_numbers([-value, value], op="max")
    low = -low
    if low != high:
        raise ValueError(
            f"the processes have different numbers of {what} ({int(low)} to {int(high)}); "
            "every process must run the same number of steps: pass a Dataset (resvision shards "
            "it evenly) or a DataLoader with a DistributedSampler and drop_last=True"
        )


def sharded_world_size(loader: Any) -> int:
    """How many processes share ``loader``'s data: 1 unless it holds only this rank's shard.

    resvision's loaders say so with ``world_size``; a ``DataLoader`` with a
    ``DistributedSampler`` with ``num_replicas``.
    """
    world = getattr(loader, "world_size", None)
    if world is None:
        sampler = getattr(loader, "sampler", None)
        world = getattr(sampler, "num_replicas", 1)
    return int(world) if isinstance(world, int) else 1


def gather_rank_states(state: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Collect every process's ``state`` on rank 0 (CPU tensors; None on the other ranks)."""
    if not is_distributed():
        return [state]
    gathered: list[Any] | None = [None] * world_size() if rank() == 0 else None
    torch.distributed.gather_object(state, gathered, dst=0)
    return gathered


def rank_state(state: dict[str, Any]) -> dict[str, Any]:
    """The per-process part of a checkpoint's training state, on the CPU (for gathering).

    Args:
        state: ``capture_training_state``'s dict on this process.

    Returns:
        ``{'metrics', 'grads', 'rng'}``: the epoch's metric counts and loss sum, gradients of
        an unfinished accumulation group (each process has its own until they are all-reduced),
        and the random states.
    """
    grads = state.get("grads")
    if grads is not None:
        grads = [None if g is None else g.detach().cpu() for g in grads]
    return {"metrics": state.get("metrics"), "grads": grads, "rng": state["rng"]}


def own_rank_state(ckpt: dict[str, Any], rank: int, world: int) -> dict[str, Any]:
    """This process's metric counts, gradients and random states in a checkpoint.

    A checkpoint written inside an epoch of a distributed run holds every rank's under
    ``ranks``; otherwise (one process, or the end of an epoch) the top-level ones are used.

    Raises:
        ValueError: the checkpoint stopped inside an epoch of a run with another number of
            processes (its batches cannot be split the same way).
    """
    saved_world = int(ckpt.get("config", {}).get("fit", {}).get("world_size", 1) or 1)
    progress = ckpt["progress"]
    if progress["batch"] > 0 and saved_world != world:
        raise ValueError(
            f"the checkpoint was written inside an epoch (epoch {progress['epoch']}, step "
            f"{progress['batch']}) by a run of {saved_world} process(es); this run has {world}. "
            f"Resume it with {saved_world}, or from a checkpoint written at the end of an epoch "
            "({epoch}.pt)"
        )
    ranks = ckpt.get("ranks")
    if world > 1 and isinstance(ranks, list) and len(ranks) == world and ranks[rank] is not None:
        return ranks[rank]
    return {"metrics": ckpt.get("metrics"), "grads": ckpt.get("grads"), "rng": ckpt["rng"]}


def check_visible_everywhere(path: Any, visible: bool) -> None:
    """Raise on every process when some process cannot see a file all must read.

    Args:
        path: The file (for the message).
        visible: Whether this process sees it.

    Raises:
        FileNotFoundError: naming the ranks that miss it.
    """
    if not is_distributed():
        return
    me = rank()
    flags = all_reduce_numbers([float(not visible and r == me) for r in range(world_size())])
    missing = [r for r, flag in enumerate(flags) if flag]
    if missing:
        raise FileNotFoundError(
            f"{os.fspath(path)!r} is missing on the process(es) of rank "
            f"{', '.join(map(str, missing))}: every process loads the same checkpoint, so it "
            "must be on a file system all nodes see (or be copied to each node)"
        )


class DistributedTraining:
    """The training-side DDP wrapper of a network: call it as the forward pass.

    The ``DistributedDataParallel`` module is (re)built by :meth:`refresh` whenever the set of
    trainable parameters changes (``FreezeBackbone`` unfreezing), since DDP registers the
    parameters that require gradients when it is built.

    Args:
        network: The bare network (on ``device``); it stays the module that is saved.
        device: This process's device (CUDA: ``cuda:<local rank>``).
        compile_options: ``torch.compile`` keyword arguments for the DDP module, or None.
        ddp_options: Extra ``DistributedDataParallel`` keyword arguments.
    """

    def __init__(
        self,
        network: nn.Module,
        device: torch.device,
        *,
        compile_options: dict[str, Any] | None = None,
        ddp_options: dict[str, Any] | None = None,
    ) -> None:
        self.network = network
        self.device = device
        self.compile_options = compile_options
        self.ddp_options = dict(ddp_options or {})
        self.ddp: nn.parallel.DistributedDataParallel | None = None
        self._forward: Callable[..., Any] | None = None
        self._trainable: tuple[int, ...] = ()

    def refresh(self) -> None:
        """Build the DDP module, or rebuild it when other parameters require gradients now."""
        trainable = tuple(i for i, p in enumerate(self.network.parameters()) if p.requires_grad)
        if self.ddp is not None and trainable == self._trainable:
            return
        if not trainable:
            raise ValueError("no parameter of the network requires a gradient: nothing to train")
        cuda = self.device.type == "cuda"
        self.ddp = nn.parallel.DistributedDataParallel(
            self.network,
            device_ids=[self.device.index] if cuda else None,
            output_device=self.device.index if cuda else None,
            **self.ddp_options,
        )
        self._trainable = trainable
        forward: Callable[..., Any] = self.ddp
        if self.compile_options is not None:
            forward = torch.compile(self.ddp, **self.compile_options)
        self._forward = forward

    def __call__(self, *inputs: Any) -> Any:
        if self._forward is None:
            self.refresh()
        assert self._forward is not None
        return self._forward(*inputs)

    def no_sync(self) -> contextlib.AbstractContextManager[None]:
        """Skip the gradient all-reduce (micro-batches before the last of an accumulation group)."""
        if self.ddp is None:
            self.refresh()
        assert self.ddp is not None
        return self.ddp.no_sync()

    def sync_buffers(self) -> None:
        """Give every process rank 0's buffers (BatchNorm running statistics).

        DDP broadcasts them before each training forward, and each process then updates them
        with its own batch: after the last step of an epoch they differ. Evaluation and the
        checkpoint (rank 0's) must see the same ones.
        """
        for buffer in self.network.buffers():
            torch.distributed.broadcast(buffer, src=0)

    def all_reduce_gradients(self) -> None:
        """Average the gradients over the processes by hand (a group that ended under no_sync)."""
        grads = [p.grad for p in self.network.parameters() if p.grad is not None]
        for grad in grads:
            torch.distributed.all_reduce(grad, op=torch.distributed.ReduceOp.SUM)
            grad.div_(world_size())
