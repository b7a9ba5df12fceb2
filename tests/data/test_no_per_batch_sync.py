"""The fast loader's per-batch path never waits for the device.

On CUDA, building a tensor from Python values (``torch.tensor([...], device=...)``) copies
pageable host memory and blocks the host until the GPU has caught up; ``.item()``, ``.tolist()``,
``.cpu()``, ``bool(tensor)`` and value-dependent shapes do the same. Once per loader (the first
batch) is fine; once per batch stops the CPU from queueing work ahead of the GPU. On the CPU that
cannot be timed, so these tests record the calls that would synchronise: none may happen after
the first batch. They also check that the results are bit for bit those of a straightforward
reference that builds every constant afresh per batch (what the loader did before it cached them).
"""

from __future__ import annotations

import copy
import math
import pickle
import sys

import numpy as np
import pytest
import torch

from resvision.data.datasets.base import InMemoryImageDataset
from resvision.data.loader import build_loader
from resvision.data.sampling import derive_seed
from resvision.transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    ToTensor,
    Transpose,
)


class Pixels(InMemoryImageDataset):
    """A small in-memory data set of random ``uint8`` images."""

    def __init__(self, transform, n: int = 48, size: int = 8) -> None:
        super().__init__(transform, "cv2")
        rng = np.random.default_rng(0)
        self.images = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
        self.labels = (np.arange(n) % 10).astype(np.int64)
        self.classes = [str(i) for i in range(10)]


#: name -> (per-sample pipeline, parameters of the reference below)
PIPELINES = {
    # uint8 erasing with a per-channel value, per-channel fill, in-place normalisation
    "per-channel": (
        lambda: Compose(
            [
                RandomCrop(8, padding=2, fill=(7, 8, 9)),
                RandomHorizontalFlip(),
                Transpose(),
                RandomErasing(prob=0.5, value=(1, 2, 3)),
                Normalize([100.0, 120.0, 130.0], [50.0, 60.0, 70.0]),
            ]
        ),
        dict(
            size=(8, 8),
            padding=(2, 2, 2, 2),
            fill=(7, 8, 9),
            flip=0.5,
            scale=1.0,
            erase=0.5,
            value=(1, 2, 3),
            mean=[100.0, 120.0, 130.0],
            std=[50.0, 60.0, 70.0],
            to_rgb=False,
        ),
    ),
    # scalar fill, float erasing, one mean/std for all channels, BGR -> RGB
    "scalar": (
        lambda: Compose(
            [
                RandomCrop(6, padding=(1, 2), fill=5),
                RandomHorizontalFlip(0.3),
                ToTensor(),
                RandomErasing(prob=1.0, value=0.25),
                Normalize(0.5, 0.25, to_rgb=True),
            ]
        ),
        dict(
            size=(6, 6),
            padding=(1, 2, 1, 2),
            fill=5,
            flip=0.3,
            scale=1 / 255,
            erase=1.0,
            value=0.25,
            mean=[0.5],
            std=[0.25],
            to_rgb=True,
        ),
    ),
}


def reference_batch(images: torch.Tensor, g: torch.Generator, p: dict) -> torch.Tensor:
    """Pad + crop + flip, [to float], random erasing, normalise: image by image, with every
    constant built here, and the random numbers drawn in the batched transforms' order."""
    n, c, h, w = images.shape
    left, top, right, bottom = p["padding"]
    ch, cw = p["size"]
    hp, wp = h + top + bottom, w + left + right
    fill = torch.tensor(p["fill"], dtype=images.dtype).reshape(-1, 1, 1)
    padded = fill.expand(n, c, hp, wp).clone()
    padded[:, :, top : top + h, left : left + w] = images
    tops = torch.randint(0, hp - ch + 1, (n,), generator=g)
    lefts = torch.randint(0, wp - cw + 1, (n,), generator=g)
    flips = torch.rand(n, generator=g) < p["flip"]
    crops = []
    for i in range(n):
        t, le = int(tops[i]), int(lefts[i])
        crop = padded[i, :, t : t + ch, le : le + cw]
        crops.append(crop.flip(-1) if flips[i] else crop)
    x = torch.stack(crops)
    if p["scale"] != 1.0:
        x = x.float().mul_(p["scale"])
    # Random erasing: up to 10 candidate rectangles per image, the first that fits.
    h, w = ch, cw
    apply = torch.rand(n, generator=g) < p["erase"]
    area = h * w * torch.empty(n, 10).uniform_(0.02, 0.33, generator=g)
    log_r = torch.empty(n, 10).uniform_(math.log(0.3), math.log(3.3), generator=g)
    aspect = torch.exp(log_r)
    ehs = torch.round(torch.sqrt(area * aspect)).long()
    ews = torch.round(torch.sqrt(area / aspect)).long()
    u = torch.rand(n, 2, generator=g)
    value = torch.tensor(p["value"], dtype=x.dtype).reshape(-1, 1, 1)
    x = x.clone()
    for i in range(n):
        fits = [k for k in range(10) if 0 < ehs[i, k] < h and 0 < ews[i, k] < w]
        if not (apply[i] and fits):
            continue
        eh, ew = int(ehs[i, fits[0]]), int(ews[i, fits[0]])
        t = int((u[i, 0] * max(h - eh + 1, 1)).floor())
        le = int((u[i, 1] * max(w - ew + 1, 1)).floor())
        x[i, :, t : t + eh, le : le + ew] = value
    x = x.float()
    if p["to_rgb"]:
        x = x.flip(1)
    mean = torch.tensor(p["mean"]).expand(c).reshape(1, c, 1, 1)
    std = torch.tensor(p["std"]).expand(c).reshape(1, c, 1, 1)
    return (x - mean) / std


