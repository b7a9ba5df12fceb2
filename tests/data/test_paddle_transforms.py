"""Paddle's ``vision.transforms`` (issue #18): the package and its import paths, Paddle's
signatures, the new classes and functional ops against values printed by real Paddle,
``keys=`` (images and masks), and the batched forms against the per-sample ones.

The expected pixels below were printed by Paddle 3.3.1 (PIL backend, Pillow 13) in the venv of
``benchmarks/paddle_transforms_check.py`` (which compares every operation on a larger image and
all three input kinds, and writes ``benchmarks/results/paddle-transforms-check.json``); they are
hard-coded so that CI needs no Paddle.
"""

import inspect
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

import resvision.transforms as T
import resvision.transforms.functional as TF
from resvision.data import kernels
from resvision.data.batch_transforms import BatchPlanState, NotBatchableError, plan_batched

TINY = ((np.arange(6 * 7 * 3).reshape(6, 7, 3) * 37) % 256).astype(np.uint8)
COLOUR = np.array(
    [[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[200, 100, 50], [30, 60, 90], [128, 128, 128]]],
    dtype=np.uint8,
)
START = [[0, 0], [6, 0], [6, 5], [0, 5]]
END = [[1, 1], [5, 0], [6, 4], [0, 5]]

# Channel 0 of Paddle's result on Image.fromarray(TINY) (paddle.vision.transforms.functional).
GEOMETRIC = {
    "affine": [
        [0, 0, 18, 120, 231, 86, 188],
        [0, 27, 138, 240, 95, 206, 52],
        [0, 36, 147, 249, 104, 215, 61],
        [0, 156, 11, 113, 224, 79, 181],
        [0, 0, 0, 0, 233, 88, 190],
        [0, 0, 0, 0, 0, 0, 0],
    ],
    "affine_bilinear": [
        [0, 0, 164, 118, 75, 159, 0],
        [0, 128, 120, 185, 87, 117, 178],
        [166, 194, 96, 162, 155, 75, 160],
        [122, 207, 163, 120, 205, 124, 118],
        [80, 165, 231, 133, 163, 192, 94],
        [38, 123, 207, 129, 120, 205, 160],
    ],
    "rotate": [
        [0, 0, 188, 188, 52, 163, 0],
        [111, 222, 86, 197, 61, 61, 181],
        [111, 231, 240, 95, 215, 70, 190],
        [9, 129, 240, 104, 215, 224, 88],
        [18, 138, 138, 2, 113, 233, 88],
        [0, 36, 147, 11, 11, 0, 0],
    ],
    "rotate_expand": [
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 43, 154, 0, 0, 0, 0],
        [0, 0, 0, 0, 188, 188, 52, 163, 0, 0, 0],
        [0, 0, 111, 222, 86, 197, 61, 61, 181, 0, 0],
        [0, 0, 111, 231, 240, 95, 215, 70, 190, 0, 0],
        [0, 0, 9, 129, 240, 104, 215, 224, 88, 199, 0],
        [0, 0, 18, 138, 138, 2, 113, 233, 88, 0, 0],
        [0, 0, 0, 36, 147, 11, 11, 0, 0, 0, 0],
        [0, 0, 0, 0, 45, 156, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ],
    "rotate_center": [
        [0, 111, 222, 86, 197, 61, 181],
        [0, 120, 231, 240, 95, 215, 70],
        [0, 9, 129, 249, 104, 224, 224],
        [0, 18, 138, 138, 2, 122, 233],
        [0, 0, 36, 147, 11, 122, 0],
        [0, 0, 0, 45, 0, 0, 0],
    ],
    "perspective": [
        [0, 0, 0, 77, 43, 163, 0],
        [0, 9, 231, 86, 61, 172, 0],
        [0, 129, 240, 104, 215, 70, 181],
        [27, 138, 249, 113, 224, 79, 190],
        [36, 147, 2, 122, 233, 88, 199],
        [45, 156, 11, 122, 233, 0, 0],
    ],
    "pad_reflect": [
        [231, 120, 9, 120, 231, 86, 197, 52, 163, 52, 197],
        [222, 111, 0, 111, 222, 77, 188, 43, 154, 43, 188],
        [231, 120, 9, 120, 231, 86, 197, 52, 163, 52, 197],
        [240, 129, 18, 129, 240, 95, 206, 61, 172, 61, 206],
        [249, 138, 27, 138, 249, 104, 215, 70, 181, 70, 215],
        [2, 147, 36, 147, 2, 113, 224, 79, 190, 79, 224],
        [11, 156, 45, 156, 11, 122, 233, 88, 199, 88, 233],
        [2, 147, 36, 147, 2, 113, 224, 79, 190, 79, 224],
    ],
    "pad_symmetric": [
        [9, 9, 120, 231, 86, 197, 52, 163],
        [0, 0, 111, 222, 77, 188, 43, 154],
        [0, 0, 111, 222, 77, 188, 43, 154],
        [9, 9, 120, 231, 86, 197, 52, 163],
        [18, 18, 129, 240, 95, 206, 61, 172],
        [27, 27, 138, 249, 104, 215, 70, 181],
        [36, 36, 147, 2, 113, 224, 79, 190],
        [45, 45, 156, 11, 122, 233, 88, 199],
        [45, 45, 156, 11, 122, 233, 88, 199],
    ],
    "vflip": [
        [45, 156, 11, 122, 233, 88, 199],
        [36, 147, 2, 113, 224, 79, 190],
        [27, 138, 249, 104, 215, 70, 181],
        [18, 129, 240, 95, 206, 61, 172],
        [9, 120, 231, 86, 197, 52, 163],
        [0, 111, 222, 77, 188, 43, 154],
    ],
}

