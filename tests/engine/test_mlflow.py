"""Experiment tracking with MLflow (issue #19): runs read back through MLflow's own client,
from the local store; a resumed fit logs into the same MLflow run; the command line's run."""

import contextlib
import importlib.metadata
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

mlflow = pytest.importorskip(
    "mlflow", reason="MLflow's client (resvision[mlflow]) is not installed"
)

import resvision  # noqa: E402
from resvision.callbacks import Callback, MLflowLogger  # noqa: E402
from resvision.callbacks.tracking import local_store_uri  # noqa: E402

_G = torch.Generator().manual_seed(0)
DATA = TensorDataset(torch.randn(32, 6, generator=_G), torch.randint(0, 3, (32,), generator=_G))


def _model():
    torch.manual_seed(0)
    model = resvision.Model(nn.Linear(6, 3), device="cpu")
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
                  resvision.metrics.Accuracy())  # fmt: skip
    return model


class _StopAfter(Callback):
    def __init__(self, n):
        super().__init__()
        self.n, self.seen = n, 0

    def on_train_batch_end(self, step, logs=None):
        self.seen += 1
        if self.seen == self.n:
            self.model.stop_training = True


def _runs(uri):
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("resvision")
    return client, client.search_runs([experiment.experiment_id])


def test_a_fit_is_read_back_through_mlflows_client(tmp_path):
    uri = local_store_uri(tmp_path / "mlruns")
    logger = MLflowLogger(tracking_uri=uri, params={"optim": {"lr": 0.1}}, log_freq=1)
    _model().fit(DATA, DATA, batch_size=8, epochs=2, verbose=0, log_freq=1, save_dir=tmp_path / "ckpt",
                 callbacks=[logger])  # fmt: skip
    client, runs = _runs(uri)
    assert len(runs) == 1 and runs[0].info.run_id == logger.run_id
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["optim.lr"] == "0.1" and run.data.params["fit.batch_size"] == "8"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
    assert steps == list(range(1, 9))  # 4 steps an epoch, 2 epochs, every step
    evals = client.get_metric_history(run.info.run_id, "eval/acc")
    assert [m.step for m in evals] == [1, 2]


def test_a_resumed_fit_logs_into_the_same_mlflow_run(tmp_path):
    uri = local_store_uri(tmp_path / "mlruns")
    first = MLflowLogger(tracking_uri=uri, log_freq=1)
    _model().fit(DATA, batch_size=8, epochs=2, verbose=0, log_freq=1, save_dir=tmp_path / "ckpt",
                 callbacks=[first, _StopAfter(3)])  # fmt: skip
    second = MLflowLogger(tracking_uri=uri, log_freq=1)
    _model().fit(DATA, batch_size=8, epochs=2, verbose=0, log_freq=1, save_dir=tmp_path / "ckpt",
                 resume="auto", callbacks=[second])  # fmt: skip
    client, runs = _runs(uri)
    assert len(runs) == 1 and second.run_id == first.run_id
    steps = [m.step for m in client.get_metric_history(first.run_id, "train/loss")]
    assert steps == list(range(1, 9))  # 3 before the stop, 5 after: no step twice


def test_without_mlflow_the_error_says_what_to_install(monkeypatch):
    import resvision.callbacks.tracking as tracking

    def missing():
        raise ImportError("MLflowLogger needs MLflow's client: pip install 'resvision[mlflow]'")

    monkeypatch.setattr(tracking, "_import_mlflow", missing)
    with pytest.raises(ImportError, match=r"resvision\[mlflow\]"):
        MLflowLogger()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, n=4000):
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


def _wait_until_up(uri, server, log, seconds=120):
    """Poll the server's /health (not MLflow's client, whose retries back off for minutes)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:  # refused, reset, HTTP errors while the workers start
            pass
        if server.poll() is not None:
            pytest.fail(f"mlflow server exited with {server.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"mlflow server not up after {seconds} s:\n{_tail(log)}")
        time.sleep(0.25)


def _stop(server):
    """SIGTERM to the server (it forwards it to its uvicorn workers), then its whole process
    group: the server runs in a session of its own, so this ends only what the test started."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=30)
    if hasattr(os, "killpg"):  # what is left of its process group (POSIX)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_fit_logs_to_a_real_mlflow_server(tmp_path, monkeypatch):
    """A real `mlflow server` (the full package) over HTTP: an SQLite backend and proxied
    artifacts (--serve-artifacts, stored under --artifacts-destination), as a team server is
    set up; the run, its parameters, metric steps and an artifact read back over HTTP."""
    try:  # the full package, not mlflow-skinny (whose mlflow.server lacks Flask-CORS & co.)
        importlib.metadata.version("mlflow")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("MLflow's server (pip install mlflow, the full package) is not installed")
    # a dead server fails the client's calls in seconds, not after minutes of retries
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    # no background job runners (GenAI jobs: 7 extra processes, nothing tracking needs)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    log = tmp_path / "server.log"
    # `python -m mlflow` with this interpreter: its bin/ need not be on PATH (an unactivated venv)
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1",
             "--backend-store-uri", f"sqlite:///{tmp_path / 'store.db'}",
             "--serve-artifacts", "--artifacts-destination", (tmp_path / "artifacts").as_uri()],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_until_up(uri, server, log)
        logger = MLflowLogger(tracking_uri=uri, params={"optim": {"lr": 0.1}}, log_freq=1)
        _model().fit(DATA, DATA, batch_size=8, epochs=1, verbose=0, log_freq=1,
                     save_dir=tmp_path / "ckpt", callbacks=[logger])  # fmt: skip
        note = tmp_path / "note.txt"
        note.write_text("resvision")
        logger.log_artifacts([note], "reports")

        client, runs = _runs(uri)
        assert [r.info.run_id for r in runs] == [logger.run_id]
        run = runs[0]
        assert run.info.status == "FINISHED"
        assert run.data.params["optim.lr"] == "0.1" and run.data.params["fit.batch_size"] == "8"
        history = client.get_metric_history(logger.run_id, "train/loss")
        assert [m.step for m in history] == [1, 2, 3, 4]  # 4 steps, every step
        assert all(math.isfinite(m.value) for m in history)
        assert [m.step for m in client.get_metric_history(logger.run_id, "eval/acc")] == [1]
        assert [m.step for m in client.get_metric_history(logger.run_id, "epoch/loss")] == [1]
        # the artifact went through the server's proxy (mlflow-artifacts:/) to its destination
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        assert [a.path for a in client.list_artifacts(logger.run_id, "reports")] == [
            "reports/note.txt"
        ]
        stored = list((tmp_path / "artifacts").rglob("note.txt"))
        assert len(stored) == 1 and stored[0].read_text() == "resvision"
    finally:
        _stop(server)
