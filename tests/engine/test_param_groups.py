"""Norm and bias weight decay, and gradient clipping, from Python and from the config (#19)."""

import pytest
import torch
from torch import nn

from resvision import optim
from resvision.recipe.build import build_network, build_optimizer
from resvision.recipe.config import resolve
from resvision.recipe.errors import UsageError
from resvision.recipe.presets import find_config


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_every_parameter_lands_in_exactly_one_group_with_its_decay():
    net = build_network(resolve().model, 10, 3)  # resnet20
    groups = optim.weight_decay_groups(net, norm_weight_decay=0.0, bias_weight_decay=1e-5)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(net.parameters()))
    norm = {id(p) for m in net.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
    decay = {id(p): g.get("weight_decay") for g in groups for p in g["params"]}
    assert {i for i, d in decay.items() if d == 0.0} == norm
    assert [d for i, d in decay.items() if i == id(net.fc.bias)] == [1e-5]
    assert decay[id(net.fc.weight)] is None  # keeps the optimizer's own decay


def test_norm_parameters_do_not_shrink_while_the_others_do():
    net = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3))
    with torch.no_grad():
        net[1].weight.fill_(2.0)
    groups = optim.weight_decay_groups(net, norm_weight_decay=0.0)
    opt = optim.Momentum(learning_rate=0.1, momentum=0.0, parameters=groups, weight_decay=0.5)
    before = [p.detach().clone() for p in net.parameters()]
    for p in net.parameters():
        p.grad = torch.zeros_like(p)  # only the decay moves a parameter
    opt.step()
    lin_w, lin_b, ln_w, ln_b = net.parameters()
    assert torch.allclose(lin_w, before[0] * (1 - 0.1 * 0.5))
    assert torch.allclose(lin_b, before[1] * (1 - 0.1 * 0.5))  # biases: the group's decay
    assert torch.equal(ln_w, before[2]) and torch.equal(ln_b, before[3])


def test_config_keys_build_the_groups_and_keep_muon_groups():
    cfg = resolve(None, {}, ["optim.norm_weight_decay=0", "optim.weight_decay=1e-3"])
    net = build_network(cfg.model, 10, 3)
    opt = build_optimizer(cfg.optim, net, 0.1)
    decays = sorted({g["weight_decay"] for g in opt.param_groups})
    assert decays == [0.0, 1e-3]
    fast = resolve(find_config("fast_cifar10"), {}, ["optim.norm_weight_decay=0"])
    net = build_network(fast.model, 10, 3)
    opt = build_optimizer(fast.optim, net, 0.1, steps_per_epoch=10)
    muon = [g for g in opt.param_groups if g.get("muon")]
    assert muon and all(p.dim() >= 2 for g in muon for p in g["params"])
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(net.parameters()))


def test_groups_of_another_network_are_refused():
    with pytest.raises(ValueError, match=r"not the network's"):
        optim.weight_decay_groups(_net(), groups=[{"params": list(nn.Linear(2, 2).parameters())}])
    with pytest.raises(
        ValueError, match=r"norm_weight_decay must be None or a number >= 0, got -1"
    ):
        optim.weight_decay_groups(_net(), norm_weight_decay=-1)
    with pytest.raises(UsageError, match=r"optim\.clip_grad_norm must be above 0"):
        resolve(None, {}, ["optim.clip_grad_norm=0"])


def _global_grad_norm_after_a_step(sets):
    cfg = resolve(None, {}, sets)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    opt = build_optimizer(cfg.optim, net, 0.1)
    for p in net.parameters():
        p.grad = torch.full_like(p, 100.0)
    opt.step()  # the clip scales the gradients in place before the update
    return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in net.parameters()]))


@pytest.mark.parametrize("name", ["momentum", "sgd", "adamw", "muon"])
def test_clip_grad_norm_bounds_the_global_gradient_norm(name):
    clipped = _global_grad_norm_after_a_step([f"optim.name={name}", "optim.clip_grad_norm=0.5"])
    assert clipped.item() == pytest.approx(0.5, rel=1e-5)
    unclipped = _global_grad_norm_after_a_step([f"optim.name={name}"])
    assert unclipped.item() > 100.0
