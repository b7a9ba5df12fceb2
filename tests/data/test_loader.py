"""The Loader protocol on both paths: shapes, order, resume, sharding, path choice."""

import random

import numpy as np
import pytest
import torch

from resvision.data.datasets.base import InMemoryImageDataset
from resvision.data.loader import FastLoader, TorchLoader, build_loader, fast_path_reason
from resvision.transforms import (
    Compose,
    Normalize,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    ToTensor,
    Transpose,
)


class Tiny(InMemoryImageDataset):
    """A small in-memory dataset whose pixels encode the sample index."""

    def __init__(self, n=37, transform=None, backend="cv2", size=8):
        super().__init__(transform, backend)
        rng = np.random.default_rng(n)
        self.images = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
        self.images[:, 0, 0, 0] = np.arange(n) % 256
        self.labels = (np.arange(n) % 10).astype(np.int64)
        self.classes = [str(i) for i in range(10)]


def collect(loader):
    xs, ys = zip(*list(loader))
    return torch.cat(xs), torch.cat(ys)


@pytest.mark.parametrize("fast", [True, False])
def test_protocol_shapes_and_lengths(fast):
    ds = Tiny(transform=Transpose())
    loader = build_loader(ds, 8, fast=fast)
    assert loader.is_fast is fast
    assert isinstance(loader, FastLoader if fast else TorchLoader)
    assert len(loader) == 5 and loader.num_samples == 37
    batches = list(loader)
    assert [len(y) for _, y in batches] == [8, 8, 8, 8, 5]
    x, y = batches[0]
    assert x.dtype == torch.float32 and x.shape == (8, 3, 8, 8)
    assert y.dtype == torch.int64 and y.shape == (8,)
    dl = build_loader(ds, 8, drop_last=True, fast=fast)
    assert len(dl) == 4 and dl.num_samples == 32 and sum(len(y) for _, y in dl) == 32
    assert loader.dataset is ds and loader.batch_size == 8 and loader.drop_last is False


def test_paths_agree_on_deterministic_pipeline():
    ds = Tiny(transform=Compose([Transpose(), Normalize([10, 20, 30], [2, 3, 4])]))
    xf, yf = collect(build_loader(ds, 10, shuffle=True, seed=3, fast=True))
    xt, yt = collect(build_loader(ds, 10, shuffle=True, seed=3, fast=False))
    assert torch.equal(yf, yt)
    assert torch.equal(xf, xt)  # bit for bit
    # And both equal the per-sample items, in the shuffled order.
    order = xf[:, 0, 0, 0] * 2 + 10
    assert sorted(order.round().long().tolist()) == list(range(37))


def test_pil_backend_totensor_matches_fast_path():
    ds = Tiny(transform=Compose([ToTensor(), Normalize(0.5, 0.25)]), backend="pil")
    xf, yf = collect(build_loader(ds, 16, fast=True))
    xt, yt = collect(build_loader(ds, 16, fast=False))
    assert torch.equal(yf, yt)
    torch.testing.assert_close(xf, xt)


def test_epochs_differ_and_are_reproducible():
    ds = Tiny(transform=Transpose())
    loader = build_loader(ds, 37, shuffle=True, seed=1)
    loader.set_epoch(0)
    y0 = collect(loader)[1]
    loader.set_epoch(1)
    y1 = collect(loader)[1]
    loader.set_epoch(0)
    assert torch.equal(collect(loader)[1], y0)
    assert not torch.equal(y0, y1)
    # Iterating again without set_epoch moves to the next epoch, as a DataLoader reshuffles.
    loader.set_epoch(0)
    list(loader)
    assert torch.equal(collect(loader)[1], y1)


AUG = [RandomCrop(8, padding=2), RandomHorizontalFlip(), Transpose(), RandomErasing(prob=0.5)]


@pytest.mark.parametrize("fast", [True, False])
def test_exact_mid_epoch_resume(fast):
    ds = Tiny(transform=Compose(AUG))
    ref = build_loader(ds, 6, shuffle=True, seed=7, fast=fast)
    ref.set_epoch(2)
    expected = list(ref)
    run = build_loader(ds, 6, shuffle=True, seed=7, fast=fast)
    run.set_epoch(2)
    it = iter(run)
    for _ in range(3):
        next(it)
    state = run.state_dict()
    assert state["epoch"] == 2 and state["batches_yielded"] == 3
    resumed = build_loader(ds, 6, shuffle=True, seed=7, fast=fast)
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert len(rest) == len(expected) - 3
    for (x, y), (xe, ye) in zip(rest, expected[3:]):
        assert torch.equal(y, ye) and torch.equal(x, xe)
    # The augmentation is random, not the identity.
    plain = collect(build_loader(Tiny(transform=Transpose()), 37))[0]
    assert not torch.equal(collect(build_loader(ds, 37, fast=fast))[0], plain)


