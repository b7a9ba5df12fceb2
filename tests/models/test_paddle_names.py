"""Every name of ``paddle.vision.models.__all__`` (Paddle 3.3.1) is importable from
``resvision.models`` with Paddle's parameters, in Paddle's order, with Paddle's defaults.

The table below was printed from real Paddle (``inspect.signature`` of each entry; classes by
their ``__init__``) and is kept here so the test needs no Paddle. resvision may add parameters,
keyword-only (after Paddle's); it may not drop, rename or reorder Paddle's.

One documented difference: ``ResNet``'s ``block``, ``depth`` and ``num_classes`` default to None
in resvision, because ``ResNet(18, 5)`` (the tutorial's form: layers, class_dim) and
``ResNet(BottleneckBlock, 50)`` (Paddle's) share the constructor; None resolves to Paddle's 50
and 1000, and no ``block`` means the tutorial's form ``ResNet(layers=50)`` (checked below).
"""

from __future__ import annotations

import inspect

import pytest

from resvision import models

PADDLE_SIGNATURES: dict[str, list[tuple[str, object]]] = {
    "ResNet": [
        ("block", "<required>"),
        ("depth", 50),
        ("width", 64),
        ("num_classes", 1000),
        ("with_pool", True),
        ("groups", 1),
    ],
    "resnet18": [("pretrained", False), ("**kwargs", None)],
    "resnet34": [("pretrained", False), ("**kwargs", None)],
    "resnet50": [("pretrained", False), ("**kwargs", None)],
    "resnet101": [("pretrained", False), ("**kwargs", None)],
    "resnet152": [("pretrained", False), ("**kwargs", None)],
    "resnext50_32x4d": [("pretrained", False), ("**kwargs", None)],
    "resnext50_64x4d": [("pretrained", False), ("**kwargs", None)],
    "resnext101_32x4d": [("pretrained", False), ("**kwargs", None)],
    "resnext101_64x4d": [("pretrained", False), ("**kwargs", None)],
    "resnext152_32x4d": [("pretrained", False), ("**kwargs", None)],
    "resnext152_64x4d": [("pretrained", False), ("**kwargs", None)],
    "wide_resnet50_2": [("pretrained", False), ("**kwargs", None)],
    "wide_resnet101_2": [("pretrained", False), ("**kwargs", None)],
    "VGG": [("features", "<required>"), ("num_classes", 1000), ("with_pool", True)],
    "vgg11": [("pretrained", False), ("batch_norm", False), ("**kwargs", None)],
    "vgg13": [("pretrained", False), ("batch_norm", False), ("**kwargs", None)],
    "vgg16": [("pretrained", False), ("batch_norm", False), ("**kwargs", None)],
    "vgg19": [("pretrained", False), ("batch_norm", False), ("**kwargs", None)],
    "MobileNetV1": [("scale", 1.0), ("num_classes", 1000), ("with_pool", True)],
    "mobilenet_v1": [("pretrained", False), ("scale", 1.0), ("**kwargs", None)],
    "MobileNetV2": [("scale", 1.0), ("num_classes", 1000), ("with_pool", True)],
    "mobilenet_v2": [("pretrained", False), ("scale", 1.0), ("**kwargs", None)],
    "MobileNetV3Small": [("scale", 1.0), ("num_classes", 1000), ("with_pool", True)],
    "MobileNetV3Large": [("scale", 1.0), ("num_classes", 1000), ("with_pool", True)],
    "mobilenet_v3_small": [("pretrained", False), ("scale", 1.0), ("**kwargs", None)],
    "mobilenet_v3_large": [("pretrained", False), ("scale", 1.0), ("**kwargs", None)],
    "LeNet": [("num_classes", 10)],
    "DenseNet": [
        ("layers", 121),
        ("bn_size", 4),
        ("dropout", 0.0),
        ("num_classes", 1000),
        ("with_pool", True),
    ],
    "densenet121": [("pretrained", False), ("**kwargs", None)],
    "densenet161": [("pretrained", False), ("**kwargs", None)],
    "densenet169": [("pretrained", False), ("**kwargs", None)],
    "densenet201": [("pretrained", False), ("**kwargs", None)],
    "densenet264": [("pretrained", False), ("**kwargs", None)],
    "AlexNet": [("num_classes", 1000)],
    "alexnet": [("pretrained", False), ("**kwargs", None)],
    "InceptionV3": [("num_classes", 1000), ("with_pool", True)],
    "inception_v3": [("pretrained", False), ("**kwargs", None)],
    "SqueezeNet": [("version", "<required>"), ("num_classes", 1000), ("with_pool", True)],
    "squeezenet1_0": [("pretrained", False), ("**kwargs", None)],
    "squeezenet1_1": [("pretrained", False), ("**kwargs", None)],
    "GoogLeNet": [("num_classes", 1000), ("with_pool", True)],
    "googlenet": [("pretrained", False), ("**kwargs", None)],
    "ShuffleNetV2": [("scale", 1.0), ("act", "relu"), ("num_classes", 1000), ("with_pool", True)],
    "shufflenet_v2_x0_25": [("pretrained", False), ("**kwargs", None)],
    "shufflenet_v2_x0_33": [("pretrained", False), ("**kwargs", None)],
    "shufflenet_v2_x0_5": [("pretrained", False), ("**kwargs", None)],
    "shufflenet_v2_x1_0": [("pretrained", False), ("**kwargs", None)],
    "shufflenet_v2_x1_5": [("pretrained", False), ("**kwargs", None)],
    "shufflenet_v2_x2_0": [("pretrained", False), ("**kwargs", None)],
    "shufflenet_v2_swish": [("pretrained", False), ("**kwargs", None)],
}

