"""MixUp and CutMix (issue #19): the mixes, their distributions, and training through fit
on both data paths."""

import numpy as np
import pytest
import torch

import resvision
from resvision.data.datasets.base import InMemoryImageDataset
from resvision.data.mixing import Mixup
from resvision.transforms import Compose, Normalize, RandomCrop, ToTensor


def _batch(n=8, size=16, classes=4):
    torch.manual_seed(0)
    return torch.rand(n, 3, size, size), torch.arange(n) % classes


def _lams(mix, draws=3000, size=32):
    return [mix.draw(np.random.default_rng(s), size, size) for s in range(draws)]


def test_mixup_blends_images_and_targets_with_the_same_weight():
    x, y = _batch()
    mix = Mixup(mixup_alpha=0.4, num_classes=4)
    images, targets = mix(x, y, np.random.default_rng(3))
    kind, lam, _ = mix.draw(np.random.default_rng(3), 16, 16)
    assert kind == "mixup"
    assert torch.allclose(images, lam * x + (1 - lam) * x.roll(1, 0), atol=1e-6)
    onehot = torch.nn.functional.one_hot(y, 4).float()
    assert torch.allclose(targets, lam * onehot + (1 - lam) * onehot.roll(1, 0))
    assert torch.equal(x, _batch()[0])  # the input batch is untouched


@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_mixup_weights_follow_beta_alpha_alpha(alpha):
    lams = np.array([lam for _, lam, _ in _lams(Mixup(mixup_alpha=alpha, num_classes=2))])
    # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)); 3000 draws: a few percent of error
    assert abs(lams.mean() - 0.5) < 0.03
    assert lams.var() == pytest.approx(1 / (4 * (2 * alpha + 1)), rel=0.08)
    # and its distribution function at a few points (numerical integration of the density)
    grid = np.linspace(1e-6, 1 - 1e-6, 200_001)
    density = (grid * (1 - grid)) ** (alpha - 1)
    cdf = np.cumsum(density) / density.sum()
    for q in (0.1, 0.3, 0.5):
        expected = cdf[np.searchsorted(grid, q)]
        assert abs((lams < q).mean() - expected) < 0.03


def test_cutmix_pastes_a_box_whose_area_is_the_partners_weight():
    x, y = _batch(size=20)
    mix = Mixup(cutmix_alpha=1.0, num_classes=4)
    for seed in range(20):
        images, targets = mix(x, y, np.random.default_rng(seed))
        kind, lam, (top, bottom, left, right) = mix.draw(np.random.default_rng(seed), 20, 20)
        assert kind == "cutmix"
        inside = torch.zeros(20, 20, dtype=torch.bool)
        inside[top:bottom, left:right] = True
        assert torch.equal(images[:, :, inside], x.roll(1, 0)[:, :, inside])
        assert torch.equal(images[:, :, ~inside], x[:, :, ~inside])
        assert 1 - lam == pytest.approx(inside.float().mean().item())
        own = targets[torch.arange(8), y]
        assert torch.allclose(own, torch.full((8,), lam))  # labels differ from the partner's


def test_cutmix_area_follows_its_beta_before_the_box_is_clipped():
    # the area drawn is 1 - lam with lam ~ Beta(1, 1) = uniform; clipping at the border only
    # makes boxes smaller, so the partner's share is at most the drawn one, and on average
    # close to it for a centre drawn uniformly
    shares = np.array([1 - lam for _, lam, _ in _lams(Mixup(cutmix_alpha=1.0, num_classes=2))])
    assert 0.25 < shares.mean() < 0.5
    assert (shares >= 0).all() and (shares <= 1).all()


def test_switch_and_apply_probabilities():
    kinds = [k for k, _, _ in _lams(Mixup(0.2, 1.0, switch_prob=0.3, num_classes=2))]
    assert abs(kinds.count("cutmix") / len(kinds) - 0.3) < 0.03
    assert kinds.count("none") == 0
    kinds = [k for k, _, _ in _lams(Mixup(0.2, prob=0.25, num_classes=2))]
    assert abs(kinds.count("none") / len(kinds) - 0.75) < 0.03


