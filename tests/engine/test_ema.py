"""EMA math by hand, swapping, state round trips, and the EMA callback (loop and Model.fit)."""

import warnings

import pytest
import torch

from resvision.callbacks import EMA, CallbackList
from resvision.callbacks.model_ema import ModelEMA, unwrap_network


def scalar_net(value):
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(value)
    return net


def set_weight(net, value):
    with torch.no_grad():
        net.weight.fill_(value)


def test_update_with_warmup_by_hand():
    net = scalar_net(0.0)
    ema = ModelEMA(net, decay=0.99, warmup=True)
    expected = 0.0
    for t, w in enumerate([1.0, 2.0, 3.0, 4.0]):
        decay = min(0.99, (1 + t) / (10 + t))  # 0.1, 2/11, 0.25, 4/13
        expected = decay * expected + (1 - decay) * w
        assert ema.current_decay() == pytest.approx(decay)
        set_weight(net, w)
        ema.update(net)
    assert ema.shadow["weight"].item() == pytest.approx(expected, rel=1e-6)
    assert ema.num_updates == 4


def test_update_without_warmup_by_hand():
    net = scalar_net(1.0)
    ema = ModelEMA(net, decay=0.5, warmup=False)
    for w in (3.0, 5.0):
        set_weight(net, w)
        ema.update(net)
    assert ema.shadow["weight"].item() == pytest.approx(0.5 * (0.5 * 1 + 0.5 * 3) + 0.5 * 5)


def test_buffers_averaged_and_integer_buffers_copied():
    net = torch.nn.BatchNorm1d(2)
    ema = ModelEMA(net, decay=0.5, warmup=False)
    net.train()
    net(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))  # running_mean moves to 0.1 * batch mean
    ema.update(net)
    assert torch.allclose(ema.shadow["running_mean"], 0.5 * net.running_mean)
    assert ema.shadow["num_batches_tracked"].item() == 1


def test_swap_in_and_out_restore_raw_weights_exactly():
    net = scalar_net(0.0)
    ema = ModelEMA(net, decay=0.5, warmup=False)
    set_weight(net, 1.0)
    ema.update(net)
    raw = net.weight.detach().clone()
    with ema.average_parameters(net):
        assert net.weight.item() == 0.5 and ema.swapped_in
        ema.swap_in(net)  # nested swap keeps the first backup
    assert torch.equal(net.weight, raw) and not ema.swapped_in
    ema.swap_out(net)  # not swapped in: no-op
    assert torch.equal(net.weight, raw)
    ema.copy_to(net)
    assert net.weight.item() == 0.5


def test_half_precision_weights_averaged_in_float32():
    net = scalar_net(0.0).to(torch.bfloat16)
    ema = ModelEMA(net, decay=0.9999, warmup=False)
    set_weight(net, 1.0)
    ema.update(net)
    assert ema.shadow["weight"].dtype == torch.float32
    assert ema.shadow["weight"].item() == pytest.approx(1e-4, rel=1e-3)  # lost in bfloat16


def test_state_dict_round_trip_and_mismatch():
    net = scalar_net(0.0)
    ema = ModelEMA(net, decay=0.9)
    set_weight(net, 2.0)
    ema.update(net)
    other = ModelEMA(scalar_net(5.0), decay=0.9)
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 1 and torch.equal(other.shadow["weight"], ema.shadow["weight"])
    with pytest.raises(KeyError, match="differing"):
        other.load_state_dict(ModelEMA(torch.nn.Linear(1, 1)).state_dict())
    with pytest.raises(KeyError, match="disagree"):
        ema.update(torch.nn.Linear(1, 1))
    with pytest.raises(ValueError, match="decay"):
        ModelEMA(net, decay=1.0)


def test_unwrap_network_sees_through_wrappers():
    net = torch.nn.Linear(1, 1)
    assert unwrap_network(torch.nn.DataParallel(net)) is net


class FakeModel:
    def __init__(self):
        self.network = scalar_net(0.0)
        self._optimizer = torch.optim.SGD(self.network.parameters(), lr=1.0)
        self.stop_training = False


def train_steps(model, cbks, batches, accumulate=1):
    cbks.on_train_begin({})
    cbks.on_epoch_begin(0, {})
    for step in range(batches):
        cbks.on_train_batch_begin(step, {})
        (-model.network.weight.sum()).backward()  # gradient -1: weight grows by lr
        if (step + 1) % accumulate == 0:
            model._optimizer.step()
            model._optimizer.zero_grad()
        cbks.on_train_batch_end(step, {})
    cbks.on_epoch_end(0, {})


def test_callback_updates_once_per_optimizer_step_and_swaps_for_eval():
    model = FakeModel()
    cb = EMA(decay=0.5, warmup=False)
    cbks = CallbackList([cb])
    cbks.set_model(model)
    train_steps(model, cbks, batches=4, accumulate=2)  # 2 optimizer steps: weights 2, 4
    assert cb.ema.num_updates == 2
    assert cb.ema.shadow["weight"].item() == pytest.approx(0.5 * (0.5 * 0 + 0.5 * 2) + 0.5 * 4)
    cbks.on_eval_begin({})
    assert model.network.weight.item() == pytest.approx(2.5)
    cbks.on_eval_end({})
    assert model.network.weight.item() == 4.0
    cbks.on_predict_begin({})
    assert model.network.weight.item() == pytest.approx(2.5)
    cbks.on_predict_end({})
    cbks.on_train_end({})
    model._optimizer.step()  # hook removed after training: no more updates
    assert cb.ema.num_updates == 2


def test_callback_state_resumes_before_training_starts():
    model = FakeModel()
    cb = EMA(decay=0.5, warmup=False)
    cbks = CallbackList([cb])
    cbks.set_model(model)
    train_steps(model, cbks, batches=2)
    state = CallbackList([cb]).state_dict()
    assert state["EMA"]["num_updates"] == 2

    resumed_model = FakeModel()
    resumed_model.network.load_state_dict(model.network.state_dict())
    fresh = EMA(decay=0.5, warmup=False)
    CallbackList([fresh]).load_state_dict(state)  # no model yet: kept pending
    assert fresh.state_dict()["num_updates"] == 2
    cbks = CallbackList([fresh])
    cbks.set_model(resumed_model)
    cbks.on_train_begin({})
    assert fresh.ema.num_updates == 2 and torch.equal(
        fresh.ema.shadow["weight"], cb.ema.shadow["weight"]
    )
    with pytest.raises(ValueError, match="decay"):
        EMA(decay=-0.1)


def test_ema_through_model_fit_evaluates_averaged_weights():
    import resvision
    from resvision.metrics import Accuracy
    from resvision.optim import Momentum

    torch.manual_seed(0)
    x = torch.randn(32, 4)
    data = torch.utils.data.TensorDataset(x, (x[:, 0] > 0).long())
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    model = resvision.Model(net)
    model.prepare(
        Momentum(0.1, parameters=model.parameters()), torch.nn.CrossEntropyLoss(), Accuracy()
    )
    ema_cb = EMA(decay=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data, batch_size=8, epochs=2, verbose=0, callbacks=[ema_cb])
        assert ema_cb.ema.num_updates == 8
        raw = {k: v.clone() for k, v in net.state_dict().items()}
        with_ema = model.evaluate(data, batch_size=8, verbose=0, callbacks=[ema_cb])
        assert all(torch.equal(raw[k], v) for k, v in net.state_dict().items())  # swapped back
        ema_cb.ema.copy_to(net)
        by_hand = model.evaluate(data, batch_size=8, verbose=0)
    assert with_ema["loss"] == pytest.approx(by_hand["loss"])
