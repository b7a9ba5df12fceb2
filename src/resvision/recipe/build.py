"""From a :class:`~resvision.recipe.config.Config` to the engine's objects: network, optimizer,
learning-rate schedule, loss, metrics and mixed-precision setting.

Everything is built with the public API (``resvision.models``, ``resvision.optim``,
``resvision.optim.lr``, ``resvision.metrics``); this module only translates config keys,
turning epochs into optimizer steps, and reports bad values as :class:`UsageError`.
"""

from __future__ import annotations

import fnmatch
import math
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from resvision.recipe.config import Config, ModelSection, OptimSection
from resvision.recipe.errors import UsageError, unknown_name_error


def check_model_name(name: str) -> None:
    """Raise a UsageError naming the close zoo names when ``name`` is not a model.

    Examples:
        >>> check_model_name("resnet20")
    """
    from resvision.models import list_models

    names = list_models()
    if name not in names:
        raise unknown_name_error("model", name, names, hint="`resvision models` lists the zoo")


def build_network(cfg: ModelSection, num_classes: int, in_channels: int) -> nn.Module:
    """Create the zoo model ``cfg.name`` for ``num_classes`` classes and ``in_channels`` input.

    Args:
        cfg: the model section (``num_classes`` there, when set, must equal the data's).
        num_classes: the number of classes of the data set.
        in_channels: the channels of the data (1 for MNIST).

    Returns:
        The network, on the CPU.

    Raises:
        UsageError: unknown model, a class count that contradicts the data, a network that
            cannot take ``in_channels``, or pretrained weights that cannot be had.

    Examples:
        >>> net = build_network(ModelSection(name="resnet20"), num_classes=10, in_channels=3)
        >>> net.num_classes
        10
    """
    from resvision.models import create_model, model_info
    from resvision.models.weights import PretrainedHeadSkippedWarning

    check_model_name(cfg.name)
    if cfg.num_classes is not None and cfg.num_classes != num_classes:
        raise UsageError(
            f"model.num_classes is {cfg.num_classes} but the data set has {num_classes} classes; "
            "leave model.num_classes unset to take the data's"
        )
    info = model_info(cfg.name)
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    weights = pretrained_value(cfg.pretrained)
    if weights is not None:
        kwargs["pretrained"] = weights
    if in_channels != info.input_size[0]:
        kwargs["in_channels"] = in_channels
    if cfg.drop_path_rate:
        kwargs["drop_path_rate"] = cfg.drop_path_rate
    try:
        with warnings.catch_warnings():
            # the CLI says which keys were skipped itself (describe_pretrained)
            warnings.simplefilter("ignore", PretrainedHeadSkippedWarning)
            return create_model(cfg.name, **kwargs)
    except TypeError as err:
        if "drop_path_rate" in kwargs and "drop_path_rate" in str(err):
            raise UsageError(
                f"model.drop_path_rate={cfg.drop_path_rate:g}: model {cfg.name} has no "
                "stochastic depth; it is built into the ResNet family (resnet18-152, resnet20-"
                "110, resnext*, wide_resnet*); leave model.drop_path_rate at 0"
            ) from None
        if "in_channels" in kwargs and "in_channels" in str(err):
            example = "lenet" if in_channels == 1 else "resnet20"
            raise UsageError(
                f"model {cfg.name} takes {info.input_size[0]}-channel images but the data has "
                f"{in_channels} channel(s); choose another model (e.g. {example})"
            ) from None
        raise UsageError(f"cannot build model {cfg.name}: {err}") from None
    except (ValueError, OSError) as err:
        # Pretrained weights unavailable (no network, no file), or a bad option value.
        raise UsageError(f"cannot build model {cfg.name}: {err}") from None


def pretrained_value(text: str | None) -> bool | str | None:
    """``model.pretrained`` as ``create_model`` takes it: None, True, or a name / URL / path.

    Examples:
        >>> pretrained_value("true"), pretrained_value("off"), pretrained_value("w.pt")
        (True, None, 'w.pt')
    """
    if text is None or text.strip().lower() in ("", "false", "no", "off", "none"):
        return None
    if text.strip().lower() in ("true", "yes", "on"):
        return True
    return text


