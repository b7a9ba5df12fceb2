"""The embedded sample, the tutorial's data lines, and the runnable Examples blocks."""

import hashlib

import numpy as np
import pytest
import torch

from resvision.data.backend import get_image_backend, set_image_backend
from resvision.data.datasets.sample import sample_manifest, sample_path
from resvision.data.loader import build_loader
from resvision.datasets import Cifar10Sample
from resvision.transforms import Transpose


def test_sample_matches_its_manifest():
    manifest = sample_manifest()
    assert hashlib.sha256(sample_path().read_bytes()).hexdigest() == manifest["file_sha256"]
    assert manifest["source_sha256"] == (
        "097287809041e0a666355dfce11470ba1b3f2631fe910d8793c716253f10b297"
    )
    assert sample_path().stat().st_size < 8_000_000
    for mode, per_class in (("train", 500), ("test", 100)):
        ds = Cifar10Sample(mode)
        assert np.bincount(ds.labels).tolist() == [per_class] * 10
        assert ds.images.shape == (per_class * 10, 3, 32, 32) and ds.images.dtype == np.uint8
        # Class-major order, as documented.
        assert ds.labels[0] == 0 and ds.labels[-1] == 9
    # Real pictures, not noise: neighbouring pixels are strongly correlated.
    x = Cifar10Sample("test").images.astype(np.float32)
    assert np.corrcoef(x[..., :-1].ravel(), x[..., 1:].ravel())[0, 1] > 0.8


def test_tutorial_data_lines():
    # paddle.vision.set_image_backend('cv2'); Cifar10(mode='train', transform=Transpose())
    set_image_backend("cv2")
    assert get_image_backend() == "cv2"
    train = Cifar10Sample(mode="train", transform=Transpose())
    image, label = train[0]
    assert isinstance(image, np.ndarray) and image.shape == (3, 32, 32)
    assert image.dtype == np.float32 and image.max() > 1.0  # raw 0..255 values, as in Paddle
    assert label.dtype == np.int64 and label.shape == ()
    with pytest.raises(ValueError, match="backend"):
        set_image_backend("opencv")
    loader = build_loader(train, 64, shuffle=True, seed=0)
    assert loader.is_fast and len(loader) == 79
    xf, yf = next(iter(loader))
    xs, ys = next(iter(build_loader(train, 64, shuffle=True, seed=0, fast=False)))
    assert torch.equal(yf, ys) and torch.equal(xf, xs)
