"""AirNet: the small, fast CIFAR-10 network of the airbench speed records.

The architecture of Keller Jordan's airbench94 (https://github.com/KellerJordan/cifar10-airbench,
"94% on CIFAR-10 in 3.29 seconds on a single GPU", arXiv:2404.00498), itself derived from
tysam-code's hlb-CIFAR10 and David Page's "How to train your ResNet" (myrtle.ai, 2018):

    whitening 2x2 conv (3 -> 24, fixed, initialised from data) -> GELU
    3 blocks: conv3x3 -> max-pool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU   (64, 256, 256)
    max-pool 3 -> linear (no bias) -> x 1/9

with the record's initialisation and parametrisation choices, each for a measured reason:

- The first layer whitens 2x2 patches: its filters are the eigenvectors of the patch covariance
  scaled by ``1/sqrt(eigenvalue)``, and their negatives (so the GELU after it loses nothing).
  They are computed from the first training batch the layer sees (``PatchWhitening``), kept as
  a buffer (fixed, saved in the state dict); only its bias trains (with the 64x bias learning
  rate below, as airbench's).
- Convolutions start as partial identities (Dirac init of the first ``in`` output channels).
- Batch norms have a fixed scale of 1, momentum 0.4 (airbench's 0.6 in its convention) and a
  bias whose learning rate is 64x the others': here by parametrising the bias as ``8 * b``,
  which for SGD multiplies its step by 64 while its relative weight decay is unchanged (what
  airbench does with a separate parameter group, without needing one).
- Test-time augmentation (``tta_level``): in evaluation mode the network averages its
  predictions over the mirror image (level 1) and 1-pixel translations of both (level 2),
  with airbench's weights. It averages the pooled features, which is the same as averaging
  the logits since the head is linear.

Measured results are in ``benchmarks/README.md`` (the time-to-accuracy section).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .classifier import linear_head, validate_num_classes
from .features import FeatureInfo
from .registry import register_model
from .weights import load_pretrained

__all__ = ["AirNet", "PatchWhitening", "airnet"]

_BIAS_SCALE = 8.0  # squared: the 64x bias learning rate of airbench (see the module doc)
_TTA_LEVELS = (0, 1, 2)


class PatchWhitening(nn.Module):
    """A ``kernel x kernel`` convolution whose filters whiten the input's patches.

    The filters are set from the first batch seen in training mode (or by
    :meth:`init_from`): ``2 * C * k * k`` output channels, the eigenvectors of the patches'
    covariance divided by the square root of their eigenvalue (plus ``eps``), and their
    negatives. They are a buffer: fixed, saved and loaded with the state dict. The bias is a
    parameter.

    Args:
        in_channels: Input channels.
        kernel_size: Patch side.
        eps: Added to the eigenvalues (limits the gain of near-constant directions).
        max_images: At most this many images of the batch are used for the covariance.
        bias_scale: The bias is parametrised as ``bias_scale * bias`` (AirNet: 8, the 64x bias
            learning rate of airbench, which trains the whitening bias as the other biases).

    Examples:
        >>> layer = PatchWhitening(3, 2)
        >>> layer.init_from(torch.randn(16, 3, 8, 8))
        >>> layer(torch.randn(1, 3, 8, 8)).shape
        torch.Size([1, 24, 7, 7])
    """

    def __init__(
        self,
        in_channels: int,
        kernel_size: int = 2,
        eps: float = 5e-4,
        max_images: int = 1024,
        bias_scale: float = 1.0,
    ) -> None:
        super().__init__()
        dim = in_channels * kernel_size * kernel_size
        weight = torch.empty(2 * dim, in_channels, kernel_size, kernel_size)
        nn.init.kaiming_uniform_(weight, a=5**0.5)  # a usable layer before initialisation
        self.register_buffer("weight", weight)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.bias = nn.Parameter(torch.zeros(2 * dim))
        self.eps = eps
        self.max_images = max_images
        self.bias_scale = float(bias_scale)
        self._checked = False  # Python-side copy of `initialized`: no device sync per step

    @torch.no_grad()
    def init_from(self, images: torch.Tensor) -> None:
        """Set the filters from ``images`` ``[N, C, H, W]`` (see the class documentation)."""
        c, k = self.weight.shape[1], self.weight.shape[2]
        x = images[: self.max_images].detach().to(torch.float64)
        patches = x.unfold(2, k, 1).unfold(3, k, 1)  # N, C, H', W', k, k
        flat = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)
        covariance = flat.T @ flat / flat.shape[0]
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        filters = (eigenvectors / torch.sqrt(eigenvalues.clamp_min(0) + self.eps)).T
        filters = filters.reshape(-1, c, k, k)
        self.weight.copy_(torch.cat([filters, -filters]).to(self.weight.dtype))
        self.initialized.fill_(True)
        self._checked = True

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._checked = False  # read the loaded `initialized` flag at the next training step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not self._checked:
            if not bool(self.initialized):
                with torch.autocast(x.device.type, enabled=False):
                    self.init_from(x.float())
            self._checked = True
        weight = self.weight
        if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
            weight = weight.to(x.dtype)
        # The bias is added apart: the convolution then needs no backward at all (its weight is
        # a buffer and its input the images), where a fused bias made oneDNN run a slow
        # bias-only backward convolution (measured: 40% of a CPU bf16 training step).
        out = F.conv2d(x, weight)
        return out + (self.bias * self.bias_scale).view(1, -1, 1, 1).to(out.dtype)


class ScaledBiasBatchNorm(nn.BatchNorm2d):
    """Batch norm with a fixed unit scale and a bias parametrised as ``8 * bias``."""

    def __init__(self, num_features: int, momentum: float = 0.4, eps: float = 1e-12) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=False)
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        training = self.training or self.running_mean is None
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            None,
            self.bias * _BIAS_SCALE,
            training,
            self.momentum,
            self.eps,
        )


def _conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:in_channels])  # the first channels start as identities
    return conv


class AirBlock(nn.Module):
    """conv3x3 -> max-pool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = ScaledBiasBatchNorm(out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.norm2 = ScaledBiasBatchNorm(out_channels)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class AirNet(nn.Module):
    """The airbench94 network (see the module documentation).

    Args:
        num_classes: Number of classes.
        widths: Channels of the three blocks.
        in_channels: Input channels.
        tta_level: Test-time augmentation in evaluation mode: 0 none, 1 mirror, 2 mirror and
            1-pixel translations (6 views).

    Attributes:
        feature_info: the whitening layer's activation (``act``, 24 channels, reduction 1) and
            the three blocks (``layers.0``..``layers.2``, reductions 2, 4, 8). The 2x2 whitening
            convolution has no padding, so each map is one pixel smaller than the input size
            divided by the reduction (31, 15, 7, 3 for a 32x32 image). With test-time
            augmentation in evaluation mode these modules run once per view.

    Raises:
        ValueError: ``num_classes`` < 1, ``tta_level`` not 0, 1 or 2, or not three widths.

    Examples:
        >>> net = AirNet(tta_level=1).eval()
        >>> net(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        widths: tuple[int, int, int] = (64, 256, 256),
        in_channels: int = 3,
        tta_level: int = 0,
    ) -> None:
        super().__init__()
        if tta_level not in _TTA_LEVELS:
            raise ValueError(f"tta_level must be one of {_TTA_LEVELS}, got {tta_level!r}")
        if len(tuple(widths)) != 3:
            raise ValueError(f"widths must give the channels of 3 blocks, got {widths!r}")
        self.num_classes = validate_num_classes(num_classes)
        self.tta_level = tta_level
        self.whiten = PatchWhitening(in_channels, 2, bias_scale=_BIAS_SCALE)
        self.act = nn.GELU()
        channels = 2 * in_channels * 4
        self.feature_info = [FeatureInfo("act", channels, 1)]
        blocks = []
        for i, width in enumerate(widths):
            blocks.append(AirBlock(channels, width))
            channels = width
            self.feature_info.append(FeatureInfo(f"layers.{i}", width, 2 ** (i + 1)))
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.MaxPool2d(3)
        self.num_features = channels
        self.fc = linear_head(channels, num_classes)
        if isinstance(self.fc, nn.Linear):
            self.fc = _unbiased(self.fc)
        self.scale = 1 / 9  # logits scale of airbench (its head has no bias and no norm)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.act(self.whiten(x)))
        return self.pool(x).amax(dim=(2, 3), keepdim=True)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features ``[N, C, 1, 1]``; averaged over the TTA views when evaluating."""
        if self.training or self.tta_level == 0:
            return self._features(x)
        mirrored = 0.5 * (self._features(x) + self._features(x.flip(-1)))
        if self.tta_level == 1:
            return mirrored
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        h, w = x.shape[-2:]
        shifted = [padded[..., :h, :w], padded[..., 2 : h + 2, 2 : w + 2]]
        translated = sum(0.5 * (self._features(s) + self._features(s.flip(-1))) for s in shifted)
        return 0.5 * mirrored + 0.25 * translated

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Flatten and the scaled linear classifier (skipped when ``pre_logits``)."""
        x = torch.flatten(x, 1)
        if pre_logits or self.num_classes == 0:
            return x
        return self.fc(x) * self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The last layer (``fc``)."""
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a new one for ``num_classes`` (0: ``nn.Identity``)."""
        self.num_classes = validate_num_classes(num_classes, allow_zero=True)
        head = linear_head(self.num_features, num_classes, like=next(self.parameters()))
        self.fc = _unbiased(head) if isinstance(head, nn.Linear) else head


def _unbiased(linear: nn.Linear) -> nn.Linear:
    out = nn.Linear(linear.in_features, linear.out_features, bias=False)
    return out.to(device=linear.weight.device, dtype=linear.weight.dtype)


@register_model(family="airnet", input_size=(3, 32, 32), num_classes=10)
def airnet(
    *, pretrained: object = False, num_classes: int = 10, tta_level: int = 2, **kwargs: Any
) -> AirNet:
    """AirNet (airbench94's network), 1.97M parameters; evaluates with 6-view TTA by default.

    The fast CIFAR-10 recipe's network (``configs/fast_cifar10.yaml``). ``tta_level=2``
    averages the predictions of the image, its mirror and their 1-pixel translations in
    evaluation mode (6 forward passes); pass ``tta_level=0`` for one pass.

    Examples:
        >>> airnet(tta_level=0).eval()(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 10])
    """
    model = AirNet(validate_num_classes(num_classes), tta_level=tta_level, **kwargs)
    return load_pretrained(model, pretrained, model_name="airnet")
