"""Paddle's optimizers under their names: signatures and steps checked against real Paddle.

The reference numbers were recorded once with paddlepaddle 3.3.1 (CPU, float32): parameters
``W`` [2, 3] and ``b`` [3] start at ``W0`` / ``B0``, step ``t`` minimises
``sum(AW * W^2 / 2 + C[t] * SW * W) + sum(AB * b^2 / 2 + C[t] * SB * b)`` (gradient
``A * w + C[t] * S``, whose sign changes between steps), and the parameters after 5 steps
(8 for RAdam and Rprop) are listed, ``W`` then ``b`` flattened, rounded to 7 decimals. The
RMSProp cases use ``ExponentialDecay(0.1, gamma=0.7)`` stepped after every step, which shows
Paddle's rate inside the momentum buffer. Paddle's own arguments and defaults are hard-coded
from ``inspect.signature`` on the same version.
"""

from __future__ import annotations

import copy
import inspect
import math

import numpy as np
import pytest
import torch

from resvision import optim
from resvision.optim import (
    ASGD,
    LBFGS,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    ClipGradByGlobalNorm,
    L1Decay,
    Lamb,
    NAdam,
    RAdam,
    RMSProp,
    Rprop,
    lr,
)

REQUIRED = "REQUIRED"

# inspect.signature of paddle.optimizer.<name>.__init__ in paddlepaddle 3.3.1, without self.
PADDLE_SIGNATURES = {
    "Adagrad": [("learning_rate", REQUIRED), ("epsilon", 1e-06), ("parameters", None), ("weight_decay", None), ("grad_clip", None), ("name", None), ("initial_accumulator_value", 0.0)],
    "Adamax": [("learning_rate", 0.001), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-08), ("parameters", None), ("weight_decay", None), ("grad_clip", None), ("name", None)],
    "ASGD": [("learning_rate", 0.001), ("batch_num", 1), ("parameters", None), ("weight_decay", None), ("grad_clip", None), ("multi_precision", False), ("name", None)],
    "RAdam": [("learning_rate", 0.001), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-08), ("parameters", None), ("weight_decay", None), ("grad_clip", None), ("name", None)],
    "RMSProp": [("learning_rate", REQUIRED), ("rho", 0.95), ("epsilon", 1e-06), ("momentum", 0.0), ("centered", False), ("parameters", None), ("weight_decay", None), ("grad_clip", None), ("name", None)],
    "Adadelta": [("learning_rate", 0.001), ("epsilon", 1e-06), ("rho", 0.95), ("parameters", None), ("weight_decay", None), ("grad_clip", None), ("name", None)],
    "Rprop": [("learning_rate", 0.001), ("learning_rate_range", (1e-05, 50)), ("parameters", None), ("etas", (0.5, 1.2)), ("grad_clip", None), ("multi_precision", False), ("name", None)],
    "NAdam": [("learning_rate", 0.002), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-08), ("momentum_decay", 0.004), ("parameters", None), ("weight_decay", None), ("grad_clip", None), ("name", None)],
    "Lamb": [("learning_rate", 0.001), ("lamb_weight_decay", 0.01), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-06), ("parameters", None), ("grad_clip", None), ("exclude_from_weight_decay_fn", None), ("multi_precision", False), ("always_adapt", False), ("name", None)],
    "LBFGS": [("learning_rate", 1.0), ("max_iter", 20), ("max_eval", None), ("tolerance_grad", 1e-07), ("tolerance_change", 1e-09), ("history_size", 100), ("line_search_fn", None), ("parameters", None), ("weight_decay", None), ("grad_clip", None), ("name", None)],
    "AdamW": [("learning_rate", 0.001), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-08), ("parameters", None), ("weight_decay", 0.01), ("use_lowprecision_moment", False), ("lr_ratio", None), ("apply_decay_param_fun", None), ("grad_clip", None), ("lazy_mode", False), ("multi_precision", False), ("amsgrad", False), ("name", None)],
    "Adam": [("learning_rate", 0.001), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-08), ("parameters", None), ("weight_decay", None), ("grad_clip", None), ("lazy_mode", False), ("multi_precision", False), ("use_multi_tensor", False), ("amsgrad", False), ("name", None)],
    "Momentum": [("learning_rate", 0.001), ("momentum", 0.9), ("parameters", None), ("use_nesterov", False), ("weight_decay", None), ("grad_clip", None), ("multi_precision", False), ("rescale_grad", 1.0), ("use_multi_tensor", False), ("name", None)],
    "SGD": [("learning_rate", 0.001), ("parameters", None), ("weight_decay", None), ("grad_clip", None), ("multi_precision", False), ("name", None)],
}  # fmt: skip


