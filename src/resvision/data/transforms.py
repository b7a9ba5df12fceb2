"""Per-sample transforms with ``paddle.vision.transforms`` semantics.

Every transform accepts a ``PIL.Image``, an ``H x W x C`` (or ``H x W``) numpy array, or a
``C x H x W`` tensor, and returns the same kind unless its job is to change it (``Transpose`` and
``Normalize`` return arrays for PIL input, ``ToTensor`` returns tensors). Random transforms draw
from torch's global generator, which the loaders seed per sample from ``(seed, epoch, index)``.
Any callable can be used as a transform (torchvision transforms included); the resvision ones
also have a ``batched(state)`` translation used by the fast loader
(:func:`resvision.data.batch_transforms.plan_batched`).

Differences from Paddle, on purpose: ``Normalize`` given a PIL image normalises along its channel
axis whatever ``data_format`` says (Paddle would broadcast a CHW mean over an HWC array), and
``Resize``/``RandomResizedCrop`` of numpy arrays resample with PIL (antialiased) as there is no
OpenCV here.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from resvision.data import functional as F
from resvision.data.batch_transforms import (
    BatchCompose,
    BatchNormalize,
    BatchPlanState,
    BatchToFloat,
    NotBatchableError,
    describe,
)

__all__ = ["BaseTransform", "Compose", "Normalize", "ToTensor", "Transpose"]


class BaseTransform:
    """Base class: checks the image kind, then calls ``_apply(img)``."""

    def __call__(self, img: Any) -> Any:
        F.check_image(img, type(self).__name__)
        return self._apply(img)

    def _apply(self, img: Any) -> Any:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def batched(self, state: BatchPlanState) -> Callable | None:
        """Return the batched equivalent (or None when it is a no-op) and update ``state``.

        Raises:
            NotBatchableError: this transform has no batched equivalent in ``state``.
        """
        raise NotBatchableError(f"{self!r} has no batched equivalent")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose:
    """Apply transforms one after the other; any callable may be a step.

    Examples:
        >>> import numpy as np
        >>> t = Compose([Transpose(), lambda a: a * 2])
        >>> t(np.ones((4, 5, 3), dtype=np.uint8)).shape
        (3, 4, 5)
    """

    def __init__(self, transforms: Sequence[Callable]) -> None:
        if isinstance(transforms, str | bytes) or not isinstance(transforms, Sequence):
            raise TypeError(f"Compose expects a list of callables, got {type(transforms).__name__}")
        for t in transforms:
            if not callable(t):
                raise TypeError(f"Compose expects callables, got {t!r} ({type(t).__name__})")
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img

    def batched(self, state: BatchPlanState) -> BatchCompose:
        ops = []
        for t in self.transforms:
            batched = getattr(t, "batched", None)
            if batched is None:
                raise NotBatchableError(
                    f"transform {describe(t)} has no batched equivalent (no batched() method)"
                )
            op = batched(state)
            if op is not None:
                ops.append(op)
        return BatchCompose(ops)

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(t) for t in self.transforms)
        return f"Compose([\n    {inner}\n])"


class Transpose(BaseTransform):
    """Permute the axes of an image (default HWC -> CHW), as the tutorial uses it.

    PIL images become arrays first; a 2-D array gets a channel axis. Tensors are permuted by
    ``order`` as Paddle does (they are usually CHW already: use ``Transpose`` before ``ToTensor``).

    Examples:
        >>> import numpy as np
        >>> Transpose()(np.zeros((32, 30, 3), dtype=np.uint8)).shape
        (3, 32, 30)
    """

    def __init__(self, order: Sequence[int] = (2, 0, 1)) -> None:
        if sorted(order) != list(range(len(order))):
            raise ValueError(f"order must be a permutation of the axes, got {order!r}")
        self.order = tuple(order)

    def _apply(self, img: Any) -> Any:
        if isinstance(img, torch.Tensor):
            return img.permute(*self.order)
        arr = np.asarray(img)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        return np.ascontiguousarray(arr.transpose(self.order))

    def batched(self, state: BatchPlanState) -> None:
        if self.order != (2, 0, 1) or state.kind == "tensor" or state.layout != "HWC":
            raise NotBatchableError(f"{self!r} in layout {state.layout} of a {state.kind}")
        state.layout, state.kind = "CHW", "array"
        return None


class ToTensor(BaseTransform):
    """PIL image or HWC array -> ``float32`` tensor (CHW by default); ``uint8`` is scaled to [0, 1].

    Other dtypes keep their values. A tensor input only has ``uint8`` rescaled.

    Examples:
        >>> import numpy as np
        >>> x = ToTensor()(np.full((2, 2, 3), 255, dtype=np.uint8))
        >>> x.shape, x.dtype, float(x.max())
        (torch.Size([3, 2, 2]), torch.float32, 1.0)
    """

    def __init__(self, data_format: str = "CHW") -> None:
        if data_format not in ("CHW", "HWC"):
            raise ValueError(f"data_format must be 'CHW' or 'HWC', got {data_format!r}")
        self.data_format = data_format

    def _apply(self, img: Any) -> Any:
        if isinstance(img, torch.Tensor):
            return img.float().div_(255) if img.dtype == torch.uint8 else img
        arr = np.asarray(img)
        if arr.dtype == bool:  # PIL mode '1'
            arr = arr.astype(np.uint8) * 255
        if arr.ndim == 2:
            arr = arr[:, :, None]
        arr = np.ascontiguousarray(arr)
        t = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
        if self.data_format == "CHW":
            t = t.permute(2, 0, 1).contiguous()
        if t.dtype == torch.uint8:
            return t.float().div_(255)
        return t

    def batched(self, state: BatchPlanState) -> Callable | None:
        scale = 1.0 if state.is_float else 1 / 255
        if state.kind == "tensor":
            op = None if state.is_float else BatchToFloat(scale)
        elif state.layout == "HWC":
            op = BatchToFloat(scale)
            state.layout = self.data_format
        else:
            raise NotBatchableError(f"{self!r} applied to a {state.layout} {state.kind}")
        state.kind, state.is_float = "tensor", True
        return op


class Normalize(BaseTransform):
    """``(img - mean) / std`` per channel, returning ``float32``.

    Args:
        mean: one value or one per channel.
        std: one value or one per channel.
        data_format: where the channel axis of arrays and tensors is, ``'CHW'`` or ``'HWC'``
            (PIL images are always normalised along their channel axis).
        to_rgb: reverse the channel order (BGR -> RGB) first.

    Examples:
        >>> import torch
        >>> Normalize(mean=0.5, std=0.5)(torch.ones(3, 2, 2)).unique().tolist()
        [1.0]
    """

    def __init__(
        self,
        mean: float | Sequence[float] = 0.0,
        std: float | Sequence[float] = 1.0,
        data_format: str = "CHW",
        to_rgb: bool = False,
    ) -> None:
        mean_list = [float(mean)] if isinstance(mean, numbers.Number) else [float(m) for m in mean]
        std_list = [float(std)] if isinstance(std, numbers.Number) else [float(s) for s in std]
        if any(s == 0 for s in std_list):
            raise ValueError(f"std must be non-zero, got {std!r}")
        if data_format not in ("CHW", "HWC"):
            raise ValueError(f"data_format must be 'CHW' or 'HWC', got {data_format!r}")
        self.mean, self.std = mean_list, std_list
        self.data_format = data_format
        self.to_rgb = to_rgb
        self._cache: dict[tuple, tuple[Any, Any]] = {}

    def _stats(self, channels: int) -> tuple[np.ndarray, np.ndarray]:
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, channels):
                raise ValueError(
                    f"Normalize {name} has {len(values)} values for an image with {channels} "
                    "channels; give one value or one per channel"
                )
        mean = np.resize(np.asarray(self.mean, np.float32), channels)
        std = np.resize(np.asarray(self.std, np.float32), channels)
        return mean, std

    def _apply(self, img: Any) -> Any:
        channel_last = F.is_pil(img) or self.data_format == "HWC"
        if isinstance(img, torch.Tensor):
            x = img.float()
            axis = -1 if channel_last else (0 if x.ndim == 3 else None)
        else:
            x = np.asarray(img).astype(np.float32)
            axis = -1 if channel_last else (0 if x.ndim == 3 else None)
        channels = 1 if axis is None or x.ndim == 2 else x.shape[axis]
        if self.to_rgb and axis is not None and x.ndim == 3:
            x = x.flip(axis) if isinstance(x, torch.Tensor) else np.flip(x, axis)
        is_tensor = isinstance(x, torch.Tensor)
        key = (channels, x.ndim, axis, str(x.device) if is_tensor else None)
        if key not in self._cache:  # built once per layout: Normalize runs per sample
            mean, std = self._stats(channels)
            shape = [1] * x.ndim
            if axis is not None and x.ndim == 3:
                shape[axis] = channels
            mean, std = mean.reshape(shape), std.reshape(shape)
            if is_tensor:
                mean, std = torch.from_numpy(mean).to(x.device), torch.from_numpy(std).to(x.device)
            self._cache[key] = (mean, std)
        mean, std = self._cache[key]
        if is_tensor:
            return (x - mean) / std
        return ((x - mean) / std).astype(np.float32, copy=False)

    def batched(self, state: BatchPlanState) -> Callable:
        if state.kind != "pil" and state.layout != self.data_format:
            raise NotBatchableError(
                f"{self!r} with data_format={self.data_format} on {state.layout} images"
            )
        channels = state.shape[0]
        self._stats(channels)
        if state.kind == "pil":
            state.kind = "array"
        state.is_float = True
        return BatchNormalize(self.mean, self.std, self.to_rgb)
