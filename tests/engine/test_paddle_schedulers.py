"""The schedules Paddle 3.3 added beyond the first nine: rates step by step equal Paddle's.

Every sequence was recorded once from paddlepaddle 3.3.1 (``paddle.optimizer.lr``): the rate
right after construction, then after each ``step()``. Paddle's signatures are hard-coded from
``inspect.signature`` on the same version.
"""

from __future__ import annotations

import copy
import inspect
import pickle
import warnings

import numpy as np
import pytest
import torch

from resvision.callbacks import CallbackList, LRScheduler, ReduceLROnPlateau
from resvision.optim import Momentum, lr

REQUIRED = "REQUIRED"
PADDLE_SIGNATURES = {
    "NoamDecay": [("d_model", REQUIRED), ("warmup_steps", REQUIRED), ("learning_rate", 1.0), ("last_epoch", -1), ("verbose", False)],
    "NaturalExpDecay": [("learning_rate", REQUIRED), ("gamma", REQUIRED), ("last_epoch", -1), ("verbose", False)],
    "InverseTimeDecay": [("learning_rate", REQUIRED), ("gamma", REQUIRED), ("last_epoch", -1), ("verbose", False)],
    "ReduceOnPlateau": [("learning_rate", REQUIRED), ("mode", "min"), ("factor", 0.1), ("patience", 10), ("threshold", 0.0001), ("threshold_mode", "rel"), ("cooldown", 0), ("min_lr", 0), ("epsilon", 1e-08), ("verbose", False)],
    "MultiplicativeDecay": [("learning_rate", REQUIRED), ("lr_lambda", REQUIRED), ("last_epoch", -1), ("verbose", False)],
    "CyclicLR": [("base_learning_rate", REQUIRED), ("max_learning_rate", REQUIRED), ("step_size_up", REQUIRED), ("step_size_down", None), ("mode", "triangular"), ("exp_gamma", 1.0), ("scale_fn", None), ("scale_mode", "cycle"), ("last_epoch", -1), ("verbose", False)],
    "LinearLR": [("learning_rate", REQUIRED), ("total_steps", REQUIRED), ("start_factor", 0.3333333333333333), ("end_factor", 1.0), ("last_epoch", -1), ("verbose", False)],
    "CosineAnnealingWarmRestarts": [("learning_rate", REQUIRED), ("T_0", REQUIRED), ("T_mult", 1), ("eta_min", 0), ("last_epoch", -1), ("verbose", False)],
}  # fmt: skip

PADDLE_SEQUENCES = {
    "noam": [0.0, 0.011048543456039806, 0.02209708691207961, 0.03314563036811942, 0.04419417382415922, 0.03952847075210474, 0.036084391824351615, 0.03340765523905305, 0.03125000000000001, 0.02946278254943948],
    "noam_last5": [0.05103103630798288, 0.04724555912615341, 0.04419417382415922, 0.041666666666666664],
    "natural_exp": [0.5, 0.45241870901797976, 0.4093653765389909, 0.37040911034085894, 0.33516002301781966, 0.3032653298563167, 0.2744058180470132, 0.24829265189570474],
    "inverse_time": [0.5, 0.45454545454545453, 0.4166666666666667, 0.3846153846153846, 0.35714285714285715, 0.3333333333333333, 0.3125, 0.2941176470588235],
    "multiplicative": [0.5, 0.45, 0.4275, 0.38475, 0.36551249999999996, 0.32896125, 0.31251318749999996, 0.28126186875, 0.26719877531249997],
    "cyclic_triangular": [0.1, 0.3999999999999999, 0.6999999999999998, 0.9999999999999998, 0.5499999999999999, 0.1, 0.40000000000000024, 0.6999999999999998, 0.9999999999999998, 0.5500000000000004, 0.1, 0.40000000000000024, 0.6999999999999998, 0.9999999999999998],
    "cyclic_triangular2": [0.1, 0.3999999999999999, 0.6999999999999998, 0.9999999999999998, 0.5499999999999999, 0.1, 0.2500000000000001, 0.3999999999999999, 0.5499999999999999, 0.3250000000000002, 0.1, 0.17500000000000007, 0.24999999999999997, 0.32499999999999996],
    "cyclic_exp_range": [0.1, 0.505, 0.8290000000000001, 0.42805000000000004, 0.1, 0.3657205, 0.5782969000000001, 0.3152336050000001, 0.1, 0.27433922005000005, 0.41381059609000015, 0.24121476824050003],
    "cyclic_fn_cycle": [0.2, 0.3, 0.4, 0.3, 0.2, 0.25, 0.3, 0.25, 0.2, 0.225],
    "cyclic_fn_iter": [0.2, 0.38, 0.524, 0.3458, 0.2, 0.318098, 0.4125764, 0.29565938, 0.2, 0.27748409780000005],
    "linear": [0.16666666666666666, 0.23333333333333334, 0.30000000000000004, 0.36666666666666675, 0.43333333333333346, 0.5000000000000001, 0.5000000000000001, 0.5000000000000001],
    "linear_down": [0.5, 0.3875, 0.275, 0.16250000000000003, 0.049999999999999996, 0.049999999999999996, 0.049999999999999996],
    "cawr": [0.5, 0.375, 0.12500000000000006, 0.5, 0.375, 0.12500000000000006, 0.5, 0.375, 0.12500000000000006, 0.5],
    "cawr_mult": [0.5, 0.275, 0.5, 0.4340990257669732, 0.275, 0.11590097423302682, 0.5, 0.48287289481503953, 0.4340990257669732, 0.3611037722821452, 0.275, 0.1888962277178548, 0.11590097423302682, 0.06712710518496048, 0.5, 0.49567668809072685],
    "cawr_last4": [0.375, 0.25, 0.12500000000000006, 0.03349364905389032, 0.5, 0.49148145657226705],
}  # fmt: skip

