"""Policy augmentations: AutoAugment, RandAugment, TrivialAugmentWide and AugMix.

The four transforms of torchvision's ``transforms.autoaugment`` with its arguments, defaults and
augmentation spaces (the operations, their magnitude ranges and which are signed):

- :class:`AutoAugment` (Cubuk et al. 2019): one of the 25 learned two-operation sub-policies of
  ImageNet, CIFAR-10 or SVHN, each operation applied with its probability and magnitude;
- :class:`RandAugment` (Cubuk et al. 2020): ``num_ops`` operations drawn uniformly, all at the
  one ``magnitude``;
- :class:`TrivialAugmentWide` (Müller and Hutter 2021): one operation, at a magnitude drawn
  uniformly (torchvision's ResNet-50 recipe, ``--auto-augment ta_wide``);
- :class:`AugMix` (Hendrycks et al. 2020): ``mixture_width`` chains of 1-3 operations, mixed with
  Dirichlet weights, then blended with the original by a Beta weight.

Each works on PIL images (PIL's operations), HWC arrays and CHW tensors (the kernels of
:mod:`resvision.data.kernels`), drawing from torch's generator, which resvision's loaders seed
per sample. In the fast data path a policy runs batched (:class:`BatchPolicy`): the choices of
every image are drawn on the host from a generator seeded by ``(loader seed, epoch, batch)``
with the same sampling code as the per-sample form (:meth:`_Policy.plan`), and the images that
drew the same operation are transformed together by the same kernels. So a batch is augmented
as its images would be one by one with those draws, and the two forms sample the same
distribution (``tests/data/test_autoaugment.py`` checks both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from resvision.data import functional as F
from resvision.data import kernels
from resvision.data.batch_transforms import BatchPlanState, NotBatchableError, describe
from resvision.data.epoch_context import BatchContext
from resvision.data.sampling import derive_seed
from resvision.data.transforms import BaseTransform

__all__ = ["AugMix", "AutoAugment", "BatchPolicy", "RandAugment", "TrivialAugmentWide"]

#: One step of a plan: (operation, magnitude).
Step = tuple[str, float]

_SIGNED = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
           "Contrast", "Sharpness"}  # fmt: skip


def _linspace(a: float, b: float, n: int) -> list[float]:
    return torch.linspace(a, b, n, dtype=torch.float64).tolist()


def _posterize_bits(start: int, spread: int, bins: int) -> list[float]:
    # start - round(i / ((bins - 1) / spread)): from start bits down to start - spread
    return [float(start - round(i / ((bins - 1) / spread))) for i in range(bins)]


def augmentation_space(kind: str, bins: int, height: int, width: int) -> dict[str, list[float]]:
    """The operations of a policy and their magnitudes (an empty list: no magnitude).

    ``Solarize`` magnitudes are fractions of the white level (1 = no pixel changes); the
    translations are in pixels. Signed operations (:data:`_SIGNED`) are negated half of the
    time.
    """
    if kind == "wide":  # TrivialAugmentWide
        geometric = {
            "ShearX": _linspace(0.0, 0.99, bins),
            "ShearY": _linspace(0.0, 0.99, bins),
            "TranslateX": _linspace(0.0, 32.0, bins),
            "TranslateY": _linspace(0.0, 32.0, bins),
            "Rotate": _linspace(0.0, 135.0, bins),
        }
        colour = 0.99
        bits = _posterize_bits(8, 6, bins)
    elif kind == "augmix":
        geometric = {
            "ShearX": _linspace(0.0, 0.3, bins),
            "ShearY": _linspace(0.0, 0.3, bins),
            "TranslateX": _linspace(0.0, width / 3.0, bins),
            "TranslateY": _linspace(0.0, height / 3.0, bins),
            "Rotate": _linspace(0.0, 30.0, bins),
        }
        colour = 0.9
        bits = _posterize_bits(4, 4, bins)
    else:  # AutoAugment and RandAugment
        geometric = {
            "ShearX": _linspace(0.0, 0.3, bins),
            "ShearY": _linspace(0.0, 0.3, bins),
            "TranslateX": _linspace(0.0, 150.0 / 331.0 * width, bins),
            "TranslateY": _linspace(0.0, 150.0 / 331.0 * height, bins),
            "Rotate": _linspace(0.0, 30.0, bins),
        }
        colour = 0.9
        bits = _posterize_bits(8, 4, bins)
    # torchvision's AutoAugment and AugMix spaces have no Identity; RandAugment's and
    # TrivialAugmentWide's start with it.
    space = {"Identity": []} if kind in ("rand", "wide") else {}
    space.update(geometric)
    if kind != "augmix":
        for name in ("Brightness", "Color", "Contrast", "Sharpness"):
            space[name] = _linspace(0.0, colour, bins)
    space["Posterize"] = bits
    space["Solarize"] = _linspace(1.0, 0.0, bins)
    space["AutoContrast"] = []
    space["Equalize"] = []
    if kind == "autoaugment":
        space["Invert"] = []
    return space


def _augmix_space(bins: int, height: int, width: int, all_ops: bool) -> dict[str, list[float]]:
    space = augmentation_space("augmix", bins, height, width)
    if all_ops:
        for name in ("Brightness", "Color", "Contrast", "Sharpness"):
            space[name] = _linspace(0.0, 0.9, bins)
    return space


# ------------------------------------------------------------------------------ operations
def apply_op(img: Any, name: str, magnitude: float, interpolation: str, fill: Any) -> Any:
    """One operation on one image: a PIL image through PIL's operations; an HWC array or a CHW
    tensor through the kernels of the batched form (:func:`apply_op_batch` on a batch of one),
    so a tensor augmented alone equals the same tensor augmented in a batch."""
    if name == "Identity":
        return img
    if not F.is_pil(img):
        t = F.to_chw_tensor(img)
        magnitudes = torch.tensor([magnitude], dtype=torch.float64)
        out = apply_op_batch(t.unsqueeze(0), name, magnitudes, interpolation, fill)[0]
        return F.from_chw_tensor(out, img)
    if name == "ShearX":
        return F.affine_matrix(img, (1, magnitude, 0, 0, 1, 0), interpolation, fill)
    if name == "ShearY":
        return F.affine_matrix(img, (1, 0, 0, magnitude, 1, 0), interpolation, fill)
    if name == "TranslateX":
        return F.affine_matrix(img, (1, 0, -int(magnitude), 0, 1, 0), interpolation, fill)
    if name == "TranslateY":
        return F.affine_matrix(img, (1, 0, 0, 0, 1, -int(magnitude)), interpolation, fill)
    if name == "Rotate":
        return F.rotate(img, magnitude, interpolation, fill)
    if name == "Brightness":
        return F.adjust(img, "brightness", 1.0 + magnitude)
    if name == "Color":
        return F.adjust(img, "saturation", 1.0 + magnitude)
    if name == "Contrast":
        return F.adjust(img, "contrast", 1.0 + magnitude)
    if name == "Sharpness":
        return F.adjust_sharpness(img, 1.0 + magnitude)
    if name == "Posterize":
        return F.posterize(img, int(magnitude))
    if name == "Solarize":
        return F.solarize(img, magnitude * 255.0)  # a PIL image: 8-bit levels
    if name == "AutoContrast":
        return F.autocontrast(img)
    if name == "Equalize":
        return F.equalize(img)
    if name == "Invert":
        return F.invert(img)
    raise ValueError(f"unknown operation {name!r}")


def apply_op_batch(
    images: torch.Tensor, name: str, magnitudes: torch.Tensor, interpolation: str, fill: Any
) -> torch.Tensor:
    """One operation on a batch, each image at its own magnitude (``magnitudes``: float64,
    on the host)."""
    if name == "Identity":
        return images
    h, w = images.shape[-2:]
    zero = torch.zeros_like(magnitudes)
    if name == "ShearX":
        return kernels.affine(images, kernels.shear_matrix(magnitudes, zero), interpolation, fill)
    if name == "ShearY":
        return kernels.affine(images, kernels.shear_matrix(zero, magnitudes), interpolation, fill)
    if name == "TranslateX":
        shift = kernels.translation_matrix(magnitudes.trunc(), zero)
        return kernels.affine(images, shift, interpolation, fill)
    if name == "TranslateY":
        shift = kernels.translation_matrix(zero, magnitudes.trunc())
        return kernels.affine(images, shift, interpolation, fill)
    if name == "Rotate":
        matrix = kernels.rotation_matrix(magnitudes, h, w)
        return kernels.affine(images, matrix, interpolation, fill)
    factor = (1.0 + magnitudes).to(images.device)
    if name == "Brightness":
        return kernels.adjust_brightness(images, factor)
    if name == "Color":
        return kernels.adjust_saturation(images, factor)
    if name == "Contrast":
        return kernels.adjust_contrast(images, factor)
    if name == "Sharpness":
        return kernels.adjust_sharpness(images, factor)
    if name == "Posterize":
        return kernels.posterize(images, magnitudes.trunc().to(torch.int64).to(images.device))
    if name == "Solarize":
        return kernels.solarize(images, (magnitudes * kernels.bound(images)).to(images.device))
    if name == "AutoContrast":
        return kernels.autocontrast(images)
    if name == "Equalize":
        return kernels.equalize(images)
    if name == "Invert":
        return kernels.invert(images)
    raise ValueError(f"unknown operation {name!r}")


# --------------------------------------------------------------------------- random draws
class _TorchDraws:
    """Draws from torch's global generator (the per-sample forms; the loaders seed it)."""

    def randint(self, n: int) -> int:
        return int(torch.randint(n, (1,)).item())

    def rand(self) -> float:
        return float(torch.rand(()).item())

    def dirichlet(self, alphas: Sequence[float]) -> list[float]:
        return torch._sample_dirichlet(torch.tensor(alphas, dtype=torch.float64)).tolist()


