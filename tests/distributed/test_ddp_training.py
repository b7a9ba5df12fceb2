"""Two gloo processes with batch B/2 each train, evaluate and resume like one process with batch B."""

from __future__ import annotations

import math

import ddp_cases
import numpy as np
import pytest
import torch
from resume_proof import assert_ran_only_the_rest


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def _assert_same_logs(single: list[dict], ddp: list[dict]) -> None:
    assert len(single) == len(ddp)
    for one, two in zip(single, ddp):
        assert one.keys() == two.keys()
        for key in one:
            if key.startswith("acc"):
                assert one[key] == two[key], key  # counts of the same samples: exact
            else:
                assert math.isclose(one[key], two[key], rel_tol=1e-6), key


@pytest.mark.parametrize("scenario", ["plain", "accumulate", "syncbn"])
def test_two_processes_reach_the_weights_of_one_with_the_whole_batch(
    ddp_results, scenario, tmp_path
):
    single = ddp_cases.SCENARIOS[scenario](tmp_path)
    for rank, result in enumerate(ddp_results[scenario]):
        assert result["world_size"] == 2
        assert _max_diff(single["weights"], result["weights"]) < 1e-6, f"rank {rank}"
        # The epoch's training loss and accuracy are summed over both processes' samples.
        _assert_same_logs(single["epochs"], result["epochs"])


def test_without_sync_bn_batchnorm_statistics_differ(ddp_results, tmp_path):
    # The check above is not vacuous: per-process BatchNorm statistics change the result.
    single = ddp_cases.SCENARIOS["syncbn"](tmp_path)
    unsynced = ddp_results["unsynced_bn"][0]
    assert _max_diff(single["weights"], unsynced["weights"]) > 1e-4
    # Each process updated the running statistics with its own batches; after the epoch all
    # hold rank 0's, which the checkpoint holds and evaluation uses.
    assert _max_diff(unsynced["weights"], ddp_results["unsynced_bn"][1]["weights"]) == 0.0


@pytest.mark.parametrize("path", ["fast", "dataloader"])
def test_evaluation_on_an_odd_sized_set_equals_one_process(ddp_results, path, tmp_path):
    single = ddp_cases.SCENARIOS["evaluate"](tmp_path)
    reference = single[f"fit_{path}"]
    assert reference["num_samples"] == 37
    results = ddp_results["evaluate"]
    # Model.evaluate splits the data: 19 + 18 samples, none twice, none padded ...
    assert [r[f"evaluate_{path}_seen"] for r in results] == [19, 18]
    # ... and each process reports the count over both.
    assert [r[f"evaluate_{path}_logs"]["num_samples"] for r in results] == [37, 37]
    for rank, result in enumerate(results):
        for where in ("fit", "evaluate"):
            got = result[f"{where}_{path}"]
            assert got.keys() <= reference.keys()
            for key in got:
                if key == "loss":  # other batches, other summation order
                    assert math.isclose(got[key], reference[key], rel_tol=1e-6), (rank, where)
                else:  # every sample counted once: the same counts
                    assert got[key] == reference[key], (rank, where, key)


@pytest.mark.resume
@pytest.mark.parametrize("start", ["from_last", "from_final"])
def test_resume_under_ddp_continues_exactly(ddp_results, start):
    # last.pt after 2 optimizer steps, final.pt after 3; 6 in all, 4 per epoch per process
    done = {"from_last": {"epoch": 0, "batch": 2}, "from_final": {"epoch": 0, "batch": 3}}[start]
    for rank, result in enumerate(ddp_results["resume"]):
        full, resumed = result["full"], result[start]
        assert_ran_only_the_rest(resumed["batches"], done, 6, 4)
        assert not resumed["final_differences"], f"rank {rank}: {resumed['final_differences']}"
        assert _max_diff(full["weights"], resumed["weights"]) == 0.0, f"rank {rank}"
        # The first epoch's logs include the steps before the stop: each process got its own
        # metric counts back from the checkpoint.
        assert resumed["epochs"] == full["epochs"]


def test_checkpoints_inside_an_epoch_hold_every_rank_and_rank_0_alone_logs(ddp_results):
    result = ddp_results["resume"][0]
    assert result["progress"]["last"] == {"epoch": 0, "batch": 2, "global_step": 2}
    assert result["progress"]["final"] == {"epoch": 0, "batch": 3, "global_step": 3}
    assert result["rank_entries"] == {"last": 2, "final": 2}
    # Both processes share the folder; one line per event means one writer.
    assert result["events"].count("train_begin") == 1
    assert result["events"].count("epoch_end") == 2


@pytest.mark.parametrize("path", ["fast", "dataloader", "bare"])
def test_predict_splits_the_data_and_returns_everything_in_order(ddp_results, path, tmp_path):
    single = ddp_cases.SCENARIOS["predict"](tmp_path)
    results = ddp_results["predict"]
    # each process ran its share (19 + 18 samples: 5 + 5 batches of at most 4), not all 10
    assert single[f"{path}_local_steps"] == 10
    assert [r[f"{path}_local_steps"] for r in results] == [5, 5]
    for rank, result in enumerate(results):
        # ... and every process returns all 37 outputs, in the data set's order
        assert result[f"{path}_stacked"].shape == single[f"{path}_stacked"].shape == (37, 10)
        assert np.allclose(result[f"{path}_stacked"], single[f"{path}_stacked"], atol=1e-6), rank
        assert result[f"{path}_batches"] == single[f"{path}_batches"] == [4] * 9 + [1]
        assert np.array_equal(result[f"{path}_joined"], result[f"{path}_stacked"])
