"""One run per folder: a second run on the same folder is refused, naming the first, before it
reads or writes anything there; a lock left by a dead process on this host is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from resvision.callbacks import Callback
from resvision.engine.model import Model
from resvision.engine.runlock import LOCK_FILE, RunFolderBusyError, RunLock

_G = torch.Generator().manual_seed(0)
DATA = TensorDataset(
    torch.randn(16, 3, 4, 4, generator=_G), torch.randint(0, 2, (16,), generator=_G)
)


def _model() -> Model:
    model = Model(nn.Sequential(nn.Flatten(), nn.Linear(48, 2)), device="cpu")
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
    return model


def _holder_process() -> subprocess.Popen:
    """Another live process on this host (it only sleeps)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def _write_lock(folder, **holder) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_FILE).write_text(json.dumps(holder))


def test_fit_on_a_folder_another_live_run_holds_is_refused_naming_it(tmp_path):
    other = _holder_process()
    try:
        _write_lock(tmp_path, host=socket.gethostname(), pid=other.pid, started=time.time(),
                    command="resvision train --output x")  # fmt: skip
        with pytest.raises(RunFolderBusyError, match=f"process {other.pid} on host") as info:
            _model().fit(DATA, batch_size=8, epochs=1, verbose=0, save_dir=tmp_path)
        assert "resvision train --output x" in str(info.value) and LOCK_FILE in str(info.value)
        assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE]  # nothing written
    finally:
        other.kill()
        other.wait()


def test_a_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    gone = _holder_process()
    gone.kill()
    gone.wait()
    _write_lock(tmp_path, host=socket.gethostname(), pid=gone.pid, started=time.time())
    _model().fit(DATA, batch_size=8, epochs=1, verbose=0, save_dir=tmp_path)
    assert (tmp_path / "final.pt").exists()
    assert not (tmp_path / LOCK_FILE).exists()  # released at the end


def test_a_lock_from_another_host_is_never_taken_over(tmp_path):
    _write_lock(tmp_path, host="elsewhere.example", pid=1, started=time.time())
    with pytest.raises(RunFolderBusyError, match=r"host elsewhere\.example"):
        RunLock(tmp_path).acquire()


def test_the_lock_is_released_when_fit_fails(tmp_path):
    class Crash(Callback):
        def on_train_batch_end(self, step, logs=None):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _model().fit(DATA, batch_size=8, epochs=1, verbose=0, save_dir=tmp_path,
                     callbacks=[Crash()])  # fmt: skip
    assert not (tmp_path / LOCK_FILE).exists()
    _model().fit(DATA, batch_size=8, epochs=1, verbose=0, save_dir=tmp_path)  # free again


def test_a_fit_inside_a_fit_on_the_same_folder_is_refused(tmp_path):
    class Nested(Callback):
        def on_train_begin(self, logs=None):
            _model().fit(DATA, batch_size=8, epochs=1, verbose=0, save_dir=tmp_path)

    with pytest.raises(RunFolderBusyError, match=f"process {os.getpid()}"):
        _model().fit(DATA, batch_size=8, epochs=1, verbose=0, save_dir=tmp_path,
                     callbacks=[Nested()])  # fmt: skip


def test_two_command_line_runs_on_one_output_the_second_is_refused(tmp_path):
    env = dict(os.environ, RESVISION_NUM_THREADS="1", RESVISION_CACHE=str(tmp_path / "cache"))
    env.pop("RESVISION_MAX_STEPS", None)
    argv = [sys.executable, "-m", "resvision", "train", "--output", "run", "--set",
            "train.log_freq=1", "--set", "output.report=false"]  # fmt: skip
    first = subprocess.Popen([*argv, "--max-steps", "400"], cwd=tmp_path, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        metrics = tmp_path / "run" / "metrics.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            if metrics.exists() and '"train_batch"' in metrics.read_text():
                break
            time.sleep(0.2)
        assert first.poll() is None, first.stderr.read()
        config_before = (tmp_path / "run" / "config.yaml").read_bytes()
        second = subprocess.run([*argv, "--max-steps", "1", "--lr", "0.5"], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"is in use by another run: process {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        assert (tmp_path / "run" / "config.yaml").read_bytes() == config_before
    finally:
        first.kill()
        first.wait()
