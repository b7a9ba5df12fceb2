"""Paddle's checkpoint files for ``Model.load``: ``.pdparams`` weights, ``.pdopt`` optimizer state.

``paddle.Model.save(path)`` writes two pickles of NumPy arrays:

- ``path.pdparams``: the network's state dict by structured name (``0.weight``, ``1._mean``),
  plus a ``"StructuredToParameterName@@"`` table that gives each parameter's internal Paddle
  name (``conv2d_0.w_0``);
- ``path.pdopt``: the optimizer's state, one accumulator per parameter named after the
  parameter's internal name (Momentum's ``conv2d_0.w_0_velocity_0``; Adam's ``..._moment1_0``,
  ``..._beta1_pow_acc_0``, ...), plus ``LR_Scheduler`` (the schedule's progress).

The weights go through the converter (:func:`resvision.models.weights.convert_state_dict`,
``source='paddle'``: BatchNorm ``_mean`` / ``_variance``, Linear weights transposed). The
optimizer state is loaded only where every accumulator maps onto one parameter's torch state
without guessing: Paddle's Momentum velocity is torch SGD's ``momentum_buffer`` (the same update
rule, see :mod:`resvision.optim.optimizers`), tied to its parameter by the name table, and
converted as the parameter is (a Linear weight's velocity is transposed too). Anything else is
not loaded, with a warning that says why: other accumulators (Adam's moments and beta powers
count steps differently from torch's), no name table, an optimizer that is not an SGD with
momentum. ``LR_Scheduler`` goes to the optimizer's schedule (resvision's schedules read
Paddle's ``last_epoch`` / ``last_lr``). Both files are read without running code from them.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from resvision.engine.checkpoint import checkpoint_path
from resvision.models.weights import convert_state_dict, read_weights_file
from resvision.models.weights.formats import _unpickle_numpy  # Paddle's pickles, safely

__all__ = ["load_paddle_optimizer_state", "paddle_prefix", "read_paddle_weights"]

PARAMS_SUFFIX = ".pdparams"
OPTIMIZER_SUFFIX = ".pdopt"
#: The table paddle.save adds to a state dict: structured name -> internal parameter name.
NAME_TABLE = "StructuredToParameterName@@"
# "<parameter name>_<accumulator>_<n>": what follows a parameter's name in an accumulator's
_ACCUMULATOR_TAIL = re.compile(r"[A-Za-z]\w*?_\d+")
# Entries of a .pdopt that are not per-parameter accumulators
_NOT_ACCUMULATORS = {"LR_Scheduler", "master_weights", "global_step", "@LR_DECAY_COUNTER@"}


def paddle_prefix(path: str | os.PathLike[str]) -> str | None:
    """The Paddle file prefix that ``path`` names, or None when it names no Paddle checkpoint.

    ``'out/final'`` is Paddle's when ``out/final.pdparams`` exists and ``out/final.pt``
    (resvision's own checkpoint) does not; ``'out/final.pdparams'`` (or ``.pdopt``) when
    ``out/final.pdparams`` exists.

    Examples:
        >>> paddle_prefix("no/such/file") is None
        True
    """
    text = os.fspath(path)
    root, ext = os.path.splitext(text)
    if ext in (PARAMS_SUFFIX, OPTIMIZER_SUFFIX, ".pdmodel"):
        prefix = root
    else:
        try:
            if checkpoint_path(text).is_file():
                return None  # resvision's own file wins
        except ValueError:
            return None
        prefix = text
    return prefix if os.path.isfile(prefix + PARAMS_SUFFIX) else None


def read_paddle_weights(prefix: str, own: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weights of ``prefix.pdparams`` under the network's names (converted from Paddle's).

    Args:
        prefix: The file prefix (``'out/final'``).
        own: The network's state dict: Paddle's BatchNorm keeps no ``num_batches_tracked``
            counter, so the network's own counters are kept.

    Returns:
        A state dict for ``load_state_dict``.
    """
    found = read_weights_file(prefix + PARAMS_SUFFIX)
    source = "paddle" if found.file_format == "paddle" else None
    state = convert_state_dict(found.state, source=source)
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    return state


def _read_pickle(path: str) -> dict[str, Any]:
    found = _unpickle_numpy(Path(path).read_bytes(), path)
    if not isinstance(found, Mapping):
        raise ValueError(f"{path!r} holds a {type(found).__name__}, not Paddle's state dict")
    return dict(found)


def _not_loaded(path: str, why: str) -> None:
    warnings.warn(
        f"the optimizer state of {path!r} was not loaded: {why}; the optimizer starts afresh "
        "(Model.load(..., reset_optimizer=True) skips the file without this warning)",
        stacklevel=3,
    )


def _velocities(
    path: str, accumulators: Mapping[str, np.ndarray], table: Mapping[str, str]
) -> dict[str, np.ndarray] | None:
    """Momentum velocity by structured parameter name, or None (warned) when not unambiguous."""
    structured: dict[str, str] = {}
    for key, name in table.items():
        if name in structured:  # one parameter under two names (tied weights)
            _not_loaded(path, f"parameter {name!r} is both {structured[name]!r} and {key!r}")
            return None
        structured[name] = key
    out: dict[str, np.ndarray] = {}
    kinds: set[str] = set()
    for key, value in accumulators.items():
        owners = [
            name
            for name in structured
            if key.startswith(name + "_") and _ACCUMULATOR_TAIL.fullmatch(key[len(name) + 1 :])
        ]
        if len(owners) != 1:
            _not_loaded(
                path,
                f"accumulator {key!r} belongs to "
                + ("no parameter of the .pdparams name table" if not owners else f"{owners}"),
            )
            return None
        kind = key[len(owners[0]) + 1 :].rsplit("_", 1)[0]
        kinds.add(kind)
        if kind == "velocity" or kind.endswith("_velocity"):  # "<optimizer name>_velocity"
            if structured[owners[0]] in out:
                _not_loaded(path, f"parameter {owners[0]!r} has two velocities")
                return None
            out[structured[owners[0]]] = value
    others = sorted(k for k in kinds if k != "velocity" and not k.endswith("_velocity"))
    if others:
        _not_loaded(
            path,
            f"it holds Paddle accumulators {others}; only Momentum's velocity maps onto a torch "
            "optimizer's state unambiguously (SGD's momentum_buffer)",
        )
        return None
    return out


def load_paddle_optimizer_state(
    optimizer: torch.optim.Optimizer, network: nn.Module, prefix: str, scheduler: Any = None
) -> bool:
    """Load ``prefix.pdopt`` into ``optimizer`` (and ``scheduler``) where it maps unambiguously.

    Args:
        optimizer: The optimizer of ``network``'s parameters.
        network: The network the weights of ``prefix.pdparams`` were loaded into.
        prefix: The file prefix.
        scheduler: The learning-rate schedule the optimizer carries, or None.

    Returns:
        True when the velocities were loaded (also when there are none to load); False when
        nothing of them was (a warning said why) or there is no ``.pdopt`` file.
    """
    path = prefix + OPTIMIZER_SUFFIX
    if not os.path.isfile(path):
        return False
    state = _read_pickle(path)
    schedule = state.get("LR_Scheduler")
    if isinstance(schedule, Mapping):
        if scheduler is None:
            warnings.warn(
                f"{path!r} holds a learning-rate schedule's progress (LR_Scheduler), and the "
                "optimizer carries no schedule: not loaded",
                stacklevel=3,
            )
        else:
            try:
                scheduler.load_state_dict(dict(schedule))
            except (KeyError, TypeError, ValueError) as err:
                warnings.warn(f"{path!r}: LR_Scheduler not loaded: {err}", stacklevel=3)
    accumulators = {
        k: v for k, v in state.items() if isinstance(v, np.ndarray) and k not in _NOT_ACCUMULATORS
    }
    if not accumulators:
        return True
    table = _read_pickle(prefix + PARAMS_SUFFIX).get(NAME_TABLE)
    if not isinstance(table, Mapping):
        _not_loaded(
            path,
            f"{prefix + PARAMS_SUFFIX!r} has no {NAME_TABLE!r} table (paddle.save writes one "
            "with a state dict), so the accumulators cannot be tied to parameters",
        )
        return False
    velocities = _velocities(path, accumulators, table)
    if velocities is None:
        return False
    if not isinstance(optimizer, torch.optim.SGD):
        _not_loaded(
            path,
            f"it holds Paddle Momentum velocities, which are torch SGD's momentum_buffer, and "
            f"the optimizer is a {type(optimizer).__name__} (use resvision.optim.Momentum)",
        )
        return False
    params = dict(network.named_parameters())
    momentum = {id(p): g["momentum"] for g in optimizer.param_groups for p in g["params"]}
    buffers: list[tuple[nn.Parameter, torch.Tensor]] = []
    for key, value in velocities.items():
        # converted as the parameter is: renamed, a Linear weight's velocity transposed
        ((name, velocity),) = convert_state_dict(
            {key: torch.from_numpy(np.array(value, copy=True))}, source="paddle"
        ).items()
        param = params.get(name)
        if param is None:
            _not_loaded(path, f"the velocity of {key!r} is for {name!r}, not in the network")
            return False
        if tuple(velocity.shape) != tuple(param.shape):
            _not_loaded(
                path,
                f"the velocity of {key!r} has shape {list(velocity.shape)}, the parameter "
                f"{name!r} {list(param.shape)}",
            )
            return False
        if not momentum.get(id(param)):
            _not_loaded(
                path,
                f"parameter {name!r} is not in the optimizer, or its group has no momentum",
            )
            return False
        buffers.append((param, velocity))
    for param, velocity in buffers:
        optimizer.state[param]["momentum_buffer"] = velocity.to(param.device, param.dtype)
    return True
