"""The object that owns one training run: :class:`Trainer`, created by ``Model.fit``.

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

Under ``torchrun`` (see :mod:`resvision.distributed`) every process runs this same
sequence on its shard of the data. Requests to stop (a callback's ``stop_training``, a signal)
are shared between the processes at logging steps that end an accumulation group and at the
end of each epoch, so that all stop at the same step.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from resvision import distributed
from resvision.engine import data_parallel, guards, loops
from resvision.engine.checkpoint import restore_rng_state
from resvision.engine.fit import check_int, configure_callbacks, make_loader, seed_everything
from resvision.engine.fit import split_batch_size as _split_batch_size
from resvision.engine.identity import identify_run
from resvision.engine.interrupt import InterruptGuard
from resvision.engine.resume import (
    FitSession,
    capture_training_state,
    check_resume_settings,
    load_resume_checkpoint,
    restore_loader_position,
    restore_metrics,
    restore_training_state,
    resume_epoch,
    start_epoch,
)
from resvision.engine.runlock import RunLock

if TYPE_CHECKING:
    from resvision.engine.model import Model

LAST_CHECKPOINT = "last"


@dataclass(frozen=True)
class FitOptions:
    """The checked settings of one ``fit`` (the meaning of each is in ``Model.fit``)."""

    batch_size: int
    eval_batch_size: int
    epochs: int
    eval_freq: int = 1
    log_freq: int = 10
    save_dir: str | os.PathLike[str] | None = None
    save_freq: int = 1
    verbose: int = 2
    drop_last: bool = False
    shuffle: bool = True
    num_workers: int = 0
    accumulate: int = 1
    num_iters: int | None = None
    resume: Any = None
    seed: int | None = None
    save_steps: int | None = None
    sync_bn: bool = False
    aug_repeats: int = 1
    batch_mix: Any = None

    @classmethod
    def from_fit(cls, **kw: Any) -> FitOptions:
        """Check ``Model.fit``'s arguments (less the data and callbacks).

        Raises:
            ValueError, TypeError: a bad value; the message names it and what is accepted.
        """
        train_bs, eval_bs = _split_batch_size(kw["batch_size"])
        if not isinstance(kw["sync_bn"], bool):
            raise TypeError(f"sync_bn must be True or False, got {kw['sync_bn']!r}")
        if kw["seed"] is not None:
            check_int(kw["seed"], "seed", 0)
        num_iters, save_steps = kw["num_iters"], kw["save_steps"]
        options = cls(
            batch_size=train_bs,
            eval_batch_size=eval_bs,
            epochs=check_int(kw["epochs"], "epochs", 0),
            eval_freq=check_int(kw["eval_freq"], "eval_freq", 1),
            log_freq=check_int(kw["log_freq"], "log_freq", 1),
            save_dir=kw["save_dir"],
            save_freq=check_int(kw["save_freq"], "save_freq", 1),
            verbose=kw["verbose"],
            drop_last=bool(kw["drop_last"]),
            shuffle=bool(kw["shuffle"]),
            num_workers=kw["num_workers"],
            accumulate=check_int(kw["accumulate_grad_batches"], "accumulate_grad_batches", 1),
            num_iters=num_iters and check_int(num_iters, "num_iters", 1),
            resume=kw["resume"],
            seed=kw["seed"],
            save_steps=save_steps and check_int(save_steps, "save_steps", 1),
            sync_bn=kw["sync_bn"],
            aug_repeats=check_int(kw.get("aug_repeats", 1), "aug_repeats", 1),
            batch_mix=_check_batch_mix(kw.get("batch_mix")),
        )
        if options.save_steps and options.save_dir is None:
            raise ValueError("save_steps needs save_dir: the folder to write last.pt to")
        return options


class Trainer:
    """One run of ``Model.fit``: setup, resume, the epochs, evaluation, stopping and saving.

    Built from explicit parts: the :class:`~resvision.engine.model.Model` (network, forward
    pass, optimizer, loss, metrics, precision and scaler, through its step runner), the data,
    the callbacks and the :class:`FitOptions`. Callbacks see it through ``self.model`` and
    ``self.params`` as in Paddle, and the run's progress through ``model.progress``.

    Args:
        model: The prepared model.
        train_data, eval_data: Datasets, DataLoaders or iterables of batches (eval: or None).
        callbacks: The user's callbacks (Paddle's defaults are added).
        options: The checked settings.
    """

    def __init__(
        self, model: Model, train_data: Any, eval_data: Any, callbacks: Any, options: FitOptions
    ) -> None:
        if train_data is None:
            raise ValueError("train_data must be given")
        self.model, self.options = model, options
        self.train_data, self.eval_data, self.user_callbacks = train_data, eval_data, callbacks
        self.runner = model._runner(train=True)
        self.eval_runner = self.runner
        self.ddp: data_parallel.DistributedTraining | None = None
        self.session = FitSession()
        self.guard = InterruptGuard()
        self.verbose = options.verbose
        self.world = self.rank = 0
        self.own: dict[str, Any] = {}  # this process's part of the checkpoint resumed from
        self.epochs, self.steps = options.epochs, None

    # ------------------------------------------------------------------------------ the run
    def fit(self) -> None:
        """Train; see ``Model.fit`` for what happens and what is raised."""
        distributed.init_distributed(self.model.device)  # under torchrun; a no-op otherwise
        self.world, self.rank = distributed.world_size(), distributed.rank()
        if self.rank != 0:
            self.verbose = 0  # rank 0 alone prints
        save_dir = self.options.save_dir
        # One run per folder: a second fit (or resvision train) on the same save_dir is refused
        # before it reads or writes anything there (rank 0 owns the folder).
        with (
            RunLock(save_dir)
            if save_dir is not None and self.rank == 0
            else contextlib.nullcontext()
        ):
            ckpt = self._setup()
            with self.guard:
                self._train(ckpt)

    def _train(self, ckpt: dict[str, Any] | None) -> None:
        """The epoch loop."""
        model, session, cbks, opts = self.model, self.session, self.session.callbacks, self.options
        progress = session.progress
        model.mode = "train"
        cbks.on_train_begin({})
        iterator = self._restore_after_begin(ckpt) if ckpt is not None else None
        logs: dict[str, Any] = {}
        while progress.epoch < self.epochs and not self._reached_num_iters():
            epoch = progress.epoch
            if iterator is None:
                iterator = self._start_epoch(epoch)
            cbks.on_epoch_begin(epoch, {"start_step": progress.batch})
            completed = self._train_epoch(iterator)
            iterator = None
            self._stop_if_signalled()
            logs = self._epoch_logs()
            if completed:
                progress.epoch, progress.batch = epoch + 1, 0
            else:
                session.snapshot = self._resume_point()
            if self.eval_loader is not None and epoch % opts.eval_freq == 0:
                logs.update(self._evaluate())
            cbks.on_epoch_end(epoch, logs)
            if self.world > 1:
                self._share_stop_request()  # a callback may have stopped one process only
            if not completed or model.stop_training:
                break
        cbks.on_train_end(logs)
        distributed.barrier()  # the last checkpoint is on disk before any process goes on
        if self.guard.requested is not None:  # arrived after the last step (evaluation, saving)
            self.guard.stop()

    # ------------------------------------------------------------------------------ setup
    def _setup(self) -> dict[str, Any] | None:
        """Loaders, the run's config and identity, the resume point, DDP and the callbacks."""
        opts, model = self.options, self.model
        if opts.sync_bn and self.world > 1:
            self.runner = self._synchronise_batchnorm()
        ckpt = load_resume_checkpoint(opts.resume, opts.save_dir, self.verbose)
        saved_fit = ckpt["config"].get("fit", {}) if ckpt is not None else {}
        if ckpt is None and opts.seed is not None:
            seed_everything(opts.seed)
        self._build_loaders(saved_fit.get("loader_seed"))
        session = self.session
        session.config = self._fit_config()
        data = self.train_data
        session.identity = identify_run(
            model.network, getattr(data, "dataset", data), model.identity
        ).to_dict()
        model._session = session
        if ckpt is not None:
            check_resume_settings(model, ckpt, session, self.verbose)
            self.own = data_parallel.own_rank_state(ckpt, self.rank, self.world)
            restore_training_state(model, self.runner, session, ckpt, self.own)
        else:
            self.runner.optimizer.zero_grad(set_to_none=True)
        if self.world > 1:
            # Training steps go through DDP; evaluation uses the bare network, whose forward pass
            # needs no collective, so that evaluation shards of unequal length are fine.
            self.ddp = data_parallel.DistributedTraining(
                model.network, model.device, compile_options=self._compile_options()
            )
            self.eval_runner = copy.copy(self.runner)
            self.runner.forward, self.runner.distributed = self.ddp, self.ddp
        session.callbacks = configure_callbacks(
            model,
            self.user_callbacks,
            verbose=self.verbose,
            log_freq=opts.log_freq,
            epochs=self.epochs,
            steps=self.steps,
            save_dir=opts.save_dir,
            save_freq=opts.save_freq,
            batch_size=opts.batch_size,
        )
        model.stop_training = False
        return ckpt

    def _build_loaders(self, loader_seed: int | None) -> None:
        opts, model = self.options, self.model
        if loader_seed is None:
            loader_seed = opts.seed
        if loader_seed is None:
            loader_seed = int(torch.randint(0, 2**31 - 1, ()).item())
        # Every process must shuffle alike (each then takes its own shard of the same order).
        self.loader_seed = distributed.broadcast_object(loader_seed)
        self.loader = make_loader(model, self.train_data, opts.batch_size, opts.shuffle,
                                  opts.drop_last, opts.num_workers, self.loader_seed, shard=True,
                                  aug_repeats=opts.aug_repeats)  # fmt: skip
        self.eval_loader = None
        if self.eval_data is not None:
            self.eval_loader = make_loader(model, self.eval_data, opts.eval_batch_size, False,
                                           False, opts.num_workers, self.loader_seed, shard=True)  # fmt: skip
        classes = getattr(model.network, "num_classes", None)
        for data_loader in (self.loader, self.eval_loader):  # in-memory labels: checked here
            if isinstance(getattr(data_loader, "labels", None), torch.Tensor):
                guards.check_dataset_labels(data_loader.labels, classes, self.runner.loss_fn)
        self.steps = loops._length(self.loader)
        if self.world > 1:
            _check_sharding(self.loader, self.world)
            data_parallel.check_same_length(self.steps)
        self.epochs = opts.epochs
        if opts.num_iters is not None and self.steps:
            # Paddle: num_iters overrides epochs. An epoch has ceil(steps / k) optimizer steps.
            self.epochs = math.ceil(opts.num_iters / math.ceil(self.steps / opts.accumulate))
        self.session.loader = self.loader

    def _fit_config(self) -> dict[str, Any]:
        """The settings stored in checkpoints (``config.fit``) and compared on resume."""
        opts = self.options
        return {
            "epochs": self.epochs,
            "batch_size": opts.batch_size,
            "eval_batch_size": opts.eval_batch_size,
            "accumulate_grad_batches": opts.accumulate,
            "steps_per_epoch": self.steps,
            "shuffle": opts.shuffle,
            "drop_last": opts.drop_last,
            "num_iters": opts.num_iters,
            "seed": opts.seed,
            "loader_seed": self.loader_seed,
            "save_freq": opts.save_freq,
            "save_steps": opts.save_steps,
            "eval_freq": opts.eval_freq,
            "check_finite": self.runner.scaler is None,
            "world_size": self.world,
            "sync_bn": opts.sync_bn,
            "aug_repeats": opts.aug_repeats,
            "batch_mix": _mix_config(opts.batch_mix),
        }

    def _restore_after_begin(self, ckpt: dict[str, Any]) -> Any:
        """Callback states, the epoch's counts, the loader's position and the random states;
        the iterator over the rest of the epoch when the checkpoint is inside one, else None."""
        session, progress = self.session, self.session.progress
        session.callbacks.load_state_dict(ckpt.get("callbacks") or {})
        # The epoch's counts and the loader's position come back at an epoch's end too (the
        # next epoch resets them): a checkpoint written before another epoch starts (final.pt,
        # when nothing was left to train) holds what the uninterrupted run's does.
        restore_metrics(self.runner, session, self.own.get("metrics"))
        saved = ckpt.get("loader")
        iterator = None
        if saved:
            session.epoch_rng = {"rng": saved["rng"], "generators": saved["generators"]}
        if progress.batch > 0:
            iterator = resume_epoch(self.loader, progress.epoch, progress.batch, saved)
        elif saved:
            restore_loader_position(self.loader, saved)
        restore_rng_state(self.own["rng"])
        return iterator

    # ------------------------------------------------------------------------------ epochs
    def _reached_num_iters(self) -> bool:
        num_iters = self.options.num_iters
        return bool(num_iters) and self.session.progress.global_step >= num_iters

    def _start_epoch(self, epoch: int) -> Any:
        self.session.progress.batch = 0
        self.session.losses.reset()
        self.runner.reset_metrics()
        return start_epoch(self.loader, epoch, self.session)

    def _train_epoch(self, iterator: Any) -> bool:
        """Train on the epoch's (remaining) batches; False when stopped before its end."""
        opts, session = self.options, self.session
        if self.ddp is not None:
            self.ddp.refresh()  # (re)built when the trainable parameters changed
        options = loops.TrainEpochOptions(
            steps=self.steps,
            accumulate=opts.accumulate,
            log_freq=opts.log_freq,
            num_iters=opts.num_iters,
            check_finite=self.runner.scaler is None,
            should_stop=self._should_stop,
            after_step=self._after_step if opts.save_steps else None,
            mix=opts.batch_mix,
            mix_seed=self.loader_seed,
            mix_classes=self._mix_classes(),
        )
        completed = loops.train_one_epoch(
            self.runner, iterator, session.callbacks, session.progress, session.losses, options
        )
        session.losses.read(session.progress.epoch if self.runner.scaler is None else None)
        if self.ddp is not None:
            self.ddp.sync_buffers()  # evaluate with, and save, the same BN statistics
            self._share_stop_request()
        return completed

    def _epoch_logs(self) -> dict[str, Any]:
        runner, losses = self.runner, self.session.losses
        if self.world > 1:
            logs = data_parallel.reduced_train_logs(losses, runner.metrics, loops.metric_values)
        else:
            logs = {"loss": losses.mean(), **loops.metric_values(runner.metrics)}
        logs["lr"] = loops._learning_rate(runner.optimizer)
        return logs

    def _evaluate(self) -> dict[str, Any]:
        self.model.mode = "eval"
        eval_logs = loops.evaluate(
            self.eval_runner, self.eval_loader, self.session.callbacks,
            log_freq=self.options.log_freq,
        )  # fmt: skip
        self.model.mode = "train"
        return {f"eval_{k}": v for k, v in eval_logs.items()}

    # ------------------------------------------------------------------------------ saving
    def _resume_point(self) -> dict[str, Any]:
        # Inside an epoch each process has its own metric counts, gradients and random states:
        # rank 0's checkpoint holds them all under "ranks" (gathered: a collective).
        session = self.session
        session.losses.read(session.progress.epoch if self.runner.scaler is None else None)
        state = capture_training_state(self.runner, session)
        if self.world > 1:
            state["ranks"] = data_parallel.gather_rank_states(data_parallel.rank_state(state))
        return state

    def _save_last(self) -> None:
        path = Path(self.options.save_dir) / LAST_CHECKPOINT
        if self.world == 1:
            self.model.save(path)
            return
        session = self.session
        previous, session.snapshot = session.snapshot, self._resume_point()
        try:
            self.model.save(path)
        finally:
            session.snapshot = previous

    def _after_step(self) -> None:
        if self.session.progress.global_step % self.options.save_steps == 0:
            self._save_last()

    # ------------------------------------------------------------------------------ stopping
    def _share_stop_request(self) -> bool:
        model, guard = self.model, self.guard
        stop, signum = data_parallel.agree_to_stop(model.stop_training, guard.requested)
        model.stop_training = model.stop_training or stop
        if signum is not None and guard.requested is None:
            guard.requested = signum  # a peer got the signal: stop the same way
        return stop or signum is not None

    def _should_stop(self) -> bool:
        if self.world == 1:
            return self.model.stop_training or self.guard.requested is not None
        # Processes agree to stop at logging steps that end an accumulation group: the loop
        # reads values back there anyway, and no process is left with unsynchronised gradients.
        check_every = math.lcm(self.options.log_freq, self.options.accumulate)
        return self.session.progress.batch % check_every == 0 and self._share_stop_request()

    def _stop_if_signalled(self) -> None:
        """After Ctrl-C or SIGTERM: write last.pt, then let the signal take its course."""
        if self.guard.requested is None:
            return
        if self.options.save_dir is not None:
            self._save_last()
        else:
            warnings.warn("training interrupted; no save_dir, so no checkpoint", stacklevel=4)
        self.guard.stop()

    # ------------------------------------------------------------------------------ helpers
    def _synchronise_batchnorm(self) -> loops.StepRunner:
        """Convert the network's BatchNorm layers to synchronised ones; the new step runner."""
        from resvision.engine.syncbn import convert_sync_batchnorm

        model = self.model
        old = model.network
        model.network = convert_sync_batchnorm(old, model.device)
        if model._forward is old:
            model._forward = model.network
        return model._runner(train=True)

    def _mix_classes(self) -> int | None:
        """The number of classes of a batch mix's targets: the mix's own, else the network's.

        Raises:
            ValueError: a batch mix with neither.
        """
        mix = self.options.batch_mix
        if mix is None:
            return None
        classes = getattr(mix, "num_classes", None) or getattr(
            self.model.network, "num_classes", None
        )
        if not isinstance(classes, int) or classes < 2:
            raise ValueError(
                f"batch_mix needs the number of classes: give it to the mix "
                f"(Mixup(..., num_classes=N)) or set network.num_classes (got {classes!r})"
            )
        return classes

    def _compile_options(self) -> dict[str, Any] | None:
        """``torch.compile`` options for the DDP module when ``prepare(compile=...)`` asked."""
        options = self.model._compile_options
        if options is None and self.model._forward is not self.model.network:
            options = {}
        return options


def _check_sharding(loader: Any, world: int) -> None:
    if data_parallel.sharded_world_size(loader) == 1:
        warnings.warn(
            f"under torchrun the training data is not split between the {world} processes: "
            "each trains on all of it. Pass a Dataset (resvision shards it) or a DataLoader "
            "with a DistributedSampler",
            stacklevel=5,
        )


def _check_batch_mix(mix: Any) -> Any:
    if mix is not None and not callable(mix):
        raise TypeError(
            "batch_mix must be None or a callable (images, labels, rng, num_classes=) -> "
            f"(images, targets), such as resvision.data.mixing.Mixup; got {mix!r}"
        )
    return mix


def _mix_config(mix: Any) -> Any:
    """A batch mix's settings as stored in checkpoints (compared on resume)."""
    if mix is None:
        return None
    config = getattr(mix, "config", None)
    return config() if callable(config) else repr(mix)
