"""Building blocks shared by ``fit``, ``evaluate`` and ``predict``: argument checks, loaders,
the callback list, seeding. The training run itself is :class:`resvision.engine.trainer.Trainer`.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from resvision import distributed

if TYPE_CHECKING:
    from resvision.engine.model import Model


def check_int(value: Any, name: str, minimum: int = 0) -> int:
    """Return ``value`` when it is an int >= ``minimum``, else raise ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def split_batch_size(batch_size: Any) -> tuple[int, int]:
    """``(train, eval)`` batch sizes from an int or Paddle's ``[train, eval]`` pair."""
    if isinstance(batch_size, (list, tuple)):
        if len(batch_size) != 2:
            raise ValueError(
                f"batch_size must be an int or [train_batch_size, eval_batch_size], got {batch_size!r}"
            )
        return check_int(batch_size[0], "batch_size", 1), check_int(batch_size[1], "batch_size", 1)
    size = check_int(batch_size, "batch_size", 1)
    return size, size


def make_loader(
    model: Model,
    data: Any,
    batch_size: int,
    shuffle: bool,
    drop_last: bool,
    num_workers: int,
    seed: int,
    labels_required: bool = True,
    shard: bool = False,
    aug_repeats: int = 1,
) -> Any:
    """A loader for ``data``: built for a Dataset, used as it is for any other iterable.

    With ``labels_required=False`` (prediction), a Dataset whose items are not
    ``(input, label)`` pairs gets a plain ``DataLoader``. With ``shard`` and a process group
    running, a Dataset is split between the processes (this process gets its shard).
    ``aug_repeats`` > 1 (repeated augmentation) needs a Dataset: a ready loader has its order.

    Raises:
        ValueError: ``data`` is None.
        TypeError: ``data`` is neither a Dataset nor an iterable of batches.
    """
    if data is None:
        raise ValueError("no data given: pass a Dataset, a DataLoader or an iterable of batches")
    if aug_repeats != 1 and (not isinstance(data, Dataset) or isinstance(data, IterableDataset)):
        raise ValueError(
            f"aug_repeats={aug_repeats} needs a map-style Dataset (fit builds its loader), got "
            f"a {type(data).__name__}; pass the Dataset, or build the loader with "
            "resvision.data.loader.build_loader(..., aug_repeats=N)"
        )
    if isinstance(data, IterableDataset):
        check_int(batch_size, "batch_size", 1)
        return DataLoader(
            data,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=model.device.type == "cuda",
        )
    if isinstance(data, Dataset) and not _has_labels(data) and not labels_required:
        # Paddle's predict accepts datasets of bare images; the loaders want (image, label).
        check_int(batch_size, "batch_size", 1)
        return DataLoader(
            data,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=model.device.type == "cuda",
        )
    if isinstance(data, Dataset):
        from resvision.data.loader import build_loader

        check_int(batch_size, "batch_size", 1)
        check_int(num_workers, "num_workers", 0)
        return build_loader(
            data,
            batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            num_workers=num_workers,
            device=model.device,
            seed=seed,
            rank=distributed.rank() if shard else 0,
            world_size=distributed.world_size() if shard else 1,
            aug_repeats=aug_repeats,
        )
    if not hasattr(data, "__iter__"):
        raise TypeError(
            f"data must be a torch Dataset, a DataLoader or an iterable of batches, got "
            f"{type(data).__name__}"
        )
    return data


def _has_labels(dataset: Dataset) -> bool:
    try:
        item = dataset[0]
    except Exception:  # let the loader report what is wrong with the dataset
        return True
    return isinstance(item, (tuple, list)) and len(item) >= 2


def configure_callbacks(
    model: Model,
    callbacks: Any,
    *,
    verbose: int,
    log_freq: int,
    mode: str = "train",
    epochs: int | None = None,
    steps: int | None = None,
    save_dir: str | os.PathLike[str] | None = None,
    save_freq: int = 1,
    batch_size: int | None = None,
) -> Any:
    """The ``CallbackList`` of a run: the user's callbacks plus Paddle's defaults.

    Built by :func:`resvision.callbacks.defaults.config_callbacks`; then ModelCheckpoint
    is moved after every other callback except EMA, so that the checkpoints it writes at the
    end of an epoch hold the state after the other callbacks' end-of-epoch work (a per-epoch
    schedule step, ReduceLROnPlateau): resuming from them must not replay that work.
    """
    from resvision.callbacks.checkpointing import ModelCheckpoint
    from resvision.callbacks.defaults import config_callbacks
    from resvision.callbacks.ema import EMA

    cbk_list = config_callbacks(
        callbacks,
        model=model,
        batch_size=batch_size,
        epochs=epochs,
        steps=steps,
        log_freq=log_freq,
        verbose=verbose,
        save_freq=save_freq,
        save_dir=save_dir,
        metrics=model.metrics_names(),
        mode=mode,
    )
    rank = {ModelCheckpoint: 1, EMA: 2}
    order = sorted(
        cbk_list.callbacks,
        key=lambda cb: max((r for cls, r in rank.items() if isinstance(cb, cls)), default=0),
    )
    cbk_list.callbacks[:] = order  # stable sort: the others keep their order
    return cbk_list


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (all devices) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
