"""LeNet for 1x28x28 images (MNIST), in the layout of ``paddle.vision.models.LeNet``.

``features``: 3x3 conv (6 filters, padding 1) + ReLU + 2x2 max-pool, 5x5 conv (16 filters) +
ReLU + 2x2 max-pool; ``fc``: Linear 400->120, 120->84, 84->classes. As in Paddle, the three
linear layers have no activation between them; the layout and the arithmetic are kept so that
results and state-dict keys (``features.0``, ``features.3``, ``fc.0``..``fc.2``) match Paddle's.
61,610 parameters for 10 classes. As Paddle's, ``LeNet(num_classes=0)`` (any ``<= 0``) has no
``fc`` and returns the ``[N, 16, 5, 5]`` feature map.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .classifier import linear_head, paddle_num_classes, validate_num_classes
from .features import FeatureInfo
from .registry import register_model
from .weights import load_pretrained

__all__ = ["LeNet", "lenet"]


class LeNet(nn.Module):
    """LeNet-5 style network for 1x28x28 inputs (``paddle.vision.models.LeNet``).

    Args:
        num_classes: number of classes; ``<= 0`` builds no ``fc`` (Paddle's rule): the
            network returns the feature map, ``[N, 16, 5, 5]`` for a 28x28 input.

    Attributes:
        feature_info: the activations before the two max-pools (``features.1``: 6 channels at
            full size, ``features.4``: 16 channels, nominal reduction 2; the 5x5 convolution
            has no padding, so a 28x28 input gives a 10x10 map there).

    Raises:
        TypeError: ``num_classes`` is not an int.
        ValueError: at run time, with a classifier, an input that is not 28x28.

    Examples:
        >>> net = LeNet()
        >>> net(torch.rand(4, 1, 28, 28)).shape
        torch.Size([4, 10])
        >>> LeNet(num_classes=0)(torch.rand(4, 1, 28, 28)).shape
        torch.Size([4, 16, 5, 5])
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.num_classes = paddle_num_classes(num_classes)
        self.paddle_headless = self.num_classes <= 0
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3, stride=1, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, 5, stride=1, padding=0),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
        )
        self.feature_info = [FeatureInfo("features.1", 6, 1), FeatureInfo("features.4", 16, 2)]
        if self.paddle_headless:
            self.num_features = 16 * 5 * 5
            self.fc: nn.Module = nn.Identity()  # Paddle builds no fc: no ``fc.*`` keys
        else:
            self.num_features = 84
            self.fc = self._make_fc(self.num_classes)

    @staticmethod
    def _make_fc(num_classes: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(400, 120), nn.Linear(120, 84), linear_head(84, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The two convolution blocks: ``[N, 16, 5, 5]`` for a 28x28 input."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """The linear layers (the last one skipped when ``pre_logits``).

        Without a classifier the feature map is returned as it is (flattened with
        ``pre_logits``), for any input size, as Paddle does.
        """
        if self.paddle_headless:
            return torch.flatten(x, 1) if pre_logits else x
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
        """The last layer (``fc[2]``); the empty ``fc`` when there is none."""
        return self.fc if self.paddle_headless else self.fc[-1]

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last layer with a new one for ``num_classes`` (0: ``nn.Identity``).

        A network built without a classifier stays so for ``num_classes <= 0``, and gets
        Paddle's three linear layers, freshly initialised, for a positive one.
        """
        if self.paddle_headless and paddle_num_classes(num_classes) <= 0:
            self.num_classes = num_classes
            return
        self.num_classes = validate_num_classes(num_classes, allow_zero=True)
        like = next(self.parameters())
        if self.paddle_headless:
            self.paddle_headless = False
            self.num_features = 84
            self.fc = self._make_fc(num_classes).to(like.device, like.dtype)
        else:
            self.fc[-1] = linear_head(self.num_features, num_classes, like=like)


@register_model(family="lenet", input_size=(1, 28, 28), num_classes=10)
def lenet(pretrained: object = False, *, num_classes: int = 10, **kwargs: Any) -> LeNet:
    """LeNet for MNIST-size images (1x28x28), 61,610 parameters for 10 classes.

    Paddle has the class only (:class:`LeNet`); this builder adds the zoo's ``pretrained``.

    Args:
        pretrained: False, True (the default ImageNet entry), a weights name, a URL or a
            file in any supported format (see :mod:`resvision.models.weights`).
        num_classes: number of classes; ``<= 0``: no classifier (Paddle's rule).
        **kwargs: nothing else is accepted today; present for a uniform constructor signature.

    Examples:
        >>> lenet()(torch.rand(1, 1, 28, 28)).shape
        torch.Size([1, 10])
    """
    model = LeNet(num_classes, **kwargs)
    return load_pretrained(model, pretrained, model_name="lenet")
