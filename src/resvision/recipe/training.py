"""A training run assembled from a config: the data, the device, the run folder, the prepared
model and its callbacks.

``resvision train`` calls these in order (:func:`open_run`, :func:`run_folder_lock`,
:func:`find_resume_target`, :func:`build_model`, :func:`run_callbacks`, then ``Model.fit`` with
:func:`fit_arguments`) and only prints; the benchmarks build their model with the same
:func:`build_model`, so the recipe is assembled in one place. Bad input raises
:class:`~resvision.recipe.errors.UsageError` naming the option to fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resvision.recipe.config import Config, dump_yaml
from resvision.recipe.errors import UsageError
from resvision.recipe.runfolder import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    ENV_FILE,
    METRICS_FILE,
    default_run_dir,
    environment,
)

__all__ = [
    "TrainingRun",
    "build_model",
    "check_trainable",
    "configure_determinism",
    "find_resume_target",
    "fit_arguments",
    "open_run",
    "process_device",
    "run_callbacks",
    "run_folder_lock",
]


def configure_determinism(cfg: Config) -> None:
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
class TrainingRun:
    """One training run of a config: its data, device, processes and run folder.

    Built by :func:`open_run`; :func:`find_resume_target` fills ``resume`` and ``env``.
    """

    cfg: Config
    data: Any
    device: Any
    world: int
    main: bool
    run_dir: Path
    resume: Path | None = None
    env: dict[str, Any] = field(default_factory=dict)
    #: The MLflowLogger of ``train.tracking: mlflow`` (set by :func:`run_callbacks`), or None.
    tracker: Any = None

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / CHECKPOINT_DIR

    def say(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on rank 0, which alone prints and writes the run folder."""
        if self.main:
            print(*args, **kwargs)


def open_run(cfg: Config) -> TrainingRun:
    """The cheap checks, the device, the data (checked to be trainable) and the run folder."""
    from resvision import distributed
    from resvision.models import model_info
    from resvision.recipe.build import check_model_name
    from resvision.recipe.data import data_kind, folder_root, folder_splits, open_data

    if data_kind(cfg.data.name) == "folder":  # the cheap checks first, before torch loads
        folder_splits(folder_root(cfg.data.name))
    check_model_name(cfg.model.name)
    device = process_device(cfg.train.device)
    world, main = distributed.world_size(), distributed.rank() == 0
    with distributed.main_process_first():  # one download per machine, then the others read it
        data = open_data(cfg.data, model_size=model_info(cfg.model.name).input_size[1])
    check_trainable(cfg, data, device)
    configure_determinism(cfg)
    run_dir = (
        Path(cfg.output.dir) if cfg.output.dir else default_run_dir(cfg.model.name, cfg.data.name)
    )
    run_dir = Path(distributed.broadcast_object(str(run_dir)))  # one folder for all processes
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(
            f"--output {str(run_dir)!r} exists and is not a folder; give a new or existing folder"
        )
    return TrainingRun(cfg, data, device, world, main, run_dir)


def find_resume_target(run: TrainingRun, resumed_dir: Path | None) -> None:
    """The checkpoint ``--resume`` means (checked to be a readable training checkpoint), the
    refusal to start over in a folder holding checkpoints, and the run's env.json content."""
    from resvision.engine.checkpoint import is_training_checkpoint, load_checkpoint
    from resvision.recipe import runs as runinfo

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


def build_model(cfg: Config, data: Any, device: Any, world: int = 1) -> tuple[Any, Any, str]:
    """The network, optimizer, schedule, loss and metrics of ``cfg``, prepared on ``device``.

    The one place a config becomes a :class:`resvision.Model`: ``resvision train`` and the
    benchmarks call it. The random state is seeded (``train.seed``) before the network is built,
    so the seed fixes the initial weights too (a resumed run takes its weights and random states
    from the checkpoint instead).

    Args:
        cfg: the resolved config.
        data: the :class:`~resvision.recipe.data.DataBundle` it trains on.
        device: the device to train on.
        world: the number of processes (each trains on its shard: ``len // world`` samples an
            epoch, which sets the schedule's steps per epoch).

    Returns:
        ``(model, ema, started_from)``: the prepared model, the ``EMA`` callback when the recipe
        averages weights (else None), and a line saying which pretrained weights the network
        starts from ("" when none).
    """
    import torch

    import resvision
    from resvision import callbacks, distributed, metrics
    from resvision.engine.fit import seed_everything
    from resvision.recipe import runs as runinfo
    from resvision.recipe.build import (
        amp_setting,
        build_network,
        build_optimizer,
        build_schedule,
        describe_pretrained,
        steps_per_epoch,
    )

    seed_everything(cfg.train.seed)
    with distributed.main_process_first():  # pretrained weights: one download per machine
        network = build_network(cfg.model, len(data.classes), data.preprocess.channels)
    model = resvision.Model(network, device=device)
    spe = steps_per_epoch(
        len(data.train) // world, cfg.train.batch_size, cfg.train.accumulate_grad_batches
    )
    optimizer = build_optimizer(cfg.optim, model.network, build_schedule(cfg, spe, world), spe)
    model.prepare(
        optimizer,
        torch.nn.CrossEntropyLoss(label_smoothing=cfg.train.label_smoothing),
        metrics.Accuracy(topk=(1, 5) if len(data.classes) > 5 else (1,)),
        amp_configs=amp_setting(cfg.train.amp, device),
        channels_last=cfg.train.channels_last,
        compile=cfg.train.compile,
    )
    model.identity = runinfo.run_identity(cfg, data)
    ema = callbacks.EMA(decay=cfg.train.ema_decay) if cfg.train.ema_decay else None
    return model, ema, describe_pretrained(network)


