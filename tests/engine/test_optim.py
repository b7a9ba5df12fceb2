"""Optimizers: equivalence with torch, updates by hand, Paddle arguments, state round trips."""

import math

import pytest
import torch

from resvision.optim import (
    SGD,
    Adam,
    AdamW,
    ClipGradByGlobalNorm,
    ClipGradByNorm,
    ClipGradByValue,
    L1Decay,
    L2Decay,
    Momentum,
    lr,
)


def tiny_net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def train(net, opt, steps=5, seed=1):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(8, 4, generator=gen)
        y = torch.randint(0, 2, (8,), generator=gen)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_l2decay_equals_torch_sgd_weight_decay(nesterov):
    a, b = tiny_net(), tiny_net()
    ours = Momentum(
        0.05,
        momentum=0.9,
        parameters=a.parameters(),
        use_nesterov=nesterov,
        weight_decay=L2Decay(1e-2),
    )
    ref = torch.optim.SGD(
        b.parameters(), lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=1e-2
    )
    for pa, pb in zip(train(a, ours), train(b, ref)):
        assert torch.equal(pa, pb)


def test_float_weight_decay_is_l2decay():
    a, b = tiny_net(), tiny_net()
    wa = train(a, Momentum(0.05, parameters=a.parameters(), weight_decay=1e-2))
    wb = train(b, Momentum(0.05, parameters=b.parameters(), weight_decay=L2Decay(1e-2)))
    assert all(torch.equal(x, y) for x, y in zip(wa, wb))


def one_param(value, grads, opt_factory):
    p = torch.nn.Parameter(torch.tensor([value]))
    opt = opt_factory([p])
    for g in grads:
        p.grad = torch.tensor([g])
        opt.step()
    return p.item()


def test_momentum_with_l2decay_by_hand():
    # Paddle: g' = g + c*w ; v = mu*v + g' ; w = w - lr*v   (v starts at 0)
    w, v, lr_, mu, c = 1.0, 0.0, 0.1, 0.9, 0.01
    for g in (0.5, -0.2):
        v = mu * v + g + c * w
        w = w - lr_ * v
    got = one_param(1.0, (0.5, -0.2), lambda ps: Momentum(lr_, mu, ps, weight_decay=L2Decay(c)))
    assert got == pytest.approx(w, rel=1e-6)


def test_nesterov_by_hand():
    # Paddle: v = mu*v + g ; w = w - lr*(g + mu*v)
    w, v, lr_, mu = 1.0, 0.0, 0.1, 0.9
    for g in (0.5, -0.2):
        v = mu * v + g
        w = w - lr_ * (g + mu * v)
    got = one_param(1.0, (0.5, -0.2), lambda ps: Momentum(lr_, mu, ps, use_nesterov=True))
    assert got == pytest.approx(w, rel=1e-6)


def test_l1decay_by_hand():
    # g' = g + c*sign(w), plain SGD
    got = one_param(-2.0, (0.5,), lambda ps: SGD(0.1, ps, weight_decay=L1Decay(0.3)))
    assert got == pytest.approx(-2.0 - 0.1 * (0.5 - 0.3), rel=1e-6)


def test_adam_matches_paddle_formula_by_hand():
    # Paddle's adam: lr_t = lr*sqrt(1-b2^t)/(1-b1^t); w -= lr_t * m / (sqrt(v) + eps*sqrt(1-b2^t))
    lr_, b1, b2, eps = 0.1, 0.9, 0.999, 1e-3
    w, m, v = 1.0, 0.0, 0.0
    grads = (0.5, -0.2, 0.3)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        lr_t = lr_ * math.sqrt(1 - b2**t) / (1 - b1**t)
        w -= lr_t * m / (math.sqrt(v) + eps * math.sqrt(1 - b2**t))
    got = one_param(1.0, grads, lambda ps: Adam(lr_, b1, b2, eps, parameters=ps))
    assert got == pytest.approx(w, rel=1e-5)


def test_adam_and_adamw_equal_torch():
    a, b = tiny_net(), tiny_net()
    wa = train(a, Adam(1e-2, parameters=a.parameters(), weight_decay=L2Decay(1e-3)))
    wb = train(b, torch.optim.Adam(b.parameters(), lr=1e-2, weight_decay=1e-3))
    assert all(torch.equal(x, y) for x, y in zip(wa, wb))
    a, b = tiny_net(), tiny_net()
    wa = train(a, AdamW(1e-2, parameters=a.parameters()))
    wb = train(b, torch.optim.AdamW(b.parameters(), lr=1e-2, weight_decay=0.01))
    assert all(torch.equal(x, y) for x, y in zip(wa, wb))
    with pytest.raises(TypeError, match="decoupled"):
        AdamW(parameters=a.parameters(), weight_decay=L2Decay(0.1))


def test_global_norm_clip_by_hand_and_other_clips():
    p = torch.nn.Parameter(torch.zeros(2))
    q = torch.nn.Parameter(torch.zeros(1))
    p.grad, q.grad = torch.tensor([3.0, 0.0]), torch.tensor([4.0])  # global norm 5
    ClipGradByGlobalNorm(1.0)([p, q])
    assert p.grad.tolist() == pytest.approx([0.6, 0.0]) and q.grad.tolist() == pytest.approx([0.8])
    ClipGradByGlobalNorm(10.0)([p, q])  # below the bound: unchanged
    assert q.grad.tolist() == pytest.approx([0.8])
    p.grad = torch.tensor([3.0, 4.0])
    ClipGradByNorm(2.5)([p])
    assert p.grad.tolist() == pytest.approx([1.5, 2.0])
    p.grad = torch.tensor([3.0, -4.0])
    ClipGradByValue(1.0)([p])
    assert p.grad.tolist() == [1.0, -1.0]


