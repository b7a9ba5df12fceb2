"""``resvision train``: resolve the config, set up the run folder, fit, evaluate, report.

With no arguments it trains ResNet-20 on the embedded CIFAR-10 sample (``configs/
sample_quick.yaml``). ``RESVISION_MAX_STEPS`` (or ``--max-steps``) cuts a run short, for smoke
tests.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resvision.cli.config import Config, dump_yaml, resolve
from resvision.cli.errors import EXIT_INTERRUPTED, UsageError
from resvision.cli.parser import train_flags
from resvision.cli.presets import find_config
from resvision.report.runfolder import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    ENV_FILE,
    METRICS_FILE,
    default_run_dir,
    environment,
    read_json,
    run_dir_of,
    write_json,
)

# torch and the engine are imported inside run_train, after the config is checked, so that a
# mistyped option or config key is reported at once.


def _max_steps_from_env() -> int | None:
    value = os.environ.get("RESVISION_MAX_STEPS")
    if not value:
        return None
    try:
        steps = int(value)
    except ValueError:
        steps = 0
    if steps < 1:
        raise UsageError(f"RESVISION_MAX_STEPS must be a positive integer, got {value!r}")
    return steps


def resolve_train_config(args: argparse.Namespace) -> tuple[Config, Path | None]:
    """The run's config and, when resuming, the run folder being continued.

    A resumed run starts from the config saved in its folder; ``--config``, flags and
    ``--set`` given now still apply on top (e.g. ``--epochs`` to train longer).
    """
    flags = train_flags(args)
    if flags["train.max_steps"] is None:
        flags["train.max_steps"] = _max_steps_from_env()
    resume = flags.get("output.resume")
    resumed_dir = None
    file = find_config(args.config) if args.config else None
    if resume and resume != "auto":
        resumed_dir = run_dir_of(Path(resume))
        saved = resumed_dir / CONFIG_FILE
        if file is None and saved.exists():
            file = saved
        if flags.get("output.dir") is None:
            flags["output.dir"] = str(resumed_dir)
    cfg = resolve(file, flags, args.overrides)
    if (
        cfg.output.resume == "auto"
        and cfg.output.dir
        and (Path(cfg.output.dir) / CONFIG_FILE).exists()
    ):
        if not args.config:  # continue with the saved config, plus what is given now
            cfg = resolve(Path(cfg.output.dir) / CONFIG_FILE, flags, args.overrides)
        resumed_dir = Path(cfg.output.dir)
    return cfg, resumed_dir


def _configure_determinism(cfg: Config) -> None:
    """``--deterministic``: deterministic algorithms where PyTorch has them, before CUDA starts.

    ``warn_only``: an operation without a deterministic kernel (on CUDA: adaptive average
    pooling's backward, used by VGG; scatter/index_add) warns, naming itself, instead of
    stopping the run at its first backward. The speed policy then keeps fp32 and turns cuDNN's
    autotuner off (:mod:`resvision.engine.autotune`).
    """
    import torch

    if cfg.train.deterministic:
        # cuBLAS needs a fixed workspace for deterministic matmuls; set before CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


@dataclass
class _Run:
    """What the stages of ``resvision train`` share."""

    args: argparse.Namespace
    cfg: Config
    data: Any
    device: Any
    world: int
    main: bool
    run_dir: Path
    resume: Path | None = None
    env: dict[str, Any] = field(default_factory=dict)

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / CHECKPOINT_DIR

    def say(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on rank 0, which alone prints and writes the run folder."""
        if self.main:
            print(*args, **kwargs)


def run_train(args: argparse.Namespace) -> int:
    """``resvision train [options]``: see ``resvision train --help``."""
    cfg, resumed_dir = resolve_train_config(args)
    if args.print_config:
        print(dump_yaml(cfg), end="")
        return 0
    if getattr(args, "nproc", None) is not None:
        from resvision.cli.launch import check_nproc

        check_nproc(args.nproc)
        if args.nproc > 1:
            return _launch(args, cfg)
    run = _open_run(args, cfg)
    # The run folder has one owner from here to the report: a second run given the same
    # --output is refused (exit 2) naming the first, before it reads or writes anything there.
    with _run_folder_lock(run.run_dir, run.main):
        _find_resume_target(run, resumed_dir)
        model, ema = _build_model(run)
        started = time.perf_counter()
        code = _fit(run, model, ema)
        if code is not None:
            return code
        return _finish(run, model, ema, time.perf_counter() - started)


def _open_run(args: argparse.Namespace, cfg: Config) -> _Run:
    """The cheap checks, the device, the data (checked to be trainable) and the run folder."""
    from resvision import distributed
    from resvision.cli.build import check_model_name
    from resvision.cli.data_setup import data_kind, folder_root, folder_splits, open_data
    from resvision.models import model_info

    if data_kind(cfg.data.name) == "folder":  # the cheap checks first, before torch loads
        folder_splits(folder_root(cfg.data.name))
    check_model_name(cfg.model.name)
    device = _process_device(cfg.train.device)
    world, main = distributed.world_size(), distributed.rank() == 0
    with distributed.main_process_first():  # one download per machine, then the others read it
        data = open_data(cfg.data, model_size=model_info(cfg.model.name).input_size[1])
    _check_trainable(cfg, data, device)
    _configure_determinism(cfg)
    run_dir = (
        Path(cfg.output.dir) if cfg.output.dir else default_run_dir(cfg.model.name, cfg.data.name)
    )
    run_dir = Path(distributed.broadcast_object(str(run_dir)))  # one folder for all processes
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(
            f"--output {str(run_dir)!r} exists and is not a folder; give a new or existing folder"
        )
    return _Run(args, cfg, data, device, world, main, run_dir)


def _find_resume_target(run: _Run, resumed_dir: Path | None) -> None:
    """The checkpoint ``--resume`` means (checked to be a readable training checkpoint), the
    refusal to start over in a folder holding checkpoints, and the run's env.json content."""
    from resvision.cli import runinfo
    from resvision.engine.checkpoint import is_training_checkpoint, load_checkpoint

    cfg = run.cfg
    resume = runinfo.resume_target(cfg.output.resume, run.run_dir)
    if resume is None and cfg.output.resume not in (None, "auto"):
        raise UsageError(f"--resume {cfg.output.resume!r}: no checkpoint found there")
    if resume is not None:  # unreadable, unsafe (pickled code) or weights only: say so now
        try:
            saved = load_checkpoint(resume, mmap=True)
        except (ValueError, OSError) as err:
            raise UsageError(f"--resume: {err}") from None
        if not is_training_checkpoint(saved):
            raise UsageError(
                f"--resume {str(resume)!r} is not a training checkpoint of resvision (weights "
                "only?); start from weights with --pretrained instead"
            )
    if resume is None and run.ckpt_dir.is_dir() and any(run.ckpt_dir.glob("*.pt")):
        raise UsageError(
            f"run folder {str(run.run_dir)!r} already holds checkpoints; continue it with "
            f"--resume {run.run_dir}, or choose another --output"
        )
    run.resume = resume
    run.env = environment(cfg.train.seed, str(run.device))
    if resumed_dir is not None:
        run.env["resumed_from"] = str(resume) if resume else None
    if run.world > 1:
        run.env["world_size"] = run.world
        run.env["global_batch"] = (
            cfg.train.batch_size * run.world * cfg.train.accumulate_grad_batches
        )
    if run.main:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        run.ckpt_dir.mkdir(exist_ok=True)


def _build_model(run: _Run) -> tuple[Any, Any]:
    """The network, optimizer, schedule, loss and metrics of the recipe, prepared; the EMA
    callback when the recipe averages weights."""
    import torch

    import resvision
    from resvision import callbacks, distributed, metrics
    from resvision.cli import runinfo
    from resvision.cli.build import (
        amp_setting,
        build_network,
        build_optimizer,
        build_schedule,
        describe_pretrained,
        steps_per_epoch,
    )
    from resvision.engine.fit import seed_everything

    cfg, data = run.cfg, run.data
    # Seeded before the network is built, so that --seed fixes the initial weights too (a
    # resumed run takes its weights and random states from the checkpoint instead).
    seed_everything(cfg.train.seed)
    with distributed.main_process_first():  # pretrained weights: one download per machine
        network = build_network(cfg.model, len(data.classes), data.preprocess.channels)
    model = resvision.Model(network, device=run.device)
    # Each process trains on its shard: len // world samples per epoch (see data.sampling).
    spe = steps_per_epoch(
        len(data.train) // run.world, cfg.train.batch_size, cfg.train.accumulate_grad_batches
    )
    optimizer = build_optimizer(cfg.optim, model.network, build_schedule(cfg, spe, run.world), spe)
    model.prepare(
        optimizer,
        torch.nn.CrossEntropyLoss(label_smoothing=cfg.train.label_smoothing),
        metrics.Accuracy(topk=(1, 5) if len(data.classes) > 5 else (1,)),
        amp_configs=amp_setting(cfg.train.amp, run.device),
        channels_last=cfg.train.channels_last,
        compile=cfg.train.compile,
    )
    model.identity = runinfo.run_identity(cfg, data)
    started_from = describe_pretrained(network)
    if started_from:
        run.say(started_from, flush=True)
    ema = callbacks.EMA(decay=cfg.train.ema_decay) if cfg.train.ema_decay else None
    return model, ema


def _callbacks(run: _Run, ema: Any) -> list[Any]:
    from resvision import callbacks
    from resvision.cli import runinfo

    cfg = run.cfg
    # config.yaml and env.json are written when training begins, after fit has checked a
    # resume's settings: a refused resume leaves the run folder as it was.
    files = {CONFIG_FILE: dump_yaml(cfg), ENV_FILE: run.env}
    cbks: list[Any] = [
        callbacks.JSONLLogger(run.run_dir, filename=METRICS_FILE),
        runinfo.RunInfo(cfg, run.data, files=files),
    ]
    if ema is not None:
        cbks.append(ema)
    if cfg.model.freeze_backbone:
        cbks.append(callbacks.FreezeBackbone(unfreeze_at_epoch=cfg.model.unfreeze_epoch))
    return cbks


def _announce(run: _Run) -> None:
    cfg, data, world = run.cfg, run.data, run.world
    run.say(
        f"training {cfg.model.name} on {data.description} ({len(data.train)} images, "
        f"{len(data.classes)} classes) for {cfg.train.epochs} epochs on {run.device}"
        + (
            f" and {world - 1} more processes (global batch {run.env['global_batch']})"
            if world > 1
            else ""
        )
        + (f", at most {cfg.train.max_steps} steps" if cfg.train.max_steps else "")
        + f"\nrun folder: {run.run_dir}",
        flush=True,
    )


def _fit(run: _Run, model: Any, ema: Any) -> int | None:
    """Train; None when training ended, else the exit code of how it stopped."""
    from resvision import distributed
    from resvision.cli import runinfo
    from resvision.engine.checkpoint import CheckpointWriteError
    from resvision.engine.identity import ResumeMismatchError
    from resvision.engine.loops import NonFiniteLossError

    cfg, run_dir, ckpt_dir = run.cfg, run.run_dir, run.ckpt_dir
    cbks = _callbacks(run, ema)
    _announce(run)
    try:
        model.fit(
            run.data.train,
            run.data.eval,
            batch_size=cfg.train.batch_size,
            epochs=cfg.train.epochs,
            eval_freq=cfg.train.eval_freq,
            log_freq=cfg.train.log_freq,
            save_dir=ckpt_dir,
            save_freq=cfg.train.save_freq,
            save_steps=cfg.train.save_steps,
            verbose=2 if not sys.stdout.isatty() else 1,
            num_workers=cfg.data.num_workers,
            callbacks=cbks,
            accumulate_grad_batches=cfg.train.accumulate_grad_batches,
            num_iters=cfg.train.max_steps,
            resume=run.resume,
            seed=cfg.train.seed,
            sync_bn=cfg.train.sync_bn,
        )
    except ResumeMismatchError as err:
        raise UsageError(
            f"--resume {run_dir}: {err}\nresume as it was with `resvision train --resume "
            f"{run_dir}` (plus --epochs, --max-steps or other settings that may change)"
        ) from None
    except KeyboardInterrupt:
        run.say(runinfo.interrupted_message(run_dir, ckpt_dir), file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit:  # SIGTERM (a scheduler's time limit): the engine saved last.pt first
        run.say(runinfo.interrupted_message(run_dir, ckpt_dir), file=sys.stderr)
        raise
    except RuntimeError as err:
        if (
            run.world == 1
            or not distributed.is_peer_failure(err)
            or getattr(run.args, "debug", False)
        ):
            raise
        # Another process died or hung: its own error and the launcher's report say more.
        from resvision.engine.memory import peer_out_of_memory

        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        why = peer_out_of_memory()  # a peer that ran out of memory left its message
        print(
            f"resvision: rank {distributed.rank()}: lost contact with another process ({first}); "
            + (
                f"a peer reported: {why}"
                if why
                else "the launcher reports which process failed first"
            ),
            file=sys.stderr,
        )
        distributed.abandon()  # exits: tearing down a broken process group can abort
    except (NonFiniteLossError, CheckpointWriteError) as err:
        print(f"resvision: training stopped: {err}", file=sys.stderr)
        run.say(
            f"checkpoints written before the failure are kept in {ckpt_dir}; continue with "
            f"`resvision train --resume {run_dir}` once the cause is fixed",
            file=sys.stderr,
        )
        return 1
    return None


def _finish(run: _Run, model: Any, ema: Any, train_seconds: float) -> int:
    """The final evaluation (every process predicts its share), env.json, the report and the
    closing lines (rank 0)."""
    from resvision.cli import runinfo
    from resvision.cli.evaluate import final_evaluation

    cfg, run_dir, ckpt_dir = run.cfg, run.run_dir, run.ckpt_dir
    extra = [ema] if ema else None
    if not run.main:
        # fit ended with a barrier: final.pt is written. Every process predicts its share of the
        # final evaluation (Model.predict splits the data set and gathers); rank 0 reports.
        final_evaluation(model, run.data, run_dir, cfg, callbacks=extra, write=False)
        return 0
    started = time.perf_counter()
    try:
        with _stop_on_sigterm():
            evaluation = final_evaluation(model, run.data, run_dir, cfg, callbacks=extra)
    except (KeyboardInterrupt, SystemExit) as err:  # training is done: final.pt is there
        print(runinfo.interrupted_message(run_dir, ckpt_dir), file=sys.stderr)
        return EXIT_INTERRUPTED if isinstance(err, KeyboardInterrupt) else 143
    env = read_json(run_dir / ENV_FILE) or run.env
    env.update(runinfo.timing(run_dir / METRICS_FILE, train_seconds))
    env["eval_seconds"] = time.perf_counter() - started
    env["ended"] = runinfo.now_iso()
    write_json(run_dir / ENV_FILE, env)
    report = None
    if cfg.output.report:
        from resvision.report import build_report

        report = build_report(run_dir)
    print(runinfo.finished_message(run_dir, ckpt_dir, evaluation, report, env))
    return 0


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) inside (so the closing message is printed), unless the
    signal is ignored or handled by someone else."""
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_trainable(cfg: Config, data: Any, device: Any) -> None:
    """Refuse at start-up what would fail later: a single class (the final evaluation's top-k
    needs two), a batch that cannot fit in the device's memory (checked before allocating)."""
    from resvision.engine.memory import check_batch_fits

    if len(data.classes) < 2:
        raise UsageError(
            f"--data {cfg.data.name!r} has {len(data.classes)} class ({', '.join(data.classes)}); "
            "a classifier needs at least 2 classes: add a folder per class"
        )
    try:
        check_batch_fits(
            cfg.train.batch_size, data.preprocess.channels, data.preprocess.size, device
        )
    except ValueError as err:
        raise UsageError(f"--batch-size {cfg.train.batch_size} / --image-size: {err}") from None


def _run_folder_lock(run_dir: Path, main: bool) -> Any:
    """The run folder's lock (rank 0 takes it), or a null context on the other processes."""
    import contextlib

    from resvision.engine.runlock import RunFolderBusyError, RunLock

    if not main:
        return contextlib.nullcontext()
    lock = RunLock(run_dir)
    try:
        return lock.acquire()
    except RunFolderBusyError as err:
        raise UsageError(f"--output {str(run_dir)!r}: {err}") from None


def _process_device(name: str) -> Any:
    """This process's device; under torchrun also its process group (so rank is known)."""
    from resvision import distributed
    from resvision.cli.build import resolve_device_name

    try:
        distributed.select_local_device()  # under torchrun: 'auto' / 'cuda' = own GPU
        device = resolve_device_name(name)
        distributed.init_distributed(device)
    except ValueError as err:
        raise UsageError(str(err)) from None
    return device


def _launch(args: argparse.Namespace, cfg: Config) -> int:
    """``train --nproc N``: the same command on N processes, in one run folder."""
    from resvision.cli.launch import launch, worker_arguments

    extra = []
    if not cfg.output.dir:  # a folder named by the clock: choose it once, for every process
        extra = ["--output", str(default_run_dir(cfg.model.name, cfg.data.name))]
    print(
        f"starting {args.nproc} processes on this machine (global batch "
        f"{cfg.train.batch_size * args.nproc * cfg.train.accumulate_grad_batches})",
        flush=True,
    )
    return launch(args.nproc, worker_arguments(args.argv, extra))
