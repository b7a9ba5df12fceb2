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

from resvision.engine.distributed import communication_device

__all__ = ["Accuracy", "ConfusionMatrix", "Metric", "Precision", "Recall"]


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


class Accuracy(Metric):
    """Top-k classification accuracy (``paddle.metric.Accuracy``).

    Args:
        topk: an int or a tuple of ints, the k values to report. When ``topk`` has k > the
            number of classes, every prediction counts as a hit for that k.
        name: base name, default ``'acc'``. Names are ``[name]`` for ``topk=(1,)`` and
            ``['{name}_top{k}', ...]`` otherwise, as Paddle.

    Examples:
        >>> import torch
        >>> pred = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.1, 0.4, 0.3, 0.2],
        ...                      [0.1, 0.2, 0.4, 0.3], [0.1, 0.2, 0.3, 0.4]])
        >>> label = torch.tensor([[0], [1], [2], [3]])
        >>> m = Accuracy()
        >>> m.update(m.compute(pred, label))
        0.75
        >>> m = Accuracy(topk=(1, 2))
        >>> m.name()
        ['acc_top1', 'acc_top2']
        >>> m.update(m.compute(pred, label))
        [0.75, 0.75]
    """

    def __init__(self, topk: int | tuple[int, ...] = (1,), name: str | None = None) -> None:
        super().__init__()
        topk = (topk,) if isinstance(topk, int) else tuple(topk)
        if not topk or not all(
            isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in topk
        ):
            raise ValueError(f"topk must be a positive int or a tuple of them, got {topk!r}")
        self.topk = topk
        self.maxk = max(topk)
        base = name or "acc"
        self._names = [base] if self.maxk == 1 else [f"{base}_top{k}" for k in topk]
        self.add_state("correct", torch.zeros(len(topk), dtype=torch.int64))
        self.add_state("count", torch.zeros((), dtype=torch.int64))

    def name(self) -> list[str]:
        return list(self._names)

    def compute(self, pred: Any, label: Any, *args: Any) -> torch.Tensor:
        """Hits of the ``maxk`` best classes.

        Args:
            pred: scores [N, C] (logits or probabilities).
            label: class indices [N] or [N, 1], or one-hot / soft labels [N, C].

        Returns:
            A bool tensor [N, min(maxk, C)]: column j tells whether the j-th best class is
            the label.
        """
        pred = _as_tensor(pred, "pred")
        if pred.dim() != 2:
            raise ValueError(
                f"Accuracy expects pred of shape [N, num_classes], got {list(pred.shape)}"
            )
        label = _class_labels(label, pred.shape[0], pred.shape[1]).to(pred.device)
        k = min(self.maxk, pred.shape[1])
        top = pred.topk(k, dim=1).indices
        return top == label.unsqueeze(1)

    def _batch(self, correct: Any) -> tuple[torch.Tensor, int]:
        correct = _as_tensor(correct, "correct")
        if correct.dim() != 2:
            raise ValueError(
                f"Accuracy.update expects the [N, k] hit matrix from compute(), got shape "
                f"{list(correct.shape)}"
            )
        hits = (correct != 0).to(torch.int64).cumsum(dim=1)  # row i, col j: hit within top j+1
        width = hits.shape[1]
        columns = [min(k, width) - 1 for k in self.topk]
        if width == 0:
            return torch.zeros(len(self.topk), dtype=torch.int64), correct.shape[0]
        return hits[:, columns].sum(dim=0), correct.shape[0]

    def update_state(self, correct: Any, *args: Any) -> None:
        batch_correct, n = self._batch(correct)
        self._add({"correct": batch_correct, "count": n})

    def update(self, correct: Any, *args: Any) -> float | list[float]:
        """Add the hit matrix of a batch; return its accuracy (a list for several k)."""
        batch_correct, n = self._batch(correct)
        self._add({"correct": batch_correct, "count": n})
        accs = [c / n if n else 0.0 for c in batch_correct.tolist()]
        return accs[0] if len(accs) == 1 else accs

    def accumulate(self) -> float | list[float]:
        n = int(self.count)
        accs = [c / n if n else 0.0 for c in self.correct.tolist()]
        return accs[0] if len(accs) == 1 else accs


