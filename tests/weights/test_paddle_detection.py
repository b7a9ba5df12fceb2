"""A Paddle state dict of a network without BatchNorm (LeNet, VGG, AlexNet, SqueezeNet) has no
``_mean``/``_variance`` key to give its layout away: its Linear weights, stored ``[in, out]``,
tell it. Weights that cannot tell (all square) load as PyTorch's with a warning saying how to
convert them; weights that disagree fail with the same advice.

The Paddle state dicts are written here from Paddle's documented layout (PyTorch's names, Linear
weights transposed), independently of ``resvision.models.weights.convert``.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from resvision.models import create_model
from resvision.models.weights import (
    PretrainedLayoutWarning,
    PretrainedWeightsError,
    convert_state_dict,
    create_model_from_weights,
    load_pretrained,
)


def as_paddle(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What ``paddle.Layer.state_dict()`` of the same network holds: Linear weights ``[in, out]``.
    (None of these networks has BatchNorm; convolutions are stored as PyTorch stores them.)"""
    out = {}
    for key, value in state.items():
        is_linear = key.endswith(".weight") and value.dim() == 2
        out[key] = value.t().clone() if is_linear else value.clone()
    return out


def quiet_load(name: str, state: dict[str, torch.Tensor], **kwargs: object) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PretrainedLayoutWarning)  # the layout must be certain
        warnings.filterwarnings("ignore", "fine-tuning")  # a head left out, said elsewhere
        return create_model(name, pretrained=state, **kwargs)


@pytest.mark.parametrize(("name", "size"), [("lenet", 28), ("squeezenet1_1", 64)])
def test_a_paddle_state_dict_without_batch_norm_loads_with_the_same_outputs(
    name: str, size: int
) -> None:
    torch.manual_seed(0)
    source = create_model(name, num_classes=7).eval()
    net = quiet_load(name, as_paddle(source.state_dict()), num_classes=7).eval()
    x = torch.randn(2, 1 if name == "lenet" else 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(net(x), source(x), rtol=0, atol=0)
    expected = "paddle" if name == "lenet" else "resvision"  # SqueezeNet has no Linear at all
    assert net.pretrained_cfg["source_format"] == expected


@pytest.mark.parametrize(
    ("name", "num_classes", "skipped"),
    [
        ("vgg11", 1000, []),
        ("vgg16", 10, ["classifier.6.bias", "classifier.6.weight"]),
        ("alexnet", 1000, []),
        ("alexnet", 10, ["_fc8.bias", "_fc8.weight"]),
    ],
)
def test_vgg_and_alexnet_paddle_state_dicts_are_detected(
    name: str, num_classes: int, skipped: list[str]
) -> None:
    """On the meta device (shapes only). To 10 classes the last layer fits neither way; the
    hidden layers still tell the layout."""
    with torch.device("meta"):
        paddle_state = as_paddle(create_model(name).state_dict())
        net = quiet_load(name, paddle_state, num_classes=num_classes)
    assert net.pretrained_cfg["source_format"] == "paddle"
    assert net.pretrained_cfg["skipped_keys"] == skipped


def test_a_pytorch_state_dict_stays_pytorchs() -> None:
    source = create_model("lenet")
    net = quiet_load("lenet", source.state_dict())
    assert net.pretrained_cfg["source_format"] == "resvision"
    assert all(torch.equal(net.state_dict()[k], v) for k, v in source.state_dict().items())


def test_create_model_from_weights_reads_the_classes_of_a_paddle_classifier() -> None:
    paddle_state = as_paddle(create_model("lenet", num_classes=3).state_dict())
    assert paddle_state["fc.2.weight"].shape == (84, 3)  # [in, out]: 84 is not the class count
    net = create_model_from_weights(paddle_state, "lenet")
    assert net.num_classes == 3 and net.pretrained_cfg["source_format"] == "paddle"


def test_weights_that_disagree_fail_with_the_advice() -> None:
    mixed = as_paddle(create_model("lenet").state_dict())
    mixed["fc.1.weight"] = mixed["fc.1.weight"].t().contiguous()  # one left as PyTorch's
    with pytest.raises(PretrainedWeightsError) as info:
        create_model("lenet", pretrained=mixed)
    message = str(info.value)
    assert "fc.0.weight is stored transposed" in message
    assert "convert_state_dict(state, source='paddle')" in message


def test_square_weights_cannot_tell_and_a_warning_says_how_to_convert() -> None:
    torch.manual_seed(0)
    source = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    paddle_state = as_paddle(source.state_dict())
    target = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    with pytest.warns(PretrainedLayoutWarning, match=r"source='paddle'"):
        load_pretrained(target, paddle_state, model_name="demo")
    assert torch.equal(target[0].weight, paddle_state["0.weight"])  # loaded as PyTorch's
    # ... and the advice works (the warning stays: converted weights cannot tell either)
    converted = convert_state_dict(paddle_state, source="paddle")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PretrainedLayoutWarning)
        load_pretrained(target, converted, model_name="demo")
    assert torch.equal(target[0].weight, source[0].weight)


def test_against_real_paddle_networks() -> None:
    """paddle.vision's own LeNet and SqueezeNet: their state dicts, their logits."""
    try:
        import paddle
    except Exception as err:  # not installed, or built for another torch
        pytest.skip(f"paddle is not usable here ({type(err).__name__}: {err})")
    for name, theirs, size in (
        ("lenet", paddle.vision.models.LeNet(num_classes=10), 28),
        ("squeezenet1_1", paddle.vision.models.squeezenet1_1(num_classes=10), 64),
    ):
        theirs.eval()
        state = {k: torch.from_numpy(v.numpy()) for k, v in theirs.state_dict().items()}
        ours = quiet_load(name, state, num_classes=10).eval()
        x = torch.randn(2, 1 if name == "lenet" else 3, size, size)
        expected = theirs(paddle.to_tensor(x.numpy())).numpy()
        with torch.no_grad():
            assert abs(ours(x).numpy() - expected).max() < 1e-4, name