# Paddle's result on Image.fromarray(COLOUR).
COLOUR_OPS = {
    "brightness": [
        [[255, 0, 0], [0, 255, 0], [0, 0, 255]],
        [[255, 140, 70], [42, 84, 126], [179, 179, 179]],
    ],
    "contrast": [
        [[190, 37, 37], [37, 190, 37], [37, 37, 190]],
        [[157, 97, 67], [55, 73, 91], [114, 114, 114]],
    ],
    "saturation": [
        [[255, 0, 0], [0, 255, 0], [0, 0, 255]],
        [[253, 83, 0], [13, 64, 115], [128, 128, 128]],
    ],
    "hue": [
        [[162, 255, 0], [0, 162, 255], [255, 0, 162]],
        [[96, 200, 50], [81, 30, 90], [128, 128, 128]],
    ],
    "hue_negative": [
        [[0, 96, 255], [255, 0, 96], [102, 255, 0]],
        [[50, 57, 200], [85, 90, 30], [128, 128, 128]],
    ],
    "grayscale": [[76, 150, 29], [124, 54, 128]],
}

OURS_GEOMETRIC = {
    "affine": lambda im: TF.affine(im, 17.0, (1, -1), 0.9, (8.0, -5.0)),
    "affine_bilinear": lambda im: TF.affine(im, -31.0, (0, 1), 1.2, (0.0, 12.0), "bilinear"),
    "rotate": lambda im: TF.rotate(im, 33),
    "rotate_expand": lambda im: TF.rotate(im, 33, "nearest", True),
    "rotate_center": lambda im: TF.rotate(im, 33, "nearest", False, (2, 1)),
    "perspective": lambda im: TF.perspective(im, START, END),
    "pad_reflect": lambda im: TF.pad(im, (2, 1), 0, "reflect"),
    "pad_symmetric": lambda im: TF.pad(im, (1, 2, 0, 1), 0, "symmetric"),
    "vflip": TF.vflip,
}
OURS_COLOUR = {
    "brightness": lambda im: TF.adjust_brightness(im, 1.4),
    "contrast": lambda im: TF.adjust_contrast(im, 0.6),
    "saturation": lambda im: TF.adjust_saturation(im, 1.7),
    "hue": lambda im: TF.adjust_hue(im, 0.23),
    "hue_negative": lambda im: TF.adjust_hue(im, -0.4),
    "grayscale": lambda im: TF.to_grayscale(im),
}
# Arrays and tensors go through the torch kernels, not PIL. Nearest sampling gives PIL's pixels
# here; bilinear sampling is within a level of PIL's inside the image (PIL truncates, the
# kernels round), while at the border PIL repeats the edge pixel and the kernels blend with
# the fill, as Paddle's tensor backend and OpenCV do: (levels, pixels allowed to differ by
# more) on TINY's 42 pixels, measured.
GEOMETRIC_TOLERANCE: dict[str, tuple[int, int]] = {"affine_bilinear": (1, 8)}
# The colour kernels follow PIL's arithmetic on uint8 images: no difference allowed.
COLOUR_TOLERANCE: dict[str, int] = {}


def _kinds(hwc):
    return {
        "pil": Image.fromarray(hwc),
        "array": hwc.copy(),
        "tensor": torch.from_numpy(hwc.transpose(2, 0, 1).copy()),
    }


def _hwc(out):
    if isinstance(out, torch.Tensor):
        out = out.numpy()
        return out[..., None] if out.ndim == 2 else out.transpose(1, 2, 0)
    arr = np.asarray(out)
    return arr[..., None] if arr.ndim == 2 else arr


# ------------------------------------------------------------------------- the package itself
PADDLE_NAMES = [
    "BaseTransform", "Compose", "Resize", "RandomResizedCrop", "CenterCrop",
    "RandomHorizontalFlip", "RandomVerticalFlip", "Transpose", "Normalize",
    "BrightnessTransform", "SaturationTransform", "ContrastTransform", "HueTransform",
    "ColorJitter", "RandomCrop", "Pad", "RandomAffine", "RandomRotation", "RandomPerspective",
    "Grayscale", "ToTensor", "RandomErasing", "to_tensor", "hflip", "vflip", "resize", "pad",
    "affine", "rotate", "perspective", "to_grayscale", "crop", "center_crop",
    "adjust_brightness", "adjust_contrast", "adjust_hue", "normalize", "erase",
]  # fmt: skip


