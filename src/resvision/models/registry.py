"""The model registry: ``create_model``, ``list_models`` and ``model_info`` by name.

Each family module registers its public constructors with :func:`register_model`, so that a new
variant is a short builder plus a decorator, and the tests (generated from :func:`list_models`)
cover it for free. Registering a name twice is an error rather than a silent overwrite, so two
modules cannot fight over a name depending on import order.

Every registered builder also gives the network as a backbone, handled here so that a family
needs no code for it: ``features_only=True`` returns a
:class:`~resvision.models.features.FeatureExtractor` (the feature maps of the stages the
network lists in ``feature_info``), ``out_indices=(...)`` chooses the stages::

    >>> backbone = create_model('resnet50', features_only=True, out_indices=(-1,))
    >>> backbone.channels(), backbone.reduction()
    ([2048], [32])
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from .features import FeatureExtractor

__all__ = [
    "ModelInfo",
    "UnknownModelError",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
    "unregister_model",
]

ConstructorT = TypeVar("ConstructorT", bound=Callable[..., nn.Module])


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model.

    Attributes:
        name: registered name (``'resnet50'``).
        family: model family (``'resnet'``, ``'cifar_resnet'``, ``'vgg'``, ...).
        input_size: natural input size ``(C, H, W)``, e.g. ``(3, 224, 224)``.
        num_classes: default number of classes.
        constructor: the function that builds the model.
        description: first line of the constructor's docstring.
    """

    name: str
    family: str
    input_size: tuple[int, int, int]
    num_classes: int
    constructor: Callable[..., nn.Module]
    description: str = ""


_REGISTRY: dict[str, ModelInfo] = {}


class UnknownModelError(KeyError):
    """Raised for a model name that is not registered.

    A ``KeyError`` (the registry is a mapping), whose message is printed as written: a plain
    ``KeyError`` would show it quoted, escapes included.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def register_model(
    name: str | None = None,
    *,
    family: str,
    input_size: tuple[int, int, int] = (3, 224, 224),
    num_classes: int = 1000,
) -> Callable[[ConstructorT], ConstructorT]:
    """Decorator that registers a model constructor under ``name`` (default: its ``__name__``).

    Args:
        name: registered name; the function's name when None.
        family: model family, e.g. ``'resnet'``.
        input_size: natural input size ``(C, H, W)``.
        num_classes: the constructor's default number of classes.

    Returns:
        The decorator; it returns the function wrapped so that the network it builds carries
        its registry name (``net.model_name``), with the same signature and docstring: the
        name the builder gave the network when it is a registered one (``vgg16(batch_norm=True)``
        builds, and names, ``vgg16_bn``; builders name their network through
        ``load_pretrained(..., model_name=...)``), else the builder's own name. The
        wrapped function also accepts ``features_only=True`` and ``out_indices=(...)``: it then
        builds the network and returns it as a
        :class:`~resvision.models.features.FeatureExtractor` (see :func:`create_model`).

    Raises:
        ValueError: the name is already registered, or ``input_size`` is not three positive ints.

    Examples:
        >>> from torch import nn
        >>> @register_model('doc_tiny_net', family='demo', input_size=(1, 8, 8), num_classes=2)
        ... def doc_tiny_net(*, pretrained=False, num_classes=2):
        ...     return nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))
        >>> model_info('doc_tiny_net').input_size
        (1, 8, 8)
        >>> unregister_model('doc_tiny_net')
    """
    if len(input_size) != 3 or not all(isinstance(v, int) and v > 0 for v in input_size):
        raise ValueError(f"input_size must be three positive ints (C, H, W), got {input_size!r}")

    def decorator(fn: ConstructorT) -> ConstructorT:
        key = name or fn.__name__
        if key in _REGISTRY:
            existing = _REGISTRY[key].constructor
            raise ValueError(
                f"model name {key!r} is already registered (by {existing.__module__}."
                f"{existing.__qualname__}); choose another name"
            )
        doc = (fn.__doc__ or "").strip().splitlines()

        @functools.wraps(fn)
        def build(*args: Any, **kwargs: Any) -> nn.Module:
            features_only, out_indices = _backbone_options(key, kwargs)
            net = fn(*args, **kwargs)
            # The network knows its registry name: the engine writes it into every checkpoint
            # (identity.model), so eval/predict/export can rebuild it from the file alone. An
            # option may build a sibling's network (vgg16(batch_norm=True) is vgg16_bn): the
            # name the builder gave it wins, or the checkpoint would rebuild another network.
            given = getattr(net, "model_name", None)
            net.model_name = given if isinstance(given, str) and given in _REGISTRY else key
            return FeatureExtractor(net, out_indices) if features_only else net

        _REGISTRY[key] = ModelInfo(
            name=key,
            family=family,
            input_size=tuple(input_size),  # type: ignore[arg-type]
            num_classes=num_classes,
            constructor=build,  # type: ignore[arg-type]
            description=doc[0] if doc else "",
        )
        return build  # type: ignore[return-value]

    return decorator


def _backbone_options(name: str, kwargs: dict[str, Any]) -> tuple[bool, Any]:
    """Take ``features_only`` and ``out_indices`` out of a builder's keyword arguments."""
    features_only = kwargs.pop("features_only", False)
    out_indices = kwargs.pop("out_indices", None)
    if not isinstance(features_only, bool):
        raise TypeError(
            f"{name}: features_only must be True or False, got {features_only!r} of type "
            f"{type(features_only).__name__}"
        )
    if out_indices is not None and not features_only:
        raise ValueError(
            f"{name}: out_indices={out_indices!r} chooses the stages of a backbone; pass "
            "features_only=True with it (without it the network is a classifier)"
        )
    return features_only, out_indices