def signature(obj):
    out = []
    for p in inspect.signature(obj).parameters.values():
        if p.name != "self":
            out.append((p.name, REQUIRED if p.default is p.empty else p.default))
    return out


@pytest.mark.parametrize("name", sorted(PADDLE_SIGNATURES))
def test_signature_is_paddles(name):
    assert signature(getattr(optim, name)) == PADDLE_SIGNATURES[name]


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("Adagrad", torch.optim.Adagrad),
        ("Adadelta", torch.optim.Adadelta),
        ("RMSProp", torch.optim.RMSprop),
        ("Adamax", torch.optim.Adamax),
        ("RAdam", torch.optim.RAdam),
        ("NAdam", torch.optim.NAdam),
        ("Rprop", torch.optim.Rprop),
        ("LBFGS", torch.optim.LBFGS),
        ("ASGD", torch.optim.Optimizer),
        ("Lamb", torch.optim.Optimizer),
    ],
)
def test_they_are_torch_optimizers(name, base):
    opt = getattr(optim, name)(0.01, parameters=torch.nn.Linear(2, 1).parameters())
    assert isinstance(opt, base) and name in optim.__all__


# -- steps against real Paddle ------------------------------------------------------------
W0 = [[0.5, -0.3, 0.8], [-0.2, 0.1, -0.6]]
B0 = [0.05, -0.4, 0.3]
AW = torch.tensor([[1.0, 2.0, 0.5], [1.5, 0.3, 1.2]])
AB = torch.tensor([0.7, 1.1, 0.4])
SW = torch.tensor([[0.3, -0.2, 0.1], [0.05, 0.4, -0.25]])
SB = torch.tensor([-0.1, 0.2, 0.15])
C = [1.0, -0.5, 0.8, -1.2, 0.3, 0.6, -0.9, 0.4]

