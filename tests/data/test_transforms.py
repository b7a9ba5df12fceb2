"""Per-sample transforms on the three image kinds, and their batched equivalents."""

import numpy as np
import pytest
import torch
from PIL import Image

from resvision.data.batch_transforms import BatchCompose, plan_batched
from resvision.transforms import (
    BatchRandomCrop,
    BatchRandomErasing,
    BatchRandomHorizontalFlip,
    CenterCrop,
    ColorJitter,
    Compose,
    Normalize,
    NotBatchableError,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Resize,
    ToTensor,
    Transpose,
)

RNG = np.random.default_rng(0)
HWC = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)


def kinds(hwc=HWC):
    """The same image as PIL, HWC array and CHW tensor."""
    return Image.fromarray(hwc), hwc.copy(), torch.from_numpy(hwc.transpose(2, 0, 1).copy())


def as_hwc(img):
    if isinstance(img, torch.Tensor):
        return img.permute(1, 2, 0).numpy()
    return np.asarray(img)


@pytest.mark.parametrize(
    "transform",
    [
        RandomCrop(4, padding=2),
        RandomCrop((5, 7), padding=(1, 2), padding_mode="reflect"),
        RandomCrop(10, pad_if_needed=True, fill=9),
        CenterCrop((4, 6)),
        RandomHorizontalFlip(0.5),
        Resize((3, 4), interpolation="nearest"),
        RandomErasing(prob=1.0, value=(1, 2, 3)),
    ],
    ids=repr,
)
def test_same_result_on_every_image_kind(transform):
    outs = []
    for img in kinds():
        torch.manual_seed(3)
        out = transform(img)
        assert type(out) is type(img)
        outs.append(as_hwc(out))
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[1], outs[2])


def test_transpose_and_totensor_semantics():
    pil, arr, _ = kinds()
    chw = Transpose()(pil)
    assert isinstance(chw, np.ndarray) and chw.shape == (3, 6, 8) and chw.dtype == np.uint8
    np.testing.assert_array_equal(chw, HWC.transpose(2, 0, 1))
    assert Transpose()(np.zeros((5, 4), np.uint8)).shape == (1, 5, 4)
    assert Transpose((1, 0, 2))(arr).shape == (8, 6, 3)
    t = ToTensor()(pil)
    assert t.dtype == torch.float32 and t.shape == (3, 6, 8)
    torch.testing.assert_close(t, torch.from_numpy(HWC.transpose(2, 0, 1) / 255.0).float())
    assert ToTensor(data_format="HWC")(arr).shape == (6, 8, 3)
    floats = ToTensor()(np.full((2, 2, 3), 7.5, np.float32))
    assert float(floats.max()) == 7.5  # only uint8 is rescaled
    with pytest.raises(ValueError, match="order"):
        Transpose((0, 0, 1))


def test_normalize_semantics():
    pil, arr, chw = kinds()
    mean, std = [10.0, 20.0, 30.0], [2.0, 4.0, 8.0]
    expected = (HWC.astype(np.float32) - mean) / std
    np.testing.assert_allclose(Normalize(mean, std, data_format="HWC")(arr), expected)
    np.testing.assert_allclose(Normalize(mean, std)(pil), expected)  # PIL: channel axis known
    out = Normalize(mean, std)(chw)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), expected, rtol=1e-6)
    bgr = Normalize(mean, std, data_format="HWC", to_rgb=True)(arr[..., ::-1].copy())
    np.testing.assert_allclose(bgr, expected)
    with pytest.raises(ValueError, match="mean has 2 values for an image with 3 channels"):
        Normalize([1, 2], [1, 1])(chw)
    with pytest.raises(ValueError, match="std must be non-zero"):
        Normalize(0, 0)