def unregister_model(name: str) -> None:
    """Remove ``name`` from the registry (for tests and interactive experiments).

    Raises:
        KeyError: ``name`` is not registered.
    """
    model_info(name)  # the same helpful error as everywhere else
    del _REGISTRY[name]


def list_models(pattern: str | None = None, *, family: str | None = None) -> list[str]:
    """Sorted names of the registered models.

    Args:
        pattern: shell-style pattern (``fnmatch``), e.g. ``'resnet*'``; None lists all.
        family: keep only this family (``'resnet'``, ``'cifar_resnet'``, ``'vgg'``,
            ``'mobilenet'``, ``'lenet'``).

    Returns:
        The matching names, sorted.

    Examples:
        >>> list_models('vgg1[16]')
        ['vgg11', 'vgg16']
        >>> list_models(family='cifar_resnet')
        ['resnet110', 'resnet20', 'resnet32', 'resnet44', 'resnet56']
    """
    names = sorted(_REGISTRY)
    if pattern is not None:
        names = fnmatch.filter(names, pattern)
    if family is not None:
        names = [n for n in names if _REGISTRY[n].family == family]
    return names


def model_info(name: str) -> ModelInfo:
    """The registry entry of ``name``.

    Raises:
        KeyError: unknown name; the message lists the closest registered names.

    Examples:
        >>> info = model_info('resnet20')
        >>> info.family, info.input_size, info.num_classes
        ('cifar_resnet', (3, 32, 32), 10)
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        pass
    close = difflib.get_close_matches(str(name), list(_REGISTRY), n=5, cutoff=0.5)
    hint = f"closest names: {', '.join(close)}" if close else "see list_models()"
    raise UnknownModelError(f"unknown model {name!r}; {hint}")


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name``, passing ``kwargs`` to its constructor.

    Every registered builder takes two more keyword arguments, for backbone use (timm's):

    - ``features_only=True``: return the network as a
      :class:`~resvision.models.features.FeatureExtractor`, whose ``forward(x)`` returns the
      feature maps of its stages (``feature_info``) and computes nothing after the last chosen
      one; its ``state_dict()`` keys are the classifier's, without the head's.
    - ``out_indices=(...)``: the stages to return (indices into the network's ``feature_info``,
      negative ones from the end; default: all); only with ``features_only=True``.

    The same holds for the builders themselves: ``resnet50(features_only=True)``.

    Args:
        name: registered name, see :func:`list_models`.
        **kwargs: constructor arguments (``num_classes``, ``pretrained``, ...), and
            ``features_only`` / ``out_indices``.

    Returns:
        The new model (in training mode, on the CPU); a ``FeatureExtractor`` with
        ``features_only=True``.

    Raises:
        KeyError: unknown name; the message lists the closest registered names.
        TypeError: ``features_only=True`` for a network without ``feature_info``, a
            ``features_only`` that is not a bool, or ``out_indices`` that are not ints.
        ValueError: ``out_indices`` without ``features_only=True``, or out of range (the
            message gives the valid range) or repeated.

    Examples:
        >>> net = create_model('resnet20', num_classes=100)
        >>> net.num_classes
        100
        >>> import torch
        >>> backbone = create_model('resnet50', features_only=True, out_indices=(-2, -1))
        >>> [tuple(f.shape) for f in backbone(torch.rand(1, 3, 64, 64))]
        [(1, 1024, 4, 4), (1, 2048, 2, 2)]
    """
    return model_info(name).constructor(**kwargs)
