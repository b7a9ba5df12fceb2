"""Experiment tracking with MLflow: :class:`MLflowLogger`.

Needs ``mlflow-skinny`` (``pip install 'resvision[mlflow]'``), MLflow's client without its
server. Where runs go, first match wins: the ``tracking_uri`` argument, the
``MLFLOW_TRACKING_URI`` environment variable (a server: ``http://host:5000``), else a local
store in a folder ``mlruns/`` beside ``fit``'s ``save_dir`` (``save_dir='output'``: ``./mlruns``):
an SQLite database ``mlruns/mlflow.db`` (MLflow 3's default local backend; its file store is in
maintenance mode and refuses new stores) with the artifacts in ``mlruns/artifacts/``.
``mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db`` shows it. ``resvision train
--tracking mlflow`` puts the folder beside the run folders, ``runs/mlruns``.

Everything goes through ``mlflow.MlflowClient`` with an explicit run id, so nothing depends on
(or disturbs) MLflow's global "active run"; the run id is part of the callback's state, so a
resumed fit (``resume='auto'``) keeps logging into the same MLflow run. Only the main process
logs under torchrun.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from resvision.distributed import is_main_process

from .base import to_scalar
from .loggers import _BOOKKEEPING, _StepCounter

__all__ = ["MLflowLogger", "flatten_params", "local_store_uri"]


def flatten_params(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as MLflow parameters: dotted keys, values as text (at most 6000 chars).

    Examples:
        >>> flatten_params({"optim": {"lr": 0.1, "name": "sgd"}, "seed": 0})
        {'optim.lr': '0.1', 'optim.name': 'sgd', 'seed': '0'}
    """
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_params(value, f"{name}."))
        else:
            out[name] = str(value)[:6000]
    return out


def local_store_uri(folder: str | os.PathLike[str]) -> str:
    """The tracking URI of the local store in ``folder``: the SQLite database
    ``folder/mlflow.db`` (created with the folder when missing).

    Examples:
        >>> local_store_uri("/tmp/x/mlruns")
        'sqlite:////tmp/x/mlruns/mlflow.db'
    """
    path = Path(folder).resolve()
    return f"sqlite:///{path / 'mlflow.db'}"


