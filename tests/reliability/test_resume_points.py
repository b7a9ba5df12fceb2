"""A crash at any point of an epoch (a step, the evaluation, the end-of-epoch callbacks) loses at
most ``save_steps`` steps, and the resumed run ends bit-identical to an uninterrupted one.

In-process and fast: ``Model.fit`` on a tiny network; the subprocess SIGKILL trials of
``test_crash_resume.py`` cover the same through the command line.
"""

from __future__ import annotations

import pytest
import torch
from resume_proof import BatchTrace, assert_ran_only_the_rest, assert_same_end_state, resume_point
from torch import nn
from torch.utils.data import TensorDataset

from resvision.callbacks import Callback
from resvision.engine.checkpoint import load_checkpoint
from resvision.engine.model import Model

_G = torch.Generator().manual_seed(3)
TRAIN = TensorDataset(
    torch.randn(24, 3, 4, 4, generator=_G), torch.randint(0, 3, (24,), generator=_G)
)
EVAL = TensorDataset(torch.randn(8, 3, 4, 4, generator=_G), torch.randint(0, 3, (8,), generator=_G))
EPOCHS = 3  # 3 batches of 8 per epoch


def _model(seed: int = 0) -> Model:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.2),
        nn.Flatten(), nn.Linear(64, 3),
    )  # fmt: skip
    model = Model(net, device="cpu")
    model.prepare(torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9), nn.CrossEntropyLoss())
    return model


def _fit(model: Model, **kw) -> None:
    model.fit(TRAIN, EVAL, batch_size=8, epochs=EPOCHS, verbose=0, seed=5, **kw)


class CrashAt(Callback):
    """Raises at the ``n``-th call of ``hook``: a crash at that point of the run."""

    def __init__(self, hook: str, n: int) -> None:
        super().__init__()
        self.hook, self.n, self.seen = hook, n, 0

    def _tick(self, hook: str) -> None:
        if hook == self.hook:
            self.seen += 1
            if self.seen == self.n:
                raise RuntimeError(f"crash in {hook} #{self.n}")

    def on_train_batch_begin(self, step, logs=None):
        self._tick("batch")

    def on_eval_begin(self, logs=None):
        self._tick("eval")

    def on_epoch_end(self, epoch, logs=None):
        self._tick("epoch_end")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run's final.pt (with the per-step saves of the other runs)."""
    folder = tmp_path_factory.mktemp("reference")
    _fit(_model(), save_dir=folder, save_steps=1)
    return folder / "final.pt"


@pytest.mark.resume
@pytest.mark.parametrize(
    ("hook", "n"),
    # after the last step of epoch 0, before its evaluation: last.pt is at the epoch's end
    [("eval", 1), ("eval", 3), ("epoch_end", 2), ("batch", 2), ("batch", 4), ("batch", 9)],
)
def test_crash_anywhere_then_resume_is_bit_identical(tmp_path, reference, hook, n):
    with pytest.raises(RuntimeError, match="crash in"):
        _fit(_model(), save_dir=tmp_path, save_steps=1, callbacks=[CrashAt(hook, n)])
    start = resume_point(tmp_path)
    resumed = _model(seed=99)  # other initial weights: everything must come from the checkpoint
    trace = BatchTrace()
    _fit(resumed, save_dir=tmp_path, save_steps=1, resume="auto", callbacks=[trace])
    assert_ran_only_the_rest(trace.batches, start, EPOCHS * 3, 3)
    assert_same_end_state(reference, tmp_path / "final.pt")
    assert load_checkpoint(tmp_path / "final")["progress"]["global_step"] == EPOCHS * 3