class SyncRecorder:
    """Wraps the torch calls that synchronise with a CUDA device (or build tensors from Python
    values, which does), and records where each was called from while ``active``."""

    FUNCTIONS = ("tensor", "as_tensor", "nonzero")
    METHODS = (
        "item",
        "tolist",
        "cpu",
        "numpy",
        "nonzero",
        "__bool__",
        "__int__",
        "__float__",
    )

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.active = False
        self.calls: list[str] = []
        for name in self.FUNCTIONS:
            monkeypatch.setattr(torch, name, self._wrap(f"torch.{name}", getattr(torch, name)))
        for name in self.METHODS:
            original = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._wrap(f"Tensor.{name}", original))

    def _wrap(self, label, original):
        def recorded(*args, **kwargs):
            if self.active:
                caller = sys._getframe(1)
                where = f"{caller.f_code.co_filename}:{caller.f_lineno}"
                self.calls.append(f"{label} from {where}")
            return original(*args, **kwargs)

        return recorded


def _loader(name: str):
    transform, params = PIPELINES[name]
    loader = build_loader(Pixels(transform()), 8, shuffle=True, seed=5, fast=True)
    assert loader.is_fast and len(loader) == 6
    return loader, params


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_no_tensor_from_python_values_per_batch(name, monkeypatch):
    loader, params = _loader(name)
    loader.set_epoch(1)
    it = iter(loader)
    first = next(it)  # warm-up: the epoch's order and the constants may be built here
    recorder = SyncRecorder(monkeypatch)
    recorder.active = True
    try:
        rest = [next(it) for _ in range(len(loader) - 1)]
    finally:
        recorder.active = False
    assert recorder.calls == [], "per-batch calls that synchronise with the device:\n" + "\n".join(
        recorder.calls
    )
    # Bit for bit the reference (every constant built afresh for every batch).
    monkeypatch.undo()
    order = loader.indices(1)
    for b, (images, labels) in enumerate([first, *rest]):
        index = order[b * 8 : (b + 1) * 8]
        g = torch.Generator().manual_seed(derive_seed(5, 1, b))
        expected = reference_batch(loader.images.index_select(0, index), g, params)
        assert images.dtype == torch.float32 and images.shape == expected.shape
        assert torch.equal(images, expected), f"batch {b} differs from the reference"
        assert torch.equal(labels, loader.labels.index_select(0, index))


def test_constants_are_built_once_per_device_and_dtype():
    loader, _ = _loader("per-channel")
    crop, erase, normalize = loader.pipeline.transforms
    list(loader)
    held = {id(c) for t in (crop, erase, normalize) for c in t._constants._tensors.values()}
    list(loader)
    again = {id(c) for t in (crop, erase, normalize) for c in t._constants._tensors.values()}
    assert held == again and len(held) == 4  # fill, value, mean, std: the same tensors
    # Other dtypes get their own constants; copies and pickles start with an empty cache.
    batch = torch.zeros(2, 3, 8, 8)
    out = erase(batch, torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32 and len(erase._constants._tensors) == 2
    for clone in (copy.deepcopy(loader.pipeline), pickle.loads(pickle.dumps(loader.pipeline))):
        assert all(not t._constants._tensors for t in clone.transforms)
        g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        images = loader.images[:8]
        assert torch.equal(clone(images, g1), loader.pipeline(images, g2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_no_cuda_synchronisation_per_batch():
    transform, _ = PIPELINES["per-channel"]
    loader = build_loader(Pixels(transform()), 8, shuffle=True, seed=5, device="cuda", fast=True)
    it = iter(loader)
    next(it)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any synchronising call raises
    try:
        batches = [next(it) for _ in range(len(loader) - 1)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(x.is_cuda and x.shape == (8, 3, 8, 8) for x, _ in batches)
