"""Loaders: the in-memory fast path and the ``torch.utils.data.DataLoader`` path.

Both follow the Loader protocol: iterating yields ``(images, labels)`` with
``float32 [B, C, H, W]`` images and ``int64 [B]`` labels; ``len()`` is the number of batches per
epoch on this rank, ``num_samples`` the number of samples; ``set_epoch``, ``state_dict`` and
``load_state_dict`` make epochs reproducible and mid-epoch resume exact.

:func:`build_loader` picks the path. The fast path (:class:`FastLoader`) keeps the whole data set
as ``uint8`` on the device, shuffles indices, slices batches and augments them there with the
batched equivalent of the dataset's transform: no per-sample Python while training. The
DataLoader path (:class:`TorchLoader`) runs the per-sample transforms in worker processes.
"""

from __future__ import annotations

import os
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset, get_worker_info

from resvision.data.batch_transforms import NotBatchableError, plan_batched
from resvision.data.epoch_context import BatchContext, sample_context
from resvision.data.sampling import (
    collate_images,
    derive_seed,
    epoch_indices,
    num_batches,
    preserved_rngs,
    seed_rngs,
    shard_size,
)

__all__ = ["FastLoader", "NotCacheableError", "TorchLoader", "build_loader", "fast_path_reason"]


_CPU = torch.device("cpu")


class NotCacheableError(ValueError):
    """A dataset cannot be held in memory as one ``uint8`` array (the message says why)."""