PADDLE = {
    "adagrad": [0.2889829, -0.0951952, 0.5545012, -0.0281101, 0.0444736, -0.3555223, 0.0186630, -0.1623461, 0.1797857],
    "adagrad_groups": [0.2790615, -0.0875551, 0.5275720, -0.0048374, 0.0312137, -0.3477406, 0.0303451, -0.2414227, 0.2019111],
    "adamax": [0.2066868, -0.0172483, 0.4652126, 0.0508195, -0.0529208, -0.2696627, 0.0482143, -0.0710425, 0.0857524],
    "asgd": [0.2502614, -0.0583449, 0.5977279, -0.0808184, 0.0359931, -0.2688805, 0.0446101, -0.2272484, 0.2238784],
    "asgd_nodecay": [0.2520407, -0.0590925, 0.6011810, -0.0814791, 0.0362995, -0.2709215, 0.0448532, -0.2287827, 0.2251669],
    "radam": [0.2282596, -0.0337638, 0.5834201, -0.0695742, 0.0231441, -0.2440411, 0.0438314, -0.2204741, 0.2126667],
    "rmsprop": [-0.0472755, 0.0945428, 0.2072909, 0.0638056, -0.1222891, 0.0506122, 0.0230794, 0.0521161, 0.0430591],
    "rmsprop_centered": [-0.0587948, 0.0968242, 0.1935360, 0.0643337, -0.1266914, 0.0665807, 0.0229930, 0.0583303, 0.0413759],
    "rmsprop_clip_l1": [-0.1044739, 0.1132670, -0.0836831, -0.0757902, -0.1108286, 0.1127885, 0.0789371, -0.1290462, -0.0849517],
    "adadelta": [0.4940782, -0.2931123, 0.7927346, -0.1913919, 0.0988416, -0.5931386, 0.0483426, -0.3910620, 0.2957253],
    "rprop": [0.3408409, -0.1408410, 0.6408410, -0.0408410, 0.0780000, -0.4408410, 0.0597500, -0.2408409, 0.2434400],
    "nadam": [0.2254591, -0.0441623, 0.4595242, 0.0146269, 0.0180188, -0.2859603, 0.0021580, -0.0653339, 0.1064107],
    "lamb": [0.2951296, -0.0892744, 0.5750138, 0.0164641, 0.0075475, -0.3809928, -0.0293548, 0.0427361, -0.0142712],
    "lamb_always_adapt": [0.2951296, -0.0892744, 0.5750138, 0.0164641, 0.0075475, -0.3809928, 0.0389061, -0.2477504, 0.1801626],
    "lamb_eps": [0.2910075, -0.0893858, 0.5698869, -0.0066265, 0.0201294, -0.3700848, 0.0388267, -0.2385422, 0.1856763],
    "lamb_nodecay": [0.0902297, 0.0863377, 0.3297420, 0.1193918, -0.0799427, -0.1507125, -0.0293548, 0.0427361, -0.0142712],
    "lamb_nodecay_adapt": [0.2951815, -0.0888689, 0.5756540, 0.0170633, 0.0072749, -0.3812018, 0.0389061, -0.2477504, 0.1801626],
    "adamw_apply_decay": [0.0776134, 0.0885711, 0.3021443, 0.1166909, -0.0788168, -0.1332809, -0.0293559, 0.0427373, -0.0142724],
    "adamw_amsgrad": [0.0776134, 0.0885604, 0.3021443, 0.1166909, -0.0788168, -0.1332809, -0.0313650, 0.0504138, -0.0186948],
    "adam_amsgrad": [0.0895642, 0.0864827, 0.3292665, 0.1193881, -0.0799171, -0.1503874, -0.0309776, 0.0432602, -0.0159951],
    # LBFGS(learning_rate=5.0, max_iter=2, history_size=2), one step with a closure on the loss
    # with C = 1 plus sum(W^4) / 2 + sum(b^4); line_search_fn None and 'strong_wolfe' agree.
    "lbfgs": [-0.3118765, 0.3603263, -0.3783810, 0.0056754, -0.2340292, 0.4840485, 0.0998724, -0.0164849, 0.0077244],
}  # fmt: skip

