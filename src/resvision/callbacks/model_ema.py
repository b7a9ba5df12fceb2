"""Exponential moving average (EMA) of a network's weights.

``ema = decay_t * ema + (1 - decay_t) * weights`` after each optimizer step, with the
warm-up of TensorFlow / Paddle's ``ExponentialMovingAverage``:
``decay_t = min(decay, (1 + t) / (10 + t))`` where t counts the updates before this one, so
early averages are not dominated by the random initial weights.

Every floating-point entry of the network's ``state_dict`` is averaged (parameters and
BatchNorm running statistics, so that they stay consistent with each other); integer
buffers such as ``num_batches_tracked`` are copied. Averages of half / bfloat16 tensors are
kept in float32, because a 0.9999 decay is below their resolution.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

__all__ = ["ModelEMA", "unwrap_network"]


def unwrap_network(network: nn.Module) -> nn.Module:
    """The module under DistributedDataParallel / DataParallel / ``torch.compile`` wrappers."""
    while True:
        if isinstance(network, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            network = network.module
        elif hasattr(network, "_orig_mod") and isinstance(network._orig_mod, nn.Module):
            network = network._orig_mod
        else:
            return network


class ModelEMA:
    """An EMA of a network's weights, kept beside it (on the same devices).

    Args:
        network: the network whose weights are averaged (wrappers are looked through).
        decay: the EMA decay in [0, 1).
        warmup: use ``min(decay, (1 + t) / (10 + t))`` as the decay of update t.

    Examples:
        >>> net = torch.nn.Linear(1, 1, bias=False)
        >>> _ = net.weight.data.fill_(0.0)
        >>> ema = ModelEMA(net, decay=0.5, warmup=False)
        >>> _ = net.weight.data.fill_(1.0)
        >>> ema.update(net)
        >>> ema.shadow['weight'].item()
        0.5
        >>> with ema.average_parameters(net):
        ...     net.weight.item()
        0.5
        >>> net.weight.item()
        1.0
    """

    def __init__(self, network: nn.Module, decay: float = 0.9999, warmup: bool = True) -> None:
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay < 1:
            raise ValueError(f"EMA decay must be a float in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.num_updates = 0
        self.shadow: dict[str, torch.Tensor] = {}
        for key, value in unwrap_network(network).state_dict().items():
            self.shadow[key] = self._shadow_copy(value)
        self._backup: dict[str, torch.Tensor] | None = None

    @staticmethod
    def _shadow_copy(value: torch.Tensor) -> torch.Tensor:
        value = value.detach()
        if value.dtype in (torch.float16, torch.bfloat16):
            return value.float().clone()
        return value.clone()

    def current_decay(self) -> float:
        """The decay the next :meth:`update` uses."""
        if self.warmup:
            t = self.num_updates
            return min(self.decay, (1 + t) / (10 + t))
        return self.decay

    def _pairs(self, network: nn.Module) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        state = unwrap_network(network).state_dict(keep_vars=False)
        missing = set(self.shadow) ^ set(state)
        if missing:
            raise KeyError(
                f"the network and its EMA disagree on these entries: {sorted(missing)[:5]} "
                "(was the EMA made for another network?)"
            )
        for key, value in state.items():
            yield key, value, self.shadow[key]

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        """Move the average towards the network's current weights (call after a step)."""
        weight = 1.0 - self.current_decay()
        averaged, current, copied_from, copied_to = [], [], [], []
        for _, value, shadow in self._pairs(network):
            if shadow.is_floating_point():
                averaged.append(shadow)
                current.append(value.to(shadow.dtype) if value.dtype != shadow.dtype else value)
            else:
                copied_to.append(shadow)
                copied_from.append(value)
        if averaged:
            # One fused kernel per dtype/device group: ema += (1 - decay) * (w - ema).
            torch._foreach_lerp_(averaged, current, weight)
        for dst, src in zip(copied_to, copied_from):
            dst.copy_(src)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, network: nn.Module) -> None:
        """Overwrite the network's weights with the average (for export or inference)."""
        for _, value, shadow in self._pairs(network):
            value.copy_(shadow)

    @torch.no_grad()
    def swap_in(self, network: nn.Module) -> None:
        """Put the average into the network, keeping the raw weights aside for :meth:`swap_out`."""
        if self._backup is not None:
            return  # already swapped in (e.g. an eval inside a predict): keep the first backup
        backup = {}
        for key, value, shadow in self._pairs(network):
            backup[key] = value.detach().clone()
            value.copy_(shadow)
        self._backup = backup

    @torch.no_grad()
    def swap_out(self, network: nn.Module) -> None:
        """Restore the raw weights saved by :meth:`swap_in` (a no-op when not swapped in)."""
        if self._backup is None:
            return
        state = unwrap_network(network).state_dict(keep_vars=False)
        for key, value in self._backup.items():
            state[key].copy_(value)
        self._backup = None

    @contextlib.contextmanager
    def average_parameters(self, network: nn.Module) -> Iterator[None]:
        """Context manager: the network holds the averaged weights inside the block."""
        self.swap_in(network)
        try:
            yield
        finally:
            self.swap_out(network)

    @property
    def swapped_in(self) -> bool:
        """Whether the network currently holds the averaged weights."""
        return self._backup is not None

    def state_dict(self) -> dict[str, Any]:
        """``{'decay', 'warmup', 'num_updates', 'shadow'}``: everything needed to resume."""
        return {
            "decay": self.decay,
            "warmup": self.warmup,
            "num_updates": self.num_updates,
            "shadow": {k: v.detach().clone() for k, v in self.shadow.items()},
        }

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`, keeping the averages on their current devices.

        Raises:
            KeyError: when the saved entries differ from this EMA's.
        """
        shadow = state["shadow"]
        if set(shadow) != set(self.shadow):
            diff = sorted(set(shadow) ^ set(self.shadow))[:5]
            raise KeyError(f"EMA state does not match the network: differing entries {diff}")
        for key, value in shadow.items():
            target = self.shadow[key]
            if value.shape != target.shape:
                raise ValueError(
                    f"EMA entry {key!r} has shape {list(value.shape)}, expected {list(target.shape)}"
                )
            target.copy_(value)
        self.decay = float(state.get("decay", self.decay))
        self.warmup = bool(state.get("warmup", self.warmup))
        self.num_updates = int(state["num_updates"])