def fit_arguments(cfg: Config) -> dict[str, Any]:
    """The keyword arguments of ``Model.fit`` that ``cfg`` sets (batch, epochs, frequencies,
    workers, accumulation, step limit, seed, sync-BN, repeated augmentation, MixUp/CutMix)."""
    from resvision.recipe.build import build_batch_mix

    return {
        "batch_size": cfg.train.batch_size,
        "epochs": cfg.train.epochs,
        "eval_freq": cfg.train.eval_freq,
        "log_freq": cfg.train.log_freq,
        "save_freq": cfg.train.save_freq,
        "save_steps": cfg.train.save_steps,
        "num_workers": cfg.data.num_workers,
        "accumulate_grad_batches": cfg.train.accumulate_grad_batches,
        "num_iters": cfg.train.max_steps,
        "seed": cfg.train.seed,
        "sync_bn": cfg.train.sync_bn,
        "aug_repeats": cfg.data.aug_repeats,
        "batch_mix": build_batch_mix(cfg),
    }


def run_callbacks(run: TrainingRun, ema: Any) -> list[Any]:
    """The callbacks of ``resvision train``: the metrics log, the run description, the
    checkpoints, and the EMA / backbone freezing the config asks for.

    The checkpoints (``ModelCheckpoint``, in ``run_dir/checkpoints``): ``{epoch}.pt`` every
    ``train.save_freq`` epochs and ``final.pt`` (Paddle's), and the 3 best epochs by the
    evaluation's first metric (``acc_top1``; ``acc`` for 5 classes or fewer) as
    ``best-epoch=NNN-acc_top1=V.pt``, the best of them copied to ``best.pt``, which ``resvision
    eval/predict/export RUN_DIR`` take (:data:`resvision.recipe.runs.PREFERRED`).
    """
    from resvision import callbacks
    from resvision.recipe import runs as runinfo

    cfg = run.cfg
    # config.yaml and env.json are written when training begins, after fit has checked a
    # resume's settings: a refused resume leaves the run folder as it was.
    files = {CONFIG_FILE: dump_yaml(cfg), ENV_FILE: run.env}
    cbks: list[Any] = [
        callbacks.JSONLLogger(run.run_dir, filename=METRICS_FILE),
        runinfo.RunInfo(cfg, run.data, files=files),
        # save_dir: fit's (run_dir/checkpoints); monitor: the evaluation's first metric.
        callbacks.ModelCheckpoint(cfg.train.save_freq, save_top_k=3, save_last=True),
    ]
    if ema is not None:
        cbks.append(ema)
    if cfg.train.tracking == "mlflow":
        run.tracker = mlflow_logger(run)
        cbks.append(run.tracker)
    if cfg.model.freeze_backbone:
        cbks.append(callbacks.FreezeBackbone(unfreeze_at_epoch=cfg.model.unfreeze_epoch))
    return cbks


def mlflow_logger(run: TrainingRun) -> Any:
    """The MLflowLogger of a run: experiment ``resvision``, the run folder's name, the resolved
    config as parameters, the store from ``MLFLOW_TRACKING_URI`` or ``runs/mlruns/mlflow.db``.

    Raises:
        UsageError: MLflow's client is not installed.
    """
    import dataclasses
    import os

    from resvision.callbacks import MLflowLogger
    from resvision.callbacks.tracking import local_store_uri

    uri = (
        None
        if os.environ.get("MLFLOW_TRACKING_URI")
        else local_store_uri(run.run_dir.resolve().parent / "mlruns")
    )
    try:
        return MLflowLogger(
            experiment_name="resvision",
            run_name=run.run_dir.name,
            tracking_uri=uri,
            params=dataclasses.asdict(run.cfg),
            tags={"resvision.run_dir": str(run.run_dir.resolve())},
            end_on_train_end=False,  # log_run_folder uploads the report first
        )
    except ImportError as err:
        raise UsageError(f"--tracking mlflow: {err}") from None


def log_run_folder(run: TrainingRun, status: str = "FINISHED") -> None:
    """Upload the run folder's report, evaluation, config, metrics and final checkpoint to the
    MLflow run (``train.tracking: mlflow``), then mark it ended."""
    if run.tracker is None or not run.main:
        return
    files = [run.run_dir / name for name in ("report.html", "evaluation.json", "config.yaml",
                                             "env.json", "metrics.jsonl")]  # fmt: skip
    run.tracker.log_artifacts(files)
    final = run.ckpt_dir / "final.pt"
    run.tracker.log_artifacts([final], folder="checkpoints")
    run.tracker.finish(status)


def check_trainable(cfg: Config, data: Any, device: Any) -> None:
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


def run_folder_lock(run_dir: Path, main: bool) -> Any:
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


def process_device(name: str) -> Any:
    """This process's device; under torchrun also its process group (so rank is known)."""
    from resvision import distributed
    from resvision.recipe.build import resolve_device_name

    try:
        distributed.select_local_device()  # under torchrun: 'auto' / 'cuda' = own GPU
        device = resolve_device_name(name)
        distributed.init_distributed(device)
    except ValueError as err:
        raise UsageError(str(err)) from None
    return device
