"""Networks with auxiliary outputs (GoogLeNet's ``(out, aux1, aux2)``) through the engine.

The network declares one weight per output in ``loss_weights`` (main output first). Training
minimises ``sum(w_i * loss(output_i, labels))``; metrics, the evaluation loss, ``predict`` and
``predict_batch`` see the main output alone. ``loss_weights = None`` gives Paddle's hapi rule
back (every output to the loss and the metrics); networks with one output are untouched.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from resvision.engine import loops
from resvision.engine.model import Model
from resvision.metrics import Accuracy
from resvision.models import GoogLeNet, main_output

WEIGHTS = (1.0, 0.3, 0.3)


class ThreeHeads(nn.Module):
    """A main classifier and two auxiliary ones on the same 3 features: known, different
    logits. The main head is the identity (argmax = the largest feature), the auxiliary ones
    are permutations of it, so they are wrong wherever the main one is right."""

    loss_weights = WEIGHTS

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Linear(3, 3)
        self.aux1 = nn.Linear(3, 3)
        self.aux2 = nn.Linear(3, 3)
        with torch.no_grad():
            for head, perm in (
                (self.main, [0, 1, 2]),
                (self.aux1, [1, 2, 0]),
                (self.aux2, [2, 0, 1]),
            ):
                head.weight.copy_(2.0 * torch.eye(3)[perm])
                head.bias.zero_()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.main(x), self.aux1(x), self.aux2(x)


def _data(n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs whose largest feature is the label: the main head is always right."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    x = torch.rand(n, 3, generator=g) + 3.0 * F.one_hot(y, 3).float()
    return x, y


def _model(net: nn.Module, *, lr: float = 0.0, **prepare) -> Model:
    model = Model(net, device="cpu")
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    prepare.setdefault("loss", nn.CrossEntropyLoss())
    model.prepare(opt, amp_configs=prepare.pop("amp_configs", None), channels_last=False, **prepare)
    return model


def _weighted(outputs, y, weights=WEIGHTS) -> torch.Tensor:
    return sum(w * F.cross_entropy(o, y) for w, o in zip(weights, outputs))


# ---------------------------------------------------------------------------------- training
def test_training_loss_and_gradients_are_the_weighted_sum_over_the_outputs():
    x, y = _data()
    net = ThreeHeads()
    model = _model(net, metrics=Accuracy())
    (loss,), (acc,) = model.train_batch(x, y, update=False)  # gradients kept in .grad

    reference = ThreeHeads()
    expected = _weighted(reference(x), y)
    expected.backward()
    assert float(loss) == pytest.approx(expected.item(), rel=1e-6)
    # Not the main loss alone, nor the plain sum: the paper's 0.3 weights.
    assert float(loss) != pytest.approx(F.cross_entropy(net.main(x), y).item(), rel=1e-3)
    for (name, p), q in zip(net.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
    assert acc == 1.0  # training metrics see the main head (the auxiliary ones are all wrong)


def test_a_loss_returning_several_terms_is_applied_to_each_output_then_weighted():
    x, y = _data()

    def two_terms(logits, label):
        return [F.cross_entropy(logits, label), logits.pow(2).mean()]

    model = _model(ThreeHeads(), loss=two_terms)
    (loss,) = model.train_batch(x, y)
    outputs = ThreeHeads()(x)
    expected = sum(w * sum(two_terms(o, y)) for w, o in zip(WEIGHTS, outputs))
    assert float(loss) == pytest.approx(expected.item(), rel=1e-6)


def test_weighted_loss_under_bf16_autocast_is_float32_and_close():
    x, y = _data()
    model = _model(ThreeHeads(), amp_configs="bf16")
    (loss,) = model.train_batch(x, y)
    assert loss.dtype == np.float32
    assert float(loss) == pytest.approx(_weighted(ThreeHeads()(x), y).item(), rel=2e-2)


def test_fit_with_accumulation_logs_the_weighted_loss_and_main_accuracy():
    x, y = _data(12)
    model = _model(ThreeHeads(), metrics=Accuracy())
    logs: list[dict] = []

    class Keep(__import__("resvision").callbacks.Callback):
        def on_train_batch_end(self, step, batch_logs=None):
            logs.append(dict(batch_logs or {}))

    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    model.fit(loader, epochs=1, log_freq=1, verbose=0, accumulate_grad_batches=2, callbacks=Keep())
    expected = [_weighted(ThreeHeads()(x[i : i + 4]), y[i : i + 4]).item() for i in (0, 4, 8)]
    assert [r["loss"] for r in logs] == pytest.approx(expected, rel=1e-5)
    assert all(r["acc"] == 1.0 for r in logs)


# ------------------------------------------------------------- evaluation and prediction
def test_evaluate_uses_the_main_output_for_loss_and_metrics():
    x, y = _data()
    model = _model(ThreeHeads(), metrics=Accuracy(topk=(1, 2)))
    result = model.evaluate(DataLoader(TensorDataset(x, y), batch_size=5), verbose=0)
    main = ThreeHeads().main(x)
    assert result["loss"] == pytest.approx(F.cross_entropy(main, y).item(), rel=1e-6)
    assert result["acc_top1"] == 1.0 and result["acc_top2"] == 1.0

    losses, values = model.eval_batch(x, y)
    assert float(losses[0]) == pytest.approx(F.cross_entropy(main, y).item(), rel=1e-6)
    assert values == [[1.0, 1.0]]


def test_predict_and_predict_batch_give_the_main_output_alone():
    x, y = _data(10)
    model = _model(ThreeHeads())
    main = ThreeHeads().main(x).detach().numpy()

    batches = model.predict(TensorDataset(x, y), batch_size=4, verbose=0)
    assert len(batches) == 1 and [b.shape for b in batches[0]] == [(4, 3), (4, 3), (2, 3)]
    (stacked,) = model.predict(TensorDataset(x), batch_size=4, stack_outputs=True, verbose=0)
    np.testing.assert_allclose(stacked, main, rtol=1e-6)
    (one,) = model.predict_batch(x[:3])
    np.testing.assert_allclose(one, main[:3], rtol=1e-6)


# ------------------------------------------------------------------------------- GoogLeNet
def test_googlenet_trains_evaluates_and_predicts_through_model():
    """Paddle's GoogLeNet (3 outputs in training and evaluation) at its small form: without
    pooling it takes 61-76 px, so the test stays cheap."""
    torch.manual_seed(0)
    net = GoogLeNet(num_classes=4, with_pool=False)
    x = torch.randn(4, 3, 64, 64)
    y = torch.tensor([0, 1, 2, 3])
    model = _model(net, lr=1e-4, metrics=Accuracy())

    # One training step in float32: the weighted sum of the three cross-entropies, with the
    # same dropout masks (same seed) as a plain forward in training mode.
    torch.manual_seed(1)
    (loss,), _ = model.train_batch(x, y, update=False)
    torch.manual_seed(1)
    expected = _weighted(net.train()(x), y, GoogLeNet.loss_weights)
    assert float(loss) == pytest.approx(expected.item(), rel=1e-4)

    model.fit(TensorDataset(x, y), batch_size=2, epochs=1, verbose=0)
    result = model.evaluate(TensorDataset(x, y), batch_size=2, verbose=0)
    with torch.no_grad():
        main = main_output(net.eval()(x))
    assert set(result) == {"loss", "acc"}
    assert result["loss"] == pytest.approx(F.cross_entropy(main, y).item(), rel=1e-4)
    (logits,) = model.predict(TensorDataset(x), batch_size=3, stack_outputs=True, verbose=0)
    np.testing.assert_allclose(logits, main.numpy(), rtol=1e-4, atol=1e-4)
    assert [o.shape for o in model.predict_batch(x[:2])] == [(2, 4)]


# --------------------------------------------------------------- the other rules kept
def test_loss_weights_none_restores_paddles_rule_all_outputs_to_loss_and_predict():
    x, y = _data(6)
    net = ThreeHeads()
    net.loss_weights = None  # on the instance: the class keeps its weights
    seen = []

    def combined(out, aux1, aux2, label):  # a loss written for all the outputs (PaddleClas')
        seen.append(3)
        return F.cross_entropy(out, label) + 0.5 * (F.cross_entropy(aux1, label) + 0 * aux2.sum())

    model = _model(net, loss=combined)
    (loss,) = model.train_batch(x, y)
    assert seen and float(loss) > 0
    outputs = model.predict_batch(x)
    assert len(outputs) == 3 and ThreeHeads.loss_weights == WEIGHTS


def test_single_output_networks_never_reach_the_weighted_path(monkeypatch):
    """The common path is unchanged: a tensor output takes no extra work per step."""

    def refuse(*args, **kwargs):
        raise AssertionError("weighted_loss called for a single-output network")

    monkeypatch.setattr(loops.StepRunner, "weighted_loss", refuse)
    x, y = _data()
    model = _model(nn.Linear(3, 3), metrics=Accuracy())
    assert model._runner().loss_weights is None
    model.fit(TensorDataset(x, y), batch_size=4, epochs=1, verbose=0)
    model.evaluate(TensorDataset(x, y), batch_size=4, verbose=0)
    assert len(model.predict_batch(x)) == 1


@pytest.mark.parametrize(
    ("weights", "error", "match"),
    [
        ((1.0, 0.3), ValueError, r"ThreeHeads returned 3 output\(s\) but its loss_weights"),
        ("main", TypeError, r"ThreeHeads.loss_weights must be a list/tuple of numbers"),
        ((1.0, True, 0.3), TypeError, r"list/tuple of numbers"),
        ((), ValueError, r"one finite weight per output"),
        ((1.0, float("nan"), 0.3), ValueError, r"one finite weight per output .*, got \(1.0, nan"),
    ],
)
def test_bad_loss_weights_are_named(weights, error, match):
    x, y = _data(3)
    net = ThreeHeads()
    net.loss_weights = weights
    model = _model(net)
    with pytest.raises(error, match=match):
        model.train_batch(x, y)


def test_output_loss_weights_reads_the_attribute():
    assert loops.output_loss_weights(GoogLeNet(num_classes=2, with_pool=False)) == WEIGHTS
    assert loops.output_loss_weights(nn.Linear(2, 2)) is None
    net = ThreeHeads()
    net.loss_weights = [1, 0.5, 0]  # ints accepted, as floats
    assert loops.output_loss_weights(net) == (1.0, 0.5, 0.0)