class _EpochState:
    """Epoch bookkeeping shared by both loaders (see the module documentation)."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        *,
        shuffle: bool,
        drop_last: bool,
        seed: int,
        rank: int,
        world_size: int,
        aug_repeats: int = 1,
    ) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(world_size, int) or world_size < 1:
            raise ValueError(f"world_size must be a positive int, got {world_size!r}")
        if not isinstance(rank, int) or not 0 <= rank < world_size:
            raise ValueError(f"rank must be an int in [0, {world_size}), got {rank!r}")
        if not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if isinstance(aug_repeats, bool) or not isinstance(aug_repeats, int) or aug_repeats < 1:
            raise ValueError(f"aug_repeats must be an int >= 1, got {aug_repeats!r}")
        try:
            size = len(dataset)
        except TypeError:
            raise TypeError(
                f"dataset must be a map-style dataset with __len__ and __getitem__, got "
                f"{type(dataset).__name__}"
            ) from None
        if size == 0:
            raise ValueError("the dataset is empty: there is nothing to load")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.aug_repeats = aug_repeats
        self._size = size
        self.epoch = 0
        self._start = 0  # the batch the next __iter__ starts at
        self._done = 0  # batches yielded so far in the current epoch
        self._advance = False  # an epoch ran to its end and set_epoch was not called since

    def indices(self, epoch: int, return_copies: bool = False) -> Any:
        return epoch_indices(
            self._size,
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=epoch,
            rank=self.rank,
            world_size=self.world_size,
            drop_last=self.drop_last,
            repeats=self.aug_repeats,
            return_copies=return_copies,
        )

    @property
    def _shard_size(self) -> int:
        return shard_size(
            self._size,
            shuffle=self.shuffle,
            rank=self.rank,
            world_size=self.world_size,
            drop_last=self.drop_last,
        )

    @property
    def num_samples(self) -> int:
        """Samples per epoch on this rank (the ones in full batches when ``drop_last``)."""
        n = self._shard_size
        return (n // self.batch_size) * self.batch_size if self.drop_last else n

    def __len__(self) -> int:
        return num_batches(self._shard_size, self.batch_size, self.drop_last)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order and augmentation the next iteration produces."""
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        self.epoch, self._start, self._done, self._advance = epoch, 0, 0, False

    def begin(self) -> tuple[int, int]:
        """Start an iteration: return ``(epoch, first batch)`` and reset the resume point."""
        if self._advance:  # iterated again without set_epoch: a new epoch, as DataLoader would
            self.epoch, self._advance = self.epoch + 1, False
        start, self._start, self._done = self._start, 0, self._start
        return self.epoch, start

    def finish(self) -> None:
        self._advance = True

    def state_dict(self) -> dict[str, Any]:
        """The position in the data: ``epoch`` and ``batches_yielded`` in it, plus the settings
        that must match for an exact resume."""
        return {
            "epoch": self.epoch,
            "batches_yielded": self._done,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "world_size": self.world_size,
            "dataset_size": self._size,
            "aug_repeats": self.aug_repeats,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (from :meth:`state_dict`) at the next iteration.

        Raises:
            ValueError: the state was saved with other settings (seed, batch size, shuffle,
                drop_last, world size or dataset size), so its batches cannot be reproduced.
        """
        missing = {"epoch", "batches_yielded"} - set(state)
        if missing:
            raise ValueError(f"loader state lacks {sorted(missing)}; got keys {sorted(state)}")
        if "aug_repeats" not in state:  # saved before repeated augmentation existed
            state = {**state, "aug_repeats": 1}
        keys = ("seed", "batch_size", "shuffle", "drop_last", "world_size", "dataset_size")
        for key in (*keys, "aug_repeats"):
            mine = self.state_dict()[key]
            if key in state and state[key] != mine:
                raise ValueError(
                    f"cannot resume exactly: the saved loader had {key}={state[key]!r}, this one "
                    f"has {key}={mine!r}"
                )
        done = int(state["batches_yielded"])
        if not 0 <= done <= len(self):
            raise ValueError(f"batches_yielded must be in [0, {len(self)}], got {done}")
        self.epoch, self._start, self._done = int(state["epoch"]), done, done
        self._advance = done == len(self)
        if self._advance:
            self._start = 0


class FastLoader(_EpochState):
    """The in-memory fast path: ``uint8`` data on ``device``, batched augmentation there.

    Use :func:`build_loader`; the constructor arguments are the same (less ``num_workers``).
    """

    is_fast = True

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        aug_repeats: int = 1,
    ) -> None:
        super().__init__(
            dataset,
            batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            seed=seed,
            rank=rank,
            world_size=world_size,
            aug_repeats=aug_repeats,
        )
        self.device = torch.device(device)
        base, subset = _cache_source(dataset)
        shape = getattr(base, "image_shape", None)
        if shape is None:
            raise NotCacheableError(f"{type(base).__name__} has no single image shape")
        # Plan before decoding, so an unbatchable transform fails cheaply.
        self.pipeline = plan_batched(base.transform, tuple(shape), base.backend)
        images, labels = base.tensors()
        if subset is not None:
            index = torch.as_tensor(subset, dtype=torch.long)
            images, labels = images[index], labels[index]
        self.images = images.to(self.device)
        self.labels = labels.to(self.device, torch.int64)
        self._generator = torch.Generator(device=self.device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, start = self.begin()
        order = self.indices(epoch).to(self.device)
        total = len(self)
        bs = self.batch_size
        for b in range(start, total):
            index = order[b * bs : (b + 1) * bs]
            self._generator.manual_seed(derive_seed(self.seed, epoch, b))
            context = BatchContext(index, epoch, self.seed, b)
            images = self.pipeline(self.images.index_select(0, index), self._generator, context)
            labels = self.labels.index_select(0, index)
            self._done = b + 1
            yield images, labels
        self.finish()

    def __repr__(self) -> str:
        return (
            f"FastLoader(batches={len(self)}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, device={self.device}, pipeline={self.pipeline!r})"
        )


class _SeededItems(Dataset):
    """Wraps a dataset: item ``(index, sample seed, epoch, loader seed)`` is ``dataset[index]``
    under generators seeded with the sample seed, with the sample and epoch known to
    epoch-aware transforms (the alternating flip, :mod:`resvision.data.epoch_context`)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def _item(self, key: tuple[int, int, int, int]) -> Any:
        index, seed, epoch, loader_seed = key
        seed_rngs(seed)
        with sample_context(index, epoch, loader_seed):
            return self.dataset[index]

    def __getitem__(self, key: tuple[int, int, int, int]) -> Any:
        return self.__getitems__([key])[0]

    def __getitems__(self, keys: list[tuple[int, int, int, int]]) -> list[Any]:
        # DataLoader fetches a whole batch through here (torch >= 2.1).
        if get_worker_info() is not None:
            # A worker's generators are its own: seeding them needs no restoring.
            return [self._item(k) for k in keys]
        with preserved_rngs():  # the main process: leave the caller's streams as they were
            return [self._item(k) for k in keys]


class _EpochBatchSampler(Sampler):
    """Yields the batches of ``state``'s current epoch as lists of ``(index, sample seed,
    epoch, loader seed)``."""

    def __init__(self, state: _EpochState) -> None:
        # A weak reference: a cycle loader -> DataLoader -> sampler -> loader would leave the
        # workers to the garbage collector, which shuts them down only after a 5 s time-out.
        self.state = weakref.proxy(state)
        self.epoch, self.start = 0, 0

    def __len__(self) -> int:
        return len(self.state) - self.start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order, copies = (t.tolist() for t in self.state.indices(self.epoch, return_copies=True))
        bs, seed, epoch = self.state.batch_size, self.state.seed, self.epoch
        for b in range(self.start, len(self.state)):
            part = slice(b * bs, (b + 1) * bs)
            yield [
                (i, _sample_seed(seed, epoch, i, c), epoch, seed)
                for i, c in zip(order[part], copies[part])
            ]


def _sample_seed(seed: int, epoch: int, index: int, copy: int) -> int:
    """A DataLoader-path sample's seed; repeated copies (``aug_repeats``) get their own."""
    return derive_seed(seed, epoch, index) if copy == 0 else derive_seed(seed, epoch, index, copy)


def usable_cpus() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class TorchLoader(_EpochState):
    """The DataLoader path: per-sample transforms in worker processes.

    Workers are persistent (when ``num_workers > 0``), batches are pinned when ``device`` is
    CUDA, and every sample's random transforms are seeded from ``(seed, epoch, index)`` (and the
    copy number of a repeated sample, ``aug_repeats``).
    """

    is_fast = False

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        num_workers: int = 0,
        device: torch.device | str = "cpu",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        aug_repeats: int = 1,
    ) -> None:
        super().__init__(
            dataset,
            batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            seed=seed,
            rank=rank,
            world_size=world_size,
            aug_repeats=aug_repeats,
        )
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative int, got {num_workers!r}")
        cpus = usable_cpus()
        if num_workers > cpus:
            warnings.warn(
                f"num_workers={num_workers} is more than the {cpus} CPU cores of this machine; "
                f"using {cpus}",
                stacklevel=3,
            )
            num_workers = cpus
        self.num_workers = num_workers
        self.device = torch.device(device)
        self._sampler = _EpochBatchSampler(self)
        self._loader = DataLoader(
            _SeededItems(dataset),
            batch_sampler=self._sampler,
            num_workers=num_workers,
            collate_fn=collate_images,
            pin_memory=self.device.type == "cuda",
            persistent_workers=num_workers > 0,
            # DataLoader draws a base seed per epoch; its own generator keeps that draw off the
            # global stream (every sample is seeded from (seed, epoch, index) anyway).
            generator=torch.Generator().manual_seed(seed),
        )

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, start = self.begin()
        self._sampler.epoch, self._sampler.start = epoch, start
        done = start
        for images, labels in self._loader:
            done += 1
            self._done = done
            yield images, labels
        self.finish()

    def __repr__(self) -> str:
        return (
            f"TorchLoader(batches={len(self)}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, num_workers={self.num_workers}, device={self.device})"
        )