CASES = {
    "adagrad": lambda w, b: Adagrad(0.1, epsilon=1e-6, parameters=[w, b], weight_decay=0.01, initial_accumulator_value=0.1),
    "adagrad_groups": lambda w, b: Adagrad(0.1, parameters=[{"params": [w]}, {"params": [b], "learning_rate": 0.5, "weight_decay": 0.1}], weight_decay=0.01),
    "adamax": lambda w, b: Adamax(0.1, epsilon=0.05, parameters=[w, b], weight_decay=0.01),
    "asgd": lambda w, b: ASGD(0.1, batch_num=3, parameters=[w, b], weight_decay=0.01),
    "asgd_nodecay": lambda w, b: ASGD(0.1, batch_num=3, parameters=[w, b]),
    "radam": lambda w, b: RAdam(0.1, parameters=[w, b], weight_decay=0.01),
    "rmsprop": lambda w, b: RMSProp(lr.ExponentialDecay(0.1, 0.7), rho=0.9, epsilon=0.05, momentum=0.5, parameters=[w, b], weight_decay=0.01),
    "rmsprop_centered": lambda w, b: RMSProp(lr.ExponentialDecay(0.1, 0.7), rho=0.9, epsilon=0.05, momentum=0.5, centered=True, parameters=[w, b], weight_decay=0.01),
    "rmsprop_clip_l1": lambda w, b: RMSProp(0.1, parameters=[w, b], weight_decay=L1Decay(0.01), grad_clip=ClipGradByGlobalNorm(0.5)),
    "adadelta": lambda w, b: Adadelta(0.5, epsilon=1e-6, rho=0.9, parameters=[w, b], weight_decay=0.01),
    "rprop": lambda w, b: Rprop(0.01, learning_rate_range=(1e-3, 0.03), parameters=[w, b], etas=(0.5, 1.2)),
    "nadam": lambda w, b: NAdam(0.1, parameters=[w, b], weight_decay=0.01),
    "lamb": lambda w, b: Lamb(0.1, lamb_weight_decay=0.01, parameters=[w, b], exclude_from_weight_decay_fn=lambda p: p is b),
    "lamb_always_adapt": lambda w, b: Lamb(0.1, lamb_weight_decay=0.01, parameters=[w, b], exclude_from_weight_decay_fn=lambda p: p is b, always_adapt=True),
    "lamb_eps": lambda w, b: Lamb(0.1, lamb_weight_decay=0.1, epsilon=0.05, beta1=0.8, beta2=0.9, parameters=[w, b]),
    "lamb_nodecay": lambda w, b: Lamb(0.1, lamb_weight_decay=0.0, parameters=[w, b]),
    "lamb_nodecay_adapt": lambda w, b: Lamb(0.1, lamb_weight_decay=0.0, parameters=[w, b], always_adapt=True),
    "adamw_apply_decay": lambda w, b: AdamW(0.1, weight_decay=0.1, parameters=[("w", w), ("b", b)], apply_decay_param_fun=lambda n: n == "w"),
    "adamw_amsgrad": lambda w, b: AdamW(0.1, weight_decay=0.1, parameters=[w, b], amsgrad=True),
    "adam_amsgrad": lambda w, b: Adam(0.1, weight_decay=0.01, parameters=[w, b], amsgrad=True),
}  # fmt: skip
STEPS = {"radam": 8, "rprop": 8}


def fresh_params():
    return torch.nn.Parameter(torch.tensor(W0)), torch.nn.Parameter(torch.tensor(B0))


def quadratic(w, b, c):
    return (0.5 * AW * w * w + c * SW * w).sum() + (0.5 * AB * b * b + c * SB * b).sum()


def run(make, steps, schedule=False):
    w, b = fresh_params()
    opt = make(w, b)
    for t in range(steps):
        quadratic(w, b, C[t]).backward()
        opt.step()
        opt.zero_grad()
        if schedule:
            opt.lr_scheduler.step()
    return torch.cat([w.detach().reshape(-1), b.detach()]).tolist()


@pytest.mark.parametrize("case", sorted(CASES))
def test_steps_equal_paddles(case):
    schedule = case in ("rmsprop", "rmsprop_centered")
    got = run(CASES[case], STEPS.get(case, 5), schedule=schedule)
    assert got == pytest.approx(PADDLE[case], abs=2e-6)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_equals_paddles(line_search_fn):
    w, b = fresh_params()
    opt = LBFGS(5.0, max_iter=2, history_size=2, line_search_fn=line_search_fn, parameters=[w, b])

    def closure():
        opt.clear_grad()
        loss = quadratic(w, b, 1.0) + 0.5 * (w**4).sum() + (b**4).sum()
        loss.backward()
        return loss

    w0, b0 = torch.tensor(W0), torch.tensor(B0)
    start = quadratic(w0, b0, 1.0) + 0.5 * (w0**4).sum() + (b0**4).sum()
    assert opt.step(closure).item() == pytest.approx(start.item())  # the first evaluation
    got = torch.cat([w.detach().reshape(-1), b.detach()]).tolist()
    assert got == pytest.approx(PADDLE["lbfgs"], abs=2e-6)


def test_torch_own_rules_would_not_match_paddle():
    """The reference cases tell the rules apart: torch's Adamax and RMSprop land elsewhere."""
    adamax = run(lambda w, b: torch.optim.Adamax([w, b], lr=0.1, eps=0.05, weight_decay=0.01), 5)
    assert max(abs(x - y) for x, y in zip(adamax, PADDLE["adamax"])) > 1e-2
    rms = run(
        lambda w, b: torch.optim.RMSprop([w, b], lr=0.1, alpha=0.95, eps=1e-6, weight_decay=0.0), 5
    )
    assert max(abs(x - y) for x, y in zip(rms, PADDLE["rmsprop_clip_l1"])) > 1e-2


