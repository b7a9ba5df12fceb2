"""Repeated augmentation (``aug_repeats``, the CLI's ``--ra-sampler``): counts, placement of
the copies on the ranks, distinct augmentation of each copy, exact resume (issue #19)."""

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from resvision.data.datasets.base import InMemoryImageDataset
from resvision.data.loader import build_loader
from resvision.data.sampling import epoch_indices
from resvision.transforms import Compose, RandomCrop, Transpose


class Tiny(InMemoryImageDataset):
    """In-memory images whose first pixel is the sample's index."""

    def __init__(self, n=30, transform=None):
        super().__init__(transform, "cv2")
        rng = np.random.default_rng(0)
        self.images = rng.integers(0, 256, (n, 3, 12, 12), dtype=np.uint8)
        self.labels = np.arange(n, dtype=np.int64)  # the label is the index
        self.classes = [str(i) for i in range(n)]


@pytest.mark.parametrize(("n", "repeats"), [(30, 3), (31, 3), (10, 4), (7, 1)])
def test_each_sample_is_taken_repeats_times_side_by_side_and_the_epoch_keeps_its_length(n, repeats):
    order, copies = epoch_indices(n, shuffle=True, seed=5, epoch=2, repeats=repeats,
                                  return_copies=True)  # fmt: skip
    assert len(order) == n
    counts = Counter(order.tolist())
    distinct = -(-n // repeats)
    assert len(counts) == distinct
    assert sorted(counts.values())[1:] == [repeats] * (distinct - 1)  # the last may be cut
    for start in range(0, n, repeats):  # runs of one sample, copies numbered 0, 1, ...
        run = order[start : start + repeats]
        assert (run == run[0]).all()
        assert copies[start : start + repeats].tolist() == list(range(len(run)))
    if repeats > 1:  # a new epoch draws other samples
        other = epoch_indices(n, shuffle=True, seed=5, epoch=3, repeats=repeats)
        assert set(other.tolist()) != set(order.tolist()) or n <= distinct


def test_with_as_many_ranks_as_repeats_every_rank_gets_one_copy_of_each_sample():
    shards = [
        epoch_indices(
            30, shuffle=True, seed=1, epoch=0, rank=r, world_size=3, repeats=3, return_copies=True
        )
        for r in range(3)
    ]
    orders = [set(o.tolist()) for o, _ in shards]
    assert orders[0] == orders[1] == orders[2] and len(orders[0]) == 10
    assert [set(c.tolist()) for _, c in shards] == [{0}, {1}, {2}]  # copy r on rank r


def test_bad_repeats_are_refused():
    with pytest.raises(ValueError, match=r"repeats must be an int >= 1, got 0"):
        epoch_indices(5, shuffle=True, seed=0, epoch=0, repeats=0)
    with pytest.raises(ValueError, match=r"aug_repeats must be an int >= 1, got 2\.5"):
        build_loader(Tiny(), 4, shuffle=True, aug_repeats=2.5)


@pytest.mark.parametrize("fast", [True, False])
def test_the_copies_of_a_sample_are_augmented_differently(fast):
    ds = Tiny(transform=Compose([RandomCrop(12, padding=4), Transpose()]))
    loader = build_loader(ds, 6, shuffle=True, seed=0, fast=fast, aug_repeats=3)
    assert loader.is_fast is fast
    images, labels = next(iter(loader))
    assert labels[0] == labels[1] == labels[2] and labels[3] == labels[4] == labels[5]
    # random crops of one image: the three copies differ (a 1-in-81 chance each to coincide)
    assert not (torch.equal(images[0], images[1]) and torch.equal(images[1], images[2]))
    plain = build_loader(ds, 6, shuffle=True, seed=0, fast=fast)
    assert len(set(next(iter(plain))[1].tolist())) == 6


@pytest.mark.parametrize("fast", [True, False])
def test_a_loader_resumed_mid_epoch_gives_the_remaining_batches(fast):
    ds = Tiny(transform=Compose([RandomCrop(12, padding=4), Transpose()]))
    full = list(build_loader(ds, 4, shuffle=True, seed=3, fast=fast, aug_repeats=3))
    first = build_loader(ds, 4, shuffle=True, seed=3, fast=fast, aug_repeats=3)
    it = iter(first)
    for _ in range(3):
        next(it)
    state = first.state_dict()
    assert state["aug_repeats"] == 3
    again = build_loader(ds, 4, shuffle=True, seed=3, fast=fast, aug_repeats=3)
    again.load_state_dict(state)
    rest = list(again)
    assert len(rest) == len(full) - 3
    for (xa, ya), (xb, yb) in zip(rest, full[3:]):
        assert torch.equal(ya, yb) and torch.equal(xa, xb)
    other = build_loader(ds, 4, shuffle=True, seed=3, fast=fast)
    with pytest.raises(ValueError, match=r"aug_repeats=3, this one has aug_repeats=1"):
        other.load_state_dict(state)
    old = {k: v for k, v in state.items() if k != "aug_repeats"}  # saved before the key
    with pytest.raises(ValueError, match=r"aug_repeats=1, this one has aug_repeats=3"):
        again.load_state_dict(old)


def test_fit_takes_aug_repeats_for_a_dataset_and_refuses_it_for_a_ready_loader():
    import resvision

    torch.manual_seed(0)
    model = resvision.Model(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 144, 30)),
                            device="cpu")  # fmt: skip
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.01), torch.nn.CrossEntropyLoss())
    seen = []

    class Labels(resvision.callbacks.Callback):
        def on_train_batch_end(self, step, logs=None):
            seen.append(step)

    ds = Tiny(transform=Transpose())
    model.fit(ds, batch_size=6, epochs=1, verbose=0, aug_repeats=3, seed=0, callbacks=[Labels()])
    assert len(seen) == 5  # 30 images: the epoch keeps its 5 steps
    data = TensorDataset(torch.zeros(4, 3, 12, 12), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"aug_repeats=3 needs a map-style Dataset.*DataLoader"):
        model.fit(DataLoader(data, batch_size=2), epochs=1, verbose=0, aug_repeats=3)
    with pytest.raises(ValueError, match=r"aug_repeats"):
        model.fit(ds, batch_size=6, epochs=1, verbose=0, aug_repeats=0)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--ra-sampler"], {"data.aug_repeats": 3}),
        (["--ra-sampler", "4"], {"data.aug_repeats": 4}),
        (["--norm-weight-decay", "0", "--clip-grad-norm", "1"],
         {"optim.norm_weight_decay": 0.0, "optim.clip_grad_norm": 1.0}),
        (["--drop-path", "0.1"], {"model.drop_path_rate": 0.1}),
    ],
)  # fmt: skip
def test_the_command_line_flags_set_their_config_keys(argv, expected):
    from resvision.cli.parser import build_parser, train_flags
    from resvision.recipe.config import resolve

    flags = train_flags(build_parser().parse_args(["train", *argv]))
    assert {k: v for k, v in flags.items() if v is not None} == expected
    cfg = resolve(None, flags)
    for key, value in expected.items():
        section, name = key.split(".")
        assert getattr(getattr(cfg, section), name) == value