def _cache_source(dataset: Any) -> tuple[Any, list[int] | None]:
    """The dataset holding the cache (unwrapping ``Subset``s) and the selected indices."""
    indices: list[int] | None = None
    while isinstance(dataset, Subset):
        sub = [int(i) for i in dataset.indices]
        indices = sub if indices is None else [sub[i] for i in indices]
        dataset = dataset.dataset
    return dataset, indices


def fast_path_reason(dataset: Any, device: torch.device | str = "cpu") -> str | None:
    """Why ``dataset`` cannot take the fast path on ``device``, or None if it can.

    Examples:
        >>> from resvision.datasets import Cifar10Sample
        >>> from resvision.transforms import Transpose
        >>> fast_path_reason(Cifar10Sample("test", transform=Transpose(), backend="cv2")) is None
        True
        >>> fast_path_reason(Cifar10Sample("test", transform=lambda im: im, backend="cv2"))
        'transform <lambda> has no batched equivalent (no batched() method)'
    """
    base, subset = _cache_source(dataset)
    if not all(hasattr(base, a) for a in ("tensors", "transform", "backend")):
        return f"{type(base).__name__} does not hold its images in memory (no tensors() method)"
    can_cache = getattr(base, "can_cache", None)
    if can_cache is not None:
        reason = can_cache()
        if reason is not None:
            return reason
    shape = getattr(base, "image_shape", None)
    if shape is None:
        return f"{type(base).__name__} has no single image shape"
    try:
        plan_batched(base.transform, tuple(shape), base.backend)
    except NotBatchableError as exc:
        return str(exc)
    device = torch.device(device)
    if device.type == "cuda":
        n = len(subset) if subset is not None else len(base)
        need = n * int(torch.tensor(shape).prod())
        free, _ = torch.cuda.mem_get_info(device)
        if need > free // 2:
            return f"the data set needs {need / 2**30:.1f} GiB, more than half the free GPU memory"
    return None


