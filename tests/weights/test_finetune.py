"""Linear probing then full fine-tuning through ``Model.fit`` with ``FreezeBackbone``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import resvision
from resvision.callbacks import FreezeBackbone
from resvision.models import resnet20


def snapshot(
    net: nn.Module, prefix: str = "", exclude: str | None = None
) -> dict[str, torch.Tensor]:
    return {
        k: v.clone()
        for k, v in net.state_dict().items()
        if k.startswith(prefix) and not (exclude and k.startswith(exclude))
    }


def changed(before: dict[str, torch.Tensor], net: nn.Module) -> set[str]:
    now = net.state_dict()
    return {k for k, v in before.items() if not torch.equal(v, now[k])}


@pytest.mark.filterwarnings("ignore::resvision.models.weights.PretrainedHeadSkippedWarning")
def test_frozen_backbone_then_unfrozen_at_an_epoch() -> None:
    net = resnet20(num_classes=2, pretrained=resnet20(num_classes=10).state_dict())
    model = resvision.Model(net, device="cpu")
    model.prepare(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), nn.CrossEntropyLoss())
    data = [(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 0, 1])) for _ in range(2)]
    backbone, head = snapshot(net, exclude="fc."), snapshot(net, "fc.")

    probe = FreezeBackbone()  # linear probing: the backbone never trains
    model.fit(data, epochs=1, verbose=0, callbacks=[probe])
    assert changed(head, net) == {"fc.weight", "fc.bias"}
    assert changed(backbone, net) == set()  # weights and BatchNorm running statistics alike
    assert all(p.requires_grad for p in net.parameters())  # restored after fit

    staged = FreezeBackbone(unfreeze_at_epoch=1)
    model.fit(data, epochs=2, verbose=0, callbacks=[staged])
    moved = changed(backbone, net)
    assert "layer1.0.conv0._conv.weight" in moved
    assert "conv._batch_norm.running_mean" in moved


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unfreeze_at_epoch must be None or an int >= 0"):
        FreezeBackbone(unfreeze_at_epoch=-1)
    cb = FreezeBackbone(head="classifier")
    cb.set_model(resvision.Model(resnet20(), device="cpu"))
    with pytest.raises(ValueError, match=r"no such sub-module; its children are \['conv'"):
        cb.on_train_begin()