def test_the_package_has_paddles_names_and_keeps_the_old_import_paths():
    from resvision.data.autoaugment import AugMix
    from resvision.transforms import (
        AugMix as AugMix2,
    )

    assert AugMix2 is AugMix
    for name in PADDLE_NAMES:
        assert name in T.__all__ and callable(getattr(T, name)), name
    assert TF.adjust_saturation is T.adjust_saturation
    assert T.functional is TF


_E = inspect.Parameter.empty
# Paddle 3.3.1's arguments (paddle/vision/transforms/{transforms,functional}.py), in order.
PADDLE_SIGNATURES = {
    "RandomVerticalFlip": [("prob", 0.5), ("keys", None)],
    "BrightnessTransform": [("value", _E), ("keys", None)],
    "ContrastTransform": [("value", _E), ("keys", None)],
    "SaturationTransform": [("value", _E), ("keys", None)],
    "HueTransform": [("value", _E), ("keys", None)],
    "Pad": [("padding", _E), ("fill", 0), ("padding_mode", "constant"), ("keys", None)],
    "RandomAffine": [("degrees", _E), ("translate", None), ("scale", None), ("shear", None),
                     ("interpolation", "nearest"), ("fill", 0), ("center", None), ("keys", None)],
    "RandomRotation": [("degrees", _E), ("interpolation", "nearest"), ("expand", False),
                       ("center", None), ("fill", 0), ("keys", None)],
    "RandomPerspective": [("prob", 0.5), ("distortion_scale", 0.5), ("interpolation", "nearest"),
                          ("fill", 0), ("keys", None)],
    "Grayscale": [("num_output_channels", 1), ("keys", None)],
    "Resize": [("size", _E), ("interpolation", "bilinear"), ("keys", None)],
    "RandomResizedCrop": [("size", _E), ("scale", (0.08, 1.0)), ("ratio", (3 / 4, 4 / 3)),
                          ("interpolation", "bilinear"), ("keys", None)],
    "CenterCrop": [("size", _E), ("keys", None)],
    "RandomHorizontalFlip": [("prob", 0.5), ("keys", None)],
    "ColorJitter": [("brightness", 0), ("contrast", 0), ("saturation", 0), ("hue", 0),
                    ("keys", None)],
    "RandomCrop": [("size", _E), ("padding", None), ("pad_if_needed", False), ("fill", 0),
                   ("padding_mode", "constant"), ("keys", None)],
    "RandomErasing": [("prob", 0.5), ("scale", (0.02, 0.33)), ("ratio", (0.3, 3.3)),
                      ("value", 0), ("inplace", False), ("keys", None)],
    "BaseTransform": [("keys", None)],
    "ToTensor": [("data_format", "CHW"), ("keys", None)],
    "Normalize": [("mean", 0.0), ("std", 1.0), ("data_format", "CHW"), ("to_rgb", False),
                  ("keys", None)],
    "Transpose": [("order", (2, 0, 1)), ("keys", None)],
    "to_tensor": [("pic", _E), ("data_format", "CHW")],
    "hflip": [("img", _E)],
    "vflip": [("img", _E)],
    "resize": [("img", _E), ("size", _E), ("interpolation", "bilinear")],
    "pad": [("img", _E), ("padding", _E), ("fill", 0), ("padding_mode", "constant")],
    "affine": [("img", _E), ("angle", _E), ("translate", _E), ("scale", _E), ("shear", _E),
               ("interpolation", "nearest"), ("fill", 0), ("center", None)],
    "rotate": [("img", _E), ("angle", _E), ("interpolation", "nearest"), ("expand", False),
               ("center", None), ("fill", 0)],
    "perspective": [("img", _E), ("startpoints", _E), ("endpoints", _E),
                    ("interpolation", "nearest"), ("fill", 0)],
    "to_grayscale": [("img", _E), ("num_output_channels", 1)],
    "crop": [("img", _E), ("top", _E), ("left", _E), ("height", _E), ("width", _E)],
    "center_crop": [("img", _E), ("output_size", _E)],
    "adjust_brightness": [("img", _E), ("brightness_factor", _E)],
    "adjust_contrast": [("img", _E), ("contrast_factor", _E)],
    "adjust_saturation": [("img", _E), ("saturation_factor", _E)],
    "adjust_hue": [("img", _E), ("hue_factor", _E)],
    "normalize": [("img", _E), ("mean", _E), ("std", _E), ("data_format", "CHW"),
                  ("to_rgb", False)],
    "erase": [("img", _E), ("i", _E), ("j", _E), ("h", _E), ("w", _E), ("v", _E),
              ("inplace", False)],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PADDLE_SIGNATURES))
def test_signatures_are_paddles(name):
    obj = getattr(T, name)
    target = obj.__init__ if inspect.isclass(obj) else obj
    ours = [(p.name, p.default) for p in inspect.signature(target).parameters.values()
            if p.name != "self"]  # fmt: skip
    expected = PADDLE_SIGNATURES[name]
    # Paddle's arguments come first, in Paddle's order; resvision's own extras follow
    # (RandomHorizontalFlip's alternate).
    assert ours[: len(expected)] == expected, name


