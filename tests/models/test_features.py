"""Backbone use (``features_only``): every registered model, and the extractor's own contract.

The per-model checks are generated from ``list_models()``, so a new family is covered as soon as
it is registered with a ``feature_info``; a model without one is skipped with a reason naming it
(``pytest -rs`` lists them). They build each network on the meta device (no memory, no
initialisation: the 140M-parameter VGGs cost nothing) and run the extractor on meta tensors,
whose shapes are exactly the real ones; the small backbones also run on real tensors. One
network is alive at a time and the whole zoo takes seconds.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import nn

from resvision.models import create_model, list_models, model_info, register_model, unregister_model
from resvision.models.features import FeatureExtractor, FeatureInfo

ALL_MODELS = list_models()

# The ImageNet-size networks run at a small input: 64x64 is about the smallest that every
# 224-family accepts (AlexNet's and Paddle's GoogLeNet's unpadded pooling need ~63), Inception-v3
# needs about 75. Other families (CIFAR 32, MNIST 28) run at their natural size.
SMALL_SIDE = {224: 64, 299: 96}

# Backbones up to this many parameters also run on real tensors (forward and backward); the
# others only on the meta device, whose shapes are exactly the real ones at no compute
# (test_zoo.py runs every classifier on real tensors).
REAL_RUN_MAX_PARAMETERS = 5_000_000


def _side(name: str) -> int:
    side = model_info(name).input_size[1]
    return SMALL_SIDE.get(side, side)


def _input(name: str, side: int, batch: int = 1, device: str = "meta") -> torch.Tensor:
    channels = model_info(name).input_size[0]
    return torch.randn(batch, channels, side, side, device=device)


def _meta_network(name: str) -> nn.Module:
    """The classifier on the meta device; skips the test when it has no feature_info yet."""
    with torch.device("meta"):
        net = create_model(name)
    if getattr(net, "feature_info", None) is None:
        pytest.skip(f"{name}: no feature_info yet, so features_only is not available for it")
    return net


def _materialize(module: nn.Module) -> nn.Module:
    """Real (CPU) tensors for a meta module: zeros, then each layer's default initialisation."""
    module.to_empty(device="cpu")
    torch.manual_seed(0)
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            tensor.zero_()
        for layer in module.modules():
            if callable(getattr(layer, "reset_parameters", None)):
                layer.reset_parameters()
    return module


@contextmanager
def _module_calls() -> Iterator[list[tuple[str, nn.Module]]]:
    """Every module call anywhere, in order: ``('start', m)`` and ``('end', m)`` events."""
    events: list[tuple[str, nn.Module]] = []
    pre = nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: events.append(("start", module))
    )
    post = nn.modules.module.register_module_forward_hook(
        lambda module, args, output: events.append(("end", module))
    )
    try:
        yield events
    finally:
        pre.remove()
        post.remove()


def _head_keys(net: nn.Module) -> set[str]:
    head = net.get_classifier()
    for prefix, module in net.named_modules():
        if module is head and prefix:
            return {f"{prefix}.{k}" for k in module.state_dict()}
    return set()


def _state_keys(net: nn.Module, modules: set[int]) -> set[str]:
    """The state-dict keys that the modules ``modules`` (ids) hold directly."""
    keys = set()
    for prefix, module in net.named_modules(remove_duplicate=False):
        if id(module) in modules:
            dot = f"{prefix}." if prefix else ""
            keys |= {dot + k for k, v in module._parameters.items() if v is not None}
            keys |= {
                dot + k
                for k, v in module._buffers.items()
                if v is not None and k not in module._non_persistent_buffers_set
            }
    return keys


