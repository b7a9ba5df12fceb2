"""Metric loggers: JSONLLogger (``metrics.jsonl`` in the run folder) and TensorBoard."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from resvision.distributed import is_main_process

from .base import Callback, to_scalar

__all__ = ["JSONLLogger", "TensorBoard"]

# Log keys that are not metrics; they are kept in JSON rows but not plotted in TensorBoard.
_BOOKKEEPING = {"batch_size", "steps", "metrics", "step", "epoch", "global_step", "start_step"}


def _json_value(value: Any) -> Any:
    """A log value as JSON: floats (non-finite as null), ints, strings, lists of those."""
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, int):
        return value
    scalar = to_scalar(value)
    if scalar is not None:
        return scalar if math.isfinite(scalar) else None
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if hasattr(value, "tolist"):
        return _json_value(value.tolist())
    return str(value)


class _StepCounter(Callback):
    """Shared bookkeeping: current epoch and a global step that survives resume."""

    def __init__(self, log_freq: int | None) -> None:
        super().__init__()
        if log_freq is not None and (
            isinstance(log_freq, bool) or not isinstance(log_freq, int) or log_freq < 1
        ):
            raise ValueError(
                f"log_freq must be an int >= 1 or None (fit's log_freq), got {log_freq!r}"
            )
        self.log_freq = log_freq
        self.global_step = 0
        self.epoch: int | None = None
        self._in_fit = False
        self._last_lr: float | None = None

    def _freq(self) -> int:
        return self.log_freq or int(self.params.get("log_freq") or 1)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._in_fit = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self.global_step += 1
        lr = to_scalar((logs or {}).get("lr"))
        if lr is not None:
            self._last_lr = lr
        if (step + 1) % self._freq() == 0 and is_main_process():
            self._log_step(step, logs or {})

    def _log_step(self, step: int, logs: dict[str, Any]) -> None:
        raise NotImplementedError

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._in_fit = False

    def state_dict(self) -> dict[str, Any]:
        return {"global_step": self.global_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.global_step = int(state.get("global_step", 0))


class JSONLLogger(_StepCounter):
    """Append one JSON object per event to ``<save_dir>/metrics.jsonl``.

    Rows (each has ``event`` and ``time``, seconds since the epoch):

    - ``train_begin``: ``epochs``, ``steps``, ``batch_size``;
    - ``train_batch`` every ``log_freq`` steps: ``epoch``, ``step`` (0-based in the epoch),
      ``global_step`` (batches since the start, kept across resume), loss, metrics, lr, ips;
    - ``epoch_end``: ``epoch`` and the epoch logs (train metrics, ``eval_`` metrics, lr);
    - ``eval_end``: the evaluation metrics, with ``epoch`` when inside ``fit``;
    - ``train_end``.

    Each line is flushed when written, so the file can be followed during a run; a resumed
    run appends. Non-finite numbers are written as ``null``. Only the main process writes.

    Args:
        save_dir: the folder; None takes ``fit``'s ``save_dir``.
        log_freq: write a ``train_batch`` row every this many steps (None: ``fit``'s).
        filename: the file name.

    Examples:
        >>> import json, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> cb = JSONLLogger(folder, log_freq=1)
        >>> cb.on_epoch_begin(0)
        >>> cb.on_train_batch_end(0, {"loss": 2.5, "lr": 0.1, "batch_size": 8})
        >>> row = json.loads(open(cb.path).readline())
        >>> row["event"], row["global_step"], row["loss"]
        ('train_batch', 1, 2.5)
    """

    def __init__(
        self,
        save_dir: str | os.PathLike[str] | None = None,
        log_freq: int | None = None,
        filename: str = "metrics.jsonl",
    ) -> None:
        super().__init__(log_freq)
        self.save_dir = None if save_dir is None else os.fspath(save_dir)
        self.filename = filename

    @property
    def path(self) -> Path | None:
        """The file written to, or None when no folder is known yet."""
        folder = self.save_dir if self.save_dir is not None else self.params.get("save_dir")
        return None if folder is None else Path(folder) / self.filename

    def write(self, event: str, fields: dict[str, Any] | None = None) -> None:
        """Append one row ``{'event': event, 'time': now, **fields}`` (main process only)."""
        if not is_main_process():
            return
        path = self.path
        if path is None:
            raise ValueError(
                "JSONLLogger has no folder: pass JSONLLogger(save_dir=...) or fit(save_dir=...)"
            )
        row = {"event": event, "time": round(time.time(), 3)}
        row.update({k: _json_value(v) for k, v in (fields or {}).items() if k not in row})
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, allow_nan=False) + "\n")
            f.flush()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        p = self.params
        self.write("train_begin", {k: p.get(k) for k in ("epochs", "steps", "batch_size")})

    def _log_step(self, step: int, logs: dict[str, Any]) -> None:
        # The engine's own step counters (e.g. global_step in optimizer steps) take precedence.
        self.write(
            "train_batch",
            {"epoch": self.epoch, "step": step, "global_step": self.global_step, **logs},
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        if "lr" not in logs and self._last_lr is not None:
            logs["lr"] = self._last_lr
        self.write("epoch_end", {"global_step": self.global_step, **logs, "epoch": epoch})

    def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
        fields = {k: v for k, v in (logs or {}).items() if k not in ("metrics", "steps")}
        if self._in_fit and self.epoch is not None:
            fields["epoch"] = self.epoch
        self.write("eval_end", fields)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_end(logs)
        self.write("train_end", {"global_step": self.global_step})


class TensorBoard(_StepCounter):
    """Write loss, metrics and learning rate as TensorBoard scalars.

    Needs the ``tensorboard`` package (``pip install 'resvision[tensorboard]'``). Tags:
    ``train/<name>`` every ``log_freq`` steps (x: global step), ``epoch/<name>`` at each
    epoch end and ``eval/<name>`` at each evaluation (x: epoch number, 1-based).

    Args:
        log_dir: the event folder; None takes ``<fit's save_dir>/tensorboard``.
        log_freq: write step scalars every this many steps (None: ``fit``'s ``log_freq``).

    Raises:
        ImportError: when ``tensorboard`` is not installed.
    """

    def __init__(
        self, log_dir: str | os.PathLike[str] | None = None, log_freq: int | None = None
    ) -> None:
        super().__init__(log_freq)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:  # torch raises ImportError when tensorboard is missing
            raise ImportError(
                "the TensorBoard callback needs the 'tensorboard' package: "
                "pip install 'resvision[tensorboard]' (or pip install tensorboard)"
            ) from err
        self._writer_class = SummaryWriter
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.writer: Any = None

    def _get_writer(self) -> Any:
        if self.writer is None:
            folder = self.log_dir
            if folder is None:
                save_dir = self.params.get("save_dir")
                if save_dir is None:
                    raise ValueError(
                        "TensorBoard has no folder: pass TensorBoard(log_dir=...) or fit(save_dir=...)"
                    )
                folder = os.path.join(save_dir, "tensorboard")
            self.writer = self._writer_class(log_dir=folder)
        return self.writer

    def _scalars(self, prefix: str, logs: dict[str, Any], x: int) -> None:
        if not is_main_process():
            return
        writer = self._get_writer()
        for key, value in logs.items():
            scalar = to_scalar(value)
            if key in _BOOKKEEPING or scalar is None or not math.isfinite(scalar):
                continue
            if prefix == "epoch" and key.startswith("eval_"):
                continue  # written under eval/ by on_eval_end
            writer.add_scalar(f"{prefix}/{key}", scalar, x)
        writer.flush()

    def _log_step(self, step: int, logs: dict[str, Any]) -> None:
        self._scalars("train", logs, self.global_step)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._scalars("epoch", dict(logs or {}), epoch + 1)

    def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
        x = (self.epoch + 1) if (self._in_fit and self.epoch is not None) else self.global_step
        self._scalars("eval", dict(logs or {}), x)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_end(logs)
        if self.writer is not None:
            self.writer.close()
            self.writer = None
