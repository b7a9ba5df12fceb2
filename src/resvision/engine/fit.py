"""The driver behind ``Model.fit``: loaders, callbacks, the epoch loop, checkpoints, resume.

Order of events in an epoch (the callbacks see Paddle's hooks):

1. ``on_epoch_begin(epoch, {'start_step': first batch})`` (``start_step`` > 0 when resuming
   inside the epoch);
2. per batch: ``on_train_batch_begin(step)``, forward/backward/step,
   ``on_train_batch_end(step, logs)``; ``save_dir/last.pt`` every ``save_steps`` optimizer steps;
3. evaluation when due: ``on_eval_begin``, batch hooks, ``on_eval_end(eval logs)``;
4. ``on_epoch_end(epoch, train logs + eval logs prefixed 'eval_')``, where ModelCheckpoint
   (last in the list) saves ``save_dir/{epoch}.pt``.

``on_train_end`` follows the last epoch (ModelCheckpoint saves ``final.pt``). On Ctrl-C or
SIGTERM, ``save_dir/last.pt`` is written at the next step boundary and the signal then takes
its course; on an exception (a NaN loss included) nothing more is saved.

Under ``torchrun`` (see :mod:`resvision.engine.distributed`) every process runs this same
sequence on its shard of the data. Requests to stop (a callback's ``stop_training``, a signal)
are shared between the processes at logging steps that end an accumulation group and at the
end of each epoch, so that all stop at the same step.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from resvision.engine import data_parallel, distributed, guards, loops
from resvision.engine.checkpoint import (
    describe_skipped,
    existing_checkpoint_path,
    find_latest_checkpoint,
    is_training_checkpoint,
    load_checkpoint,
    restore_rng_state,
)
from resvision.engine.identity import (
    ResumeMismatchError,
    architecture_differences,
    compare_for_resume,
    identify_run,
)
from resvision.engine.interrupt import InterruptGuard
from resvision.engine.resume import (
    FitSession,
    capture_training_state,
    carried_scheduler,
    restore_grads,
    restore_loader_position,
    restore_metrics,
    resume_epoch,
    start_epoch,
)
from resvision.engine.runlock import RunLock

if TYPE_CHECKING:
    from resvision.engine.model import Model

LAST_CHECKPOINT = "last"


def check_int(value: Any, name: str, minimum: int = 0) -> int:
    """Return ``value`` when it is an int >= ``minimum``, else raise ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def split_batch_size(batch_size: Any) -> tuple[int, int]:
    """``(train, eval)`` batch sizes from an int or Paddle's ``[train, eval]`` pair."""
    if isinstance(batch_size, (list, tuple)):
        if len(batch_size) != 2:
            raise ValueError(
                f"batch_size must be an int or [train_batch_size, eval_batch_size], got {batch_size!r}"
            )
        return check_int(batch_size[0], "batch_size", 1), check_int(batch_size[1], "batch_size", 1)
    size = check_int(batch_size, "batch_size", 1)
    return size, size


def make_loader(
    model: Model,
    data: Any,
    batch_size: int,
    shuffle: bool,
    drop_last: bool,
    num_workers: int,
    seed: int,
    labels_required: bool = True,
    shard: bool = False,
) -> Any:
    """A loader for ``data``: built for a Dataset, used as it is for any other iterable.

    With ``labels_required=False`` (prediction), a Dataset whose items are not
    ``(input, label)`` pairs gets a plain ``DataLoader``. With ``shard`` and a process group
    running, a Dataset is split between the processes (this process gets its shard).

    Raises:
        ValueError: ``data`` is None.
        TypeError: ``data`` is neither a Dataset nor an iterable of batches.
    """
    if data is None:
        raise ValueError("no data given: pass a Dataset, a DataLoader or an iterable of batches")
    if isinstance(data, IterableDataset):
        check_int(batch_size, "batch_size", 1)
        return DataLoader(
            data,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=model.device.type == "cuda",
        )
    if isinstance(data, Dataset) and not _has_labels(data) and not labels_required:
        # Paddle's predict accepts datasets of bare images; the loaders want (image, label).
        check_int(batch_size, "batch_size", 1)
        return DataLoader(
            data,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=model.device.type == "cuda",
        )
    if isinstance(data, Dataset):
        from resvision.data.loader import build_loader

        check_int(batch_size, "batch_size", 1)
        check_int(num_workers, "num_workers", 0)
        return build_loader(
            data,
            batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            num_workers=num_workers,
            device=model.device,
            seed=seed,
            rank=distributed.rank() if shard else 0,
            world_size=distributed.world_size() if shard else 1,
        )
    if not hasattr(data, "__iter__"):
        raise TypeError(
            f"data must be a torch Dataset, a DataLoader or an iterable of batches, got "
            f"{type(data).__name__}"
        )
    return data


