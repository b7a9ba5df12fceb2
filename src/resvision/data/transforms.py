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

import inspect
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

__all__ = [
    "BaseTransform",
    "Compose",
    "KeyedTransform",
    "Normalize",
    "ToTensor",
    "Transpose",
]


KEYS = ("image", "mask")


def check_keys(keys: Sequence[str] | None, what: str, also: Sequence[str] = ()) -> tuple[str, ...]:
    """``keys`` as a tuple (None: ``('image',)``); each must be ``'image'``, ``'mask'`` or one
    of ``also`` (the keys a Paddle-style subclass has an ``_apply_<key>`` for).

    Raises:
        ValueError: ``keys`` is not a sequence of strings.
        NotImplementedError: another key (as Paddle raises for a key its transform has no
            ``_apply_<key>`` for).

    Examples:
        >>> check_keys(["image", "mask"], "Pad")
        ('image', 'mask')
    """
    if keys is None:
        return ("image",)
    if isinstance(keys, str) or not isinstance(keys, Sequence):
        raise ValueError(f"{what} keys must be a sequence such as ('image', 'mask'), got {keys!r}")
    for key in keys:
        if key not in KEYS and key not in also:
            raise NotImplementedError(
                f"{what} keys: {key!r} is not supported; the keys may be 'image' and 'mask' "
                f"(Paddle's 'coords' and 'boxes' are not implemented), got {tuple(keys)!r}"
            )
    return tuple(keys)


