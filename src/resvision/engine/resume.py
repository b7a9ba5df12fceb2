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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from resvision.engine.checkpoint import capture_rng_state, clone_tree, restore_rng_state, to_safe
from resvision.engine.loops import LossTracker, StepRunner, TrainProgress


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
