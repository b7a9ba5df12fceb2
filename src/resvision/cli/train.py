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
from pathlib import Path
from typing import Any

from resvision.cli.parser import train_flags
from resvision.recipe.config import Config, dump_yaml, resolve
from resvision.recipe.errors import EXIT_INTERRUPTED, UsageError
from resvision.recipe.presets import find_config
from resvision.recipe.runfolder import (
    CONFIG_FILE,
    ENV_FILE,
    METRICS_FILE,
    default_run_dir,
    read_json,
    run_dir_of,
    write_json,
)
from resvision.recipe.training import TrainingRun

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
    from resvision.recipe import training

    run = training.open_run(cfg)
    # The run folder has one owner from here to the report: a second run given the same
    # --output is refused (exit 2) naming the first, before it reads or writes anything there.
    with training.run_folder_lock(run.run_dir, run.main):
        training.find_resume_target(run, resumed_dir)
        model, ema, started_from = training.build_model(cfg, run.data, run.device, run.world)
        if started_from:
            run.say(started_from, flush=True)
        started = time.perf_counter()
        code = _fit(run, model, ema, debug=getattr(args, "debug", False))
        if code is not None:
            return code
        return _finish(run, model, ema, time.perf_counter() - started)


def _announce(run: TrainingRun) -> None:
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


def _fit(run: TrainingRun, model: Any, ema: Any, debug: bool = False) -> int | None:
    """Train; None when training ended, else the exit code of how it stopped."""
    from resvision import distributed
    from resvision.engine.checkpoint import CheckpointWriteError
    from resvision.engine.identity import ResumeMismatchError
    from resvision.engine.loops import NonFiniteLossError
    from resvision.recipe import runs as runinfo

    cfg, run_dir, ckpt_dir = run.cfg, run.run_dir, run.ckpt_dir
    from resvision.recipe.training import fit_arguments, run_callbacks

    cbks = run_callbacks(run, ema)
    _announce(run)
    try:
        model.fit(
            run.data.train,
            run.data.eval,
            save_dir=ckpt_dir,
            verbose=2 if not sys.stdout.isatty() else 1,
            callbacks=cbks,
            resume=run.resume,
            **fit_arguments(cfg),
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
        if run.world == 1 or not distributed.is_peer_failure(err) or debug:
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


def _finish(run: TrainingRun, model: Any, ema: Any, train_seconds: float) -> int:
    """The final evaluation (every process predicts its share), env.json, the report and the
    closing lines (rank 0)."""
    from resvision.recipe import runs as runinfo
    from resvision.recipe.evaluation import final_evaluation

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
    from resvision.recipe.training import log_run_folder

    log_run_folder(run)
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