# -- Lamb against the paper ---------------------------------------------------------------
def lamb_reference(params, grads_per_step, lr_, wd, b1, b2, eps, excluded=(), always_adapt=False):
    """You et al. 2019, Algorithm 2 (phi = identity), in float64, one "layer" per tensor."""
    x = [p.double().clone() for p in params]
    m = [torch.zeros_like(p) for p in x]
    v = [torch.zeros_like(p) for p in x]
    for t, grads in enumerate(grads_per_step, start=1):
        for i, g in enumerate(grads):
            g = g.double()
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat, v_hat = m[i] / (1 - b1**t), v[i] / (1 - b2**t)
            lam = 0.0 if i in excluded else wd
            r = m_hat / (v_hat.sqrt() + eps) + lam * x[i]
            w_norm, r_norm = x[i].norm(), r.norm()
            trust = w_norm / r_norm if (w_norm > 0 and r_norm > 0) else 1.0
            if lam == 0 and not always_adapt:
                trust = 1.0  # Paddle: no layer-wise adaptation without decay
            x[i] = x[i] - lr_ * trust * r
    return x


@pytest.mark.parametrize("always_adapt", [False, True])
def test_lamb_follows_the_paper(always_adapt):
    gen = torch.Generator().manual_seed(0)
    shapes = [(4, 3), (3,), (2, 2)]
    params = [
        torch.nn.Parameter(torch.randn(s, generator=gen, dtype=torch.float64)) for s in shapes
    ]
    params[2].data.zero_()  # a zero "layer": trust ratio 1
    grads = [[torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes] for _ in range(4)]
    start = [p.detach().clone() for p in params]
    opt = Lamb(
        0.05,
        lamb_weight_decay=0.1,
        beta1=0.8,
        beta2=0.95,
        epsilon=1e-3,
        parameters=params,
        exclude_from_weight_decay_fn=lambda p: p.ndim == 1,
        always_adapt=always_adapt,
    )
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        opt.step()
    expected = lamb_reference(
        start, grads, 0.05, 0.1, 0.8, 0.95, 1e-3, excluded={1}, always_adapt=always_adapt
    )
    for p, e in zip(params, expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-12, atol=1e-12)


