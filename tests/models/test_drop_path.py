"""Stochastic depth (drop-path) in the ResNet family (issue #19)."""

import math

import pytest
import torch

from resvision.models import create_model
from resvision.models.layers import BasicBlock, BottleneckBlock, DropPath, drop_path_rates
from resvision.models.resnet import ResNet


def test_drop_path_keeps_or_drops_whole_samples_with_the_right_frequency():
    torch.manual_seed(0)
    p, n = 0.3, 20_000
    out = DropPath(p).train()(torch.ones(n, 2, 3, 3))
    per_sample = out.flatten(1)
    # each sample is all zero or all 1 / (1 - p): the mask is per sample, not per element
    assert torch.all(
        (per_sample == 0).all(1) | torch.isclose(per_sample, torch.tensor(1 / (1 - p))).all(1)
    )
    kept = (per_sample[:, 0] > 0).double().mean().item()
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(kept - (1 - p)) < 4 * sigma
    assert abs(out.mean().item() - 1.0) < 4 * sigma / (1 - p)  # the expectation is unchanged


def test_drop_path_is_the_identity_in_evaluation_and_at_zero():
    x = torch.randn(5, 4)
    assert torch.equal(DropPath(0.5).eval()(x), x)
    assert torch.equal(DropPath(0.0).train()(x), x)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2, "0.1", True])
def test_bad_drop_path_probabilities_are_refused_naming_them(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\).*" + repr(bad).replace(".", r"\.")):
        DropPath(bad)
    with pytest.raises(ValueError, match=r"drop_path_rate must be a number in \[0, 1\)"):
        ResNet(18, 10, drop_path_rate=bad)


def test_rates_rise_linearly_from_zero_to_the_last_block():
    assert drop_path_rates(0.2, 5) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])
    net = ResNet(50, 10, drop_path_rate=0.2)
    blocks = [m for m in net.modules() if isinstance(m, BottleneckBlock)]
    assert len(blocks) == 16
    rates = [0.0 if b.drop_path is None else b.drop_path.p for b in blocks]
    assert rates == pytest.approx(drop_path_rates(0.2, 16))
    assert blocks[0].drop_path is None and blocks[-1].drop_path.p == pytest.approx(0.2)


@pytest.mark.parametrize("name", ["resnet18", "resnet20", "resnext50_32x4d"])
def test_drop_path_changes_training_only_and_keeps_the_state_dict(name):
    size = 32 if name == "resnet20" else 64
    torch.manual_seed(0)
    plain = create_model(name, num_classes=10)
    torch.manual_seed(0)
    dropping = create_model(name, num_classes=10, drop_path_rate=0.5)
    assert plain.state_dict().keys() == dropping.state_dict().keys()
    dropping.load_state_dict(plain.state_dict())
    x = torch.randn(8, 3, size, size)
    plain.eval(), dropping.eval()
    assert torch.equal(plain(x), dropping(x))  # evaluation: no drop
    plain.train(), dropping.train()
    torch.manual_seed(1)
    a = plain(x)
    torch.manual_seed(1)
    b = dropping(x)
    assert not torch.allclose(a, b)  # training: branches dropped
    b.sum().backward()  # gradients flow through the kept branches
    assert all(p.grad is not None for p in dropping.parameters() if p.requires_grad)


def test_a_model_without_stochastic_depth_refuses_it_from_the_config():
    from resvision.recipe.build import build_network
    from resvision.recipe.config import resolve
    from resvision.recipe.errors import UsageError

    cfg = resolve(None, {}, ["model.name=lenet", "model.drop_path_rate=0.1"])
    with pytest.raises(UsageError, match=r"model lenet has no stochastic depth"):
        build_network(cfg.model, 10, 1)
    cfg = resolve(None, {}, ["model.drop_path_rate=0.1"])
    net = build_network(cfg.model, 10, 3)
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock)]
    assert blocks[-1].drop_path.p == pytest.approx(0.1)
    with pytest.raises(UsageError, match=r"model\.drop_path_rate must be in \[0, 1\)"):
        resolve(None, {}, ["model.drop_path_rate=1"])
