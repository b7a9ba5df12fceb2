"""Callbacks that save the model: ModelCheckpoint (periodic, final and the k best) and
EarlyStopping (best)."""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from typing import Any

from resvision.distributed import is_main_process

from .monitor import MonitorCallback, resolve_mode

__all__ = ["BEST_CHECKPOINT", "EarlyStopping", "ModelCheckpoint"]

#: The name (without ``.pt``) of the copy of the best checkpoint that ModelCheckpoint keeps; it is
#: what ``resvision eval/predict/export RUN_DIR`` take (``recipe.runs.PREFERRED``).
BEST_CHECKPOINT = "best"
# Characters kept as they are in a monitored name inside a file name; others become '_'.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]")


@dataclass(frozen=True)
class _Kept:
    """One of the k best checkpoints: its file name (in the folder), value and epoch."""

    file: str
    value: float
    epoch: int


class ModelCheckpoint(MonitorCallback):
    """Save the model every ``save_freq`` epochs, at the end, and keep the ``save_top_k`` best
    (``paddle.callbacks.ModelCheckpoint`` with Lightning's selection options).

    Paddle's part: ``model.save('{save_dir}/{epoch}')`` after epochs ``save_freq - 1``,
    ``2 * save_freq - 1``, ... (0-based names, as Paddle) and ``model.save('{save_dir}/final')``
    when training ends (``save_last``).

    Lightning's part: after each evaluation of a completed epoch, the monitored value ranks the
    checkpoint of that epoch; the ``save_top_k`` best are kept as
    ``best-epoch={epoch:03d}-{monitor}={value:.4f}.pt`` (e.g.
    ``best-epoch=004-acc_top1=0.9123.pt``), the one that falls out of the top k is deleted, and
    the best of them is also saved as ``best.pt``, the file that ``resvision eval``, ``predict``
    and ``export`` take from a run folder. An evaluation that follows an epoch cut short
    (``num_iters``, ``stop_training``, a signal) is not ranked: a resumed run finishes that epoch
    and ranks it then. Ties keep the earlier epoch.

    Every file is written by ``model.save``: the engine's checkpoint (weights, optimizer,
    callback states, progress, random states...), atomically (a temporary file, then a rename),
    the same content as the epoch's ``{epoch}.pt``. The files kept and their values are this
    callback's state (``state_dict``), stored in every checkpoint: a resumed run continues the
    ranking exactly; a listed file that someone deleted is warned about and left out of the
    folder (its place in the ranking stays until a better value takes it). Under ``torchrun``
    every process ranks and only the main process writes and deletes. Without a folder (here
    or in ``fit``) nothing is saved.

    Args:
        save_freq: save ``{epoch}`` every this many epochs.
        save_dir: the folder; None takes ``fit``'s ``save_dir``.
        monitor: the evaluation value that ranks checkpoints (``'eval_'`` prefix optional);
            None (default) takes the first metric the evaluation logs (``'acc_top1'`` with
            ``Accuracy(topk=(1, 5))``, ``'acc'`` with ``Accuracy()``), or ``'loss'`` when the
            model has no metric. Which one is printed in one line when training begins.
        mode: 'min', 'max' or 'auto' (max for accuracy-like names, else min).
        save_top_k: how many best checkpoints to keep; 0 keeps none (and no ``best.pt``), -1
            keeps every evaluated epoch's.
        save_last: save ``{save_dir}/final`` when training ends (Paddle's name for the last
            state; the trainer's ``last.pt`` is the resume point written every ``save_steps``
            steps and on Ctrl-C/SIGTERM, not by this callback).

    Raises:
        ValueError: a bad argument (the message names it and what is accepted).

    Examples:
        >>> import os, tempfile
        >>> class FakeModel:  # resvision.Model.save writes the whole training checkpoint
        ...     def save(self, path):
        ...         open(path + ".pt", "w").close()
        ...         print("save", os.path.basename(path))
        >>> folder = tempfile.mkdtemp()
        >>> cb = ModelCheckpoint(save_freq=2, save_dir=folder, monitor="acc", save_top_k=1)
        >>> cb.set_model(FakeModel()); cb.on_train_begin()
        >>> for epoch, acc in enumerate([0.5, 0.7, 0.6]):
        ...     cb.on_eval_end({"acc": acc})
        ...     cb.on_epoch_end(epoch)
        save best-epoch=000-acc=0.5000
        save best
        save best-epoch=001-acc=0.7000
        save best
        save 1
        >>> cb.on_train_end()
        save final
        >>> sorted(os.listdir(folder))
        ['1.pt', 'best-epoch=001-acc=0.7000.pt', 'best.pt', 'final.pt']
        >>> os.path.basename(cb.best_model_path), cb.best_model_score
        ('best-epoch=001-acc=0.7000.pt', 0.7)
    """

    def __init__(
        self,
        save_freq: int = 1,
        save_dir: str | os.PathLike[str] | None = None,
        *,
        monitor: str | None = None,
        mode: str = "auto",
        save_top_k: int = 3,
        save_last: bool = True,
    ) -> None:
        if monitor is not None and (not isinstance(monitor, str) or not monitor):
            raise ValueError(
                f"monitor must be None or a logged name such as 'acc_top1', got {monitor!r}"
            )
        # Until fit says which metrics it logs, a default monitor stands in as 'loss'.
        super().__init__(monitor if monitor is not None else "loss", mode, 0.0)
        if isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1:
            raise ValueError(f"save_freq must be an int >= 1, got {save_freq!r}")
        if isinstance(save_top_k, bool) or not isinstance(save_top_k, int) or save_top_k < -1:
            raise ValueError(
                f"save_top_k must be an int >= -1 (0 keeps none, -1 keeps all), got {save_top_k!r}"
            )
        if not isinstance(save_last, bool):
            raise ValueError(f"save_last must be True or False, got {save_last!r}")
        self.save_freq = save_freq
        self.save_dir = None if save_dir is None else os.fspath(save_dir)
        self.save_top_k = save_top_k
        self.save_last = save_last
        self._auto_monitor = monitor is None
        self._mode_arg = mode
        self._kept: list[_Kept] = []
        self._pending: dict[str, Any] | None = None  # a state loaded before fit
        self._value: float | None = None  # the last evaluation's, until the epoch ends
        self._missing: set[str] = set()  # listed files found missing (warned about once)
        self._announced = False  # the line naming the monitor, once per fit

    # -- what is kept --------------------------------------------------------------------------
    @property
    def best_k_models(self) -> dict[str, float]:
        """``{path: value}`` of the checkpoints kept, best first (Lightning's name)."""
        return {self._path(k.file): k.value for k in self._kept}

    @property
    def best_model_path(self) -> str | None:
        """The best checkpoint's path (``best-epoch=...pt``; ``best.pt`` is a copy), or None."""
        return self._path(self._kept[0].file) if self._kept else None

    @property
    def best_model_score(self) -> float | None:
        """The best checkpoint's monitored value, or None."""
        return self._kept[0].value if self._kept else None

    def _dir(self) -> str | None:
        return self.save_dir if self.save_dir is not None else self.params.get("save_dir")

    def _path(self, file: str) -> str:
        folder = self._dir()
        return file if folder is None else os.path.join(folder, file)

    def _file_name(self, epoch: int, value: float) -> str:
        name = _UNSAFE.sub("_", self.monitor)
        return f"{BEST_CHECKPOINT}-epoch={epoch:03d}-{name}={value:.4f}.pt"

    # -- hooks -------------------------------------------------------------------------------
    def _reset(self) -> None:
        self._kept = []
        self._value = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._auto_monitor:
            metrics = [m for m in self.params.get("metrics") or () if m != "loss"]
            self.monitor = metrics[0] if metrics else "loss"
            self.mode = resolve_mode(self._mode_arg, self.monitor)
        super().on_train_begin(logs)  # starts afresh unless a state was loaded before fit
        self._value, self._announced = None, False
        if self._pending is not None:
            self._adopt(self._pending)

    def _announcement(self) -> str:
        count = "every" if self.save_top_k == -1 else f"the {self.save_top_k} best"
        why = ""
        if self._auto_monitor:
            why = " (the first metric)" if self.monitor != "loss" else " (the model has no metric)"
        better = "higher" if self.mode == "max" else "lower"
        return (
            f"ModelCheckpoint: keeping {count} checkpoints by the evaluation's {self.monitor}"
            f"{why}, {better} is better, in {self._dir()} ({BEST_CHECKPOINT}.pt is the best)"
        )

    def on_eval_begin(self, logs: dict[str, Any] | None = None) -> None:
        # Said at the first evaluation of a fit: a fit without evaluation data ranks nothing.
        if self._announced or not (self._in_fit and self.save_top_k):
            return
        self._announced = True
        if self._dir() is not None and self.params.get("verbose", 0) and is_main_process():
            print(self._announcement(), flush=True)

    def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._in_fit and self.save_top_k:
            self._value = self._current(logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value, self._value = self._value, None
        dropped: list[_Kept] = []
        if value is not None and self._epoch_completed(epoch):
            dropped = self._rank(epoch, value)
        if (epoch + 1) % self.save_freq == 0:
            self._save(str(epoch))
        for kept in dropped:  # after the new files: a crash in between leaves one file too many
            self._remove(kept.file)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.save_last:
            self._save("final")
        super().on_train_end(logs)

    def _epoch_completed(self, epoch: int) -> bool:
        # An epoch stopped early has a resume point inside it; progress.epoch moved past it
        # otherwise. Without an engine model (a hand-written loop) every epoch counts.
        progress = getattr(self.model, "progress", None)
        return progress is None or progress.epoch > epoch

    def _rank(self, epoch: int, value: float) -> list[_Kept]:
        """Put the epoch's checkpoint in the ranking, save what enters; return what fell out."""
        entry = _Kept(self._file_name(epoch, value), value, epoch)
        kept = [k for k in self._kept if k.file != entry.file]
        place = next((i for i, k in enumerate(kept) if self._improves(value, k.value)), len(kept))
        if self.save_top_k != -1 and place >= self.save_top_k:
            return []
        kept.insert(place, entry)
        cut = len(kept) if self.save_top_k == -1 else self.save_top_k
        self._kept, dropped = kept[:cut], kept[cut:]
        # The state saved with the files below already lists the new one.
        self._save(entry.file[: -len(".pt")])
        if place == 0:
            self._save(BEST_CHECKPOINT)
        return dropped

    def _save(self, name: str) -> None:
        folder = self._dir()
        if self.model is None or folder is None or not is_main_process():
            return
        path = os.path.join(folder, name)
        if self.params.get("verbose", 0):
            print(f"save checkpoint at {os.path.abspath(path)}")
        self.model.save(path)

    def _remove(self, file: str) -> None:
        folder = self._dir()
        if folder is None or not is_main_process():
            return
        try:
            os.remove(os.path.join(folder, file))
        except FileNotFoundError:
            if file in self._missing:
                return
            warnings.warn(
                f"ModelCheckpoint: {file}, which fell out of the {self.save_top_k} best, was "
                "already deleted",
                stacklevel=3,
            )

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        if not self._kept:
            return {}
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "kept": [{"file": k.file, "value": k.value, "epoch": k.epoch} for k in self._kept],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending = dict(state)
        if self._in_fit:  # the engine restores states after on_train_begin
            self._adopt(self._pending)
        self._loaded()

    def _adopt(self, state: dict[str, Any]) -> None:
        """Take over a saved ranking (called once the monitor is known)."""
        self._pending, self._kept, self._missing = None, [], set()
        if not state or not self.save_top_k:
            return
        if (state["monitor"], state["mode"]) != (self.monitor, self.mode):
            warnings.warn(
                f"ModelCheckpoint: the checkpoint ranked by {state['monitor']} "
                f"({state['mode']}), this run by {self.monitor} ({self.mode}); the ranking starts "
                "afresh and its files are left as they are",
                stacklevel=4,
            )
            return
        kept = [_Kept(str(k["file"]), float(k["value"]), int(k["epoch"])) for k in state["kept"]]
        cut = len(kept) if self.save_top_k == -1 else self.save_top_k
        self._kept = kept[:cut]
        for extra in kept[cut:]:  # saved with a larger save_top_k
            self._remove(extra.file)
        folder = self._dir()
        if folder is None or not is_main_process():
            return
        missing = [k.file for k in self._kept if not os.path.isfile(os.path.join(folder, k.file))]
        self._missing = set(missing)
        if missing:
            warnings.warn(
                f"ModelCheckpoint: {len(missing)} of the best checkpoints the checkpoint lists "
                f"are missing from {folder}: {', '.join(missing)}; they keep their place in the "
                "ranking until better ones replace them",
                stacklevel=4,
            )


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
