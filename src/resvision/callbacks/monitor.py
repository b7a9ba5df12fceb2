"""The base of the callbacks that watch one evaluation value: which value, which direction is
better, what counts as an improvement (``EarlyStopping``, ``ReduceLROnPlateau``)."""

from __future__ import annotations

import math
import warnings
from typing import Any

from .base import Callback, monitor_value

__all__ = ["MonitorCallback", "resolve_mode"]

# Names whose larger values are better when mode='auto' (Paddle only checks 'acc').
_HIGHER_IS_BETTER = ("acc", "precision", "recall", "auc", "f1", "iou", "map")


def resolve_mode(mode: str, monitor: str) -> str:
    """'min' or 'max' for ``mode`` in {'auto', 'min', 'max'}; 'auto' looks at the name.

    Examples:
        >>> resolve_mode("auto", "acc_top1"), resolve_mode("auto", "loss")
        ('max', 'min')
    """
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor.lower()
    return "max" if any(word in name for word in _HIGHER_IS_BETTER) else "min"


class MonitorCallback(Callback):
    """Base of the callbacks that watch one evaluation value (``EarlyStopping``,
    ``ReduceLROnPlateau``): the value's name and direction, what counts as an improvement, a
    one-time warning when the logs lack it, and a state that survives a resume (a state loaded
    before ``fit`` starts is kept; otherwise ``on_train_begin`` starts afresh).

    Subclasses implement ``_reset`` (their counters) and call ``_loaded()`` at the end of
    ``load_state_dict``.

    Args:
        monitor: the logged value, e.g. ``'loss'``, ``'acc_top1'``.
        mode: 'min', 'max' or 'auto' (max for accuracy-like names, else min).
        min_delta: the smallest change that counts as an improvement.
    """

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must be a metric name such as 'loss', got {monitor!r}")
        self.monitor = monitor
        self.mode = resolve_mode(mode, monitor)
        self.min_delta = abs(float(min_delta))
        self._restored = False
        self._in_fit = False
        self._warned = False

    def _reset(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _reset()")

    def _worst(self) -> float:
        """The starting best value: nothing is worse."""
        return math.inf if self.mode == "min" else -math.inf

    def _improves(self, current: float, best: float) -> bool:
        if self.mode == "min":
            return current < best - self.min_delta
        return current > best + self.min_delta

    def _current(self, logs: dict[str, Any] | None) -> float | None:
        """The monitored value of ``logs``; None (with one warning per fit) when absent."""
        current = monitor_value(logs, self.monitor)
        if current is None and not self._warned:
            warnings.warn(
                f"{type(self).__name__} monitors {self.monitor!r}, which the evaluation logs "
                f"lack (they have {sorted(logs or {})})",
                stacklevel=3,
            )
            self._warned = True
        return current

    def _loaded(self) -> None:
        # Loaded before fit (on_train_begin must not reset it) or during fit (nothing to do).
        self._restored = not self._in_fit

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._restored:  # a state loaded before fit starts is kept
            self._reset()
        self._restored = False
        self._in_fit = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._in_fit = False
