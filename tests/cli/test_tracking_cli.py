"""``resvision train --tracking mlflow`` (issue #19): the run read back through MLflow's client."""

import pytest

mlflow = pytest.importorskip(
    "mlflow", reason="MLflow's client (resvision[mlflow]) is not installed"
)

from resvision.callbacks.tracking import local_store_uri  # noqa: E402


def _runs(uri):
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("resvision")
    return client, client.search_runs([experiment.experiment_id])


def test_the_command_lines_run_is_tracked_with_its_report_and_checkpoint(tmp_path, cli):
    proc = cli("train", "--max-steps", "3", "--output", "runs/r1", "--tracking", "mlflow",
               cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    client, runs = _runs(local_store_uri(tmp_path / "runs" / "mlruns"))
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_name == "r1" and run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "resnet20" and run.data.params["data.name"] == "sample"
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.html", "evaluation.json", "config.yaml", "checkpoints"} <= names
    ckpts = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert ckpts == {"checkpoints/final.pt"}
