"""DenseNet, SqueezeNet and AlexNet against ``paddle.vision.models`` (paddlepaddle 3.3.1).

Every number written here was read from real Paddle once, in a separate venv (no paddle import in
the tests): parameter counts are ``sum(p.numel() for p in net.parameters() if not
p.stop_gradient)`` (Paddle's ``parameters()`` also lists the BatchNorm statistics, e.g. 8,062,504
for densenet121), key names and shapes are ``net.state_dict()``, output shapes are ``net(x).shape``
in eval mode, and signatures are ``inspect.signature``. The logits themselves are compared with
Paddle's for the same ``.pdparams`` by ``benchmarks/paddle_zoo_check.py`` (max relative difference
< 2e-6 for all eight models, in ``benchmarks/results/paddle-zoo-check.json``).
The generic checks every model gets (gradients, state-dict round trip, ``reset_classifier``) are in
test_zoo.py.
"""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from resvision import models
from resvision.models.alexnet import DownscaleInInferDropout

EMPTY = inspect.Parameter.empty
VAR_KEYWORD = "**"

# inspect.signature of Paddle's classes and builders: (name, default); "**" for **kwargs.
PADDLE_SIGNATURES = {
    "DenseNet": [
        ("layers", 121),
        ("bn_size", 4),
        ("dropout", 0.0),
        ("num_classes", 1000),
        ("with_pool", True),
    ],
    "SqueezeNet": [("version", EMPTY), ("num_classes", 1000), ("with_pool", True)],
    "AlexNet": [("num_classes", 1000)],
    **{
        name: [("pretrained", False), ("kwargs", VAR_KEYWORD)]
        for name in (
            "densenet121",
            "densenet161",
            "densenet169",
            "densenet201",
            "densenet264",
            "squeezenet1_0",
            "squeezenet1_1",
            "alexnet",
        )
    },
}

# Trainable parameters of Paddle's model (torchvision publishes the same numbers for the
# families it has; it has no densenet264).
PADDLE_PARAMS = {
    ("densenet121", ()): 7_978_856,
    ("densenet161", ()): 28_681_000,
    ("densenet169", ()): 14_149_480,
    ("densenet201", ()): 20_013_928,
    ("densenet264", ()): 33_337_704,
    ("densenet121", (("num_classes", 0),)): 6_953_856,
    ("squeezenet1_0", ()): 1_248_424,
    ("squeezenet1_1", ()): 1_235_496,
    ("squeezenet1_1", (("num_classes", 7),)): 726_087,
    ("alexnet", ()): 61_100_840,
    ("alexnet", (("num_classes", 0),)): 2_469_696,
    ("alexnet", (("num_classes", 10),)): 57_044_810,
}

# Number of tensors in Paddle's state dict, and a few of them with their shapes (Paddle layout:
# BatchNorm _mean/_variance, Linear weights [in, out]).
PADDLE_KEY_COUNT = {
    "densenet121": 606,
    "densenet161": 806,
    "densenet169": 846,
    "densenet201": 1006,
    "densenet264": 1326,
    "squeezenet1_0": 52,
    "squeezenet1_1": 52,
    "alexnet": 16,
}
PADDLE_KEYS = {
    "densenet121": {
        "conv1_func._conv.weight": (64, 3, 7, 7),
        "conv1_func._batch_norm._mean": (64,),
        "db_conv_2.conv2_1.bn_ac_func1._batch_norm.weight": (64,),
        "db_conv_2.conv2_6.bn_ac_func2._conv.weight": (32, 128, 3, 3),
        "tr_conv2_blk.conv_ac_func._conv.weight": (128, 256, 1, 1),
        "tr_conv4_blk.conv_ac_func._batch_norm._variance": (1024,),
        "db_conv_5.conv5_16.bn_ac_func1._conv.weight": (128, 992, 1, 1),
        "batch_norm._variance": (1024,),
        "out.weight": (1024, 1000),
        "out.bias": (1000,),
    },
    "densenet161": {
        "conv1_func._conv.weight": (96, 3, 7, 7),
        "db_conv_4.conv4_36.bn_ac_func2._conv.weight": (48, 192, 3, 3),
        "batch_norm.weight": (2208,),
        "out.weight": (2208, 1000),
    },
    "densenet169": {
        "db_conv_5.conv5_32.bn_ac_func1._conv.weight": (128, 1632, 1, 1),
        "out.weight": (1664, 1000),
    },
    "densenet201": {
        "db_conv_4.conv4_48.bn_ac_func1._batch_norm._mean": (1760,),
        "out.weight": (1920, 1000),
    },
    "densenet264": {
        "db_conv_4.conv4_64.bn_ac_func1._conv.weight": (128, 2272, 1, 1),
        "tr_conv4_blk.conv_ac_func._conv.weight": (1152, 2304, 1, 1),
        "out.weight": (2688, 1000),
    },
    "squeezenet1_0": {
        "_conv.weight": (96, 3, 7, 7),
        "_conv1._conv._conv.weight": (16, 96, 1, 1),
        "_conv4._conv_path2._conv.bias": (128,),
        "_conv8._conv_path2._conv.weight": (256, 64, 3, 3),
        "_conv9.weight": (1000, 512, 1, 1),
        "_conv9.bias": (1000,),
    },
    "squeezenet1_1": {
        "_conv.weight": (64, 3, 3, 3),
        "_conv1._conv._conv.weight": (16, 64, 1, 1),
        "_conv9.weight": (1000, 512, 1, 1),
    },
    "alexnet": {
        "_conv1._conv.weight": (64, 3, 11, 11),
        "_conv2._conv.bias": (192,),
        "_conv3.weight": (384, 192, 3, 3),
        "_conv4.weight": (256, 384, 3, 3),
        "_conv5._conv.weight": (256, 256, 3, 3),
        "_fc6.weight": (9216, 4096),
        "_fc7.bias": (4096,),
        "_fc8.weight": (4096, 1000),
    },
}

