"""Learning-rate callbacks: LRScheduler (steps a schedule) and ReduceLROnPlateau."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from resvision.distributed import is_main_process
from resvision.optim import lr as schedules

from .base import Callback, find_optimizer
from .monitor import MonitorCallback

__all__ = ["LRScheduler", "ReduceLROnPlateau"]


class LRScheduler(Callback):
    """Step a learning-rate schedule per optimizer step or per epoch (``paddle.callbacks``).

    The schedule is ``scheduler`` when given (a :mod:`resvision.optim.lr` schedule or any
    torch scheduler), else the one the optimizer was built with
    (``Momentum(learning_rate=<schedule>)`` exposes it as ``optimizer.lr_scheduler``).
    ``fit`` adds ``LRScheduler()`` by itself, so a schedule given to a resvision optimizer
    is stepped without further ado; a torch scheduler must be passed explicitly.

    ``by_step`` steps once per *optimizer* step (after gradient accumulation; not on a step
    the fp16 loss scaler skipped), at the end of the batch, so the ``lr`` logged for a batch
    is the one it used.

    A :class:`resvision.optim.lr.ReduceOnPlateau` schedule follows a metric instead: it is
    stepped with the evaluation ``loss`` after each evaluation, or, in a run without
    evaluation, with the epoch's training ``loss`` at the end of each epoch (``by_step`` and
    ``by_epoch`` do not apply to it). Paddle's callback would call its ``step()`` without the
    metric, which fails.

    Args:
        by_step: step per optimizer step (default when ``by_epoch`` is False).
        by_epoch: step at the end of each epoch instead.
        scheduler: the schedule to drive, or None to use the optimizer's.

    Raises:
        ValueError: when both ``by_step`` and ``by_epoch`` are True.
        TypeError: for ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (use the
            :class:`ReduceLROnPlateau` callback) or an object without ``step()``.

    Examples:
        >>> from resvision.optim import Momentum, lr
        >>> net = torch.nn.Linear(2, 1)
        >>> opt = Momentum(learning_rate=lr.StepDecay(0.1, step_size=1, gamma=0.5),
        ...                parameters=net.parameters())
        >>> class FakeModel:
        ...     _optimizer = opt
        >>> cb = LRScheduler(by_step=False, by_epoch=True)
        >>> cb.set_model(FakeModel()); cb.on_train_begin()
        >>> cb.on_epoch_end(0); opt.get_lr()
        0.05
    """

    def __init__(
        self, by_step: bool | None = None, by_epoch: bool = False, scheduler: Any = None
    ) -> None:
        super().__init__()
        if by_step is None:
            by_step = not by_epoch
        if by_step and by_epoch:
            raise ValueError("LRScheduler: by_step and by_epoch are mutually exclusive; pick one")
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            raise TypeError(
                "torch's ReduceLROnPlateau needs a metric: use resvision.callbacks.ReduceLROnPlateau"
            )
        if scheduler is not None and not callable(getattr(scheduler, "step", None)):
            raise TypeError(f"scheduler must have a step() method, got {type(scheduler).__name__}")
        self.by_step = bool(by_step)
        self.by_epoch = bool(by_epoch)
        self.scheduler = scheduler
        self._pending_steps = 0  # optimizer steps not yet turned into schedule steps
        self._hook: Any = None
        self._hooked_optimizer: Any = None
        self._saved_state: dict[str, Any] | None = None
        self._seen_eval = False  # a metric-driven schedule follows the evaluation loss

    def _schedule(self) -> Any:
        if self.scheduler is not None:
            return self.scheduler
        opt = find_optimizer(self.model)
        for name in ("lr_scheduler", "_learning_rate"):
            candidate = getattr(opt, name, None)
            if isinstance(candidate, schedules.LRScheduler):
                return candidate
        return None

    def _count_step(self, *args: Any) -> None:
        self._pending_steps += 1

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        schedule = self._schedule()
        if schedule is not None and self._saved_state is not None:
            schedule.load_state_dict(self._saved_state)
        self._saved_state = None
        self._seen_eval = False
        self._remove_hook()
        opt = find_optimizer(self.model)
        if self.by_step and opt is not None and hasattr(opt, "register_step_post_hook"):
            # Count real optimizer steps: none during gradient accumulation or a skipped step.
            self._hook = opt.register_step_post_hook(self._count_step)
            self._hooked_optimizer = opt

    def _remove_hook(self) -> None:
        if self._hook is not None:
            self._hook.remove()
        self._hook, self._hooked_optimizer = None, None

    def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        if not self.by_step:
            return
        if self._hooked_optimizer is None:
            self._pending_steps = 1  # no optimizer to watch: one step per batch, as Paddle
        schedule = self._schedule()
        steps, self._pending_steps = self._pending_steps, 0
        if schedule is not None and not isinstance(schedule, schedules.ReduceOnPlateau):
            for _ in range(steps):
                schedule.step()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        schedule = self._schedule()
        if isinstance(schedule, schedules.ReduceOnPlateau):
            if not self._seen_eval:  # a run without evaluation: the training loss
                self._step_on_loss(schedule, logs)
        elif self.by_epoch and schedule is not None:
            schedule.step()

    def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
        schedule = self._schedule()
        if isinstance(schedule, schedules.ReduceOnPlateau):
            self._seen_eval = True
            self._step_on_loss(schedule, logs)

    def _step_on_loss(self, schedule: Any, logs: dict[str, Any] | None) -> None:
        value = (logs or {}).get("loss")
        if value is None:
            if getattr(self, "_warned_no_loss", False):
                return
            self._warned_no_loss = True
            warnings.warn(
                "ReduceOnPlateau is stepped with the loss, and the logs have none (fit without "
                "a loss function?): the rate stays; call schedule.step(metric) yourself",
                stacklevel=3,
            )
            return
        schedule.step(value)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._remove_hook()

    def state_dict(self) -> dict[str, Any]:
        schedule = self._schedule()
        if schedule is None and self._saved_state is None:
            return {}
        state = {"pending_steps": self._pending_steps, "seen_eval": self._seen_eval}
        state["scheduler"] = schedule.state_dict() if schedule is not None else self._saved_state
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self._pending_steps = int(state.get("pending_steps", 0))
        self._seen_eval = bool(state.get("seen_eval", False))
        schedule = self._schedule()
        if schedule is not None:
            schedule.load_state_dict(state["scheduler"])
        else:  # the optimizer is not prepared yet: apply at on_train_begin
            self._saved_state = state["scheduler"]


class ReduceLROnPlateau(MonitorCallback):
    """Reduce the learning rate when an evaluation metric stops improving (``paddle.callbacks``).

    After ``patience`` evaluations without an improvement larger than ``min_delta``, every
    param group's rate becomes ``max(lr * factor, min_lr)``; then ``cooldown`` evaluations
    pass before counting again. Like Paddle, it leaves an optimizer driven by a schedule
    alone (with a warning): the schedule would overwrite the change.

    Args:
        monitor: the logged value to watch, e.g. ``'loss'`` or ``'acc_top1'``.
        factor: the multiplier, < 1.
        patience: evaluations without improvement before a reduction.
        verbose: 1 prints each reduction.
        mode: 'min', 'max' or 'auto' (max for accuracy-like names).
        min_delta: the smallest change that counts as an improvement.
        cooldown: evaluations to wait after a reduction.
        min_lr: the lower bound of the rate.

    Examples:
        >>> net = torch.nn.Linear(2, 1)
        >>> class FakeModel:
        ...     _optimizer = torch.optim.SGD(net.parameters(), lr=1.0)
        >>> cb = ReduceLROnPlateau(patience=1, factor=0.5, verbose=0)
        >>> cb.set_model(FakeModel()); cb.on_train_begin()
        >>> for loss in (1.0, 1.0, 1.0):
        ...     cb.on_eval_end({"loss": loss})
        >>> FakeModel._optimizer.param_groups[0]["lr"]
        0.25
    """

    def __init__(
        self,
        monitor: str = "loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 1,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau factor must be in (0, 1), got {factor!r}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        self.factor = float(factor)
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = float(min_lr)
        self._reset()

    def _reset(self) -> None:
        self.best = self._worst()
        self.wait = 0
        self.cooldown_counter = 0
        self.epoch = 0

    def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
        current = self._current(logs)
        if current is None:
            return
        self.epoch += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current, self.best):
            self.best, self.wait = current, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            self._reduce()
            self.cooldown_counter, self.wait = self.cooldown, 0

    def _reduce(self) -> None:
        opt = find_optimizer(self.model)
        if opt is None:
            warnings.warn("ReduceLROnPlateau found no optimizer on the model", stacklevel=3)
            return
        if isinstance(getattr(opt, "lr_scheduler", None), schedules.LRScheduler):
            warnings.warn(
                "ReduceLROnPlateau does nothing: the optimizer's rate follows a schedule",
                stacklevel=3,
            )
            return
        for group in opt.param_groups:
            old = float(group["lr"])
            if old > self.min_lr:
                group["lr"] = max(old * self.factor, self.min_lr)
        if self.verbose > 0 and is_main_process():
            rates = ", ".join(f"{g['lr']:.4g}" for g in opt.param_groups)
            print(f"Evaluation {self.epoch}: ReduceLROnPlateau reducing learning rate to {rates}.")

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "wait": self.wait,
            "cooldown_counter": self.cooldown_counter,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.wait = int(state["wait"])
        self.cooldown_counter = int(state["cooldown_counter"])
        self.epoch = int(state.get("epoch", 0))
        self._loaded()