def describe_pretrained(network: nn.Module) -> str | None:
    """One line on the weights a network started from, naming skipped classifier keys."""
    cfg = getattr(network, "pretrained_cfg", None)
    if not cfg:
        return None
    line = f"starting from {cfg['source']}: {cfg['loaded_keys']} tensors loaded"
    if cfg.get("head_reinitialized"):
        skipped = ", ".join(cfg["skipped_keys"]) or "none in the file"
        line += (
            f"; classifier re-initialised for {cfg.get('num_classes')} classes "
            f"(skipped keys: {skipped})"
        )
    return line


def effective_lr(cfg: Config, world_size: int = 1) -> float:
    """``optim.lr``, scaled by ``global batch / optim.lr_reference_batch`` when that is set.

    The global batch is ``batch_size * world_size``: with several processes each trains on
    ``batch_size`` samples per step (the linear scaling rule, Goyal et al. 2017).

    Examples:
        >>> cfg = Config()
        >>> cfg.optim.lr, cfg.optim.lr_reference_batch, cfg.train.batch_size = 0.1, 256, 512
        >>> effective_lr(cfg), effective_lr(cfg, world_size=4)
        (0.2, 0.8)
    """
    lr = cfg.optim.lr
    if cfg.optim.lr_reference_batch:
        lr = lr * cfg.train.batch_size * world_size / cfg.optim.lr_reference_batch
    return lr


def build_schedule(cfg: Config, steps_per_epoch: int, world_size: int = 1) -> Any:
    """The learning-rate schedule of ``schedule.*``, stepped once per optimizer step.

    Epoch counts (``warmup_epochs``, ``milestones``, ``step_size``) may be fractional and are
    converted to steps with ``steps_per_epoch``.

    Args:
        cfg: the config.
        steps_per_epoch: optimizer steps per epoch (of one process when distributed).
        world_size: processes training together (the global batch scales the learning rate,
            see :func:`effective_lr`).

    Returns:
        A float (constant rate) or a ``resvision.optim.lr`` schedule.

    Raises:
        UsageError: a value the schedule cannot take (the message names the key).

    Examples:
        >>> cfg = Config()
        >>> cfg.schedule.name, cfg.train.epochs, cfg.schedule.milestones = "multistep", 4, [2, 3]
        >>> s = build_schedule(cfg, steps_per_epoch=10)
        >>> type(s).__name__, s.milestones
        ('MultiStepDecay', [20, 30])
    """
    from resvision.optim import lr as schedules

    sch = cfg.schedule
    lr = effective_lr(cfg, world_size)
    total = max(1, steps_per_epoch * cfg.train.epochs)
    warmup = round(sch.warmup_epochs * steps_per_epoch)
    if warmup >= total:
        raise UsageError(
            f"schedule.warmup_epochs ({sch.warmup_epochs:g}) must be shorter than the training "
            f"({cfg.train.epochs} epochs)"
        )

    def steps(epochs: float) -> int:
        return max(1, round(epochs * steps_per_epoch))

    try:
        if sch.name == "constant":
            main: Any = lr
        elif sch.name == "step":
            main = schedules.StepDecay(lr, step_size=steps(sch.step_size), gamma=sch.gamma)
        elif sch.name == "multistep":
            if not sch.milestones:
                raise UsageError(
                    "schedule.name=multistep needs schedule.milestones, e.g. [82, 123]"
                )
            milestones = [steps(m) - warmup for m in sch.milestones]
            main = schedules.MultiStepDecay(lr, milestones=milestones, gamma=sch.gamma)
        elif sch.name == "linear":
            main = schedules.PolynomialDecay(
                lr, decay_steps=total - warmup, end_lr=sch.min_lr, power=1.0
            )
        elif sch.name == "cosine":
            main = schedules.CosineAnnealingDecay(lr, T_max=total - warmup, eta_min=sch.min_lr)
        elif sch.name == "onecycle":
            if warmup:
                raise UsageError("the onecycle schedule has its own warmup: set warmup_epochs=0")
            return schedules.OneCycleLR(
                max_learning_rate=lr,
                total_steps=total,
                phase_pct=sch.pct_start,
                end_learning_rate=sch.min_lr,
            )
        else:  # the config's choices make this unreachable
            raise AssertionError(sch.name)
        if warmup:
            return schedules.LinearWarmup(main, warmup_steps=warmup, start_lr=0.0, end_lr=lr)
        return main
    except (ValueError, TypeError) as err:
        raise UsageError(f"bad schedule settings: {err}") from None