# Paddle's output shapes in eval mode for a [2, 3, size, size] input.
PADDLE_OUTPUT_SHAPES = [
    ("densenet121", {"num_classes": 0}, 64, (2, 1024, 1, 1)),
    ("densenet121", {"num_classes": -1}, 64, (2, 1024, 1, 1)),
    ("squeezenet1_0", {"with_pool": False}, 64, (2, 1000, 2, 2)),
    ("squeezenet1_0", {"num_classes": 0}, 64, (2, 512)),
    ("squeezenet1_0", {"num_classes": 0, "with_pool": False}, 64, (2, 512, 2, 2)),
    ("squeezenet1_0", {"num_classes": 0, "with_pool": False}, 224, (2, 512, 12, 12)),
    ("squeezenet1_1", {"with_pool": False}, 64, (2, 1000, 3, 3)),
    ("squeezenet1_1", {"num_classes": 0, "with_pool": False}, 224, (2, 512, 13, 13)),
    ("squeezenet1_1", {"num_classes": 10}, 64, (2, 10)),
    ("alexnet", {}, 224, (2, 1000)),
    ("alexnet", {"num_classes": 0}, 64, (2, 256, 1, 1)),
    ("alexnet", {"num_classes": -1}, 224, (2, 256, 6, 6)),
]


