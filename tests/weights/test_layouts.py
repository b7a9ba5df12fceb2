"""Weights in torchvision's and Paddle's layouts load into resvision models with identical outputs.

The foreign state dicts are built from our own random weights by renaming and reshaping code
written here, independently of ``resvision.models.weights.convert``; the converter's output in
the other direction is compared with the same independent code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from resvision.models import create_model
from resvision.models.weights import (
    PretrainedWeightsError,
    convert_state_dict,
    detect_source_format,
    read_weights_file,
    save_weights,
)

SIZE = 64  # spatial size of the test images: small, still five stride-2 stages deep


def randomize(model: nn.Module) -> nn.Module:
    """Random BatchNorm statistics and affine parameters, so that any mix-up changes outputs."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, nn.Linear):
                m.bias.uniform_(-0.5, 0.5)
    return model.eval()


def torchvision_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """resvision ResNet keys -> torchvision's, spelled out part by part."""
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "conv":  # the stem ConvBNLayer
            name = "conv1.weight" if parts[1] == "_conv" else "bn1." + parts[2]
        elif parts[0].startswith("layer"):
            stage, block, sub, kind = parts[0], parts[1], parts[2], parts[3]
            prefix = f"{stage}.{block}"
            if sub == "short":
                index = 0 if kind == "_conv" else 1
                name = f"{prefix}.downsample.{index}.{parts[-1]}"
            else:  # conv0/conv1/conv2 are torchvision's conv1/conv2/conv3 and bn1/bn2/bn3
                number = int(sub[len("conv") :]) + 1
                if kind == "_conv":
                    name = f"{prefix}.conv{number}.weight"
                else:
                    name = f"{prefix}.bn{number}.{parts[-1]}"
        else:
            name = key
        out[name] = value.clone()
    return out


def paddle_arrays(state: dict[str, torch.Tensor]) -> dict[str, object]:
    """PyTorch-layout keys -> what paddle.save writes: NumPy arrays, Paddle's BN names, Linear
    weights transposed, no num_batches_tracked, plus Paddle's name table."""
    out: dict[str, object] = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        key = key.replace("running_mean", "_mean").replace("running_var", "_variance")
        array = value.numpy()
        if key.endswith("weight") and array.ndim == 2:
            array = array.T.copy()
        out[key] = array
    out["StructuredToParameterName@@"] = {k: f"param_{i}" for i, k in enumerate(out)}
    return out


def outputs_equal(a: nn.Module, b: nn.Module, size: int = SIZE) -> bool:
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        return torch.equal(a.eval()(x), b.eval()(x))


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_state_dict_loads_with_identical_outputs(name: str, tmp_path: Path) -> None:
    source = randomize(create_model(name))
    tv = torchvision_names(source.state_dict())
    assert "layer2.0.downsample.1.running_var" in tv and "bn1.running_mean" in tv
    assert ("layer1.0.downsample.0.weight" in tv) == (name == "resnet50")
    path = tmp_path / f"{name}-tv.pth"
    torch.save(tv, path)
    loaded = create_model(name, pretrained=str(path))
    assert outputs_equal(loaded, source)
    assert loaded.pretrained_cfg["source_format"] == "torchvision"
    assert loaded.pretrained_cfg["skipped_keys"] == []
    # and back: the converter writes exactly torchvision's keys and tensors
    back = convert_state_dict(loaded.state_dict(), target="torchvision")
    assert back.keys() == tv.keys()
    assert all(torch.equal(back[k], tv[k]) for k in tv)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
@pytest.mark.parametrize("protocol", [2, 4])
def test_paddle_pdparams_loads_with_identical_outputs(
    name: str, protocol: int, tmp_path: Path
) -> None:
    source = randomize(create_model(name))
    arrays = paddle_arrays(torchvision_names(source.state_dict()))
    assert arrays["fc.weight"].shape == (source.num_features, 1000)  # Paddle's [in, out]
    path = tmp_path / f"{name}.pdparams"
    with open(path, "wb") as f:
        pickle.dump(arrays, f, protocol=protocol)
    loaded = create_model(name, pretrained=path)
    assert outputs_equal(loaded, source)
    assert loaded.pretrained_cfg["file_format"] == "paddle"
    # num_batches_tracked is absent from Paddle files: the model's own value stays
    assert "layer1.0.conv0._batch_norm.num_batches_tracked" in loaded.pretrained_cfg["missing_keys"]
    # and back: save_weights writes what paddle.save would, readable by the same code
    out = save_weights(loaded, tmp_path / "back.pdparams", layout="paddle")
    with open(out, "rb") as f:
        written = pickle.load(f)  # our own file, written just now: a plain pickle is fine
    expected = {k: v for k, v in arrays.items() if k != "StructuredToParameterName@@"}
    assert set(written) - {"StructuredToParameterName@@"} == set(expected)
    assert all((written[k] == v).all() for k, v in expected.items())


