"""create_model / list_models / model_info / register_model."""

from __future__ import annotations

import pytest
from torch import nn

from resvision import models
from resvision.models import (
    ModelInfo,
    create_model,
    list_models,
    model_info,
    register_model,
    unregister_model,
)

EXPECTED = {
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "resnext101_32x4d", "resnext101_64x4d",
    "resnext50_64x4d", "resnext152_32x4d", "resnext152_64x4d",
    "wide_resnet50_2", "wide_resnet101_2",
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "mobilenet_v1", "mobilenet_v2", "lenet",
}  # fmt: skip


# Added beyond the foundation issue (the fast CIFAR-10 recipe's network).
LATER = {"airnet"}


def test_every_constructor_of_the_issue_is_registered() -> None:
    # A subset: the other families of paddle.vision.models (densenet, shufflenet, ...) are
    # registered beside these and checked by their own tests.
    assert set(list_models()) >= EXPECTED | LATER
    assert list_models() == sorted(list_models())
    for name in EXPECTED:
        assert model_info(name).constructor is getattr(models, name)


def test_list_models_pattern_and_family() -> None:
    assert list_models("resnext*") == [
        "resnext101_32x4d", "resnext101_64x4d", "resnext152_32x4d", "resnext152_64x4d",
        "resnext50_32x4d", "resnext50_64x4d",
    ]  # fmt: skip
    assert list_models("*_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    assert list_models("nothing*") == []
    assert {"mobilenet_v1", "mobilenet_v2"} <= set(list_models(family="mobilenet"))
    assert list_models("resnet1*", family="cifar_resnet") == ["resnet110"]


def test_model_info_metadata() -> None:
    info = model_info("resnet50")
    assert isinstance(info, ModelInfo)
    assert (info.name, info.family, info.input_size, info.num_classes) == (
        "resnet50",
        "resnet",
        (3, 224, 224),
        1000,
    )
    assert model_info("resnet56").input_size == (3, 32, 32)
    assert model_info("lenet").input_size == (1, 28, 28)
    assert "ResNet-50" in info.description


def test_create_model_passes_keyword_arguments() -> None:
    net = create_model("resnet20", num_classes=3, shortcut_type="B")
    assert net.num_classes == 3 and net.layer2[0].short is not None


@pytest.mark.parametrize(("typo", "suggestion"), [("resnet5", "resnet50"), ("vgg16bn", "vgg16_bn")])
def test_unknown_model_lists_the_closest_names(typo: str, suggestion: str) -> None:
    with pytest.raises(KeyError) as info:
        create_model(typo)
    message = str(info.value)
    assert f"unknown model '{typo}'" in message and suggestion in message


def test_unknown_model_without_close_names_points_to_list_models() -> None:
    with pytest.raises(KeyError, match=r"'zzz'; see list_models\(\)"):
        model_info("zzz")


def test_registering_a_name_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"'resnet50' is already registered.*resnet50"):

        @register_model("resnet50", family="resnet")
        def other(**kwargs: object) -> nn.Module:
            return nn.Identity()

    assert model_info("resnet50").constructor is models.resnet50  # the original is kept


def test_register_and_unregister_a_new_model() -> None:
    @register_model(family="demo", input_size=(1, 4, 4), num_classes=2)
    def demo_net(*, pretrained: object = False, num_classes: int = 2) -> nn.Module:
        """A demo network."""
        return nn.Linear(16, num_classes)

    try:
        assert "demo_net" in list_models()
        assert model_info("demo_net").description == "A demo network."
        assert create_model("demo_net").out_features == 2
    finally:
        unregister_model("demo_net")
    assert "demo_net" not in list_models()
    with pytest.raises(KeyError):
        unregister_model("demo_net")


def test_register_model_rejects_a_bad_input_size() -> None:
    with pytest.raises(ValueError, match=r"\(3, 224\)"):
        register_model(family="demo", input_size=(3, 224))  # type: ignore[arg-type]
