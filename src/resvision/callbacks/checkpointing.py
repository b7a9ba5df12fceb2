"""Callbacks that save the model: ModelCheckpoint (periodic) and EarlyStopping (best)."""

from __future__ import annotations

import os
from typing import Any

from resvision.distributed import is_main_process

from .base import Callback
from .monitor import MonitorCallback

__all__ = ["EarlyStopping", "ModelCheckpoint"]


class ModelCheckpoint(Callback):
    """Save the model every ``save_freq`` epochs and at the end (``paddle.callbacks``).

    Calls ``model.save('{save_dir}/{epoch}')`` after epochs ``save_freq - 1``,
    ``2 * save_freq - 1``, ... (0-based names, as Paddle) and ``model.save('{save_dir}/final')``
    when training ends. Only the main process saves. Without a ``save_dir`` (here or in
    ``fit``) nothing is saved.

    Args:
        save_freq: save every this many epochs.
        save_dir: the folder; None takes ``fit``'s ``save_dir``.

    Examples:
        >>> class FakeModel:
        ...     def save(self, path):
        ...         print("save", path)
        >>> cb = ModelCheckpoint(save_freq=2, save_dir="out")
        >>> cb.set_model(FakeModel())
        >>> for epoch in range(3):
        ...     cb.on_epoch_end(epoch)
        save out/1
        >>> cb.on_train_end()
        save out/final
    """

    def __init__(self, save_freq: int = 1, save_dir: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        if isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1:
            raise ValueError(f"save_freq must be an int >= 1, got {save_freq!r}")
        self.save_freq = save_freq
        self.save_dir = None if save_dir is None else os.fspath(save_dir)

    def _dir(self) -> str | None:
        return self.save_dir if self.save_dir is not None else self.params.get("save_dir")

    def _save(self, name: str) -> None:
        folder = self._dir()
        if self.model is None or folder is None or not is_main_process():
            return
        path = os.path.join(folder, name)
        if self.params.get("verbose", 0):
            print(f"save checkpoint at {os.path.abspath(path)}")
        self.model.save(path)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.save_freq == 0:
            self._save(str(epoch))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._save("final")


class EarlyStopping(MonitorCallback):
    """Stop training when an evaluation metric stops improving (``paddle.callbacks``).

    Checked at the end of each evaluation. An evaluation improves when it beats the best so
    far by more than ``min_delta`` (and the ``baseline``, if given); after ``patience``
    evaluations in a row without improvement, ``model.stop_training`` is set. With
    ``save_best_model`` each improvement saves ``'{save_dir}/best_model'`` (``save_dir`` comes
    from ``fit``).

    One difference from Paddle: Paddle also stops after an *improving* evaluation when
    ``patience=0``; here ``patience=0`` stops at the first evaluation that does not improve.

    Args:
        monitor: the logged value, e.g. ``'loss'``, ``'acc_top1'`` (``'eval_acc_top1'`` works too).
        mode: 'min', 'max' or 'auto' (max for accuracy-like names, else min).
        patience: evaluations without improvement tolerated before stopping.
        verbose: 1 prints when stopping.
        min_delta: the smallest change that counts as an improvement.
        baseline: a value to beat; training stops if it is not beaten within ``patience``.
        save_best_model: save the best model to ``save_dir/best_model``.

    Examples:
        >>> class FakeModel:
        ...     stop_training = False
        >>> cb = EarlyStopping("acc", patience=1, verbose=0, save_best_model=False)
        >>> cb.set_model(FakeModel()); cb.on_train_begin()
        >>> for acc in (0.5, 0.6, 0.6, 0.55):
        ...     cb.on_eval_end({"acc": acc})
        ...     print(cb.best_value, cb.wait_epoch, cb.model.stop_training)
        0.5 0 False
        0.6 0 False
        0.6 1 True
        0.6 2 True
    """

    def __init__(
        self,
        monitor: str = "loss",
        mode: str = "auto",
        patience: int = 0,
        verbose: int = 1,
        min_delta: float = 0,
        baseline: float | None = None,
        save_best_model: bool = True,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        self.patience = patience
        self.verbose = verbose
        self.baseline = None if baseline is None else float(baseline)
        self.save_best_model = save_best_model
        self.save_dir: str | None = None  # set by config_callbacks from fit's save_dir
        self._reset()

    def _reset(self) -> None:
        self.wait_epoch = 0
        self.stopped_epoch = 0
        self.best_value = self._worst() if self.baseline is None else self.baseline

    def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
        current = self._current(logs)
        if current is None:
            return
        self.stopped_epoch += 1
        if self._improves(current, self.best_value):
            self.best_value = current
            self.wait_epoch = 0
            folder = self.save_dir if self.save_dir is not None else self.params.get("save_dir")
            if (
                self.save_best_model
                and folder is not None
                and self.model is not None
                and is_main_process()
            ):
                self.model.save(os.path.join(folder, "best_model"))
            return
        self.wait_epoch += 1
        if self.wait_epoch >= self.patience:
            if self.model is not None:
                self.model.stop_training = True
            if self.verbose > 0 and is_main_process():
                print(
                    f"Evaluation {self.stopped_epoch}: early stopping ({self.monitor} has not improved "
                    f"on {self.best_value:.6g} for {self.wait_epoch} evaluations)."
                )

    def state_dict(self) -> dict[str, Any]:
        return {
            "wait_epoch": self.wait_epoch,
            "best_value": self.best_value,
            "stopped_epoch": self.stopped_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wait_epoch = int(state["wait_epoch"])
        self.best_value = float(state["best_value"])
        self.stopped_epoch = int(state.get("stopped_epoch", 0))
        self._loaded()