# ---------------------------------------------------------------------- pixels against Paddle
@pytest.mark.parametrize("name", sorted(OURS_GEOMETRIC))
def test_geometric_ops_on_pil_images_equal_paddle(name):
    out = np.asarray(OURS_GEOMETRIC[name](Image.fromarray(TINY)))
    assert out[..., 0].tolist() == GEOMETRIC[name]


@pytest.mark.parametrize("name", sorted(OURS_GEOMETRIC))
@pytest.mark.parametrize("kind", ["array", "tensor"])
def test_geometric_ops_on_arrays_and_tensors_are_close_to_paddle(name, kind):
    out = _hwc(OURS_GEOMETRIC[name](_kinds(TINY)[kind]))[..., 0]
    expected = np.array(GEOMETRIC[name])
    assert out.shape == expected.shape
    levels, pixels = GEOMETRIC_TOLERANCE.get(name, (0, 0))
    assert int((np.abs(out.astype(int) - expected) > levels).sum()) <= pixels, out.tolist()


@pytest.mark.parametrize("name", sorted(OURS_COLOUR))
@pytest.mark.parametrize("kind", ["pil", "array", "tensor"])
def test_colour_ops_equal_paddle_within_a_grey_level(name, kind):
    out = _hwc(OURS_COLOUR[name](_kinds(COLOUR)[kind])).astype(int)
    expected = np.array(COLOUR_OPS[name])
    expected = expected[..., None] if expected.ndim == 2 else expected
    assert out.shape == expected.shape
    tolerance = 0 if kind == "pil" else COLOUR_TOLERANCE.get(name, 0)
    assert np.abs(out - expected).max() <= tolerance, out.tolist()


def test_uint8_grey_and_hue_kernels_are_pils_on_random_pixels():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    arr[0, :8] = [(0, 0, 0), (255, 255, 255), (7, 7, 7), (255, 0, 0), (0, 255, 0), (0, 0, 255),
                  (255, 255, 0), (1, 0, 0)]  # fmt: skip
    pil = Image.fromarray(arr)
    assert np.array_equal(TF.to_grayscale(arr)[..., 0], np.asarray(pil.convert("L")))
    tensor = torch.from_numpy(arr.transpose(2, 0, 1).copy())
    for shift in (0.23, -0.4, 0.5, -0.5, 0.01, 0.0):
        expected = np.asarray(TF.adjust_hue(pil, shift))
        assert np.array_equal(TF.adjust_hue(arr, shift), expected), shift
        assert np.array_equal(_hwc(TF.adjust_hue(tensor, shift)), expected), shift


def test_rotation_with_expand_has_pils_size_and_pixels():
    for angle in (33, 90, -125):
        pil = TF.rotate(Image.fromarray(TINY), angle, expand=True)
        ours = TF.rotate(torch.from_numpy(TINY.transpose(2, 0, 1).copy()), angle, expand=True)
        assert ours.shape[1:] == (pil.height, pil.width), angle
        if angle == 90:  # a transposition in PIL, exact here too
            assert np.array_equal(_hwc(ours), np.asarray(pil))


def test_the_new_classes_apply_their_ops():
    img = Image.fromarray(TINY)
    assert np.array_equal(np.asarray(T.RandomVerticalFlip(1.0)(img)), TINY[::-1])
    assert T.RandomVerticalFlip(0.0)(img) is img
    assert np.array_equal(np.asarray(T.Pad((1, 2), fill=(9, 8, 7))(img))[0, 0], [9, 8, 7])
    assert T.Pad([1, 2, 3, 4])(img).size == (7 + 1 + 3, 6 + 2 + 4)
    assert T.Grayscale()(img).mode == "L" and T.Grayscale(3)(img).mode == "RGB"
    assert T.Grayscale(3)(TINY).shape == (6, 7, 3)
    assert np.array_equal(
        np.asarray(T.RandomRotation((33, 33))(img)), np.asarray(TF.rotate(img, 33))
    )
    affine = T.RandomAffine((17, 17), scale=(1.25, 1.25), shear=(8, 8, -5, -5))
    expected = TF.affine(img, 17.0, (0, 0), 1.25, (8.0, -5.0))
    assert np.array_equal(np.asarray(affine(img)), np.asarray(expected))
    assert np.array_equal(np.asarray(T.HueTransform((0.23, 0.23))(img)),
                          np.asarray(TF.adjust_hue(img, 0.23)))  # fmt: skip
    assert np.array_equal(np.asarray(T.RandomPerspective(1.0, 0.0)(img)), TINY)  # corners fixed
    assert T.BrightnessTransform(0)(img) is img  # a zero range: nothing to do


