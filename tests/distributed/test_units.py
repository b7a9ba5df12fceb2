"""The single-process parts of distributed training: environment, errors, SyncBN conversion."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from resvision import distributed
from resvision.cli.launch import check_nproc, describe_failures, worker_arguments
from resvision.engine import data_parallel
from resvision.engine.syncbn import CollectiveBatchNorm, convert_sync_batchnorm
from resvision.recipe.errors import UsageError


def test_launch_environment_reads_torchrun_variables(monkeypatch):
    for name, value in {"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert distributed.launch_environment() == distributed.ProcessInfo(3, 4, 1, 2)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE must be an integer, got 'two'"),
        ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK=2 is not below WORLD_SIZE=2"),
        ({"WORLD_SIZE": "2", "RANK": "-1"}, "RANK must be >= 0"),
    ],
)
def test_bad_launch_variables_are_named(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        distributed.launch_environment()


def test_bad_timeout_is_named(monkeypatch):
    monkeypatch.setenv("RESVISION_DIST_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="RESVISION_DIST_TIMEOUT must be a number of seconds"):
        distributed._timeout(None)
    with pytest.raises(ValueError, match="positive number of seconds, got -1"):
        distributed._timeout(-1)


def test_one_process_needs_no_process_group(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.init_distributed("cpu") is None
    assert not torch.distributed.is_initialized()
    assert distributed.all_reduce_numbers([1, 2]) == [1.0, 2.0]
    assert data_parallel.gather_rank_states({"a": 1}) == [{"a": 1}]


def test_a_mid_epoch_checkpoint_needs_the_same_number_of_processes():
    ckpt = {
        "config": {"fit": {"world_size": 2}},
        "progress": {"epoch": 1, "batch": 3, "global_step": 9},
        "rng": {},
        "ranks": [{"rng": 0}, {"rng": 1}],
    }
    with pytest.raises(ValueError, match=r"by a run of 2 process.*this run has 1"):
        data_parallel.own_rank_state(ckpt, 0, 1)
    assert data_parallel.own_rank_state(ckpt, 1, 2) == {"rng": 1}
    ckpt["progress"]["batch"] = 0  # at an epoch boundary any number of processes may go on
    assert data_parallel.own_rank_state(ckpt, 0, 1)["rng"] == {}


def test_collective_batchnorm_is_batchnorm_in_one_process_with_the_same_keys():
    torch.manual_seed(0)
    reference = nn.BatchNorm1d(3, momentum=None)
    layer = CollectiveBatchNorm(3, momentum=None)
    for _ in range(3):
        x = torch.randn(5, 3, 4) * 3 + 1
        torch.testing.assert_close(layer(x), reference(x))
    assert layer.state_dict().keys() == reference.state_dict().keys()
    layer.load_state_dict(reference.state_dict())
    with pytest.raises(ValueError, match="at least 2-d input"):
        layer(torch.randn(3))


def test_conversion_keeps_the_parameters_the_optimizer_holds():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm1d(2)))
    before = [id(p) for p in net.parameters()]
    buffers = [id(b) for b in net.buffers()]
    net.eval()
    converted = convert_sync_batchnorm(net, "cpu")
    assert converted is net
    assert isinstance(net[1], CollectiveBatchNorm) and isinstance(net[2][0], CollectiveBatchNorm)
    assert [id(p) for p in net.parameters()] == before
    assert [id(b) for b in net.buffers()] == buffers
    assert not net[1].training


def test_worker_arguments_drop_nproc_and_nproc_checks(monkeypatch):
    assert worker_arguments(["train", "--nproc", "2", "--lr", "0.1"]) == ["train", "--lr", "0.1"]
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    with pytest.raises(UsageError, match="--nproc must be a positive number of processes, got 0"):
        check_nproc(0)
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(UsageError, match="under torchrun leave it out"):
        check_nproc(2)


def test_failure_report_names_ranks_and_the_error_message():
    failure = SimpleNamespace(
        local_rank=0, pid=7, exitcode=1, timestamp=3, message="ValueError: bad data"
    )
    assert describe_failures({4: failure}) == (
        "rank 4 (local rank 0, pid 7) exited with code 1: ValueError: bad data"
    )


def test_peer_failures_are_told_apart_from_other_errors():
    assert distributed.is_peer_failure(RuntimeError("Timed out waiting 3000ms for recv"))
    assert not distributed.is_peer_failure(ValueError("labels out of range"))
