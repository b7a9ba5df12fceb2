"""The typed configuration of a training run: defaults, YAML files and dotted overrides.

A run is described by one :class:`Config` with nested sections. It is resolved in this order,
later sources winning: the defaults below (the embedded-sample quick run, also written out as
``configs/sample_quick.yaml``), the ``--config`` file, the command-line flags (``--lr`` ...),
then each ``--set section.key=value`` in the order given. Every key is checked: an unknown key or
a value of the wrong type is a :class:`~resvision.recipe.errors.UsageError` naming the close valid
keys.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from resvision.recipe.errors import UsageError, unknown_name_error

#: Data set names the command line knows; anything else must be a folder.
DATA_NAMES = ("sample", "cifar10", "cifar100", "mnist", "fashion-mnist")


# Caps on sizes (documented in the README): far above any real use, low enough that a typo
# (an extra zero or three) is an error message, not the kernel killing the process at 23 GB.
# Below the caps, resvision train also checks a lower bound of the memory a batch needs.
MAX_IMAGE_SIDE = 4096


def _choices(*values: str) -> dict[str, tuple[str, ...]]:
    return {"choices": values}


def _range(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> dict[str, tuple[float | None, float | None, bool, bool]]:
    """Field metadata: the value (each item of a list) must lie between ``low`` and ``high``
    (bounds included unless ``*_open``; None: no bound)."""
    return {"range": (low, high, low_open, high_open)}


def _check_range(value: Any, key: str, bounds: tuple[Any, Any, bool, bool]) -> None:
    """Raise a UsageError naming ``key`` when ``value`` (or an item of it) is out of bounds."""
    low, high, low_open, high_open = bounds
    for item in value if isinstance(value, list) else [value]:
        if item is None:
            continue
        too_low = low is not None and (item <= low if low_open else item < low)
        too_high = high is not None and (item >= high if high_open else item > high)
        if too_low or too_high:
            raise UsageError(f"{key} must be {_describe_range(bounds)}, got {item!r}")


def _describe_range(bounds: tuple[Any, Any, bool, bool]) -> str:
    low, high, low_open, high_open = bounds
    if high is None:
        return f"{'above' if low_open else 'at least'} {low}"
    if low is None:
        return f"{'below' if high_open else 'at most'} {high}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


@dataclass
class ModelSection:
    """The network: a name of the zoo (``resvision models`` lists them)."""

    name: str = "resnet20"
    #: Starting weights: none (None/false), true (the model's default published weights), a
    #: weights name (IMAGENET1K_V1, PADDLE_IMAGENET1K), a URL, or a checkpoint / weights file.
    #: A classifier of another size is re-initialised (fine-tuning).
    pretrained: str | None = None
    #: Train only the classifier (linear probing) ...
    freeze_backbone: bool = False
    #: ... until this epoch (0-based), from which the whole network trains; None: never.
    unfreeze_epoch: int | None = field(default=None, metadata=_range(0))
    #: None: the number of classes of the data set.
    num_classes: int | None = field(default=None, metadata=_range(1, 1_000_000))
    #: Stochastic depth (ResNet family): the last residual block's probability of being
    #: dropped in training, the earlier blocks' rising linearly from 0; 0: off.
    drop_path_rate: float = field(default=0.0, metadata=_range(0, 1, high_open=True))


@dataclass
class DataSection:
    """The data set, its augmentation and its loading."""

    #: 'sample' (embedded), 'cifar10', 'cifar100', 'mnist', 'fashion-mnist', or a folder holding
    #: train/ and val/ (or test/) with one sub-folder per class.
    name: str = "sample"
    #: The data set's files: the CIFAR archive (or the folder holding it), the folder of the
    #: four MNIST idx files. None: the download cache (``$RESVISION_CACHE``, ~/.cache/resvision).
    root: str | None = None
    download: bool = True
    #: 'none'; 'flip'; 'flip-crop' (random crop with 4-pixel padding + horizontal flip, the CIFAR
    #: standard of He et al. 2015); 'imagenet' (random-resized crop + flip).
    augment: str = field(
        default="flip-crop", metadata=_choices("none", "flip", "flip-crop", "imagenet")
    )
    #: 'flip-crop': pixels of padding on each side before the random crop; None: 1/8 of the
    #: image side (4 for CIFAR).
    crop_padding: int | None = field(default=None, metadata=_range(0, MAX_IMAGE_SIDE))
    #: 'flip-crop': how the padding is filled: 'constant' (zeros), 'reflect' (airbench's random
    #: translations), 'edge' or 'symmetric'.
    padding_mode: str = field(
        default="constant", metadata=_choices("constant", "reflect", "edge", "symmetric")
    )
    #: The training flip of 'flip' and 'flip-crop': 'random' (each image with probability
    #: 0.5), or 'alternate' (each image mirrored on every other epoch, airbench's alternating
    #: flip; resvision.data.epoch_context).
    flip: str = field(default="random", metadata=_choices("random", "alternate"))
    #: Training and evaluation crop size; None: the natural size of the data (32 for CIFAR).
    image_size: int | None = field(default=None, metadata=_range(1, MAX_IMAGE_SIDE))
    #: Evaluation crop size when it differs from the training one (torchvision's ResNet-50
    #: recipe trains at 176 and evaluates at 224: FixRes); None: image_size.
    eval_size: int | None = field(default=None, metadata=_range(1, MAX_IMAGE_SIDE))
    #: Evaluation resize of the shorter side before the center crop; None: eval size * 8 / 7.
    eval_resize: int | None = field(default=None, metadata=_range(1, MAX_IMAGE_SIDE))
    #: Scale to [0, 1] and subtract the data set's channel mean, divide by its std. False feeds
    #: raw 0..255 pixels, as the tutorial's ``Transpose()``-only pipeline does.
    normalize: bool = True
    num_workers: int = field(default=0, metadata=_range(0, 256))
    #: Repeated augmentation (torchvision's --ra-sampler, 3 repeats): each training image of an
    #: epoch is taken this many times, each copy augmented on its own; the epoch keeps its
    #: number of steps. 1: off.
    aug_repeats: int = field(default=1, metadata=_range(1, 64))
    #: A policy augmentation after the geometry of ``augment``: 'ta_wide' (TrivialAugmentWide,
    #: torchvision's ResNet-50 recipe), 'ra' (RandAugment), 'augmix', or AutoAugment's learned
    #: policy of 'imagenet', 'cifar10' or 'svhn'; 'none': off.
    auto_augment: str = field(
        default="none",
        metadata=_choices("none", "ta_wide", "ra", "augmix", "imagenet", "cifar10", "svhn"),
    )
    #: Random erasing (Zhong et al. 2017) of each training image with this probability, after
    #: the normalisation (torchvision's recipe: 0.1); 0: off.
    random_erase: float = field(default=0.0, metadata=_range(0, 1))
    #: MixUp of whole training batches, Beta(alpha, alpha) (torchvision's recipe: 0.2); 0: off.
    mixup_alpha: float = field(default=0.0, metadata=_range(0))
    #: CutMix of whole training batches, Beta(alpha, alpha) (torchvision's recipe: 1.0); 0: off.
    cutmix_alpha: float = field(default=0.0, metadata=_range(0))
    #: With MixUp or CutMix on: the chance that a batch is mixed.
    mix_prob: float = field(default=1.0, metadata=_range(0, 1))
    #: With both on: the chance of CutMix rather than MixUp for a batch.
    mix_switch_prob: float = field(default=0.5, metadata=_range(0, 1))


@dataclass
class OptimSection:
    """The optimizer. 'momentum' is Paddle's Momentum (SGD with momentum, L2 decay); 'muon' is
    Muon for the convolution filters and hidden matrices (``lr``, ``momentum``; weights kept at
    a fixed norm) with SGD for biases, normalisation parameters and the classifier (``aux_lr``,
    ``aux_momentum``, ``weight_decay``), see ``resvision.optim.Muon``."""

    name: str = field(
        default="momentum", metadata=_choices("momentum", "sgd", "adam", "adamw", "muon")
    )
    lr: float = field(default=0.05, metadata=_range(0))
    momentum: float = field(default=0.9, metadata=_range(0, 1))
    nesterov: bool = False
    weight_decay: float = field(default=5e-4, metadata=_range(0))
    #: Linear scaling rule (Goyal et al. 2017): the learning rate used is lr * global batch / this,
    #: the global batch being batch_size * processes (--nproc, torchrun). None: lr as given.
    lr_reference_batch: int | None = field(default=None, metadata=_range(1))
    #: 'muon': the learning rate of the parameters trained by SGD (None: lr).
    aux_lr: float | None = field(default=None, metadata=_range(0))
    #: 'muon': their momentum (None: momentum).
    aux_momentum: float | None = field(default=None, metadata=_range(0, 1))
    #: 'muon': Newton-Schulz iterations per update (airbench94_muon uses 3).
    ns_steps: int = field(default=5, metadata=_range(1))
    #: Parameters (names or patterns such as 'whiten.bias', '*.bias') that train only at the
    #: start: their rate falls in a straight line from its value at step 0 to 0 at the end of
    #: early_epochs, then they stay fixed (airbench trains its whitening bias for 3 epochs).
    early_params: list[str] = field(default_factory=list)
    early_epochs: float = field(default=3.0, metadata=_range(0, low_open=True))
    #: The weight decay of the normalisation layers' scales and shifts (torchvision's recipe
    #: uses 0); None: weight_decay, like every other parameter.
    norm_weight_decay: float | None = field(default=None, metadata=_range(0))
    #: The weight decay of the other biases; None: weight_decay.
    bias_weight_decay: float | None = field(default=None, metadata=_range(0))
    #: Scale the gradients so that their global L2 norm is at most this, before each update
    #: (``ClipGradByGlobalNorm``; torchvision's ``--clip-grad-norm``); None: no clipping.
    clip_grad_norm: float | None = field(default=None, metadata=_range(0, low_open=True))


@dataclass
class ScheduleSection:
    """The learning-rate schedule, stepped every iteration; epochs may be fractional."""

    name: str = field(
        default="cosine",
        metadata=_choices("constant", "step", "multistep", "linear", "cosine", "onecycle"),
    )
    #: Linear warmup from ~0 to the learning rate over this many epochs.
    warmup_epochs: float = field(default=0.0, metadata=_range(0))
    #: 'multistep': epochs at which the learning rate is multiplied by gamma.
    milestones: list[float] = field(default_factory=list, metadata=_range(0))
    #: 'step': every this many epochs the learning rate is multiplied by gamma.
    step_size: float = field(default=30.0, metadata=_range(0, low_open=True))
    gamma: float = field(default=0.1, metadata=_range(0, low_open=True))
    #: 'cosine', 'linear' (a straight decay after the warmup): the final learning rate.
    min_lr: float = field(default=0.0, metadata=_range(0))
    #: 'onecycle': fraction of the iterations spent rising to the peak.
    pct_start: float = field(default=0.25, metadata=_range(0, 1, low_open=True, high_open=True))


@dataclass
class TrainSection:
    """The training loop."""

    epochs: int = field(default=15, metadata=_range(1, 100_000))
    batch_size: int = field(default=64, metadata=_range(1, 1 << 20))
    label_smoothing: float = field(default=0.0, metadata=_range(0, 1, high_open=True))
    #: 'auto' (the engine's choice: bf16 where the processor or GPU computes it natively, never
    #: in deterministic mode; fp16 with a loss scaler on CUDA without bf16 and on MPS); 'off';
    #: 'bf16'; 'fp16' (with a loss scaler on CUDA); or Paddle's 'O1'/'O2'.
    amp: str = field(default="auto", metadata=_choices("off", "auto", "bf16", "fp16", "O1", "O2"))
    #: Channels-last memory format; 'auto' (None): the engine's choice (on for convolutional
    #: networks of 100k+ parameters on CPU and CUDA).
    channels_last: bool | None = None
    #: torch.compile; 'auto' (None): the engine's choice (off: no measured gain on CPU worth
    #: the compile time).
    compile: bool | None = None
    #: Experiment tracking: 'mlflow' logs the config, the metrics and the run folder's files
    #: to MLflow (needs resvision[mlflow]; MLFLOW_TRACKING_URI, else runs/mlruns); 'none'.
    tracking: str = field(default="none", metadata=_choices("none", "mlflow"))
    #: Exponential moving average of the weights, evaluated in place of the raw weights.
    ema_decay: float | None = field(default=None, metadata=_range(0, 1, high_open=True))
    accumulate_grad_batches: int = field(default=1, metadata=_range(1, 1 << 16))
    #: With several processes (--nproc, torchrun): BatchNorm statistics over all processes'
    #: batches (for small per-process batches). batch_size is per process.
    sync_bn: bool = False
    seed: int = field(default=0, metadata=_range(0, 2**63 - 1))
    #: Deterministic algorithms: bit-identical reruns and resumes on CPU, slower on GPU.
    deterministic: bool = False
    #: 'auto' (CUDA, then MPS, then CPU), 'cpu', 'cuda', 'cuda:1', 'mps'.
    device: str = "auto"
    #: Stop after this many optimizer steps in all (for smoke tests); None: run every epoch.
    max_steps: int | None = field(default=None, metadata=_range(1, 1 << 40))
    eval_freq: int = field(default=1, metadata=_range(1))
    save_freq: int = field(default=1, metadata=_range(1))
    #: Also write checkpoints/last.pt every this many optimizer steps, so that a crash (power
    #: cut, SIGKILL, preemption) loses at most that many steps; None: only per epoch.
    save_steps: int | None = field(default=None, metadata=_range(1))
    log_freq: int = field(default=20, metadata=_range(1))


@dataclass
class OutputSection:
    """The run folder and what goes into it."""

    #: The run folder; None: runs/<model>-<data>-<date>-<time>.
    dir: str | None = None
    #: Continue a run: a checkpoint file, a run folder, or 'auto' (the newest checkpoint of dir).
    resume: str | None = None
    report: bool = True
    #: Misclassified test images shown in the report.
    misclassified: int = field(default=40, metadata=_range(0, 10_000))


@dataclass
class Config:
    """A whole training run. ``Config()`` is the embedded-sample quick run.

    Examples:
        >>> cfg = Config.from_dict({"model": {"name": "resnet56"}, "train": {"epochs": 3}})
        >>> cfg.model.name, cfg.train.epochs, cfg.optim.name
        ('resnet56', 3, 'momentum')
    """

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    train: TrainSection = field(default_factory=TrainSection)
    output: OutputSection = field(default_factory=OutputSection)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build a checked config from nested mappings; missing keys take their defaults.

        Args:
            data: ``{section: {key: value}}``; values may be strings as typed on a command line.

        Returns:
            The config.

        Raises:
            UsageError: an unknown section or key (with the close valid names), or a value that
                does not fit the key's type or choices.
        """
        return _build(cls, data, prefix="")

    def to_dict(self) -> dict[str, Any]:
        """The config as plain nested dicts (what ``config.yaml`` holds)."""
        return dataclasses.asdict(self)


