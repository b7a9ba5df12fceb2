"""Fine-tuning from weights with another head: every layer of the head that the new network does
not have, or whose shape changed, is skipped and reported; the layers that still fit are
loaded; a mismatch outside the head stays an error.

The head is what the network describes: ``get_classifier()`` and everything registered after its
last ``feature_info`` stage (hidden classifier layers, GoogLeNet's auxiliary heads). The big
networks are checked on the ``meta`` device (names and shapes, no memory); GoogLeNet and LeNet
with real weights and files.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from resvision.models import create_model
from resvision.models.weights import (
    PretrainedHeadSkippedWarning,
    PretrainedWeightsError,
    create_model_from_weights,
)


def load(name: str, source: dict[str, torch.Tensor], **kwargs: object):
    """``create_model(name, pretrained=source, **kwargs)`` and the one warning it gives."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = create_model(name, pretrained=source, **kwargs)
    said = [str(w.message) for w in caught if issubclass(w.category, PretrainedHeadSkippedWarning)]
    assert len(said) == 1
    return net, said[0]


def keys(state: dict[str, torch.Tensor], *prefixes: str) -> list[str]:
    return sorted(k for k in state if k.startswith(prefixes))


def test_alexnet_without_a_classifier_skips_all_three_linear_layers() -> None:
    with torch.device("meta"):
        full = create_model("alexnet").state_dict()
        net, message = load("alexnet", full, num_classes=0)
    skipped = keys(full, "_fc6.", "_fc7.", "_fc8.")
    assert net.pretrained_cfg["skipped_keys"] == skipped and len(skipped) == 6
    assert net.pretrained_cfg["loaded_keys"] == len(full) - 6
    assert "not in this network: _fc6.bias, _fc6.weight, _fc7.bias" in message


def test_alexnet_to_ten_classes_keeps_the_hidden_layers() -> None:
    with torch.device("meta"):
        full = create_model("alexnet").state_dict()
        net, message = load("alexnet", full, num_classes=10)
    assert net.pretrained_cfg["skipped_keys"] == ["_fc8.bias", "_fc8.weight"]
    assert "_fc8.weight file (1000, 4096) vs model (10, 4096)" in message


def test_vgg_without_a_classifier_and_back() -> None:
    with torch.device("meta"):
        full = create_model("vgg16").state_dict()
        headless, _ = load("vgg16", full, num_classes=0)
        # and the other way: weights without a classifier into a network with one
        net, message = load("vgg16", headless.state_dict(), num_classes=10)
    assert headless.pretrained_cfg["skipped_keys"] == keys(full, "classifier.")
    assert net.pretrained_cfg["skipped_keys"] == []
    assert net.pretrained_cfg["missing_keys"] == keys(full, "classifier.")
    assert net.pretrained_cfg["head_reinitialized"]
    assert "not in the file, initialised here: classifier.0.bias" in message


def test_googlenet_to_ten_classes_skips_the_three_last_layers_from_a_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = create_model("googlenet").state_dict()
    path = tmp_path / "googlenet.pt"
    torch.save(source, path)
    net, message = load("googlenet", path, num_classes=10)
    last = keys(source, "_fc_out.", "_out1.", "_out2.")
    assert net.pretrained_cfg["skipped_keys"] == last
    for name in ("_out1.weight", "_out2.weight"):  # the auxiliary heads' last layers too
        assert f"{name} file (1000, 1024) vs model (10, 1024)" in message
    mine = net.state_dict()
    kept = [k for k in source if k not in last]
    assert "_fc_o1.weight" in kept and "_conv_o2._conv.weight" in kept  # aux hidden layers
    assert all(torch.equal(mine[k], source[k]) for k in kept)
    assert mine["_fc_out.weight"].shape == (10, 1024)
    assert net.pretrained_cfg["categories"] is None  # the 1000 names are not this head's


def test_googlenet_without_classifiers_and_back() -> None:
    with torch.device("meta"):
        full = create_model("googlenet").state_dict()
        headless, _ = load("googlenet", full, num_classes=0)
        net, _ = load("googlenet", headless.state_dict(), num_classes=10)
        built = create_model("googlenet", num_classes=0).state_dict()
    heads = keys(full, "_fc_out.", "_conv_o", "_fc_o", "_out")
    assert len(heads) == 12 and headless.pretrained_cfg["skipped_keys"] == heads
    assert list(headless.state_dict()) == list(built)  # still Paddle's network without heads
    assert net.pretrained_cfg["missing_keys"] == heads


@pytest.mark.parametrize(
    ("name", "skipped"),
    [
        ("inception_v3", ["fc.bias", "fc.weight"]),
        ("mobilenet_v3_small", ["classifier.0.bias", "classifier.0.weight", "classifier.3.bias",
                                "classifier.3.weight"]),
        ("squeezenet1_1", ["_conv9.bias", "_conv9.weight"]),
    ],
)  # fmt: skip
def test_other_families_without_a_classifier(name: str, skipped: list[str]) -> None:
    with torch.device("meta"):
        net, _ = load(name, create_model(name).state_dict(), num_classes=0)
    assert net.pretrained_cfg["skipped_keys"] == skipped


def test_a_mismatch_outside_the_head_stays_an_error() -> None:
    source = create_model("lenet").state_dict()
    wrong = dict(source, **{"features.0.weight": torch.zeros(8, 1, 3, 3)})
    with pytest.raises(PretrainedWeightsError, match=r"shape mismatches: features\.0\.weight"):
        create_model("lenet", num_classes=5, pretrained=wrong)
    extra = {"stem.weight": torch.zeros(1), **source}  # a module the network lacks, before it
    with pytest.raises(PretrainedWeightsError, match=r"unexpected keys: stem\.weight"):
        create_model("lenet", num_classes=0, pretrained=extra)
    trailing = {**source, "extra.weight": torch.zeros(1)}  # after the head, but not a head's:
    with pytest.raises(PretrainedWeightsError, match=r"unexpected keys: extra\.weight"):
        create_model("lenet", num_classes=5, pretrained=trailing)  # this network has its head
    missing = {k: v for k, v in source.items() if k != "features.3.weight"}
    with pytest.raises(PretrainedWeightsError, match=r"missing keys: features\.3\.weight"):
        create_model("lenet", num_classes=0, pretrained=missing)


def test_weights_that_fit_skip_nothing_and_keep_their_categories() -> None:
    source = create_model("lenet")
    source.pretrained_cfg = {"categories": [str(i) for i in range(10)]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all
        net = create_model("lenet", pretrained=source.state_dict())
    assert net.pretrained_cfg["skipped_keys"] == [] and not net.pretrained_cfg["head_reinitialized"]


def test_create_model_from_weights_takes_the_classes_of_any_classifier() -> None:
    """SqueezeNet's classifier is a 1x1 convolution; weights without a classifier build a
    network without one (Paddle's num_classes=0)."""
    squeeze = create_model("squeezenet1_1", num_classes=7).state_dict()
    assert create_model_from_weights(squeeze, "squeezenet1_1").num_classes == 7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        headless = create_model("lenet", num_classes=0).state_dict()
    net = create_model_from_weights(headless, "lenet")
    assert net.num_classes == 0 and net.pretrained_cfg["skipped_keys"] == []
