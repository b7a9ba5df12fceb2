"""Which sample of which epoch a transform is working on, for epoch-aware augmentation.

Most augmentations draw fresh random numbers for every sample. A few need to know *which*
image and *which* epoch they see: the alternating flip of Keller Jordan's airbench ("94% on
CIFAR-10 in 3.29 seconds on a single GPU", arXiv:2404.00498, section 3.6) mirrors each training
image on every other epoch, starting mirrored or not at random (fixed per image), so that over
any two epochs every image is seen both ways, where a random flip repeats one side for about
half of the images. It trains to the same accuracy in fewer epochs.

resvision's loaders supply that knowledge: the per-sample path (DataLoader) sets a
:class:`SampleContext` around each item, and the fast path passes a :class:`BatchContext` to the
batched transforms that declare ``uses_context = True``. The flip decision is a hash of
``(seed, index)`` XOR the epoch's parity, computed identically by both, so the two paths flip
the same images and a resumed run flips as the uninterrupted one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import torch

__all__ = [
    "BatchContext",
    "SampleContext",
    "alternating_flip",
    "alternating_flip_mask",
    "current_sample",
    "sample_context",
]

_MASK32 = 0xFFFFFFFF


@dataclass(frozen=True)
class SampleContext:
    """The sample a per-sample transform is applied to: its index in the data set, the
    epoch and the loader's seed."""

    index: int
    epoch: int
    seed: int


@dataclass(frozen=True)
class BatchContext:
    """The batch a batched transform is applied to: the data-set indices of its images
    (a 1-d tensor), the epoch, the loader's seed and the batch's number in the epoch (the
    policy augmentations draw their choices on the host from ``(seed, epoch, batch)``)."""

    indices: torch.Tensor
    epoch: int
    seed: int
    batch: int = 0


_CURRENT: ContextVar[SampleContext | None] = ContextVar("resvision_sample", default=None)


def current_sample() -> SampleContext | None:
    """The :class:`SampleContext` set by the loader around the current item, or None."""
    return _CURRENT.get()


@contextlib.contextmanager
def sample_context(index: int, epoch: int, seed: int) -> Iterator[SampleContext]:
    """Set the current sample for the transforms run inside the block."""
    token = _CURRENT.set(SampleContext(int(index), int(epoch), int(seed)))
    try:
        yield _CURRENT.get()  # type: ignore[misc]
    finally:
        _CURRENT.reset(token)


def _fmix32(h: torch.Tensor) -> torch.Tensor:
    # MurmurHash3's 32-bit finaliser on int64 tensors holding 32-bit values: multiplications
    # wrap in int64, and masking keeps exactly the low 32 bits, as in unsigned 32-bit arithmetic.
    h = h ^ (h >> 16)
    h = (h * 0x85EBCA6B) & _MASK32
    h = h ^ (h >> 13)
    h = (h * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


def alternating_flip_mask(indices: torch.Tensor, epoch: int, seed: int) -> torch.Tensor:
    """Which of the images ``indices`` the alternating flip mirrors in ``epoch``.

    Args:
        indices: data-set indices (any integer tensor).
        epoch: the epoch (0-based).
        seed: the loader's seed (which images start mirrored).

    Returns:
        A bool tensor shaped like ``indices``.

    Examples:
        >>> i = torch.arange(8)
        >>> bool((alternating_flip_mask(i, 0, 0) != alternating_flip_mask(i, 1, 0)).all())
        True
    """
    key = (indices.to(torch.int64) * 0x9E3779B1 + (int(seed) & _MASK32)) & _MASK32
    first = (_fmix32(key) & 1).bool()
    return first ^ bool(int(epoch) % 2)


def alternating_flip(index: int, epoch: int, seed: int) -> bool:
    """:func:`alternating_flip_mask` for one image."""
    return bool(alternating_flip_mask(torch.tensor([int(index)]), epoch, seed)[0])
