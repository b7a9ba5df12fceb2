"""Paddle's ``CrossEntropyLoss`` arguments on top of ``torch.nn.CrossEntropyLoss``.

For new code ``torch.nn.CrossEntropyLoss`` is all that is needed: it takes
``label_smoothing=0.1`` and soft labels (class probabilities [N, C], e.g. from mixup) as
they are. This module only helps code written for ``paddle.nn.CrossEntropyLoss``: labels of
shape [N, 1] (Paddle's datasets yield ``[label]``), ``soft_label``, ``axis`` and
``use_softmax=False`` (inputs that are already probabilities).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["CrossEntropyLoss"]


class CrossEntropyLoss(torch.nn.CrossEntropyLoss):
    """Cross entropy with Paddle's arguments; a ``torch.nn.CrossEntropyLoss``.

    Args:
        weight: per-class weights [C].
        ignore_index: a hard label to ignore.
        reduction: 'mean', 'sum' or 'none'.
        soft_label: labels are class probabilities with the input's shape.
        axis: the class axis of the input (Paddle's default -1 is the last one).
        use_softmax: False when the input holds probabilities (a softmax already applied).
        label_smoothing: mix hard or soft labels with the uniform distribution.

    Examples:
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
        >>> labels = torch.tensor([[0], [1]])  # Paddle's [N, 1] labels
        >>> loss = CrossEntropyLoss(label_smoothing=0.1)(logits, labels)
        >>> torch.allclose(loss, torch.nn.CrossEntropyLoss(label_smoothing=0.1)(logits, labels[:, 0]))
        True
    """

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        soft_label: bool = False,
        axis: int = -1,
        use_softmax: bool = True,
        label_smoothing: float = 0.0,
        name: str | None = None,
    ) -> None:
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
        super().__init__(
            weight=weight,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
        )
        self.soft_label = soft_label
        self.axis = axis
        self.use_softmax = use_softmax

    def forward(self, input: torch.Tensor, label: Any) -> torch.Tensor:
        """The loss of ``input`` (scores, class axis ``axis``) against ``label``."""
        label = torch.as_tensor(label, device=input.device)
        axis = self.axis % input.dim()
        if axis != 1 and input.dim() > 1:
            input = input.movedim(axis, 1)
            # Soft labels, and Paddle's hard labels with a size-1 class axis, move with it.
            if self.soft_label or label.dim() == input.dim():
                label = label.movedim(axis, 1)
        if self.soft_label:
            if label.shape != input.shape:
                raise ValueError(
                    f"soft labels must have the input's shape {list(input.shape)}, got {list(label.shape)}"
                )
            label = label.to(input.dtype)
        else:
            if label.dim() == input.dim() and label.shape[1] == 1:
                label = label.squeeze(1)  # [N, 1] -> [N]
            if label.is_floating_point():
                raise TypeError(
                    "hard labels must be integers; pass soft_label=True for class probabilities"
                )
            label = label.long()
        if self.use_softmax:
            return super().forward(input, label)
        # Probabilities in: the loss is the negative log-likelihood of their log.
        log_probs = torch.log(input.clamp_min(torch.finfo(input.dtype).tiny))
        if self.soft_label or self.label_smoothing > 0:
            target = (
                label
                if self.soft_label
                else F.one_hot(label, input.shape[1]).movedim(-1, 1).to(input.dtype)
            )
            if self.label_smoothing > 0:
                target = target * (1 - self.label_smoothing) + self.label_smoothing / input.shape[1]
            if self.weight is not None:
                shape = [1, -1] + [1] * (input.dim() - 2)
                target = target * self.weight.view(shape)
            loss = -(target * log_probs).sum(dim=1)
            return (
                loss.mean()
                if self.reduction == "mean"
                else loss.sum()
                if self.reduction == "sum"
                else loss
            )
        return F.nll_loss(
            log_probs,
            label,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )
