"""What a run is (its identity), stored in every checkpoint, and what a resume may change.

**The run identity** (checkpoint key ``identity``, schema version :data:`IDENTITY_VERSION`):

==================  ===========================================================================
field               meaning
==================  ===========================================================================
``version``         the schema version, 1
``model``           the registry name of the network (``'resnet50'``), or None when unknown
``num_classes``     outputs of the classifier (``network.num_classes``), or None
``classes``         class names, in label order (the training data's ``classes``), or None
``data_source``     what the training data was named by: a data set name, a folder or a file
``data_size``       training samples
``data_fingerprint`` a digest of the training samples' names and labels (folders), contents
                    (in-memory tensors) or file name and size (data set files), or None
``preprocess``      how an image file becomes an input (size, resize, mean, std), or None
``recipe``          how the optimizer and schedule were built, as the caller describes it, or None
==================  ===========================================================================

``Model.fit`` fills what it can see (the network, the training data); a caller that knows more
(the command line: model name, class names, preprocessing, the recipe) sets ``model.identity``
before ``fit``, and those values win.

**Resume rules**: :data:`RESUME_RULES` says, for each identity field and each ``fit`` setting,
what a resume with another value does: ``refuse`` (the run cannot continue as the same run:
another network, other batches, other classes), ``apply`` (the new value is used and listed:
how long to train, how often to evaluate, log and save) or ``warn`` (allowed, but probably a
mistake: another data source of the same size). :func:`compare_for_resume` applies the table.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch.utils.data import TensorDataset

IDENTITY_VERSION = 1
REFUSE, APPLY, WARN = "refuse", "apply", "warn"

#: What a resume with another value of each setting does. Keys are ``identity.<field>``,
#: ``fit.<fit setting>`` and the top-level config entries of a checkpoint.
RESUME_RULES: dict[str, str] = {
    # The run's identity: another network or other classes is another run.
    "identity.model": REFUSE,
    "identity.num_classes": REFUSE,
    "identity.classes": REFUSE,
    "identity.data_size": REFUSE,  # other batches, another epoch length
    "identity.preprocess": REFUSE,
    "identity.recipe": REFUSE,  # the optimizer's settings come from the checkpoint: a new lr
    # would be silently ignored
    "identity.data_source": WARN,
    "identity.data_fingerprint": WARN,
    "network": REFUSE,
    "optimizer": REFUSE,
    # The batches: the same samples in the same order, or the run is not the same one.
    "fit.batch_size": REFUSE,
    "fit.accumulate_grad_batches": REFUSE,
    "fit.steps_per_epoch": REFUSE,
    "fit.shuffle": REFUSE,
    "fit.drop_last": REFUSE,
    "fit.world_size": REFUSE,  # each process's shard and saved random states
    "fit.sync_bn": REFUSE,
    "fit.aug_repeats": REFUSE,  # another order of the samples
    "fit.batch_mix": WARN,  # another augmentation: allowed (fine-tuning schedules change it)
    # How long and how often: the new value applies from here on.
    "fit.epochs": APPLY,
    "fit.num_iters": APPLY,
    "fit.eval_batch_size": APPLY,
    "fit.eval_freq": APPLY,
    "fit.save_freq": APPLY,
    "fit.save_steps": APPLY,
    "fit.seed": APPLY,  # a resumed run takes its random states from the checkpoint
    "amp_level": WARN,
    "amp_dtype": WARN,
    "device": APPLY,
}
# Bookkeeping entries, not settings: never compared.
_NOT_SETTINGS = {"fit.loader_seed", "fit.check_finite"}


@dataclass
class RunIdentity:
    """The identity of a run (see the module documentation for each field)."""

    model: str | None = None
    num_classes: int | None = None
    classes: list[str] | None = None
    data_source: str | None = None
    data_size: int | None = None
    data_fingerprint: str | None = None
    preprocess: dict[str, Any] | None = None
    recipe: dict[str, Any] | None = None
    version: int = field(default=IDENTITY_VERSION)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as stored in a checkpoint."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RunIdentity:
        """The identity stored in a checkpoint (unknown keys ignored; None: all unknown)."""
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


def identify_run(
    network: torch.nn.Module, train_data: Any, given: Mapping[str, Any] | None = None
) -> RunIdentity:
    """The identity of a run of ``network`` on ``train_data``; ``given`` fields win.

    Raises:
        ValueError: ``given`` names a field the schema does not have.

    Examples:
        >>> from torch import nn
        >>> data = TensorDataset(torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]))
        >>> net = nn.Linear(2, 2)
        >>> ident = identify_run(net, data, {"model": "tiny"})
        >>> ident.model, ident.data_size, ident.data_source, len(ident.data_fingerprint)
        ('tiny', 4, 'TensorDataset', 32)
    """
    unknown = set(given or {}) - set(RunIdentity.__dataclass_fields__)
    if unknown:
        raise ValueError(
            f"model.identity has unknown fields {sorted(unknown)}; the fields are "
            f"{sorted(RunIdentity.__dataclass_fields__)}"
        )
    classes = getattr(train_data, "classes", None)
    num_classes = getattr(network, "num_classes", None)
    ident = RunIdentity(
        model=getattr(network, "model_name", None),
        num_classes=int(num_classes) if isinstance(num_classes, int) else None,
        classes=[str(c) for c in classes] if isinstance(classes, (list, tuple)) else None,
        data_source=_data_source(train_data),
        data_size=_size(train_data),
        data_fingerprint=data_fingerprint(train_data),
    )
    for key, value in (given or {}).items():
        setattr(ident, key, value)
    return ident


def _size(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None


def _data_source(data: Any) -> str | None:
    for attr in ("root", "data_file", "image_path"):
        value = getattr(data, attr, None)
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
    return type(data).__name__ if data is not None else None


_MAX_HASHED_BYTES = 1 << 28  # in-memory data larger than this is not hashed (time)


def data_fingerprint(data: Any) -> str | None:
    """A digest that tells two training sets apart cheaply, or None when there is none.

    Folders (``samples`` of ``(path, label)``): the file names relative to the root, with their
    labels. In-memory ``TensorDataset`` up to 256 MiB: the tensors' bytes. Data set files
    (``data_file``): the file's name and size.
    """
    digest = hashlib.blake2b(digest_size=16)
    samples = getattr(data, "samples", None)
    if isinstance(samples, list) and samples and isinstance(samples[0], tuple):
        root = os.fspath(getattr(data, "root", "") or "")
        for path, label in samples:
            name = os.path.relpath(os.fspath(path), root) if root else os.fspath(path)
            digest.update(f"{name}\t{label}\n".encode())
        return digest.hexdigest()
    if isinstance(data, TensorDataset):
        if sum(t.numel() * t.element_size() for t in data.tensors) > _MAX_HASHED_BYTES:
            return None
        for t in data.tensors:
            digest.update(str((t.dtype, tuple(t.shape))).encode())
            digest.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
        return digest.hexdigest()
    file = getattr(data, "data_file", None)
    if isinstance(file, (str, os.PathLike)) and os.path.isfile(file):
        digest.update(f"{os.path.basename(file)}\t{os.path.getsize(file)}".encode())
        return digest.hexdigest()
    return None


class ResumeMismatchError(ValueError):
    """A resume with settings the run cannot continue with; ``differences`` lists them."""

    def __init__(self, message: str, differences: list[str]) -> None:
        super().__init__(message)
        self.differences = differences


@dataclass
class ResumeCheck:
    """What differs between a checkpoint's run and the run resuming it, by rule."""

    refused: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)


