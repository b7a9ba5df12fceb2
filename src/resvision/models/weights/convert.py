"""Key layouts of other ecosystems, converted to resvision's and back.

Layouts (``source`` / ``target`` names):

- ``'resvision'``: this package's modules (``conv._conv``, ``layer1.0.conv0._batch_norm``, ...).
- ``'torchvision'``: ``torchvision.models`` (and timm's ResNet family, which uses the same keys):
  ResNet ``conv1``/``bn1`` -> ``conv._conv``/``conv._batch_norm``, block ``convK``/``bnK`` ->
  ``conv{K-1}._conv``/``._batch_norm``, ``downsample.0/1`` -> ``short._conv/_batch_norm``; VGG
  and MobileNetV2 keys are already the same.
- ``'timm'``: timm's VGG (``pre_logits.fc1`` is a 7x7 convolution, reshaped to the first linear
  layer) and MobileNetV2 (``conv_stem``, ``blocks.S.B.conv_pw``, ...). timm ResNets are read as
  ``'torchvision'``.
- ``'paddle'``: ``paddle.vision.models`` state dicts: torchvision's names, BatchNorm statistics
  ``_mean``/``_variance``, no ``num_batches_tracked``, and Linear weights stored transposed
  ``[in, out]``. Also read: MobileNetV1's Paddle names (``conv2_1._depthwise_conv.0`` or the
  older ``._conv``/``._norm_layer``) and the tutorial's own Paddle ResNet (``bb_{s}_{i}`` blocks,
  classifier ``out``), written with ``target='paddle_tutorial'``.

Conversions only rename, transpose and reshape; they never change values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import torch

__all__ = [
    "SOURCE_FORMATS",
    "TARGET_FORMATS",
    "convert_state_dict",
    "detect_source_format",
]

SOURCE_FORMATS = ("resvision", "torchvision", "timm", "paddle")
TARGET_FORMATS = ("resvision", "torchvision", "paddle", "paddle_tutorial")

State = dict[str, torch.Tensor]

# ------------------------------------------------------------------ torchvision ResNet names
_TV_TO_RV: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^conv1\.weight$"), lambda m: "conv._conv.weight"),
    (re.compile(r"^bn1\.(.+)$"), lambda m: f"conv._batch_norm.{m[1]}"),
    (
        re.compile(r"^(layer\d+\.\d+)\.conv(\d)\.weight$"),
        lambda m: f"{m[1]}.conv{int(m[2]) - 1}._conv.weight",
    ),
    (
        re.compile(r"^(layer\d+\.\d+)\.bn(\d)\.(.+)$"),
        lambda m: f"{m[1]}.conv{int(m[2]) - 1}._batch_norm.{m[3]}",
    ),
    (re.compile(r"^(layer\d+\.\d+)\.downsample\.0\.(.+)$"), lambda m: f"{m[1]}.short._conv.{m[2]}"),
    (
        re.compile(r"^(layer\d+\.\d+)\.downsample\.1\.(.+)$"),
        lambda m: f"{m[1]}.short._batch_norm.{m[2]}",
    ),
]
_RV_TO_TV: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^conv\._conv\.weight$"), lambda m: "conv1.weight"),
    (re.compile(r"^conv\._batch_norm\.(.+)$"), lambda m: f"bn1.{m[1]}"),
    (
        re.compile(r"^(layer\d+\.\d+)\.conv(\d)\._conv\.weight$"),
        lambda m: f"{m[1]}.conv{int(m[2]) + 1}.weight",
    ),
    (
        re.compile(r"^(layer\d+\.\d+)\.conv(\d)\._batch_norm\.(.+)$"),
        lambda m: f"{m[1]}.bn{int(m[2]) + 1}.{m[3]}",
    ),
    (re.compile(r"^(layer\d+\.\d+)\.short\._conv\.(.+)$"), lambda m: f"{m[1]}.downsample.0.{m[2]}"),
    (
        re.compile(r"^(layer\d+\.\d+)\.short\._batch_norm\.(.+)$"),
        lambda m: f"{m[1]}.downsample.1.{m[2]}",
    ),
]


def _rename(state: State, rules: list) -> State:
    out: State = {}
    for key, value in state.items():
        new = key
        for pattern, replace in rules:
            match = pattern.match(key)
            if match:
                new = replace(match)
                break
        if new in out:
            raise ValueError(f"two keys of the state dict map to {new!r}; is it a mix of layouts?")
        out[new] = value
    return out


def _is_mobilenet_v1(keys: set[str]) -> bool:
    return any(k.startswith(("blocks.conv2_1.", "conv2_1.")) for k in keys)


# ------------------------------------------------------------------ Paddle specifics
_PADDLE_BN = {"_mean": "running_mean", "_variance": "running_var"}
_PADDLE_BN_BACK = {v: k for k, v in _PADDLE_BN.items()}
_V1_BLOCK = re.compile(r"^(conv\d_\d|conv6)\.(_depthwise_conv|_pointwise_conv)\.(.+)$")
_V1_PARTS = {"0": "_conv", "1": "_batch_norm", "_conv": "_conv", "_norm_layer": "_batch_norm"}
_TUTORIAL_BLOCK = re.compile(r"^bb_(\d+)_(\d+)\.(.+)$")


def _from_paddle_tensors(state: State) -> State:
    """BatchNorm statistic names and Linear weight layout, Paddle -> PyTorch."""
    out: State = {}
    for key, value in state.items():
        head, _, leaf = key.rpartition(".")
        if leaf in _PADDLE_BN:
            key = f"{head}.{_PADDLE_BN[leaf]}"
        elif leaf == "weight" and value.dim() == 2:
            value = value.t().contiguous()  # Paddle's Linear is x @ W with W [in, out]
        out[key] = value
    return out


def _to_paddle_tensors(state: State) -> State:
    out: State = {}
    for key, value in state.items():
        head, _, leaf = key.rpartition(".")
        if leaf == "num_batches_tracked":
            continue  # Paddle's BatchNorm has no such buffer
        if leaf in _PADDLE_BN_BACK:
            key = f"{head}.{_PADDLE_BN_BACK[leaf]}"
        elif leaf == "weight" and value.dim() == 2:
            value = value.t().contiguous()
        out[key] = value
    return out


def _paddle_structure_to_resvision(state: State) -> State:
    """Paddle module names (MobileNetV1, the tutorial's ResNet) -> resvision / torchvision."""
    out: State = {}
    for key, value in state.items():
        match = _V1_BLOCK.match(key)
        stem = re.match(r"^conv1\.(0|1|_conv|_norm_layer)\.(.+)$", key)
        tutorial = _TUTORIAL_BLOCK.match(key)
        if match:
            part, _, rest = match[3].partition(".")
            key = f"blocks.{match[1]}.{match[2]}.{_V1_PARTS.get(part, part)}.{rest}"
        elif stem:
            key = f"conv1.{_V1_PARTS[stem[1]]}.{stem[2]}"
        elif tutorial:
            key = f"layer{int(tutorial[1]) + 1}.{tutorial[2]}.{tutorial[3]}"
        elif key.startswith("out."):
            key = "fc." + key[len("out.") :]
        out[key] = value
    return out


def _resvision_to_paddle_structure(state: State, tutorial: bool) -> State:
    out: State = {}
    for key, value in state.items():
        v1 = re.match(
            r"^blocks\.(.+?)\.(_depthwise_conv|_pointwise_conv)\._(conv|batch_norm)\.(.+)$", key
        )
        stem = re.match(r"^conv1\._(conv|batch_norm)\.(.+)$", key)
        layer = re.match(r"^layer(\d+)\.(\d+)\.(.+)$", key)
        if v1:
            key = f"{v1[1]}.{v1[2]}.{0 if v1[3] == 'conv' else 1}.{v1[4]}"
        elif stem:
            key = f"conv1.{0 if stem[1] == 'conv' else 1}.{stem[2]}"
        elif tutorial and layer:
            key = f"bb_{int(layer[1]) - 1}_{layer[2]}.{layer[3]}"
        elif tutorial and key.startswith("fc."):
            key = "out." + key[len("fc.") :]
        out[key] = value
    return out


# ------------------------------------------------------------------ timm specifics
def _timm_to_resvision(state: State) -> State:
    keys = set(state)
    if "conv_stem.weight" in keys:
        return _timm_mobilenet_v2(state)
    out: State = {}
    for key, value in state.items():
        if key.startswith("pre_logits.fc1."):  # VGG: a 7x7 conv standing for the first Linear
            key = "classifier.0." + key.rsplit(".", 1)[1]
            value = value.reshape(value.shape[0], -1) if value.dim() == 4 else value
        elif key.startswith("pre_logits.fc2."):
            key = "classifier.3." + key.rsplit(".", 1)[1]
            value = value.reshape(value.shape[0], -1) if value.dim() == 4 else value
        elif key.startswith("head.fc."):
            key = "classifier.6." + key[len("head.fc.") :]
        out[key] = value
    return out


_TIMM_EXPAND = {
    "conv_pw": "0.0",
    "bn1": "0.1",
    "conv_dw": "1.0",
    "bn2": "1.1",
    "conv_pwl": "2",
    "bn3": "3",
}
_TIMM_SEPARABLE = {"conv_dw": "0.0", "bn1": "0.1", "conv_pw": "1", "bn2": "2"}


def _timm_mobilenet_v2(state: State) -> State:
    blocks: list[tuple[int, int]] = []
    for key in state:
        match = re.match(r"^blocks\.(\d+)\.(\d+)\.", key)
        if match and (int(match[1]), int(match[2])) not in blocks:
            blocks.append((int(match[1]), int(match[2])))
    index = {b: i + 1 for i, b in enumerate(sorted(blocks))}
    last = len(blocks) + 1
    out: State = {}
    for key, value in state.items():
        match = re.match(r"^blocks\.(\d+)\.(\d+)\.(\w+)\.(.+)$", key)
        if match:
            has_expand = f"blocks.{match[1]}.{match[2]}.conv_pwl.weight" in state
            table = _TIMM_EXPAND if has_expand else _TIMM_SEPARABLE
            if match[3] not in table:
                raise ValueError(f"timm MobileNetV2 key {key!r} has no resvision equivalent")
            n = index[(int(match[1]), int(match[2]))]
            key = f"features.{n}.conv.{table[match[3]]}.{match[4]}"
        elif key.startswith(("conv_stem.", "bn1.", "conv_head.", "bn2.", "classifier.")):
            module, _, rest = key.partition(".")
            key = {
                "conv_stem": "features.0.0",
                "bn1": "features.0.1",
                "conv_head": f"features.{last}.0",
                "bn2": f"features.{last}.1",
                "classifier": "classifier.1",
            }[module] + f".{rest}"
        out[key] = value
    return out


# ------------------------------------------------------------------ public API
def detect_source_format(state: Mapping[str, torch.Tensor]) -> str:
    """Guess the key layout of a state dict from its names.

    Returns:
        ``'paddle'`` (BatchNorm ``_mean``/``_variance``), ``'timm'`` (timm's own VGG/MobileNetV2
        names), ``'torchvision'`` (``conv1``/``bn1``/``downsample`` ResNet names) or
        ``'resvision'`` (everything else, including the VGG/MobileNetV2 names that torchvision
        shares with resvision).

    Examples:
        >>> detect_source_format({'bn1._mean': torch.zeros(1)})
        'paddle'
        >>> detect_source_format({'conv1.weight': torch.zeros(1), 'bn1.running_mean': torch.zeros(1)})
        'torchvision'
    """
    keys = set(state)
    if any(k.endswith(("._mean", "._variance")) for k in keys):
        return "paddle"
    if "conv_stem.weight" in keys or any(k.startswith(("pre_logits.", "head.fc.")) for k in keys):
        return "timm"
    if any(_TV_TO_RV_PATTERN.match(k) for k in keys):
        return "torchvision"
    return "resvision"


_TV_TO_RV_PATTERN = re.compile(
    r"^(conv1\.weight|bn1\.|layer\d+\.\d+\.(conv\d\.weight|bn\d\.|downsample\.))"
)


def convert_state_dict(
    state: Mapping[str, torch.Tensor], *, source: str | None = None, target: str = "resvision"
) -> State:
    """Convert a state dict between key layouts (see the module docstring).

    Args:
        state: the tensors by name.
        source: its layout, one of ``SOURCE_FORMATS``; None detects it
            (:func:`detect_source_format`).
        target: the layout wanted, one of ``TARGET_FORMATS``; anything but ``'resvision'``
            needs a resvision ``source``, and timm is read only.

    Returns:
        A new dict (tensors are shared, except Linear weights transposed for Paddle).

    Raises:
        ValueError: unknown layout names, a conversion that does not exist (torchvision has no
            MobileNetV1), or keys that collide after renaming.

    Examples:
        >>> from resvision.models import resnet18
        >>> tv = convert_state_dict(resnet18().state_dict(), target='torchvision')
        >>> 'layer1.0.bn2.running_var' in tv and 'conv1.weight' in tv
        True
        >>> pd = convert_state_dict(resnet18().state_dict(), target='paddle')
        >>> tuple(pd['fc.weight'].shape), 'bn1._variance' in pd
        ((512, 1000), True)
    """
    if target not in TARGET_FORMATS:
        raise ValueError(f"target must be one of {TARGET_FORMATS}, got {target!r}")
    if source is not None and source not in SOURCE_FORMATS:
        raise ValueError(f"source must be one of {SOURCE_FORMATS} or None, got {source!r}")
    state = dict(state)
    source = source or detect_source_format(state)
    if source == "paddle":
        state = _rename(_paddle_structure_to_resvision(_from_paddle_tensors(state)), _TV_TO_RV)
    elif source == "torchvision":
        state = _rename(state, _TV_TO_RV)
    elif source == "timm":
        state = _rename(_timm_to_resvision(state), _TV_TO_RV)
    if target == "resvision":
        return state
    if target == "torchvision":
        if _is_mobilenet_v1(set(state)):
            raise ValueError(
                "torchvision has no MobileNetV1; export it with target='paddle' or 'resvision'"
            )
        return _rename(state, _RV_TO_TV)
    if target == "paddle":
        renamed = state if _is_mobilenet_v1(set(state)) else _rename(state, _RV_TO_TV)
        return _to_paddle_tensors(_resvision_to_paddle_structure(renamed, tutorial=False))
    # paddle_tutorial: the tutorial's ConvBNLayer names are resvision's; blocks and head differ
    return _to_paddle_tensors(_resvision_to_paddle_structure(state, tutorial=True))