class ConfusionMatrix(Metric):
    """Confusion matrix over ``num_classes`` classes, with per-class accuracy.

    ``accumulate()`` returns the mean per-class accuracy (balanced accuracy) over the classes
    that have samples; :meth:`matrix` gives the counts (row: true class, column: predicted)
    and :meth:`per_class_accuracy` the recall of each class.

    Args:
        num_classes: the number of classes.
        name: the reported name, default ``'mean_class_acc'``.

    Examples:
        >>> import torch
        >>> m = ConfusionMatrix(3)
        >>> pred = torch.tensor([[9.0, 0, 0], [0, 9.0, 0], [9.0, 0, 0], [0, 0, 9.0]])
        >>> m.update(*m.compute(pred, torch.tensor([0, 1, 1, 2])))
        0.75
        >>> m.matrix().tolist()
        [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
        >>> m.per_class_accuracy()
        [1.0, 0.5, 1.0]
        >>> round(m.accumulate(), 4)
        0.8333
    """

    def __init__(self, num_classes: int, name: str = "mean_class_acc") -> None:
        super().__init__()
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        self.num_classes = num_classes
        self._name = name
        self.add_state("confusion", torch.zeros(num_classes, num_classes, dtype=torch.int64))

    def name(self) -> list[str]:
        return [self._name]

    def compute(self, pred: Any, label: Any, *args: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted class (argmax of [N, C] scores) and true class, both int64 [N]."""
        pred = _as_tensor(pred, "pred")
        if pred.dim() != 2 or pred.shape[1] != self.num_classes:
            raise ValueError(
                f"{type(self).__name__} expects pred of shape [N, {self.num_classes}], "
                f"got {list(pred.shape)}"
            )
        label = _class_labels(label, pred.shape[0], self.num_classes).to(pred.device)
        return pred.argmax(dim=1), label

    def _counts(self, pred_class: Any, label: Any) -> torch.Tensor:
        pred_class = _as_tensor(pred_class, "pred").long().reshape(-1)
        label = _as_tensor(label, "label").long().reshape(-1).to(pred_class.device)
        if pred_class.shape != label.shape:
            raise ValueError(
                f"predicted classes {list(pred_class.shape)} and labels {list(label.shape)} differ"
            )
        c = self.num_classes
        both = torch.cat([pred_class, label])
        if both.numel() and (int(both.min()) < 0 or int(both.max()) >= c):
            bad = both[(both < 0) | (both >= c)].unique().tolist()
            raise ValueError(f"class indices {bad} are outside [0, {c}) for num_classes={c}")
        flat = torch.bincount(label * c + pred_class, minlength=c * c)
        return flat.reshape(c, c)

    def update_state(self, pred_class: Any, label: Any, *args: Any) -> None:
        self._add({"confusion": self._counts(pred_class, label)})

    def update(self, pred_class: Any, label: Any, *args: Any) -> float:
        """Add a batch of (predicted class, true class); return the batch's plain accuracy."""
        counts = self._counts(pred_class, label)
        self._add({"confusion": counts})
        n = int(counts.sum())
        return int(counts.diagonal().sum()) / n if n else 0.0

    def matrix(self) -> torch.Tensor:
        """Counts [C, C] on the CPU: ``matrix()[t, p]`` samples of class t predicted as p."""
        return self.confusion.detach().cpu().clone()

    def per_class_accuracy(self) -> list[float]:
        """Recall of each class; ``nan`` for a class without samples."""
        m = self.matrix()
        support = m.sum(dim=1).tolist()
        return [d / s if s else float("nan") for d, s in zip(m.diagonal().tolist(), support)]

    def accumulate(self) -> float:
        present = [a for a in self.per_class_accuracy() if a == a]  # drop nan
        return sum(present) / len(present) if present else 0.0

    def table(self, class_names: list[str] | None = None) -> str:
        """The matrix and per-class accuracy as aligned text, one row per true class."""
        names = (
            list(class_names)
            if class_names is not None
            else [str(i) for i in range(self.num_classes)]
        )
        if len(names) != self.num_classes:
            raise ValueError(f"got {len(names)} class names for {self.num_classes} classes")
        m, accs = self.matrix().tolist(), self.per_class_accuracy()
        width = max(6, *(len(n) for n in names), *(len(str(v)) for row in m for v in row))
        lines = [" " * width + " " + " ".join(n[:width].rjust(width) for n in names) + "    acc"]
        for name, row, acc in zip(names, m, accs):
            cells = " ".join(str(v).rjust(width) for v in row)
            lines.append(f"{name[:width].rjust(width)} {cells} {acc:6.3f}")
        return "\n".join(lines)


def _binary_pred_label(preds: Any, labels: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    preds = _as_tensor(preds, "preds")
    labels = _as_tensor(labels, "labels")
    if preds.dim() == 2 and preds.shape[1] == 1:
        preds = preds[:, 0]
    if labels.dim() == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if preds.dim() != 1:
        raise ValueError(
            f"{what}() without num_classes is binary: it expects positive-class probabilities "
            f"of shape [N] or [N, 1], got {list(preds.shape)}; pass num_classes=C for [N, C] "
            "class scores"
        )
    if labels.shape != preds.shape:
        raise ValueError(f"labels {list(labels.shape)} must match preds {list(preds.shape)}")
    # Paddle rounds the probability: floor(p + 0.5) == 1, i.e. p >= 0.5 is a positive.
    return preds >= 0.5, (labels.to(preds.device) == 1)


class _PrecisionRecall(Metric):
    """Shared code: binary counts (Paddle) or a confusion matrix (macro over classes)."""

    _default_name = ""

    def __init__(self, name: str | None = None, num_classes: int | None = None) -> None:
        super().__init__()
        self._name = name or self._default_name
        self.num_classes = num_classes
        if num_classes is None:
            self.add_state("tp", torch.zeros((), dtype=torch.int64))
            self.add_state("other", torch.zeros((), dtype=torch.int64))  # fp or fn
        else:
            self._matrix = ConfusionMatrix(num_classes)  # validates num_classes
            self.add_state("confusion", torch.zeros(num_classes, num_classes, dtype=torch.int64))

    def name(self) -> list[str]:
        return [self._name]

    def compute(self, pred: Any, label: Any, *args: Any) -> Any:
        if self.num_classes is None:
            return (pred, label)
        return self._matrix.compute(pred, label)

    def _binary_counts(self, pos_pred: torch.Tensor, pos_label: torch.Tensor) -> dict[str, Any]:
        raise NotImplementedError

    def _batch(self, preds: Any, labels: Any) -> dict[str, Any]:
        if self.num_classes is None:
            return self._binary_counts(*_binary_pred_label(preds, labels, type(self).__name__))
        return {"confusion": self._matrix._counts(preds, labels)}

    def update_state(self, preds: Any, labels: Any, *args: Any) -> None:
        self._add(self._batch(preds, labels))

    def update(self, preds: Any, labels: Any, *args: Any) -> float:
        """Add a batch; return the metric over this batch alone."""
        batch = self._batch(preds, labels)
        self._add(batch)
        return self._value(batch)

    def accumulate(self) -> float:
        return self._value({k: getattr(self, k) for k in self._states()})

    def _value(self, counts: dict[str, Any]) -> float:
        if self.num_classes is None:
            tp, other = int(counts["tp"]), int(counts["other"])
            return tp / (tp + other) if tp + other else 0.0
        values = self._per_class(torch.as_tensor(counts["confusion"]).cpu())
        present = [v for v in values if v is not None]
        return sum(present) / len(present) if present else 0.0

    def per_class(self) -> list[float | None]:
        """Per-class values (multiclass mode); None for a class absent from labels and predictions."""
        if self.num_classes is None:
            raise RuntimeError(f"{type(self).__name__}.per_class needs num_classes")
        return self._per_class(self.confusion.cpu())

    def _per_class(self, m: torch.Tensor) -> list[float | None]:
        raise NotImplementedError


class Precision(_PrecisionRecall):
    """Precision: true positives over predicted positives (``paddle.metric.Precision``).

    Without ``num_classes`` it is Paddle's binary metric: ``preds`` are positive-class
    probabilities [N] or [N, 1], a probability >= 0.5 is a positive prediction and a label
    of 1 is a positive. With ``num_classes=C`` it takes [N, C] scores (argmax) and returns
    the macro average over the classes that occur in the labels or the predictions; a class
    that is never predicted has precision 0 there (scikit-learn's ``average='macro'``).

    Args:
        name: the reported name, default ``'precision'``.
        num_classes: None for binary, or the number of classes for macro averaging.

    Examples:
        >>> import numpy as np
        >>> m = Precision()
        >>> m.update(np.array([0.1, 0.5, 0.6, 0.7]), np.array([0, 1, 1, 1]))
        1.0
        >>> m = Precision(num_classes=3)
        >>> import torch
        >>> pred = torch.tensor([[9.0, 0, 0], [9.0, 0, 0], [0, 9.0, 0], [0, 0, 9.0]])
        >>> m.update(*m.compute(pred, torch.tensor([0, 1, 1, 2])))  # (1/2 + 1 + 1) / 3
        0.8333333333333334
    """

    _default_name = "precision"

    def _binary_counts(self, pos_pred: torch.Tensor, pos_label: torch.Tensor) -> dict[str, Any]:
        return {"tp": (pos_pred & pos_label).sum(), "other": (pos_pred & ~pos_label).sum()}

    def _per_class(self, m: torch.Tensor) -> list[float | None]:
        tp, predicted, support = m.diagonal().tolist(), m.sum(0).tolist(), m.sum(1).tolist()
        return [
            (t / p if p else 0.0) if (p or s) else None for t, p, s in zip(tp, predicted, support)
        ]


class Recall(_PrecisionRecall):
    """Recall: true positives over actual positives (``paddle.metric.Recall``).

    Binary by default, as Paddle (see :class:`Precision` for the input format); with
    ``num_classes=C`` the macro average of per-class recall over the classes that occur in
    the labels or the predictions (a class only ever predicted, never true, has recall 0).

    Args:
        name: the reported name, default ``'recall'``.
        num_classes: None for binary, or the number of classes for macro averaging.

    Examples:
        >>> import numpy as np
        >>> m = Recall()
        >>> round(m.update(np.array([0.1, 0.5, 0.6, 0.7]), np.array([1, 0, 1, 1])), 4)
        0.6667
    """

    _default_name = "recall"

    def _binary_counts(self, pos_pred: torch.Tensor, pos_label: torch.Tensor) -> dict[str, Any]:
        return {"tp": (pos_pred & pos_label).sum(), "other": (~pos_pred & pos_label).sum()}

    def _per_class(self, m: torch.Tensor) -> list[float | None]:
        tp, predicted, support = m.diagonal().tolist(), m.sum(0).tolist(), m.sum(1).tolist()
        return [
            (t / s if s else 0.0) if (p or s) else None for t, p, s in zip(tp, predicted, support)
        ]
