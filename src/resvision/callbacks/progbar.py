"""ProgBarLogger: a tqdm bar on a terminal, one line per ``log_freq`` steps otherwise."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any

from resvision.distributed import is_main_process

from .base import Callback, to_scalar

__all__ = ["ProgBarLogger"]

# Keys of the batch logs that are not shown as metrics.
_NOT_SHOWN = {
    "batch_size",
    "ips",
    "lr",
    "step",
    "steps",
    "epoch",
    "metrics",
    "global_step",
    "start_step",
    "num_samples",  # stated on its own line ("Eval samples: N")
    "eval_num_samples",
}


def _fmt(value: float) -> str:
    # Paddle's format: 4 decimals, or scientific notation for small values such as rates.
    return f"{value:.4f}" if abs(value) > 1e-3 or value == 0 else f"{value:.4e}"


def _fmt_time(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class _Phase:
    """Counters of one displayed phase: a training epoch, an evaluation or a prediction."""

    title: str
    total: int | None
    names: list[str]
    start: float = field(default_factory=time.perf_counter)
    step: int = 0
    first_step: int = 0  # > 0 when a resumed epoch starts inside
    samples: int = 0
    data_time: float = 0.0
    batch_time: float = 0.0
    last_batch_end: float = field(default_factory=time.perf_counter)
    batch_start: float = 0.0
    window_start: float = field(default_factory=time.perf_counter)
    window_samples: int = 0
    bar: Any = None


class ProgBarLogger(Callback):
    """Shows progress, loss and metrics (``paddle.callbacks.ProgBarLogger``).

    On a terminal a tqdm bar per epoch / evaluation; otherwise (a log file, a notebook
    capture) one line every ``log_freq`` steps with loss, metrics, learning rate, images/s
    and ETA. Only the main process prints.

    Args:
        log_freq: show the values every ``log_freq`` steps.
        verbose: 0 silent; 1 the bar (or the lines and a last line per phase); 2 also Paddle's headers ("Epoch
            1/10", "Eval begin...", "Eval samples: N") and a summary line per epoch and
            evaluation; 3 as 2 plus the average data-loading and batch times.
        file: where to write (default ``sys.stdout`` at each write); a terminal is
            detected with ``file.isatty()``.

    Examples:
        >>> import io
        >>> out = io.StringIO()
        >>> bar = ProgBarLogger(log_freq=2, verbose=2, file=out)
        >>> bar.set_params({"epochs": 1, "steps": 4, "metrics": ["loss"]})
        >>> bar.on_train_begin()
        >>> bar.on_epoch_begin(0)
        >>> for step in range(4):
        ...     bar.on_train_batch_begin(step)
        ...     bar.on_train_batch_end(step, {"loss": 0.5, "batch_size": 4})
        >>> bar.on_epoch_end(0, {"loss": 0.5})
        >>> out.getvalue().splitlines()[2].startswith("Epoch 1/1 step 2/4 - loss: 0.5000 - ")
        True
    """

    def __init__(self, log_freq: int = 1, verbose: int = 2, file: IO[str] | None = None) -> None:
        super().__init__()
        if isinstance(log_freq, bool) or not isinstance(log_freq, int) or log_freq < 1:
            raise ValueError(f"log_freq must be an int >= 1, got {log_freq!r}")
        if verbose not in (0, 1, 2, 3):
            raise ValueError(f"verbose must be 0, 1, 2 or 3, got {verbose!r}")
        self.log_freq = log_freq
        self.verbose = verbose
        self.file = file
        self._phases: dict[str, _Phase] = {}
        self.epochs: int | None = None

    # -- output --------------------------------------------------------------------------
    def _out(self) -> IO[str]:
        return self.file if self.file is not None else sys.stdout

    def _is_tty(self) -> bool:
        isatty = getattr(self._out(), "isatty", None)
        return bool(isatty and isatty())

    def _active(self) -> bool:
        return bool(self.verbose) and is_main_process()

    def _print(self, text: str) -> None:
        out = self._out()
        out.write(text + "\n")
        out.flush()

    # -- phases --------------------------------------------------------------------------
    def _begin(
        self, mode: str, title: str, total: Any, names: list[str], first_step: int = 0
    ) -> None:
        total = int(total) if isinstance(total, int) and total > 0 else None
        phase = _Phase(
            title=title, total=total, names=names, step=first_step, first_step=first_step
        )
        if self._active() and self._is_tty():
            from tqdm.auto import tqdm

            phase.bar = tqdm(
                total=total,
                desc=title,
                file=self._out(),
                unit="step",
                dynamic_ncols=True,
                leave=True,
            )
        self._phases[mode] = phase

    def _batch_begin(self, mode: str) -> None:
        phase = self._phases.get(mode)
        if phase is None:
            return
        now = time.perf_counter()
        phase.data_time += now - phase.last_batch_end
        phase.batch_start = now

    def _batch_end(self, mode: str, logs: dict[str, Any] | None) -> None:
        phase = self._phases.get(mode)
        if phase is None:
            return
        logs = logs or {}
        now = time.perf_counter()
        phase.step += 1
        batch = int(to_scalar(logs.get("batch_size")) or 0)
        phase.samples += batch
        phase.window_samples += batch
        phase.batch_time += now - (phase.batch_start or now)
        phase.last_batch_end = now
        if not self._active() or phase.step % self.log_freq:
            return
        last_step = phase.total is not None and phase.step >= phase.total
        if phase.bar is not None:
            phase.bar.set_postfix_str(self._values(phase, logs, with_eta=False), refresh=False)
            phase.bar.update(phase.step - phase.bar.n)
        elif not last_step:  # the last step is shown by the summary line
            self._print(f"{phase.title} {self._count(phase)} - {self._values(phase, logs)}")
        phase.window_start, phase.window_samples = now, 0

    def _end(self, mode: str, logs: dict[str, Any] | None) -> _Phase | None:
        phase = self._phases.pop(mode, None)
        if phase is None or not self._active():
            return phase
        logs = logs or {}
        if phase.bar is not None:
            phase.bar.set_postfix_str(
                self._values(phase, logs, with_eta=False, overall=True), refresh=False
            )
            phase.bar.update(phase.step - phase.bar.n)
            phase.bar.close()
        else:
            elapsed = time.perf_counter() - phase.start
            self._print(
                f"{phase.title} {self._count(phase)} - "
                f"{self._values(phase, logs, with_eta=False, overall=True)} - {elapsed:.1f}s"
            )
        return phase

    @staticmethod
    def _count(phase: _Phase) -> str:
        if phase.total is None:
            return f"step {phase.step}"
        return f"step {phase.step:{len(str(phase.total))}d}/{phase.total}"

    def _values(
        self, phase: _Phase, logs: dict[str, Any], with_eta: bool = True, overall: bool = False
    ) -> str:
        names = phase.names or [k for k in logs if k not in _NOT_SHOWN]
        names = list(dict.fromkeys([*names, *(k for k in logs if k.startswith("eval_"))]))
        parts = []
        for name in names:
            value = to_scalar(logs.get(name))
            if value is not None and name not in _NOT_SHOWN:
                parts.append(f"{name}: {_fmt(value)}")
        lr = to_scalar(logs.get("lr"))
        if lr is not None:
            parts.append(f"lr: {_fmt(lr)}")
        now = time.perf_counter()
        if overall:
            elapsed, samples = now - phase.start, phase.samples
        else:
            elapsed, samples = now - phase.window_start, phase.window_samples
        if samples and elapsed > 0:
            parts.append(f"{samples / elapsed:.1f} img/s")
        done = phase.step - phase.first_step
        if self.verbose >= 3 and done:
            parts.append(f"reader: {phase.data_time / done:.5f} s/step")
            parts.append(f"batch: {phase.batch_time / done:.5f} s/step")
        if with_eta and phase.total is not None and done:
            per_step = (now - phase.start) / done
            parts.append(f"ETA: {_fmt_time(per_step * max(phase.total - phase.step, 0))}")
        return " - ".join(parts)

    def _metric_names(self, names: Any) -> list[str]:
        names = list(names or [])
        return names if "loss" in names or not names else ["loss", *names]

    # -- hooks ---------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.epochs = self.params.get("epochs")
        if self._active() and self.verbose >= 2 and not self._is_tty():
            self._print(
                "The loss value printed in the log is the current batch, and the metric is the "
                "average value of previous steps."
            )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        title = f"Epoch {epoch + 1}/{self.epochs}" if self.epochs else f"Epoch {epoch + 1}"
        if self._active() and self.verbose >= 2 and not self._is_tty():
            self._print(title)
        start = int(to_scalar((logs or {}).get("start_step")) or 0)
        names = self._metric_names(self.params.get("metrics"))
        self._begin("train", title, self.params.get("steps"), names, first_step=start)

    def on_train_batch_begin(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self._batch_begin("train")

    def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self._batch_end("train", logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._end("train", logs)

    def on_eval_begin(self, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self._active() and self.verbose >= 2 and not self._is_tty():
            self._print("Eval begin...")
        names = self._metric_names(logs.get("metrics") or self.params.get("metrics"))
        self._begin("eval", "Eval", logs.get("steps"), names)

    def on_eval_batch_begin(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self._batch_begin("eval")

    def on_eval_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self._batch_end("eval", logs)

    def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
        phase = self._end("eval", logs)
        if phase is not None and self._active() and self.verbose >= 2:
            # Under torchrun the evaluation's num_samples counts every process's shard.
            samples = to_scalar((logs or {}).get("num_samples"))
            self._print(f"Eval samples: {int(samples) if samples is not None else phase.samples}")

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self._active() and self.verbose >= 2 and not self._is_tty():
            self._print("Predict begin...")
        self._begin("predict", "Predict", logs.get("steps"), [])

    def on_predict_batch_begin(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self._batch_begin("predict")

    def on_predict_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self._batch_end("predict", logs)

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        phase = self._end("predict", logs)
        if phase is not None and self._active() and self.verbose >= 2:
            self._print(f"Predict samples: {phase.samples}")
