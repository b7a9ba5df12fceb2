"""torchvision's layout for the zoo families added with Paddle's model zoo.

DenseNet, MobileNetV3, ShuffleNetV2, AlexNet, InceptionV3 and ResNeXt are the same functions in
torchvision and in resvision (Paddle's networks): ``convert_state_dict`` reads and writes
torchvision's keys, and for AlexNet and InceptionV3 moves the evaluation-time dropout scale
(and InceptionV3's BatchNorm eps) into the tensors it affects. SqueezeNet, GoogLeNet and
torchvision's ShuffleNetV2 x2.0 are other networks and are refused with the reason.

The tests without torchvision check key names and shapes against torchvision's spelled out
here, round trips (resvision -> torchvision -> resvision) and loading through ``create_model``;
the ones at the end compare logits with real torchvision models and skip where it is absent
(``benchmarks/torchvision_zoo_check.py`` records the numbers at full size).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resvision.models import create_model, list_models, model_info
from resvision.models.weights import (
    PretrainedWeightsError,
    convert_state_dict,
    detect_source_format,
)

# family test model -> (input size for the output checks, torchvision keys and shapes)
CASES: dict[str, tuple[int, dict[str, tuple[int, ...]]]] = {
    "densenet121": (
        32,
        {
            "features.conv0.weight": (64, 3, 7, 7),
            "features.norm0.running_var": (64,),
            "features.denseblock1.denselayer1.norm1.weight": (64,),
            "features.denseblock4.denselayer16.conv2.weight": (32, 128, 3, 3),
            "features.transition3.conv.weight": (512, 1024, 1, 1),
            "features.norm5.running_mean": (1024,),
            "classifier.weight": (1000, 1024),
        },
    ),
    "mobilenet_v3_small": (
        32,
        {
            "features.0.0.weight": (16, 3, 3, 3),
            "features.1.block.0.0.weight": (16, 1, 3, 3),  # no expansion in the first block
            "features.1.block.1.fc1.weight": (8, 16, 1, 1),
            "features.1.block.2.1.running_var": (16,),
            "features.2.block.2.0.weight": (24, 72, 1, 1),  # expansion, no squeeze-excitation
            "features.11.block.3.0.weight": (96, 576, 1, 1),
            "features.12.0.weight": (576, 96, 1, 1),
            "classifier.0.weight": (1024, 576),
            "classifier.3.weight": (1000, 1024),
        },
    ),
    "mobilenet_v3_large": (
        32,
        {
            "features.1.block.1.0.weight": (16, 16, 1, 1),
            "features.4.block.2.fc2.weight": (72, 24, 1, 1),
            "features.15.block.3.1.bias": (160,),
            "features.16.0.weight": (960, 160, 1, 1),
            "classifier.0.weight": (1280, 960),
        },
    ),
    "shufflenet_v2_x0_25": (  # Paddle's widths 24, 48, 96, 512 (no torchvision builder)
        32,
        {
            "conv1.0.weight": (24, 3, 3, 3),
            "stage2.0.branch1.0.weight": (24, 1, 3, 3),
            "stage2.0.branch1.2.weight": (12, 24, 1, 1),
            "stage2.0.branch2.3.weight": (12, 1, 3, 3),
            "stage3.7.branch2.6.running_var": (24,),
            "stage4.3.branch2.5.weight": (48, 48, 1, 1),
            "conv5.1.weight": (512,),
            "fc.weight": (1000, 512),
        },
    ),
    "shufflenet_v2_x2_0": (  # Paddle's x2_0: a 224-wide first stage (torchvision's: 244)
        32,
        {"stage2.0.branch1.2.weight": (112, 24, 1, 1), "conv5.0.weight": (2048, 976, 1, 1)},
    ),
    "alexnet": (
        63,
        {
            "features.0.weight": (64, 3, 11, 11),
            "features.3.bias": (192,),
            "features.10.weight": (256, 256, 3, 3),
            "classifier.1.weight": (4096, 9216),
            "classifier.4.weight": (4096, 4096),
            "classifier.6.bias": (1000,),
        },
    ),
    "inception_v3": (
        75,
        {
            "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
            "Conv2d_4a_3x3.bn.running_var": (192,),
            "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
            "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
            "Mixed_6e.branch7x7dbl_5.bn.weight": (192,),
            "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
            "Mixed_7c.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
            "fc.weight": (1000, 2048),
        },
    ),
    "resnext50_32x4d": (
        32,
        {
            "conv1.weight": (64, 3, 7, 7),
            "layer1.0.conv2.weight": (128, 4, 3, 3),
            "layer4.2.bn3.running_var": (2048,),
            "layer1.0.downsample.0.weight": (256, 64, 1, 1),
            "fc.weight": (1000, 2048),
        },
    ),
}

# torchvision's published parameter counts (its weights' num_params) for the same networks
TORCHVISION_PARAMS = {
    "densenet121": 7_978_856,
    "densenet161": 28_681_000,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "mobilenet_v3_small": 2_542_856,
    "mobilenet_v3_large": 5_483_032,
    "shufflenet_v2_x0_5": 1_366_792,
    "shufflenet_v2_x1_0": 2_278_604,
    "shufflenet_v2_x1_5": 3_503_624,
    "alexnet": 61_100_840,
    "inception_v3": 23_834_568,  # torchvision's 27,161,264 less its AuxLogits (3,326,696)
    "resnext50_32x4d": 25_028_904,
    "resnext101_64x4d": 83_455_272,
}

INCEPTION_RESCALED = ("running_var", "fc.weight")  # converted within float32 rounding


def randomize(model: nn.Module) -> nn.Module:
    """Random BatchNorm statistics and affine parameters and Linear biases, so that any mix-up
    changes outputs."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            elif isinstance(m, nn.Linear):
                m.bias.uniform_(-0.5, 0.5)
    return model.eval()