def _local_store_folder(uri: str) -> Path | None:
    """The folder of a local SQLite store's URI (None for any other store)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///") :]).parent


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError as err:
        raise ImportError(
            "MLflowLogger needs MLflow's client: pip install 'resvision[mlflow]' (or pip install "
            "mlflow-skinny)"
        ) from err
    return mlflow


class MLflowLogger(_StepCounter):
    """Log a fit's settings, metrics and files to an MLflow run.

    Metrics: ``train/<name>`` every ``log_freq`` steps (step: global step), ``epoch/<name>``
    at each epoch end and ``eval/<name>`` at each evaluation (step: the epoch, 1-based), as
    :class:`~resvision.callbacks.TensorBoard` names them. Parameters: ``params`` (for
    ``resvision train``, the resolved config) plus ``fit``'s own (batch size, epochs...).

    Args:
        experiment_name: the MLflow experiment (created when missing).
        run_name: the MLflow run's name (None: MLflow's).
        tracking_uri: where runs go (see the module documentation).
        params: settings to log as parameters (nested dicts are flattened with dots).
        log_freq: log step metrics every this many steps (None: ``fit``'s ``log_freq``; the
            loss reaches the batch logs only every ``fit(log_freq=...)`` steps).
        tags: MLflow tags of the run.
        end_on_train_end: mark the MLflow run finished when ``fit`` ends (False: the caller
            logs more, then calls :meth:`finish`, as ``resvision train`` does).

    Attributes:
        run_id: the MLflow run's id once training started (None before).

    Raises:
        ImportError: when ``mlflow`` is not installed.
    """

    def __init__(
        self,
        experiment_name: str = "resvision",
        run_name: str | None = None,
        tracking_uri: str | None = None,
        params: dict[str, Any] | None = None,
        log_freq: int | None = None,
        tags: dict[str, str] | None = None,
        end_on_train_end: bool = True,
    ) -> None:
        super().__init__(log_freq)
        self._mlflow = _import_mlflow()
        if not isinstance(experiment_name, str) or not experiment_name:
            raise ValueError(f"experiment_name must be a non-empty string, got {experiment_name!r}")
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.tracking_uri = tracking_uri
        self.run_params = dict(params or {})
        self.tags = dict(tags or {})
        self.end_on_train_end = bool(end_on_train_end)
        self.run_id: str | None = None
        self._client: Any = None
        self._started = False

    # ------------------------------------------------------------------ the run
    def resolved_tracking_uri(self) -> str:
        """The tracking URI this logger writes to (see the module documentation)."""
        if self.tracking_uri:
            return self.tracking_uri
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        save_dir = self.params.get("save_dir")
        base = Path(save_dir).resolve().parent if save_dir else Path.cwd()
        return local_store_uri(base / "mlruns")

    @property
    def client(self) -> Any:
        if self._client is None:
            uri = self.resolved_tracking_uri()
            folder = _local_store_folder(uri)
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
            self._client = self._mlflow.MlflowClient(tracking_uri=uri)
        return self._client

    def _start(self) -> None:
        client = self.client
        if self.run_id is not None:  # resumed: the same MLflow run goes on
            client.update_run(self.run_id, status="RUNNING")
            return
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            # a local store keeps its artifacts beside its database (MLflow's own default
            # would be ./mlartifacts under whatever the working directory is)
            folder = _local_store_folder(self.resolved_tracking_uri())
            location = (folder / "artifacts").as_uri() if folder is not None else None
            experiment_id = client.create_experiment(
                self.experiment_name, artifact_location=location
            )
        run = client.create_run(experiment_id, run_name=self.run_name, tags=self.tags)
        self.run_id = run.info.run_id
        fit = {f"fit.{k}": v for k, v in self.params.items() if _loggable(v)}
        flat = flatten_params({**fit, **self.run_params})
        Param = self._mlflow.entities.Param
        items = [Param(k, v) for k, v in flat.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 parameters per batch
            client.log_batch(self.run_id, params=items[i : i + 100])

    def _metrics(self, prefix: str, logs: dict[str, Any], step: int) -> None:
        if not is_main_process():
            return
        if self._in_fit:
            self._ensure_started()
        if self.run_id is None:
            return
        Metric = self._mlflow.entities.Metric
        stamp = _now_ms()
        metrics = []
        for key, value in logs.items():
            scalar = to_scalar(value)
            if key in _BOOKKEEPING or scalar is None or not math.isfinite(scalar):
                continue
            if prefix == "epoch" and key.startswith("eval_"):
                continue
            metrics.append(Metric(f"{prefix}/{key}", scalar, stamp, step))
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def log_artifacts(self, paths: list[str | os.PathLike[str]], folder: str | None = None) -> None:
        """Upload files (and folders, recursively) to the run's artifacts, under ``folder``."""
        if self.run_id is None or not is_main_process():
            return
        for path in paths:
            path = Path(path)
            if path.is_dir():
                self.client.log_artifacts(self.run_id, str(path), folder)
            elif path.is_file():
                self.client.log_artifact(self.run_id, str(path), folder)

    def finish(self, status: str = "FINISHED") -> None:
        """Mark the MLflow run ended (``FINISHED``, ``FAILED`` or ``KILLED``)."""
        if self.run_id is not None and is_main_process():
            self.client.set_terminated(self.run_id, status=status)

    # ------------------------------------------------------------------ callback hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # The MLflow run starts at the first epoch's beginning, not here: a resumed fit loads
        # the callbacks' states (this run's id) after on_train_begin.
        super().on_train_begin(logs)
        self._started = False

    def _ensure_started(self) -> None:
        if not getattr(self, "_started", False) and is_main_process():
            self._start()
            self._started = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_epoch_begin(epoch, logs)
        self._ensure_started()

    def _log_step(self, step: int, logs: dict[str, Any]) -> None:
        self._metrics("train", logs, self.global_step)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._metrics("epoch", dict(logs or {}), epoch + 1)

    def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
        x = (self.epoch + 1) if (self._in_fit and self.epoch is not None) else self.global_step
        self._metrics("eval", dict(logs or {}), x)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._in_fit:
            self._ensure_started()  # a fit with nothing left to train still has its run
        super().on_train_end(logs)
        if self.end_on_train_end:
            self.finish()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.run_id = state.get("run_id") or self.run_id


def _loggable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