def _paddle_layout(name: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A resvision state dict renamed to Paddle's documented layout, independently of
    resvision's converter: BatchNorm ``_mean``/``_variance``, no ``num_batches_tracked``,
    Linear weights ``[in, out]``, DenseNet's classifier named ``out``."""
    out = {}
    for key, value in state.items():
        head, _, leaf = key.rpartition(".")
        if leaf == "num_batches_tracked":
            continue
        leaf = {"running_mean": "_mean", "running_var": "_variance"}.get(leaf, leaf)
        if name.startswith("densenet") and head == "fc":
            head = "out"
        out[f"{head}.{leaf}"] = value.t() if value.dim() == 2 else value
    return out


def _signature(fn: object) -> list[tuple[str, object]]:
    params = inspect.signature(fn).parameters.values()  # type: ignore[arg-type]
    return [(p.name, VAR_KEYWORD if p.kind is p.VAR_KEYWORD else p.default) for p in params]


@pytest.mark.parametrize("name", sorted(PADDLE_SIGNATURES))
def test_signature_is_paddles(name: str) -> None:
    fn = getattr(models, name)
    assert _signature(fn) == PADDLE_SIGNATURES[name]
    kinds = {p.kind for p in inspect.signature(fn).parameters.values()}
    assert inspect.Parameter.KEYWORD_ONLY not in kinds  # Paddle takes them positionally too


@pytest.mark.parametrize(("name", "kwargs"), sorted(PADDLE_PARAMS))
def test_parameter_count_is_paddles(name: str, kwargs: tuple) -> None:
    with torch.device("meta"):  # shapes only
        net = getattr(models, name)(**dict(kwargs))
    assert sum(p.numel() for p in net.parameters()) == PADDLE_PARAMS[(name, kwargs)]


@pytest.mark.parametrize("name", sorted(PADDLE_KEY_COUNT))
def test_state_dict_keys_are_paddles(name: str) -> None:
    with torch.device("meta"):
        state = getattr(models, name)().state_dict()
    paddle = {k: tuple(v.shape) for k, v in _paddle_layout(name, state).items()}
    assert len(paddle) == PADDLE_KEY_COUNT[name]
    for key, shape in PADDLE_KEYS[name].items():
        assert paddle.get(key) == shape, key


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("densenet121", {}),
        ("densenet121", {"num_classes": 0}),
        ("squeezenet1_1", {}),
        ("alexnet", {"num_classes": 0}),  # its 57M-parameter classifier: same code as densenet's
    ],
)
def test_a_pdparams_file_loads_every_tensor(name: str, kwargs: dict, tmp_path: Path) -> None:
    """A ``.pdparams`` (a pickled dict of NumPy arrays, Paddle's format) in Paddle's layout
    loads through ``pretrained=`` with every tensor in place: the keys are Paddle's."""
    torch.manual_seed(0)
    source = getattr(models, name)(**kwargs)
    with torch.no_grad():
        for buffer in source.buffers():
            if buffer.is_floating_point():
                buffer.uniform_(0.5, 1.5)  # statistics that differ from a fresh network's
    path = tmp_path / f"{name}.pdparams"
    arrays = {k: v.numpy().copy() for k, v in _paddle_layout(name, source.state_dict()).items()}
    path.write_bytes(pickle.dumps(arrays, protocol=4))
    torch.manual_seed(1)
    net = getattr(models, name)(pretrained=str(path), **kwargs)
    assert net.pretrained_cfg["skipped_keys"] == []
    assert all(k.endswith("num_batches_tracked") for k in net.pretrained_cfg["missing_keys"])
    expected = source.state_dict()
    for key, value in net.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            torch.testing.assert_close(value, expected[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize(("name", "kwargs", "size", "shape"), PADDLE_OUTPUT_SHAPES)
def test_output_shape_is_paddles(name: str, kwargs: dict, size: int, shape: tuple) -> None:
    with torch.device("meta"):  # shapes only: no memory, no arithmetic
        net = getattr(models, name)(**kwargs).eval()
        assert tuple(net(torch.rand(2, 3, size, size)).shape) == shape


def test_densenet_without_pooling_returns_the_map_where_paddle_fails() -> None:
    # Paddle 3.3's DenseNet raises UnboundLocalError for with_pool=False; resvision returns the
    # map without classifier, and flattens it into the classifier otherwise (Paddle's ResNet).
    net = models.densenet121(with_pool=False, num_classes=0).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 3, 64, 64)).shape == (2, 1024, 2, 2)
        net.reset_classifier(-1)  # no classifier to remove: still Paddle's output (the zoo's rule)
        assert net(torch.rand(2, 3, 64, 64)).shape == (2, 1024, 2, 2)
        net.reset_classifier(5)
        assert net(torch.rand(2, 3, 32, 32)).shape == (2, 5)
        with pytest.raises(ValueError, match="flattened 1x1 feature map, got a 2x2 map"):
            net(torch.rand(2, 3, 64, 64))


def test_a_headless_densenet_keeps_paddles_output_after_pretrained_loading() -> None:
    """Loading a full checkpoint into ``num_classes=0`` skips the classifier and calls
    ``reset_classifier(0)``: the output stays Paddle's ``[N, C, 1, 1]``."""
    source = models.densenet121(num_classes=3)
    with pytest.warns(UserWarning, match="classifier"):
        net = models.densenet121(num_classes=0, pretrained=source.state_dict()).eval()
    assert net.pretrained_cfg["skipped_keys"] == ["fc.bias", "fc.weight"]
    with torch.no_grad():
        assert net(torch.rand(1, 3, 64, 64)).shape == (1, 1024, 1, 1)


