"""Policy augmentations (issue #19): kernels against PIL, the batched form against the
per-sample form (same draws: identical images; own draws: the same distribution), the fast
path, the command line."""

from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from resvision.data import autoaugment as AA
from resvision.data import functional as F
from resvision.data import kernels
from resvision.data.batch_transforms import NotBatchableError, plan_batched
from resvision.data.epoch_context import BatchContext
from resvision.transforms import (
    AugMix,
    AutoAugment,
    Compose,
    Normalize,
    RandAugment,
    ToTensor,
    TrivialAugmentWide,
)


def _image(seed=0, size=(20, 24)):
    rng = np.random.default_rng(seed)
    # smooth-ish content with a full range, so histograms and edges are not trivial
    base = rng.integers(0, 256, (size[0] // 4, size[1] // 4, 3), dtype=np.uint8)
    arr = np.asarray(Image.fromarray(base).resize((size[1], size[0]), Image.BILINEAR))
    return arr.copy()


def _pil_and_tensor(seed=0):
    arr = _image(seed)
    return Image.fromarray(arr), torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def _as_tensor(pil):
    return torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1)


@pytest.mark.parametrize(
    ("name", "pil_op", "kernel"),
    [
        ("posterize", lambda im: ImageOps.posterize(im, 3), lambda t: kernels.posterize(t, 3)),
        ("solarize", lambda im: ImageOps.solarize(im, 100), lambda t: kernels.solarize(t, 100)),
        ("invert", ImageOps.invert, kernels.invert),
        ("equalize", ImageOps.equalize, kernels.equalize),
    ],
)
def test_exact_pixel_operations_equal_pil(name, pil_op, kernel):
    for seed in range(3):
        pil, t = _pil_and_tensor(seed)
        assert torch.equal(kernel(t), _as_tensor(pil_op(pil))), name


@pytest.mark.parametrize(
    ("pil_op", "kernel", "tolerance"),
    [
        (ImageOps.autocontrast, kernels.autocontrast, 1),
        (lambda im: ImageEnhance.Brightness(im).enhance(1.6), lambda t: kernels.adjust_brightness(t, 1.6), 1),
        (lambda im: ImageEnhance.Color(im).enhance(0.3), lambda t: kernels.adjust_saturation(t, 0.3), 1),
        (lambda im: ImageEnhance.Contrast(im).enhance(1.5), lambda t: kernels.adjust_contrast(t, 1.5), 2),
        (lambda im: ImageEnhance.Sharpness(im).enhance(1.9), lambda t: kernels.adjust_sharpness(t, 1.9), 1),
        (lambda im: ImageEnhance.Sharpness(im).enhance(0.2), lambda t: kernels.adjust_sharpness(t, 0.2), 1),
    ],
)  # fmt: skip
def test_colour_operations_are_within_a_grey_level_or_two_of_pil(pil_op, kernel, tolerance):
    for seed in range(3):
        pil, t = _pil_and_tensor(seed)
        diff = (kernel(t).int() - _as_tensor(pil_op(pil)).int()).abs()
        assert diff.max().item() <= tolerance


@pytest.mark.parametrize(
    "matrix",
    [(1, 0.3, 0, 0, 1, 0), (1, 0, 0, -0.25, 1, 0), (1, 0, -5, 0, 1, 0), (1, 0, 0, 0, 1, 7)],
)
def test_affine_resampling_agrees_with_pil(matrix):
    pil, t = _pil_and_tensor(1)
    ours = kernels.affine(t, matrix)
    theirs = _as_tensor(pil.transform(pil.size, Image.AFFINE, matrix, Image.NEAREST))
    # nearest sampling: only pixels whose source lies exactly between two pixels may differ
    assert (ours == theirs).all(0).float().mean().item() > 0.97


@pytest.mark.parametrize("angle", [30.0, -90.0, 135.0])
def test_rotation_agrees_with_pil(angle):
    pil, t = _pil_and_tensor(2)
    ours = kernels.affine(t, kernels.rotation_matrix(angle, *t.shape[-2:]))
    theirs = _as_tensor(pil.rotate(angle, Image.NEAREST))
    assert (ours == theirs).all(0).float().mean().item() > 0.95
    assert torch.equal(F.rotate(t, angle), ours)


def test_fill_values_outside_the_image():
    t = torch.full((3, 6, 6), 200, dtype=torch.uint8)
    out = kernels.affine(t, kernels.translation_matrix(2.0, 0.0), fill=(1, 2, 3))
    assert out[:, :, :2].tolist() == [[[1, 1]] * 6, [[2, 2]] * 6, [[3, 3]] * 6]
    assert (out[:, :, 2:] == 200).all()


OPS = [
    ("ShearX", [0.3, -0.2, 0.5]), ("ShearY", [0.1, 0.0, -0.4]), ("TranslateX", [3.7, -5.2, 0.0]),
    ("TranslateY", [2.0, -1.0, 9.9]), ("Rotate", [30.0, -12.5, 90.0]),
    ("Brightness", [0.5, -0.3, 0.9]), ("Color", [0.9, -0.9, 0.1]), ("Contrast", [0.4, -0.5, 0.0]),
    ("Sharpness", [0.9, -0.9, 0.5]), ("Posterize", [4.0, 8.0, 1.0]),
    ("Solarize", [0.5, 1.0, 0.0]), ("AutoContrast", [0.0] * 3), ("Equalize", [0.0] * 3),
    ("Invert", [0.0] * 3), ("Identity", [0.0] * 3),
]  # fmt: skip


@pytest.mark.parametrize(("name", "mags"), OPS, ids=[o[0] for o in OPS])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_a_batch_equals_its_images_one_by_one(name, mags, interpolation):
    batch = torch.stack([_pil_and_tensor(s)[1] for s in range(3)])
    out = AA.apply_op_batch(batch, name, torch.tensor(mags, dtype=torch.float64), interpolation,
                            None)  # fmt: skip
    for i in range(3):
        alone = AA.apply_op(batch[i], name, mags[i], interpolation, None)
        assert torch.equal(out[i], alone), (name, i)


@pytest.mark.parametrize(
    "policy",
    [AutoAugment("imagenet"), AutoAugment("svhn"), RandAugment(num_ops=3),
     TrivialAugmentWide(), AugMix(severity=4)],
    ids=["aa-imagenet", "aa-svhn", "ra", "ta_wide", "augmix"],
)  # fmt: skip
def test_the_batched_form_augments_each_image_as_the_per_sample_form_would_with_its_draws(policy):
    batch = torch.stack([_pil_and_tensor(s)[1] for s in range(6)])
    context = BatchContext(torch.arange(6), epoch=2, seed=9, batch=5)
    out = AA.BatchPolicy(policy)(batch, None, context)
    # the same draws, replayed image by image through the per-sample code
    seed = AA.derive_seed(9, 2, 5, AA._POLICY_SALT)
    draws = AA._HostDraws(np.random.default_rng(seed))
    h, w = batch.shape[-2:]
    for i in range(6):
        plan = policy.plan(draws, h, w)
        if isinstance(policy, AugMix):
            keep, weights, chains = plan
            mix = batch[i].double() * keep
            for weight, chain in zip(weights, chains):
                aug = batch[i]
                for name, m in chain:
                    aug = AA.apply_op(aug, name, m, policy.interpolation, None)
                mix += weight * aug.double()
            expected = mix.round().clamp(0, 255).to(torch.uint8)
        else:
            expected = batch[i]
            for name, m in plan:
                expected = AA.apply_op(expected, name, m, policy.interpolation, None)
        assert torch.equal(out[i], expected), i
    again = AA.BatchPolicy(policy)(batch, None, context)
    assert torch.equal(out, again)  # a function of (seed, epoch, batch): resume replays it
    other = AA.BatchPolicy(policy)(batch, None, BatchContext(torch.arange(6), 2, 9, 6))
    assert not torch.equal(out, other)


def _plans(policy, draws, n=4000):
    return [policy.plan(draws, 32, 32) for _ in range(n)]


@pytest.mark.parametrize(
    "policy", [AutoAugment("cifar10"), RandAugment(), TrivialAugmentWide()],
    ids=["aa-cifar10", "ra", "ta_wide"],
)  # fmt: skip
def test_the_two_forms_draw_from_the_same_distribution(policy):
    torch.manual_seed(0)
    per_sample = _plans(policy, AA._TorchDraws())
    batched = _plans(policy, AA._HostDraws(np.random.default_rng(0)))
    for stat in (lambda p: [s[0] for s in p], lambda p: [len(p)], lambda p: [s[1] > 0 for s in p]):
        a = Counter(x for plan in per_sample for x in stat(plan))
        b = Counter(x for plan in batched for x in stat(plan))
        na, nb = sum(a.values()), sum(b.values())
        for key in set(a) | set(b):
            pa, pb = a[key] / na, b[key] / nb
            assert abs(pa - pb) < 4 * np.sqrt(max(pa, pb, 1e-3) / min(na, nb)) + 1e-3, key
    mags = [abs(m) for plan in per_sample for name, m in plan if name == "Rotate"]
    mags_b = [abs(m) for plan in batched for name, m in plan if name == "Rotate"]
    if mags:
        assert abs(np.mean(mags) - np.mean(mags_b)) < 0.15 * np.mean(mags) + 1e-9


def test_trivial_augment_draws_each_operation_uniformly():
    torch.manual_seed(1)
    names = Counter(p[0][0] for p in _plans(TrivialAugmentWide(), AA._TorchDraws(), 7000))
    space = AA.augmentation_space("wide", 31, 32, 32)
    assert set(names) == set(space) and len(space) == 14
    for count in names.values():
        assert abs(count / 7000 - 1 / 14) < 0.015


def test_augmix_weights_sum_to_one_and_chains_have_one_to_three_ops():
    draws = AA._HostDraws(np.random.default_rng(3))
    for _ in range(200):
        keep, weights, chains = AugMix().plan(draws, 32, 32)
        assert keep + sum(weights) == pytest.approx(1.0)
        assert len(chains) == 3 and all(1 <= len(c) <= 3 for c in chains)


def test_the_policy_tables():
    for name, subs in AA.POLICIES.items():
        space = AA.augmentation_space("autoaugment", 10, 32, 32)
        assert len(subs) == 25, name
        for sub in subs:
            for op, prob, level in sub:
                assert op in space and 0 <= prob <= 1
                assert (level is None) == (not space[op]), (name, op, level)


@pytest.mark.parametrize(
    "policy", [AutoAugment("imagenet"), RandAugment(), TrivialAugmentWide(), AugMix()]
)
@pytest.mark.parametrize("kind", ["pil", "array", "tensor"])
def test_every_image_kind_keeps_its_kind_shape_and_dtype(policy, kind):
    pil, t = _pil_and_tensor(4)
    img = {"pil": pil, "array": np.asarray(pil).copy(), "tensor": t}[kind]
    torch.manual_seed(0)
    for _ in range(10):
        out = policy(img)
        assert type(out) is type(img)
        if kind != "pil":
            assert out.shape == img.shape and out.dtype == img.dtype
        else:
            assert out.size == img.size and out.mode == img.mode


def test_the_fast_path_runs_the_policy_batched_and_refuses_it_after_to_tensor():
    pipe = Compose([TrivialAugmentWide(), ToTensor(), Normalize(0.5, 0.5)])
    plan = plan_batched(pipe, (3, 32, 32), "pil")
    assert isinstance(plan.transforms[0], AA.BatchPolicy)
    with pytest.raises(NotBatchableError, match=r"put it before ToTensor\(\)"):
        plan_batched(Compose([ToTensor(), TrivialAugmentWide()]), (3, 32, 32), "pil")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"policy": "cifar100"}, r"policy must be one of \['cifar10', 'imagenet', 'svhn'\]"),
        ({"interpolation": "bicubic"}, r"interpolation must be 'nearest' or 'bilinear'"),
    ],
)
def test_bad_autoaugment_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AutoAugment(**kwargs)
    with pytest.raises(ValueError, match=r"magnitude must be an int in \[0, 31\), got 31"):
        RandAugment(magnitude=31)
    with pytest.raises(ValueError, match=r"chain_depth must be -1"):
        AugMix(chain_depth=0)
    with pytest.raises(ValueError, match=r"auto-augment must be one of"):
        AA.policy_from_name("trivial")


def test_the_command_line_names_build_the_policies():
    from resvision.cli.parser import build_parser, train_flags
    from resvision.recipe.config import resolve
    from resvision.recipe.data import Preprocess, build_transforms
    from resvision.recipe.errors import UsageError

    flags = train_flags(build_parser().parse_args(
        ["train", "--auto-augment", "ta_wide", "--random-erase", "0.1"]))  # fmt: skip
    cfg = resolve(None, flags)
    assert (cfg.data.auto_augment, cfg.data.random_erase) == ("ta_wide", 0.1)
    pre = Preprocess(size=32, resize=None, mean=[0.5] * 3, std=[0.25] * 3, channels=3)
    train, evaluation = build_transforms(cfg.data, pre, 32)
    kinds = [type(t).__name__ for t in train.transforms]
    assert "TrivialAugmentWide" in kinds and kinds[-1] == "RandomErasing"
    assert "TrivialAugmentWide" not in [type(t).__name__ for t in evaluation.transforms]
    with pytest.raises(UsageError, match=r"data\.auto_augment"):
        resolve(None, {}, ["data.auto_augment=trivial"])