def test_the_tutorials_paddle_resnet_layout_loads(tmp_path: Path) -> None:
    """The tutorial's own Paddle ResNet: ConvBNLayer names, bb_{stage}_{i} blocks, head 'out'."""
    source = randomize(create_model("resnet50", num_classes=10))
    renamed = {}
    for key, value in source.state_dict().items():
        parts = key.split(".")
        if parts[0].startswith("layer"):
            key = ".".join([f"bb_{int(parts[0][5:]) - 1}_{parts[1]}", *parts[2:]])
        elif parts[0] == "fc":
            key = "out." + parts[1]
        renamed[key] = value
    arrays = paddle_arrays(renamed)
    assert "bb_3_2.conv2._batch_norm._variance" in arrays and "out.weight" in arrays
    path = tmp_path / "tutorial.pdparams"
    path.write_bytes(pickle.dumps(arrays, protocol=2))
    loaded = create_model("resnet50", num_classes=10, pretrained=path)
    assert outputs_equal(loaded, source)
    written = convert_state_dict(source.state_dict(), target="paddle_tutorial")
    assert set(written) == set(arrays) - {"StructuredToParameterName@@"}


@pytest.mark.parametrize("style", ["sequential", "named"])
def test_paddle_mobilenet_v1_layouts_load(style: str, tmp_path: Path) -> None:
    """paddle.vision's MobileNetV1 (ConvNormActivation ``.0``/``.1``, or the older
    ``_conv``/``_norm_layer``) has no ``blocks.`` level."""
    source = randomize(create_model("mobilenet_v1", scale=0.25, num_classes=7))
    conv, norm = ("0", "1") if style == "sequential" else ("_conv", "_norm_layer")
    renamed = {}
    for key, value in source.state_dict().items():
        key = key.removeprefix("blocks.")
        key = key.replace("._conv.", f".{conv}.").replace("._batch_norm.", f".{norm}.")
        renamed[key] = value
    arrays = paddle_arrays(renamed)
    assert f"conv2_1._depthwise_conv.{norm}._mean" in arrays
    path = tmp_path / "mnv1.pdparams"
    path.write_bytes(pickle.dumps(arrays, protocol=4))
    loaded = create_model("mobilenet_v1", scale=0.25, num_classes=7, pretrained=path)
    assert outputs_equal(loaded, source)
    if style == "sequential":  # what we write is paddle.vision's current layout
        written = convert_state_dict(source.state_dict(), target="paddle")
        assert set(written) == set(arrays) - {"StructuredToParameterName@@"}
    with pytest.raises(ValueError, match="torchvision has no MobileNetV1"):
        convert_state_dict(source.state_dict(), target="torchvision")


def test_mobilenet_v2_torchvision_keys_are_ours_and_paddle_transposes(tmp_path: Path) -> None:
    source = randomize(create_model("mobilenet_v2", scale=0.5, num_classes=5))
    state = source.state_dict()
    assert detect_source_format(state) == "resvision"
    arrays = paddle_arrays(state)
    path = tmp_path / "mnv2.pdparams"
    path.write_bytes(pickle.dumps(arrays, protocol=4))
    loaded = create_model("mobilenet_v2", scale=0.5, num_classes=5, pretrained=path)
    assert outputs_equal(loaded, source)
    assert convert_state_dict(state, target="torchvision").keys() == state.keys()


def test_cifar_resnet_round_trips_through_both_layouts(tmp_path: Path) -> None:
    source = randomize(create_model("resnet20"))
    for layout, suffix in (("torchvision", ".pth"), ("paddle", ".pdparams")):
        path = save_weights(source, tmp_path / f"r20{suffix}", layout=layout)
        assert read_weights_file(path).file_format == ("paddle" if layout == "paddle" else "torch")
        assert outputs_equal(create_model("resnet20", pretrained=path), source, size=32)


def test_a_mix_of_layouts_or_another_architecture_is_refused(tmp_path: Path) -> None:
    tv = torchvision_names(create_model("resnet18").state_dict())
    path = tmp_path / "r18.pth"
    torch.save(tv, path)
    with pytest.raises(PretrainedWeightsError, match=r"do not fit.*missing keys: layer1\.0\.conv2"):
        create_model("resnet50", pretrained=path)
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(PretrainedWeightsError, match="no key matches"):
        create_model("resnet18", pretrained=path)


def _real_library(module: str):
    try:
        return __import__(module, fromlist=["models"])
    except Exception as err:  # not installed, or built for another torch (fails on import)
        pytest.skip(f"{module} is not usable here ({type(err).__name__}: {err})")


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2"])
def test_against_real_torchvision_models(name: str) -> None:
    tvm = _real_library("torchvision.models")
    theirs = randomize(getattr(tvm, name)(num_classes=10))
    ours = create_model(name, num_classes=10, pretrained=theirs.state_dict())
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(ours.eval()(x), theirs(x), atol=1e-5)
    theirs.load_state_dict(convert_state_dict(ours.state_dict(), target="torchvision"))


@pytest.mark.parametrize(
    ("timm_name", "name"), [("resnet50", "resnet50"), ("mobilenetv2_100", "mobilenet_v2")]
)
def test_against_real_timm_models(timm_name: str, name: str) -> None:
    timm = _real_library("timm")
    theirs = randomize(timm.create_model(timm_name, num_classes=10))
    ours = create_model(name, num_classes=10, pretrained=theirs.state_dict())
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(ours.eval()(x), theirs(x), atol=1e-5)


def test_against_real_paddle_models(tmp_path: Path) -> None:
    paddle = _real_library("paddle")
    theirs = paddle.vision.models.resnet18(num_classes=10)
    paddle.save(theirs.state_dict(), str(tmp_path / "r18.pdparams"))
    ours = create_model("resnet18", num_classes=10, pretrained=tmp_path / "r18.pdparams").eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    theirs.eval()
    expected = theirs(paddle.to_tensor(x.numpy())).numpy()
    with torch.no_grad():
        assert abs(ours(x).numpy() - expected).max() < 1e-4