def _split_early(
    groups: list[dict[str, Any]],
    network: torch.nn.Module,
    patterns: list[str],
    stop_step: int,
) -> list[dict[str, Any]]:
    """Move the parameters named by ``patterns`` into copies of their groups that stop at
    ``stop_step`` (the schedules' ``linear_decay_steps`` group key).

    Raises:
        UsageError: a pattern that names no trainable parameter (the message lists them).
    """
    names = {id(p): n for n, p in network.named_parameters() if p.requires_grad}
    early: set[int] = set()
    for pattern in patterns:
        hits = {i for i, n in names.items() if fnmatch.fnmatchcase(n, pattern)}
        if not hits:
            shown = ", ".join(list(names.values())[:12])
            raise UsageError(
                f"optim.early_params: {pattern!r} names no trainable parameter of the network "
                f"(its parameters: {shown}{', ...' if len(names) > 12 else ''})"
            )
        early |= hits
    out = []
    for group in groups:
        params = list(group["params"])
        late = [p for p in params if id(p) not in early]
        first = [p for p in params if id(p) in early]
        if late:
            out.append({**group, "params": late})
        if first:
            out.append({**group, "params": first, "linear_decay_steps": stop_step})
    return out


def build_optimizer(
    cfg: OptimSection,
    network: torch.nn.Module,
    learning_rate: Any,
    steps_per_epoch: int | None = None,
) -> torch.optim.Optimizer:
    """The optimizer of ``optim.name`` over ``network``'s parameters, driven by ``learning_rate``.

    Args:
        cfg: the optim section.
        network: the network (its classifier stays out of Muon's matrices).
        learning_rate: a float or a schedule (see :func:`build_schedule`).
        steps_per_epoch: optimizer steps per epoch; needed for ``optim.early_params``.

    Returns:
        A ``resvision.optim`` optimizer (a ``torch.optim.Optimizer``).

    Raises:
        UsageError: a value the optimizer refuses.
    """
    from resvision import optim
    from resvision.optim import lr as schedules

    parameters: Any = network.parameters()
    clip = None if cfg.clip_grad_norm is None else optim.ClipGradByGlobalNorm(cfg.clip_grad_norm)
    if cfg.early_params:
        if steps_per_epoch is None:
            raise TypeError("build_optimizer needs steps_per_epoch when optim.early_params is set")
        if not isinstance(learning_rate, schedules.LRScheduler):
            # the early groups' line is counted by a schedule: a constant one for a fixed rate
            learning_rate = schedules.ExponentialDecay(learning_rate, gamma=1.0)
    try:
        if cfg.name == "muon":
            aux_lr = cfg.lr if cfg.aux_lr is None else cfg.aux_lr
            if cfg.lr == 0 and aux_lr != 0:
                # the SGD groups' rate is a ratio to optim.lr, which cannot scale 0 up
                raise UsageError(
                    f"optim.name=muon needs optim.lr > 0 when optim.aux_lr is set (got lr=0, "
                    f"aux_lr={aux_lr:g})"
                )
            parameters = optim.muon_param_groups(
                network,
                aux_lr_ratio=aux_lr / cfg.lr if cfg.lr else 1.0,
                aux_momentum=cfg.aux_momentum,
                aux_weight_decay=cfg.weight_decay,
            )
        elif cfg.early_params:
            parameters = [{"params": [p for p in network.parameters() if p.requires_grad]}]
        if cfg.norm_weight_decay is not None or cfg.bias_weight_decay is not None:
            parameters = optim.weight_decay_groups(
                network,
                norm_weight_decay=cfg.norm_weight_decay,
                bias_weight_decay=cfg.bias_weight_decay,
                groups=None if isinstance(parameters, Iterator) else parameters,
            )
        if cfg.early_params:
            stop = max(1, round(cfg.early_epochs * steps_per_epoch))
            parameters = _split_early(parameters, network, cfg.early_params, stop)
        if cfg.name == "muon":
            # The filters are kept at a fixed norm (airbench94_muon), so they need no decay.
            return optim.Muon(
                learning_rate=learning_rate,
                momentum=cfg.momentum,
                parameters=parameters,
                use_nesterov=cfg.nesterov,
                ns_steps=cfg.ns_steps,
                normalize_weights=True,
                grad_clip=clip,
            )
        if cfg.name == "momentum":
            return optim.Momentum(
                learning_rate=learning_rate,
                momentum=cfg.momentum,
                parameters=parameters,
                use_nesterov=cfg.nesterov,
                weight_decay=optim.L2Decay(cfg.weight_decay) if cfg.weight_decay else None,
                grad_clip=clip,
            )
        if cfg.name == "sgd":
            return optim.SGD(
                learning_rate=learning_rate,
                parameters=parameters,
                weight_decay=cfg.weight_decay,
                grad_clip=clip,
            )
        if cfg.name == "adam":
            return optim.Adam(
                learning_rate=learning_rate,
                parameters=parameters,
                weight_decay=cfg.weight_decay,
                grad_clip=clip,
            )
        return optim.AdamW(
            learning_rate=learning_rate,
            parameters=parameters,
            weight_decay=cfg.weight_decay,
            grad_clip=clip,
        )
    except (ValueError, TypeError) as err:
        raise UsageError(f"bad optimizer settings: {err}") from None


