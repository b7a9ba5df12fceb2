"""The weights entries of the families added from paddle.vision: Paddle's and torchvision's
published files as data, which of torchvision's fit resvision's networks, and that none has been
verified (loaded) yet; ``resvision models`` shows them.

The expected values are copied here from the publishers' sources (paddle 3.3.1's
``paddle/vision/models/*.py`` ``model_urls``; torchvision 0.29.1's ``torchvision/models/*.py``
weights enums); with paddle or torchvision installed, the tests at the end compare every entry
with the library itself.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pytest
import torch

from resvision.cli.inspect import zoo_rows
from resvision.cli.main import main
from resvision.models import create_model
from resvision.models.weights import (
    IMAGENET_CATEGORIES,
    PretrainedWeightsError,
    WeightsDownloadError,
    WeightsEntry,
    get_weights,
    list_weights,
)

NEW_FAMILIES = [
    "alexnet", "densenet121", "densenet161", "densenet169", "densenet201", "densenet264",
    "googlenet", "inception_v3", "mobilenet_v3_small", "mobilenet_v3_large", "resnext50_64x4d",
    "resnext152_32x4d", "resnext152_64x4d", "shufflenet_v2_x0_25", "shufflenet_v2_x0_33",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "shufflenet_v2_swish", "squeezenet1_0", "squeezenet1_1",
]  # fmt: skip

# paddle 3.3.1 model_urls: (file, MD5) for a few of them, as printed there.
PADDLE_SAMPLES = {
    "alexnet": (
        "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/AlexNet_pretrained.pdparams",
        "7f0f9f737132e02732d75a1459d98a43",
    ),
    "inception_v3": (
        "https://paddle-hapi.bj.bcebos.com/models/inception_v3.pdparams",
        "649a4547c3243e8b59c656f41fe330b8",
    ),
    "shufflenet_v2_swish": (
        "https://paddle-hapi.bj.bcebos.com/models/shufflenet_v2_swish.pdparams",
        "adde0aa3b023e5b0c94a68be1c394b84",
    ),
    "vgg19": ("https://paddle-hapi.bj.bcebos.com/models/vgg19.pdparams", "23b18bb13d8894f60f54e642be79a0dd"),
}  # fmt: skip

# torchvision 0.29.1: model -> (entry, file, acc@1, acc@5, resize, crop, num_params)
TORCHVISION = {
    ("densenet121", "IMAGENET1K_V1"): ("densenet121-a639ec97.pth", 74.434, 91.972, 256, 224, 7978856),
    ("densenet161", "IMAGENET1K_V1"): ("densenet161-8d451a50.pth", 77.138, 93.56, 256, 224, 28681000),
    ("densenet169", "IMAGENET1K_V1"): ("densenet169-b2777c0a.pth", 75.6, 92.806, 256, 224, 14149480),
    ("densenet201", "IMAGENET1K_V1"): ("densenet201-c1103571.pth", 76.896, 93.37, 256, 224, 20013928),
    ("squeezenet1_0", "IMAGENET1K_V1"): ("squeezenet1_0-b66bff10.pth", 58.092, 80.42, 256, 224, 1248424),
    ("squeezenet1_1", "IMAGENET1K_V1"): ("squeezenet1_1-b8a52dc0.pth", 58.178, 80.624, 256, 224, 1235496),
    ("alexnet", "IMAGENET1K_V1"): ("alexnet-owt-7be5be79.pth", 56.522, 79.066, 256, 224, 61100840),
    ("shufflenet_v2_x0_5", "IMAGENET1K_V1"): ("shufflenetv2_x0.5-f707e7126e.pth", 60.552, 81.746, 256, 224, 1366792),
    ("shufflenet_v2_x1_0", "IMAGENET1K_V1"): ("shufflenetv2_x1-5666bf0f80.pth", 69.362, 88.316, 256, 224, 2278604),
    ("shufflenet_v2_x1_5", "IMAGENET1K_V1"): ("shufflenetv2_x1_5-3c479a10.pth", 72.996, 91.086, 232, 224, 3503624),
    ("shufflenet_v2_x2_0", "IMAGENET1K_V1"): ("shufflenetv2_x2_0-8be3c8ee.pth", 76.23, 93.006, 232, 224, 7393996),
    ("mobilenet_v3_small", "IMAGENET1K_V1"): ("mobilenet_v3_small-047dcff4.pth", 67.668, 87.402, 256, 224, 2542856),
    ("mobilenet_v3_large", "IMAGENET1K_V1"): ("mobilenet_v3_large-8738ca79.pth", 74.042, 91.34, 256, 224, 5483032),
    ("mobilenet_v3_large", "IMAGENET1K_V2"): ("mobilenet_v3_large-5c1a4163.pth", 75.274, 92.566, 232, 224, 5483032),
    ("googlenet", "IMAGENET1K_V1"): ("googlenet-1378be20.pth", 69.778, 89.53, 256, 224, 6624904),
    ("inception_v3", "IMAGENET1K_V1"): ("inception_v3_google-0cc3c7bd.pth", 77.294, 93.45, 342, 299, 27161264),
}  # fmt: skip
# The same function as torchvision's network under the torchvision layout conversion (the family
# docstrings; AlexNet and InceptionV3 through a few converted tensors), another network for the
# rest.
SAME_NETWORK = {
    "densenet121", "densenet161", "densenet169", "densenet201", "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "mobilenet_v3_small", "mobilenet_v3_large",
    "alexnet", "inception_v3",
}  # fmt: skip
# torchvision's InceptionV3 parameters include its training-only AuxLogits, left out here.
AUX_LOGITS = {"inception_v3": 27161264 - 23834568}


@pytest.fixture(autouse=True)
def _offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No network, an empty cache: a test that reaches a download fails at once."""
    monkeypatch.setenv("RESVISION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RESVISION_OFFLINE", "1")
    monkeypatch.delenv("RESVISION_WEIGHTS_MIRROR", raising=False)
    return tmp_path


