"""Backbone use: the feature maps of chosen stages (timm's ``features_only``).

Every classifier in the zoo describes its stages in ``feature_info``: a list of
:class:`FeatureInfo`, in forward order, naming the sub-module whose output is the stage's feature
map, its channels and its reduction (the stride relative to the input). A detector or a
segmentation head reads these to know what it will receive.

:class:`FeatureExtractor` turns such a classifier into a backbone (timm's ``FeatureListNet``
idea): ``forward(x)`` returns the chosen stages' feature maps. Every registered builder gives one
with ``features_only=True``::

    >>> from resvision.models import create_model
    >>> backbone = create_model('resnet18', features_only=True, out_indices=(-2, -1))
    >>> [tuple(f.shape) for f in backbone(torch.rand(1, 3, 64, 64))]
    [(1, 256, 4, 4), (1, 512, 2, 2)]

How it works, and what it asks of a network:

- The network's own ``forward_features`` runs (so any forward logic works: loops over block
  lists, branches, functional ops between modules); a forward hook on each chosen stage's module
  records its output, and the hook of the last chosen stage ends the pass, so the later stages
  and the head are never computed. (Under ``torch.export`` and ``torch.compile``, which cannot
  unwind a call that way, the traced pass goes on through placeholders of the dropped modules
  and the graph's dead-code elimination removes what the chosen stages do not need; ONNX export
  works either way.)
- The modules registered after the last chosen stage (at each level of its dotted name) and the
  classifier (``get_classifier()``) are dropped, so they hold no memory, receive no gradient
  (DistributedDataParallel needs every parameter used) and are absent from ``state_dict()``. This
  needs the network to register its modules in forward order, as torchvision, timm and
  ``paddle.vision`` networks do; a dropped module that the forward pass still calls raises an
  error that says so (a dropped container is left empty instead).
- The kept modules keep their names, so ``state_dict()`` keys are the classifier's own keys
  without the head's: a classifier checkpoint loads into the backbone with ``strict=False``.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["FeatureExtractor", "FeatureInfo"]


@dataclass(frozen=True)
class FeatureInfo:
    """One stage of a backbone.

    Attributes:
        module: dotted name of the sub-module whose output is the feature map (``'layer2'``).
        channels: channels of that feature map.
        reduction: its stride relative to the input (4 for a 56x56 map of a 224x224 image).

    Examples:
        >>> FeatureInfo("layer1", channels=256, reduction=4).channels
        256
    """

    module: str
    channels: int
    reduction: int


class _StopAfterLastStage(Exception):
    """Raised by the hook of the last chosen stage: the rest of the forward pass is not run."""


def _tracing() -> bool:
    """Whether torch.export or torch.compile is tracing the forward pass.

    They cannot unwind module calls with an exception. While they trace, the pass runs to its
    end instead, the dropped modules pass their input through, and the graph's dead-code
    elimination removes everything that no chosen stage's output depends on.
    """
    return torch.compiler.is_compiling()


class _DroppedModule(nn.Module):
    """Stands where a module after the last chosen stage was: no parameters, and calling it is
    an error (the network used a module registered after that stage before reaching it)."""

    def __init__(self, name: str, last_stage: str) -> None:
        super().__init__()
        self.name = name
        self.last_stage = last_stage

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if _tracing() and args:
            return args[0]  # after the last chosen stage: traced, then removed as dead code
        raise RuntimeError(
            f"the feature extractor dropped module {self.name!r} (registered after the last "
            f"chosen stage {self.last_stage!r}, or the classifier), but the network's forward "
            "pass called it before reaching that stage; the extractor needs a network that "
            "registers its modules in forward order and uses its head only after its stages"
        )

    def extra_repr(self) -> str:
        return f"{self.name!r} dropped after stage {self.last_stage!r}"


def _network_name(model: nn.Module) -> str:
    name = getattr(model, "model_name", None)
    kind = type(model).__name__
    return f"{name} ({kind})" if isinstance(name, str) else kind


def _stages_of(model: nn.Module) -> list[FeatureInfo]:
    stages = getattr(model, "feature_info", None)
    if stages is None:
        raise TypeError(
            f"{_network_name(model)} has no feature_info, so it cannot be used as a backbone "
            "(features_only=True): its class must list its stages as "
            "resvision.models.features.FeatureInfo(module, channels, reduction)"
        )
    stages = list(stages) if isinstance(stages, (list, tuple)) else stages
    if (
        not isinstance(stages, list)
        or not stages
        or not all(isinstance(s, FeatureInfo) for s in stages)
    ):
        raise TypeError(
            f"{_network_name(model)}.feature_info must be a non-empty list of FeatureInfo, got "
            f"{stages!r}"
        )
    names = [s.module for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(
            f"{_network_name(model)}.feature_info names a module twice: {names}; each stage "
            "needs its own module"
        )
    for stage in stages:
        try:
            model.get_submodule(stage.module)
        except AttributeError:
            raise ValueError(
                f"{_network_name(model)}.feature_info names module {stage.module!r}, which "
                "the network does not have"
            ) from None
    return stages


def _check_out_indices(out_indices: object, num_stages: int, network: str) -> tuple[int, ...]:
    """``out_indices`` as non-negative stage indices (negative ones count from the end)."""
    valid = f"{network} has {num_stages} stages: valid indices are 0..{num_stages - 1} or "
    valid += f"-{num_stages}..-1"
    if out_indices is None:
        return tuple(range(num_stages))
    if isinstance(out_indices, (str, bytes)) or not isinstance(out_indices, Iterable):
        raise TypeError(
            f"out_indices must be a sequence of ints such as (1, 3), got {out_indices!r}; {valid}"
        )
    chosen = tuple(out_indices)
    if not chosen:
        raise ValueError(f"out_indices is empty: choose at least one stage; {valid}")
    indices = []
    for index in chosen:
        if isinstance(index, bool):
            raise TypeError(f"out_indices must hold ints, got {index!r} in {chosen!r}; {valid}")
        try:
            position = operator.index(index)
        except TypeError:
            raise TypeError(
                f"out_indices must hold ints, got {index!r} of type {type(index).__name__} in "
                f"{chosen!r}; {valid}"
            ) from None
        if not -num_stages <= position < num_stages:
            raise ValueError(f"out_indices {chosen!r}: {index!r} is out of range; {valid}")
        indices.append(position % num_stages)
    if len(set(indices)) != len(indices):
        raise ValueError(
            f"out_indices {chosen!r} chooses a stage twice (as stages {indices}); {valid}"
        )
    return tuple(indices)


_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _drop(parent: nn.Module, key: str, name: str, last_stage: str, dropped: list[str]) -> None:
    """Drop ``parent``'s child ``key`` (full name ``name``) and add ``name`` to ``dropped``.

    Out of a container it is deleted (the earlier entries keep their indices); a container
    becomes an empty one of its kind (a loop over it runs no step); another module becomes a
    placeholder whose call names the problem.
    """
    child = parent._modules[key]
    if isinstance(parent, _CONTAINERS):
        del parent._modules[key]
    elif isinstance(child, nn.Sequential):
        parent._modules[key] = nn.Sequential()
    elif isinstance(child, nn.ModuleList):
        parent._modules[key] = nn.ModuleList()
    elif isinstance(child, nn.ModuleDict):
        parent._modules[key] = nn.ModuleDict()
    else:
        parent._modules[key] = _DroppedModule(name, last_stage)
    dropped.append(name)


def _drop_after(root: nn.Module, last_stage: str, dropped: list[str]) -> None:
    """Drop every module registered after ``last_stage``, at each level of its dotted name."""
    module, prefix = root, ""
    for part in last_stage.split("."):
        names = list(module._modules)
        for later in names[names.index(part) + 1 :]:
            if module._modules[later] is not None:
                _drop(module, later, prefix + later, last_stage, dropped)
        child = module._modules[part]
        assert child is not None
        module, prefix = child, f"{prefix}{part}."


def _drop_module(root: nn.Module, head: object, last_stage: str, dropped: list[str]) -> None:
    """Drop ``head`` (the classifier) if it is still in ``root`` (registered before a stage)."""
    if not isinstance(head, nn.Module):
        return
    for name, module in root.named_modules():
        if module is head and name and not f"{last_stage}.".startswith(f"{name}."):
            parent_name, _, key = name.rpartition(".")
            parent = root.get_submodule(parent_name) if parent_name else root
            _drop(parent, key, name, last_stage, dropped)
            return


class FeatureExtractor(nn.Module):
    """A classifier used as a backbone: ``forward(x)`` returns the chosen stages' feature maps.

    The extractor takes the classifier's modules over (build the classifier for it, as
    ``features_only=True`` does): the modules up to the last chosen stage are kept under their
    own names, the later ones and the classifier are dropped (see the module documentation).

    Args:
        model: a network with ``feature_info`` (a list of :class:`FeatureInfo` in forward order).
        out_indices: the stages to return, as indices into ``model.feature_info``; negative
            indices count from the end; None: every stage. The feature maps come back in this
            order.

    Attributes:
        out_indices: the chosen stages, as non-negative indices.
        feature_info: the chosen stages' :class:`FeatureInfo`, in the order of ``out_indices``.

    Raises:
        TypeError: ``model`` has no ``feature_info`` (or not a list of :class:`FeatureInfo`),
            or ``out_indices`` is not a sequence of ints.
        ValueError: ``feature_info`` names a missing module or one module twice, or
            ``out_indices`` is empty, out of range or chooses a stage twice.

    Examples:
        >>> from resvision.models import resnet18
        >>> backbone = FeatureExtractor(resnet18(), out_indices=(-2, -1))
        >>> backbone.channels(), backbone.reduction()
        ([256, 512], [16, 32])
        >>> [tuple(f.shape) for f in backbone(torch.rand(1, 3, 64, 64))]
        [(1, 256, 4, 4), (1, 512, 2, 2)]
        >>> 'fc.weight' in backbone.state_dict()  # the classifier is dropped
        False
    """

    out_indices: tuple[int, ...]
    feature_info: list[FeatureInfo]

    def __init__(self, model: nn.Module, out_indices: Sequence[int] | None = None) -> None:
        super().__init__()
        stages = _stages_of(model)
        self.out_indices = _check_out_indices(out_indices, len(stages), _network_name(model))
        self.feature_info = [stages[i] for i in self.out_indices]
        last_stage = stages[max(self.out_indices)].module
        self._last_stage = last_stage
        get_classifier = getattr(model, "get_classifier", None)
        head = get_classifier() if callable(get_classifier) else None
        dropped: list[str] = []
        _drop_after(model, last_stage, dropped)
        _drop_module(model, head, last_stage, dropped)
        for info in self.feature_info:
            try:
                model.get_submodule(info.module)
            except AttributeError:
                raise ValueError(
                    f"{_network_name(model)}.feature_info is not in forward order: stage "
                    f"{info.module!r} is registered after the last chosen stage {last_stage!r}"
                ) from None
        # The network object is kept unregistered, for its forward code and its plain attributes
        # only: each call runs it on this extractor's own modules and tensors (see _network), so
        # the state-dict keys carry no prefix and a copy (deepcopy, or .to() replacing tensors)
        # runs on its own.
        self.__dict__["_template"] = model
        for name, child in model.named_children():
            if name not in dropped:
                self.add_module(name, child)
        for name, param in model.named_parameters(recurse=False):
            self.register_parameter(name, param)
        for name, buffer in model.named_buffers(recurse=False):
            persistent = name not in model._non_persistent_buffers_set
            self.register_buffer(name, buffer, persistent=persistent)
        if getattr(model, "pretrained_cfg", None) is not None:
            self.pretrained_cfg = model.pretrained_cfg

    def channels(self) -> list[int]:
        """The chosen stages' channels, in the order of ``out_indices``."""
        return [info.channels for info in self.feature_info]

    def reduction(self) -> list[int]:
        """The chosen stages' strides relative to the input, in the order of ``out_indices``."""
        return [info.reduction for info in self.feature_info]

    def _network(self) -> nn.Module:
        """The network, seeing this extractor's modules, parameters, buffers and mode."""
        template = self.__dict__["_template"]
        network = object.__new__(type(template))
        network.__dict__.update(template.__dict__)
        network.__dict__.update(
            _modules={**template._modules, **self._modules},
            _parameters=self._parameters,
            _buffers=self._buffers,
            training=self.training,
        )
        return network

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The chosen stages' feature maps, in the order of ``out_indices``.

        Raises:
            RuntimeError: a chosen stage's module did not run, ran twice, or its output was
                changed in place later in the pass (the network's ``feature_info`` is wrong).
        """
        network = self._network()
        names = [info.module for info in self.feature_info]
        outputs: dict[str, tuple[torch.Tensor, int | None]] = {}
        tracing = _tracing()

        def record(name: str, output: torch.Tensor) -> None:
            if name in outputs and tracing:
                return  # the pass goes on after the last stage (AirNet's TTA runs it again)
            if name in outputs:
                raise RuntimeError(
                    f"stage module {name!r} ran twice in one forward pass; each stage of "
                    "feature_info must name a module that runs once"
                )
            # The version counter tells, at the end, whether a later in-place operation
            # (ReLU(inplace=True) on a block's input, say) overwrote this feature map.
            tracked = isinstance(output, torch.Tensor) and not (tracing or output.is_inference())
            outputs[name] = (output, output._version if tracked else None)
            if name == self._last_stage and not tracing:
                raise _StopAfterLastStage

        handles = [
            network.get_submodule(name).register_forward_hook(
                lambda _module, _args, output, name=name: record(name, output)
            )
            for name in names
        ]
        try:
            run = getattr(network, "forward_features", network)
            run(x)
        except _StopAfterLastStage:
            pass
        finally:
            for handle in handles:
                handle.remove()
        missing = [name for name in names if name not in outputs]
        if missing:
            raise RuntimeError(
                f"stage modules {missing} did not run before {self._last_stage!r} in "
                f"{_network_name(network)}.forward_features: feature_info must list modules "
                "that run, in forward order"
            )
        features = []
        for name in names:
            output, version = outputs[name]
            if version is not None and output._version != version:
                raise RuntimeError(
                    f"the feature map of stage {name!r} was changed in place later in the "
                    "forward pass; the network must not modify a stage's output in place"
                )
            features.append(output)
        return features

    def extra_repr(self) -> str:
        return f"out_indices={self.out_indices}"