def tensors_equal(name: str, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if name == "inception_v3" and key.endswith(INCEPTION_RESCALED):
            torch.testing.assert_close(a[key], b[key], rtol=1e-6, atol=0, msg=key)
        else:
            assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("name", list(CASES))
def test_torchvision_keys_shapes_and_count(name: str) -> None:
    with torch.device("meta"):
        state = create_model(name).state_dict()
    tv = convert_state_dict(state, target="torchvision")
    assert len(tv) == len(state)  # one to one: nothing dropped or added
    spelled = CASES[name][1]
    assert {k: tuple(tv[k].shape) for k in spelled if k in tv} == spelled
    assert detect_source_format(tv) == "torchvision"


@pytest.mark.parametrize("name", list(CASES))
def test_torchvision_layout_round_trips_and_loads_with_identical_outputs(name: str) -> None:
    size, _ = CASES[name]
    torch.manual_seed(0)
    source = randomize(create_model(name))
    state = source.state_dict()
    tv = convert_state_dict(state, target="torchvision")
    tensors_equal(name, convert_state_dict(tv, source="torchvision"), state)
    # a user's path: create_model detects the layout and converts
    loaded = create_model(name, pretrained=tv).eval()
    assert loaded.pretrained_cfg["source_format"] == "torchvision"
    assert loaded.pretrained_cfg["skipped_keys"] == []
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected, got = source(x), loaded(x)
    if name == "inception_v3":
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    else:
        assert torch.equal(got, expected)


def test_alexnet_moves_paddles_dropout_scale_into_fc6_and_fc7_exactly() -> None:
    with torch.device("meta"):
        keys = create_model("alexnet").state_dict().keys()
    state = {k: torch.full((2,), 3.0) for k in keys}
    tv = convert_state_dict(state, target="torchvision")
    # Paddle's eval-time dropout halves fc6's and fc7's inputs; torchvision's is the identity
    assert tv["classifier.1.weight"].tolist() == [1.5, 1.5]
    assert tv["classifier.4.weight"].tolist() == [1.5, 1.5]
    assert tv["classifier.6.weight"].tolist() == [3.0, 3.0]
    assert tv["classifier.1.bias"].tolist() == [3.0, 3.0]
    assert state["_fc6.weight"].tolist() == [3.0, 3.0]  # the input is not changed


def test_inception_moves_eps_and_dropout_and_leaves_out_auxlogits() -> None:
    with torch.device("meta"):
        keys = create_model("inception_v3").state_dict().keys()
    state = {k: torch.ones(1) for k in keys}
    tv = convert_state_dict(state, target="torchvision")
    # torchvision: BatchNorm eps 1e-3 (here 1e-5), dropout identity in eval (here x 0.8)
    assert tv["Mixed_5b.branch1x1.bn.running_var"].item() == pytest.approx(1 - 0.00099)
    assert tv["Mixed_5b.branch1x1.bn.running_mean"].item() == 1.0
    assert tv["fc.weight"].item() == pytest.approx(0.8)
    tv["AuxLogits.fc.weight"] = torch.zeros(1000, 768)  # torchvision's training-only head
    back = convert_state_dict(tv, source="torchvision")
    assert back.keys() == state.keys()


def test_densenets_oldest_torchvision_spelling_loads() -> None:
    """torchvision's first DenseNet files spell ``norm.1`` / ``conv.2`` for ``norm1`` / ``conv2``."""
    tv = {
        "features.conv0.weight": torch.zeros(1),
        "features.denseblock1.denselayer1.norm.1.weight": torch.zeros(1),
        "features.denseblock2.denselayer3.conv.2.weight": torch.zeros(1),
    }
    assert sorted(convert_state_dict(tv, source="torchvision")) == [
        "conv1_func._conv.weight",
        "db_conv_2.conv2_1.bn_ac_func1._batch_norm.weight",
        "db_conv_3.conv3_3.bn_ac_func2._conv.weight",
    ]


def test_headless_networks_convert_both_ways() -> None:
    for name in ("mobilenet_v3_small", "shufflenet_v2_x0_25", "alexnet", "densenet121"):
        with torch.device("meta"):
            state = create_model(name, num_classes=0).state_dict()
        tv = convert_state_dict(state, target="torchvision")
        assert convert_state_dict(tv, source="torchvision").keys() == state.keys(), name


# torchvision keys of the networks that are not Paddle's, spelled from torchvision's sources
TORCHVISION_OTHER_NETWORKS = {
    "squeezenet1_0": (
        {
            "features.0.weight": (96, 3, 7, 7),
            "features.3.squeeze.weight": (16, 96, 1, 1),
            "features.3.expand1x1.weight": (64, 16, 1, 1),
            "classifier.1.weight": (1000, 512, 1, 1),
        },
        "ceil_mode",
    ),
    "googlenet": (
        {
            "conv1.conv.weight": (64, 3, 7, 7),
            "conv1.bn.running_var": (64,),
            "inception3a.branch1.conv.weight": (64, 192, 1, 1),
            "fc.weight": (1000, 1024),
        },
        "BatchNorm",
    ),
    "shufflenet_v2_x2_0": (
        {
            "conv1.0.weight": (24, 3, 3, 3),
            "stage2.0.branch1.2.weight": (122, 24, 1, 1),
            "conv5.0.weight": (2048, 976, 1, 1),
        },
        "244",
    ),
}


@pytest.mark.parametrize("name", list(TORCHVISION_OTHER_NETWORKS))
def test_torchvisions_other_networks_are_refused_with_the_reason(name: str) -> None:
    shapes, reason = TORCHVISION_OTHER_NETWORKS[name]
    state = {k: torch.zeros(shape) for k, shape in shapes.items()}
    assert detect_source_format(state) == "torchvision"
    with pytest.raises(ValueError, match=reason):
        convert_state_dict(state)
    with pytest.raises(PretrainedWeightsError, match=reason):
        create_model(name, pretrained=state)


@pytest.mark.parametrize(("name", "reason"), [("squeezenet1_1", "ceil_mode"), ("googlenet", "5x5")])
def test_writing_squeezenet_or_googlenet_for_torchvision_is_refused(name: str, reason: str) -> None:
    with torch.device("meta"):
        state = create_model(name).state_dict()
    with pytest.raises(ValueError, match=rf"{reason}.*target='paddle' or 'resvision'"):
        convert_state_dict(state, target="torchvision")
    assert convert_state_dict(state, target="paddle")  # Paddle's layout is theirs


# One model per distinct key layout: the torchvision patterns must not catch resvision's keys.
LAYOUT_REPRESENTATIVES = {
    "airnet": "airnet",
    "alexnet": "alexnet",
    "cifar_resnet": "resnet20",
    "densenet": "densenet121",
    "googlenet": "googlenet",
    "inception": "inception_v3",
    "lenet": "lenet",
    "mobilenet": ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small"),
    "resnet": ("resnet18", "resnet50", "resnext50_32x4d"),
    "shufflenet": "shufflenet_v2_x0_25",
    "squeezenet": "squeezenet1_0",
    "vgg": ("vgg11", "vgg11_bn"),
}


def test_resvision_keys_of_every_family_are_not_taken_for_torchvisions() -> None:
    families = {model_info(name).family for name in list_models()}
    assert families <= set(LAYOUT_REPRESENTATIVES), "add the new family here"
    for names in LAYOUT_REPRESENTATIVES.values():
        for name in (names,) if isinstance(names, str) else names:
            for num_classes in (1000, 0):  # 0: Paddle's headless form, where the model has it
                with torch.device("meta"):
                    try:
                        state = create_model(name, num_classes=num_classes).state_dict()
                    except ValueError:
                        continue
                assert detect_source_format(state) == "resvision", (name, num_classes)


@pytest.mark.parametrize("name", list(TORCHVISION_PARAMS))
def test_parameter_counts_equal_torchvisions_published_ones(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[name]


# ------------------------------------------------------------------ against real torchvision
def _torchvision_models():
    try:
        return __import__("torchvision.models", fromlist=["models"])
    except Exception as err:  # not installed, or built for another torch (fails on import)
        pytest.skip(f"torchvision is not usable here ({type(err).__name__}: {err})")


# torchvision builders of the same networks, and the input size of the check
SAME_NETWORKS = {
    "densenet121": 32,
    "mobilenet_v3_small": 32,
    "mobilenet_v3_large": 32,
    "shufflenet_v2_x0_5": 32,
    "alexnet": 63,
    "inception_v3": 75,
    "resnext50_32x4d": 32,
}


@pytest.mark.parametrize("name", list(SAME_NETWORKS))
def test_against_real_torchvision_models(name: str) -> None:
    tvm = _torchvision_models()
    extra = {"init_weights": False} if name == "inception_v3" else {}
    torch.manual_seed(0)
    theirs = randomize(getattr(tvm, name)(num_classes=10, **extra))  # inception: with AuxLogits
    ours = create_model(name, num_classes=10, pretrained=theirs.state_dict()).eval()
    assert ours.pretrained_cfg["source_format"] == "torchvision"
    x = torch.randn(2, 3, SAME_NETWORKS[name], SAME_NETWORKS[name])
    with torch.no_grad():
        expected = theirs(x)
        tolerance = 1e-5 * float(expected.abs().max())
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=tolerance)
    # and back: resvision's weights load strictly into torchvision's model, same logits
    if name == "inception_v3":
        extra["aux_logits"] = False
    back = getattr(tvm, name)(num_classes=10, **extra).eval()
    back.load_state_dict(convert_state_dict(ours.state_dict(), target="torchvision"))
    with torch.no_grad():
        torch.testing.assert_close(back(x), expected, rtol=1e-5, atol=tolerance)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("squeezenet1_0", "ceil_mode"), ("googlenet", "BatchNorm"), ("shufflenet_v2_x2_0", "244")],
)
def test_real_torchvision_other_networks_are_refused(name: str, reason: str) -> None:
    tvm = _torchvision_models()
    extra = {"init_weights": False} if name == "googlenet" else {}
    with torch.device("meta"):
        state = getattr(tvm, name)(**extra).state_dict()
    with pytest.raises(ValueError, match=reason):
        convert_state_dict(state)
