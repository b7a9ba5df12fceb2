"""ShuffleNetV2 and MobileNetV3 equal ``paddle.vision.models``: parameters, keys, shapes, logits.

The Paddle numbers below were computed once with real paddlepaddle 3.3.1 (CPU) in a separate
venv, never imported here:

- parameter counts: ``sum(p.size for p in model.parameters() if not p.stop_gradient)``, which is
  what ``paddle.summary`` prints as "Trainable params" (Paddle also lists the BatchNorm
  statistics as non-trainable parameters; PyTorch keeps them as buffers);
- state-dict keys and shapes: ``model.state_dict()`` of Paddle's builders with the default
  arguments (Linear weights ``[in, out]``, BatchNorm ``_mean``/``_variance``);
- output shapes: ``model.eval()(paddle.rand([2, 3, 224, 224])).shape``.

The logits themselves were compared with Paddle's for the same weights (a ``.pdparams`` written
by ``paddle.save`` and loaded through ``create_model(..., pretrained=path)``): max relative
difference < 2e-6 for every model and width here, with and without classifier and pooling.
``PADDLE_GOLDEN`` keeps a few of Paddle's logits for weights that the test rebuilds exactly, so
that CI checks the computation, not only the shapes, without Paddle.
"""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from resvision.models import (
    MobileNetV3Large,
    MobileNetV3Small,
    ShuffleNetV2,
    create_model,
    mobilenet_v3_large,
    mobilenet_v3_small,
    shufflenet_v2_swish,
    shufflenet_v2_x0_5,
    shufflenet_v2_x0_25,
    shufflenet_v2_x0_33,
    shufflenet_v2_x1_0,
    shufflenet_v2_x1_5,
    shufflenet_v2_x2_0,
)
from resvision.models.weights import convert_state_dict

SHUFFLENETS = [
    "shufflenet_v2_x0_25",
    "shufflenet_v2_x0_33",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "shufflenet_v2_swish",
]
MOBILENETS_V3 = ["mobilenet_v3_small", "mobilenet_v3_large"]

# Paddle 3.3.1, trainable parameters of the default builders.
PADDLE_PARAMS = {
    "shufflenet_v2_x0_25": 603_688,
    "shufflenet_v2_x0_33": 647_272,
    "shufflenet_v2_x0_5": 1_366_792,
    "shufflenet_v2_x1_0": 2_278_604,
    "shufflenet_v2_x1_5": 3_503_624,
    "shufflenet_v2_x2_0": 7_366_536,
    "shufflenet_v2_swish": 2_278_604,
    "mobilenet_v3_small": 2_542_856,
    "mobilenet_v3_large": 5_483_032,
}
# Paddle 3.3.1, other widths of MobileNetV3 (the rounding of every layer to multiples of 8).
PADDLE_SCALED_PARAMS = [
    ("mobilenet_v3_small", 0.35, 558_744),
    ("mobilenet_v3_small", 0.5, 917_264),
    ("mobilenet_v3_large", 0.75, 3_377_576),
    ("mobilenet_v3_large", 1.25, 8_164_744),
]
# torchvision's published num_params (its weights' meta): the same networks as Paddle's, except
# shufflenet_v2_x2_0, whose first stage torchvision makes 244 channels wide and Paddle 224.
TORCHVISION_PARAMS = {
    "shufflenet_v2_x0_5": 1_366_792,
    "shufflenet_v2_x1_0": 2_278_604,
    "shufflenet_v2_x1_5": 3_503_624,
    "shufflenet_v2_x2_0": 7_393_996,
    "mobilenet_v3_small": 2_542_856,
    "mobilenet_v3_large": 5_483_032,
}