def parameters(name: str) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in create_model(name).parameters())


@pytest.mark.parametrize("name", [*NEW_FAMILIES, "vgg16", "vgg19"])
def test_every_new_family_has_paddles_weights_as_unverified_data(name: str) -> None:
    entry = get_weights(name, "PADDLE_IMAGENET1K")
    assert entry.source_format == "paddle" and entry.md5 and entry.sha256 is None
    assert entry.url.startswith(
        ("https://paddle-hapi.bj.bcebos.com/models/", "https://paddle-imagenet-models-name.")
    )
    assert entry.url.endswith(".pdparams") and entry.num_classes == 1000
    assert entry.categories == IMAGENET_CATEGORIES
    assert not entry.verified and "not downloaded or loaded" in (entry.note or "")
    assert entry.loadable
    # Paddle's file is the default of the families added from Paddle; VGG keeps torchvision's.
    assert get_weights(name).name == ("IMAGENET1K_V1" if name.startswith("vgg") else entry.name)
    if name in PADDLE_SAMPLES:
        assert (entry.url, entry.md5) == PADDLE_SAMPLES[name]
    expected_crop = 299 if name == "inception_v3" else 224
    assert entry.preprocessing.crop == expected_crop


@pytest.mark.parametrize(("name", "entry_name"), sorted(TORCHVISION))
def test_torchvisions_entries_and_which_fit(name: str, entry_name: str) -> None:
    file, top1, top5, resize, crop, num_params = TORCHVISION[name, entry_name]
    entry = get_weights(name, entry_name)
    assert entry.url == f"https://download.pytorch.org/models/{file}"
    assert entry.sha256 == file.rsplit("-", 1)[1].split(".")[0]  # the prefix torchvision checks
    assert entry.metrics == {"ImageNet-1K": {"acc@1": top1, "acc@5": top5}}
    assert (entry.preprocessing.resize, entry.preprocessing.crop) == (resize, crop)
    assert entry.preprocessing.interpolation == "bilinear" and entry.source_format == "torchvision"
    assert not entry.verified and not entry.default and entry.note
    assert entry.loadable == (name in SAME_NETWORK)
    assert entry.note.startswith("loadable" if entry.loadable else "not loadable")
    if entry.loadable:  # the same network: the same parameters, tensor for tensor
        assert parameters(name) == num_params - AUX_LOGITS.get(name, 0)
    imagenet = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    half = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # torchvision's transform_input, done by the entry
    mean_std = half if name == "inception_v3" else imagenet
    assert (entry.preprocessing.mean, entry.preprocessing.std) == mean_std
    assert (entry_name in list_weights(name)) == entry.loadable
    assert entry_name in list_weights(name, include_reference=True)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("googlenet", "BatchNorm"),
        ("shufflenet_v2_x2_0", "244"),
        ("squeezenet1_1", "ceil_mode"),
    ],
)
def test_weights_of_another_network_are_refused_before_any_download(name: str, reason: str) -> None:
    with pytest.raises(PretrainedWeightsError) as info:
        create_model(name, pretrained="IMAGENET1K_V1")
    message = str(info.value)
    assert "listed for reference only" in message and reason in message
    assert "'PADDLE_IMAGENET1K'" in message  # what would load


