"""MixUp and CutMix on whole batches, on the training device, with soft targets.

MixUp (Zhang et al. 2018) blends each image with another of the batch, ``lam * x + (1 - lam) *
x'``; CutMix (Yun et al. 2019) pastes a box of the other image, whose area is ``1 - lam`` of
the image. The targets are mixed with the same weight: ``lam * onehot(y) + (1 - lam) *
onehot(y')``, so the loss must take class probabilities (``torch.nn.CrossEntropyLoss`` does;
Paddle's ``resvision.losses.CrossEntropyLoss`` with ``soft_label=True``), and the accuracy
metrics read the class of the largest weight (``resvision.metrics``). As in torchvision's reference recipe (``MixUp`` /
``CutMix`` transforms) the partner of image ``i`` is image ``i - 1`` of the batch (the batch
rolled by one) and ``lam`` is drawn once per batch from ``Beta(alpha, alpha)``; as in timm's
``Mixup``, ``prob`` is the chance that a batch is mixed at all, ``switch_prob`` the chance of
CutMix when both are on, and ``label_smoothing`` smooths the one-hot targets before mixing
(leave it at 0 when the loss smooths already, as ``resvision train`` does).

Every random number comes from a NumPy generator seeded by the caller; ``Model.fit`` seeds it
from ``(loader seed, epoch, batch index, rank)``, so a resumed run mixes its batches exactly as
the uninterrupted run, with no state to save. Nothing here reads a value back from the device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = ["Mixup"]


def _alpha(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0 (0: off), got {value!r}")
    return float(value)


def _probability(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


class Mixup:
    """Mix the images and the targets of a batch (MixUp, CutMix, or either by chance).

    Args:
        mixup_alpha: MixUp's ``Beta(alpha, alpha)``; 0: no MixUp (torchvision's ResNet-50
            recipe: 0.2).
        cutmix_alpha: CutMix's ``Beta(alpha, alpha)``; 0: no CutMix (the recipe: 1.0).
        prob: the chance that a batch is mixed (timm's ``prob``).
        switch_prob: with both on, the chance of CutMix rather than MixUp (timm's
            ``switch_prob``; torchvision's ``RandomChoice`` of the two is 0.5).
        label_smoothing: smoothing of the one-hot targets before mixing (timm's default 0.1;
            here 0, since the loss usually smooths).
        num_classes: the number of classes; None: given at each call (``Model.fit`` passes
            its network's ``num_classes``).

    Raises:
        ValueError: a value out of range, or both alphas 0.

    Examples:
        >>> mix = Mixup(mixup_alpha=0.2, num_classes=3)
        >>> x = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])
        >>> images, targets = mix(x, torch.tensor([0, 2]), np.random.default_rng(0))
        >>> targets.sum(1).tolist()
        [1.0, 1.0]
        >>> bool(torch.allclose(images[1].mean(), targets[1, 2]))  # the share of image 1
        True
    """

    def __init__(
        self,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.0,
        num_classes: int | None = None,
    ) -> None:
        self.mixup_alpha = _alpha(mixup_alpha, "mixup_alpha")
        self.cutmix_alpha = _alpha(cutmix_alpha, "cutmix_alpha")
        if not (self.mixup_alpha or self.cutmix_alpha):
            raise ValueError("Mixup needs mixup_alpha > 0 or cutmix_alpha > 0 (both are 0)")
        self.prob = _probability(prob, "prob")
        self.switch_prob = _probability(switch_prob, "switch_prob")
        smoothing = _probability(label_smoothing, "label_smoothing")
        if smoothing == 1:
            raise ValueError("label_smoothing must be below 1, got 1")
        self.label_smoothing = smoothing
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
        ):
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        self.num_classes = num_classes

    def config(self) -> dict[str, Any]:
        """The settings (stored in checkpoints; compared on resume)."""
        return {
            "mixup_alpha": self.mixup_alpha,
            "cutmix_alpha": self.cutmix_alpha,
            "prob": self.prob,
            "switch_prob": self.switch_prob,
            "label_smoothing": self.label_smoothing,
            "num_classes": self.num_classes,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"Mixup({args})"

    def draw(self, rng: np.random.Generator, height: int, width: int) -> tuple[str, float, Any]:
        """This batch's mix: ``('none' | 'mixup' | 'cutmix', lam, box)``; ``box`` is
        ``(top, bottom, left, right)`` for CutMix, and ``lam`` its exact area share there."""
        if rng.random() >= self.prob:
            return "none", 1.0, None
        cutmix = self.cutmix_alpha > 0 and (
            self.mixup_alpha == 0 or rng.random() < self.switch_prob
        )
        if not cutmix:
            return "mixup", float(rng.beta(self.mixup_alpha, self.mixup_alpha)), None
        lam = float(rng.beta(self.cutmix_alpha, self.cutmix_alpha))
        ratio = math.sqrt(1.0 - lam)
        cut_h, cut_w = int(height * ratio), int(width * ratio)
        cy, cx = int(rng.integers(height)), int(rng.integers(width))
        top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
        left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
        area = (bottom - top) * (right - left)
        return "cutmix", 1.0 - area / (height * width), (top, bottom, left, right)

    def targets(self, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
        """One-hot (smoothed) float targets of integer ``labels``, or ``labels`` as they are
        when they are class probabilities already."""
        if labels.is_floating_point():
            if labels.dim() != 2 or labels.shape[1] != num_classes:
                raise ValueError(
                    f"soft labels must be [N, {num_classes}] class probabilities, got shape "
                    f"{list(labels.shape)}"
                )
            return labels
        if labels.dim() == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.dim() != 1:
            raise ValueError(
                f"labels must be class indices of shape [N], got shape {list(labels.shape)}"
            )
        off = self.label_smoothing / num_classes
        out = torch.full((labels.shape[0], num_classes), off, device=labels.device)
        return out.scatter_(1, labels.long().unsqueeze(1), 1.0 - self.label_smoothing + off)

    def __call__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        rng: np.random.Generator,
        num_classes: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mix one batch.

        Args:
            images: ``[N, C, H, W]`` floating images (after normalisation: mixing commutes
                with it).
            labels: ``[N]`` class indices (or ``[N, classes]`` probabilities).
            rng: the batch's generator (``numpy.random.default_rng(seed)``).
            num_classes: overrides the constructor's.

        Returns:
            ``(images, targets)``: new tensors (the inputs are not modified); ``targets`` are
            ``[N, classes]`` float32 class probabilities.

        Raises:
            ValueError: images that are not a floating 4-D batch, labels of another batch
                size, or no number of classes.
        """
        classes = num_classes if num_classes is not None else self.num_classes
        if classes is None:
            raise ValueError("Mixup needs num_classes (the constructor's or the call's)")
        if images.dim() != 4 or not images.is_floating_point():
            raise ValueError(
                "Mixup mixes floating [N, C, H, W] image batches, got "
                f"{images.dtype} of shape {list(images.shape)}"
            )
        if labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"labels ({labels.shape[0]}) and images ({images.shape[0]}) differ in batch size"
            )
        target = self.targets(labels, classes)
        kind, lam, box = self.draw(rng, images.shape[2], images.shape[3])
        if kind == "none" or images.shape[0] < 2:
            return images, target
        other = images.roll(1, 0)
        if kind == "mixup":
            mixed = images.mul(lam).add_(other, alpha=1.0 - lam)
        else:
            top, bottom, left, right = box
            mixed = images.clone()
            mixed[:, :, top:bottom, left:right] = other[:, :, top:bottom, left:right]
        return mixed, target.mul(lam).add_(target.roll(1, 0), alpha=1.0 - lam)