MAKERS = {
    "noam": lambda: lr.NoamDecay(d_model=512, warmup_steps=4, learning_rate=2.0),
    "noam_last5": lambda: lr.NoamDecay(d_model=64, warmup_steps=3, last_epoch=5),
    "natural_exp": lambda: lr.NaturalExpDecay(0.5, gamma=0.1),
    "inverse_time": lambda: lr.InverseTimeDecay(0.5, gamma=0.1),
    "multiplicative": lambda: lr.MultiplicativeDecay(0.5, lr_lambda=lambda e: 0.9 if e % 2 else 0.95),
    "cyclic_triangular": lambda: lr.CyclicLR(0.1, 1.0, step_size_up=3, step_size_down=2),
    "cyclic_triangular2": lambda: lr.CyclicLR(0.1, 1.0, step_size_up=3, step_size_down=2, mode="triangular2"),
    "cyclic_exp_range": lambda: lr.CyclicLR(0.1, 1.0, step_size_up=2, mode="exp_range", exp_gamma=0.9),
    "cyclic_fn_cycle": lambda: lr.CyclicLR(0.2, 0.6, step_size_up=2, scale_fn=lambda x: 0.5**x, scale_mode="cycle"),
    "cyclic_fn_iter": lambda: lr.CyclicLR(0.2, 0.6, step_size_up=2, scale_fn=lambda x: 0.9**x, scale_mode="iterations"),
    "linear": lambda: lr.LinearLR(0.5, total_steps=5),
    "linear_down": lambda: lr.LinearLR(0.5, total_steps=4, start_factor=1.0, end_factor=0.1),
    "cawr": lambda: lr.CosineAnnealingWarmRestarts(0.5, T_0=3),
    "cawr_mult": lambda: lr.CosineAnnealingWarmRestarts(0.5, T_0=2, T_mult=2, eta_min=0.05),
    "cawr_last4": lambda: lr.CosineAnnealingWarmRestarts(0.5, T_0=3, T_mult=2, last_epoch=4),
}  # fmt: skip


def signature(obj):
    return [
        (p.name, REQUIRED if p.default is p.empty else p.default)
        for p in inspect.signature(obj).parameters.values()
        if p.name != "self"
    ]


@pytest.mark.parametrize("name", sorted(PADDLE_SIGNATURES))
def test_signature_is_paddles(name):
    assert signature(getattr(lr, name)) == PADDLE_SIGNATURES[name]
    assert name in lr.__all__


def sequence(schedule, n):
    out = [schedule()]
    for _ in range(n - 1):
        schedule.step()
        out.append(schedule())
    return out


