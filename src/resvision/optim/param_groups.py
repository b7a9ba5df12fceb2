"""Parameter groups with their own weight decay for normalisation layers and biases.

torchvision's reference recipe trains ResNet-50 with no weight decay on the normalisation
layers' scales and shifts (``--norm-weight-decay 0.0``), and timm leaves biases and 1-D
parameters undecayed: decaying a BatchNorm scale only shrinks a value the next layer's
normalisation undoes, so it spends the regulariser on nothing. :func:`weight_decay_groups`
gives Paddle-style groups (``{'params': [...], 'weight_decay': c}``) that every
``resvision.optim`` optimizer takes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn

__all__ = ["NORM_LAYERS", "weight_decay_groups"]

#: The module types whose parameters count as normalisation parameters.
NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
)


def _decay(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{what} must be None or a number >= 0, got {value!r}")
    return float(value)


def weight_decay_groups(
    network: nn.Module,
    norm_weight_decay: float | None = 0.0,
    bias_weight_decay: float | None = None,
    groups: Iterable[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Split parameter groups so normalisation parameters and biases get their own decay.

    Args:
        network: the network the parameters belong to (it tells which are which).
        norm_weight_decay: the decay of every parameter of a :data:`NORM_LAYERS` module
            (BatchNorm, GroupNorm, LayerNorm, InstanceNorm); None leaves them in their group.
        bias_weight_decay: the decay of the other biases (parameters named ``*bias``); None
            leaves them in their group.
        groups: the groups to split (for example :func:`~resvision.optim.muon_param_groups`);
            None: one group of the network's trainable parameters. A group's other keys are
            kept on each part.

    Returns:
        Groups in the order given, each followed by its normalisation part and its bias part
        (empty parts are left out). A part's ``weight_decay`` replaces the group's.

    Raises:
        ValueError: a decay that is not None or a number >= 0, or a group parameter that is
            not the network's.

    Examples:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        >>> [(len(g["params"]), g.get("weight_decay")) for g in weight_decay_groups(net)]
        [(2, None), (2, 0.0)]
        >>> parts = weight_decay_groups(net, norm_weight_decay=0.0, bias_weight_decay=0.0)
        >>> [(len(g["params"]), g.get("weight_decay")) for g in parts]
        [(1, None), (2, 0.0), (1, 0.0)]
    """
    norm_wd = _decay(norm_weight_decay, "norm_weight_decay")
    bias_wd = _decay(bias_weight_decay, "bias_weight_decay")
    norm_ids: set[int] = set()
    for module in network.modules():
        if isinstance(module, NORM_LAYERS):
            norm_ids.update(id(p) for p in module.parameters(recurse=False))
    names = {id(p): n for n, p in network.named_parameters()}
    bias_ids = {i for i, n in names.items() if n.rsplit(".", 1)[-1] == "bias"} - norm_ids
    if groups is None:
        groups = [{"params": [p for p in network.parameters() if p.requires_grad]}]
    out: list[dict[str, Any]] = []
    for group in groups:
        params = list(group["params"])
        strangers = [p for p in params if id(p) not in names]
        if strangers:
            raise ValueError(
                f"a parameter group holds {len(strangers)} parameter(s) that are not the "
                "network's; give the groups of this network"
            )
        norm = [p for p in params if id(p) in norm_ids] if norm_wd is not None else []
        bias = [p for p in params if id(p) in bias_ids] if bias_wd is not None else []
        moved = {id(p) for p in norm + bias}
        rest = [p for p in params if id(p) not in moved]
        if rest:
            out.append({**group, "params": rest})
        if norm:
            out.append({**group, "params": norm, "weight_decay": norm_wd})
        if bias:
            out.append({**group, "params": bias, "weight_decay": bias_wd})
    return out