def test_label_smoothing_and_soft_labels():
    mix = Mixup(mixup_alpha=1.0, prob=0.0, label_smoothing=0.1, num_classes=4)
    _, targets = mix(*_batch(), np.random.default_rng(0))
    assert torch.allclose(targets.sum(1), torch.ones(8))
    assert targets.max().item() == pytest.approx(0.9 + 0.025)
    assert targets.min().item() == pytest.approx(0.025)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"mixup_alpha > 0 or cutmix_alpha > 0"),
        ({"mixup_alpha": -1}, r"mixup_alpha must be a number >= 0 \(0: off\), got -1"),
        ({"cutmix_alpha": 1, "prob": 2}, r"prob must be a number in \[0, 1\], got 2"),
        ({"mixup_alpha": 1, "num_classes": 1}, r"num_classes must be an int >= 2, got 1"),
    ],
)
def test_bad_settings_are_refused_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Mixup(**kwargs)


def test_bad_batches_are_refused():
    mix = Mixup(mixup_alpha=1.0, num_classes=4)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"floating \[N, C, H, W\].*torch\.uint8"):
        mix(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), rng)
    with pytest.raises(ValueError, match=r"labels \(3\) and images \(2\) differ"):
        mix(torch.zeros(2, 3, 4, 4), torch.zeros(3, dtype=torch.long), rng)
    with pytest.raises(ValueError, match=r"needs num_classes"):
        Mixup(mixup_alpha=1.0)(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long), rng)


class _Tiny(InMemoryImageDataset):
    def __init__(self, transform):
        super().__init__(transform, "pil")
        rng = np.random.default_rng(0)
        self.images = rng.integers(0, 256, (48, 3, 16, 16), dtype=np.uint8)
        self.labels = (np.arange(48) % 4).astype(np.int64)
        self.classes = [str(i) for i in range(4)]


class _SeeLabels(resvision.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, step, logs=None):
        self.logs.append(dict(logs or {}))


@pytest.mark.parametrize("fast", [True, False])
def test_fit_trains_on_mixed_batches_with_soft_targets_on_both_paths(fast, monkeypatch):
    from resvision.engine import loops

    seen = []
    real = loops.mix_batch

    def spy(options, inputs, labels, epoch, step):
        out = real(options, inputs, labels, epoch, step)
        seen.append((inputs[0].device.type, out[1][0].shape, out[1][0].dtype))
        return out

    monkeypatch.setattr(loops, "mix_batch", spy)
    data = _Tiny(Compose([RandomCrop(16, padding=2), ToTensor(), Normalize(0.5, 0.5)]))
    if not fast:
        monkeypatch.setattr("resvision.data.loader.fast_path_reason", lambda *a: "forced")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 256, 4))
    net.num_classes = 4
    model = resvision.Model(net, device="cpu")
    model.prepare(
        torch.optim.SGD(model.parameters(), lr=0.1),
        torch.nn.CrossEntropyLoss(label_smoothing=0.1),
        resvision.metrics.Accuracy(),
    )
    logs = _SeeLabels()
    model.fit(data, batch_size=16, epochs=2, verbose=0, seed=0, log_freq=1, callbacks=[logs],
              batch_mix=Mixup(mixup_alpha=0.2, cutmix_alpha=1.0))  # fmt: skip
    assert len(seen) == 6 and all(s == ("cpu", (16, 4), torch.float32) for s in seen)
    assert all(0 <= log["acc"] <= 1 and np.isfinite(log["loss"]) for log in logs.logs)


def test_fit_needs_the_number_of_classes_for_a_mix():
    model = resvision.Model(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(768, 4)))
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.CrossEntropyLoss())
    data = _Tiny(Compose([ToTensor()]))
    with pytest.raises(ValueError, match=r"batch_mix needs the number of classes"):
        model.fit(data, batch_size=16, epochs=1, verbose=0, batch_mix=Mixup(mixup_alpha=1.0))
    with pytest.raises(TypeError, match=r"batch_mix must be None or a callable"):
        model.fit(data, batch_size=16, epochs=1, verbose=0, batch_mix=0.2)
