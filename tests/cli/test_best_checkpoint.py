"""``resvision train`` keeps the best checkpoints by the evaluation's first metric, and
``eval`` / ``predict`` / ``export RUN_DIR`` take ``best.pt``.

Two complete epochs are needed (an evaluation after an epoch cut short by ``--max-steps`` is not
ranked), so the run trains on a six-image folder: two steps an epoch, a few seconds in this
process.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from PIL import Image

from resvision.cli.main import main
from resvision.engine.checkpoint import checkpoint_differences, load_checkpoint
from resvision.recipe.runs import PREFERRED, checkpoint_of


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _pets(root: Path) -> Path:
    """train/ and val/ with three 12x12 images each of cat and dog."""
    for split in ("train", "val"):
        for label, cls in enumerate(("cat", "dog")):
            folder = root / "pets" / split / cls
            folder.mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (12, 12), (200 * label, 50 * i, 0)).save(folder / f"{i}.png")
    return root / "pets"


def test_train_keeps_the_best_and_eval_takes_it(tmp_path):
    run = tmp_path / "run"
    code, out, err = run_cli(
        ["train", "--data", str(_pets(tmp_path)), "--epochs", "2", "--batch-size", "3",
         "--device", "cpu", "--output", str(run), "--set", "output.report=false"]
    )  # fmt: skip
    assert code == 0, out + err
    # the one line that says what ranks the checkpoints (2 classes: Accuracy logs 'acc')
    assert "ModelCheckpoint: keeping the 3 best checkpoints by the evaluation's acc (the first " \
           "metric), higher is better" in out  # fmt: skip

    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    accs = [r["eval_acc"] for r in rows if r["event"] == "epoch_end"]
    assert len(accs) == 2
    best = max(range(2), key=lambda e: (accs[e], -e))  # ties: the earlier epoch
    ckpts = run / "checkpoints"
    names = {f"best-epoch={e:03d}-acc={accs[e]:.4f}.pt" for e in range(2)}
    assert {p.name for p in ckpts.glob("best*.pt")} == names | {"best.pt"}
    # best.pt is the best epoch's whole training checkpoint, with the run's description
    saved = load_checkpoint(ckpts / "best.pt")
    assert saved["progress"]["epoch"] == best + 1
    assert checkpoint_differences(load_checkpoint(ckpts / f"{best}.pt"), saved) == []
    assert saved["callbacks"]["ModelCheckpoint"]["kept"][0]["epoch"] == best

    assert checkpoint_of(str(run)) == ckpts / "best.pt"
    code, out, err = run_cli(["eval", "--checkpoint", str(run), "--json", "--device", "cpu"])
    assert code == 0, err
    assert json.loads(out)["checkpoint"] == str(ckpts / "best.pt")


def test_a_run_folder_gives_best_model_then_best_then_final_then_last(tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    assert PREFERRED == ("best_model.pt", "best.pt", "final.pt", "last.pt")
    for name in reversed(PREFERRED):  # each one written is preferred to those before
        (ckpts / name).write_bytes(b"x")
        assert checkpoint_of(str(tmp_path / "run")) == ckpts / name
