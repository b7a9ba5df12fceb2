"""Paddle's ``VisualDL`` callback: loss and metrics as VisualDL scalars.

What is logged, under which tag and at which step, is Paddle's (``paddle.callbacks.VisualDL``
and ``WandbCallback`` of Paddle 3.3 share it; :class:`PaddleScalarLogger` holds it for both):

- during ``fit``, after every training batch whose logs carry them, the run's metrics
  (``params['metrics']``: ``loss`` first, then the metrics' names such as ``acc``) as
  ``train/<name>``, at step = batches since ``fit`` began (1, 2, ...);
- at the end of every evaluation, the evaluation's metrics (the ``metrics`` of
  ``on_eval_begin``) as ``eval/<name>``, at step = the epoch (0-based; outside ``fit``, 0, or the
  last epoch of an earlier ``fit`` with the same callback).

A value that is a list or tuple is logged by its first element (Paddle's losses come as
one-element lists), a number or a one-element tensor/array as it is; anything else is left
out. Learning rate, throughput and the other bookkeeping keys are not logged (Paddle logs
only the metrics; :class:`~resvision.callbacks.TensorBoard` logs them all).

Differences from Paddle, where resvision's engine differs:

- resvision's batch logs carry the loss and metrics only every ``log_freq`` steps (and at an
  epoch's last batch: reading them back every step would stall a GPU), so the training
  scalars are that often; ``fit(log_freq=1)`` gives Paddle's one point per batch. The steps
  are Paddle's in either case.
- the batch counter is part of the callback's state: a resumed ``fit`` (``resume='auto'``)
  goes on counting instead of starting again at 1.
- only the main process writes under ``torchrun`` (Paddle: local rank 0 of every node), and
  an evaluation after ``fit`` closes its writer as a lone evaluation does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from resvision.distributed import is_main_process

from .base import Callback, to_scalar

__all__ = ["PaddleScalarLogger", "VisualDL", "paddle_scalars"]


def paddle_scalars(mode: str, names: Iterable[str], logs: Mapping[str, Any]) -> dict[str, float]:
    """The values Paddle's VisualDL / WandbCallback log from ``logs``, by tag.

    Args:
        mode: ``'train'`` or ``'eval'``, the tags' prefix.
        names: the metrics to look for (others in ``logs`` are ignored), in order.
        logs: a hook's logs.

    Returns:
        ``{'<mode>/<name>': value}`` for each name present with a loggable value: the first
        element of a list or tuple, a number, or a one-element tensor or array.

    Examples:
        >>> paddle_scalars("train", ["loss", "acc"], {"loss": [0.5], "acc": 0.25, "lr": 0.1})
        {'train/loss': 0.5, 'train/acc': 0.25}
        >>> paddle_scalars("eval", ["loss", "acc"], {"acc": "n/a"})
        {}
    """
    out: dict[str, float] = {}
    for name in names:
        if name not in logs:
            continue
        value = logs[name]
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        scalar = None if isinstance(value, str) else to_scalar(value)
        if scalar is not None:
            out[f"{mode}/{name}"] = scalar
    return out


class PaddleScalarLogger(Callback):
    """The bookkeeping of Paddle's VisualDL and WandbCallback: which scalars, which step.

    Subclasses write with :meth:`write` and end their output with :meth:`close` (both called
    on the main process only). See the module documentation for the tags and steps.

    Attributes:
        train_step: training batches seen since ``fit`` began (the training scalars' step).
        epoch: the current epoch (0-based; the evaluation scalars' step).
        train_metrics: the names logged in training (``params['metrics']``).
        eval_metrics: the names logged at the end of an evaluation.

    Examples:
        >>> class Print(PaddleScalarLogger):
        ...     def write(self, mode, scalars, step):
        ...         print(mode, step, scalars)
        >>> cb = Print()
        >>> cb.set_params({"metrics": ["loss", "acc"], "epochs": 1, "steps": 2})
        >>> cb.on_train_begin()
        >>> cb.on_epoch_begin(0)
        >>> cb.on_train_batch_end(0, {"loss": 0.5, "acc": 0.25, "lr": 0.1})
        train 1 {'train/loss': 0.5, 'train/acc': 0.25}
        >>> cb.on_eval_begin({"steps": 1, "metrics": ["loss", "acc"]})
        >>> cb.on_eval_end({"loss": 0.4, "acc": 0.5, "num_samples": 8})
        eval 0 {'eval/loss': 0.4, 'eval/acc': 0.5}
    """

    def __init__(self) -> None:
        super().__init__()
        self.epochs: int | None = None
        self.steps: int | None = None
        self.epoch = 0
        self.train_step = 0
        self.train_metrics: list[str] = []
        self.eval_metrics: list[str] = []
        self._is_fit = False

    def write(self, mode: str, scalars: dict[str, float], step: int) -> None:
        """Log ``scalars`` (``{tag: value}``, never empty) of ``mode`` at ``step``."""
        raise NotImplementedError

    def close(self) -> None:
        """End the output (called at the end of ``fit`` and of an evaluation outside it)."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.epochs = self.params.get("epochs")
        self.train_metrics = list(self.params.get("metrics") or [])
        self._is_fit = True
        self.train_step = 0  # a resumed fit gets its count back after this (load_state_dict)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.steps = self.params.get("steps")
        self.epoch = epoch

    def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self.train_step += 1
        scalars = paddle_scalars("train", self.train_metrics, logs or {})
        if scalars and is_main_process():
            self.write("train", scalars, self.train_step)

    def on_eval_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.eval_metrics = list((logs or {}).get("metrics") or [])

    def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
        if not is_main_process():
            return
        scalars = paddle_scalars("eval", self.eval_metrics, logs or {})
        if scalars:
            self.write("eval", scalars, self.epoch)
        if not self._is_fit:
            self.close()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._is_fit = False
        if is_main_process():
            self.close()

    def state_dict(self) -> dict[str, Any]:
        return {"train_step": self.train_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.train_step = int(state.get("train_step", 0))


def _import_visualdl() -> Any:
    try:
        import visualdl
    except ImportError as err:
        raise ImportError(
            "the VisualDL callback needs the 'visualdl' package: pip install "
            "'resvision[visualdl]' (or pip install visualdl)"
        ) from err
    return visualdl


class VisualDL(PaddleScalarLogger):
    """Write the loss and metrics of ``fit`` / ``evaluate`` as VisualDL scalars (Paddle's).

    Tags ``train/<metric>`` (step: training batches since ``fit`` began) and
    ``eval/<metric>`` (step: the epoch, 0-based), as the module documentation details. The
    log file (``vdlrecords.<time>.log``) is created at the first value and closed at the end of
    ``fit`` or of an evaluation outside it; ``visualdl --logdir <log_dir>`` shows it.

    Args:
        log_dir: the folder of the VisualDL log file.

    Raises:
        ImportError: when ``visualdl`` is not installed (``pip install 'resvision[visualdl]'``).

    Examples:
        >>> from resvision.callbacks import VisualDL
        >>> cb = VisualDL(log_dir="output/visualdl")  # doctest: +SKIP
        >>> model.fit(train_data, eval_data, batch_size=64, callbacks=[cb])  # doctest: +SKIP

        The bookkeeping it shares with ``WandbCallback`` runs without the package: see
        :class:`PaddleScalarLogger`.
    """

    def __init__(self, log_dir: str) -> None:
        super().__init__()
        self._visualdl = _import_visualdl()
        self.log_dir = os.fspath(log_dir)
        self.writer: Any = None

    def write(self, mode: str, scalars: dict[str, float], step: int) -> None:
        if self.writer is None:
            self.writer = self._visualdl.LogWriter(self.log_dir)
        for tag, value in scalars.items():
            self.writer.add_scalar(tag=tag, step=step, value=value)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
