"""Checks that turn bad labels and non-finite gradients into clear errors, cheaply.

- Labels: with a cross-entropy or NLL loss, a label outside ``0 .. C-1`` makes PyTorch fail
  deep inside the loss (``IndexError: Target 10 is out of bounds`` on CPU, a device-side assert
  that kills the CUDA context on a GPU). Labels that arrive on the CPU (every loader but the
  in-memory fast path) are checked before they are moved, at no device cost; the fast path's
  labels are checked once per ``fit``, when it starts.
- Weights: a step whose loss is finite may still leave inf/NaN weights (inf/NaN gradients from
  an overflow in backward, an update that overflows, BatchNorm statistics that overflow).
  Without a loss scaler, the loops keep a device-side "weights and buffers finite" flag per
  optimizer step, read with the losses at the next logging step or checkpoint, so no
  checkpoint is written after such a step and the error names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn


class LabelRangeError(ValueError):
    """A label is outside the classes the network predicts.

    Attributes:
        label: The first offending label.
        num_classes: The number of network outputs (classes).
    """

    def __init__(self, label: int, num_classes: int, where: str = "in a batch") -> None:
        self.label, self.num_classes = label, num_classes
        super().__init__(
            f"label {label} {where} is outside the {num_classes} classes the network predicts "
            f"(labels must be in 0..{num_classes - 1}); check the data set's labels, or build "
            "the network with as many classes as the data has (num_classes=...)"
        )


def _checks_labels(loss_fn: Any) -> bool:
    return isinstance(loss_fn, (nn.CrossEntropyLoss, nn.NLLLoss))


def label_bounds(labels: Sequence[Any], loss_fn: Any) -> tuple[int, int] | None:
    """``(min, max)`` of the class-index labels on the host (ignored index left out), or None
    when there is nothing to check cheaply (labels already on a device, soft labels, a loss
    that is not cross-entropy / NLL).

    Examples:
        >>> label_bounds([torch.tensor([3, -100, 0, 7])], nn.CrossEntropyLoss())
        (0, 7)
        >>> label_bounds([torch.tensor([0.2, 0.8])], nn.CrossEntropyLoss()) is None  # soft
        True
    """
    if not _checks_labels(loss_fn) or len(labels) != 1:
        return None
    y = labels[0]
    if isinstance(y, np.ndarray):
        if y.dtype.kind not in "iu" or y.size == 0:
            return None
        y = torch.from_numpy(y)
    if not isinstance(y, torch.Tensor) or y.device.type != "cpu":
        return None
    if y.is_floating_point() or y.dtype == torch.bool or y.numel() == 0:
        return None
    kept = y[y != loss_fn.ignore_index]
    if kept.numel() == 0:
        return None
    return int(kept.min()), int(kept.max())


def check_label_bounds(bounds: tuple[int, int] | None, outputs: Sequence[Any]) -> None:
    """Raise :class:`LabelRangeError` when ``bounds`` do not fit the first output's classes.

    Examples:
        >>> check_label_bounds((0, 9), [torch.zeros(2, 10)])
        >>> check_label_bounds((0, 10), [torch.zeros(2, 10)])
        Traceback (most recent call last):
        ...
        resvision.engine.guards.LabelRangeError: label 10 in a batch is outside the 10 classes ...
    """
    if bounds is None or not outputs:
        return
    logits = outputs[0]
    if not isinstance(logits, torch.Tensor) or logits.dim() < 2:
        return
    classes = int(logits.shape[1])
    low, high = bounds
    if low < 0:
        raise LabelRangeError(low, classes)
    if high >= classes:
        raise LabelRangeError(high, classes)


def check_dataset_labels(labels: torch.Tensor, num_classes: int | None, loss_fn: Any) -> None:
    """Check a whole label tensor once (the fast loader's labels) against ``num_classes``.

    Examples:
        >>> check_dataset_labels(torch.tensor([0, 2, 1]), 3, nn.CrossEntropyLoss())
        >>> check_dataset_labels(torch.tensor([0, 3]), 3, nn.CrossEntropyLoss())
        Traceback (most recent call last):
        ...
        resvision.engine.guards.LabelRangeError: label 3 in the training data is outside ...
    """
    if num_classes is None or not _checks_labels(loss_fn) or labels.numel() == 0:
        return
    kept = labels[labels != loss_fn.ignore_index]
    if kept.numel() == 0:
        return
    low, high = int(kept.min()), int(kept.max())  # one device sync per fit
    for bad in (low, high):
        if not 0 <= bad < num_classes:
            raise LabelRangeError(bad, num_classes, where="in the training data")


def state_finite(network: nn.Module) -> torch.Tensor | None:
    """A 0-d device tensor: 1.0 when every parameter and floating buffer is finite, else 0.0
    (no host sync).

    Taken after an optimizer step, it catches inf/NaN gradients (they reach the weights), an
    update that overflows (a huge learning rate) and BatchNorm statistics that overflowed in
    the forward pass. The norms come from one fused ``_foreach_norm``; their sum is finite
    exactly when every tensor is (barring a sum above the float32 range, itself trouble).

    Examples:
        >>> net = nn.Linear(2, 1)
        >>> float(state_finite(net))
        1.0
        >>> with torch.no_grad():
        ...     _ = net.bias.fill_(float("nan"))
        >>> float(state_finite(net))
        0.0
    """
    tensors = [p.detach() for p in network.parameters()]
    tensors += [b for b in network.buffers() if b.is_floating_point()]
    if not tensors:
        return None
    norms = torch._foreach_norm(tensors)
    return torch.isfinite(torch.stack([n.float() for n in norms]).sum()).float()
