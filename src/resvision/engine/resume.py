"""Capturing and restoring the state of a fit in progress, for exact resume.

The *resume point* of a checkpoint is where training continues: the end of the last completed
epoch (after its evaluation and end-of-epoch callbacks), or, when training stopped inside an
epoch (``num_iters``, ``model.stop_training``, Ctrl-C, SIGTERM, ``save_steps``), the boundary
after the last batch it trained on. When training stops inside an epoch, :class:`FitSession`
keeps a snapshot taken at that boundary, so that the evaluation and callbacks that still run
afterwards do not leak into checkpoints written later (``final``, the epoch checkpoint).

Loaders with ``state_dict()`` / ``load_state_dict()`` (``resvision.data.loader.build_loader``,
torchdata's ``StatefulDataLoader``) continue the epoch exactly where they stopped. For any other
loader (a plain ``DataLoader``) the random states at the start of the epoch are saved, and the
resumed run replays the epoch's first batches without training on them: exact when the
loader's randomness is drawn when its iterator starts (shuffling, worker seeds), which holds for
``DataLoader`` with or without workers unless the dataset's own transforms draw from the global
random generators in the main process.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from resvision import distributed
from resvision.engine import data_parallel
from resvision.engine.checkpoint import (
    capture_rng_state,
    clone_tree,
    describe_skipped,
    existing_checkpoint_path,
    find_latest_checkpoint,
    is_training_checkpoint,
    load_checkpoint,
    restore_rng_state,
    to_safe,
)
from resvision.engine.identity import (
    ResumeMismatchError,
    architecture_differences,
    compare_for_resume,
)
from resvision.engine.loops import LossTracker, StepRunner, TrainProgress

if TYPE_CHECKING:
    from resvision.engine.model import Model


@dataclass
class FitSession:
    """The state of the current (or last) ``fit`` that is not in the network or optimizer.

    Attributes:
        progress: Epoch, batch in the epoch and optimizer steps.
        losses: The epoch's loss sum so far.
        loader: The training loader.
        callbacks: The ``CallbackList`` of the fit.
        config: The fit's arguments, stored in checkpoints.
        identity: The run's identity (:mod:`resvision.engine.identity`), stored in checkpoints.
        epoch_rng: Random states at the start of the epoch (loaders without ``state_dict``).
        snapshot: The resume point captured when training stopped inside an epoch.
    """

    progress: TrainProgress = field(default_factory=TrainProgress)
    losses: LossTracker = field(default_factory=LossTracker)
    loader: Any = None
    callbacks: Any = None
    config: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, Any] | None = None
    epoch_rng: dict[str, Any] | None = None
    snapshot: dict[str, Any] | None = None


def carried_scheduler(optimizer: Any) -> Any:
    """The LR schedule an optimizer carries (resvision's ``Momentum(learning_rate=schedule)``,
    Paddle's ``optimizer._learning_rate``), or None."""
    if optimizer is None:
        return None
    for attr in ("lr_scheduler", "_learning_rate"):
        candidate = getattr(optimizer, attr, None)
        if callable(getattr(candidate, "state_dict", None)) and callable(
            getattr(candidate, "step", None)
        ):
            return candidate
    return None


def is_stateful_loader(loader: Any) -> bool:
    """True when the loader can save and restore its position inside an epoch."""
    return callable(getattr(loader, "state_dict", None)) and callable(
        getattr(loader, "load_state_dict", None)
    )


def set_loader_epoch(loader: Any, epoch: int) -> None:
    """Tell the loader (or its sampler, e.g. ``DistributedSampler``) which epoch starts."""
    for owner in (loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
        if owner is not None and callable(getattr(owner, "set_epoch", None)):
            owner.set_epoch(epoch)
            return


def _generators(loader: Any) -> list[torch.Generator | None]:
    sampler = getattr(loader, "sampler", None)
    return [getattr(loader, "generator", None), getattr(sampler, "generator", None)]


def epoch_start_state(loader: Any) -> dict[str, Any]:
    """The random states the loader's next iterator will draw on (global and its generators)."""
    gens = [g.get_state() if isinstance(g, torch.Generator) else None for g in _generators(loader)]
    return {"rng": capture_rng_state(), "generators": gens}


def _restore_epoch_start(loader: Any, state: Mapping[str, Any]) -> None:
    restore_rng_state(state["rng"])
    for gen, gen_state in zip(_generators(loader), state["generators"]):
        if isinstance(gen, torch.Generator) and gen_state is not None:
            gen.set_state(gen_state.cpu())


def start_epoch(loader: Any, epoch: int, session: FitSession) -> Iterator[Any]:
    """Begin an epoch from its first batch and return its iterator."""
    set_loader_epoch(loader, epoch)
    session.epoch_rng = epoch_start_state(loader)
    return iter(loader)


def resume_epoch(
    loader: Any, epoch: int, batch: int, state: Mapping[str, Any] | None
) -> Iterator[Any]:
    """Return an iterator over the batches of ``epoch`` after the first ``batch`` ones.

    The iterator is created under the random states of the start of the epoch, as in the
    uninterrupted run: a loader may draw from the global generator when its iteration starts
    (``DataLoader`` draws its workers' base seed), and must draw the same numbers. The caller
    restores the checkpoint's own random states afterwards.

    Args:
        loader: The training loader.
        epoch: The epoch to continue.
        batch: Batches of it already trained on.
        state: The checkpoint's ``loader`` entry.

    Raises:
        ValueError: the checkpoint's loader state does not fit this loader.
    """
    set_loader_epoch(loader, epoch)
    if state is None:
        raise ValueError("the checkpoint stopped inside an epoch but holds no loader state")
    kind = state.get("kind")
    if kind == "state_dict":
        if not is_stateful_loader(loader):
            raise ValueError(
                "the checkpoint holds a loader state_dict but this loader has no load_state_dict; "
                "pass the same kind of data (a Dataset or the same loader class) as before"
            )
        loader.load_state_dict(state["state"])
        if batch >= (_length(loader) or batch + 1):
            # Saved after the epoch's last batch (before its evaluation and end-of-epoch
            # callbacks): nothing of it is left, and the loader would start the next epoch.
            return iter(())
        _restore_epoch_start(loader, state)
        iterator = iter(loader)
        try:  # start the iteration now, under the epoch's starting random states
            first = next(iterator)
        except StopIteration:
            return iter(())
        return itertools.chain([first], iterator)
    if kind != "replay":
        raise ValueError(f"unknown loader state kind {kind!r} in checkpoint")
    _restore_epoch_start(loader, state)
    iterator = iter(loader)
    for skipped in range(batch):
        try:
            next(iterator)
        except StopIteration:
            raise ValueError(
                f"cannot resume at batch {batch} of epoch {epoch}: the loader has only {skipped} "
                "batches now"
            ) from None
    return iterator


def restore_loader_position(loader: Any, state: Mapping[str, Any]) -> None:
    """Put a stateful loader back where an epoch-end checkpoint left it (the next epoch starts
    afresh either way; this only keeps the position a later checkpoint records). A state saved
    with other loader settings is left out: those were warned about, and no batch depends on it.
    """
    if state.get("kind") != "state_dict" or not is_stateful_loader(loader):
        return
    with contextlib.suppress(ValueError):
        loader.load_state_dict(state["state"])


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def loader_state(session: FitSession) -> dict[str, Any] | None:
    """The ``loader`` entry of a checkpoint for the session's current position."""
    loader = session.loader
    if loader is None or session.epoch_rng is None:
        return None
    if is_stateful_loader(loader):
        state = to_safe(clone_tree(loader.state_dict()))
        return {"kind": "state_dict", "state": state, **session.epoch_rng}
    return {"kind": "replay", **session.epoch_rng}


def capture_training_state(runner: StepRunner, session: FitSession | None) -> dict[str, Any]:
    """Everything a checkpoint holds besides the weights, at the current point.

    Tensors that may still change in place before the checkpoint is written (metric
    accumulators, callback states, gradients) are copied.
    """
    optimizer = runner.optimizer
    scheduler = carried_scheduler(optimizer)
    grads = None
    progress = session.progress if session is not None else TrainProgress()
    accumulate = session.config.get("accumulate_grad_batches", 1) if session is not None else 1
    if progress.batch % accumulate != 0:
        grads = [
            None if p.grad is None else p.grad.detach().clone() for p in runner.network.parameters()
        ]
    metrics = None
    if session is not None:
        metrics = {
            "loss": session.losses.state_dict(),
            "states": [
                to_safe(clone_tree(m.state_dict()))
                if callable(getattr(m, "state_dict", None))
                else None
                for m in runner.metrics
            ],
        }
    return {
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": to_safe(scheduler.state_dict()) if scheduler is not None else None,
        "scaler": runner.scaler.state_dict() if runner.scaler is not None else None,
        "callbacks": _callback_states(session),
        "metrics": metrics,
        "progress": progress.state_dict(),
        "grads": grads,
        "rng": capture_rng_state(),
        "loader": loader_state(session) if session is not None else None,
    }


def _callback_states(session: FitSession | None) -> dict[str, Any]:
    if session is None or session.callbacks is None:
        return {}
    # Copied: a later end-of-epoch callback may change its state in place.
    return to_safe(clone_tree(session.callbacks.state_dict()))


def restore_metrics(
    runner: StepRunner, session: FitSession, state: Mapping[str, Any] | None
) -> None:
    """Restore the epoch's loss sum and the metrics' accumulators (mid-epoch resume)."""
    if not state:
        return
    session.losses.load_state_dict(state["loss"])
    for metric, metric_state in zip(runner.metrics, state.get("states") or ()):
        if metric_state is not None and callable(getattr(metric, "load_state_dict", None)):
            metric.load_state_dict(metric_state)


def restore_grads(runner: StepRunner, grads: list[torch.Tensor | None] | None) -> None:
    """Put back the gradients of an unfinished accumulation group (or clear them)."""
    params = list(runner.network.parameters())
    if grads is None:
        for p in params:
            p.grad = None
        return
    if len(grads) != len(params):
        raise ValueError(
            f"checkpoint holds gradients for {len(grads)} parameters, the network has {len(params)}"
        )
    for p, g in zip(params, grads):
        p.grad = None if g is None else g.to(device=p.device, dtype=p.dtype)


def load_resume_checkpoint(resume: Any, save_dir: Any, verbose: int) -> dict[str, Any] | None:
    """The checkpoint ``fit(resume=...)`` continues from: a path, or the newest readable one of
    ``save_dir`` for ``'auto'`` (damaged newer ones are named in a warning); None to start anew.

    Raises:
        ValueError: ``'auto'`` without ``save_dir``, or a file that is not a training checkpoint.
        TypeError: ``resume`` is not None, ``'auto'`` or a path.
        FileNotFoundError: no such checkpoint.
    """
    if resume is None or resume is False:
        return None
    if isinstance(resume, str) and resume == "auto":
        if save_dir is None:
            raise ValueError("resume='auto' needs save_dir: the folder to look for checkpoints in")
        # Rank 0 chooses, so that every process resumes from the same file.
        skipped: list[tuple[Path, str]] = []
        found = find_latest_checkpoint(save_dir, skipped) if distributed.rank() == 0 else None
        if skipped:  # a damaged newer checkpoint: never fall back without saying so
            warnings.warn(describe_skipped(skipped, found), stacklevel=4)
        path = distributed.broadcast_object(found)
        if path is None:
            if verbose:
                print(
                    f"resume='auto': no checkpoint in {os.fspath(save_dir)!r}, starting from scratch"
                )
            return None
    elif isinstance(resume, (str, os.PathLike)):
        path = resume
    else:
        raise TypeError(
            f"resume must be None, 'auto' or a checkpoint path, got {type(resume).__name__}"
        )
    data_parallel.check_visible_everywhere(path, _exists(path))
    ckpt = load_checkpoint(path)  # onto the CPU; load_state_dict copies to each device
    if not is_training_checkpoint(ckpt):
        raise ValueError(
            f"{os.fspath(path)!r} is not a resvision training checkpoint (it may be weights only, "
            "written with save(training=False)); use model.load() for weights"
        )
    if verbose:
        p = ckpt["progress"]
        print(
            f"resuming from {os.fspath(path)!r}: epoch {p['epoch']}, step {p['batch']}, "
            f"global step {p['global_step']}"
        )
    return ckpt


def _exists(path: Any) -> bool:
    try:
        existing_checkpoint_path(path)
    except FileNotFoundError:
        return False
    return True


def check_resume_settings(
    model: Model, ckpt: dict[str, Any], session: FitSession, verbose: int
) -> None:
    """Compare the run that resumes with the checkpoint's (``identity.RESUME_RULES``) before
    anything is restored or written: refuse, warn about or list each difference.

    Raises:
        ResumeMismatchError: another network, other batches, other classes, another recipe.
    """
    check = compare_for_resume(
        ckpt.get("config") or {}, ckpt.get("identity"), model._config(session), session.identity
    )
    network = architecture_differences(ckpt["model"], model.network)
    refused = check.refused + [f"network: {line}" for line in network]
    if refused:
        shown = refused[:8] + ([f"... and {len(refused) - 8} more"] if len(refused) > 8 else [])
        raise ResumeMismatchError(
            "cannot resume this checkpoint with other settings; it continues only as the run it "
            "was (resume with the settings it was saved with):\n  " + "\n  ".join(shown),
            refused,
        )
    for line in check.warned:
        warnings.warn(f"resuming with another setting: {line}", stacklevel=4)
    if check.applied and verbose:
        print("resuming with changed settings: " + "; ".join(check.applied), flush=True)


def restore_training_state(
    model: Model,
    runner: StepRunner,
    session: FitSession,
    ckpt: dict[str, Any],
    own: dict[str, Any],
) -> None:
    """Weights, optimizer, schedule, scaler, progress and gradients (before on_train_begin)."""
    model.network.load_state_dict(ckpt["model"])
    if ckpt.get("optimizer"):
        runner.optimizer.load_state_dict(ckpt["optimizer"])
    scheduler = carried_scheduler(runner.optimizer)
    if scheduler is not None and ckpt.get("scheduler"):
        scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt.get("scaler"):
        if runner.scaler is None:
            warnings.warn(
                "the checkpoint has a loss-scaler state but amp fp16 is off", stacklevel=4
            )
        else:
            runner.scaler.load_state_dict(ckpt["scaler"])
    session.progress.load_state_dict(ckpt["progress"])
    restore_grads(runner, own.get("grads"))