def test_paddles_dropout_mode_is_used_where_paddle_uses_it() -> None:
    # downscale_in_infer: inference scales by 1 - p; training zeroes without rescaling.
    drop = DownscaleInInferDropout(0.25)
    x = torch.rand(1000) + 1.0
    assert torch.equal(drop.eval()(x), x * 0.75)
    kept = drop.train()(x)
    mask = kept != 0
    assert 0 < mask.sum() < 1000
    torch.testing.assert_close(kept[mask], x[mask])  # not rescaled (nn.Dropout would: x / 0.75)
    with torch.device("meta"):
        alexnet = models.AlexNet()
        squeezenet = models.SqueezeNet("1.1")
        densenet = models.DenseNet(121, dropout=0.2)
        plain = models.densenet121()
    layers = [alexnet._drop1, alexnet._drop2, squeezenet._drop]
    layers += [densenet.db_conv_3.conv3_1.dropout_func]
    assert all(type(layer) is DownscaleInInferDropout and layer.p > 0 for layer in layers)
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())


@pytest.mark.parametrize(
    ("name", "size", "spatial", "reductions"),
    [
        ("densenet121", 64, [32, 16, 8, 4, 2], [2, 4, 8, 16, 32]),
        # no stem padding and floor pools: the maps are a little smaller than size / reduction
        ("squeezenet1_0", 224, [109, 54, 26, 12], [2, 4, 8, 16]),
        ("squeezenet1_1", 224, [112, 55, 27, 13], [2, 4, 8, 16]),
        ("alexnet", 224, [55, 27, 13, 6], [4, 8, 16, 32]),
    ],
)
def test_feature_info_matches_the_feature_maps(
    name: str, size: int, spatial: list[int], reductions: list[int]
) -> None:
    with torch.device("meta"):
        net = getattr(models, name)().eval()
    modules = dict(net.named_modules())
    seen: dict[str, tuple[int, ...]] = {}

    def record(key: str) -> object:
        def hook(_module: nn.Module, _args: object, out: torch.Tensor) -> None:
            seen[key] = tuple(out.shape)

        return hook

    for info in net.feature_info:
        modules[info.module].register_forward_hook(record(info.module))
    net(torch.rand(1, 3, size, size, device="meta"))
    assert [seen[i.module][1] for i in net.feature_info] == [i.channels for i in net.feature_info]
    assert [seen[i.module][2] for i in net.feature_info] == spatial
    assert [i.reduction for i in net.feature_info] == reductions


def test_squeezenet_classifier_answers_like_a_linear_layer() -> None:
    net = models.squeezenet1_0(num_classes=10)
    head = net.get_classifier()
    assert (head.in_features, head.out_features) == (512, 10)
    net.reset_classifier(0)
    with torch.no_grad():
        assert net.eval()(torch.rand(1, 3, 64, 64)).shape == (1, 512)


def test_alexnet_built_headless_gets_paddles_whole_classifier_on_reset() -> None:
    with torch.device("meta"):
        net = models.alexnet(num_classes=0)
        assert net.num_features == 256 * 6 * 6 and net.num_classes == 0
        net.reset_classifier(4)
        assert net.eval()(torch.rand(1, 3, 224, 224)).shape == (1, 4)
    assert net.num_features == 4096 and net.num_classes == 4
    assert [k for k in net.state_dict() if k.startswith("_fc")] == [
        f"_fc{i}.{p}" for i in (6, 7, 8) for p in ("weight", "bias")
    ]


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: models.SqueezeNet("1_0"), ValueError, r"'1\.0', '1\.1'.*'1_0'"),
        (lambda: models.DenseNet(layers=100), ValueError, r"\[121, 161, 169, 201, 264\].*100"),
        (lambda: models.DenseNet(dropout=1.5), ValueError, "1.5"),
        (lambda: models.densenet121(num_classes=10.0), TypeError, r"10\.0"),
        (lambda: models.alexnet(num_classes="10"), TypeError, "'10'"),
    ],
)
def test_bad_arguments_are_refused_with_the_accepted_values(build, error, match) -> None:
    with pytest.raises(error, match=match):
        build()


def test_registry_entries() -> None:
    names = models.list_models(family="densenet") + models.list_models(family="squeezenet")
    names += models.list_models(family="alexnet")
    assert sorted(names) == sorted(PADDLE_KEY_COUNT)
    for name in names:
        info = models.model_info(name)
        assert (info.input_size, info.num_classes) == ((3, 224, 224), 1000)