def _takes_one_item(function: Any) -> bool:
    """Whether ``function(self, item)`` is Paddle's form of ``_apply_<key>`` (no ``params``)."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 2 and not any(p.kind == p.VAR_POSITIONAL for p in parameters)


class BaseTransform:
    """Base class of the transforms, with Paddle's ``keys``.

    Called on one image, a transform returns ``_apply_image(img, params)``. Called on a tuple,
    it applies itself to the first ``len(keys)`` items, each as its key says (``'image'``:
    ``_apply_image``, ``'mask'``: ``_apply_mask``), and passes the rest through, as Paddle's
    ``BaseTransform.__call__`` does. ``_params`` draws the random parameters once per call (from
    the first ``'image'`` item), so that an image and its mask stay aligned. Masks pass through
    unchanged unless the transform overrides ``_apply_mask`` (colour transforms and ``Normalize``
    leave them alone; geometric ones move them with the image).

    Subclasses define ``_apply_image(img, params)`` (and ``_params``, ``_apply_mask`` where
    needed) and call ``super().__init__(keys)`` or set ``self.keys = check_keys(keys, name)``.
    Two other forms work too:

    - subclasses written before ``keys`` that define only ``_apply(img)``: on a plain image, and
      on the ``'image'`` items of a tuple (each drawing its own randomness); they refuse a
      ``'mask'`` key, as they cannot know what to do with it;
    - Paddle's form: ``_apply_<key>(self, item)`` without ``params``, the parameters drawn by
      ``_get_params(inputs)`` (the whole tuple) into ``self.params``, and any key the class has
      an ``_apply_<key>`` for (``'boxes'``, ``'coords'``...). A mask key needs ``_apply_mask``
      there, as in Paddle.

    Args:
        keys: the kind of each item of a tuple input, ``'image'`` or ``'mask'``; None:
            ``('image',)``. Paddle's ``'coords'`` and ``'boxes'`` raise NotImplementedError
            (unless a subclass defines ``_apply_coords`` / ``_apply_boxes``).

    Examples:
        >>> import numpy as np
        >>> class Negate(BaseTransform):
        ...     def _apply_image(self, img, params):
        ...         return 255 - img
        >>> image, mask, label = Negate(keys=("image", "mask"))(
        ...     (np.array([[0, 5]], dtype=np.uint8), np.array([[1, 2]]), 3))
        >>> image.tolist(), mask.tolist(), label
        ([[255, 250]], [[1, 2]], 3)
    """

    keys: tuple[str, ...] = ("image",)
    _one_item: frozenset[str] = frozenset()  # the keys whose _apply_<key> is Paddle's form

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = {
            name[len("_apply_") :]
            for klass in cls.__mro__
            if klass is not BaseTransform and klass is not object
            for name in vars(klass)
            if name.startswith("_apply_")
        }
        cls._one_item = frozenset(k for k in own if _takes_one_item(getattr(cls, f"_apply_{k}")))

    def __init__(self, keys: Sequence[str] | None = None) -> None:
        name = type(self).__name__
        also = tuple(k for k in self._one_item if k not in KEYS)
        self.keys = check_keys(keys, name, also)
        if "mask" in self.keys and self._only_apply():
            raise NotImplementedError(
                f"{name} defines only _apply(img): it cannot transform a 'mask' item "
                "(define _apply_image(img, params) and _apply_mask(mask, params))"
            )
        if "mask" in self.keys and self._one_item and "mask" not in self._one_item:
            raise NotImplementedError(f"{name} has no _apply_mask(mask) for its 'mask' key")
        if self._one_item:
            self.params: Any = None  # Paddle's: what _get_params drew for the current call

    @classmethod
    def _only_apply(cls) -> bool:
        """True for a subclass that defines ``_apply(img)`` but not ``_apply_image``."""
        return (
            cls._apply_image is BaseTransform._apply_image
            and cls._apply is not BaseTransform._apply
        )

    def __call__(self, inputs: Any) -> Any:
        single = not isinstance(inputs, tuple)
        items = (inputs,) if single else inputs
        keys = self.keys
        count = min(len(items), len(keys))
        if count == 0:
            raise ValueError(f"{type(self).__name__} got an empty tuple")
        for item, key in zip(items[:count], keys):
            if key in KEYS:
                F.check_image(item, type(self).__name__)
        if self._one_item:
            self.params = self._get_params(items)
        reference = next((items[i] for i in range(count) if keys[i] == "image"), items[0])
        params = self._params(reference)
        out = [self._apply_key(key, item, params) for item, key in zip(items[:count], keys)]
        out.extend(items[count:])
        return out[0] if len(out) == 1 else tuple(out)

    def _apply_key(self, key: str, item: Any, params: Any) -> Any:
        apply = getattr(self, f"_apply_{key}")
        return apply(item) if key in self._one_item else apply(item, params)

    def _get_params(self, inputs: tuple) -> Any:
        """Paddle's hook: the parameters of one call, from the whole tuple, into ``self.params``."""
        return None

    def _params(self, img: Any) -> Any:
        """The random parameters of one call (None for deterministic transforms)."""
        return None

    def _apply_image(self, img: Any, params: Any) -> Any:
        if not self._only_apply():
            raise NotImplementedError(
                f"{type(self).__name__} defines neither _apply_image(img, params) nor _apply(img)"
            )
        return self._apply(img)

    def _apply_mask(self, mask: Any, params: Any) -> Any:
        """Masks pass through unchanged; geometric transforms override this."""
        if self._only_apply():
            raise NotImplementedError(
                f"{type(self).__name__} defines only _apply(img): it cannot transform a mask"
            )
        return mask

    def _apply(self, img: Any) -> Any:
        """One image, with its own parameters (subclasses may override this instead)."""
        if self._one_item:
            self.params = self._get_params((img,))
        return self._apply_key("image", img, self._params(img))

    def _image_only(self) -> None:
        """Raise NotBatchableError when a mask travels along (the fast path has no masks)."""
        if "mask" in self.keys:
            raise NotBatchableError(f"{self!r} transforms masks: the batched path has none")

    def batched(self, state: BatchPlanState) -> Callable | None:
        """Return the batched equivalent (or None when it is a no-op) and update ``state``.

        Raises:
            NotBatchableError: this transform has no batched equivalent in ``state``.
        """
        raise NotBatchableError(f"{self!r} has no batched equivalent")

    def __repr__(self) -> str:
        args = ", ".join(
            f"{k}={v!r}"
            for k, v in vars(self).items()
            if not k.startswith("_")
            and not (k == "keys" and v == ("image",))
            and not (k == "params" and self._one_item)
        )
        return f"{type(self).__name__}({args})"


