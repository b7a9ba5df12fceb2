"""Top-k accuracy: the ``Accuracy`` metric and the ``accuracy`` function (``paddle.metric``)."""

from __future__ import annotations

from typing import Any

import torch

from .base import Metric, _as_tensor, _class_labels

__all__ = ["Accuracy", "accuracy"]


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


def accuracy(
    input: torch.Tensor,
    label: torch.Tensor,
    k: int = 1,
    correct: torch.Tensor | None = None,
    total: torch.Tensor | None = None,
    name: str | None = None,
) -> torch.Tensor:
    """The fraction of samples whose label is among the ``k`` best scores
    (``paddle.metric.accuracy``).

    A label counts when fewer than ``k`` classes score higher than it or tie with it at a
    lower index: ties rank the lower class index first. (Paddle's CPU ``topk`` orders equal
    scores in no documented way, e.g. ``[0.3, 0.3, 0.1]`` puts index 0 first but
    ``[0.3, 0.3, 0.2, 0.1, 0.1]`` index 1; without ties the two agree.)

    Args:
        input: scores [N, C] (any float dtype).
        label: class indices [N, 1] (Paddle's shape) or [N].
        k: how many of the best classes count.
        correct: None, or a tensor that receives this batch's number of hits (written in
            place, as Paddle's output argument; not accumulated).
        total: None, or a tensor that receives the batch size, in place.
        name: Paddle's name; ignored.

    Returns:
        A float32 scalar tensor on ``input``'s device (0 for an empty batch).

    Raises:
        ValueError: wrong shapes, ``k`` outside ``[1, C]`` or a label outside ``[0, C)``.

    Examples:
        >>> pred = torch.tensor([[0.2, 0.1, 0.4, 0.1, 0.1], [0.2, 0.3, 0.1, 0.15, 0.25]])
        >>> label = torch.tensor([[2], [0]])
        >>> accuracy(pred, label, k=1)
        tensor(0.5000)
        >>> correct, total = torch.zeros(1, dtype=torch.int32), torch.zeros(1, dtype=torch.int32)
        >>> accuracy(pred, label, k=3, correct=correct, total=total).item(), correct, total
        (1.0, tensor([2], dtype=torch.int32), tensor([2], dtype=torch.int32))
    """
    input = _as_tensor(input, "input")
    if input.dim() != 2:
        raise ValueError(f"accuracy input must be scores [N, C], got shape {list(input.shape)}")
    n, classes = input.shape
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= classes:
        raise ValueError(f"accuracy k must be an int in [1, {classes}] (the classes), got {k!r}")
    label = _as_tensor(label, "label").to(input.device)
    if label.dim() == 2 and label.shape[1] == 1:
        label = label[:, 0]
    if label.dim() != 1 or label.shape[0] != n:
        raise ValueError(
            f"accuracy label must have shape [{n}, 1] or [{n}], got {list(label.shape)}"
        )
    label = label.long()
    if n and (int(label.min()) < 0 or int(label.max()) >= classes):
        raise ValueError(
            f"accuracy labels must be in [0, {classes}), got {label.unique().tolist()}"
        )
    target = input.gather(1, label[:, None])
    before = torch.arange(classes, device=input.device) < label[:, None]
    rank = (input > target).sum(1) + ((input == target) & before).sum(1)
    hits = (rank < k).sum()
    if correct is not None:
        correct.fill_(hits.to(correct.device))
    if total is not None:
        total.fill_(n)
    return (hits.float() / n) if n else torch.zeros((), device=input.device)
