"""Order, sharding and seeding shared by both loaders.

Everything random about an epoch is a pure function of integers: the order of an epoch of
``(seed, epoch)``, the augmentation of a fast-path batch of ``(seed, epoch, batch index)``, the
augmentation of a DataLoader-path sample of ``(seed, epoch, sample index)``. That is what makes
``set_epoch`` identical on every rank and mid-epoch resume exact.
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from PIL import Image


def derive_seed(*values: int) -> int:
    """Mix integers into one 63-bit seed (stable across runs, machines and Python versions).

    Examples:
        >>> derive_seed(0, 1, 2) == derive_seed(0, 1, 2) != derive_seed(0, 2, 1)
        True
    """
    packed = struct.pack(f"<{len(values)}q", *(int(v) for v in values))
    return int.from_bytes(hashlib.blake2b(packed, digest_size=8).digest(), "little") >> 1


def epoch_indices(
    n: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    drop_last: bool = False,
    repeats: int = 1,
    return_copies: bool = False,
) -> Any:
    """The sample indices this rank visits in ``epoch``, in order.

    Shuffled with a generator seeded from ``(seed, epoch)``, then dealt out round-robin to the
    ranks. For training (``shuffle`` or ``drop_last``) with several ranks, the order is first cut
    to a multiple of ``world_size`` so that every rank runs the same number of steps (a different
    few samples are left out each epoch). For evaluation (neither), nothing is cut or padded: the
    shards cover every sample exactly once, and the first ``n % world_size`` ranks get one more.

    **Repeated augmentation** (``repeats`` > 1; Hoffer et al. 2020, Touvron et al. 2021, the
    ``--ra-sampler`` of torchvision's recipe): the first ``ceil(n / repeats)`` samples of the
    order are each taken ``repeats`` times in a row, and the list is cut back to ``n``: an epoch
    keeps its length (its number of steps) but holds ``n / repeats`` distinct samples, each
    augmented ``repeats`` times. The copies of a sample sit side by side before the ranks are
    dealt out, so with several ranks they land on different ranks, as in torchvision's
    ``RASampler``. ``return_copies`` also returns each position's copy number (0 for the first
    copy), which the DataLoader path mixes into the sample's seed so the copies are augmented
    differently.

    Examples:
        >>> epoch_indices(5, shuffle=False, seed=0, epoch=0, rank=1, world_size=2).tolist()
        [1, 3]
        >>> order, copy = epoch_indices(5, shuffle=False, seed=0, epoch=0, repeats=3,
        ...                             return_copies=True)
        >>> order.tolist(), copy.tolist()
        ([0, 0, 0, 1, 1], [0, 1, 2, 0, 1])
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    if shuffle:
        g = torch.Generator().manual_seed(derive_seed(seed, epoch))
        order = torch.randperm(n, generator=g)
    else:
        order = torch.arange(n)
    copies = torch.zeros(n, dtype=torch.long)
    if repeats > 1:
        order = order[: -(-n // repeats)].repeat_interleave(repeats)[:n]
        copies = torch.arange(n) % repeats
    if world_size > 1:
        if shuffle or drop_last:
            order, copies = order[: n - n % world_size], copies[: n - n % world_size]
        order, copies = order[rank::world_size], copies[rank::world_size]
    return (order, copies) if return_copies else order


def shard_size(
    n: int, *, shuffle: bool, rank: int = 0, world_size: int = 1, drop_last: bool = False
) -> int:
    """``len(epoch_indices(...))`` without building the order.

    Examples:
        >>> [shard_size(10, shuffle=False, rank=r, world_size=3) for r in range(3)]
        [4, 3, 3]
    """
    if world_size == 1:
        return n
    if shuffle or drop_last:
        return n // world_size
    return len(range(rank, n, world_size))


def num_batches(num_samples: int, batch_size: int, drop_last: bool) -> int:
    return num_samples // batch_size if drop_last else math.ceil(num_samples / batch_size)


def seed_rngs(seed: int) -> None:
    """Seed torch's CPU generator, ``random`` and ``numpy.random`` (CUDA's is untouched), so
    per-sample transforms (ours, torchvision's, Paddle-style users of ``random``) are a function
    of ``seed``."""
    torch.random.default_generator.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % (1 << 32))


@contextmanager
def preserved_rngs() -> Iterator[None]:
    """Restore torch's CPU generator, ``random`` and ``numpy.random`` on exit."""
    torch_state = torch.random.default_generator.get_state()
    py_state = random.getstate()
    np_state = np.random.get_state()
    try:
        yield
    finally:
        torch.random.default_generator.set_state(torch_state)
        random.setstate(py_state)
        np.random.set_state(np_state)


def collate_images(batch: Sequence[tuple[Any, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(image, label)`` items into ``float32`` images and ``int64`` labels ``[B]``.

    Raises:
        TypeError: an image is a PIL image (the transform must produce arrays or tensors).
        ValueError: images differ in shape, or a label is not a single class index.

    Examples:
        >>> import numpy as np
        >>> x, y = collate_images([(np.zeros((3, 2, 2)), np.int64(1)), (np.ones((3, 2, 2)), 4)])
        >>> x.shape, x.dtype, y.tolist()
        (torch.Size([2, 3, 2, 2]), torch.float32, [1, 4])
    """
    images, labels = [], []
    for image, label in batch:
        if isinstance(image, Image.Image):
            raise TypeError(
                "the dataset yields PIL images, which cannot be batched; add ToTensor() or "
                "Transpose() at the end of its transform"
            )
        images.append(
            image if isinstance(image, torch.Tensor) else torch.as_tensor(np.asarray(image))
        )
        labels.append(label)
    shapes = {tuple(t.shape) for t in images}
    if len(shapes) > 1:
        raise ValueError(
            f"images in one batch have different shapes {sorted(shapes)}; resize or crop them "
            "to one size in the transform"
        )
    x = torch.stack(images).to(torch.float32)
    y = torch.as_tensor(np.asarray([np.asarray(lbl) for lbl in labels]))
    if y.numel() != len(batch):
        raise ValueError(
            f"each label must be one class index, got labels of shape {tuple(y.shape)}"
        )
    return x, y.reshape(len(batch)).to(torch.int64)