@pytest.mark.parametrize("case", sorted(MAKERS))
def test_sequence_equals_paddles(case):
    expected = PADDLE_SEQUENCES[case]
    got = sequence(MAKERS[case](), len(expected))
    if case.startswith("linear"):
        # Paddle multiplies the previous rate; the closed form differs in the last bit.
        assert got == pytest.approx(expected, rel=1e-14)
    else:
        assert got == expected


@pytest.mark.parametrize("case", sorted(MAKERS))
def test_resume_and_explicit_epoch_land_on_the_same_rate(case):
    expected = PADDLE_SEQUENCES[case]
    half = len(expected) // 2
    first = MAKERS[case]()
    sequence(first, half)
    state = pickle.loads(pickle.dumps(first.state_dict()))
    resumed = MAKERS[case]()
    resumed.set_state_dict(state)
    rest = [resumed()] + [resumed.step() or resumed() for _ in range(len(expected) - half)]
    assert rest == pytest.approx(expected[half - 1 :], rel=1e-14)
    jumper = MAKERS[case]()
    start = jumper.last_epoch
    for i in reversed(range(len(expected))):  # backwards: no reliance on the previous rate
        jumper.step(start + i)
        assert jumper() == pytest.approx(expected[i], rel=1e-14)


def test_cosine_warm_restarts_takes_fractional_epochs_as_paddle():
    s = lr.CosineAnnealingWarmRestarts(0.5, T_0=2, T_mult=2, eta_min=0.05)
    got = []
    for e in [0.5, 1.25, 2.0, 2.75, 3.5, 5.9, 6.0, 13.3, 1.0]:
        s.step(e)
        got.append([s.last_epoch, s()])
    s.step()  # from the position 1.0: one more step
    got.append([s.last_epoch, s()])
    assert got == [
        [0, 0.4340990257669732], [1, 0.1888962277178548], [2, 0.5], [2, 0.4620806627680727],
        [3, 0.3611037722821452], [5, 0.05069359991004621], [6, 0.5],
        [13, 0.058447571797929365], [1, 0.275], [2, 0.5],
    ]  # fmt: skip
    assert (s.T_cur, s.T_i) == (0, 4)
    s = lr.CosineAnnealingWarmRestarts(0.5, T_0=3)
    got = [s.step(e) or [s.last_epoch, s()] for e in [0.5, 4.25, 7.0]]
    assert got == [[0, 0.4665063509461097], [4, 0.3147047612756302], [7, 0.375]]
    state = s.state_dict()
    s.step(1.5)
    s.set_state_dict(state)
    assert s() == 0.375 and s.T_cur == 1.0
    with pytest.raises(ValueError, match="epoch"):
        s.step(-1)


def test_cyclic_schedule_pickles_and_reports_its_peak():
    s = lr.CyclicLR(0.1, 1.0, step_size_up=2, mode="exp_range", exp_gamma=0.9)
    s.step()
    t = copy.deepcopy(s)
    u = pickle.loads(pickle.dumps(s))
    assert sequence(t, 4) == sequence(u, 4) == PADDLE_SEQUENCES["cyclic_exp_range"][1:5]
    assert s.peak_lr == 1.0