def _flatten(config: Mapping[str, Any], identity: Mapping[str, Any] | None) -> dict[str, Any]:
    flat = {f"fit.{k}": v for k, v in (config.get("fit") or {}).items()}
    flat.update({k: v for k, v in config.items() if k != "fit"})
    flat.update({f"identity.{k}": v for k, v in (identity or {}).items() if k != "version"})
    return flat


def compare_for_resume(
    saved_config: Mapping[str, Any],
    saved_identity: Mapping[str, Any] | None,
    config: Mapping[str, Any],
    identity: Mapping[str, Any] | None,
) -> ResumeCheck:
    """Sort the differences between a checkpoint's settings and the resuming run's by rule.

    A setting known on one side only (a checkpoint of an older version, a field nobody filled
    in) is not compared. Settings missing from :data:`RESUME_RULES` are refused.

    Args:
        saved_config, saved_identity: the checkpoint's ``config`` and ``identity`` entries.
        config, identity: the same for the run that resumes.

    Returns:
        The :class:`ResumeCheck`; each entry reads ``'fit.batch_size: 8 in the checkpoint, 4
        now'``.

    Examples:
        >>> check = compare_for_resume(
        ...     {"fit": {"batch_size": 8, "epochs": 3}}, {"model": "resnet20"},
        ...     {"fit": {"batch_size": 4, "epochs": 5}}, {"model": "resnet20"})
        >>> check.refused, check.applied
        (['fit.batch_size: 8 in the checkpoint, 4 now'], ['fit.epochs: 3 in the checkpoint, 5 now'])
    """
    before, now = _flatten(saved_config, saved_identity), _flatten(config, identity)
    check = ResumeCheck()
    for key in sorted(set(before) & set(now)):
        old, new = before[key], now[key]
        if key in _NOT_SETTINGS or old is None or new is None or old == new:
            continue
        rule = RESUME_RULES.get(key, REFUSE)
        out = {REFUSE: check.refused, APPLY: check.applied, WARN: check.warned}[rule]
        for path, a, b in _leaf_differences(key, old, new):
            out.append(f"{path}: {_short(a)} in the checkpoint, {_short(b)} now")
    return check


def _leaf_differences(path: str, old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """``(dotted path, old, new)`` for each differing leaf of two nested dicts (so that a
    changed learning rate reads ``identity.recipe.optim.lr``, not the whole recipe)."""
    if not (isinstance(old, Mapping) and isinstance(new, Mapping)):
        return [(path, old, new)]
    out = []
    for key in sorted(set(old) | set(new), key=str):
        if key not in old or key not in new:  # known on one side only (an older version)
            continue
        a, b = old[key], new[key]
        if a != b:
            out += _leaf_differences(f"{path}.{key}", a, b)
    return out


def architecture_differences(saved: Mapping[str, Any], network: torch.nn.Module) -> list[str]:
    """The state-dict entries in which a checkpoint's network and ``network`` differ (names
    present on one side only, or other shapes); empty when the architectures match."""
    mine = network.state_dict()
    lines = [f"{k}: in the checkpoint only" for k in saved if k not in mine]
    lines += [f"{k}: in this network only" for k in mine if k not in saved]
    lines += [
        f"{k}: shape {list(saved[k].shape)} in the checkpoint, {list(mine[k].shape)} here"
        for k in saved
        if k in mine
        and hasattr(saved[k], "shape")
        and tuple(saved[k].shape) != tuple(mine[k].shape)
    ]
    return lines


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