# Paddle 3.3.1: number of state-dict keys (with, without a classifier) and a few of them, with
# Paddle's shapes.
PADDLE_KEY_COUNT = {
    "shufflenet_v2_x0_25": (282, 280),
    "mobilenet_v3_small": (210, 206),
    "mobilenet_v3_large": (266, 262),
}
PADDLE_KEYS = {
    "shufflenet_v2_x0_25": {
        "_conv1.0.weight": (24, 3, 3, 3),
        "_conv1.1._mean": (24,),
        "2_1._conv_dw_1.0.weight": (24, 1, 3, 3),
        "2_1._conv_linear_1.0.weight": (12, 24, 1, 1),
        "2_1._conv_pw_2.0.weight": (12, 24, 1, 1),
        "2_1._conv_dw_2.1._variance": (12,),
        "2_2._conv_pw.0.weight": (12, 12, 1, 1),
        "2_2._conv_dw.0.weight": (12, 1, 3, 3),
        "3_1._conv_dw_1.0.weight": (24, 1, 3, 3),
        "3_8._conv_linear.1._variance": (24,),
        "4_1._conv_pw_2.1._mean": (48,),
        "4_4._conv_linear.1.bias": (48,),
        "_last_conv.0.weight": (512, 96, 1, 1),
        "_fc.weight": (512, 1000),
        "_fc.bias": (1000,),
    },
    "mobilenet_v3_small": {
        "conv.0.weight": (16, 3, 3, 3),
        "conv.1._variance": (16,),
        "blocks.0.bottleneck_conv.0.weight": (16, 1, 3, 3),
        "blocks.0.mid_se.fc1.weight": (8, 16, 1, 1),
        "blocks.0.mid_se.fc2.weight": (16, 8, 1, 1),
        "blocks.1.expand_conv.0.weight": (72, 16, 1, 1),
        "blocks.1.linear_conv.0.weight": (24, 72, 1, 1),
        "blocks.3.bottleneck_conv.0.weight": (96, 1, 5, 5),
        "blocks.8.bottleneck_conv.1._mean": (288,),
        "blocks.10.mid_se.fc2.weight": (576, 144, 1, 1),
        "lastconv.0.weight": (576, 96, 1, 1),
        "classifier.0.weight": (576, 1024),
        "classifier.3.weight": (1024, 1000),
    },
    "mobilenet_v3_large": {
        "conv.0.weight": (16, 3, 3, 3),
        "blocks.0.bottleneck_conv.0.weight": (16, 1, 3, 3),
        "blocks.3.mid_se.fc1.weight": (24, 72, 1, 1),
        "blocks.3.mid_se.fc2.bias": (72,),
        "blocks.12.bottleneck_conv.0.weight": (672, 1, 5, 5),
        "blocks.14.linear_conv.1._variance": (160,),
        "lastconv.0.weight": (960, 160, 1, 1),
        "classifier.0.weight": (960, 1280),
        "classifier.3.weight": (1280, 1000),
        "classifier.3.bias": (1000,),
    },
}
# Paddle's absent keys: no expansion where it would keep the width, no SE in some blocks
PADDLE_ABSENT_KEYS = {
    "mobilenet_v3_small": ["blocks.0.expand_conv.0.weight", "blocks.1.mid_se.fc1.weight"],
    "mobilenet_v3_large": ["blocks.0.expand_conv.0.weight", "blocks.0.mid_se.fc1.weight"],
}

# Paddle 3.3.1 signatures: (name, kind, default); inspect.signature of paddle.vision.models.*
_PK, _VK = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.VAR_KEYWORD
_NONE = inspect.Parameter.empty
PADDLE_SIGNATURES = {
    ShuffleNetV2: [
        ("scale", _PK, 1.0),
        ("act", _PK, "relu"),
        ("num_classes", _PK, 1000),
        ("with_pool", _PK, True),
    ],
    MobileNetV3Small: [("scale", _PK, 1.0), ("num_classes", _PK, 1000), ("with_pool", _PK, True)],
    MobileNetV3Large: [("scale", _PK, 1.0), ("num_classes", _PK, 1000), ("with_pool", _PK, True)],
    **{
        fn: [("pretrained", _PK, False), ("kwargs", _VK, _NONE)]
        for fn in (
            shufflenet_v2_x0_25,
            shufflenet_v2_x0_33,
            shufflenet_v2_x0_5,
            shufflenet_v2_x1_0,
            shufflenet_v2_x1_5,
            shufflenet_v2_x2_0,
            shufflenet_v2_swish,
        )
    },
    mobilenet_v3_small: [("pretrained", _PK, False), ("scale", _PK, 1.0), ("kwargs", _VK, _NONE)],
    mobilenet_v3_large: [("pretrained", _PK, False), ("scale", _PK, 1.0), ("kwargs", _VK, _NONE)],
}