def test_resume_rejects_other_settings():
    ds = Tiny(transform=Transpose())
    state = build_loader(ds, 6, shuffle=True, seed=7).state_dict()
    with pytest.raises(ValueError, match="batch_size=6"):
        build_loader(ds, 5, shuffle=True, seed=7).load_state_dict(state)
    with pytest.raises(ValueError, match="seed"):
        build_loader(ds, 6, shuffle=True, seed=8).load_state_dict(state)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("n,world", [(37, 4), (5, 3), (2, 3), (40, 1)])
def test_eval_shards_cover_every_sample_once(fast, n, world):
    ds = Tiny(n=n, transform=Transpose())
    seen = []
    for rank in range(world):
        loader = build_loader(ds, 4, rank=rank, world_size=world, fast=fast)
        x, _ = collect(loader) if len(loader) else (torch.empty(0, 3, 8, 8), None)
        assert loader.num_samples == len(x)
        seen += x[:, 0, 0, 0].long().tolist()
    assert sorted(seen) == list(range(n))


@pytest.mark.parametrize("shuffle,drop_last", [(False, False), (True, False), (False, True)])
def test_shard_size_matches_the_order(shuffle, drop_last):
    from resvision.data.sampling import epoch_indices, shard_size

    for n, world in ((37, 4), (5, 3), (2, 3), (9, 1)):
        for rank in range(world):
            kw = dict(shuffle=shuffle, rank=rank, world_size=world, drop_last=drop_last)
            assert shard_size(n, **kw) == len(epoch_indices(n, seed=0, epoch=3, **kw))


def test_train_shards_are_disjoint_and_equal_length():
    ds = Tiny(n=37, transform=Transpose())
    loaders = [build_loader(ds, 4, shuffle=True, rank=r, world_size=3) for r in range(3)]
    shards = [collect(ld)[0][:, 0, 0, 0].long().tolist() for ld in loaders]
    assert {len(s) for s in shards} == {12} and len({len(ld) for ld in loaders}) == 1
    assert len({i for s in shards for i in s}) == 36


def test_path_choice_and_reasons():
    assert build_loader(Tiny(transform=Transpose()), 4).is_fast
    lam = Tiny(transform=lambda im: im.transpose(2, 0, 1))
    assert "no batched equivalent" in fast_path_reason(lam)
    assert not build_loader(lam, 4).is_fast
    with pytest.raises(ValueError, match="fast path is impossible"):
        build_loader(lam, 4, fast=True)
    with pytest.raises(ValueError, match="C x H x W"):
        build_loader(Tiny(transform=None), 4, fast=True)
    subset = torch.utils.data.Subset(Tiny(transform=Transpose()), [3, 1, 4])
    x, _ = collect(build_loader(subset, 2, fast=True))
    assert x[:, 0, 0, 0].tolist() == [3, 1, 4]


def test_bad_arguments_are_named():
    ds = Tiny(transform=Transpose())
    with pytest.raises(ValueError, match="batch_size"):
        build_loader(ds, 0)
    with pytest.raises(ValueError, match="rank"):
        build_loader(ds, 4, rank=2, world_size=2)
    with pytest.raises(ValueError, match="fast"):
        build_loader(ds, 4, fast="yes")
    with pytest.raises(TypeError, match="PIL"):
        next(iter(build_loader(Tiny(transform=None, backend="pil"), 4)))


def test_num_workers_capped_with_warning():
    ds = Tiny(transform=lambda im: im.transpose(2, 0, 1).copy())
    with pytest.warns(UserWarning, match="CPU cores"):
        loader = build_loader(ds, 8, num_workers=512)
    assert loader.num_workers < 512


def paddle_style_jitter(img):
    """A user transform drawing from Python's random module, as Paddle transforms do."""
    return img.transpose(2, 0, 1) * random.uniform(0.5, 1.5) + np.random.rand()