def test_multiplicative_decay_recomputes_when_jumping_back():
    calls = []

    def factor(epoch):
        calls.append(epoch)
        return 0.5

    s = lr.MultiplicativeDecay(1.0, factor)
    sequence(s, 5)
    assert calls == [1, 2, 3, 4]  # incremental: one factor per step
    s.step(2)
    assert s() == 0.25
    s.step(3)
    assert s() == 0.125 and calls[-1] == 3


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: lr.NoamDecay(0, 10), "d_model"),
        (lambda: lr.NaturalExpDecay(0.1, gamma=0.0), "gamma"),
        (lambda: lr.CyclicLR(0.1, 1.0, step_size_up=0), "step_size_up"),
        (lambda: lr.CyclicLR(0.1, 1.0, step_size_up=2, mode="sine"), "mode"),
        (
            lambda: lr.CyclicLR(0.1, 1.0, 2, scale_fn=lambda x: 1.0, scale_mode="epoch"),
            "scale_mode",
        ),
        (lambda: lr.LinearLR(0.1, total_steps=4, start_factor=0.0), "start_factor"),
        (lambda: lr.LinearLR(0.1, total_steps=0), "total_steps"),
        (lambda: lr.CosineAnnealingWarmRestarts(0.1, T_0=0), "T_0"),
        (lambda: lr.CosineAnnealingWarmRestarts(0.1, T_0=2, T_mult=1.5), "T_mult"),
        (lambda: lr.MultiplicativeDecay(0.1, lr_lambda=0.9), "lr_lambda"),
        (lambda: lr.ReduceOnPlateau(0.1, mode="up"), "mode"),
        (lambda: lr.ReduceOnPlateau(0.1, factor=1.0), "factor"),
        (lambda: lr.ReduceOnPlateau(0.1, threshold_mode="pct"), "threshold_mode"),
    ],
)
def test_bad_arguments_are_named(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


# -- ReduceOnPlateau --------------------------------------------------------------------------
PLATEAU_MIN_REL = [[1.0, 0, 0, 5.0], [1.0, 0, 0, 4.0], [1.0, 1, 0, 4.0], [1.0, 2, 0, 4.0], [0.5, 0, 1, 4.0], [0.5, 0, 0, 4.0], [0.5, 1, 0, 4.0], [0.5, 2, 0, 4.0], [0.5, 0, 0, 1.0], [0.5, 1, 0, 1.0], [0.5, 2, 0, 1.0], [0.25, 0, 1, 1.0], [0.25, 0, 0, 1.0], [0.25, 1, 0, 1.0], [0.25, 2, 0, 1.0]]  # fmt: skip
PLATEAU_MAX_ABS = [[1.0, 0, 0, 0.5], [1.0, 1, 0, 0.5], [0.5, 0, 0, 0.5], [0.5, 0, 0, 0.699999988079071], [0.5, 1, 0, 0.699999988079071], [0.3, 0, 0, 0.699999988079071], [0.3, 1, 0, 0.699999988079071], [0.3, 0, 0, 0.699999988079071], [0.3, 1, 0, 0.699999988079071], [0.3, 0, 0, 0.699999988079071]]  # fmt: skip


def plateau_trace(schedule, metrics):
    out = []
    for m in metrics:
        schedule.step(m)
        out.append([schedule(), schedule.num_bad_epochs, schedule.cooldown_counter, schedule.best])
    return out


def test_reduce_on_plateau_equals_paddle():
    s = lr.ReduceOnPlateau(1.0, patience=2, factor=0.5, cooldown=1)
    assert s.last_epoch == 0 and s() == 1.0  # no step at construction, as Paddle
    metrics = [5.0, 4.0, 4.1, 4.0, 3.9996, 4.2, 4.3, 4.4, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    assert plateau_trace(s, metrics) == PLATEAU_MIN_REL
    assert s.last_epoch == len(metrics)
    s = lr.ReduceOnPlateau(
        1.0, mode="max", threshold_mode="abs", threshold=0.1, patience=1, factor=0.5, min_lr=0.3
    )
    # float32 tensors (Paddle recorded paddle.to_tensor(m)), numpy arrays and numbers
    values = [0.5, 0.55, 0.58, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.76]
    metrics = [
        torch.tensor(v) if i % 2 else np.array([v], np.float32) for i, v in enumerate(values)
    ]
    assert plateau_trace(s, metrics) == PLATEAU_MAX_ABS


def test_reduce_on_plateau_state_drives_optimizer_and_resumes():
    net = torch.nn.Linear(2, 1)
    s = lr.ReduceOnPlateau(1.0, patience=0, factor=0.5)
    opt = Momentum(learning_rate=s, parameters=net.parameters())
    s.step(1.0)
    s.step(2.0)
    assert opt.get_lr() == 0.5 and opt.param_groups[0]["lr"] == 0.5
    state = opt.state_dict()
    assert sorted(state["lr_scheduler"]) == [
        "best", "cooldown_counter", "last_epoch", "last_lr", "num_bad_epochs", "type",
    ]  # Paddle's keys, plus type  # fmt: skip
    s2 = lr.ReduceOnPlateau(1.0, patience=0, factor=0.5)
    opt2 = Momentum(learning_rate=s2, parameters=torch.nn.Linear(2, 1).parameters())
    opt2.set_state_dict(copy.deepcopy(state))
    assert opt2.param_groups[0]["lr"] == 0.5 and s2.best == 1.0
    s.step(3.0)
    s2.step(3.0)
    assert s() == s2() == 0.25
    paddle_state = {k: v for k, v in s.state_dict().items() if k != "type"}
    s3 = lr.ReduceOnPlateau(1.0)
    s3.set_state_dict(paddle_state)  # a Paddle state dict (no 'type') loads too
    assert s3.state_dict() == s.state_dict()
    with pytest.raises(TypeError, match="metric"):
        s.step()
    with pytest.raises(TypeError, match="one value"):
        s.step(torch.ones(2))
    with pytest.raises(KeyError, match="best"):
        s3.set_state_dict({"last_epoch": 1})


class FakeModel:
    def __init__(self, optimizer):
        self._optimizer = optimizer
        self.stop_training = False


def drive(cbks, epochs, steps, eval_losses=None):
    """The engine's hook order: batches, then evaluation, then on_epoch_end."""
    opt = cbks.callbacks[0].model._optimizer
    cbks.on_train_begin({})
    for epoch in range(epochs):
        cbks.on_epoch_begin(epoch, {})
        for step in range(steps):
            cbks.on_train_batch_begin(step, {})
            opt.step()
            cbks.on_train_batch_end(step, {"loss": 1.0})
        logs = {"loss": 2.0 + epoch}
        if eval_losses is not None:
            cbks.on_eval_begin({})
            cbks.on_eval_end({"loss": eval_losses[epoch]})
            logs["eval_loss"] = eval_losses[epoch]
        cbks.on_epoch_end(epoch, logs)
    cbks.on_train_end({})


@pytest.mark.parametrize("by_epoch", [False, True])
def test_lr_scheduler_callback_steps_reduce_on_plateau_with_the_eval_loss(by_epoch):
    s = lr.ReduceOnPlateau(1.0, patience=0, factor=0.5)
    opt = Momentum(learning_rate=s, parameters=torch.nn.Linear(2, 1).parameters())
    cb = LRScheduler(by_step=not by_epoch, by_epoch=by_epoch)
    cbks = CallbackList([cb])
    cbks.set_model(FakeModel(opt))
    drive(cbks, epochs=4, steps=3, eval_losses=[3.0, 2.0, 2.5, 2.6])
    # once per evaluation (not per batch); 2.5 and 2.6 do not improve on 2.0
    assert s.last_epoch == 4 and s.best == 2.0 and opt.get_lr() == 0.25
    assert cb.state_dict()["seen_eval"] is True


def test_lr_scheduler_callback_uses_the_training_loss_without_evaluation():
    s = lr.ReduceOnPlateau(1.0, patience=1, factor=0.5)
    opt = Momentum(learning_rate=s, parameters=torch.nn.Linear(2, 1).parameters())
    cbks = CallbackList([LRScheduler(), ReduceLROnPlateau(verbose=0)])
    cbks.set_model(FakeModel(opt))
    drive(cbks, epochs=3, steps=2)  # training losses 2, 3, 4: two epochs without improvement
    assert s.last_epoch == 3 and s.num_bad_epochs == 0 and opt.get_lr() == 0.5


def test_reduce_on_plateau_through_model_fit():
    import resvision

    torch.manual_seed(0)
    x = torch.randn(16, 4)
    data = torch.utils.data.TensorDataset(x, (x[:, 0] > 0).long())
    net = torch.nn.Linear(4, 2)
    model = resvision.Model(net)
    # 'max' with a huge threshold: no loss ever improves, so each evaluation after the first
    # halves the rate (patience 0).
    schedule = lr.ReduceOnPlateau(0.1, mode="max", threshold=1e9, patience=0, factor=0.5)
    model.prepare(
        Momentum(learning_rate=schedule, parameters=model.parameters()),
        torch.nn.CrossEntropyLoss(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data, data, batch_size=8, epochs=3, verbose=0)
    assert schedule.last_epoch == 3 and schedule() == pytest.approx(0.025)


def test_linear_warmup_refuses_a_metric_driven_schedule():
    with pytest.raises(TypeError, match="ReduceOnPlateau"):
        lr.LinearWarmup(lr.ReduceOnPlateau(0.1), warmup_steps=2, start_lr=0.0, end_lr=0.1)
