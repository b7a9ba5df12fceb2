"""AirNet's recipe-specific parts: data-initialised whitening, scaled BN bias, TTA."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch
import torch.nn.functional as F

from resvision.models import create_model
from resvision.models.airnet import AirNet, PatchWhitening, ScaledBiasBatchNorm


def _patch_covariance(layer: PatchWhitening, images: torch.Tensor) -> torch.Tensor:
    out = F.conv2d(images.double(), layer.weight.double())
    half = layer.weight.shape[0] // 2  # the second half are the negated filters
    flat = out[:, :half].permute(0, 2, 3, 1).reshape(-1, half)
    return flat.T @ flat / flat.shape[0]


def test_whitening_makes_patch_covariance_identity() -> None:
    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.9, 0.1], [0.0, 0.5, 0.2], [0.0, 0.0, 0.3]])
    images = torch.einsum("ij,njhw->nihw", mix, torch.randn(64, 3, 12, 12, generator=g))
    layer = PatchWhitening(3, 2, eps=0.0)
    layer.init_from(images)
    cov = _patch_covariance(layer, images)
    torch.testing.assert_close(cov, torch.eye(12, dtype=torch.float64), atol=1e-6, rtol=0)
    torch.testing.assert_close(layer.weight[:12], -layer.weight[12:])


def test_whitening_initialises_on_first_training_batch_only() -> None:
    layer = PatchWhitening(3, 2)
    before = layer.weight.clone()
    layer.eval()
    layer(torch.randn(4, 3, 8, 8))
    assert not layer.initialized and torch.equal(layer.weight, before)
    layer.train()
    first = torch.randn(8, 3, 8, 8) * 3
    layer(first)
    assert layer.initialized
    after_first = layer.weight.clone()
    layer(torch.randn(8, 3, 8, 8))  # later batches leave the filters alone
    assert torch.equal(layer.weight, after_first)


def test_loaded_whitening_is_not_reinitialised() -> None:
    src = PatchWhitening(3, 2)
    src.init_from(torch.randn(8, 3, 8, 8))
    dst = PatchWhitening(3, 2)
    dst.load_state_dict(src.state_dict())
    dst.train()
    dst(torch.randn(8, 3, 8, 8) * 10)
    assert torch.equal(dst.weight, src.weight)


def test_scaled_bias_learns_64_times_faster_under_sgd() -> None:
    plain = torch.nn.BatchNorm2d(4, affine=True)
    scaled = ScaledBiasBatchNorm(4)
    x = torch.randn(8, 4, 3, 3)
    target = torch.randn(8, 4, 3, 3)
    for bn in (plain, scaled):
        F.mse_loss(bn(x), target).backward()
    step = 1e-3
    with torch.no_grad():
        new_plain_bias = plain.bias - step * plain.bias.grad
        new_scaled_bias = 8 * (scaled.bias - step * scaled.bias.grad)
    torch.testing.assert_close(new_scaled_bias, 64 * new_plain_bias, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("level", [1, 2])
def test_tta_averages_the_views_logits(level: int) -> None:
    torch.manual_seed(0)
    net = AirNet(widths=(8, 16, 16), tta_level=level).eval()
    x = torch.randn(3, 3, 32, 32)
    single = AirNet(widths=(8, 16, 16), tta_level=0).eval()
    single.load_state_dict(net.state_dict())
    with torch.no_grad():
        mirrored = 0.5 * (single(x) + single(x.flip(-1)))
        if level == 1:
            expected = mirrored
        else:
            pad = F.pad(x, (1, 1, 1, 1), mode="reflect")
            views = [pad[..., :32, :32], pad[..., 2:, 2:]]
            shifted = sum(0.5 * (single(v) + single(v.flip(-1))) for v in views) / 2
            expected = 0.5 * mirrored + 0.5 * shifted
        torch.testing.assert_close(net(x), expected, rtol=1e-5, atol=1e-6)


def test_training_mode_uses_one_view() -> None:
    net = create_model("airnet", tta_level=2)
    net.train()
    x = torch.randn(2, 3, 32, 32)
    assert net.forward_features(x).shape == (2, 256, 1, 1)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="tta_level must be one of"):
        AirNet(tta_level=3)
    with pytest.raises(ValueError, match="widths"):
        AirNet(widths=(8, 8))


@pytest.mark.parametrize("name", ["resvision.models.airnet", "resvision.engine.autotune"])
def test_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
