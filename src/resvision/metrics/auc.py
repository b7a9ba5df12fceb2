"""Area under the ROC or precision-recall curve (``paddle.metric.Auc``), from bucketed counts."""

from __future__ import annotations

from typing import Any

import torch

from .base import Metric, _as_tensor

__all__ = ["Auc"]


class Auc(Metric):
    """Area under the ROC curve (or the precision-recall curve) of a binary classifier.

    As Paddle's, each prediction falls into one of ``num_thresholds + 1`` buckets,
    ``int(p * num_thresholds)`` of its positive-class probability ``p`` (computed in the
    prediction's dtype, so the buckets are Paddle's), and the counts of positives and negatives
    per bucket are the state. ``accumulate()`` walks the buckets from the highest probability
    down: ROC adds a trapezoid per bucket under (false positive rate, true positive rate) and
    equals Paddle's value exactly (the sums are of half-integers, exact in float64).

    ``curve='PR'`` gives the area under the precision-recall curve as the sum, over the
    buckets from the highest probability down, of the recall gained in the bucket times the
    precision at it: ``sum_i (R_i - R_{i-1}) * P_i`` (the "height of the precision values by
    the recall" of Paddle's documentation; it is the average precision of scikit-learn's
    ``average_precision_score`` when every score has its own bucket). Paddle 3.3's ``Auc``
    documents ``'PR'`` but returns the ROC area for it ("only implement the ROC curve type via
    Python now"); here ``'PR'`` is the PR area.

    Args:
        curve: ``'ROC'`` or ``'PR'``.
        num_thresholds: the number of thresholds (buckets - 1); more is finer.
        name: the reported name.

    Raises:
        ValueError: an unknown ``curve`` or a ``num_thresholds`` < 1.
        TypeError: extra arguments (Paddle's ``*args, **kwargs`` go to a base class that
            takes none).

    ``update(preds, labels)`` takes ``preds`` of shape [N, 2] (class probabilities, Paddle's
    form: column 1 is used) or [N] / [N, 1] (the positive-class probability), and ``labels``
    of shape [N] or [N, 1] (nonzero is positive). Probabilities must lie in [0, 1]: apply a
    softmax (or sigmoid) to logits first. It returns the AUC of the batch alone.

    Examples:
        >>> import numpy as np
        >>> m = Auc()
        >>> p = np.array([0.1, 0.4, 0.35, 0.8])
        >>> preds = np.stack([1 - p, p], axis=1)
        >>> m.update(preds, np.array([[0], [0], [1], [1]]))
        0.75
        >>> m.accumulate(), m.name()
        (0.75, ['auc'])
        >>> pr = Auc(curve='PR', num_thresholds=10)
        >>> _ = pr.update(p, np.array([0, 0, 1, 1]))
        >>> round(pr.accumulate(), 4)  # recall 0.5 at precision 1, then 0.5 more at 2/3
        0.8333
    """

    def __init__(
        self,
        curve: str = "ROC",
        num_thresholds: int = 4095,
        name: str = "auc",
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if args or kwargs:
            raise TypeError(
                f"Auc takes curve, num_thresholds and name; got extra arguments "
                f"{list(args) + sorted(kwargs)}"
            )
        super().__init__()
        if curve not in ("ROC", "PR"):
            raise ValueError(f"Auc curve must be 'ROC' or 'PR', got {curve!r}")
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int):
            raise ValueError(f"num_thresholds must be an int >= 1, got {num_thresholds!r}")
        if num_thresholds < 1:
            raise ValueError(f"num_thresholds must be an int >= 1, got {num_thresholds!r}")
        self._curve = curve
        self._num_thresholds = num_thresholds
        self._name = name
        buckets = torch.zeros(num_thresholds + 1, dtype=torch.int64)
        self.add_state("stat_pos", buckets)
        self.add_state("stat_neg", buckets)

    def name(self) -> list[str]:
        return [self._name]

    def _counts(self, preds: Any, labels: Any) -> dict[str, torch.Tensor]:
        preds = _as_tensor(preds, "preds")
        labels = _as_tensor(labels, "labels")
        if preds.dim() == 2 and preds.shape[1] == 2:
            prob = preds[:, 1]
        elif preds.dim() == 1 or (preds.dim() == 2 and preds.shape[1] == 1):
            prob = preds.reshape(-1)
        else:
            raise ValueError(
                "Auc preds must be class probabilities [N, 2] or positive-class probabilities "
                f"[N] / [N, 1], got shape {list(preds.shape)}"
            )
        labels = labels.reshape(-1) if labels.dim() == 2 and labels.shape[1] == 1 else labels
        if labels.dim() != 1 or labels.shape[0] != prob.shape[0]:
            raise ValueError(
                f"Auc labels must have shape [{prob.shape[0]}] or [{prob.shape[0]}, 1] to match "
                f"the predictions, got {list(labels.shape)}"
            )
        if not prob.is_floating_point():
            prob = prob.double()
        n = self._num_thresholds
        # Paddle's bucket: int(p * num_thresholds), the product in the prediction's dtype.
        scaled = prob * n
        bad = torch.isnan(scaled) | (scaled < 0) | (scaled >= n + 1)
        if bool(bad.any()):
            raise ValueError(
                f"Auc preds must be probabilities in [0, 1], got {prob[bad][:5].tolist()}: "
                "apply softmax (or sigmoid) to the network's logits first"
            )
        bucket = scaled.to(torch.int64)  # truncation toward zero, as int()
        positive = (labels != 0).to(bucket.device)
        return {
            "stat_pos": torch.bincount(bucket[positive], minlength=n + 1),
            "stat_neg": torch.bincount(bucket[~positive], minlength=n + 1),
        }

    def update_state(self, preds: Any, labels: Any, *args: Any) -> None:
        self._add(self._counts(preds, labels))

    def update(self, preds: Any, labels: Any, *args: Any) -> float:
        """Add a batch; return the area for this batch alone."""
        counts = self._counts(preds, labels)
        self._add(counts)
        return self._area(counts["stat_pos"], counts["stat_neg"])

    def accumulate(self) -> float:
        """The area under the curve over every sample since ``reset`` (0.0 when undefined)."""
        return self._area(self.stat_pos, self.stat_neg)

    def _area(self, stat_pos: torch.Tensor, stat_neg: torch.Tensor) -> float:
        pos = stat_pos.detach().cpu().flip(0)  # from the highest probability down
        neg = stat_neg.detach().cpu().flip(0)
        tp = pos.cumsum(0)
        tot_pos, tot_neg = int(tp[-1]), int(neg.sum())
        if self._curve == "ROC":
            if tot_pos == 0 or tot_neg == 0:
                return 0.0
            # Twice Paddle's sum of trapezoids neg_i * (tp_i + tp_{i-1}) / 2, exact in int64.
            twice = int((neg * (2 * tp - pos)).sum())
            return twice / 2.0 / tot_pos / tot_neg
        if tot_pos == 0:
            return 0.0
        tp, fp = tp.double(), neg.cumsum(0).double()
        # A bucket that adds recall has a positive in it, so its precision is defined.
        precision = tp / (tp + fp).clamp_min(1)
        return float((pos.double() / tot_pos * precision).sum())