def _run_and_check(
    name: str,
    backbone: FeatureExtractor,
    x: torch.Tensor,
    classifier_keys: dict[str, torch.Size],
    head_keys: set[str],
    later: list[nn.Module],
) -> list[torch.Tensor]:
    """Run ``backbone`` and check what ran and what it holds.

    - No module starts after its last chosen stage ends, and none of ``later`` (modules of the
      classifier after that stage, taken before the extractor was built) ever runs.
    - Its state-dict keys are the classifier's (names and shapes), without the head's, and
      exactly those of the modules that ran: nothing kept is unused, nothing used is missing.
    """
    later_ids = {id(m) for top in later for m in top.modules()}
    last_name = backbone.feature_info[backbone.out_indices.index(max(backbone.out_indices))].module
    last_module = backbone.get_submodule(last_name)
    with _module_calls() as events:
        outputs = backbone(x)
    end = events.index(("end", last_module))
    after = [type(m).__name__ for kind, m in events[end:] if kind == "start"]
    assert not after, f"{name}: {after[:5]} ran after the last chosen stage {last_name!r}"
    assert not [m for _, m in events if id(m) in later_ids], (
        f"{name}: a later stage or the head ran"
    )

    keys = {k: v.shape for k, v in backbone.state_dict().items()}
    assert not set(keys) & head_keys, f"{name}: the head is in the backbone"
    assert {k: classifier_keys.get(k) for k in keys} == keys, f"{name}: renamed or reshaped keys"
    run = _state_keys(backbone, {id(m) for kind, m in events if kind == "start"})
    assert set(keys) == run, (
        f"{name}: kept but not run: {sorted(set(keys) - run)[:5]}; "
        f"run but not kept: {sorted(run - set(keys))[:5]}"
    )
    return outputs


def _later_modules(net: nn.Module, stages: list[FeatureInfo], last: int) -> list[nn.Module]:
    """The classifier and the stage modules after stage ``last``, but not those that hold it
    (AlexNet's last stage ``_conv5`` holds the one before, ``_conv5.relu``)."""
    holds = f"{stages[last].module}."
    later = [
        net.get_submodule(s.module)
        for s in stages[last + 1 :]
        if not holds.startswith(f"{s.module}.")
    ]
    return [*later, net.get_classifier()]


def _measured_reduction(side: int, out_side: int, side2: int, out_side2: int) -> float:
    """The stride of a feature map, from its size at two input sizes whose difference is a
    multiple of every stride: each strided layer adds exactly ``delta / stride`` to its output
    side, padded or not, so the ratio is exact where ``side / out_side`` is not (AlexNet: 224 ->
    55 at stride 4)."""
    return (side2 - side) / (out_side2 - out_side)


# --------------------------------------------------------------------------------------------
# Every registered model