def test_the_default_of_a_new_family_is_paddles_file() -> None:
    with pytest.raises(WeightsDownloadError) as info:  # offline: the download is refused
        create_model("densenet121", pretrained=True)
    assert "DenseNet121_pretrained.pdparams" in str(info.value)
    assert "MD5 db1b239ed80a905290fd8b01d3af08e4" in str(info.value)


def test_an_entry_that_is_not_loadable_needs_a_reason_and_is_never_a_default() -> None:
    common = {"model": "m", "name": "X", "url": "https://e.org/m-0123abcd.pt", "num_classes": 1}
    with pytest.raises(ValueError, match="needs a note"):
        WeightsEntry(**common, sha256="0123abcd", loadable=False)
    with pytest.raises(ValueError, match="cannot be the default"):
        WeightsEntry(**common, sha256="0123abcd", loadable=False, note="why", default=True)


def test_a_failure_to_load_an_unverified_entry_says_it_is_unverified(tmp_path: Path) -> None:
    wrong = tmp_path / "lenet-wrong.pt"
    torch.save(create_model("resnet20").state_dict(), wrong)  # another network's weights
    entry = WeightsEntry(
        model="lenet",
        name="DEMO",
        url=wrong.as_uri(),
        sha256=hashlib.sha256(wrong.read_bytes()).hexdigest(),
        num_classes=10,
        source_format="resvision",
        note="written from a publisher's page",
    )
    with pytest.raises(PretrainedWeightsError, match=r"lenet\.DEMO has not been verified"):
        create_model("lenet", pretrained=entry)


def test_resvision_models_lists_the_weights() -> None:
    rows = {r["name"]: r for r in zoo_rows("googlenet")}
    entries = {w["name"]: w for w in rows["googlenet"]["weights"]}
    assert entries["PADDLE_IMAGENET1K"]["default"] and entries["PADDLE_IMAGENET1K"]["loadable"]
    assert not entries["IMAGENET1K_V1"]["loadable"] and entries["IMAGENET1K_V1"]["acc@1"] == 69.778
    assert not any(w["verified"] for w in entries.values())
    assert rows["googlenet"]["params"] == 11535736  # counted on the meta device


def test_resvision_models_table_has_a_weights_column(capsys: pytest.CaptureFixture) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["models", "squeezenet1_1"]) == 0
        assert main(["models", "resnet50"]) == 0
    out = capsys.readouterr().out
    header = next(line.split() for line in out.splitlines() if line.startswith("model"))
    assert header == ["model", "family", "input", "classes", "weights", "params", "MACs"]
    assert "paddle*, (torchvision: other net)" in out  # squeezenet1_1
    assert "torchvision x2*, paddle" in out  # resnet50: V1, V2 (default) and Paddle's


# ---- against the publishers' own code, where installed -----------------------------------------


def _library(module: str):
    try:
        return __import__(module, fromlist=["models"])
    except Exception as err:  # not installed, or built for another torch
        pytest.skip(f"{module} is not usable here ({type(err).__name__}: {err})")


# Paddle's model_urls keys that are not the registered name.
PADDLE_ARCH = {
    "mobilenetv1_1.0": "mobilenet_v1",
    "mobilenetv2_1.0": "mobilenet_v2",
    "mobilenet_v3_small_x1.0": "mobilenet_v3_small",
    "mobilenet_v3_large_x1.0": "mobilenet_v3_large",
}


def test_every_paddle_model_url_is_an_entry() -> None:
    paddle = _library("paddle")
    import importlib

    found = 0
    for module in ("alexnet", "densenet", "googlenet", "inceptionv3", "mobilenetv1",
                   "mobilenetv2", "mobilenetv3", "resnet", "shufflenetv2", "squeezenet", "vgg"):  # fmt: skip
        urls = importlib.import_module(f"paddle.vision.models.{module}").model_urls
        for arch, (url, md5) in urls.items():
            entry = get_weights(PADDLE_ARCH.get(arch, arch), "PADDLE_IMAGENET1K")
            assert (entry.url, entry.md5) == (url, md5), arch
            found += 1
    assert found == 36 and paddle.__version__.startswith("3.")


def test_every_torchvision_entry_is_torchvisions() -> None:
    tvm = _library("torchvision.models")
    for (name, entry_name), (*_, num_params) in TORCHVISION.items():
        theirs = tvm.get_model_weights(name)[entry_name]
        ours = get_weights(name, entry_name)
        assert ours.url == theirs.url and theirs.meta["num_params"] == num_params
        assert ours.metrics == theirs.meta["_metrics"]
        transform = theirs.transforms()
        assert (ours.preprocessing.resize, ours.preprocessing.crop) == (
            transform.resize_size[0],
            transform.crop_size[0],
        )
