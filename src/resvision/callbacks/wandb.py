"""Paddle's ``WandbCallback``: loss and metrics to a Weights & Biases run.

Needs ``wandb`` (``pip install 'resvision[wandb]'``). The run is created when the callback is
(``wandb.init`` with the callback's arguments, on the main process only), as Paddle does; an
active run (``wandb.run``) is reused instead, with a warning. ``mode='offline'`` (or
``WANDB_MODE=offline``) writes the run under ``dir`` for a later ``wandb sync``, with no
account and no network.

Logged rows, as Paddle's (the values and steps are :mod:`resvision.callbacks.visualdl`'s):

- during ``fit``: ``{'train/step': n, 'train/loss': ..., 'train/<metric>': ...}`` after each
  training batch whose logs carry them (every ``log_freq`` steps in resvision), ``n`` being
  the batches since ``fit`` began; ``train/*`` are plotted against ``train/step``;
- at the end of each evaluation: ``{'epoch': e, 'eval/loss': ..., 'eval/<metric>': ...}``,
  ``e`` the epoch (0-based); ``eval/*`` are plotted against ``epoch``.

The run is finished at the end of ``fit``, and at the end of an evaluation outside ``fit``
(where Paddle 3.3.1's callback raises ``AttributeError``: it has no epoch before a ``fit``;
the step is 0 here, as Paddle's VisualDL has it). A later ``fit`` or evaluation with the same
callback starts a new run with the same arguments. To continue one W&B run across a resumed
``fit``, pass wandb's own ``id=...`` and ``resume='allow'``. wandb 0.31 writes the run file
from its service process, which may still be writing when ``finish()`` returns
(``wandb.teardown()`` waits for it).
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

from resvision.distributed import is_main_process

from .visualdl import PaddleScalarLogger

__all__ = ["WandbCallback"]


def _import_wandb() -> Any:
    try:
        import wandb
    except ImportError as err:
        raise ImportError(
            "WandbCallback needs the 'wandb' package: pip install 'resvision[wandb]' "
            "(or pip install wandb)"
        ) from err
    return wandb


class WandbCallback(PaddleScalarLogger):
    """Track the loss and metrics of ``fit`` / ``evaluate`` in Weights & Biases (Paddle's).

    Args:
        project: the W&B project (None: wandb's default, ``uncategorized``).
        entity: the team or user the run belongs to (None: the logged-in user).
        name: the run's name (None: a random one from wandb).
        dir: where wandb keeps the run's files (None: ``./wandb``).
        mode: ``'online'``, ``'offline'`` or ``'disabled'`` (None: wandb's, ``WANDB_MODE``).
        job_type: the type of run, to group runs.
        **kwargs: any other ``wandb.init`` argument (``config=``, ``tags=``, ``id=``...).

    Attributes:
        wandb_args: the arguments given to ``wandb.init``.
        run: the W&B run (created on first use; None on processes other than the main one).

    Raises:
        ImportError: when ``wandb`` is not installed (``pip install 'resvision[wandb]'``).

    Examples:
        >>> from resvision.callbacks import WandbCallback
        >>> cb = WandbCallback(project="resvision", mode="offline")  # doctest: +SKIP
        >>> model.fit(train_data, eval_data, batch_size=64, callbacks=[cb])  # doctest: +SKIP

        What is logged at which step runs without the package: see
        :class:`resvision.callbacks.visualdl.PaddleScalarLogger`.
    """

    def __init__(
        self,
        project: str | None = None,
        entity: str | None = None,
        name: str | None = None,
        dir: str | None = None,
        mode: Literal["online", "offline", "disabled"] | None = None,
        job_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.wandb = _import_wandb()
        self.wandb_args: dict[str, Any] = {
            "project": project,
            "name": name,
            "entity": entity,
            "dir": dir,
            "mode": mode,
            "job_type": job_type,
        }
        self.wandb_args.update(kwargs)
        self._run: Any = None
        _ = self.run  # Paddle starts the run here

    @property
    def run(self) -> Any:
        """The W&B run, started on first use (main process only; None elsewhere)."""
        if self._run is None and is_main_process():
            if self.wandb.run is not None:
                warnings.warn(
                    "a wandb run is already in progress: WandbCallback logs into it; call "
                    "wandb.finish() before creating the callback to get a run of its own",
                    stacklevel=2,
                )
                self._run = self.wandb.run
            else:
                self._run = self.wandb.init(**self.wandb_args)
        return self._run

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        if is_main_process():
            run = self.run
            run.define_metric("train/step")
            run.define_metric("train/*", step_metric="train/step")
            run.define_metric("epoch")
            run.define_metric("eval/*", step_metric="epoch")

    def write(self, mode: str, scalars: dict[str, float], step: int) -> None:
        row: dict[str, Any] = {"train/step": step} if mode == "train" else {"epoch": step}
        row.update(scalars)
        self.run.log(row)

    def close(self) -> None:
        if self._run is not None:
            self._run.finish()
            self._run = None