def _build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "the config"
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a mapping of keys to values, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            hint = "`resvision train --print-config` shows every key"
            raise unknown_name_error("config key", str(key), fields, hint=hint, prefix=prefix)
    values = {}
    for name, f in fields.items():
        if name not in data:
            continue
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, data[name], prefix + name + ".")
        else:
            values[name] = _coerce(data[name], hint, prefix + name, f.metadata.get("choices"))
            if "range" in f.metadata:
                _check_range(values[name], prefix + name, f.metadata["range"])
    return cls(**values)


def _coerce(value: Any, hint: Any, key: str, choices: tuple[str, ...] | None) -> Any:
    """Convert a YAML or command-line value to the key's type, or raise a UsageError."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        (hint,) = [a for a in args if a is not type(None)]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is bool and isinstance(value, str) and value.strip().lower() == "auto":
            return None  # an optional switch: None lets the engine decide
    try:
        if origin is list:
            if isinstance(value, str):
                value = [v for v in value.replace("[", "").replace("]", "").split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                raise ValueError
            return [_coerce(v, args[0], key, None) for v in value]
        if hint is bool:
            return _to_bool(value)
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):  # NaN would pass every range check below
                raise ValueError
            return number
        if hint is str:
            if isinstance(value, bool) and key.endswith(".pretrained"):
                value = str(value).lower()  # YAML `pretrained: true` (the key also takes names)
            elif isinstance(value, bool) and choices is not None and "off" in choices:
                value = "on" if value else "off"  # YAML 1.1 reads `amp: off` as false
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError
            value = str(value)
            if choices is not None and value not in choices:
                raise unknown_name_error(f"{key} value", value, choices)
            return value
    except (ValueError, TypeError):
        pass
    else:
        raise AssertionError(f"config type {hint} of {key} is not handled")
    name = getattr(hint, "__name__", str(hint))
    raise UsageError(f"{key} must be {_article(name)}, got {value!r}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _article(type_name: str) -> str:
    return {"int": "an integer", "float": "a number", "bool": "true or false"}.get(
        type_name, f"a {type_name}"
    )


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split one ``--set`` argument ``section.key=value`` into its path and YAML value.

    Args:
        text: ``'a.b=value'``; the value is read as YAML (``1e-3``, ``true``, ``[30, 60]``).

    Returns:
        ``(['a', 'b'], value)``.

    Raises:
        UsageError: no ``=`` or an empty key.

    Examples:
        >>> parse_override("schedule.milestones=[82, 123]")
        (['schedule', 'milestones'], [82, 123])
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UsageError(f"--set expects section.key=value (e.g. train.epochs=5), got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    except RecursionError:
        raise UsageError(f"--set {key}: the value is nested too deeply") from None
    check_depth(value, f"--set {key}")
    return key.split("."), value


def set_by_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``tree[path[0]][path[1]]... = value``, creating the mappings on the way.

    Only the structure is made here; :meth:`Config.from_dict` checks the names afterwards so that
    an unknown key gets its suggestions in one place.
    """
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A deep merge: mappings merge key by key, any other value of ``update`` replaces.

    Examples:
        >>> merge({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}})
        {'a': {'x': 1, 'y': 3}}
    """
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


#: A config nests sections, keys and lists a few levels deep; deeper is a mistake or an attack
#: (thousands of levels exhaust Python's recursion).
MAX_CONFIG_DEPTH = 16


def check_depth(value: Any, where: str, limit: int = MAX_CONFIG_DEPTH) -> None:
    """Refuse a value nested deeper than ``limit`` (mappings and lists), without recursion.

    Raises:
        UsageError: naming ``where`` and the limit.
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        if depth > limit:
            raise UsageError(f"{where} is nested more than {limit} levels deep")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a config file; an empty file is an empty mapping.

    Raises:
        UsageError: the file is missing, is not YAML, or does not hold a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"config file {str(path)!r} does not exist") from None
    except OSError as err:
        raise UsageError(f"cannot read config file {str(path)!r}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise UsageError(
            f"config file {str(path)!r} is not UTF-8 text (byte {err.start}); a YAML file is expected"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UsageError(
            f"config file {str(path)!r} is not valid YAML: {_yaml_problem(err)}"
        ) from None
    except RecursionError:
        raise UsageError(f"config file {str(path)!r} is nested too deeply") from None
    check_depth(data, f"config file {str(path)!r}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"config file {str(path)!r} must hold a mapping of sections, got {data!r}")
    return data


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's error in one line: where (1-based line and column) and what."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def resolve(
    file: str | Path | None = None,
    flags: dict[str, Any] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> Config:
    """Resolve a run's config: defaults, then the file, then flags, then ``--set`` overrides.

    Args:
        file: a YAML config file, or None.
        flags: dotted keys to values from the command-line flags (None values are skipped).
        overrides: ``section.key=value`` strings, applied in order.

    Returns:
        The checked config.

    Raises:
        UsageError: see :func:`load_yaml`, :func:`parse_override` and :meth:`Config.from_dict`.

    Examples:
        >>> cfg = resolve(flags={"train.epochs": 2}, overrides=["optim.lr=0.2"])
        >>> cfg.train.epochs, cfg.optim.lr
        (2, 0.2)
    """
    tree = Config().to_dict()
    if file is not None:
        tree = merge(tree, load_yaml(file))
    for key, value in (flags or {}).items():
        if value is not None:
            set_by_path(tree, key.split("."), value)
    for text in overrides:
        path, value = parse_override(text)
        set_by_path(tree, path, value)
    return Config.from_dict(tree)


def dump_yaml(cfg: Config) -> str:
    """The config as YAML text, sections in their declared order.

    Examples:
        >>> "name: resnet20" in dump_yaml(Config())
        True
    """
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=None)
