"""Schedules: values at chosen steps against the formulas, optimizer binding, state round trips."""

import math
import pickle

import pytest
import torch

from resvision.optim import Momentum, lr


def values(schedule, steps):
    out = []
    for _ in range(steps):
        out.append(schedule())
        schedule.step()
    return out


def test_step_decay():
    s = lr.StepDecay(0.5, step_size=3, gamma=0.1)
    assert values(s, 7) == pytest.approx([0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.005])


def test_multistep_decay():
    s = lr.MultiStepDecay(1.0, milestones=[2, 5], gamma=0.5)
    assert values(s, 7) == pytest.approx([1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="increase"):
        lr.MultiStepDecay(1.0, milestones=[5, 2])


def test_piecewise_decay():
    s = lr.PiecewiseDecay(boundaries=[3, 6, 9], values=[0.1, 0.2, 0.3, 0.4])
    assert values(s, 11) == pytest.approx([0.1] * 3 + [0.2] * 3 + [0.3] * 3 + [0.4] * 2)
    with pytest.raises(ValueError, match="len\\(boundaries\\) \\+ 1"):
        lr.PiecewiseDecay(boundaries=[3], values=[0.1])


def test_cosine_annealing_closed_form():
    base, eta_min, t_max = 0.1, 0.001, 10
    s = lr.CosineAnnealingDecay(base, T_max=t_max, eta_min=eta_min)
    got = values(s, 21)
    for t in (0, 3, 5, 10, 15, 20):
        expected = eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / t_max)) / 2
        assert got[t] == pytest.approx(expected)
    assert got[10] == pytest.approx(eta_min) and got[20] == pytest.approx(base)


def test_cosine_matches_torch_recursive_scheduler():
    net = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    torch_sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=0.01)
    ours = lr.CosineAnnealingDecay(0.1, T_max=7, eta_min=0.01)
    for _ in range(7):
        assert ours() == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9, abs=1e-12)
        opt.step()
        torch_sched.step()
        ours.step()


def test_linear_warmup_float_and_nested():
    s = lr.LinearWarmup(0.1, warmup_steps=4, start_lr=0.0, end_lr=0.1)
    assert values(s, 6) == pytest.approx([0.0, 0.025, 0.05, 0.075, 0.1, 0.1])
    inner = lr.PiecewiseDecay(boundaries=[2], values=[0.1, 0.01])
    s = lr.LinearWarmup(inner, warmup_steps=2, start_lr=0.02, end_lr=0.1)
    # warm-up: 0.02, 0.06; then the inner schedule from its step 0: 0.1, 0.1, 0.01
    assert values(s, 5) == pytest.approx([0.02, 0.06, 0.1, 0.1, 0.01])


def test_one_cycle_two_and_three_phases():
    s = lr.OneCycleLR(
        max_learning_rate=1.0, total_steps=10, divide_factor=10.0, end_learning_rate=0.0
    )
    got = values(s, 10)
    up_end = 0.3 * 10 - 1  # step 2 reaches the maximum
    assert got[0] == pytest.approx(0.1)
    assert got[1] == pytest.approx(
        0.0 + 0.1 + (1.0 - 0.1) * (1 - math.cos(math.pi * 1 / up_end)) / 2
    )
    assert got[2] == pytest.approx(1.0)
    frac = (5 - up_end) / (9 - up_end)
    assert got[5] == pytest.approx((1 + math.cos(math.pi * frac)) / 2)
    assert got[9] == pytest.approx(0.0)
    s = lr.OneCycleLR(
        1.0, total_steps=10, divide_factor=10.0, end_learning_rate=0.0, three_phase=True
    )
    got = values(s, 10)
    assert (
        got[2] == pytest.approx(1.0)
        and got[4] == pytest.approx(0.1)
        and got[9] == pytest.approx(0.0)
    )
    assert s.last_epoch == 10  # total_steps itself is allowed, as Paddle
    with pytest.raises(ValueError, match="total_steps"):
        s.step()
    assert s.last_epoch == 10  # a failed step leaves the schedule as it was


def test_exponential_polynomial_lambda():
    assert values(lr.ExponentialDecay(1.0, gamma=0.5), 4) == pytest.approx([1, 0.5, 0.25, 0.125])
    poly = lr.PolynomialDecay(1.0, decay_steps=4, end_lr=0.2, power=2.0)
    assert values(poly, 6) == pytest.approx(
        [0.2 + 0.8 * (1 - t / 4) ** 2 for t in range(5)] + [0.2]
    )
    cyc = lr.PolynomialDecay(1.0, decay_steps=2, end_lr=0.0, cycle=True)
    assert values(cyc, 5) == pytest.approx([1.0, 0.5, 0.0, 0.25, 0.0])
    assert values(lr.LambdaDecay(2.0, lambda t: 1 / (t + 1)), 3) == pytest.approx([2, 1, 2 / 3])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: lr.StepDecay(0.1, step_size=0), "step_size"),
        (lambda: lr.CosineAnnealingDecay(0.1, T_max=0), "T_max"),
        (lambda: lr.LinearWarmup(0.1, warmup_steps=0, start_lr=0, end_lr=0.1), "warmup_steps"),
        (lambda: lr.OneCycleLR(1.0, total_steps=10, phase_pct=0.6, three_phase=True), "phase_pct"),
        (lambda: lr.OneCycleLR(1.0, total_steps=10, anneal_strategy="exp"), "anneal_strategy"),
        (lambda: lr.StepDecay("0.1", step_size=2), "learning_rate"),
        (lambda: lr.LambdaDecay(0.1, lr_lambda=3), "lr_lambda"),
    ],
)
def test_bad_arguments_are_named(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_binding_writes_param_groups_of_any_torch_optimizer():
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(
        [{"params": [net.weight]}, {"params": [net.bias], "lr_ratio": 0.5}], lr=1.0
    )
    s = lr.StepDecay(0.2, step_size=1, gamma=0.5).bind(opt)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.2, 0.1])
    s.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.05])
    assert s.get_last_lr() == pytest.approx([0.1, 0.05])