class _HostDraws:
    """Draws from a NumPy generator (the batched forms, seeded per batch on the host)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def randint(self, n: int) -> int:
        return int(self.rng.integers(n))

    def rand(self) -> float:
        return float(self.rng.random())

    def dirichlet(self, alphas: Sequence[float]) -> list[float]:
        return self.rng.dirichlet(alphas).tolist()


_GLOBAL = _TorchDraws()


def _check_interpolation(value: str) -> str:
    if value not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {value!r}")
    return value


def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


class _Policy(BaseTransform):
    """What the four policies share: the plan of one image, its application, the batched form."""

    interpolation: str
    fill: Any

    def plan(self, draws: Any, height: int, width: int) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _signed(self, draws: Any, name: str, magnitude: float) -> float:
        return -magnitude if name in _SIGNED and draws.randint(2) else magnitude

    def _apply(self, img: Any) -> Any:
        h, w = F.get_size(img)
        for name, magnitude in self.plan(_GLOBAL, h, w):
            img = apply_op(img, name, magnitude, self.interpolation, self.fill)
        return img

    def batched(self, state: BatchPlanState) -> Callable:
        if state.is_float:
            raise NotBatchableError(
                f"{describe(self)} runs batched on 8-bit images: put it before ToTensor()"
            )
        return BatchPolicy(self)


class AutoAugment(_Policy):
    """AutoAugment's learned policy of ImageNet, CIFAR-10 or SVHN (torchvision's arguments).

    Args:
        policy: ``'imagenet'``, ``'cifar10'`` or ``'svhn'`` (torchvision's
            ``AutoAugmentPolicy`` values, in lower case; the enum's ``.value`` works too).
        interpolation: ``'nearest'`` (default) or ``'bilinear'``, for the geometric operations.
        fill: the value of pixels from outside the image (None: 0).

    Examples:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> AutoAugment("cifar10")(torch.zeros(3, 8, 8, dtype=torch.uint8)).shape
        torch.Size([3, 8, 8])
    """

    def __init__(self, policy: str = "imagenet", interpolation: str = "nearest",
                 fill: Any = None) -> None:  # fmt: skip
        key = str(getattr(policy, "value", policy)).lower()
        if key not in POLICIES:
            raise ValueError(f"policy must be one of {sorted(POLICIES)}, got {policy!r}")
        self.policy = key
        self.interpolation = _check_interpolation(interpolation)
        self.fill = fill

    def plan(self, draws: Any, height: int, width: int) -> list[Step]:
        space = augmentation_space("autoaugment", 10, height, width)
        sub = POLICIES[self.policy][draws.randint(len(POLICIES[self.policy]))]
        probs = [draws.rand() for _ in sub]
        signs = [draws.randint(2) for _ in sub]
        steps: list[Step] = []
        for (name, prob, level), p, sign in zip(sub, probs, signs):
            if p <= prob:
                magnitude = space[name][level] if level is not None else 0.0
                if name in _SIGNED and sign == 0:
                    magnitude = -magnitude
                steps.append((name, magnitude))
        return steps


class RandAugment(_Policy):
    """RandAugment: ``num_ops`` operations drawn uniformly, each at ``magnitude`` (of
    ``num_magnitude_bins`` levels), with torchvision's arguments and defaults.

    Examples:
        >>> import torch
        >>> RandAugment()(torch.zeros(3, 8, 8, dtype=torch.uint8)).dtype
        torch.uint8
    """

    def __init__(self, num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31,
                 interpolation: str = "nearest", fill: Any = None) -> None:  # fmt: skip
        self.num_ops = _check_int(num_ops, "num_ops", 0)
        self.num_magnitude_bins = _check_int(num_magnitude_bins, "num_magnitude_bins", 2)
        if not isinstance(magnitude, int) or not 0 <= magnitude < num_magnitude_bins:
            raise ValueError(
                f"magnitude must be an int in [0, {num_magnitude_bins}), got {magnitude!r}"
            )
        self.magnitude = magnitude
        self.interpolation = _check_interpolation(interpolation)
        self.fill = fill

    def plan(self, draws: Any, height: int, width: int) -> list[Step]:
        space = augmentation_space("rand", self.num_magnitude_bins, height, width)
        names = list(space)
        steps: list[Step] = []
        for _ in range(self.num_ops):
            name = names[draws.randint(len(names))]
            magnitude = space[name][self.magnitude] if space[name] else 0.0
            steps.append((name, self._signed(draws, name, magnitude)))
        return steps


class TrivialAugmentWide(_Policy):
    """TrivialAugment (wide space): one operation drawn uniformly, at a magnitude drawn
    uniformly from ``num_magnitude_bins`` levels (torchvision's arguments and defaults).

    Examples:
        >>> import numpy as np
        >>> TrivialAugmentWide()(np.zeros((8, 8, 3), dtype=np.uint8)).shape
        (8, 8, 3)
    """

    def __init__(self, num_magnitude_bins: int = 31, interpolation: str = "nearest",
                 fill: Any = None) -> None:  # fmt: skip
        self.num_magnitude_bins = _check_int(num_magnitude_bins, "num_magnitude_bins", 2)
        self.interpolation = _check_interpolation(interpolation)
        self.fill = fill

    def plan(self, draws: Any, height: int, width: int) -> list[Step]:
        space = augmentation_space("wide", self.num_magnitude_bins, height, width)
        names = list(space)
        name = names[draws.randint(len(names))]
        levels = space[name]
        magnitude = levels[draws.randint(len(levels))] if levels else 0.0
        return [(name, self._signed(draws, name, magnitude))]


class AugMix(_Policy):
    """AugMix: ``mixture_width`` chains of ``chain_depth`` operations (1-3 at random when -1),
    mixed with Dirichlet(``alpha``) weights, blended with the image by a Beta(``alpha``,
    ``alpha``) weight (torchvision's arguments and defaults; bilinear geometric operations).

    Examples:
        >>> import torch
        >>> AugMix()(torch.full((3, 8, 8), 128, dtype=torch.uint8)).shape
        torch.Size([3, 8, 8])
    """

    def __init__(self, severity: int = 3, mixture_width: int = 3, chain_depth: int = -1,
                 alpha: float = 1.0, all_ops: bool = True, interpolation: str = "bilinear",
                 fill: Any = None) -> None:  # fmt: skip
        if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= 10:
            raise ValueError(f"severity must be an int in [1, 10], got {severity!r}")
        self.severity = severity
        self.mixture_width = _check_int(mixture_width, "mixture_width", 1)
        if isinstance(chain_depth, bool) or not isinstance(chain_depth, int) or chain_depth == 0:
            raise ValueError(
                f"chain_depth must be -1 (1 to 3 at random) or >= 1, got {chain_depth!r}"
            )
        self.chain_depth = chain_depth
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"alpha must be a number > 0, got {alpha!r}")
        self.alpha = float(alpha)
        self.all_ops = bool(all_ops)
        self.interpolation = _check_interpolation(interpolation)
        self.fill = fill

    def plan(
        self, draws: Any, height: int, width: int
    ) -> tuple[float, list[float], list[list[Step]]]:
        """``(weight of the image, weights of the chains, the chains)``."""
        space = _augmix_space(11, height, width, self.all_ops)
        names = list(space)
        keep, mixed = draws.dirichlet([self.alpha, self.alpha])
        weights = [mixed * v for v in draws.dirichlet([self.alpha] * self.mixture_width)]
        chains = []
        for _ in range(self.mixture_width):
            depth = self.chain_depth if self.chain_depth > 0 else draws.randint(3) + 1
            chain: list[Step] = []
            for _ in range(depth):
                name = names[draws.randint(len(names))]
                levels = space[name]
                magnitude = levels[draws.randint(self.severity)] if levels else 0.0
                chain.append((name, self._signed(draws, name, magnitude)))
            chains.append(chain)
        return keep, weights, chains

    def _apply(self, img: Any) -> Any:
        h, w = F.get_size(img)
        keep, weights, chains = self.plan(_GLOBAL, h, w)
        base = F.to_chw_tensor(img)
        mix = base.double() * keep
        for weight, chain in zip(weights, chains):
            aug = img
            for name, magnitude in chain:
                aug = apply_op(aug, name, magnitude, self.interpolation, self.fill)
            mix += weight * F.to_chw_tensor(aug).double()
        if not base.is_floating_point():
            mix = mix.round().clamp(0, 255)
        return F.from_chw_tensor(mix.to(base.dtype), img)


# ------------------------------------------------------------------------------ batched
_POLICY_SALT = 0x706F6C  # "pol": keeps the policies' stream apart from the others


class BatchPolicy:
    """The batched form of a policy augmentation, for ``uint8`` ``[N, C, H, W]`` batches.

    Each image's plan is drawn on the host (:meth:`_Policy.plan`) from a generator seeded by
    the batch's ``(loader seed, epoch, batch)`` (:class:`BatchContext`), and each operation runs
    once per step on the images that drew it. Without a context the seed comes from
    ``generator`` (one value read back from its device).
    """

    uses_context = True

    def __init__(self, policy: _Policy) -> None:
        self.policy = policy

    def _draws(self, images: torch.Tensor, generator: Any, context: BatchContext | None):
        if context is not None:
            seed = derive_seed(context.seed, context.epoch, context.batch, _POLICY_SALT)
        else:
            seed = int(torch.randint(2**62, (1,), generator=generator, device=images.device))
        return _HostDraws(np.random.default_rng(seed))

    def __call__(
        self,
        images: torch.Tensor,
        generator: torch.Generator | None = None,
        context: BatchContext | None = None,
    ) -> torch.Tensor:
        if images.dim() != 4 or images.dtype != torch.uint8:
            raise ValueError(
                f"{type(self.policy).__name__} (batched) takes uint8 [N, C, H, W] batches, got "
                f"{images.dtype} of shape {list(images.shape)}"
            )
        n, _, h, w = images.shape
        draws = self._draws(images, generator, context)
        plans = [self.policy.plan(draws, h, w) for _ in range(n)]
        if isinstance(self.policy, AugMix):
            return self._augmix(images, plans)
        return self._run(images, plans)

    def _run(self, images: torch.Tensor, plans: Sequence[Sequence[Step]]) -> torch.Tensor:
        """Apply per-image chains of steps: step ``s`` of every image at once, by operation."""
        out = images.clone()
        for s in range(max((len(p) for p in plans), default=0)):
            groups: dict[str, tuple[list[int], list[float]]] = {}
            for i, plan in enumerate(plans):
                if s < len(plan) and plan[s][0] != "Identity":
                    rows, mags = groups.setdefault(plan[s][0], ([], []))
                    rows.append(i)
                    mags.append(plan[s][1])
            for name, (rows, mags) in groups.items():
                index = torch.tensor(rows, device=out.device)
                part = out.index_select(0, index)
                magnitudes = torch.tensor(mags, dtype=torch.float64)
                part = apply_op_batch(part, name, magnitudes, self.policy.interpolation,
                                      self.policy.fill)  # fmt: skip
                out.index_copy_(0, index, part)
        return out

    def _augmix(self, images: torch.Tensor, plans: Sequence[Any]) -> torch.Tensor:
        n = images.shape[0]
        keep = torch.tensor([p[0] for p in plans], dtype=torch.float64, device=images.device)
        mix = images.double() * keep.reshape(n, 1, 1, 1)
        for c in range(self.policy.mixture_width):
            chains = [p[2][c] for p in plans]
            weight = torch.tensor([p[1][c] for p in plans], dtype=torch.float64,
                                  device=images.device)  # fmt: skip
            mix += weight.reshape(n, 1, 1, 1) * self._run(images, chains).double()
        return mix.round().clamp(0, 255).to(torch.uint8)

    def __repr__(self) -> str:
        return f"BatchPolicy({self.policy!r})"


# ------------------------------------------------------------------------------ policies
# The sub-policies of AutoAugment (Cubuk et al. 2019, appendix), as torchvision lists them:
# (operation, probability, magnitude level of 10 or None).
_Sub = tuple[tuple[str, float, int | None], tuple[str, float, int | None]]
POLICIES: dict[str, tuple[_Sub, ...]] = {
    "imagenet": (
        (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
        (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
        (("Solarize", 0.6, 3), ("Equalize", 0.6, None)),
        (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
        (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
        (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
        (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
        (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
        (("Equalize", 0.0, None), ("Equalize", 0.8, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
        (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
        (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
        (("ShearX", 0.6, 5), ("Equalize", 1.0, None)),
        (("Color", 0.4, 0), ("Equalize", 0.6, None)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    ),
    "cifar10": (
        (("Invert", 0.1, None), ("Contrast", 0.2, 6)),
        (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
        (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
        (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)),
        (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
        (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
        (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
        (("Equalize", 0.6, None), ("Equalize", 0.5, None)),
        (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
        (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
        (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
        (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
        (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
        (("Solarize", 0.5, 2), ("Invert", 0.0, None)),
        (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.2, None), ("Equalize", 0.6, None)),
        (("Color", 0.9, 9), ("Equalize", 0.6, None)),
        (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)),
        (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
        (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)),
        (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)),
        (("Equalize", 0.8, None), ("Invert", 0.1, None)),
        (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
    ),
    "svhn": (
        (("ShearX", 0.9, 4), ("Invert", 0.2, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.6, None), ("Solarize", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("AutoContrast", 0.8, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.4, None)),
        (("ShearY", 0.9, 5), ("Solarize", 0.2, 6)),
        (("Invert", 0.9, None), ("AutoContrast", 0.8, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("Solarize", 0.3, 3)),
        (("ShearY", 0.8, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.9, None), ("TranslateY", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Contrast", 0.3, 3), ("Rotate", 0.8, 4)),
        (("Invert", 0.8, None), ("TranslateY", 0.0, 2)),
        (("ShearY", 0.7, 6), ("Solarize", 0.4, 8)),
        (("Invert", 0.6, None), ("Rotate", 0.8, 4)),
        (("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)),
        (("ShearX", 0.1, 6), ("Invert", 0.6, None)),
        (("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)),
        (("ShearY", 0.8, 4), ("Invert", 0.8, None)),
        (("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)),
        (("ShearY", 0.8, 5), ("AutoContrast", 0.7, None)),
        (("ShearX", 0.7, 2), ("Invert", 0.1, None)),
    ),
}


def policy_from_name(name: str) -> _Policy:
    """The transform of ``--auto-augment NAME`` (torchvision's reference-script names):
    ``ta_wide``, ``ra``, ``augmix``, or an AutoAugment policy (``imagenet``, ``cifar10``,
    ``svhn``).

    Raises:
        ValueError: another name (the message lists the accepted ones).
    """
    if name == "ta_wide":
        return TrivialAugmentWide()
    if name == "ra":
        return RandAugment()
    if name == "augmix":
        return AugMix()
    if name in POLICIES:
        return AutoAugment(name)
    choices = ["ta_wide", "ra", "augmix", *POLICIES]
    raise ValueError(f"auto-augment must be one of {choices}, got {name!r}")
