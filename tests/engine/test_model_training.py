"""Model.fit: gradient accumulation, num_iters, the NaN stop, logs and metric resets."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from resvision.callbacks import Callback
from resvision.engine.checkpoint import load_checkpoint
from resvision.engine.loops import NonFiniteLossError
from resvision.engine.model import Model
from resvision.metrics import Accuracy


def _linear_model(seed: int = 0, lr: float = 0.1, momentum: float = 0.0) -> Model:
    torch.manual_seed(seed)
    model = Model(nn.Sequential(nn.Flatten(), nn.Linear(6, 3)), device="cpu")
    model.prepare(
        torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum), nn.CrossEntropyLoss()
    )
    return model


def _data(n: int, seed: int = 1) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g))


class _Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.batch_logs, self.epoch_logs, self.eval_logs, self.starts = [], [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.starts.append((epoch, dict(logs or {})))

    def on_train_batch_end(self, step, logs=None):
        self.batch_logs.append((step, dict(logs)))

    def on_eval_end(self, logs=None):
        self.eval_logs.append(dict(logs))

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_logs.append((epoch, dict(logs)))


def _weights(model: Model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.network.parameters()]


def test_accumulation_equals_one_large_batch():
    data = _data(16)
    small = _linear_model()
    small.fit(DataLoader(data, batch_size=4), epochs=1, accumulate_grad_batches=4, verbose=0)
    large = _linear_model()
    large.fit(DataLoader(data, batch_size=16), epochs=1, verbose=0)
    for a, b in zip(_weights(small), _weights(large)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_accumulation_scales_a_short_last_group_by_its_size():
    data = _data(20)  # 5 batches of 4 with k=3: groups of 3 and 2 batches
    small = _linear_model(momentum=0.9)
    small.fit(DataLoader(data, batch_size=4), epochs=2, accumulate_grad_batches=3, verbose=0)
    large = _linear_model(momentum=0.9)
    batches = [
        (data.tensors[0][:12], data.tensors[1][:12]),
        (data.tensors[0][12:], data.tensors[1][12:]),
    ]
    large.fit(batches, epochs=2, verbose=0)
    for a, b in zip(_weights(small), _weights(large)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_num_iters_counts_optimizer_steps():
    # 5 batches per epoch: 5 optimizer steps, or 3 with k=2 (groups of 2, 2, 1 batches)
    for accumulate, batches in ((1, 7), (2, 12)):
        model = _linear_model()
        steps: list[int] = []
        model._optimizer.register_step_post_hook(lambda *a, steps=steps: steps.append(1))
        rec = _Recorder()
        model.fit(
            _data(20),
            batch_size=4,
            epochs=1,
            num_iters=7,
            verbose=0,
            accumulate_grad_batches=accumulate,
            callbacks=[rec],
        )
        assert len(steps) == 7
        assert len(rec.batch_logs) == batches
        assert rec.batch_logs[-1][1]["global_step"] == 7


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    x, y = _data(24).tensors
    x = x.clone()
    x[13] = math.nan  # batch 3 (batch size 4) is poisoned
    model = _linear_model()
    with pytest.raises(NonFiniteLossError, match=r"epoch 0, step 3 \(global step 4\)") as info:
        model.fit(
            DataLoader(TensorDataset(x, y), batch_size=4),
            epochs=2,
            save_dir=tmp_path,
            save_steps=1,
            log_freq=100,
            verbose=0,
        )
    assert isinstance(info.value, FloatingPointError) and info.value.step == 3
    last = load_checkpoint(tmp_path / "last")
    assert last["progress"]["global_step"] == 3  # written before the NaN step, never after
    assert all(torch.isfinite(v).all() for v in last["model"].values())
    assert not (tmp_path / "final.pt").exists()


def test_batch_logs_carry_values_only_on_logging_steps():
    rec = _Recorder()
    model = _linear_model()
    model.prepare(model._optimizer, nn.CrossEntropyLoss(), Accuracy())
    model.fit(
        _data(20), _data(10, seed=2), batch_size=4, epochs=1, log_freq=2, verbose=0, callbacks=[rec]
    )
    logged = [step for step, logs in rec.batch_logs if "loss" in logs]
    assert logged == [1, 3, 4]  # every 2 steps and the last step of the epoch
    logs = rec.batch_logs[1][1]
    assert {"loss", "acc", "lr", "ips", "batch_size", "global_step"} <= set(logs)
    assert logs["lr"] == 0.1 and logs["batch_size"] == 4
    assert set(rec.eval_logs[0]) == {"loss", "acc", "num_samples"}
    assert rec.eval_logs[0]["num_samples"] == 10
    logs = rec.epoch_logs[0][1]
    assert {"loss", "acc", "eval_loss", "eval_acc"} <= set(logs)
    # the epoch's loss is the mean over its samples, not the last batch's
    assert logs["loss"] != rec.batch_logs[-1][1]["loss"]


def test_logged_batch_losses_are_the_batch_losses():
    rec = _Recorder()
    model = _linear_model()
    model.fit(_data(20), batch_size=4, epochs=1, log_freq=1, verbose=0, callbacks=[rec])
    losses = [logs["loss"] for _, logs in rec.batch_logs]
    # Five equal batches: the epoch's loss is the mean of the logged ones (not a flag's 1.0).
    assert sum(losses) / 5 == pytest.approx(rec.epoch_logs[0][1]["loss"], rel=1e-6)
    assert len(set(losses)) > 1


class _Flip:
    """An iterable of batches whose labels change from epoch to epoch (all 0, then all 1)."""

    def __init__(self):
        self.epoch = -1

    def __len__(self):
        return 2

    def __iter__(self):
        self.epoch += 1
        for _ in range(2):
            yield torch.zeros(5, 6), torch.full((5,), self.epoch % 2)


def test_training_metrics_are_reset_every_epoch():
    model = _linear_model(lr=0.0)
    with torch.no_grad():  # always predicts class 0
        model.network[1].weight.zero_()
        model.network[1].bias.copy_(torch.tensor([1.0, 0.0, 0.0]))
    model.prepare(model._optimizer, nn.CrossEntropyLoss(), Accuracy())
    rec = _Recorder()
    model.fit(_Flip(), epochs=2, verbose=0, callbacks=[rec])
    assert [logs["acc"] for _, logs in rec.epoch_logs] == [1.0, 0.0]


def test_stop_training_from_a_callback_stops_after_the_step():
    class StopAt(Callback):
        def on_train_batch_end(self, step, logs=None):
            if step == 2:
                self.model.stop_training = True

    rec = _Recorder()
    _linear_model().fit(_data(40), batch_size=4, epochs=3, verbose=0, callbacks=[StopAt(), rec])
    assert [s for s, _ in rec.batch_logs] == [0, 1, 2]
    assert [e for e, _ in rec.epoch_logs] == [0]  # the epoch still ends (logs, eval, saves)


def test_fit_on_a_dataset_uses_the_loader_and_seed():
    first, second = _linear_model(), _linear_model()
    first.fit(_data(20), batch_size=4, epochs=2, seed=3, verbose=0)
    second.fit(_data(20), batch_size=4, epochs=2, seed=3, verbose=0)
    for a, b in zip(_weights(first), _weights(second)):
        assert torch.equal(a, b)
    third = _linear_model()
    third.fit(_data(20), batch_size=4, epochs=2, seed=4, verbose=0)
    assert not all(torch.equal(a, b) for a, b in zip(_weights(first), _weights(third)))


def test_bf16_autocast_and_channels_last_train_on_cpu():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    model = Model(net, device="cpu")
    model.prepare(
        torch.optim.SGD(model.parameters(), lr=0.1),
        nn.CrossEntropyLoss(),
        amp_configs="bf16",
        channels_last=True,
    )
    assert net[0].weight.is_contiguous(memory_format=torch.channels_last)
    data = TensorDataset(torch.randn(8, 3, 6, 6), torch.randint(0, 2, (8,)))
    before = _weights(model)
    model.fit(DataLoader(data, batch_size=4), epochs=1, verbose=0)
    assert not all(torch.equal(a, b) for a, b in zip(before, _weights(model)))
    (out,) = model.predict_batch(torch.randn(2, 3, 6, 6))
    assert out.dtype.name == "float32"  # autocast outputs come back as float32


def test_torch_compile_option_trains_and_saves_plain_keys(tmp_path):
    model = _linear_model()
    model.prepare(model._optimizer, nn.CrossEntropyLoss(), compile=True)
    model.fit(_data(8), batch_size=4, epochs=1, verbose=0, save_dir=tmp_path)
    keys = list(load_checkpoint(tmp_path / "final")["model"])
    assert keys == ["1.weight", "1.bias"]  # the network's own names, no _orig_mod. prefix


def test_fit_equals_a_hand_written_loop_bit_for_bit():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)
    )
    twin = copy.deepcopy(net)
    batches = [(torch.randn(8, 3, 8, 8) * 100, torch.randint(0, 3, (8,))) for _ in range(6)]
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    for x, y in batches:
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model = Model(twin, device="cpu")
    model.prepare(
        torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4),
        nn.CrossEntropyLoss(),
        Accuracy(),
    )
    model.fit(batches, epochs=1, verbose=0)
    for (key, a), b in zip(net.state_dict().items(), twin.state_dict().values()):
        assert torch.equal(a, b), key  # weights and batch-norm buffers
