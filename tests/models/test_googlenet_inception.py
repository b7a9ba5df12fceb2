"""GoogLeNet and InceptionV3 as ``paddle.vision.models`` defines them.

Every number marked "Paddle" below was measured once with real paddlepaddle 3.3.1 (CPU) on
``paddle.vision.models.googlenet(...)`` / ``inception_v3(...)``: parameter counts as
``sum(p.numel() for p in model.parameters())`` (Paddle counts BatchNorm statistics as
parameters: the "with statistics" numbers), state-dict keys and shapes from ``model.state_dict()``,
output shapes from ``model.eval()(paddle.rand(...))``, signatures from ``inspect.signature``.
No test imports paddle.
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
    GoogLeNet,
    InceptionV3,
    create_model,
    googlenet,
    inception_v3,
    main_output,
    model_info,
)
from resvision.models.googlenet import DownscaleInInferDropout
from resvision.models.weights import convert_state_dict


def _meta(build, **kwargs) -> nn.Module:
    with torch.device("meta"):  # counting and naming only: no memory, no initialisation cost
        return build(**kwargs)


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _n_with_statistics(model: nn.Module) -> int:
    return sum(
        t.numel() for k, t in model.state_dict().items() if not k.endswith("num_batches_tracked")
    )


def _paddle_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict as Paddle stores it, written here independently of the converter:
    BatchNorm statistics ``_mean``/``_variance``, no ``num_batches_tracked``, Linear ``[in, out]``."""
    out = {}
    for key, value in model.state_dict().items():
        head, _, leaf = key.rpartition(".")
        if leaf == "num_batches_tracked":
            continue
        leaf = {"running_mean": "_mean", "running_var": "_variance"}.get(leaf, leaf)
        out[f"{head}.{leaf}"] = value.t() if value.dim() == 2 else value
    return out