def test_random_perspective_draws_corners_within_the_distortion():
    torch.manual_seed(0)
    t = T.RandomPerspective(prob=1.0, distortion_scale=0.4)
    for _ in range(200):
        start, end = t.get_params(53, 37, 0.4)
        assert start == [[0, 0], [52, 0], [52, 36], [0, 36]]
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = end
        assert 0 <= x0 <= 10 and 0 <= y0 <= 7 and 42 <= x1 <= 52 and 0 <= y1 <= 7
        assert 42 <= x2 <= 52 and 29 <= y2 <= 36 and 0 <= x3 <= 10 and 29 <= y3 <= 36


# ------------------------------------------------------------------------------------- keys
GEOMETRIC_CLASSES = [
    T.RandomRotation(40, interpolation="bilinear", fill=(5, 6, 7)),
    T.RandomRotation(40, expand=True),
    T.RandomAffine(30, translate=(0.2, 0.2), scale=(0.8, 1.2), shear=10, interpolation="bicubic"),
    T.RandomPerspective(prob=1.0, interpolation="bilinear"),
    T.RandomCrop(5, padding=2, fill=3),
    T.RandomResizedCrop(4),
    T.RandomHorizontalFlip(),
    T.RandomVerticalFlip(),
    T.Resize((9, 4)),
    T.CenterCrop(3),
    T.Pad((1, 2), fill=1, padding_mode="constant"),
]


@pytest.mark.parametrize("transform", GEOMETRIC_CLASSES, ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("kind", ["pil", "array", "tensor"])
def test_a_mask_gets_the_images_geometry_with_nearest_sampling(transform, kind):
    transform.keys = ("image", "mask")
    try:
        image = _kinds(TINY)[kind]
        # the mask is the image's first channel: nearest sampling, fill 0 must give the
        # image's own first channel where the image is also sampled nearest with fill 0
        nearest = type(transform)(**{k: v for k, v in vars(transform).items() if k in
                                     inspect.signature(type(transform)).parameters})  # fmt: skip
        mask = {"pil": Image.fromarray(TINY[..., 0]), "array": TINY[..., 0].copy(),
                "tensor": torch.from_numpy(TINY[..., 0].copy())}[kind]  # fmt: skip
        for seed in range(3):
            torch.manual_seed(seed)
            out_image, out_mask, label = transform((image, mask, "label"))
            assert label == "label"
            torch.manual_seed(seed)
            reference = _mask_reference(nearest, image)
            assert np.array_equal(_hwc(out_mask)[..., 0], _hwc(reference)[..., 0])
            assert _hwc(out_image).shape[:2] == _hwc(out_mask).shape[:2]
    finally:
        transform.keys = ("image",)


def _mask_reference(transform, image):
    """The transform with nearest interpolation and fill 0, on the image, same draws."""
    for name in ("interpolation",):
        if hasattr(transform, name):
            setattr(transform, name, "nearest")
    for name in ("fill",):
        if hasattr(transform, name):
            setattr(transform, name, 0)
    return transform(image)


def test_colour_transforms_leave_masks_alone_and_integer_masks_keep_their_dtype():
    mask = np.arange(42, dtype=np.int64).reshape(6, 7) * 1000
    _, out = T.HueTransform(0.3, keys=("image", "mask"))((TINY, mask))
    assert out is mask
    torch.manual_seed(0)
    _, rotated = T.RandomRotation((90, 90), keys=("image", "mask"))((TINY, mask))
    assert rotated.dtype == np.int64 and set(np.unique(rotated)) <= set(np.unique(mask)) | {0}


def test_keys_follow_paddles_calling_convention_and_refuse_what_is_not_implemented():
    flip = T.RandomVerticalFlip(1.0)
    out, label = flip((TINY, 3))  # default keys: the first item only, the rest passes through
    assert np.array_equal(out, TINY[::-1]) and label == 3
    both = T.RandomVerticalFlip(1.0, keys=("image", "image"))((TINY, TINY))
    assert all(np.array_equal(x, TINY[::-1]) for x in both)
    with pytest.raises(NotImplementedError, match="'boxes' is not supported"):
        T.RandomRotation(10, keys=("image", "boxes"))
    with pytest.raises(ValueError, match="keys must be a sequence"):
        T.Grayscale(keys="image")
    assert "keys" not in repr(T.Grayscale()) and "keys=('image', 'mask')" in repr(
        T.Grayscale(keys=("image", "mask"))
    )


# --------------------------------------------------------------------------------- batched
STATE_SHAPE = (3, 12, 10)


def _batch(n=5, dtype=torch.uint8):
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.integers(0, 256, (n, *STATE_SHAPE), dtype=np.uint8))
    return x if dtype == torch.uint8 else x.to(dtype) / 255


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_a_batch_is_transformed_as_its_images_one_by_one_with_the_same_parameters(dtype):
    batch = _batch(dtype=dtype)
    n, device, g = batch.shape[0], batch.device, torch.Generator().manual_seed(0)
    state = BatchPlanState("pil", STATE_SHAPE)

    rotation = T.RandomRotation(40, interpolation="bilinear", fill=(10, 20, 30))
    op = rotation.batched(state)
    angles = op.draw(n, device, g)
    out = op.apply(batch, angles)
    for i in range(n):
        assert torch.equal(out[i], rotation._apply_image(batch[i], float(angles[i]))), i

    affine = T.RandomAffine(30, translate=(0.2, 0.1), scale=(0.8, 1.2), shear=(-10, 10, -5, 5),
                            interpolation="bilinear")  # fmt: skip
    op = affine.batched(state)
    p = op.draw(n, *STATE_SHAPE[1:], device, g)
    out = op.apply(batch, p)
    for i in range(n):
        params = (float(p["angle"][i]), tuple(int(v) for v in p["translate"][i]),
                  float(p["scale"][i]), tuple(float(v) for v in p["shear"][i]))  # fmt: skip
        assert torch.equal(out[i], affine._apply_image(batch[i], params)), i

    for colour in (T.BrightnessTransform(0.5), T.ContrastTransform(0.5),
                   T.SaturationTransform(0.5), T.HueTransform(0.3)):  # fmt: skip
        op = colour.batched(state)
        factors = op.draw(n, device, g)
        out = op.apply(batch, factors)
        for i in range(n):
            expected = colour._apply_image(batch[i], float(factors[i]))
            assert torch.equal(out[i], expected), (colour, i)

    grey = T.Grayscale(3).batched(BatchPlanState("pil", STATE_SHAPE))
    assert torch.equal(grey(batch), torch.stack([T.Grayscale(3)(x) for x in batch]))
    flipped = T.RandomVerticalFlip(1.0).batched(state)(batch, g)
    assert torch.equal(flipped, batch.flip(-2))