def test_grad_clip_applies_before_decay_inside_step():
    # clip g=10 to 1, then add L2 0.5*w (w=2) -> 2.0; SGD lr 0.1 -> w = 2 - 0.2
    clip = ClipGradByGlobalNorm(1.0)
    got = one_param(2.0, (10.0,), lambda ps: SGD(0.1, ps, weight_decay=0.5, grad_clip=clip))
    assert got == pytest.approx(1.8, rel=1e-6)


def test_grad_clip_sees_unscaled_gradients_under_grad_scaler():
    def run(use_scaler):
        p = torch.nn.Parameter(torch.tensor([1.0, 1.0]))
        opt = SGD(0.1, [p], grad_clip=ClipGradByGlobalNorm(1.0))
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, enabled=use_scaler)
        loss = (p * torch.tensor([30.0, 40.0])).sum()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return p.detach()

    assert torch.allclose(run(True), run(False))
    assert torch.allclose(run(False), torch.tensor([1 - 0.06, 1 - 0.08]))


def test_step_hooks_fire_once_per_step():
    net = tiny_net()
    opt = Momentum(0.1, parameters=net.parameters())
    torch.optim.SGD(tiny_net().parameters(), lr=0.1)  # an SGD instance patches SGD.step too
    calls = []
    opt.register_step_post_hook(lambda *a: calls.append(1))
    train(net, opt, steps=3)
    assert len(calls) == 3


def test_generator_parameters_and_resvision_model_parameters():
    import resvision

    model = resvision.Model(tiny_net())
    opt = Momentum(
        learning_rate=0.01, momentum=0.9, weight_decay=L2Decay(1e-4), parameters=model.parameters()
    )
    assert isinstance(opt, torch.optim.SGD) and len(opt.param_groups[0]["params"]) == 4
    opt = Momentum(0.01, parameters=(p for p in tiny_net().parameters()))
    assert len(opt.param_groups[0]["params"]) == 4


def test_paddle_param_groups_learning_rate_ratio_and_decay():
    net = tiny_net()
    opt = Momentum(
        0.1,
        parameters=[
            {"params": net[0].parameters()},
            {"params": net[2].parameters(), "learning_rate": 0.5, "weight_decay": L2Decay(0.01)},
        ],
        weight_decay=1e-4,
    )
    g0, g1 = opt.param_groups
    assert (g0["lr"], g0["weight_decay"]) == (0.1, 1e-4)
    assert (g1["lr"], g1["weight_decay"]) == (0.05, 0.01)
    opt.set_lr(0.2)
    assert (g0["lr"], g1["lr"], opt.get_lr()) == (0.2, 0.1, 0.2)


def test_schedule_drives_lr_and_set_lr_is_refused():
    net = tiny_net()
    schedule = lr.StepDecay(0.1, step_size=1, gamma=0.5)
    opt = Momentum(learning_rate=schedule, parameters=net.parameters())
    assert opt.lr_scheduler is schedule and opt.get_lr() == 0.1
    schedule.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05) and opt.get_lr() == pytest.approx(0.05)
    with pytest.raises(RuntimeError, match="StepDecay"):
        opt.set_lr(0.3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"parameters": None}, TypeError, "parameters=model.parameters"),
        ({"parameters": torch.zeros(2, requires_grad=True)}, TypeError, "iterable"),
        ({"weight_decay": "l2"}, TypeError, "weight_decay"),
        ({"weight_decay": -1.0}, ValueError, "weight_decay"),
        ({"learning_rate": "0.1"}, TypeError, "learning_rate"),
        ({"grad_clip": 1.0}, TypeError, "grad_clip"),
        ({"momentum": -0.5}, ValueError, "momentum"),
        ({"parameters": []}, ValueError, "empty"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    args = {"learning_rate": 0.1, "parameters": tiny_net().parameters(), **kwargs}
    with pytest.raises(error, match=match):
        Momentum(**args)


def test_state_dict_round_trip_continues_exactly():
    def make(net):
        schedule = lr.CosineAnnealingDecay(0.1, T_max=6)
        return Momentum(schedule, 0.9, net.parameters(), weight_decay=L2Decay(1e-3)), schedule

    def run(net, opt, schedule, steps, seed):
        gen = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            loss = net(torch.randn(4, 4, generator=gen)).square().mean()
            opt.clear_grad()
            loss.backward()
            opt.step()
            schedule.step()

    full = tiny_net()
    opt, schedule = make(full)
    run(full, opt, schedule, 3, seed=5)
    run(full, opt, schedule, 3, seed=6)

    part = tiny_net()
    opt, schedule = make(part)
    run(part, opt, schedule, 3, seed=5)
    saved_net, saved_opt = part.state_dict(), opt.state_dict()
    assert saved_opt["lr_scheduler"]["last_epoch"] == 3

    resumed = tiny_net(seed=9)
    resumed.load_state_dict(saved_net)
    opt, schedule = make(resumed)
    opt.set_state_dict(saved_opt)
    assert schedule.last_epoch == 3
    run(resumed, opt, schedule, 3, seed=6)
    assert all(torch.equal(a, b) for a, b in zip(full.parameters(), resumed.parameters()))


def test_minimize_and_clear_grad():
    net = tiny_net()
    opt = SGD(0.1, parameters=net.parameters())
    before = [p.detach().clone() for p in net.parameters()]
    opt.minimize(net(torch.ones(1, 4)).sum())
    assert any(not torch.equal(a, p) for a, p in zip(before, net.parameters()))
    opt.clear_grad()
    assert all(p.grad is None or not p.grad.any() for p in net.parameters())