# name -> {parameter: (Paddle's default, resvision's default)}: differences kept on purpose.
DOCUMENTED_DEFAULTS = {
    "ResNet": {"block": ("<required>", None), "depth": (50, None), "num_classes": (1000, None)}
}


def _ours(name: str) -> list[tuple[str, object, object]]:
    obj = getattr(models, name)
    target = obj.__init__ if inspect.isclass(obj) else obj
    out = []
    for p in inspect.signature(target).parameters.values():
        if p.name == "self":
            continue
        if p.kind == p.VAR_KEYWORD:
            out.append(("**" + p.name, None, p.kind))
        elif p.kind == p.VAR_POSITIONAL:
            out.append(("*" + p.name, None, p.kind))
        else:
            default = "<required>" if p.default is p.empty else p.default
            if inspect.isclass(default):
                default = f"<class {default.__name__}>"
            out.append((p.name, default, p.kind))
    return out


def test_the_table_is_paddles_whole_list() -> None:
    assert len(PADDLE_SIGNATURES) == 51


@pytest.mark.parametrize("name", list(PADDLE_SIGNATURES))
def test_paddle_name_with_paddles_parameters(name: str) -> None:
    assert hasattr(models, name), f"resvision.models has no {name}"
    ours = _ours(name)
    theirs = [(n, d) for n, d in PADDLE_SIGNATURES[name] if not n.startswith("*")]
    positional = [(n, d) for n, d, kind in ours if kind in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]  # fmt: skip
    # Paddle's parameters come first, in Paddle's order, and can be passed positionally.
    assert [n for n, _ in positional[: len(theirs)]] == [n for n, _ in theirs], ours
    documented = DOCUMENTED_DEFAULTS.get(name, {})
    for (pname, paddle_default), (_, our_default) in zip(theirs, positional, strict=False):
        if pname in documented:
            assert (paddle_default, our_default) == documented[pname]
            continue
        assert our_default == paddle_default and type(our_default) is type(paddle_default), (
            f"{name}({pname}=...): Paddle's default {paddle_default!r}, ours {our_default!r}"
        )
    # Anything resvision adds beyond Paddle's parameters is keyword-only (or **kwargs).
    extra = positional[len(theirs) :]
    assert not extra, f"{name}: extra positional parameters {extra}"
    if any(n.startswith("**") for n, _ in PADDLE_SIGNATURES[name]):
        assert any(n.startswith("**") for n, _, _ in ours), f"{name} must take **kwargs"


def test_resnets_none_defaults_resolve_to_paddles() -> None:
    net = models.ResNet(models.BottleneckBlock)
    assert net.num_classes == 1000 and len(net.layer3) == 6  # depth 50: [3, 4, 6, 3]
