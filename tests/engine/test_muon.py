"""Muon: the orthogonalised update, the SGD groups, the split, schedules and checkpoints."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from resvision.models import create_model
from resvision.optim import L2Decay, Muon, lr, muon_param_groups, orthogonalize


@pytest.mark.parametrize("shape", [(8, 40), (40, 8), (16, 16)])
def test_orthogonalize_gives_singular_values_near_one(shape):
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    s = torch.linalg.svdvals(orthogonalize(g, steps=5, dtype=torch.float32))
    assert s.min() > 0.6 and s.max() < 1.3, s
    # the singular vectors are g's: the result is U f(S) V^T with f > 0
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    inner = u.T @ orthogonalize(g, steps=5, dtype=torch.float32) @ vh.T
    assert (inner - torch.diag(torch.diagonal(inner))).abs().max() < 1e-3
    assert orthogonalize(g).dtype == torch.bfloat16


def test_orthogonalize_rejects_bad_input():
    with pytest.raises(ValueError, match=r"2-d matrix, got shape \(4,\)"):
        orthogonalize(torch.randn(4))
    with pytest.raises(ValueError, match="steps must be >= 1"):
        orthogonalize(torch.randn(2, 2), steps=0)
    assert torch.equal(orthogonalize(torch.zeros(3, 5)), torch.zeros(3, 5, dtype=torch.bfloat16))


def test_flat_parameters_split_by_shape_and_classifier_stays_out():
    net = create_model("resnet20", num_classes=10)
    opt = Muon(learning_rate=0.1, parameters=net.parameters())
    muon, aux = opt.param_groups
    assert muon["muon"] and all(p.ndim >= 2 for p in muon["params"])
    assert not aux["muon"] and all(p.ndim < 2 for p in aux["params"])
    groups = muon_param_groups(net, aux_lr_ratio=0.5, aux_momentum=0.8, aux_weight_decay=1e-3)
    head = set(map(id, net.get_classifier().parameters()))
    assert not head & set(map(id, groups[0]["params"]))
    assert head <= set(map(id, groups[1]["params"]))
    opt = Muon(learning_rate=0.1, momentum=0.6, parameters=groups)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.05]
    assert [g["momentum"] for g in opt.param_groups] == [0.6, 0.8]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.0, 1e-3]


def test_bad_arguments_are_named():
    p = [nn.Parameter(torch.zeros(3))]
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 1\.5"):
        Muon(parameters=p, momentum=1.5)
    with pytest.raises(ValueError, match="ns_steps must be an int >= 1, got 0"):
        Muon(parameters=p, ns_steps=0)
    with pytest.raises(ValueError, match=r"Muon groups take matrices.*\(3,\)"):
        Muon(parameters=[{"params": p, "muon": True}])
    with pytest.raises(TypeError, match="needs parameters="):
        Muon()


def test_sgd_groups_are_torch_sgd_with_nesterov_and_l2():
    torch.manual_seed(0)
    a, b = nn.Linear(5, 3), nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    ours = Muon(learning_rate=0.1, momentum=0.85, weight_decay=L2Decay(1e-2),
                parameters=[{"params": list(a.parameters()), "muon": False}])  # fmt: skip
    ref = torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.85, nesterov=True, weight_decay=1e-2)
    for step in range(4):
        x = torch.randn(7, 5, generator=torch.Generator().manual_seed(step))
        for net, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            net(x).square().sum().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7)


def test_muon_step_is_the_normalised_orthogonalised_nesterov_update():
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(6, 2, 3, 3))
    start = w.detach().clone()
    opt = Muon(learning_rate=0.05, momentum=0.6, parameters=[w], normalize_weights=True, ns_steps=3)
    grads = [torch.randn_like(w) for _ in range(2)]
    expected, buf = start.clone(), torch.zeros_like(start)
    for g in grads:
        w.grad = g.clone()
        opt.step()
        buf = 0.6 * buf + g
        update = (g + 0.6 * buf).reshape(6, -1)
        expected = expected * (math.sqrt(6) / expected.norm())
        expected = expected - 0.05 * orthogonalize(update, 3).float().view_as(w)
    torch.testing.assert_close(w.detach(), expected, rtol=1e-5, atol=1e-5)


def test_schedule_drives_every_group_at_its_ratio_and_state_resumes():
    def make():
        torch.manual_seed(1)
        net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(36, 2))
        schedule = lr.PolynomialDecay(0.2, decay_steps=6, end_lr=0.0, power=1.0)
        groups = muon_param_groups(net, aux_lr_ratio=3.0)
        return net, Muon(learning_rate=schedule, momentum=0.9, parameters=groups), schedule

    def train(net, opt, schedule, steps):
        for s in steps:
            x = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(s))
            opt.clear_grad()
            net(x).square().mean().backward()
            opt.step()
            schedule.step()

    net, opt, schedule = make()
    train(net, opt, schedule, range(2))
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.2 * 4 / 6, 0.6 * 4 / 6])
    saved = copy.deepcopy((net.state_dict(), opt.state_dict()))  # state_dict() aliases
    train(net, opt, schedule, range(2, 5))
    whole = net.state_dict()

    net2, opt2, schedule2 = make()
    net2.load_state_dict(saved[0])
    opt2.load_state_dict(saved[1])
    assert schedule2.last_epoch == 2
    train(net2, opt2, schedule2, range(2, 5))  # the same inputs as the uninterrupted run
    for key, value in whole.items():
        assert torch.equal(value, net2.state_dict()[key]), key


def test_muon_trains_a_small_convnet_faster_than_chance():
    torch.manual_seed(0)
    x = torch.randn(256, 3, 8, 8)
    y = (x[:, 0].mean((1, 2)) > 0).long()  # a learnable rule
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 2))  # fmt: skip
    opt = Muon(learning_rate=0.05, parameters=muon_param_groups(net, aux_lr_ratio=2.0))
    first = None
    for _ in range(100):
        loss = nn.functional.cross_entropy(net(x), y)
        first = first if first is not None else loss.item()
        opt.clear_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


@pytest.mark.skipif(not hasattr(torch.optim, "Muon"), reason="torch.optim.Muon needs torch >= 2.9")
def test_matches_torch_muon_on_matrices():
    # torch.optim.Muon (2-d parameters only) keeps its momentum as an average (lerp), ours as a
    # sum like the original; the orthogonalised directions, hence the steps, are the same.
    torch.manual_seed(0)
    a = nn.Parameter(torch.randn(16, 48))
    b = nn.Parameter(a.detach().clone())
    ours = Muon(learning_rate=0.02, momentum=0.95, weight_decay=0.1, parameters=[a])
    ref = torch.optim.Muon([b], lr=0.02, momentum=0.95, weight_decay=0.1, nesterov=True)
    start = a.detach().clone()
    for step in range(5):
        g = torch.randn(16, 48, generator=torch.Generator().manual_seed(step))
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    moved = (b - start).abs().max()
    # bf16 rounding: measured 1.3% of the distance moved; without Nesterov it would be 11%
    assert (a - b).abs().max() < 0.03 * moved
