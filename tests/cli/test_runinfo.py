"""Which checkpoint of a run folder eval and predict take."""

from __future__ import annotations

from resvision.recipe.runs import checkpoint_of


def test_a_run_folder_gives_the_best_model_then_final_then_last(tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    for name in ("last.pt", "final.pt", "best_model.pt"):  # EarlyStopping writes best_model
        (ckpts / name).write_bytes(b"x")
        assert checkpoint_of(str(tmp_path / "run")).name == name
