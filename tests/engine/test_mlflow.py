"""Experiment tracking with MLflow (issue #19): runs read back through MLflow's own client,
from the local store; a resumed fit logs into the same MLflow run; the command line's run."""

import importlib.util
import os
import shutil
import socket
import subprocess
import time

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


@pytest.mark.slow
def test_a_fit_logs_to_a_real_mlflow_server(tmp_path):
    exe = shutil.which("mlflow")
    if exe is None or importlib.util.find_spec("mlflow.server") is None:
        pytest.skip("MLflow's server (pip install mlflow, the full package) is not installed")
    try:
        import flask  # noqa: F401  (the server's web framework; mlflow-skinny lacks it)
    except ImportError:
        pytest.skip("MLflow's server (pip install mlflow, the full package) is not installed")
    port = _free_port()
    server = subprocess.Popen(
        [exe, "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'store.db'}",
         "--default-artifact-root", (tmp_path / "artifacts").as_uri()],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                mlflow.MlflowClient(tracking_uri=uri).search_experiments()
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
        logger = MLflowLogger(tracking_uri=uri, log_freq=1)
        _model().fit(DATA, batch_size=8, epochs=1, verbose=0, log_freq=1, save_dir=tmp_path / "ckpt",
                     callbacks=[logger])  # fmt: skip
        client, runs = _runs(uri)
        assert [r.info.run_id for r in runs] == [logger.run_id]
        assert len(client.get_metric_history(logger.run_id, "train/loss")) == 4
    finally:
        server.terminate()
        server.wait(timeout=30)