# -- AdamW's name- and parameter-based options ---------------------------------------------
def test_adamw_lr_ratio_and_apply_decay_by_formula():
    """Each parameter steps as torch AdamW with rate lr * ratio and its own decay."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    ref = copy.deepcopy(net)
    ratios = {"0.weight": 0.25, "0.bias": 0.25, "1.weight": 1.0, "1.bias": 1.0}
    by_id = {id(p): ratios[n] for n, p in net.named_parameters()}
    schedule = lr.StepDecay(0.1, step_size=1, gamma=0.5)
    opt = AdamW(
        schedule,
        parameters=net.named_parameters(),
        weight_decay=0.2,
        lr_ratio=lambda p: by_id[id(p)],
        apply_decay_param_fun=lambda name: name.endswith("weight"),
    )
    refs = {
        n: torch.optim.AdamW([p], lr=0.1 * ratios[n], weight_decay=0.2 if "weight" in n else 0.0)
        for n, p in ref.named_parameters()
    }
    x = torch.randn(5, 3)
    for step in range(3):
        net(x).square().sum().backward()
        ref(x).square().sum().backward()
        opt.step()
        opt.clear_grad()
        for n, o in refs.items():
            o.step()
            o.zero_grad()
            for g in o.param_groups:
                g["lr"] = 0.1 * 0.5 ** (step + 1) * ratios[n]
        schedule.step()
    for (n, p), q in zip(net.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, msg=n)
    assert len(opt.param_groups) == 4  # (decay, ratio) pairs
    assert opt.get_lr() == pytest.approx(0.1 * 0.5**3)


def test_adamw_names_come_from_named_parameters():
    net = torch.nn.Linear(2, 2)
    with pytest.raises(TypeError, match="named_parameters"):
        AdamW(parameters=net.parameters(), apply_decay_param_fun=lambda n: True)
    opt = AdamW(parameters=net.named_parameters(), apply_decay_param_fun=lambda n: n == "weight")
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]
    groups = [{"params": [("w", net.weight)]}, {"params": [("b", net.bias)], "learning_rate": 0.5}]
    opt = AdamW(0.1, parameters=groups, apply_decay_param_fun=lambda n: n == "w")
    assert [(g["weight_decay"], g["lr"]) for g in opt.param_groups] == [(0.01, 0.1), (0.0, 0.05)]
    with pytest.raises(TypeError, match="lr_ratio"):
        AdamW(parameters=net.parameters(), lr_ratio=0.5)
    with pytest.raises(TypeError, match="decoupled"):
        AdamW(parameters=net.parameters(), weight_decay=L1Decay(0.1))


def test_named_parameters_work_for_every_optimizer():
    net = torch.nn.Linear(2, 1)
    for cls in (optim.Momentum, Adagrad, RMSProp, Lamb, ASGD, optim.Muon):
        opt = cls(0.1, parameters=net.named_parameters())
        assert {p for g in opt.param_groups for p in g["params"]} == set(net.parameters())


# -- Paddle's surface on the new optimizers ---------------------------------------------------
NEW = {
    "Adagrad": lambda p, r: Adagrad(r, parameters=p, weight_decay=1e-3),
    "Adadelta": lambda p, r: Adadelta(r, parameters=p, weight_decay=1e-3),
    "RMSProp": lambda p, r: RMSProp(r, momentum=0.5, centered=True, parameters=p),
    "Adamax": lambda p, r: Adamax(r, parameters=p, weight_decay=1e-3),
    "RAdam": lambda p, r: RAdam(r, parameters=p, weight_decay=1e-3),
    "NAdam": lambda p, r: NAdam(r, parameters=p, weight_decay=1e-3),
    "ASGD": lambda p, r: ASGD(r, batch_num=2, parameters=p, weight_decay=1e-3),
    "Lamb": lambda p, r: Lamb(r, parameters=p),
    "Rprop": lambda p, r: Rprop(0.01, learning_rate_range=(1e-4, 1.0), parameters=p),
}


def train(net, opt, steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(6, 3, generator=gen)
        net(x).square().mean().backward()
        opt.step()
        opt.clear_grad()
        if opt.lr_scheduler is not None:
            opt.lr_scheduler.step()


@pytest.mark.parametrize("name", sorted(NEW))
def test_schedule_state_round_trip_and_minimize(name):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    twin = copy.deepcopy(net)
    opt = NEW[name](net.parameters(), lr.CosineAnnealingDecay(0.05, T_max=6))
    train(net, opt, 3)
    if name != "Rprop":  # Rprop's rate is only its initial step size
        assert opt.get_lr() == pytest.approx(0.05 * (1 + math.cos(math.pi * 3 / 6)) / 2)
        assert opt.param_groups[0]["lr"] == pytest.approx(opt.get_lr())
        with pytest.raises(RuntimeError, match="set_lr"):
            opt.set_lr(0.1)
    # resume: a fresh optimizer loaded from the state continues exactly
    state = copy.deepcopy(opt.state_dict())
    twin.load_state_dict(net.state_dict())
    opt2 = NEW[name](twin.parameters(), lr.CosineAnnealingDecay(0.05, T_max=6))
    opt2.set_state_dict(state)
    train(net, opt, 2, seed=2)
    train(twin, opt2, 2, seed=2)
    for p, q in zip(net.parameters(), twin.parameters()):
        assert torch.equal(p, q)
    before = net.weight.detach().clone()
    opt.minimize(net(torch.ones(1, 3)).sum())
    assert not torch.equal(before, net.weight)


def test_paddle_group_option_names():
    w, b = fresh_params()
    opt = Adamax(0.1, parameters=[{"params": [w]}, {"params": [b], "beta1": 0.8, "epsilon": 0.5}])
    assert opt.param_groups[1]["betas"] == (0.8, 0.999) and opt.param_groups[1]["eps"] == 0.5
    opt = RMSProp(0.1, parameters=[{"params": [w], "rho": 0.5, "momentum": 0.3}])
    assert opt.param_groups[0]["alpha"] == 0.5 and opt.param_groups[0]["momentum"] == 0.3
    opt = Lamb(0.1, parameters=[{"params": [w], "lamb_weight_decay": 0.3}, {"params": [b]}])
    assert [g["lamb_weight_decay"] for g in opt.param_groups] == [0.3, 0.01]
    with pytest.raises(ValueError, match="'params'"):
        Adagrad(0.1, parameters=[{"weight_decay": 0.1}])


def test_asgd_averages_the_last_batch_num_gradients():
    w = torch.nn.Parameter(torch.zeros(2))
    opt = ASGD(0.5, batch_num=3, parameters=[w])
    grads = [torch.tensor([1.0, 2.0]), torch.tensor([3.0, -1.0]), torch.tensor([5.0, 0.0])]
    grads += [torch.tensor([-2.0, 4.0])]
    expected = torch.zeros(2)
    for m, g in enumerate(grads):
        w.grad = g.clone()
        opt.step()
        window = grads[max(0, m - 2) : m + 1]
        expected -= 0.5 * sum(window) / min(m + 1, 3)
        torch.testing.assert_close(w.detach(), expected)
    assert opt.state[w]["ys"].shape == (3, 2)
    with pytest.raises(ValueError, match="batch_num"):
        ASGD(parameters=[w], batch_num=0)


def test_rprop_and_lbfgs_refuse_what_paddle_refuses():
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="learning_rate_range"):
        Rprop(0.1, learning_rate_range=(0.2, 1.0), parameters=[w])
    with pytest.raises(ValueError, match="etas"):
        Rprop(0.1, etas=(1.5, 1.2), parameters=[w])
    with pytest.raises(ValueError, match="line_search_fn"):
        LBFGS(parameters=[w], line_search_fn="backtracking")
    b = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError, match="single parameter group"):
        LBFGS(parameters=[{"params": [w]}, {"params": [b]}])
    with pytest.warns(UserWarning, match="ignores weight_decay"):
        opt = LBFGS(parameters=[w], weight_decay=0.1)
    with pytest.raises(NotImplementedError, match="closure"):
        opt.minimize(w.sum())
    with pytest.raises(TypeError):
        opt.step()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: Adamax(parameters=p, beta1=1.0), "beta1"),
        (lambda p: RAdam(parameters=p, epsilon=-1.0), "epsilon"),
        (lambda p: Adadelta(parameters=p, rho=1.5), "rho"),
        (lambda p: Adagrad(0.1, parameters=p, initial_accumulator_value=-1), "initial_accumulator"),
        (lambda p: Lamb(parameters=p, exclude_from_weight_decay_fn=3), "exclude_from_weight_decay"),
        (lambda p: Lamb(parameters=p, lamb_weight_decay=-0.1), "lamb_weight_decay"),
        (lambda p: RMSProp("fast", parameters=p), "learning_rate"),
        (lambda p: NAdam(parameters=None), "parameters"),
    ],
)
def test_bad_arguments_are_named(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make([torch.nn.Parameter(torch.zeros(1))])


def test_rmsprop_rate_change_reaches_the_momentum_gradually():
    """Paddle keeps lr inside the buffer: a new rate does not rescale the past velocity."""
    w = torch.nn.Parameter(torch.tensor([0.0]))
    opt = RMSProp(1.0, rho=0.0, epsilon=0.0, momentum=0.5, parameters=[w])
    w.grad = torch.tensor([1.0])
    opt.step()  # v = 1 * 1 / 1 = 1
    opt.set_lr(0.1)
    opt.step()  # v = 0.5 * 1 + 0.1 = 0.6 (torch's rule: 0.1 * (0.5 + 1) = 0.15)
    assert w.item() == pytest.approx(-1.6)
    assert np.isclose(opt.state[w]["momentum_buffer"].item(), 0.6)