@pytest.mark.parametrize("name", ALL_MODELS)
def test_features_only(name: str) -> None:
    """feature_info is well formed; the output count, shapes, channels and strides equal it;
    nothing runs after the last stage (the head never does); the keys are the classifier's
    backbone's; on real tensors (the small backbones), every kept parameter gets a gradient."""
    net = _meta_network(name)
    stages = net.feature_info
    assert isinstance(stages, list) and stages, f"{name}: feature_info must be a non-empty list"
    assert all(isinstance(s, FeatureInfo) and s.channels > 0 and s.reduction > 0 for s in stages)
    reductions = [s.reduction for s in stages]
    assert reductions == sorted(reductions), f"{name}: stages must be in forward order"
    side = _side(name)
    classifier_keys = {k: v.shape for k, v in net.state_dict().items()}
    head_keys = _head_keys(net)
    later = _later_modules(net, stages, len(stages) - 1)

    backbone = FeatureExtractor(net).eval()
    assert backbone.feature_info == stages and backbone.out_indices == tuple(range(len(stages)))
    assert backbone.channels() == [s.channels for s in stages]
    assert backbone.reduction() == reductions
    delta = math.lcm(*reductions)
    with torch.no_grad():
        small = _run_and_check(
            name, backbone, _input(name, side, 2), classifier_keys, head_keys, later
        )
        large = backbone(_input(name, side + delta))
    assert len(small) == len(large) == len(stages)
    for stage, a, b in zip(stages, small, large):
        assert a.dim() == 4 and a.shape[:2] == (2, stage.channels), f"{name} {stage}: {a.shape}"
        for dim in (2, 3):
            measured = _measured_reduction(side, a.shape[dim], side + delta, b.shape[dim])
            assert measured == stage.reduction, f"{name} {stage}: measured stride {measured}"

    if sum(p.numel() for p in backbone.parameters()) > REAL_RUN_MAX_PARAMETERS:
        return
    _materialize(backbone).train()
    real = backbone(_input(name, side, batch=2, device="cpu"))
    assert [o.shape for o in real] == [o.shape for o in small]
    assert all(torch.isfinite(o).all() for o in real), f"{name}: non-finite feature maps"
    # DistributedDataParallel needs every parameter to get a gradient.
    sum(o.mean() for o in real).backward()
    unused = [k for k, p in backbone.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, f"{name}: parameters that no feature map uses: {unused[:5]}"


# One model per family: the variants of a family share the code that orders their modules.
FAMILY_REPRESENTATIVES = sorted({model_info(n).family: n for n in reversed(ALL_MODELS)}.values())


@pytest.mark.parametrize("name", FAMILY_REPRESENTATIVES)
def test_an_early_stage_stops_the_forward_pass(name: str) -> None:
    """With out_indices=(0, 1), the later stages and the head never run and are not kept."""
    net = _meta_network(name)
    stages = net.feature_info
    chosen = (0, 1) if len(stages) > 2 else (0,)
    if len(stages) < 2:
        pytest.skip(f"{name}: one stage, nothing comes after it")
    classifier_keys = {k: v.shape for k, v in net.state_dict().items()}
    head_keys = _head_keys(net)
    later = _later_modules(net, stages, chosen[-1])
    early = FeatureExtractor(net, out_indices=chosen).eval()
    assert early.out_indices == chosen and early.feature_info == [stages[i] for i in chosen]
    x = _input(name, _side(name))
    with torch.no_grad():
        outputs = _run_and_check(name, early, x, classifier_keys, head_keys, later)
    assert [o.shape[1] for o in outputs] == early.channels()


def test_builders_take_features_only_with_their_own_signature() -> None:
    """Every builder and create_model accept features_only; the signatures do not change."""
    name = _first_model_with_feature_info()
    builder = model_info(name).constructor
    assert "features_only" not in inspect.signature(builder).parameters
    with torch.device("meta"):
        by_name = create_model(name, features_only=True, out_indices=(-1,))
        by_builder = builder(features_only=True)
    assert isinstance(by_name, FeatureExtractor) and isinstance(by_builder, FeatureExtractor)
    assert by_name.out_indices == (len(by_builder.feature_info) - 1,)
    with pytest.raises(ValueError, match="features_only=True"):
        create_model(name, out_indices=(0,))
    with pytest.raises(ValueError, match="features_only=True"):
        builder(out_indices=(0,), features_only=False)
    with pytest.raises(TypeError, match="features_only must be True or False"):
        create_model(name, features_only="yes")


def _first_model_with_feature_info() -> str:
    for name in ALL_MODELS:
        with torch.device("meta"):
            if getattr(create_model(name), "feature_info", None) is not None:
                return name
    pytest.skip("no registered model has a feature_info yet")


# --------------------------------------------------------------------------------------------
# The extractor's contract, on small networks of this file


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class TinyNet(nn.Module):
    """Stem, three stages in a Sequential (one a ModuleList loop), a classifier."""

    def __init__(self, num_classes: int = 5) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.scale = nn.Parameter(torch.ones(1))  # a direct parameter of the network
        self.stem = _Block(3, 8, 2)
        self.stages = nn.Sequential(_Block(8, 16, 2), _Block(16, 32, 2))
        self.extra = nn.ModuleList([_Block(32, 32, 1), _Block(32, 64, 2)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        self.feature_info = [
            FeatureInfo("stem", 8, 2),
            FeatureInfo("stages.0", 16, 4),
            FeatureInfo("stages.1", 32, 8),
            FeatureInfo("extra.1", 64, 16),
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x) * self.scale)
        for block in self.extra:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.forward_features(x)), 1))

    def get_classifier(self) -> nn.Module:
        return self.fc