def _paddle_layout(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """Key -> shape as Paddle names them (:func:`_paddle_state`)."""
    return {key: tuple(value.shape) for key, value in _paddle_state(model).items()}


# ----------------------------------------------------------------------------- Paddle's facts
# (arguments) -> (parameters, parameters with BatchNorm statistics, state-dict keys), Paddle
PADDLE_COUNTS = {
    (googlenet, ()): (11_535_736, 11_535_736, 69),
    (googlenet, (("num_classes", 10),)): (8_491_486, 8_491_486, 69),
    (googlenet, (("num_classes", 0),)): (5_966_272, 5_966_272, 57),
    (inception_v3, ()): (23_834_568, 23_869_000, 472),
    (inception_v3, (("num_classes", 10),)): (21_806_058, 21_840_490, 472),
    (inception_v3, (("num_classes", 0),)): (21_785_568, 21_820_000, 470),
}

# Representative keys of the default models (1000 classes) and their shapes, Paddle
PADDLE_KEYS = {
    googlenet: {
        "_conv._conv.weight": (64, 3, 7, 7),
        "_conv_2._conv.weight": (192, 64, 3, 3),
        "_ince3a._conv5._conv.weight": (32, 16, 5, 5),
        "_ince5b._convprj._conv.weight": (128, 832, 1, 1),
        "_fc_out.weight": (1024, 1000),
        "_fc_out.bias": (1000,),
        "_conv_o1._conv.weight": (128, 512, 1, 1),
        "_fc_o1.weight": (1152, 1024),
        "_out2.weight": (1024, 1000),
    },
    inception_v3: {
        "inception_stem.conv_1a_3x3.0.weight": (32, 3, 3, 3),
        "inception_stem.conv_1a_3x3.1._mean": (32,),
        "inception_stem.conv_4a_3x3.1._variance": (192,),
        "inception_block_list.0.branch_pool_conv.0.weight": (32, 192, 1, 1),
        "inception_block_list.4.branch7x7_2.0.weight": (128, 128, 1, 7),
        "inception_block_list.8.branch7x7x3_4.0.weight": (192, 192, 3, 3),
        "inception_block_list.10.branch3x3dbl_3b.1._variance": (384,),
        "fc.weight": (2048, 1000),
        "fc.bias": (1000,),
    },
}
# first and last key of Paddle's state dict (its order), with and without a classifier
PADDLE_KEY_ENDS = {
    (googlenet, 1000): ("_conv._conv.weight", "_out2.bias"),
    (googlenet, 0): ("_conv._conv.weight", "_ince5b._convprj._conv.weight"),
    (inception_v3, 1000): ("inception_stem.conv_1a_3x3.0.weight", "fc.bias"),
    (inception_v3, 0): (
        "inception_stem.conv_1a_3x3.0.weight",
        "inception_block_list.10.branch_pool_conv.1._variance",
    ),
}

# Signatures (name, kind, default), Paddle
_PK, _VK = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.VAR_KEYWORD
_EMPTY = inspect.Parameter.empty
PADDLE_SIGNATURES = {
    GoogLeNet: [("num_classes", _PK, 1000), ("with_pool", _PK, True)],
    InceptionV3: [("num_classes", _PK, 1000), ("with_pool", _PK, True)],
    googlenet: [("pretrained", _PK, False), ("kwargs", _VK, _EMPTY)],
    inception_v3: [("pretrained", _PK, False), ("kwargs", _VK, _EMPTY)],
}


@pytest.fixture(scope="module")
def goog() -> GoogLeNet:
    torch.manual_seed(0)
    return googlenet().eval()


@pytest.fixture(scope="module")
def incep() -> InceptionV3:
    torch.manual_seed(0)
    return inception_v3().eval()


# ----------------------------------------------------------------------------- API and counts
@pytest.mark.parametrize("obj", list(PADDLE_SIGNATURES), ids=lambda o: o.__name__)
def test_signature_equals_paddles(obj) -> None:
    params = inspect.signature(obj).parameters.values()
    assert [(p.name, p.kind, p.default) for p in params] == PADDLE_SIGNATURES[obj]


@pytest.mark.parametrize(
    ("build", "kwargs"), list(PADDLE_COUNTS), ids=lambda v: getattr(v, "__name__", str(v))
)
def test_parameter_counts_and_key_count_equal_paddles(build, kwargs) -> None:
    params, with_statistics, keys = PADDLE_COUNTS[(build, kwargs)]
    model = _meta(build, **dict(kwargs))
    assert _n_params(model) == params
    assert _n_with_statistics(model) == with_statistics
    assert len(_paddle_layout(model)) == keys


@pytest.mark.parametrize("build", [googlenet, inception_v3], ids=lambda b: b.__name__)
@pytest.mark.parametrize("num_classes", [1000, 0])
def test_state_dict_keys_and_shapes_equal_paddles(build, num_classes: int) -> None:
    layout = _paddle_layout(_meta(build, num_classes=num_classes))
    assert (next(iter(layout)), list(layout)[-1]) == PADDLE_KEY_ENDS[(build, num_classes)]
    for key, shape in PADDLE_KEYS[build].items():
        if num_classes > 0 or not key.startswith(("_fc", "_out", "_conv_o", "fc.")):
            assert layout[key] == shape, key
        else:
            assert key not in layout
    # the library's own converter gives the same layout
    converted = convert_state_dict(
        _meta(build, num_classes=num_classes).state_dict(), target="paddle"
    )
    assert {k: tuple(v.shape) for k, v in converted.items()} == layout


def test_registry_entries() -> None:
    assert (model_info("googlenet").family, model_info("googlenet").input_size) == (
        "googlenet",
        (3, 224, 224),
    )
    assert (model_info("inception_v3").family, model_info("inception_v3").input_size) == (
        "inception",
        (3, 299, 299),
    )
    assert model_info("googlenet").num_classes == model_info("inception_v3").num_classes == 1000


# ----------------------------------------------------------------------------- outputs
def test_googlenet_returns_three_logits_in_eval_and_train(goog: GoogLeNet) -> None:
    x = torch.rand(2, 3, 192, 192)
    with torch.no_grad():
        outputs = goog(x)
        assert isinstance(outputs, tuple) and len(outputs) == 3
        assert [o.shape for o in outputs] == [(2, 1000)] * 3
        assert main_output(outputs) is outputs[0]
        torch.testing.assert_close(outputs[0], goog.forward_head(goog.forward_features(x)))
        goog.train()
        try:
            assert [o.shape for o in goog(x)] == [(2, 1000)] * 3
        finally:
            goog.eval()
    assert GoogLeNet.loss_weights == (1.0, 0.3, 0.3)


@pytest.mark.parametrize(
    ("kwargs", "size", "expected"),
    [  # Paddle, batch 2
        ({"num_classes": 0}, 192, [(2, 1024, 1, 1), (2, 512, 3, 3), (2, 528, 3, 3)]),
        ({"num_classes": -1, "with_pool": False}, 192, [(2, 1024, 5, 5), (2, 512, 11, 11), (2, 528, 11, 11)]),
        ({"num_classes": 7}, 192, [(2, 7)] * 3),
        ({"with_pool": False}, 64, [(2, 1000)] * 3),
    ],
)  # fmt: skip
def test_googlenet_output_shapes_equal_paddles(kwargs, size: int, expected) -> None:
    model = _meta(GoogLeNet, **kwargs).eval()
    outputs = model(torch.empty(2, 3, size, size, device="meta"))
    assert [tuple(o.shape) for o in outputs] == expected
    assert model.num_classes == kwargs.get("num_classes", 1000)


@pytest.mark.parametrize(
    ("kwargs", "size", "expected"),
    [  # Paddle, batch 2
        ({"num_classes": 0}, 107, (2, 2048, 1, 1)),
        ({"num_classes": -1, "with_pool": False}, 107, (2, 2048, 2, 2)),
        ({"with_pool": False}, 75, (2, 1000)),
        ({"with_pool": False}, 107, (8, 1000)),  # Paddle reshapes the 2x2 map to [-1, 2048]
        ({"num_classes": 7}, 75, (2, 7)),
    ],
)
def test_inception_v3_output_shapes_equal_paddles(kwargs, size: int, expected) -> None:
    model = _meta(InceptionV3, **kwargs).eval()
    assert tuple(model(torch.empty(2, 3, size, size, device="meta")).shape) == expected


def test_input_sizes_outside_what_paddle_accepts_fail_clearly() -> None:
    def image(size: int) -> torch.Tensor:
        return torch.empty(1, 3, size, size, device="meta")

    with pytest.raises(ValueError, match=r"189 to 236 px.*\(2, 2\)"):
        _meta(GoogLeNet).eval()(image(188))
    with pytest.raises(ValueError, match=r"at least 5x5.*\(3, 3\)"):
        _meta(GoogLeNet, num_classes=0).eval()(image(64))  # Paddle returns 1x1 maps there
    with pytest.raises(ValueError, match=r"1x1 final map.*\(5, 5\)"):
        _meta(GoogLeNet, with_pool=False).eval()(image(192))
    with pytest.raises(ValueError, match=r"at least 75x75.*\(74, 74\)"):
        _meta(InceptionV3, num_classes=0).eval()(image(74))


@pytest.mark.parametrize("build", [GoogLeNet, InceptionV3], ids=lambda b: b.__name__)
def test_num_classes_must_be_an_int(build) -> None:
    with pytest.raises(TypeError, match=r"10\.0"):
        build(num_classes=10.0)
    with pytest.raises(TypeError, match="True"):
        build(num_classes=True)


# ----------------------------------------------------------------------------- fine-tuning surface
def test_reset_classifier_of_a_headless_googlenet_builds_paddles_heads() -> None:
    model = _meta(GoogLeNet, num_classes=-1).eval()
    model.reset_classifier(5)
    assert model.num_classes == 5 and model.get_classifier().out_features == 5
    assert list(_paddle_layout(model)) == list(_paddle_layout(_meta(GoogLeNet, num_classes=5)))
    assert all(p.device.type == "meta" for p in model.parameters())  # where the model was
    x = torch.empty(1, 3, 192, 192, device="meta")
    assert [o.shape for o in model(x)] == [(1, 5)] * 3
    model.reset_classifier(0)  # every output becomes the 1024-wide pre-logits features
    assert [o.shape for o in model(x)] == [(1, 1024)] * 3


def test_reset_classifier_of_a_headless_inception_v3() -> None:
    model = _meta(InceptionV3, num_classes=0).eval()
    assert isinstance(model.get_classifier(), nn.Identity)
    model.reset_classifier(3)
    assert [k for k in model.state_dict() if k.startswith("fc.")] == ["fc.weight", "fc.bias"]
    assert model(torch.empty(1, 3, 75, 75, device="meta")).shape == (1, 3)


@pytest.mark.parametrize("which", ["goog", "incep"])
def test_pre_logits_is_what_the_classifier_receives(which: str, request) -> None:
    model = request.getfixturevalue(which)
    x = torch.rand(2, 3, 192, 192) if which == "goog" else torch.rand(2, 3, 75, 75)
    with torch.no_grad():
        features = model.forward_features(x)
        pre = model.forward_head(features, pre_logits=True)
        assert pre.shape == (2, model.num_features)
        torch.testing.assert_close(model.get_classifier()(pre), main_output(model(x)))


@pytest.mark.parametrize(
    ("build", "size", "maps"),
    [  # map sizes with Paddle's floored pools and unpadded convolutions
        (googlenet, 224, [112, 55, 27, 13, 6]),
        (inception_v3, 299, [147, 71, 35, 17, 8]),
    ],
    ids=["googlenet", "inception_v3"],
)
def test_feature_info_names_the_stages(build, size: int, maps: list[int]) -> None:
    model = _meta(build).eval()
    modules = dict(model.named_modules())
    seen: dict[str, torch.Size] = {}
    hooks = [
        modules[info.module].register_forward_hook(
            lambda m, i, o, name=info.module: seen.update({name: o.shape})  # returns None
        )
        for info in model.feature_info
    ]
    try:
        model.forward_features(torch.empty(1, 3, size, size, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    assert [seen[i.module][1] for i in model.feature_info] == [
        i.channels for i in model.feature_info
    ]
    assert [seen[i.module][-1] for i in model.feature_info] == maps
    assert [i.reduction for i in model.feature_info] == [2, 4, 8, 16, 32]
    assert model.feature_info[-1].channels == model.num_features


# ----------------------------------------------------------------------------- Paddle's dropout
def test_downscale_in_infer_dropout_is_paddles() -> None:
    x = torch.rand(10_000) + 1.0
    drop = DownscaleInInferDropout(0.4)
    torch.manual_seed(0)
    y = drop.train()(x)
    kept = y != 0
    assert torch.equal(y[kept], x[kept])  # unscaled in training
    assert 0.55 < kept.float().mean().item() < 0.65
    torch.testing.assert_close(drop.eval()(x), x * 0.6)
    with pytest.raises(ValueError, match=r"1\.5"):
        DownscaleInInferDropout(1.5)


def test_main_output_refuses_what_is_not_logits() -> None:
    with pytest.raises(TypeError, match="dict"):
        main_output({"out": torch.zeros(1)})


# ----------------------------------------------------------------------------- Paddle weights
def test_a_paddle_pdparams_file_loads_through_pretrained(goog: GoogLeNet, tmp_path: Path) -> None:
    # Written as paddle.save writes a state dict (a pickled dict of NumPy arrays, Linear weights
    # [in, out]); GoogLeNet has no BatchNorm, so only the file format says "Paddle".
    arrays = {}
    for key, value in goog.state_dict().items():
        array = value.numpy()
        arrays[key] = np.ascontiguousarray(array.T) if array.ndim == 2 else array
    path = tmp_path / "googlenet.pdparams"
    path.write_bytes(pickle.dumps(arrays, protocol=4))
    loaded = create_model("googlenet", pretrained=str(path)).eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), goog(x), rtol=0, atol=0)


def test_a_paddle_layout_state_dict_converts_and_loads_strictly(incep: InceptionV3) -> None:
    model = InceptionV3()
    missing, unexpected = model.load_state_dict(
        convert_state_dict(_paddle_state(incep), source="paddle"), strict=False
    )
    assert unexpected == [] and all(k.endswith("num_batches_tracked") for k in missing)
    x = torch.rand(1, 3, 75, 75)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), incep(x), rtol=0, atol=0)