def test_geometry_semantics():
    pil, arr, chw = kinds()
    assert Resize(3)(pil).size == (4, 3)  # smaller edge (height 6) -> 3, width follows
    assert Resize(3)(chw).shape == (3, 3, 4)
    assert RandomResizedCrop((5, 5))(arr).shape == (5, 5, 3)
    assert RandomResizedCrop(4)(chw.float()).shape == (3, 4, 4)
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(arr), HWC[:, ::-1])
    padded = RandomCrop((10, 12), padding=2, fill=(1, 2, 3))(arr)
    np.testing.assert_array_equal(padded[2:8, 2:10], HWC)  # the only crop that fits
    assert padded[0, 0].tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="larger than the"):
        RandomCrop(9)(arr)
    with pytest.raises(ValueError, match="larger than the image"):
        CenterCrop(7)(arr)
    with pytest.raises(ValueError, match="size must be an int or a pair"):
        RandomCrop("32")


def test_color_jitter():
    pil, arr, chw = kinds()
    np.testing.assert_array_equal(ColorJitter()(arr), arr)  # zero ranges change nothing
    for img in (pil, arr, chw, chw.float() / 255):
        out = ColorJitter(0.5, 0.5, 0.5, 0.2)(img)
        assert type(out) is type(img) and as_hwc(out).shape == (6, 8, 3)
    dark = ColorJitter(brightness=(0.5))
    torch.manual_seed(0)
    means = [float(as_hwc(dark(chw)).mean()) for _ in range(50)]
    assert min(means) < HWC.mean() < max(means)
    with pytest.raises(ValueError, match="hue"):
        ColorJitter(hue=0.7)


def test_kind_errors_name_the_transform():
    with pytest.raises(TypeError, match="RandomCrop expects a PIL image"):
        RandomCrop(4)([[1, 2], [3, 4]])
    with pytest.raises(TypeError, match="callables"):
        Compose([RandomCrop(4), "flip"])


def test_any_callable_is_a_transform():
    t = Compose([lambda im: np.asarray(im)[::2], Transpose()])
    assert t(Image.fromarray(HWC)).shape == (3, 3, 8)


# Batched equivalents -------------------------------------------------------------------------


def test_plan_translates_known_pipelines():
    pipe = plan_batched(
        Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), Transpose(), Normalize(0, 1)]),
        (3, 32, 32),
        "cv2",
    )
    assert isinstance(pipe.transforms[0], BatchRandomCrop) and pipe.transforms[0].flip_prob == 0.5
    with pytest.raises(NotBatchableError, match="ColorJitter"):
        plan_batched(Compose([ColorJitter(0.4), Transpose()]), (3, 8, 8), "cv2")
    with pytest.raises(NotBatchableError, match="Normalize"):  # CHW normalise of an HWC array
        plan_batched(Compose([Normalize(0, 1), Transpose()]), (3, 8, 8), "cv2")
    with pytest.raises(NotBatchableError, match="C x H x W"):
        plan_batched(RandomCrop(8), (3, 8, 8), "cv2")
    assert plan_batched(Compose([Resize(8), Transpose()]), (3, 8, 8), "cv2") is not None


def test_fused_crop_flip_equals_separate_ops():
    x = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    crop, flip = BatchRandomCrop((8, 8), (2, 2, 2, 2)), BatchRandomHorizontalFlip(0.5)
    fused = BatchCompose([crop, flip])
    assert len(fused.transforms) == 1
    separate = flip(crop(x, torch.Generator().manual_seed(5)), None)
    g = torch.Generator().manual_seed(5)
    expected = flip(crop(x, g), g)
    assert torch.equal(fused(x, torch.Generator().manual_seed(5)), expected)
    assert not torch.equal(separate, x)


def _position_image(n):
    # Values 1..64 encode the pixel position; padding shows up as 0.
    img = (torch.arange(64, dtype=torch.uint8) + 1).reshape(1, 8, 8).expand(3, 8, 8)
    return img.unsqueeze(0).expand(n, 3, 8, 8).contiguous()