def test_state_dict_round_trip_resumes_exactly():
    def make():
        return lr.LinearWarmup(
            lr.CosineAnnealingDecay(0.1, T_max=5), warmup_steps=3, start_lr=0.0, end_lr=0.1
        )

    full = make()
    expected = values(full, 10)
    first = make()
    values(first, 6)
    state = pickle.loads(pickle.dumps(first.state_dict()))
    resumed = make()
    net = torch.nn.Linear(1, 1)
    opt = Momentum(learning_rate=resumed, parameters=net.parameters())
    opt_state = opt.state_dict()
    opt_state["lr_scheduler"] = state
    opt.load_state_dict(opt_state)  # the optimizer carries its schedule's state
    assert resumed.last_epoch == 6 and opt.param_groups[0]["lr"] == pytest.approx(expected[6])
    assert values(resumed, 4) == pytest.approx(expected[6:])
    assert resumed.state_dict()["learning_rate"]["type"] == "CosineAnnealingDecay"
    with pytest.raises(ValueError, match="StepDecay"):
        resumed.load_state_dict(lr.StepDecay(0.1, step_size=1).state_dict())


def test_schedule_pickles_without_its_optimizer():
    net = torch.nn.Linear(1, 1)
    s = lr.StepDecay(0.1, step_size=1)
    Momentum(learning_rate=s, parameters=net.parameters())
    copy = pickle.loads(pickle.dumps(s))
    assert copy() == s() and copy.get_last_lr() == [0.1]


def test_paddle_step_with_explicit_epoch_and_verbose(capsys):
    s = lr.StepDecay(1.0, step_size=2, gamma=0.1, verbose=True)
    s.step(4)
    assert s() == pytest.approx(0.01)
    assert "StepDecay set learning rate to" in capsys.readouterr().out


def test_a_linear_decay_steps_group_falls_to_zero_and_stays_there():
    net = torch.nn.Linear(2, 1)
    groups = [{"params": [net.weight]}, {"params": [net.bias], "learning_rate": 0.5,
                                         "linear_decay_steps": 4}]  # fmt: skip
    s = lr.CosineAnnealingDecay(0.2, T_max=10)
    opt = Momentum(learning_rate=s, parameters=groups)
    seen = []
    for _ in range(7):
        seen.append([g["lr"] for g in opt.param_groups])
        s.step()
    # the early group: 0.2 x 0.5 at step 0, a straight line to 0 at step 4, then 0
    assert [b for _, b in seen] == pytest.approx([0.1, 0.075, 0.05, 0.025, 0.0, 0.0, 0.0])
    assert [w for w, _ in seen] == pytest.approx([0.1 * (1 + math.cos(math.pi * i / 10))
                                                  for i in range(7)])  # fmt: skip
    # a warm-up's line starts at the rate it warms up to, a one-cycle's at its maximum
    for sched, peak in [
        (lr.LinearWarmup(0.4, warmup_steps=2, start_lr=0.0, end_lr=0.4), 0.4),
        (lr.OneCycleLR(max_learning_rate=0.3, total_steps=10), 0.3),
    ]:
        net = torch.nn.Linear(2, 1)
        opt = Momentum(learning_rate=sched, parameters=[
            {"params": net.parameters(), "linear_decay_steps": 2}])  # fmt: skip
        assert sched.peak_lr == peak and opt.param_groups[0]["lr"] == pytest.approx(peak)
        sched.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(peak / 2)


@pytest.mark.parametrize("steps", [0, 1.5, True, "3"])
def test_bad_linear_decay_steps_are_named(steps):
    net = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match=r"linear_decay_steps must be an int >= 1"):
        Momentum(learning_rate=lr.StepDecay(0.1, step_size=1),
                 parameters=[{"params": net.parameters(), "linear_decay_steps": steps}])  # fmt: skip


def test_linear_decay_steps_needs_a_schedule():
    net = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match=r"needs a resvision\.optim\.lr schedule"):
        Momentum(learning_rate=0.1,
                 parameters=[{"params": net.parameters(), "linear_decay_steps": 3}])  # fmt: skip
