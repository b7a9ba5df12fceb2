"""Key layouts of other ecosystems, converted to resvision's and back.

Layouts (``source`` / ``target`` names):

- ``'resvision'``: this package's modules (``conv._conv``, ``layer1.0.conv0._batch_norm``, ...).
- ``'torchvision'``: ``torchvision.models`` (and timm's ResNet family, which uses the same keys):
  ResNet ``conv1``/``bn1`` -> ``conv._conv``/``conv._batch_norm``, block ``convK``/``bnK`` ->
  ``conv{K-1}._conv``/``._batch_norm``, ``downsample.0/1`` -> ``short._conv/_batch_norm`` (also
  ResNeXt and Wide ResNet); VGG and MobileNetV2 keys are already the same. The families of
  Paddle's zoo that torchvision defines as the same function are renamed family by family
  (each family module lists the correspondence): DenseNet (``features.denseblock{b}...`` ->
  ``db_conv_{b+1}...``), MobileNetV3 (``features.{i}.block.{j}`` -> ``blocks.{i-1}.expand_conv``
  / ``bottleneck_conv`` / ``mid_se`` / ``linear_conv``), ShuffleNetV2 (``stage{s}.{u}.branch2``
  -> ``{s}_{u+1}._conv_pw`` ..., any widths: Paddle's x0_25, x0_33 and x2_0 are torchvision's
  ``ShuffleNetV2`` class with other widths), AlexNet (``features.{0,3,6,8,10}``,
  ``classifier.{1,4,6}`` -> ``_conv1`` .. ``_fc8``) and InceptionV3 (``Conv2d_*`` / ``Mixed_*``
  -> ``inception_stem`` / ``inception_block_list.{i}``; torchvision's training-only
  ``AuxLogits`` is left out). torchvision's SqueezeNet, GoogLeNet and shufflenet_v2_x2_0 are
  other networks than Paddle's: refused both ways, with the reason.
- ``'timm'``: timm's VGG (``pre_logits.fc1`` is a 7x7 convolution, reshaped to the first linear
  layer) and MobileNetV2 (``conv_stem``, ``blocks.S.B.conv_pw``, ...). timm ResNets are read as
  ``'torchvision'``.
- ``'paddle'``: ``paddle.vision.models`` state dicts: torchvision's names, BatchNorm statistics
  ``_mean``/``_variance``, no ``num_batches_tracked``, and Linear weights stored transposed
  ``[in, out]``. Also read: MobileNetV1's Paddle names (``conv2_1._depthwise_conv.0`` or the
  older ``._conv``/``._norm_layer``) and the tutorial's own Paddle ResNet (``bb_{s}_{i}`` blocks,
  classifier ``out``), written with ``target='paddle_tutorial'``.

Conversions rename, transpose and reshape, with two exceptions that keep torchvision's weights
giving torchvision's outputs: Paddle's AlexNet and InceptionV3 scale their features by ``1 - p``
in evaluation before fc6 and fc7 (``p = 0.5``) or fc (``p = 0.2``), where torchvision's dropout
is the identity, so those weights are divided by ``1 - p`` on the way in (AlexNet: times 2,
exact) and multiplied on the way out; and torchvision's InceptionV3 BatchNorm eps is 1e-3
(Paddle's 1e-5), so ``running_var`` gains the difference (within float32 rounding, ~1e-7
relative on the logits).
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


# ------------------------------------------------------------------ torchvision's zoo families
# Paddle's DenseNet, MobileNetV3, ShuffleNetV2, AlexNet and InceptionV3 compute torchvision's
# functions under other names (the family modules list the correspondences). AlexNet and
# InceptionV3 differ in what their dropout does in evaluation (and InceptionV3 in its BatchNorm
# eps); the conversion moves that into the few tensors it affects, so that torchvision's weights
# give torchvision's outputs here. SqueezeNet and GoogLeNet are other networks: refused.
Rules = list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]]

_ALEXNET_DROPOUT = 0.5  # Paddle's downscale_in_infer dropout before fc6 and fc7: x * 0.5 in eval
_ALEXNET_SCALED = ("_fc6.weight", "_fc7.weight")
_INCEPTION_DROPOUT = 0.2  # before fc: x * 0.8 in eval here, identity in torchvision
_INCEPTION_EPS = 1e-5  # resvision's (Paddle's) BatchNorm eps
_TORCHVISION_INCEPTION_EPS = 1e-3  # torchvision's BasicConv2d
_INCEPTION_MIXED = ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c")

_REFUSED = {
    "squeezenet": (
        "torchvision's SqueezeNet is another network than resvision's (Paddle's): its max-pools "
        "round their output size up (ceil_mode) and squeezenet1_1's stem convolution is "
        "unpadded, so the same weights give other outputs"
    ),
    "googlenet": (
        "torchvision's GoogLeNet is another network than resvision's (Paddle's): it has "
        "BatchNorm after every convolution, 3x3 kernels in the '5x5' branches and 2048-wide "
        "auxiliary heads, and Paddle's has none of these"
    ),
    "shufflenet_v2_x2_0": (
        "torchvision's shufflenet_v2_x2_0 has 244 channels in its first stage where Paddle's "
        "(resvision's) has 224, so its weights fit no resvision model"
    ),
}


def _torchvision_family(state: Mapping[str, torch.Tensor]) -> str | None:
    """Which of torchvision's zoo families a state dict in torchvision's layout holds (None:
    ResNet/ResNeXt, VGG, MobileNetV2 or unknown)."""
    keys = set(state)
    if any(k.startswith(("features.conv0.", "features.denseblock")) for k in keys):
        return "densenet"
    if any(re.match(r"^features\.\d+\.block\.", k) for k in keys):
        return "mobilenet_v3"
    if any(k.startswith("stage2.") for k in keys):
        half = state.get("stage2.0.branch1.2.weight")  # half of the first stage's width
        wide = half is not None and half.shape[0] == 122  # torchvision's x2_0: 244
        return "shufflenet_v2_x2_0" if wide else "shufflenet_v2"
    if any(k.startswith(("Conv2d_1a_3x3.", "Mixed_")) for k in keys):
        return "inception_v3"
    if any(k.startswith("inception3a.") for k in keys):
        return "googlenet"
    if any(re.match(r"^features\.\d+\.(squeeze|expand1x1|expand3x3)\.", k) for k in keys):
        return "squeezenet"
    convolutions = {m[1] for k in keys if (m := re.match(r"^features\.(\d+)\.weight$", k))}
    if convolutions == {"0", "3", "6", "8", "10"}:  # VGGs have more; with or without classifier
        return "alexnet"
    return None


def _resvision_family(keys: set[str]) -> str | None:
    """Which of the zoo families with a torchvision counterpart resvision keys belong to."""
    if "conv1_func._conv.weight" in keys:
        return "densenet"
    if "lastconv.0.weight" in keys:
        return "mobilenet_v3"
    if "_last_conv.0.weight" in keys:
        return "shufflenet_v2"
    if any(k.startswith("inception_stem.") for k in keys):
        return "inception_v3"
    if "_conv1._conv.weight" in keys and "_conv5._conv.weight" in keys:
        return "alexnet"
    if any(k.startswith("_ince3a.") for k in keys):
        return "googlenet"
    if "_conv1._conv._conv.weight" in keys:
        return "squeezenet"
    return None


_DENSENET_FROM_TV: Rules = [
    (re.compile(r"^features\.conv0\.(.+)$"), lambda m: f"conv1_func._conv.{m[1]}"),
    (re.compile(r"^features\.norm0\.(.+)$"), lambda m: f"conv1_func._batch_norm.{m[1]}"),
    (  # the oldest torchvision files spell norm.1 for norm1
        re.compile(r"^features\.denseblock(\d+)\.denselayer(\d+)\.(norm|conv)\.?([12])\.(.+)$"),
        lambda m: (
            f"db_conv_{int(m[1]) + 1}.conv{int(m[1]) + 1}_{m[2]}.bn_ac_func{m[4]}."
            f"{'_batch_norm' if m[3] == 'norm' else '_conv'}.{m[5]}"
        ),
    ),
    (
        re.compile(r"^features\.transition(\d+)\.(norm|conv)\.(.+)$"),
        lambda m: (
            f"tr_conv{int(m[1]) + 1}_blk.conv_ac_func."
            f"{'_batch_norm' if m[2] == 'norm' else '_conv'}.{m[3]}"
        ),
    ),
    (re.compile(r"^features\.norm5\.(.+)$"), lambda m: f"batch_norm.{m[1]}"),
    (re.compile(r"^classifier\.(.+)$"), lambda m: f"fc.{m[1]}"),
]
_DENSENET_TO_TV: Rules = [
    (re.compile(r"^conv1_func\._conv\.(.+)$"), lambda m: f"features.conv0.{m[1]}"),
    (re.compile(r"^conv1_func\._batch_norm\.(.+)$"), lambda m: f"features.norm0.{m[1]}"),
    (
        re.compile(r"^db_conv_(\d+)\.conv\d+_(\d+)\.bn_ac_func([12])\.(_batch_norm|_conv)\.(.+)$"),
        lambda m: (
            f"features.denseblock{int(m[1]) - 1}.denselayer{m[2]}."
            f"{'norm' if m[4] == '_batch_norm' else 'conv'}{m[3]}.{m[5]}"
        ),
    ),
    (
        re.compile(r"^tr_conv(\d+)_blk\.conv_ac_func\.(_batch_norm|_conv)\.(.+)$"),
        lambda m: (
            f"features.transition{int(m[1]) - 1}."
            f"{'norm' if m[2] == '_batch_norm' else 'conv'}.{m[3]}"
        ),
    ),
    (re.compile(r"^batch_norm\.(.+)$"), lambda m: f"features.norm5.{m[1]}"),
    (re.compile(r"^fc\.(.+)$"), lambda m: f"classifier.{m[1]}"),
]

# torchvision's features.{index} / classifier.{index} -> Paddle's AlexNet layer names
_ALEXNET_LAYERS = {
    "features.0": "_conv1._conv",
    "features.3": "_conv2._conv",
    "features.6": "_conv3",
    "features.8": "_conv4",
    "features.10": "_conv5._conv",
    "classifier.1": "_fc6",
    "classifier.4": "_fc7",
    "classifier.6": "_fc8",
}
_ALEXNET_LAYERS_BACK = {v: k for k, v in _ALEXNET_LAYERS.items()}


def _alexnet(state: State, to_torchvision: bool) -> State:
    """Rename, and move Paddle's evaluation-time dropout scale (0.5) into fc6/fc7's weights:
    exact both ways (a power of two)."""
    table = _ALEXNET_LAYERS_BACK if to_torchvision else _ALEXNET_LAYERS
    keep = 1.0 - _ALEXNET_DROPOUT
    out: State = {}
    for key, value in state.items():
        layer, _, leaf = key.rpartition(".")
        name = f"{table.get(layer, layer)}.{leaf}"
        if (key if to_torchvision else name) in _ALEXNET_SCALED:
            value = value * keep if to_torchvision else value / keep
        out[name] = value
    return out


# ShuffleNetV2 branch2 indices (conv, BN, ReLU, dw conv, BN, conv, BN, ReLU) -> Paddle's parts
_SHUFFLE_BRANCH2 = {
    "0": ("_conv_pw", "0"),
    "1": ("_conv_pw", "1"),
    "3": ("_conv_dw", "0"),
    "4": ("_conv_dw", "1"),
    "5": ("_conv_linear", "0"),
    "6": ("_conv_linear", "1"),
}
_SHUFFLE_BRANCH2_BACK = {v: k for k, v in _SHUFFLE_BRANCH2.items()}
_SHUFFLE_BRANCH1 = {
    "0": ("_conv_dw_1", "0"),
    "1": ("_conv_dw_1", "1"),
    "2": ("_conv_linear_1", "0"),
    "3": ("_conv_linear_1", "1"),
}
_SHUFFLE_BRANCH1_BACK = {v: k for k, v in _SHUFFLE_BRANCH1.items()}

_SHUFFLENET_FROM_TV: Rules = [
    (re.compile(r"^conv1\.(\d)\.(.+)$"), lambda m: f"_conv1.{m[1]}.{m[2]}"),
    (
        re.compile(r"^stage(\d)\.0\.branch1\.([0-3])\.(.+)$"),
        lambda m: "{}_1.{}.{}.{}".format(m[1], *_SHUFFLE_BRANCH1[m[2]], m[3]),
    ),
    (
        re.compile(r"^stage(\d)\.(\d+)\.branch2\.([013-6])\.(.+)$"),
        lambda m: "{}_{}.{}{}.{}.{}".format(
            m[1],
            int(m[2]) + 1,
            _SHUFFLE_BRANCH2[m[3]][0],
            "_2" if m[2] == "0" else "",
            _SHUFFLE_BRANCH2[m[3]][1],
            m[4],
        ),
    ),
    (re.compile(r"^conv5\.(\d)\.(.+)$"), lambda m: f"_last_conv.{m[1]}.{m[2]}"),
    (re.compile(r"^fc\.(.+)$"), lambda m: f"_fc.{m[1]}"),
]
_SHUFFLENET_TO_TV: Rules = [
    (re.compile(r"^_conv1\.(\d)\.(.+)$"), lambda m: f"conv1.{m[1]}.{m[2]}"),
    (
        re.compile(r"^(\d)_1\.(_conv_dw_1|_conv_linear_1)\.(\d)\.(.+)$"),
        lambda m: f"stage{m[1]}.0.branch1.{_SHUFFLE_BRANCH1_BACK[(m[2], m[3])]}.{m[4]}",
    ),
    (
        re.compile(r"^(\d)_(\d+)\.(_conv_pw|_conv_dw|_conv_linear)(?:_2)?\.(\d)\.(.+)$"),
        lambda m: (
            f"stage{m[1]}.{int(m[2]) - 1}.branch2.{_SHUFFLE_BRANCH2_BACK[(m[3], m[4])]}.{m[5]}"
        ),
    ),
    (re.compile(r"^_last_conv\.(\d)\.(.+)$"), lambda m: f"conv5.{m[1]}.{m[2]}"),
    (re.compile(r"^_fc\.(.+)$"), lambda m: f"fc.{m[1]}"),
]

_MNV3_PARTS = ("expand_conv", "bottleneck_conv", "mid_se", "linear_conv")


def _mobilenet_v3_from_tv(state: State) -> State:
    """``features.{i}.block.{j}`` counts the parts a block has; name them by what they are."""
    parts: dict[int, dict[int, bool]] = {}  # block -> part index -> is squeeze-excitation
    plain: set[int] = set()  # features.{i} without .block: the stem (0) and the last conv
    for key in state:
        block = re.match(r"^features\.(\d+)\.block\.(\d+)\.([^.]+)", key)
        if block:
            parts.setdefault(int(block[1]), {})[int(block[2])] = block[3] in ("fc1", "fc2")
        elif match := re.match(r"^features\.(\d+)\.", key):
            plain.add(int(match[1]))
    names: dict[tuple[int, int], str] = {}
    for i, kinds in parts.items():
        convs = [j for j in sorted(kinds) if not kinds[j]]
        conv_names = ("expand_conv", "bottleneck_conv", "linear_conv")[-len(convs) :]
        names.update({(i, j): n for j, n in zip(convs, conv_names)})
        names.update({(i, j): "mid_se" for j in kinds if kinds[j]})
    last = max(plain - {0}, default=-1)
    out: State = {}
    for key, value in state.items():
        block = re.match(r"^features\.(\d+)\.block\.(\d+)\.(.+)$", key)
        match = re.match(r"^features\.(\d+)\.(.+)$", key)
        if block:
            key = f"blocks.{int(block[1]) - 1}.{names[int(block[1]), int(block[2])]}.{block[3]}"
        elif match and int(match[1]) == 0:
            key = f"conv.{match[2]}"
        elif match and int(match[1]) == last:
            key = f"lastconv.{match[2]}"
        out[key] = value
    return out


def _mobilenet_v3_to_tv(state: State) -> State:
    present: dict[int, set[str]] = {}
    for key in state:
        block = re.match(r"^blocks\.(\d+)\.([a-z_]+)\.", key)
        if block:
            present.setdefault(int(block[1]), set()).add(block[2])
    last = max(present, default=-1) + 2
    out: State = {}
    for key, value in state.items():
        block = re.match(r"^blocks\.(\d+)\.([a-z_]+)\.(.+)$", key)
        if block:
            if block[2] not in _MNV3_PARTS:
                raise ValueError(f"MobileNetV3 key {key!r} has no torchvision equivalent")
            order = [p for p in _MNV3_PARTS if p in present[int(block[1])]]
            key = f"features.{int(block[1]) + 1}.block.{order.index(block[2])}.{block[3]}"
        elif key.startswith("conv."):
            key = "features.0." + key[len("conv.") :]
        elif key.startswith("lastconv."):
            key = f"features.{last}." + key[len("lastconv.") :]
        out[key] = value
    return out


def _inception_v3(state: State, to_torchvision: bool) -> State:
    """Rename; move the BatchNorm eps difference into ``running_var`` and the evaluation-time
    dropout scale (0.8 here) into ``fc.weight`` (both within float32 rounding). torchvision's
    training-only auxiliary classifier ``AuxLogits`` has no counterpart and is left out."""
    shift = _TORCHVISION_INCEPTION_EPS - _INCEPTION_EPS
    keep = 1.0 - _INCEPTION_DROPOUT
    out: State = {}
    for key, value in state.items():
        if key.startswith("AuxLogits."):
            continue
        if key.endswith(".running_var"):
            value = value - shift if to_torchvision else value + shift
        elif key == "fc.weight":
            value = value * keep if to_torchvision else value / keep
        if to_torchvision:
            stem = re.match(r"^inception_stem\.conv_(\w+?)\.([01])\.(.+)$", key)
            block = re.match(r"^inception_block_list\.(\d+)\.(\w+?)\.([01])\.(.+)$", key)
            if stem:
                key = f"Conv2d_{stem[1]}.{'conv' if stem[2] == '0' else 'bn'}.{stem[3]}"
            elif block:
                branch = "branch_pool" if block[2] == "branch_pool_conv" else block[2]
                part = "conv" if block[3] == "0" else "bn"
                key = f"Mixed_{_INCEPTION_MIXED[int(block[1])]}.{branch}.{part}.{block[4]}"
        else:
            stem = re.match(r"^Conv2d_(\w+?)\.(conv|bn)\.(.+)$", key)
            block = re.match(r"^Mixed_(\w+?)\.(\w+?)\.(conv|bn)\.(.+)$", key)
            if stem:
                key = f"inception_stem.conv_{stem[1]}.{'0' if stem[2] == 'conv' else '1'}.{stem[3]}"
            elif block:
                if block[1] not in _INCEPTION_MIXED:
                    raise ValueError(f"InceptionV3 key {key!r} has no resvision equivalent")
                branch = "branch_pool_conv" if block[2] == "branch_pool" else block[2]
                part = "0" if block[3] == "conv" else "1"
                index = _INCEPTION_MIXED.index(block[1])
                key = f"inception_block_list.{index}.{branch}.{part}.{block[4]}"
        out[key] = value
    return out


_FROM_TORCHVISION: dict[str, Callable[[State], State]] = {
    "densenet": lambda s: _rename(s, _DENSENET_FROM_TV),
    "mobilenet_v3": _mobilenet_v3_from_tv,
    "shufflenet_v2": lambda s: _rename(s, _SHUFFLENET_FROM_TV),
    "alexnet": lambda s: _alexnet(s, to_torchvision=False),
    "inception_v3": lambda s: _inception_v3(s, to_torchvision=False),
}
_TO_TORCHVISION: dict[str, Callable[[State], State]] = {
    "densenet": lambda s: _rename(s, _DENSENET_TO_TV),
    "mobilenet_v3": _mobilenet_v3_to_tv,
    "shufflenet_v2": lambda s: _rename(s, _SHUFFLENET_TO_TV),
    "alexnet": lambda s: _alexnet(s, to_torchvision=True),
    "inception_v3": lambda s: _inception_v3(s, to_torchvision=True),
}


def _from_torchvision(state: State) -> State:
    family = _torchvision_family(state)
    if family in _REFUSED:
        raise ValueError(f"{_REFUSED[family]}; load Paddle's weights of the family instead")
    if family is None:
        return _rename(state, _TV_TO_RV)
    return _FROM_TORCHVISION[family](state)


def _to_torchvision(state: State) -> State:
    keys = set(state)
    if _is_mobilenet_v1(keys):
        raise ValueError(
            "torchvision has no MobileNetV1; export it with target='paddle' or 'resvision'"
        )
    family = _resvision_family(keys)
    if family in _REFUSED:
        raise ValueError(f"{_REFUSED[family]}; export it with target='paddle' or 'resvision'")
    if family is None:
        return _rename(state, _RV_TO_TV)
    return _TO_TORCHVISION[family](state)


# ------------------------------------------------------------------ public API
def detect_source_format(state: Mapping[str, torch.Tensor]) -> str:
    """Guess the key layout of a state dict from its names.

    Returns:
        ``'paddle'`` (BatchNorm ``_mean``/``_variance``), ``'timm'`` (timm's own VGG/MobileNetV2
        names), ``'torchvision'`` (``conv1``/``bn1``/``downsample`` ResNet names, or the names
        of torchvision's DenseNet, MobileNetV3, ShuffleNetV2, AlexNet, InceptionV3, SqueezeNet
        or GoogLeNet) or ``'resvision'`` (everything else, including the VGG/MobileNetV2 names
        that torchvision shares with resvision).

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
    if any(_TV_TO_RV_PATTERN.match(k) for k in keys) or _torchvision_family(state) is not None:
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
        A new dict (tensors are shared, except Linear weights transposed for Paddle and the
        AlexNet / InceptionV3 tensors rescaled for torchvision, see the module docstring).

    Raises:
        ValueError: unknown layout names, a conversion that does not exist (torchvision has no
            MobileNetV1; its SqueezeNet, GoogLeNet and shufflenet_v2_x2_0 are other networks
            than resvision's), or keys that collide after renaming.

    Examples:
        >>> from resvision.models import resnet18
        >>> tv = convert_state_dict(resnet18().state_dict(), target='torchvision')
        >>> 'layer1.0.bn2.running_var' in tv and 'conv1.weight' in tv
        True
        >>> pd = convert_state_dict(resnet18().state_dict(), target='paddle')
        >>> tuple(pd['fc.weight'].shape), 'bn1._variance' in pd
        ((512, 1000), True)
        >>> from resvision.models import mobilenet_v3_small
        >>> tv = convert_state_dict(mobilenet_v3_small().state_dict(), target='torchvision')
        >>> tuple(tv['features.1.block.1.fc1.weight'].shape), 'features.12.0.weight' in tv
        ((8, 16, 1, 1), True)
        >>> sorted(convert_state_dict(tv)) == sorted(mobilenet_v3_small().state_dict())
        True
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
        state = _from_torchvision(state)
    elif source == "timm":
        state = _rename(_timm_to_resvision(state), _TV_TO_RV)
    if target == "resvision":
        return state
    if target == "torchvision":
        return _to_torchvision(state)
    if target == "paddle":
        renamed = state if _is_mobilenet_v1(set(state)) else _rename(state, _RV_TO_TV)
        return _to_paddle_tensors(_resvision_to_paddle_structure(renamed, tutorial=False))
    # paddle_tutorial: the tutorial's ConvBNLayer names are resvision's; blocks and head differ
    return _to_paddle_tensors(_resvision_to_paddle_structure(state, tutorial=True))
