"""The callback protocol: :class:`Callback` (no-op hooks), :class:`CallbackList` (dispatch).

Hooks and their arguments are Paddle's (``paddle.callbacks.Callback``); a callback with
state also has Lightning's ``state_dict`` / ``load_state_dict``, and the engine keeps that
state in its checkpoints (:meth:`CallbackList.state_dict`).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

__all__ = ["Callback", "CallbackList"]

_MODES = ("train", "eval", "predict")


class Callback:
    """Base class of callbacks: every hook is a documented no-op.

    ``self.model`` is the resvision ``Model`` (set by :meth:`set_model`); setting
    ``self.model.stop_training = True`` ends ``fit`` after the current step. ``self.params``
    (set by :meth:`set_params`) has ``epochs``, ``steps`` (per epoch, None when unknown),
    ``verbose``, ``metrics`` (names, ``'loss'`` first), ``batch_size``, ``save_dir``,
    ``save_freq`` and ``log_freq``.

    Logs passed by the engine: to ``on_*_batch_end``, ``{'loss', <metric names>,
    'batch_size', 'lr', 'ips'}`` of that batch (metrics are running averages); to
    ``on_epoch_end``, the epoch's training metrics plus the evaluation ones prefixed
    ``eval_``; to ``on_eval_begin``, ``{'steps', 'metrics'}``; to ``on_eval_end``, the
    evaluation metrics (no prefix).

    Examples:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(f"epoch {epoch}: loss {logs['loss']:.2f}")
        >>> cbks = CallbackList([PrintLoss()])
        >>> cbks.on_epoch_end(0, {"loss": 0.5})
        epoch 0: loss 0.50
    """

    # Class-level defaults: Paddle-style subclasses often skip super().__init__().
    model: Any = None
    params: Mapping[str, Any] = MappingProxyType({})

    def __init__(self) -> None:
        self.model = None
        self.params = {}

    @property
    def state_key(self) -> str:
        """The key of this callback's state in a checkpoint (the class name by default)."""
        return type(self).__qualname__

    def set_params(self, params: dict[str, Any]) -> None:
        """Receive the run's parameters (see the class docstring for the keys)."""
        self.params = params

    def set_model(self, model: Any) -> None:
        """Receive the resvision ``Model`` being trained / evaluated."""
        self.model = model

    def state_dict(self) -> dict[str, Any]:
        """What this callback needs to resume (empty for a stateless callback)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Called once at the start of ``fit``."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Called once at the end of ``fit`` (also after an early stop)."""

    def on_eval_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Called at the start of an evaluation; logs ``{'steps', 'metrics'}``."""

    def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
        """Called at the end of an evaluation; logs are the evaluation metrics."""

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Called at the start of ``predict``; logs ``{'steps'}``."""

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        """Called at the end of ``predict``."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Called at the start of training epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Called at the end of epoch ``epoch``; logs: train metrics and ``eval_`` ones."""

    def on_train_batch_begin(self, step: int, logs: dict[str, Any] | None = None) -> None:
        """Called before training batch ``step`` (0-based within the epoch)."""

    def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        """Called after training batch ``step``; logs loss, metrics, batch_size, lr, ips."""

    def on_eval_batch_begin(self, step: int, logs: dict[str, Any] | None = None) -> None:
        """Called before evaluation batch ``step``."""

    def on_eval_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        """Called after evaluation batch ``step``."""

    def on_predict_batch_begin(self, step: int, logs: dict[str, Any] | None = None) -> None:
        """Called before prediction batch ``step``."""

    def on_predict_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        """Called after prediction batch ``step``."""