def build_loader(
    dataset: Any,
    batch_size: int,
    *,
    shuffle: bool = False,
    drop_last: bool = False,
    num_workers: int = 0,
    device: torch.device | str = _CPU,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    fast: bool | None = None,
    aug_repeats: int = 1,
) -> FastLoader | TorchLoader:
    """Make the loader for ``dataset``: the in-memory fast path when it can, else a DataLoader.

    Args:
        dataset: a map-style dataset of ``(image, label)`` items (a resvision dataset, a
            ``Subset`` of one, or any dataset whose transform yields arrays or tensors).
        batch_size: samples per batch.
        shuffle: a new order each epoch (a function of ``seed`` and the epoch).
        drop_last: drop the last incomplete batch.
        num_workers: DataLoader worker processes (capped at the CPU cores, with a warning);
            unused by the fast path.
        device: where the batches are used. Fast path: batches are made there. DataLoader path:
            CPU batches, pinned when ``device`` is CUDA (move them with ``non_blocking=True``).
        seed: the seed of the order and of the augmentation.
        rank, world_size: this process's shard of each epoch (see
            :func:`~resvision.data.sampling.epoch_indices`).
        fast: None picks the fast path when :func:`fast_path_reason` finds no obstacle; True
            requires it; False forces the DataLoader path.
        aug_repeats: repeated augmentation: each sample of an epoch is taken this many times,
            side by side, each copy augmented on its own, and the epoch keeps its length (see
            :func:`~resvision.data.sampling.epoch_indices`); 1: off.

    Returns:
        A :class:`FastLoader` or a :class:`TorchLoader` (``is_fast`` tells which).

    Raises:
        ValueError: a bad argument, or ``fast=True`` where the fast path is impossible (the
            message says why).

    Examples:
        >>> from resvision.data.loader import build_loader
        >>> from resvision.datasets import Cifar10Sample
        >>> from resvision.transforms import Compose, Normalize, RandomCrop, ToTensor
        >>> ds = Cifar10Sample("train", transform=Compose(
        ...     [RandomCrop(32, padding=4), ToTensor(), Normalize(0.5, 0.5)]))
        >>> loader = build_loader(ds, 256, shuffle=True, drop_last=True)
        >>> images, labels = next(iter(loader))
        >>> loader.is_fast, len(loader), images.shape, images.dtype, labels.dtype
        (True, 19, torch.Size([256, 3, 32, 32]), torch.float32, torch.int64)
    """
    if fast not in (None, True, False):
        raise ValueError(f"fast must be None, True or False, got {fast!r}")
    common = dict(
        shuffle=shuffle,
        drop_last=drop_last,
        device=device,
        seed=seed,
        rank=rank,
        world_size=world_size,
        aug_repeats=aug_repeats,
    )
    if fast is not False:
        try:
            reason = fast_path_reason(dataset, device)
        except NotCacheableError as exc:
            reason = str(exc)
        if reason is None:
            try:
                return FastLoader(dataset, batch_size, **common)
            except NotCacheableError as exc:
                reason = str(exc)
        if fast:
            raise ValueError(f"fast=True, but the fast path is impossible: {reason}")
    return TorchLoader(dataset, batch_size, num_workers=num_workers, **common)
