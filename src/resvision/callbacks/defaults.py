"""The callback list of a run: the user's callbacks plus Paddle's defaults.

Kept apart from :mod:`.base` (which every callback imports) because it knows every callback.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from .base import Callback, CallbackList
from .checkpointing import EarlyStopping, ModelCheckpoint
from .ema import EMA
from .loggers import JSONLLogger
from .lr import LRScheduler
from .progbar import ProgBarLogger


def config_callbacks(
    callbacks: Callback | Iterable[Callback] | None = None,
    model: Any = None,
    batch_size: int | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    log_freq: int = 10,
    verbose: int = 2,
    save_freq: int = 1,
    save_dir: str | os.PathLike[str] | None = None,
    metrics: list[str] | None = None,
    mode: str = "train",
) -> CallbackList:
    """The engine's callback list: the user's plus Paddle's defaults.

    Adds, when the user gave none of that kind: a ``ProgBarLogger(log_freq, verbose)``
    first (if ``verbose``), and for training a ``ModelCheckpoint(save_freq, save_dir)`` (with
    its defaults: ``{epoch}.pt``, ``final.pt`` and, when there is evaluation data, the 3 best
    epochs by the evaluation's first metric and ``best.pt``), an ``LRScheduler()`` (steps the
    optimizer's schedule each optimizer step) and, with a ``save_dir``, a ``JSONLLogger``. ``EarlyStopping`` gets ``save_dir``. ``EMA`` callbacks
    are moved last, so that during an evaluation every other callback (e.g. EarlyStopping
    saving ``best_model``) sees the averaged weights.

    Returns:
        The :class:`CallbackList`, with ``set_model`` and ``set_params`` done.
    """
    CallbackList._check_mode(mode)
    given = list(CallbackList(callbacks))
    cbks: list[Callback] = list(given)
    if verbose and not any(isinstance(c, ProgBarLogger) for c in cbks):
        cbks.insert(0, ProgBarLogger(log_freq, verbose=verbose))
    if mode == "train":
        if not any(isinstance(c, ModelCheckpoint) for c in cbks):
            cbks.append(ModelCheckpoint(save_freq, save_dir))
        if not any(isinstance(c, LRScheduler) for c in cbks):
            cbks.append(LRScheduler())
        if save_dir is not None and not any(isinstance(c, JSONLLogger) for c in cbks):
            cbks.append(JSONLLogger(save_dir))
    for c in cbks:
        if isinstance(c, EarlyStopping) and c.save_dir is None:
            c.save_dir = None if save_dir is None else os.fspath(save_dir)
    cbks = [c for c in cbks if not isinstance(c, EMA)] + [c for c in cbks if isinstance(c, EMA)]
    cbk_list = CallbackList(cbks)
    cbk_list.set_model(model)
    cbk_list.set_params(
        {
            "batch_size": batch_size,
            "epochs": epochs,
            "steps": steps,
            "verbose": verbose,
            "metrics": list(metrics or []) if mode != "predict" else [],
            "save_dir": None if save_dir is None else os.fspath(save_dir),
            "save_freq": save_freq,
            "log_freq": log_freq,
        }
    )
    return cbk_list