def _has_labels(dataset: Dataset) -> bool:
    try:
        item = dataset[0]
    except Exception:  # let the loader report what is wrong with the dataset
        return True
    return isinstance(item, (tuple, list)) and len(item) >= 2


def configure_callbacks(
    model: Model,
    callbacks: Any,
    *,
    verbose: int,
    log_freq: int,
    mode: str = "train",
    epochs: int | None = None,
    steps: int | None = None,
    save_dir: str | os.PathLike[str] | None = None,
    save_freq: int = 1,
    batch_size: int | None = None,
) -> Any:
    """The ``CallbackList`` of a run: the user's callbacks plus Paddle's defaults.

    Built by :func:`resvision.engine.callbacks.base.config_callbacks`; then ModelCheckpoint
    is moved after every other callback except EMA, so that the checkpoints it writes at the
    end of an epoch hold the state after the other callbacks' end-of-epoch work (a per-epoch
    schedule step, ReduceLROnPlateau): resuming from them must not replay that work.
    """
    from resvision.engine.callbacks.base import config_callbacks
    from resvision.engine.callbacks.checkpointing import ModelCheckpoint
    from resvision.engine.callbacks.ema import EMA

    cbk_list = config_callbacks(
        callbacks,
        model=model,
        batch_size=batch_size,
        epochs=epochs,
        steps=steps,
        log_freq=log_freq,
        verbose=verbose,
        save_freq=save_freq,
        save_dir=save_dir,
        metrics=model.metrics_names(),
        mode=mode,
    )
    rank = {ModelCheckpoint: 1, EMA: 2}
    order = sorted(
        cbk_list.callbacks,
        key=lambda cb: max((r for cls, r in rank.items() if isinstance(cb, cls)), default=0),
    )
    cbk_list.callbacks[:] = order  # stable sort: the others keep their order
    return cbk_list


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (all devices) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_fit(model: Model, **kw: Any) -> None:
    """Train ``model``; the arguments and their meaning are those of ``Model.fit``."""
    runner = model._runner(train=True)
    if kw["train_data"] is None:
        raise ValueError("train_data must be given")
    train_bs, eval_bs = split_batch_size(kw["batch_size"])
    epochs = check_int(kw["epochs"], "epochs", 0)
    eval_freq = check_int(kw["eval_freq"], "eval_freq", 1)
    log_freq = check_int(kw["log_freq"], "log_freq", 1)
    save_freq = check_int(kw["save_freq"], "save_freq", 1)
    accumulate = check_int(kw["accumulate_grad_batches"], "accumulate_grad_batches", 1)
    num_iters = kw["num_iters"] and check_int(kw["num_iters"], "num_iters", 1)
    save_steps = kw["save_steps"] and check_int(kw["save_steps"], "save_steps", 1)
    save_dir, seed, verbose = kw["save_dir"], kw["seed"], kw["verbose"]
    sync_bn = kw.get("sync_bn", False)
    if not isinstance(sync_bn, bool):
        raise TypeError(f"sync_bn must be True or False, got {sync_bn!r}")
    if seed is not None:
        check_int(seed, "seed", 0)
    if save_steps and save_dir is None:
        raise ValueError("save_steps needs save_dir: the folder to write last.pt to")

    distributed.init_distributed(model.device)  # under torchrun; a no-op otherwise
    world, rank = distributed.world_size(), distributed.rank()
    if rank != 0:
        verbose = 0  # rank 0 alone prints
    # One run per folder: a second fit (or resvision train) on the same save_dir is refused
    # before it reads or writes anything there (rank 0 owns the folder).
    with RunLock(save_dir) if save_dir is not None and rank == 0 else contextlib.nullcontext():
        if sync_bn and world > 1:
            runner = _synchronise_batchnorm(model)

        ckpt = _resume_checkpoint(kw["resume"], save_dir, verbose)
        saved_fit = ckpt["config"].get("fit", {}) if ckpt is not None else {}
        if ckpt is None and seed is not None:
            seed_everything(seed)
        loader_seed = saved_fit.get("loader_seed")
        if loader_seed is None:
            loader_seed = seed if seed is not None else int(torch.randint(0, 2**31 - 1, ()).item())
        # Every process must shuffle alike (each then takes its own shard of the same order).
        loader_seed = distributed.broadcast_object(loader_seed)
        loader = make_loader(
            model,
            kw["train_data"],
            train_bs,
            kw["shuffle"],
            kw["drop_last"],
            kw["num_workers"],
            loader_seed,
            shard=True,
        )
        eval_loader = None
        if kw["eval_data"] is not None:
            eval_loader = make_loader(
                model,
                kw["eval_data"],
                eval_bs,
                False,
                False,
                kw["num_workers"],
                loader_seed,
                shard=True,
            )
        network_classes = getattr(model.network, "num_classes", None)
        for data_loader in (loader, eval_loader):  # in-memory labels: checked once, here
            if isinstance(getattr(data_loader, "labels", None), torch.Tensor):
                guards.check_dataset_labels(data_loader.labels, network_classes, runner.loss_fn)
        steps = loops._length(loader)
        if world > 1:
            _check_sharding(loader, world)
            data_parallel.check_same_length(steps)
        if num_iters is not None and steps:
            # Paddle: num_iters overrides epochs. An epoch has ceil(steps / k) optimizer steps.
            epochs = math.ceil(num_iters / math.ceil(steps / accumulate))

        check_finite = runner.scaler is None
        session = FitSession(loader=loader)
        session.config = {
            "epochs": epochs,
            "batch_size": train_bs,
            "eval_batch_size": eval_bs,
            "accumulate_grad_batches": accumulate,
            "steps_per_epoch": steps,
            "shuffle": bool(kw["shuffle"]),
            "drop_last": bool(kw["drop_last"]),
            "num_iters": num_iters,
            "seed": seed,
            "loader_seed": loader_seed,
            "save_freq": save_freq,
            "save_steps": save_steps,
            "eval_freq": eval_freq,
            "check_finite": check_finite,
            "world_size": world,
            "sync_bn": sync_bn,
        }
        data = kw["train_data"]
        session.identity = identify_run(
            model.network, getattr(data, "dataset", data), getattr(model, "identity", None)
        ).to_dict()
        model._session = session
        progress = session.progress
        own: dict[str, Any] = {}
        if ckpt is not None:
            _check_resume_settings(model, ckpt, session, verbose)
            own = data_parallel.own_rank_state(ckpt, rank, world)
            _restore_model_state(model, runner, session, ckpt, own)
        else:
            runner.optimizer.zero_grad(set_to_none=True)

        trainer = None
        eval_runner = runner
        if world > 1:
            # Training steps go through DDP; evaluation uses the bare network, whose forward pass
            # needs no collective, so that evaluation shards of unequal length are fine.
            trainer = data_parallel.DistributedTraining(
                model.network, model.device, compile_options=_compile_options(model)
            )
            eval_runner = copy.copy(runner)
            runner.forward, runner.distributed = trainer, trainer

        cbks = configure_callbacks(
            model,
            kw["callbacks"],
            verbose=verbose,
            log_freq=log_freq,
            epochs=epochs,
            steps=steps,
            save_dir=save_dir,
            save_freq=save_freq,
            batch_size=train_bs,
        )
        session.callbacks = cbks
        model.stop_training = False

        def resume_point() -> dict[str, Any]:
            # Inside an epoch each process has its own metric counts, gradients and random states:
            # rank 0's checkpoint holds them all under "ranks" (gathered: a collective).
            session.losses.read(progress.epoch if check_finite else None)
            state = capture_training_state(runner, session)
            if world > 1:
                state["ranks"] = data_parallel.gather_rank_states(data_parallel.rank_state(state))
            return state

        def save_last() -> None:
            if world == 1:
                model.save(Path(save_dir) / LAST_CHECKPOINT)
                return
            previous, session.snapshot = session.snapshot, resume_point()
            try:
                model.save(Path(save_dir) / LAST_CHECKPOINT)
            finally:
                session.snapshot = previous

        def after_step() -> None:
            if save_steps and progress.global_step % save_steps == 0:
                save_last()

        def share_stop_request() -> bool:
            stop, signum = data_parallel.agree_to_stop(model.stop_training, guard.requested)
            model.stop_training = model.stop_training or stop
            if signum is not None and guard.requested is None:
                guard.requested = signum  # a peer got the signal: stop the same way
            return stop or signum is not None

        # Processes agree to stop at logging steps that end an accumulation group: the loop reads
        # values back there anyway, and no process is left with unsynchronised gradients.
        check_every = math.lcm(log_freq, accumulate)

        def should_stop() -> bool:
            if world == 1:
                return model.stop_training or guard.requested is not None
            return progress.batch % check_every == 0 and share_stop_request()

        with InterruptGuard() as guard:
            options = loops.TrainEpochOptions(
                steps=steps,
                accumulate=accumulate,
                log_freq=log_freq,
                num_iters=num_iters,
                check_finite=check_finite,
                should_stop=should_stop,
                after_step=after_step if save_steps else None,
            )
            model.mode = "train"
            cbks.on_train_begin({})
            iterator = None
            if ckpt is not None:
                cbks.load_state_dict(ckpt.get("callbacks") or {})
                # The epoch's counts and the loader's position come back at an epoch's end too
                # (the next epoch resets them): a checkpoint written before another epoch starts
                # (final.pt, when nothing was left to train) holds what the uninterrupted run's does.
                restore_metrics(runner, session, own.get("metrics"))
                saved = ckpt.get("loader")
                if saved:
                    session.epoch_rng = {"rng": saved["rng"], "generators": saved["generators"]}
                if progress.batch > 0:
                    iterator = resume_epoch(loader, progress.epoch, progress.batch, saved)
                elif saved:
                    restore_loader_position(loader, saved)
                restore_rng_state(own["rng"])
            logs: dict[str, Any] = {}
            while progress.epoch < epochs and not (num_iters and progress.global_step >= num_iters):
                epoch = progress.epoch
                if iterator is None:
                    progress.batch = 0
                    session.losses.reset()
                    runner.reset_metrics()
                    iterator = start_epoch(loader, epoch, session)
                cbks.on_epoch_begin(epoch, {"start_step": progress.batch})
                if trainer is not None:
                    trainer.refresh()  # (re)built when the trainable parameters changed
                completed = loops.train_one_epoch(
                    runner, iterator, cbks, progress, session.losses, options
                )
                iterator = None
                session.losses.read(epoch if check_finite else None)
                if trainer is not None:
                    trainer.sync_buffers()  # evaluate with, and save, the same BN statistics
                    share_stop_request()
                if guard.requested is not None:
                    if save_dir is not None:
                        save_last()
                    else:
                        warnings.warn(
                            "training interrupted; no save_dir, so no checkpoint", stacklevel=3
                        )
                    guard.stop()
                if world > 1:
                    logs = data_parallel.reduced_train_logs(
                        session.losses, runner.metrics, loops.metric_values
                    )
                else:
                    logs = {"loss": session.losses.mean(), **loops.metric_values(runner.metrics)}
                logs["lr"] = loops._learning_rate(runner.optimizer)
                if completed:
                    progress.epoch, progress.batch = epoch + 1, 0
                else:
                    session.snapshot = resume_point()
                if eval_loader is not None and epoch % eval_freq == 0:
                    model.mode = "eval"
                    eval_logs = loops.evaluate(eval_runner, eval_loader, cbks, log_freq=log_freq)
                    logs.update({f"eval_{k}": v for k, v in eval_logs.items()})
                    model.mode = "train"
                cbks.on_epoch_end(epoch, logs)
                if world > 1:
                    share_stop_request()  # a callback may have stopped one process only
                if not completed or model.stop_training:
                    break
            cbks.on_train_end(logs)
            distributed.barrier()  # the last checkpoint is on disk before any process goes on
            if guard.requested is not None:  # arrived after the last step (evaluation, saving)
                guard.stop()


def _synchronise_batchnorm(model: Model) -> loops.StepRunner:
    """Convert the network's BatchNorm layers to synchronised ones; the new step runner."""
    from resvision.engine.syncbn import convert_sync_batchnorm

    old = model.network
    model.network = convert_sync_batchnorm(old, model.device)
    if model._forward is old:
        model._forward = model.network
    return model._runner(train=True)


def _compile_options(model: Model) -> dict[str, Any] | None:
    """``torch.compile`` options for the DDP module when ``prepare(compile=...)`` asked."""
    options = getattr(model, "_compile_options", None)
    if options is None and model._forward is not model.network:
        options = {}
    return options


def _check_sharding(loader: Any, world: int) -> None:
    if data_parallel.sharded_world_size(loader) == 1:
        warnings.warn(
            f"under torchrun the training data is not split between the {world} processes: "
            "each trains on all of it. Pass a Dataset (resvision shards it) or a DataLoader "
            "with a DistributedSampler",
            stacklevel=4,
        )


def _resume_checkpoint(resume: Any, save_dir: Any, verbose: int) -> dict[str, Any] | None:
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


def _check_resume_settings(
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


def _restore_model_state(
    model: Model,
    runner: loops.StepRunner,
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