def _reference(net: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each stage's output in the classifier's full forward pass."""
    found: dict[str, torch.Tensor] = {}
    handles = [
        net.get_submodule(s.module).register_forward_hook(
            lambda m, a, out, name=s.module: found.setdefault(name, out.clone())
        )
        for s in net.feature_info
    ]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return found


def _tiny_pair(seed: int = 0) -> tuple[TinyNet, TinyNet]:
    torch.manual_seed(seed)
    net = TinyNet().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return net, copy.deepcopy(net)


def test_outputs_are_the_stage_outputs_of_the_classifier() -> None:
    net, classifier = _tiny_pair()
    x = torch.randn(2, 3, 32, 32)
    reference = _reference(classifier, x)
    backbone = FeatureExtractor(net, out_indices=(3, 0, -2)).eval()
    assert backbone.out_indices == (3, 0, 2)
    assert [s.module for s in backbone.feature_info] == ["extra.1", "stem", "stages.1"]
    assert backbone.channels() == [64, 8, 32] and backbone.reduction() == [16, 2, 8]
    with torch.no_grad():
        out = backbone(x)
    for stage, tensor in zip(backbone.feature_info, out):
        torch.testing.assert_close(tensor, reference[stage.module], rtol=0, atol=0)


def test_later_stages_and_head_are_dropped_and_never_run() -> None:
    net, classifier = _tiny_pair()
    head_calls: list[object] = []
    net.fc.register_forward_hook(lambda *a: head_calls.append(a))
    later = net.extra[1]
    later.register_forward_hook(lambda *a: head_calls.append(a))
    backbone = FeatureExtractor(net, out_indices=(1, 2))
    keys = set(backbone.state_dict())
    assert keys == {k for k in classifier.state_dict() if not k.startswith(("fc.", "extra."))}
    assert [k for k, _ in backbone.named_children()] == ["stem", "stages"]
    with torch.no_grad():
        assert [o.shape[1] for o in backbone(torch.randn(1, 3, 32, 32))] == [16, 32]
    assert not head_calls


def test_a_classifier_checkpoint_loads_by_key_with_strict_false() -> None:
    classifier, _ = _tiny_pair(seed=1)
    x = torch.randn(2, 3, 32, 32)
    reference = _reference(classifier, x)
    torch.manual_seed(2)
    backbone = FeatureExtractor(TinyNet()).eval()  # other random weights
    result = backbone.load_state_dict(classifier.state_dict(), strict=False)
    assert result.missing_keys == []
    assert sorted(result.unexpected_keys) == ["fc.bias", "fc.weight"]
    with torch.no_grad():
        for stage, tensor in zip(backbone.feature_info, backbone(x)):
            torch.testing.assert_close(tensor, reference[stage.module], rtol=0, atol=0)


def test_copies_dtype_mode_and_direct_parameters_follow_the_extractor() -> None:
    net, _ = _tiny_pair()
    backbone = FeatureExtractor(net)
    assert "scale" in dict(backbone.named_parameters())
    clone = copy.deepcopy(backbone).double().train()
    assert clone.training and clone.stem.training
    with torch.no_grad():
        clone.scale.fill_(2.0)
        out = clone(torch.randn(2, 3, 32, 32, dtype=torch.float64))
    assert all(o.dtype == torch.float64 for o in out)
    assert backbone.scale.item() == 1.0 and backbone.stem.conv.weight.dtype == torch.float32
    # The mode of the network object follows the extractor's (a forward may read self.training).
    seen: list[bool] = []
    original = TinyNet.forward_features

    def spy(self: TinyNet, x: torch.Tensor) -> torch.Tensor:
        seen.append(self.training)
        return original(self, x)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TinyNet, "forward_features", spy)
        with torch.no_grad():
            backbone.eval()(torch.randn(1, 3, 32, 32))
            backbone.train()(torch.randn(2, 3, 32, 32))
    assert seen == [False, True]


def test_a_network_without_feature_info_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Linear has no feature_info.*FeatureInfo"):
        FeatureExtractor(nn.Linear(2, 2))
    net = TinyNet()
    net.feature_info = [FeatureInfo("nowhere", 8, 2)]
    with pytest.raises(ValueError, match="'nowhere', which the network does not have"):
        FeatureExtractor(net)
    net.feature_info = ["stem"]
    with pytest.raises(TypeError, match="list of FeatureInfo"):
        FeatureExtractor(net)


@pytest.mark.parametrize(
    ("out_indices", "error", "message"),
    [
        ((4,), ValueError, r"4 is out of range; TinyNet has 4 stages: valid indices are 0\.\.3 "),
        ((-5,), ValueError, r"-5 is out of range.*or -4\.\.-1"),
        ((1, -3), ValueError, r"chooses a stage twice \(as stages \[1, 1\]\)"),
        ((), ValueError, "empty"),
        ((1.0,), TypeError, r"must hold ints, got 1\.0 of type float.*valid indices are 0\.\.3"),
        ((True,), TypeError, "must hold ints, got True"),
        (2, TypeError, r"a sequence of ints such as \(1, 3\), got 2"),
    ],
)
def test_bad_out_indices_name_the_valid_range(
    out_indices: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        FeatureExtractor(TinyNet(), out_indices=out_indices)  # type: ignore[arg-type]


def test_feature_info_that_does_not_match_the_forward_pass_is_reported() -> None:
    net = TinyNet()
    net.feature_info = [FeatureInfo("stages.1", 32, 8), FeatureInfo("stem", 8, 2)]  # wrong order
    with pytest.raises(ValueError, match=r"stage 'stages\.1' is registered after .* 'stem'"):
        FeatureExtractor(net)
    net = TinyNet()
    net.feature_info = [FeatureInfo("stem", 8, 2), FeatureInfo("pool", 64, 32)]  # not run
    with pytest.raises(RuntimeError, match=r"\['pool'\] did not run before 'pool'"):
        FeatureExtractor(net)(torch.randn(1, 3, 32, 32))


def test_a_stage_output_changed_in_place_later_is_an_error() -> None:
    class InPlace(TinyNet):
        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            x = self.stem(x)
            x.mul_(self.scale)  # overwrites the stem's feature map
            return self.stages(x)

    with pytest.raises(RuntimeError, match="stage 'stem' was changed in place"):
        FeatureExtractor(InPlace(), out_indices=(0, 1))(torch.randn(1, 3, 32, 32))


def test_a_module_registered_after_the_last_stage_but_used_before_it_is_named() -> None:
    class Misordered(TinyNet):
        def __init__(self) -> None:
            super().__init__()
            self.late = nn.Identity()  # registered last, used first

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward_features(self.late(x))

    with pytest.raises(RuntimeError, match=r"dropped module 'late'.*forward order"):
        FeatureExtractor(Misordered(), out_indices=(0,))(torch.randn(1, 3, 32, 32))


def test_registry_wrapper_on_a_registered_network() -> None:
    @register_model("test_features_tinynet", family="test", input_size=(3, 32, 32), num_classes=5)
    def test_features_tinynet(*, pretrained: object = False, num_classes: int = 5) -> TinyNet:
        return TinyNet(num_classes)

    try:
        backbone = create_model("test_features_tinynet", features_only=True, out_indices=[-1])
        assert isinstance(backbone, FeatureExtractor) and backbone.channels() == [64]
        assert backbone.feature_info == [FeatureInfo("extra.1", 64, 16)]
        assert isinstance(test_features_tinynet(features_only=True), FeatureExtractor)
        assert isinstance(create_model("test_features_tinynet"), TinyNet)
        with pytest.raises(ValueError, match=r"test_features_tinynet \(TinyNet\) has 4 stages"):
            create_model("test_features_tinynet", features_only=True, out_indices=(9,))
    finally:
        unregister_model("test_features_tinynet")


def test_torch_export_traces_only_the_kept_stages() -> None:
    """torch.export (and the ONNX exporter built on it) cannot unwind a call by an exception:
    the traced pass goes on through the dropped modules' placeholders and dead-code elimination
    leaves only the chosen stages' convolutions."""
    net, _ = _tiny_pair()
    backbone = FeatureExtractor(net, out_indices=(0, 1)).eval()
    x = torch.randn(1, 3, 32, 32)
    program = torch.export.export(backbone, (x,))
    convolutions = [
        n for n in program.graph.nodes if n.op == "call_function" and "conv" in str(n.target)
    ]
    assert len(convolutions) == 2  # stem and stages.0; not stages.1 nor the extra blocks
    with torch.no_grad():
        for got, expected in zip(program.module()(x), backbone(x)):
            torch.testing.assert_close(got, expected)