# Paddle 3.3.1's logits for the weights and the 64x64 input that ``hashed_weights`` and
# ``hashed_input`` give (no random generator, so they are the same on every platform): the
# first eight logits and the mean absolute logit. Our logits for the same file equal them to
# float32 precision (max difference 2.1e-7 then); an architecture that differs from Paddle's
# anywhere (split order, shuffle, activation, SE rounding) would not.
PADDLE_GOLDEN = {
    "shufflenet_v2_x0_25": (
        [
            0.0198958,
            -0.0056162,
            0.0155961,
            -0.1531508,
            0.0792485,
            -0.1912877,
            0.0387094,
            -0.0962775,
        ],
        0.08166873,
    ),
    "shufflenet_v2_swish": (
        [
            -0.0607021,
            -0.0670458,
            0.0176518,
            -0.018394,
            0.0736208,
            -0.0683324,
            0.0765653,
            -0.0734207,
        ],
        0.06058106,
    ),
    "mobilenet_v3_small": (
        [
            0.1133032,
            -0.0279577,
            -0.0897636,
            0.0076377,
            0.122648,
            -0.0695045,
            -0.0763727,
            -0.1411092,
        ],
        0.06085545,
    ),
    "mobilenet_v3_large": (
        [
            -0.0330737,
            0.0605339,
            0.0184951,
            -0.1310086,
            0.0072838,
            -0.0225498,
            -0.052299,
            -0.0979065,
        ],
        0.06057821,
    ),
}


def hashed_uniform(n: int, seed: int) -> np.ndarray:
    """``n`` values in [-1, 1) from an integer hash of (index, seed): exact on every platform."""
    mask = np.uint64(0xFFFFFFFF)
    h = (
        np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B1) + np.uint64(seed * 0x85EBCA6B)
    ) & mask
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x7FEB352D)) & mask
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x846CA68B)) & mask
    h ^= h >> np.uint64(16)
    return h.astype(np.float64) / 2.0**31 - 1.0


