"""LeNet for 1x28x28 images (MNIST), in the layout of ``paddle.vision.models.LeNet``.

``features``: 3x3 conv (6 filters, padding 1) + ReLU + 2x2 max-pool, 5x5 conv (16 filters) +
ReLU + 2x2 max-pool; ``fc``: Linear 400->120, 120->84, 84->classes. As in Paddle, the three
linear layers have no activation between them; the layout and the arithmetic are kept so that
results and state-dict keys (``features.0``, ``features.3``, ``fc.0``..``fc.2``) match Paddle's.
61,610 parameters for 10 classes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .classifier import linear_head, validate_num_classes
from .registry import register_model
from .weights import load_pretrained

__all__ = ["LeNet", "lenet"]


class LeNet(nn.Module):
    """LeNet-5 style network for 1x28x28 inputs.

    Args:
        num_classes: number of classes.

    Raises:
        ValueError: ``num_classes`` < 1; at run time, an input that is not 28x28.

    Examples:
        >>> net = LeNet()
        >>> net(torch.rand(4, 1, 28, 28)).shape
        torch.Size([4, 10])
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.num_classes = validate_num_classes(num_classes)
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3, stride=1, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, 5, stride=1, padding=0),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
        )
        self.num_features = 84
        self.fc = nn.Sequential(
            nn.Linear(400, 120), nn.Linear(120, 84), linear_head(84, num_classes)
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The two convolution blocks: ``[N, 16, 5, 5]`` for a 28x28 input."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The linear layers (the last one skipped when ``pre_logits``)."""
        if tuple(x.shape[1:]) != (16, 5, 5):
            raise ValueError(
                f"LeNet expects 1x28x28 images, whose features are 16x5x5; got features of "
                f"shape {tuple(x.shape[1:])}"
            )
        x = self.fc[:-1](torch.flatten(x, 1))
        return x if pre_logits else self.fc[-1](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The last layer (``fc[2]``)."""
        return self.fc[-1]

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last layer with a new one for ``num_classes`` (0: ``nn.Identity``)."""
        self.num_classes = validate_num_classes(num_classes, allow_zero=True)
        self.fc[-1] = linear_head(self.num_features, num_classes, like=next(self.parameters()))


@register_model(family="lenet", input_size=(1, 28, 28), num_classes=10)
def lenet(*, pretrained: object = False, num_classes: int = 10, **kwargs: Any) -> LeNet:
    """LeNet for MNIST-size images (1x28x28), 61,610 parameters for 10 classes.

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        num_classes: number of classes.
        **kwargs: nothing else is accepted today; present for a uniform constructor signature.

    Examples:
        >>> lenet()(torch.rand(1, 1, 28, 28)).shape
        torch.Size([1, 10])
    """
    model = LeNet(validate_num_classes(num_classes), **kwargs)
    return load_pretrained(model, pretrained, model_name="lenet")