def test_the_batched_draws_follow_the_per_sample_distributions():
    n, state = 3000, BatchPlanState("pil", STATE_SHAPE)
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)

    def close(a, b, what):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        spread = max(a.std(), b.std(), 1e-9)
        assert abs(a.mean() - b.mean()) < 5 * spread / np.sqrt(n), what
        assert abs(a.std() - b.std()) < 0.1 * spread + 1e-9, what

    rotation = T.RandomRotation((-10, 30))
    close([rotation._params(TINY) for _ in range(n)], rotation.batched(state).draw(n, "cpu", g),
          "angle")  # fmt: skip
    affine = T.RandomAffine(20, translate=(0.3, 0.2), scale=(0.7, 1.3), shear=(-5, 5, 0, 9))
    per = [affine._params(np.zeros((12, 10, 3), np.uint8)) for _ in range(n)]
    bat = affine.batched(state).draw(n, 12, 10, "cpu", g)
    close([p[0] for p in per], bat["angle"], "angle")
    close([p[2] for p in per], bat["scale"], "scale")
    close([p[3][1] for p in per], bat["shear"][:, 1], "shear y")
    tx_per = Counter(p[1][0] for p in per)
    tx_bat = Counter(int(v) for v in bat["translate"][:, 0])
    assert set(tx_per) == set(tx_bat) == {-2, -1, 0, 1, 2}
    for v in tx_per:
        assert abs(tx_per[v] - tx_bat[v]) < 5 * np.sqrt(max(tx_per[v], tx_bat[v])), v
    hue = T.HueTransform(0.3)
    close([hue._params(TINY) for _ in range(n)], hue.batched(state).draw(n, "cpu", g), "hue")
    flips = sum(T.RandomVerticalFlip(0.3)._params(TINY) for _ in range(n))
    ones = torch.arange(2, dtype=torch.uint8).reshape(1, 1, 2, 1).expand(n, 1, 2, 1)
    batch_flips = int((T.RandomVerticalFlip(0.3).batched(state)(ones, g)[:, 0, 0, 0] == 1).sum())
    assert abs(flips - batch_flips) < 5 * np.sqrt(n * 0.3 * 0.7)


def test_the_fast_path_plans_the_new_transforms_and_refuses_what_it_cannot_batch():
    pipe = T.Compose([T.RandomRotation(10), T.RandomAffine(5, translate=(0.1, 0.1)),
                      T.BrightnessTransform(0.4), T.HueTransform(0.1), T.Grayscale(3),
                      T.RandomVerticalFlip(), T.Pad(2), T.ToTensor()])  # fmt: skip
    plan = plan_batched(pipe, (3, 8, 8), "pil")
    names = [type(t).__name__ for t in plan.transforms]
    assert names == ["BatchRandomRotation", "BatchRandomAffine", "BatchColorAdjust",
                     "BatchColorAdjust", "BatchGrayscale", "BatchRandomVerticalFlip",
                     "BatchRandomCrop", "BatchToFloat"]  # fmt: skip
    out = plan(torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8), torch.Generator())
    assert out.shape == (2, 3, 12, 12) and out.dtype == torch.float32
    one_channel = plan_batched(T.Compose([T.Grayscale(), T.ToTensor()]), (3, 8, 8), "pil")
    assert one_channel(torch.zeros(2, 3, 8, 8, dtype=torch.uint8)).shape == (2, 1, 8, 8)
    for refused, match in [
        (T.RandomRotation(10, expand=True), "expand=True"),
        (T.RandomVerticalFlip(keys=("image", "mask")), "masks"),
        (T.RandomPerspective(), "no batched equivalent"),
    ]:
        with pytest.raises(NotBatchableError, match=match):
            plan_batched(T.Compose([refused, T.ToTensor()]), (3, 8, 8), "pil")