def hashed_weights(shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Paddle-layout arrays for every key (keys sorted, the position seeds the hash)."""
    out = {}
    for seed, key in enumerate(sorted(shapes)):
        shape = shapes[key]
        base = hashed_uniform(int(np.prod(shape)), seed).reshape(shape)
        if key.endswith("_variance"):
            value = 1 + 0.5 * base**2
        elif key.endswith("_mean"):
            value = 0.1 * base
        elif len(shape) == 1:  # BatchNorm scale, or a bias
            value = 1 + 0.2 * base if key.endswith("weight") else 0.1 * base
        else:  # conv [out, in, k, k] or Paddle's Linear [in, out]
            fan_in = shape[0] if len(shape) == 2 else int(np.prod(shape[1:]))
            value = base * np.sqrt(3.0 / fan_in)
        out[key] = value.astype(np.float32)
    return out


def hashed_input() -> torch.Tensor:
    return torch.from_numpy(hashed_uniform(3 * 64 * 64, 12345).reshape(1, 3, 64, 64)).float()


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def paddle_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What ``paddle.save`` would hold for these keys, written out independently of
    ``resvision.models.weights.convert``: BatchNorm ``_mean``/``_variance``, Linear ``[in, out]``,
    no ``num_batches_tracked``."""
    out = {}
    for key, value in state.items():
        head, _, leaf = key.rpartition(".")
        if leaf == "num_batches_tracked":
            continue
        leaf = {"running_mean": "_mean", "running_var": "_variance"}.get(leaf, leaf)
        out[f"{head}.{leaf}"] = value.t() if value.dim() == 2 else value
    return out


def randomize(model: nn.Module) -> nn.Module:
    """Random BatchNorm statistics and affine parameters, so that any mix-up changes outputs."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model.eval()


@pytest.mark.parametrize("name", SHUFFLENETS + MOBILENETS_V3)
def test_parameter_counts_equal_paddles(name: str) -> None:
    model = create_model(name)
    assert n_params(model) == PADDLE_PARAMS[name]
    if name in TORCHVISION_PARAMS and name != "shufflenet_v2_x2_0":
        assert n_params(model) == TORCHVISION_PARAMS[name]


def test_shufflenet_x2_0_is_paddles_not_torchvisions() -> None:
    model = shufflenet_v2_x2_0()
    assert model.feature_info[2].channels == 224  # torchvision (and the paper): 244
    assert PADDLE_PARAMS["shufflenet_v2_x2_0"] != TORCHVISION_PARAMS["shufflenet_v2_x2_0"]


@pytest.mark.parametrize(("name", "scale", "expected"), PADDLE_SCALED_PARAMS)
def test_mobilenet_v3_widths_round_as_paddles(name: str, scale: float, expected: int) -> None:
    assert n_params(create_model(name, scale=scale)) == expected


@pytest.mark.parametrize("name", list(PADDLE_KEYS))
def test_state_dict_keys_are_paddles_after_the_generic_renames(name: str) -> None:
    for num_classes, count in zip((1000, 0), PADDLE_KEY_COUNT[name]):
        keys = paddle_layout(create_model(name, num_classes=num_classes).state_dict())
        assert len(keys) == count
    shapes = {k: tuple(v.shape) for k, v in paddle_layout(create_model(name).state_dict()).items()}
    assert {k: shapes.get(k) for k in PADDLE_KEYS[name]} == PADDLE_KEYS[name]
    assert not set(PADDLE_ABSENT_KEYS.get(name, [])) & set(shapes)


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_25", "mobilenet_v3_small"])
def test_paddle_pdparams_loads_with_identical_outputs(name: str, tmp_path: Path) -> None:
    source = randomize(create_model(name))
    arrays = {k: v.numpy().copy() for k, v in paddle_layout(source.state_dict()).items()}
    path = tmp_path / f"{name}.pdparams"
    with open(path, "wb") as f:
        pickle.dump(arrays, f, protocol=4)  # what paddle.save writes: a pickled dict of arrays
    loaded = create_model(name, pretrained=path).eval()
    assert loaded.pretrained_cfg["file_format"] == "paddle"
    assert loaded.pretrained_cfg["skipped_keys"] == []
    assert all(k.endswith("num_batches_tracked") for k in loaded.pretrained_cfg["missing_keys"])
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), source(x))
    # and back: the converter writes exactly Paddle's keys and tensors
    back = convert_state_dict(loaded.state_dict(), target="paddle")
    assert back.keys() == arrays.keys()
    assert all(torch.equal(back[k], torch.from_numpy(arrays[k])) for k in arrays)


@pytest.mark.parametrize("name", list(PADDLE_GOLDEN))
def test_logits_equal_paddles_for_the_same_pdparams(name: str, tmp_path: Path) -> None:
    shapes = {k: tuple(v.shape) for k, v in paddle_layout(create_model(name).state_dict()).items()}
    path = tmp_path / f"{name}.pdparams"
    with open(path, "wb") as f:
        pickle.dump(hashed_weights(shapes), f, protocol=4)
    model = create_model(name, pretrained=path).eval()
    with torch.no_grad():
        logits = model(hashed_input())
    first, abs_mean = PADDLE_GOLDEN[name]
    torch.testing.assert_close(logits[0, :8], torch.tensor(first), rtol=0, atol=2e-6)
    assert logits.abs().mean().item() == pytest.approx(abs_mean, abs=1e-6)


@pytest.mark.parametrize(
    ("build", "channels"),
    [(shufflenet_v2_x0_25, 512), (mobilenet_v3_small, 576), (mobilenet_v3_large, 960)],
)
def test_outputs_without_classifier_or_pool_are_paddles(build, channels: int) -> None:
    x = torch.rand(2, 3, 224, 224) if channels != 960 else torch.rand(2, 3, 64, 64)
    side = x.shape[-1] // 32
    with torch.no_grad():
        pooled = build(num_classes=0).eval()
        assert pooled(x).shape == (2, channels, 1, 1)  # Paddle: [2, C, 1, 1]
        assert pooled.paddle_headless and isinstance(pooled.get_classifier(), nn.Identity)
        fmap = build(num_classes=-1, with_pool=False).eval()
        assert fmap(x).shape == (2, channels, side, side)  # Paddle at 224: [2, C, 7, 7]
        # with_pool=False and a classifier: the flattened map feeds the classifier, as in
        # Paddle, which fits a 1x1 map only (a 32x32 input)
        flat = build(with_pool=False).eval()
        assert flat(torch.rand(2, 3, 32, 32)).shape == (2, 1000)
        with pytest.raises(ValueError, match="with_pool=False"):
            flat(torch.rand(1, 3, 64, 64))


@pytest.mark.parametrize(("target", "expected"), list(PADDLE_SIGNATURES.items()))
def test_signatures_equal_paddles(target, expected) -> None:
    params = inspect.signature(target).parameters.values()
    assert [(p.name, p.kind, p.default) for p in params] == expected


@pytest.mark.parametrize(
    "build", [shufflenet_v2_x0_25, mobilenet_v3_small, mobilenet_v3_large], ids=lambda b: b.__name__
)
def test_feature_info_matches_a_forward_pass(build) -> None:
    model = build().eval()
    modules = dict(model.named_modules())
    seen: dict[str, torch.Size] = {}
    for info in model.feature_info:
        modules[info.module].register_forward_hook(
            lambda m, i, out, name=info.module: seen.__setitem__(name, out.shape)
        )
    with torch.no_grad():
        features = model.forward_features(torch.rand(1, 3, 64, 64))
    assert [info.module for info in model.feature_info] == list(seen)  # forward order
    for info in model.feature_info:
        assert seen[info.module][1] == info.channels
        assert 64 // seen[info.module][-1] == info.reduction
    assert [info.reduction for info in model.feature_info] == [2, 4, 8, 16, 32]
    assert features.shape[1] == model.feature_info[-1].channels


def test_shufflenet_activations() -> None:
    assert isinstance(ShuffleNetV2(scale=0.25)._conv1[2], nn.ReLU)
    swish = shufflenet_v2_swish()
    assert swish.act == "swish" and isinstance(swish._conv1[2], nn.SiLU)
    plain = ShuffleNetV2(scale=0.25, act=None)
    assert len(plain._conv1) == 2 and not any(isinstance(m, nn.ReLU) for m in plain.modules())
    assert plain.state_dict().keys() == ShuffleNetV2(scale=0.25).state_dict().keys()


def test_bad_arguments_are_refused_with_the_accepted_values() -> None:
    with pytest.raises(ValueError, match=r"scale must be one of \[0\.25, .*2\.0\], got 0\.3"):
        ShuffleNetV2(scale=0.3)
    with pytest.raises(ValueError, match=r"act must be 'relu', 'swish' or None, got 'gelu'"):
        ShuffleNetV2(act="gelu")
    with pytest.raises(TypeError, match="act='swish'"):
        shufflenet_v2_swish(act="relu")
    with pytest.raises(ValueError, match=r"scale .* must be a number > 0, got 0"):
        MobileNetV3Small(scale=0)
    with pytest.raises(TypeError, match="with_pool"):
        MobileNetV3Large(with_pool="no")
    with pytest.raises(TypeError, match="num_classes"):
        ShuffleNetV2(num_classes=10.0)


def test_shufflenet_head_keeps_paddles_names_through_reset_classifier() -> None:
    model = shufflenet_v2_x0_25(num_classes=10)
    model.reset_classifier(3)
    assert model.get_classifier() is model._fc and not hasattr(model, "fc")
    assert [k for k in model.state_dict() if "fc" in k] == ["_fc.weight", "_fc.bias"]
    assert model._fc.weight.shape == (3, 512)


def test_mobilenet_v3_head_keeps_its_hidden_layer() -> None:
    model = mobilenet_v3_small(num_classes=10).eval()
    hidden = model.classifier[0].weight.clone()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, 1024)
        model.reset_classifier(3)
        assert torch.equal(model.classifier[0].weight, hidden)
        assert model(x).shape == (2, 3) and model.get_classifier() is model.classifier[3]
        model.reset_classifier(0)
        assert model(x).shape == (2, model.num_features) == (2, 1024)


@pytest.mark.parametrize("build", [shufflenet_v2_x0_25, mobilenet_v3_small])
def test_reset_classifier_on_a_network_built_without_one(build) -> None:
    model = build(num_classes=0).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        model.reset_classifier(-1)  # still Paddle's head-less output
        assert model(x).dim() == 4 and model.num_classes == -1
        model.reset_classifier(5)  # now a classifier (MobileNetV3: Paddle's whole head)
        assert model(x).shape == (2, 5) and not model.paddle_headless
    assert n_params(model) == n_params(build(num_classes=5))
