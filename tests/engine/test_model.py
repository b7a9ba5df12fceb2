"""The Model facade: prepare checks, evaluate / predict results, the single-batch API."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from resvision.engine.model import Model
from resvision.metrics import Accuracy


def _fixed_linear() -> nn.Module:
    """A 2-class linear classifier with known weights: logits = [x0, x1]."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        net[1].weight.copy_(torch.eye(2))
        net[1].bias.zero_()
    return net


def _model(net: nn.Module | None = None, **prepare) -> Model:
    model = Model(net if net is not None else _fixed_linear(), device="cpu")
    model.prepare(**prepare)
    return model


def test_evaluate_is_exact_with_a_last_partial_batch():
    torch.manual_seed(1)
    x = torch.randn(10, 2)
    y = torch.randint(0, 2, (10,))
    model = _model(loss=nn.CrossEntropyLoss(), metrics=Accuracy())
    loader = DataLoader(TensorDataset(x, y), batch_size=4)  # batches of 4, 4, 2
    result = model.evaluate(loader, verbose=0)
    expected_loss = nn.functional.cross_entropy(x, y).item()  # mean over all 10 samples
    expected_acc = int((x.argmax(1) == y).sum()) / 10
    assert set(result) == {"loss", "acc"}
    assert result["loss"] == pytest.approx(expected_loss, abs=1e-6)
    assert result["acc"] == pytest.approx(expected_acc, abs=1e-9)


def test_evaluate_num_iters_limits_batches():
    x, y = torch.randn(10, 2), torch.zeros(10, dtype=torch.long)
    model = _model(loss=nn.CrossEntropyLoss())
    result = model.evaluate(DataLoader(TensorDataset(x, y), batch_size=4), verbose=0, num_iters=1)
    assert result["loss"] == pytest.approx(
        nn.functional.cross_entropy(x[:4], y[:4]).item(), abs=1e-6
    )


def test_evaluate_builds_a_loader_for_a_dataset():
    x, y = torch.randn(9, 2), torch.randint(0, 2, (9,))
    model = _model(loss=nn.CrossEntropyLoss(), metrics=Accuracy(topk=(1, 2)))
    result = model.evaluate(TensorDataset(x, y), batch_size=4, verbose=0)
    assert result["acc_top2"] == 1.0
    assert result["acc_top1"] == pytest.approx((x.argmax(1) == y).float().mean().item())


def test_predict_layout_matches_paddle():
    x = torch.randn(10, 2)
    model = _model()
    per_batch = model.predict(TensorDataset(x, torch.zeros(10)), batch_size=4, verbose=0)
    assert len(per_batch) == 1 and [a.shape for a in per_batch[0]] == [(4, 2), (4, 2), (2, 2)]
    stacked = model.predict(DataLoader(x, batch_size=4), stack_outputs=True, verbose=0)
    np.testing.assert_allclose(stacked[0], x.numpy(), atol=1e-6)
    images_only = model.predict(TensorDataset(x), batch_size=3, stack_outputs=True, verbose=0)
    np.testing.assert_allclose(images_only[0], x.numpy(), atol=1e-6)


def test_single_batch_api_returns_numpy_like_paddle():
    model = Model(nn.Linear(4, 3), device="cpu")
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), Accuracy())
    x, y = np.random.rand(5, 4).astype("float32"), np.array([[0], [1], [2], [0], [1]])
    before = model.network.weight.detach().clone()
    losses, metrics = model.train_batch([x], [y])  # numpy in, Paddle's [N, 1] labels
    assert isinstance(losses[0], np.ndarray) and losses[0].shape == ()
    assert len(metrics) == 1 and 0.0 <= metrics[0] <= 1.0
    assert not torch.equal(before, model.network.weight)
    losses, metrics = model.eval_batch(x, y)
    assert losses[0].shape == () and len(metrics) == 1
    (out,) = model.predict_batch(x)
    assert out.shape == (5, 3) and out.dtype == np.float32


def test_train_batch_without_update_accumulates_gradients():
    torch.manual_seed(0)
    net = nn.Linear(4, 2)
    model = Model(net, device="cpu")
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.0), nn.CrossEntropyLoss())
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 0, 1, 1, 0])
    model.train_batch(x[:3], y[:3], update=False)
    g1 = net.weight.grad.clone()
    model.train_batch(x[3:], y[3:], update=False)
    expected = (
        g1 + torch.autograd.grad(nn.functional.cross_entropy(net(x[3:]), y[3:]), net.weight)[0]
    )
    torch.testing.assert_close(net.weight.grad, expected)
    model.train_batch(x[:1], y[:1], update=True)  # steps, then clears
    assert net.weight.grad is None


def test_prepare_rejects_bad_arguments():
    model = Model(nn.Linear(2, 2), device="cpu")
    with pytest.raises(TypeError, match=r"torch.optim.Optimizer"):
        model.prepare(optimizer="sgd")
    other = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="none of the network's parameters"):
        model.prepare(torch.optim.SGD(other.parameters(), lr=0.1))
    with pytest.raises(TypeError, match="loss must be"):
        model.prepare(loss=3)
    with pytest.raises(TypeError, match=r"metric object lacks \['name', 'compute'"):
        model.prepare(metrics=[object()])
    with pytest.raises(ValueError, match="unknown amp level"):
        model.prepare(amp_configs="O3")


def test_fit_needs_prepare_and_data():
    model = Model(nn.Linear(2, 2), device="cpu")
    with pytest.raises(RuntimeError, match=r"call model.prepare"):
        model.fit([(torch.randn(2, 2), torch.tensor([0, 1]))], verbose=0)
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match="train_data must be given"):
        model.fit(None, verbose=0)
    with pytest.raises(ValueError, match="epochs must be an int >= 0, got -1"):
        model.fit([(torch.randn(2, 2), torch.tensor([0, 1]))], epochs=-1, verbose=0)
    with pytest.raises(ValueError, match=r"batch_size must be an int or \[train"):
        model.fit(TensorDataset(torch.randn(2, 2)), batch_size=[1, 2, 3], verbose=0)
    with pytest.raises(ValueError, match="save_steps needs save_dir"):
        model.fit([(torch.randn(2, 2), torch.tensor([0, 1]))], save_steps=2, verbose=0)
    with pytest.raises(TypeError, match="iterable of batches, got int"):
        model.fit(5, verbose=0)


def test_parameters_and_summary():
    model = Model(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2)), device="cpu")
    model.predict_batch(torch.randn(1, 3, 8, 8))  # also materialises the lazy layer
    assert len(model.parameters()) == 4
    info = model.summary()  # the shape of the last batch seen
    assert info["total_params"] == sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match="needs input_size"):
        Model(nn.Linear(2, 2), device="cpu").summary()
    conv = Model(
        nn.Conv2d(3, 2, 1), inputs=[None, 3, 4, 4], device="cpu"
    )  # Paddle's InputSpec shape
    assert conv.summary()["total_params"] == 8


def test_model_rejects_non_modules_and_unknown_devices():
    with pytest.raises(TypeError, match=r"torch.nn.Module"):
        Model(lambda x: x)
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        Model(nn.Linear(2, 2), device="tpu")