def test_kernels_take_per_image_parameters_on_the_device_of_the_batch():
    batch = _batch(3)
    angles = torch.tensor([0.0, 90.0, 180.0])
    out = kernels.affine(batch, kernels.rotation_matrix(angles, 12, 10))
    assert torch.equal(out[0], batch[0])  # no rotation
    matrix = kernels.inverse_affine_matrix(angles, (0, 0), 1.0, (0, 0), (5.0, 6.0))
    assert matrix.shape == (3, 6) and torch.allclose(matrix[0], torch.tensor(
        [1.0, 0, 0, 0, 1.0, 0], dtype=torch.float64))  # fmt: skip


# ---------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: T.HueTransform(0.7), ValueError, r"hue must be a number in \[0, 0.5\]"),
        (lambda: T.BrightnessTransform(-1), ValueError, "brightness must be a number"),
        (lambda: T.ContrastTransform((2, 1)), ValueError, "contrast range must satisfy"),
        (lambda: T.RandomAffine(10, translate=(1.5, 0)), ValueError, r"translate values must be in \[0, 1\]"),
        (lambda: T.RandomAffine(10, scale=(0, 1)), ValueError, "scale values must be positive"),
        (lambda: T.RandomAffine(10, shear=(1, 2, 3)), ValueError, "shear must be a number or a sequence of 2 or 4"),
        (lambda: T.RandomRotation(-5), ValueError, "degrees must be non-negative"),
        (lambda: T.RandomRotation(10, interpolation="area"), ValueError, "interpolation must be one of"),
        (lambda: T.RandomPerspective(prob=2), ValueError, r"prob must be in \[0, 1\]"),
        (lambda: T.RandomPerspective(distortion_scale=-1), ValueError, "distortion_scale"),
        (lambda: T.Grayscale(2), ValueError, "num_output_channels must be 1 or 3"),
        (lambda: T.Pad((1, 2, 3)), ValueError, "padding must be an int"),
        (lambda: T.Pad(1, padding_mode="wrap"), ValueError, "padding_mode must be"),
        (lambda: TF.adjust_hue(TINY, 0.7), ValueError, r"hue_factor must be in \[-0.5, 0.5\]"),
        (lambda: TF.affine(TINY, 10, 3, 1.0, 0), ValueError, "translate must be a sequence"),
        (lambda: TF.rotate([1, 2], 10), TypeError, "rotate expects a PIL image"),
    ],
)  # fmt: skip
def test_errors_name_the_bad_value(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ------------------------------------------------- keys on BaseTransform and the basic four
MASK = (np.arange(6 * 7).reshape(6, 7) % 3).astype(np.uint8)


def test_to_tensor_normalize_and_transpose_take_keys_with_image_mask_label_tuples():
    image, mask, label = T.ToTensor(keys=("image", "mask"))((TINY, MASK, 4))
    assert torch.equal(image, torch.from_numpy(TINY.transpose(2, 0, 1).copy()).float() / 255)
    assert mask.dtype == torch.int64 and mask.tolist() == MASK.tolist() and label == 4
    _, mask = T.ToTensor(keys=("image", "mask"))((Image.fromarray(TINY), Image.fromarray(MASK)))
    assert mask.shape == (6, 7) and mask.dtype == torch.int64  # a PIL mask: H x W, not scaled
    _, mask = T.ToTensor(keys=("image", "mask"))((TINY, MASK[..., None]))
    assert mask.shape == (1, 6, 7)  # H x W x 1 -> 1 x H x W, as the image
    _, mask = T.ToTensor("HWC", keys=("image", "mask"))((TINY, MASK[..., None]))
    assert mask.shape == (6, 7, 1)

    chw = torch.from_numpy(TINY.transpose(2, 0, 1).copy()).float()
    image, mask, label = T.Normalize(127.5, 127.5, keys=("image", "mask"))((chw, MASK, "x"))
    assert torch.allclose(image, (chw - 127.5) / 127.5) and mask is MASK and label == "x"

    image, mask, label = T.Transpose(keys=("image", "mask"))((TINY, MASK, 4))
    assert image.shape == (3, 6, 7) and np.array_equal(mask, MASK) and label == 4
    _, mask = T.Transpose(keys=("image", "mask"))((TINY, MASK[..., None]))
    assert mask.shape == (1, 6, 7) and np.array_equal(mask[0], MASK)  # the same order
    _, mask = T.Transpose((1, 0, 2), keys=("image", "mask"))((TINY, torch.from_numpy(MASK)))
    assert torch.equal(mask, torch.from_numpy(MASK))  # 2 axes, an order of 3: as it is

    # a whole pipeline keeps the pairs together; the fast path refuses masks
    pipeline = T.Compose([T.Transpose(keys=("image", "mask")),
                          T.Normalize(0.0, 255.0, keys=("image", "mask"))])  # fmt: skip
    image, mask, label = pipeline((TINY, MASK, 1))
    assert image.dtype == np.float32 and image.shape == (3, 6, 7) and mask.shape == (6, 7)
    state = BatchPlanState("array", (3, 6, 7))
    with pytest.raises(NotBatchableError, match="transforms masks"):
        T.Transpose(keys=("image", "mask")).batched(state)
    with pytest.raises(NotImplementedError, match="'coords' is not supported"):
        T.Normalize(keys=("image", "coords"))


def test_a_plain_image_call_is_unchanged_and_old_style_subclasses_still_work():
    assert T.KeyedTransform is T.BaseTransform
    pil = Image.fromarray(TINY)
    assert torch.equal(T.ToTensor()(pil), torch.from_numpy(TINY.transpose(2, 0, 1).copy()) / 255)
    assert np.array_equal(T.Transpose()(pil), TINY.transpose(2, 0, 1))
    assert np.allclose(T.Normalize([1.0, 2.0, 3.0], 2.0, "HWC")(TINY), (TINY - [1, 2, 3]) / 2)
    for t in (T.ToTensor(), T.Normalize(), T.Transpose()):  # default keys stay out of the repr
        assert "keys" not in repr(t)
    # the default keys on a tuple: the image is transformed, the rest passes through (Paddle)
    image, label = T.ToTensor()((TINY, 5))
    assert image.shape == (3, 6, 7) and label == 5

    class Invert(T.BaseTransform):  # a subclass that defines only _apply(img), as before #18
        def _apply(self, img):
            return 255 - img

    assert np.array_equal(Invert()(TINY), 255 - TINY)
    out, label = Invert()((TINY, 2))
    assert np.array_equal(out, 255 - TINY) and label == 2
    with pytest.raises(NotImplementedError, match="cannot transform a 'mask'"):
        Invert(keys=("image", "mask"))
    with pytest.raises(TypeError, match="Invert expects a PIL image"):
        Invert()([1, 2])

    class Paddleish(T.BaseTransform):  # Paddle's style: keys through BaseTransform.__init__
        def __init__(self, keys=None):
            super().__init__(keys)

        def _apply_image(self, img, params):
            return img[::-1]

    image, mask = Paddleish(keys=("image", "mask"))((TINY, MASK))
    assert np.array_equal(image, TINY[::-1]) and mask is MASK  # masks pass by default
    with pytest.raises(NotImplementedError, match="neither _apply_image"):
        T.BaseTransform()(TINY)


def test_a_subclass_written_for_paddle_runs_unchanged():
    """The example of Paddle's ``BaseTransform`` docstring, its imports changed."""

    class CustomRandomFlip(T.BaseTransform):
        def __init__(self, prob=0.5, keys=None):
            super().__init__(keys)
            self.prob = prob

        def _get_params(self, inputs):
            image = inputs[self.keys.index("image")]
            return {"flip": np.random.random() < self.prob, "size": image.size}

        def _apply_image(self, image):
            return TF.hflip(image) if self.params["flip"] else image

        def _apply_coords(self, coords):
            if self.params["flip"]:
                coords[:, 0] = self.params["size"][0] - coords[:, 0]
            return coords

        def _apply_boxes(self, boxes):
            idxs = np.array([(0, 1), (2, 1), (0, 3), (2, 3)]).flatten()
            coords = np.asarray(boxes).reshape(-1, 4)[:, idxs].reshape(-1, 2)
            coords = self._apply_coords(coords).reshape((-1, 4, 2))
            return np.concatenate((coords.min(axis=1), coords.max(axis=1)), axis=1)

        def _apply_mask(self, mask):
            return TF.hflip(mask) if self.params["flip"] else mask

    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    assert np.array_equal(np.asarray(CustomRandomFlip(1.0)(img)), np.asarray(img)[:, ::-1])
    flip = CustomRandomFlip(1.0, keys=("image", "boxes", "mask"))
    image, boxes, mask = flip((img, np.array([[2, 3, 20, 30], [5, 6, 8, 10]]), img.convert("L")))
    assert boxes.tolist() == [[30, 3, 48, 30], [42, 6, 45, 10]]  # Paddle's numbers, scaled / 10
    assert np.array_equal(np.asarray(image), np.asarray(img)[:, ::-1])
    assert np.array_equal(np.asarray(mask), np.asarray(img.convert("L"))[:, ::-1])
    assert "params" not in repr(flip) and "prob=1.0" in repr(flip)
    with pytest.raises(NotImplementedError, match="'points' is not supported"):
        CustomRandomFlip(keys=("image", "points"))

    class NoMask(T.BaseTransform):
        def _apply_image(self, image):
            return image

    with pytest.raises(NotImplementedError, match="no _apply_mask"):
        NoMask(keys=("image", "mask"))
