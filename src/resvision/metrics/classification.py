"""Confusion matrix, precision and recall (``paddle.metric.Precision`` / ``Recall``)."""

from __future__ import annotations

from typing import Any

import torch

from .base import Metric, _as_tensor, _class_labels

__all__ = ["ConfusionMatrix", "Precision", "Recall"]


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