def test_dataloader_path_seeds_any_transform_and_spares_global_rngs():
    def draw():
        return torch.rand(1).item(), random.random(), float(np.random.rand())

    torch.manual_seed(1), random.seed(1), np.random.seed(1)
    expected = draw()
    torch.manual_seed(1), random.seed(1), np.random.seed(1)
    ds = Tiny(transform=paddle_style_jitter)
    first = collect(build_loader(ds, 8, shuffle=True, seed=4))[0]
    assert draw() == expected  # the caller's streams were not disturbed
    again = collect(build_loader(ds, 8, shuffle=True, seed=4))[0]
    assert torch.equal(first, again)


def test_workers_produce_the_same_batches_as_the_main_process():
    ds = Tiny(n=40, transform=Compose(AUG))
    main = collect(build_loader(ds, 8, shuffle=True, seed=2, fast=False))
    loader = build_loader(ds, 8, shuffle=True, seed=2, fast=False, num_workers=2)
    workers = collect(loader)
    assert torch.equal(main[0], workers[0]) and torch.equal(main[1], workers[1])
    # Persistent workers: a second epoch reuses them and differs from the first.
    loader.set_epoch(1)
    assert not torch.equal(collect(loader)[1], workers[1])


@pytest.mark.parametrize("fast", [True, False])
def test_loader_is_freed_without_the_garbage_collector(fast):
    # A reference cycle would leave DataLoader workers to the collector, which shuts them down
    # only after a 5 s time-out per worker.
    import gc
    import weakref

    loader = build_loader(Tiny(transform=Transpose()), 8, fast=fast)
    list(loader)
    ref = weakref.ref(loader)
    gc.disable()
    try:
        del loader
        assert ref() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("fast", [True, False])
def test_alternating_flip_mirrors_each_image_on_every_other_epoch(fast):
    ds = Tiny(n=64, transform=Compose([RandomHorizontalFlip(alternate=True), Transpose()]))
    plain = torch.as_tensor(ds.images).float()
    loader = build_loader(ds, 16, shuffle=True, seed=5, fast=fast)
    flipped = []
    for epoch in range(3):
        loader.set_epoch(epoch)
        state = {}
        for x, _ in loader:
            for image in x:  # its source: the data set image it equals, or whose mirror it is
                same = (plain == image).flatten(1).all(1)
                mirror = (plain.flip(-1) == image).flatten(1).all(1)
                (i,) = (same | mirror).nonzero().flatten().tolist()
                state[i] = not torch.equal(plain[i], image)
        assert sorted(state) == list(range(64))
        flipped.append(state)
    assert 16 <= sum(flipped[0].values()) <= 48  # about half start mirrored
    for i in range(64):  # every image alternates
        assert flipped[0][i] != flipped[1][i] and flipped[0][i] == flipped[2][i]


def test_alternating_flip_is_the_same_on_both_paths_and_after_resume():
    ds = Tiny(n=40, transform=Compose([RandomHorizontalFlip(alternate=True), Transpose()]))
    fast = build_loader(ds, 8, shuffle=True, seed=2, fast=True)
    slow = build_loader(ds, 8, shuffle=True, seed=2, fast=False)
    for epoch in (0, 1):
        fast.set_epoch(epoch)
        slow.set_epoch(epoch)
        assert torch.equal(collect(fast)[0], collect(slow)[0])
    # stopped after 2 batches of epoch 1, resumed in a new loader: the same remaining batches
    fast.set_epoch(1)
    it = iter(fast)
    next(it), next(it)
    state = fast.state_dict()
    rest = torch.cat([x for x, _ in it])
    resumed = build_loader(ds, 8, shuffle=True, seed=2, fast=True)
    resumed.load_state_dict(state)
    assert torch.equal(collect(resumed)[0], rest)


def test_alternating_flip_outside_a_loader_and_bad_arguments():
    from resvision.transforms import BatchAlternatingFlip

    with pytest.raises(ValueError, match=r"prob must be 0\.5"):
        RandomHorizontalFlip(prob=0.3, alternate=True)
    with pytest.raises(ValueError, match="needs the batch's indices and epoch"):
        BatchAlternatingFlip()(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
    # no loader, no epoch: a random flip
    torch.manual_seed(0)
    image = np.arange(12).reshape(3, 4)
    outs = {tuple(RandomHorizontalFlip(alternate=True)(image)[0]) for _ in range(20)}
    assert outs == {(0, 1, 2, 3), (3, 2, 1, 0)}