KeyedTransform = BaseTransform
"""The former name of the keyed base class (every transform is keyed now)."""


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

    Args:
        order: the new order of the axes.
        keys: see :class:`BaseTransform`. A ``'mask'`` item (Paddle's raises
            NotImplementedError) gets the same order when it has as many axes as ``order`` (an
            ``H x W x 1`` mask becomes ``1 x H x W``), and is left as it is otherwise (an
            ``H x W`` mask stays ``H x W``, a PIL mask becomes an array).

    Examples:
        >>> import numpy as np
        >>> Transpose()(np.zeros((32, 30, 3), dtype=np.uint8)).shape
        (3, 32, 30)
        >>> image, mask = Transpose(keys=("image", "mask"))((np.zeros((4, 5, 3)), np.zeros((4, 5))))
        >>> image.shape, mask.shape
        ((3, 4, 5), (4, 5))
    """

    def __init__(self, order: Sequence[int] = (2, 0, 1), keys: Sequence[str] | None = None) -> None:
        if sorted(order) != list(range(len(order))):
            raise ValueError(f"order must be a permutation of the axes, got {order!r}")
        self.order = tuple(order)
        super().__init__(keys)

    def _apply_image(self, img: Any, params: Any) -> Any:
        if isinstance(img, torch.Tensor):
            return img.permute(*self.order)
        arr = np.asarray(img)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        return np.ascontiguousarray(arr.transpose(self.order))

    def _apply_mask(self, mask: Any, params: Any) -> Any:
        if isinstance(mask, torch.Tensor):
            return mask.permute(*self.order) if mask.ndim == len(self.order) else mask
        arr = np.asarray(mask)
        if arr.ndim != len(self.order):
            return arr
        return np.ascontiguousarray(arr.transpose(self.order))

    def batched(self, state: BatchPlanState) -> None:
        self._image_only()
        if self.order != (2, 0, 1) or state.kind == "tensor" or state.layout != "HWC":
            raise NotBatchableError(f"{self!r} in layout {state.layout} of a {state.kind}")
        state.layout, state.kind = "CHW", "array"
        return None


class ToTensor(BaseTransform):
    """PIL image or HWC array -> ``float32`` tensor (CHW by default); ``uint8`` is scaled to [0, 1].

    Other dtypes keep their values. A tensor input only has ``uint8`` rescaled.

    Args:
        data_format: the layout of the result, ``'CHW'`` or ``'HWC'``.
        keys: see :class:`BaseTransform`. A ``'mask'`` item (Paddle's raises
            NotImplementedError) becomes an ``int64`` tensor of the same values, not scaled: an
            ``H x W`` mask (a PIL mask, a 2-D array) stays ``H x W``, an ``H x W x C`` array
            follows ``data_format``; a tensor mask keeps its shape.

    Examples:
        >>> import numpy as np
        >>> x = ToTensor()(np.full((2, 2, 3), 255, dtype=np.uint8))
        >>> x.shape, x.dtype, float(x.max())
        (torch.Size([3, 2, 2]), torch.float32, 1.0)
        >>> image, mask = ToTensor(keys=("image", "mask"))(
        ...     (np.zeros((2, 2, 3), dtype=np.uint8), np.full((2, 2), 7, dtype=np.uint8)))
        >>> image.shape, mask.dtype, mask.tolist()
        (torch.Size([3, 2, 2]), torch.int64, [[7, 7], [7, 7]])
    """

    def __init__(self, data_format: str = "CHW", keys: Sequence[str] | None = None) -> None:
        if data_format not in ("CHW", "HWC"):
            raise ValueError(f"data_format must be 'CHW' or 'HWC', got {data_format!r}")
        self.data_format = data_format
        super().__init__(keys)

    def _apply_mask(self, mask: Any, params: Any) -> Any:
        if isinstance(mask, torch.Tensor):
            return mask.long()
        arr = np.asarray(mask)
        t = torch.from_numpy(arr.astype(np.int64))
        if t.ndim == 3 and self.data_format == "CHW":
            t = t.permute(2, 0, 1).contiguous()
        return t

    def _apply_image(self, img: Any, params: Any) -> Any:
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
        self._image_only()
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
        keys: see :class:`BaseTransform`. A ``'mask'`` item (Paddle's raises
            NotImplementedError) is returned as it is: class indices are not normalised.

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
        keys: Sequence[str] | None = None,
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
        super().__init__(keys)

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

    def _apply_image(self, img: Any, params: Any) -> Any:
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
        self._image_only()
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
