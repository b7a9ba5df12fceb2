"""summary() and count_macs()."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from resvision.models import (
    count_macs,
    create_model,
    lenet,
    model_info,
    resnet20,
    resnet50,
    summary,
)


class Tiny(nn.Module):
    """Conv (3->4, 3x3, groups 1) + BN + ReLU + pool + Linear, MACs computable by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw(torch.relu(self.bn(self.conv(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def test_macs_by_hand() -> None:
    conv = 4 * 8 * 8 * (3 * 3 * 3)
    dw = 4 * 8 * 8 * (1 * 3 * 3)
    fc = 5 * 4
    assert count_macs(Tiny(), (3, 8, 8)) == conv + dw + fc
    assert count_macs(Tiny(), (2, 3, 8, 8)) == 2 * (conv + dw + fc)


# Published multiply-accumulates at the natural size: torchvision's "GFLOPS" column (resnet,
# vgg16, mobilenet_v2), the MobileNet paper (569M mult-adds), and the 1.25e8 FLOPs of
# resnet56 that the filter-pruning literature cites (Li et al. 2017).
PUBLISHED_GMACS = {
    "resnet50": 4.09,
    "resnet18": 1.81,
    "resnet152": 11.51,
    "vgg16": 15.47,
    "mobilenet_v2": 0.30,
    "mobilenet_v1": 0.569,
    "resnet56": 0.125,
}


@pytest.mark.parametrize(("name", "gmacs"), sorted(PUBLISHED_GMACS.items()))
def test_macs_match_the_published_numbers(name: str, gmacs: float) -> None:
    # On the meta device: shapes only, so even VGG-16 is counted in milliseconds.
    with torch.device("meta"):
        macs = count_macs(create_model(name), model_info(name).input_size)
    assert abs(macs / 1e9 - gmacs) / gmacs < 0.01, macs


def test_meta_and_real_models_count_the_same() -> None:
    real = count_macs(resnet50(), (3, 224, 224))
    with torch.device("meta"):
        assert count_macs(resnet50(), (3, 224, 224)) == real


def test_summary_prints_a_table_and_returns_the_totals() -> None:
    lines: list[str] = []
    net = resnet20()
    info = summary(net, (3, 32, 32), batch_size=2, print_fn=lines.append)
    total = sum(p.numel() for p in net.parameters())
    assert info == {
        "total_params": total,
        "trainable_params": total,
        "macs": 2 * count_macs(net, (3, 32, 32)),
    }
    text = "\n".join(lines)
    assert "conv._conv (Conv2d)" in text and "[2, 16, 32, 32]" in text
    assert "fc (Linear)" in text and "[2, 10]" in text
    assert f"Total params: {total:,}" in text
    # The per-layer parameter and MAC columns add up to the totals.
    body = re.split(r"^=+$", text, flags=re.MULTILINE)[1].strip().splitlines()
    cells = [re.split(r"\s{3,}", row.strip()) for row in body]
    assert sum(int(c[2].replace(",", "")) for c in cells) == total
    assert sum(int(c[3].replace(",", "")) for c in cells) == info["macs"]


def test_summary_counts_frozen_parameters_as_non_trainable() -> None:
    net = lenet()
    for p in net.features.parameters():
        p.requires_grad_(False)
    info = summary(net, (1, 1, 28, 28), print_fn=None)
    frozen = sum(p.numel() for p in net.features.parameters())
    assert info["total_params"] == 61_610
    assert info["trainable_params"] == 61_610 - frozen


def test_summary_leaves_modes_hooks_and_statistics_untouched() -> None:
    net = resnet20()
    net.train()
    net.layer2.eval()  # a mixed state must be restored exactly
    stats = net.conv._batch_norm.running_mean.clone()
    summary(net, (3, 32, 32), print_fn=None)
    count_macs(net, (3, 32, 32))
    assert net.training and not net.layer2.training and not net.layer2[0].conv0.training
    assert net.layer1.training
    assert all(not m._forward_hooks for m in net.modules())
    assert torch.equal(net.conv._batch_norm.running_mean, stats)


def test_hooks_are_removed_when_the_forward_pass_fails() -> None:
    net = lenet()
    with pytest.raises(ValueError, match="28x28"):
        summary(net, (1, 32, 32), print_fn=None)
    assert all(not m._forward_hooks for m in net.modules()) and net.training


@pytest.mark.parametrize("bad", [(3, 32), (0, 32, 32), (1, 3, 32, 32, 1), (3.0, 32, 32)])
def test_bad_input_size_is_rejected(bad: tuple) -> None:
    with pytest.raises(ValueError, match="input_size"):
        count_macs(resnet20(), bad)


def test_bad_batch_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        summary(resnet20(), (3, 32, 32), batch_size=0, print_fn=None)