def test_crop_flip_distribution_matches_per_sample():
    n = 3000
    per_sample = Compose([RandomCrop(8, padding=2), RandomHorizontalFlip()])
    torch.manual_seed(0)
    one = _position_image(1)[0]
    slow = torch.stack([per_sample(one) for _ in range(n)]).float()
    fast = BatchCompose([BatchRandomCrop((8, 8), (2, 2, 2, 2)), BatchRandomHorizontalFlip()])
    quick = fast(_position_image(n), torch.Generator().manual_seed(1)).float()
    # The mean image and the share of padding pixels agree within sampling noise.
    assert (slow.mean(0) - quick.mean(0)).abs().max() < 2.5
    assert abs(float((slow == 0).float().mean() - (quick == 0).float().mean())) < 0.02
    # Flipped rows read right to left: about half of each.
    flipped = lambda b: (b[:, 0, 4, 5] < b[:, 0, 4, 4]).float().mean()  # noqa: E731
    assert abs(float(flipped(slow) - flipped(quick))) < 0.05


def test_erasing_distribution_matches_per_sample():
    n = 2000
    per_sample = RandomErasing(prob=0.5, value=0)
    torch.manual_seed(0)
    one = torch.full((3, 16, 16), 200, dtype=torch.uint8)
    slow = torch.stack([per_sample(one) for _ in range(n)])
    quick = BatchRandomErasing(prob=0.5, value=0)(
        one.expand(n, 3, 16, 16).contiguous(), torch.Generator().manual_seed(2)
    )
    erased_slow = (slow == 0).flatten(1).any(1).float().mean()
    erased_quick = (quick == 0).flatten(1).any(1).float().mean()
    assert abs(float(erased_slow - erased_quick)) < 0.05
    area_slow = (slow == 0).float().mean()
    area_quick = (quick == 0).float().mean()
    assert abs(float(area_slow - area_quick)) < 0.01
    # Each erased region is one rectangle, the same in every channel.
    mask = quick[:, 0] == 0
    assert torch.equal(mask, quick[:, 2] == 0)
    rows, cols = mask.any(2).sum(1), mask.any(1).sum(1)
    assert torch.equal(mask.sum((1, 2)), rows * cols)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
@pytest.mark.parametrize("flip_prob", [0.0, 0.5])
def test_batched_crop_padding_modes_equal_per_sample_padding(mode, flip_prob):
    from resvision.data import functional as F

    x = torch.randint(0, 256, (16, 3, 6, 7), dtype=torch.uint8)
    padding = (3, 2, 1, 4)  # left, top, right, bottom
    crop = BatchRandomCrop((6, 7), padding, fill=9, flip_prob=flip_prob, padding_mode=mode)
    out = crop(x, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # the same draws, in the crop's order
    tops = torch.randint(0, 6 + 2 + 4 - 6 + 1, (16,), generator=g)
    lefts = torch.randint(0, 7 + 3 + 1 - 7 + 1, (16,), generator=g)
    flips = torch.rand(16, generator=g) < flip_prob if flip_prob else torch.zeros(16, dtype=bool)
    for i in range(16):
        padded = F.pad(x[i], padding, 9, mode)
        expected = padded[:, tops[i] : tops[i] + 6, lefts[i] : lefts[i] + 7]
        if flips[i]:
            expected = expected.flip(-1)
        assert torch.equal(out[i], expected), (mode, i)


def test_reflect_crop_plans_batched_and_rejects_too_much_padding():
    pipe = plan_batched(
        Compose([RandomCrop(32, padding=2, padding_mode="reflect"), RandomHorizontalFlip(),
                 Transpose()]), (3, 32, 32), "cv2")  # fmt: skip
    crop = pipe.transforms[0]
    assert crop.padding_mode == "reflect" and crop.flip_prob == 0.5
    assert "padding_mode='reflect'" in repr(crop)
    with pytest.raises(ValueError, match="reflect padding"):
        BatchRandomCrop((4, 4), (4, 4, 4, 4), padding_mode="reflect")(
            torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
        )
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        BatchRandomCrop((4, 4), padding_mode="wrap")