def build_batch_mix(cfg: Config, num_classes: int | None = None) -> Any:
    """The :class:`~resvision.data.mixing.Mixup` of ``data.mixup_alpha`` /
    ``data.cutmix_alpha``, or None when both are 0.

    The targets are not smoothed here: ``train.label_smoothing`` smooths them in the loss
    (``nn.CrossEntropyLoss`` smooths class probabilities as it smooths indices). Without
    ``num_classes``, ``Model.fit`` takes the network's.

    Examples:
        >>> from resvision.recipe.config import resolve
        >>> build_batch_mix(resolve(None, {}, ["data.cutmix_alpha=1.0"]), 10)
        Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, label_smoothing=0.0, num_classes=10)
        >>> build_batch_mix(resolve(), 10) is None
        True
    """
    from resvision.data.mixing import Mixup

    data = cfg.data
    if not (data.mixup_alpha or data.cutmix_alpha):
        return None
    return Mixup(
        mixup_alpha=data.mixup_alpha,
        cutmix_alpha=data.cutmix_alpha,
        prob=data.mix_prob,
        switch_prob=data.mix_switch_prob,
        num_classes=num_classes,
    )


def amp_setting(amp: str, device: torch.device) -> str | None:
    """The engine's ``amp_configs`` for ``train.amp`` (None: full precision).

    ``auto`` is the engine's own choice on every device (:mod:`resvision.engine.autotune`, the
    one speed policy: native bf16, fp16 with a loss scaler on older CUDA GPUs, fp32 under
    ``--deterministic`` and for small networks); an explicit level is kept as given.

    Examples:
        >>> amp_setting("auto", torch.device("cuda"))
        'auto'
        >>> amp_setting("off", torch.device("cpu")) is None
        True
        >>> amp_setting("fp16", torch.device("cuda"))
        'fp16'
    """
    from resvision.engine.autotune import AUTO

    if amp == "off":
        return None
    return AUTO if amp == "auto" else amp


def steps_per_epoch(num_samples: int, batch_size: int, accumulate: int) -> int:
    """Optimizer steps per epoch: batches (the last partial one included) over accumulation.

    Examples:
        >>> steps_per_epoch(5000, 64, 1), steps_per_epoch(5000, 64, 4)
        (79, 20)
    """
    return max(1, math.ceil(math.ceil(num_samples / batch_size) / accumulate))


def resolve_device_name(name: str) -> torch.device:
    """The torch device of ``--device`` (``auto``: CUDA, then MPS, then CPU)."""
    from resvision.engine.device import resolve_device

    try:
        return resolve_device(None if name == "auto" else name)
    except (ValueError, RuntimeError, TypeError) as err:
        raise UsageError(f"--device {name!r}: {err}") from None