class CallbackList:
    """Calls each hook on every callback, in order; saves and restores their state.

    Args:
        callbacks: the callbacks (a single callback is accepted too).

    Examples:
        >>> cbks = CallbackList([Callback(), Callback()])
        >>> len(cbks), list(cbks.state_dict())
        (2, [])
    """

    def __init__(self, callbacks: Callback | Iterable[Callback] | None = None) -> None:
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks: list[Callback] = []
        for cb in callbacks:
            self.append(cb)
        self.params: dict[str, Any] = {}
        self.model: Any = None

    def append(self, callback: Callback) -> None:
        """Add a callback at the end."""
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks must be resvision.callbacks.Callback instances, got {type(callback).__name__}"
            )
        self.callbacks.append(callback)

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        for c in self.callbacks:
            c.set_params(params)

    def set_model(self, model: Any) -> None:
        self.model = model
        for c in self.callbacks:
            c.set_model(model)

    def _call(self, name: str, *args: Any) -> None:
        for c in self.callbacks:
            getattr(c, name)(*args)

    # -- state ---------------------------------------------------------------------------
    def _keys(self) -> list[str]:
        keys, seen = [], {}
        for c in self.callbacks:
            key = c.state_key
            n = seen.get(key, 0)
            seen[key] = n + 1
            keys.append(key if n == 0 else f"{key}#{n}")  # duplicates by order
        return keys

    def state_dict(self) -> dict[str, dict[str, Any]]:
        """``{state_key: state}`` of the callbacks that have state."""
        out = {}
        for key, c in zip(self._keys(), self.callbacks):
            state = c.state_dict()
            if state:
                out[key] = state
        return out

    def load_state_dict(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        """Give each callback its saved state; warn about saved states nobody takes."""
        keys = self._keys()
        for key, c in zip(keys, self.callbacks):
            if key in state:
                c.load_state_dict(dict(state[key]))
        unused = sorted(set(state) - set(keys))
        if unused:
            warnings.warn(
                f"checkpoint has state for callbacks that are not in use: {unused}", stacklevel=2
            )

    # -- Paddle's mode-based dispatch ------------------------------------------------------
    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")

    def on_begin(self, mode: str, logs: dict[str, Any] | None = None) -> None:
        self._check_mode(mode)
        self._call(f"on_{mode}_begin", logs)

    def on_end(self, mode: str, logs: dict[str, Any] | None = None) -> None:
        self._check_mode(mode)
        self._call(f"on_{mode}_end", logs)

    def on_batch_begin(self, mode: str, step: int, logs: dict[str, Any] | None = None) -> None:
        self._check_mode(mode)
        self._call(f"on_{mode}_batch_begin", step, logs)

    def on_batch_end(self, mode: str, step: int, logs: dict[str, Any] | None = None) -> None:
        self._check_mode(mode)
        self._call(f"on_{mode}_batch_end", step, logs)

    # -- the hooks -------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._call("on_train_begin", logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._call("on_train_end", logs)

    def on_eval_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._call("on_eval_begin", logs)

    def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
        self._call("on_eval_end", logs)

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        self._call("on_predict_end", logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self._call("on_train_batch_begin", step, logs)

    def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self._call("on_train_batch_end", step, logs)

    def on_eval_batch_begin(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self._call("on_eval_batch_begin", step, logs)

    def on_eval_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self._call("on_eval_batch_end", step, logs)

    def on_predict_batch_begin(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self._call("on_predict_batch_begin", step, logs)

    def on_predict_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self._call("on_predict_batch_end", step, logs)


# -- helpers shared by the callbacks --------------------------------------------------------
def find_optimizer(model: Any) -> Any:
    """The optimizer of a resvision ``Model`` (its ``optimizer``; ``_optimizer`` for Paddle's
    and other model classes)."""
    if model is None:
        return None
    for name in ("optimizer", "_optimizer"):
        opt = getattr(model, name, None)
        if opt is not None and hasattr(opt, "param_groups"):
            return opt
    return None


def find_network(model: Any) -> torch.nn.Module | None:
    """The ``nn.Module`` of a resvision ``Model`` (its ``network``), or the model itself."""
    if isinstance(model, torch.nn.Module):
        return model
    net = getattr(model, "network", None)
    return net if isinstance(net, torch.nn.Module) else None


def to_scalar(value: Any) -> float | None:
    """A log value as a float: numbers, one-element tensors / arrays / lists; else None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Number):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, torch.Tensor):
        return float(value.item()) if value.numel() == 1 else None
    if isinstance(value, np.ndarray):
        return float(value.item()) if value.size == 1 else None
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return to_scalar(value[0])
    return None


def monitor_value(logs: Mapping[str, Any] | None, monitor: str) -> float | None:
    """``logs[monitor]`` as a float; ``eval_x`` also finds ``x`` (eval logs have no prefix)."""
    if not logs:
        return None
    for key in (monitor, monitor[5:] if monitor.startswith("eval_") else None):
        if key and key in logs:
            value = to_scalar(logs[key])
            if value is not None and not math.isnan(value):
                return value
    return None
