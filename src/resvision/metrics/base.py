"""Evaluation metrics with Paddle's protocol: ``compute`` -> ``update`` -> ``accumulate``.

A metric sees each batch twice: ``compute(pred, label)`` turns the network output into
what ``update`` needs (on the device, no host sync), and ``update(*computed)`` adds the
batch to the accumulators and returns the batch value. ``accumulate()`` gives the value
over every sample since ``reset()``.

The accumulators of the built-in metrics are integer count tensors registered with
:meth:`Metric.add_state`. Counts are exact (a last partial batch counts with its true size)
and can be summed across processes: :meth:`Metric.all_reduce` adds them over a
``torch.distributed`` group, :meth:`Metric.merge` adds another metric's counts, and
``state_dict`` / ``load_state_dict`` save them for resume.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from resvision.distributed import communication_device

__all__ = ["Metric"]


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, (np.ndarray, np.generic, list, tuple, int, float)):
        return torch.as_tensor(np.asarray(value))
    raise TypeError(f"{what} must be a torch.Tensor or numpy array, got {type(value).__name__}")


def _reduction_device(group: Any, tensors: Iterable[torch.Tensor]) -> torch.device:
    """The device a collective over ``group`` needs its tensors on.

    NCCL reduces CUDA tensors only: the CUDA device one of ``tensors`` is already on (the
    metric's own GPU, which is the one this process computes on, even when a script never
    called ``torch.cuda.set_device``), else the current CUDA device. Any other backend (gloo,
    MPI, or gloo serving the CPU half of ``'cpu:gloo,cuda:nccl'``) gets the CPU.

    Args:
        group: The process group, or None for the default one.
        tensors: The tensors to reduce (only their ``device`` is read).

    Returns:
        The device to copy the tensors to before the collective.
    """
    if group is None:
        # The default group: the rule fit and evaluate use for their reductions.
        device = communication_device()
    elif torch.distributed.get_backend(group) == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        device = torch.device("cpu")
    if device.type == "cuda":
        for tensor in tensors:
            if tensor.device.type == "cuda":
                return tensor.device
    return device


def _class_labels(label: Any, batch: int, num_classes: int | None = None) -> torch.Tensor:
    """Labels as int64 [N]: from [N], [N, 1], or one-hot / soft labels [N, C] (argmax)."""
    label = _as_tensor(label, "label")
    if label.dim() == 2 and label.shape[1] == 1:
        label = label[:, 0]
    elif label.dim() == 2 and (num_classes is None or label.shape[1] == num_classes):
        label = label.argmax(dim=1)  # one-hot or soft (mixup / label smoothing) labels
    if label.dim() != 1 or label.shape[0] != batch:
        raise ValueError(
            f"label must have shape [{batch}], [{batch}, 1] or [{batch}, num_classes] to match "
            f"the {batch} predictions, got {list(label.shape)}"
        )
    if label.is_floating_point():
        label = label.round()
    return label.long()


class Metric(abc.ABC):
    """Base class of metrics (Paddle's ``paddle.metric.Metric`` protocol).

    Subclasses implement ``name``, ``update``, ``accumulate`` and ``reset``; ``compute``
    is optional pre-processing on tensors. Accumulators registered with :meth:`add_state`
    are sums, so they get ``state_dict``, ``load_state_dict``, :meth:`merge` and
    :meth:`all_reduce` for free.

    Examples:
        >>> import torch
        >>> class MeanAbsError(Metric):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.add_state("abs_sum", torch.zeros((), dtype=torch.float64))
        ...         self.add_state("count", torch.zeros((), dtype=torch.int64))
        ...     def name(self):
        ...         return ["mae"]
        ...     def update(self, pred, label):
        ...         err = (pred - label).abs()
        ...         self._add({"abs_sum": err.sum(), "count": err.numel()})
        ...         return float(err.mean())
        ...     def accumulate(self):
        ...         return float(self.abs_sum / max(int(self.count), 1))
        >>> m = MeanAbsError()
        >>> m.update(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 2.0]))
        0.5
        >>> m.accumulate()
        0.5
    """

    def __init__(self) -> None:
        self._state_defaults: dict[str, torch.Tensor] = {}

    # -- the Paddle protocol -------------------------------------------------------------
    @abc.abstractmethod
    def name(self) -> list[str]:
        """Names of the values ``accumulate`` returns, e.g. ``['acc_top1', 'acc_top5']``."""

    @abc.abstractmethod
    def update(self, *args: Any) -> Any:
        """Add a batch (the outputs of :meth:`compute`) and return the batch value."""

    @abc.abstractmethod
    def accumulate(self) -> Any:
        """The value (or list of values, one per name) over everything since ``reset``."""

    def reset(self) -> None:
        """Zero the accumulators."""
        for key, default in self._states().items():
            setattr(self, key, default.clone())

    def compute(self, pred: Any, label: Any, *args: Any) -> Any:
        """Pre-process network outputs and labels into what :meth:`update` takes.

        The default passes its inputs through unchanged.
        """
        return (pred, label, *args)

    def update_state(self, *args: Any) -> None:
        """Like :meth:`update` without returning the batch value.

        The built-in metrics override it to skip the host synchronisation that reading a
        batch value costs on a GPU; a training loop calls it on steps it does not log.
        """
        self.update(*args)

    # -- accumulators ----------------------------------------------------------------------
    def add_state(self, name: str, default: torch.Tensor) -> None:
        """Register a summable accumulator tensor, reset to ``default``.

        Args:
            name: the attribute name of the accumulator.
            default: its value after ``reset`` (its shape and dtype are kept).
        """
        if not hasattr(self, "_state_defaults"):
            raise RuntimeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before add_state"
            )
        self._state_defaults[name] = default.detach().clone()
        setattr(self, name, default.detach().clone())

    def _states(self) -> dict[str, torch.Tensor]:
        # A Paddle-style subclass may not call super().__init__(): it simply has no states.
        return getattr(self, "_state_defaults", {})

    def _add(self, batch: dict[str, Any], follow: bool = True) -> None:
        """Add batch counts to the accumulators.

        With ``follow`` the accumulators move to the batch's device (once, at the first GPU
        batch), so that adding never synchronises with the host.
        """
        for key, value in batch.items():
            current: torch.Tensor = getattr(self, key)
            value = torch.as_tensor(value)
            if current.device != value.device:
                if follow:
                    current = current.to(value.device)
                else:
                    value = value.to(current.device)
            setattr(self, key, current + value.to(current.dtype))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The accumulators as CPU tensors (an empty dict for a metric without any)."""
        return {k: getattr(self, k).detach().cpu().clone() for k in self._states()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore accumulators saved by :meth:`state_dict`.

        Raises:
            KeyError: when ``state`` lacks an accumulator or has an unknown one.
            ValueError: when a shape does not match.
        """
        defaults = self._states()
        expected, given = set(defaults), set(state)
        if expected != given:
            raise KeyError(
                f"{type(self).__name__} state has keys {sorted(given)}, expected {sorted(expected)}"
            )
        for key, value in state.items():
            value = torch.as_tensor(value)
            default = defaults[key]
            if value.shape != default.shape:
                raise ValueError(
                    f"{type(self).__name__} state {key!r} has shape {list(value.shape)}, "
                    f"expected {list(default.shape)}"
                )
            device = getattr(self, key).device
            setattr(self, key, value.to(device=device, dtype=default.dtype).clone())

    def merge(self, other: Metric) -> None:
        """Add the accumulators of ``other`` (same class and configuration) to this one."""
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        mine, theirs = self.state_dict(), other.state_dict()
        for key, value in theirs.items():
            if value.shape != mine[key].shape:
                raise ValueError(
                    f"cannot merge {key!r}: shape {list(value.shape)} != {list(mine[key].shape)}"
                )
        self._add(theirs, follow=False)

    def all_reduce(self, group: Any = None) -> None:
        """Sum the accumulators over the processes of a ``torch.distributed`` group, in place.

        Each accumulator is copied to the device the group's backend reduces on (a GPU for
        NCCL, the CPU for gloo), summed in its own dtype (int64 counts stay exact), and put
        back on the device it was on. So a count still on the CPU (added from Python ints)
        works under NCCL, and accumulators on the GPU stay there. The metric changes only
        once every accumulator is reduced.

        A no-op when ``torch.distributed`` is not initialised, the metric has no accumulators,
        or the group has a single process (or this process is not in it).

        Args:
            group: The process group; None (default) for the whole job.

        Raises:
            RuntimeError: what ``torch.distributed.all_reduce`` raises (a peer that died, a
                collective timeout).
        """
        dist = torch.distributed
        states = self._states()
        if not states or not (dist.is_available() and dist.is_initialized()):
            return
        if dist.get_world_size(group) <= 1:  # a sum over one process is itself
            return
        current = {key: getattr(self, key) for key in states}
        device = _reduction_device(group, current.values())
        reduced = {}
        for key, value in current.items():
            # A copy: the collective writes into it, never into the metric's own tensor.
            tensor = value.detach().to(device, copy=True).contiguous()
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=group)
            reduced[key] = tensor
        for key, tensor in reduced.items():
            setattr(self, key, tensor.to(current[key].device))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name()!r})"
