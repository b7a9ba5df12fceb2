"""Muon: momentum SGD whose update of each weight matrix is orthogonalised.

Muon (Keller Jordan et al., 2024, https://kellerjordan.github.io/posts/muon/; used for
convolution filters in the CIFAR-10 speed record ``airbench94_muon``, 94% in 2.59 s on an
A100) keeps a momentum buffer like SGD, but replaces the update of a weight matrix ``G`` by the
nearest semi-orthogonal matrix ``U V^T`` (``G = U S V^T``), approximated by five (or fewer)
Newton-Schulz iterations of a quintic polynomial in bfloat16. Every direction of the update
then moves by the same amount, which trains convolutional and linear layers in fewer steps
than SGD at the same cost per step (the iterations cost a few small matrix products per layer).

Only matrices (parameters of two or more dimensions, convolution filters reshaped to
``out x in*k*k``) take the orthogonalised update. Biases, normalisation parameters and, by
convention, the classifier train with plain SGD with (Nesterov) momentum in the same optimizer:
the "auxiliary" groups, marked ``muon=False`` (:func:`muon_param_groups` makes the split).
One optimizer for both keeps the engine's single-optimizer contract: one learning-rate
schedule (each group keeps its ratio to the global rate), one state in the checkpoint.

Why not ``torch.optim.Muon``: it exists from torch 2.9 (resvision supports 2.2 and later),
takes only 2-d parameters (convolution filters are 4-d) and only Muon groups, and has no weight
normalisation. Its steps on matrices equal this class's (tested in ``tests/engine/test_muon.py``
where torch has it): it keeps the momentum as an average, this class as a sum like the
original, and the orthogonalisation makes the two the same direction.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .lr import LRScheduler
from .optimizers import L2Decay, _PaddleOptimizer

__all__ = ["Muon", "muon_param_groups", "orthogonalize"]

# The quintic's coefficients (Jordan et al.): chosen to maximise the slope at zero, so that
# small singular values grow fast; the iteration converges to singular values in about
# [0.7, 1.2] rather than exactly 1, which does not hurt training.
_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


@torch.no_grad()
def orthogonalize(
    matrix: torch.Tensor, steps: int = 5, dtype: torch.dtype = torch.bfloat16, eps: float = 1e-7
) -> torch.Tensor:
    """Approximately ``U V^T`` of ``matrix = U S V^T`` by Newton-Schulz iterations.

    Args:
        matrix: a 2-d tensor.
        steps: iterations (3 is enough for the CIFAR-10 records; 5 is the usual default).
        dtype: the dtype the iterations compute in (bfloat16 is accurate enough: the result is
            only approximately orthogonal by design).
        eps: guards the normalisation of a zero matrix.

    Returns:
        A tensor of ``matrix``'s shape, in ``dtype``.

    Raises:
        ValueError: ``matrix`` is not 2-d, or ``steps`` < 1.

    Examples:
        >>> g = torch.randn(8, 32)
        >>> s = torch.linalg.svdvals(orthogonalize(g, dtype=torch.float32))
        >>> bool((s > 0.6).all() and (s < 1.3).all())
        True
    """
    if matrix.ndim != 2:
        raise ValueError(f"orthogonalize needs a 2-d matrix, got shape {tuple(matrix.shape)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps!r}")
    a, b, c = _NS_COEFFICIENTS
    x = matrix.to(dtype)
    wide = x.shape[0] <= x.shape[1]
    if not wide:  # iterate on the smaller Gram matrix
        x = x.T
    x = x / (x.norm() + eps)  # all singular values <= 1: inside the iteration's basin
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x if wide else x.T


def muon_param_groups(
    network: nn.Module,
    aux_lr_ratio: float = 1.0,
    aux_momentum: float | None = None,
    aux_weight_decay: float | L2Decay | None = None,
) -> list[dict[str, Any]]:
    """Split ``network``'s trainable parameters for :class:`Muon`.

    Matrices (``ndim >= 2``: convolution filters, linear weights) take Muon's orthogonalised
    update, except the classifier's (``network.get_classifier()`` when the network has it),
    which, with every bias and normalisation parameter, trains with SGD: an auxiliary group.

    Args:
        network: the network.
        aux_lr_ratio: the auxiliary group's learning rate, as a multiple of the global rate.
        aux_momentum: its momentum (None: the optimizer's).
        aux_weight_decay: its coupled L2 decay (None: the optimizer's ``weight_decay``).

    Returns:
        Paddle-style groups (``learning_rate`` is a ratio), for ``Muon(parameters=...)``.

    Examples:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8))
        >>> [(g['muon'], len(g['params'])) for g in muon_param_groups(net)]
        [(True, 1), (False, 2)]
    """
    head = network.get_classifier() if hasattr(network, "get_classifier") else None
    head_ids = {id(p) for p in head.parameters()} if isinstance(head, nn.Module) else set()
    matrices, others = [], []
    for p in network.parameters():
        if not p.requires_grad:
            continue
        (matrices if p.ndim >= 2 and id(p) not in head_ids else others).append(p)
    aux: dict[str, Any] = {"params": others, "muon": False, "learning_rate": float(aux_lr_ratio)}
    if aux_momentum is not None:
        aux["momentum"] = float(aux_momentum)
    if aux_weight_decay is not None:
        aux["weight_decay"] = aux_weight_decay
    return [g for g in ({"params": matrices, "muon": True}, aux) if g["params"]]


class Muon(_PaddleOptimizer, torch.optim.Optimizer):
    """Muon for matrices, SGD with momentum for the rest (see the module documentation).

    Args:
        learning_rate: a float or a :mod:`resvision.optim.lr` schedule (the Muon groups' rate;
            other groups keep their ``learning_rate`` ratio to it).
        momentum: the momentum factor (``buf = momentum * buf + grad``).
        parameters: parameters or groups. A flat list is split by shape: matrices take Muon,
            the rest SGD (use :func:`muon_param_groups` to keep a classifier out of Muon).
            A group's ``muon`` key decides for it; ``momentum``, ``weight_decay`` and
            ``learning_rate`` (a ratio) may be set per group.
        use_nesterov: Nesterov momentum (the update is ``grad + momentum * buf``).
        weight_decay: SGD groups: coupled L2 (a float or :class:`L2Decay`), as ``Momentum``;
            Muon groups: decoupled (``w -= lr * coeff * w``), as in later Muon work.
        grad_clip: None or a gradient clip (:class:`ClipGradByGlobalNorm`, ...).
        ns_steps: Newton-Schulz iterations per update.
        normalize_weights: Muon groups: rescale each matrix to norm ``sqrt(out features)``
            before its update (airbench94_muon's choice, in place of weight decay).

    The orthogonalised update is scaled by ``sqrt(max(1, rows / cols))`` (so that tall
    matrices move as much per entry as wide ones); it is 1 for most convolutions.

    Examples:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.LazyLinear(2))
        >>> _ = net(torch.randn(2, 3, 5, 5))
        >>> opt = Muon(learning_rate=0.02, parameters=net.parameters())
        >>> [g['muon'] for g in opt.param_groups]
        [True, False]
        >>> net(torch.randn(2, 3, 5, 5)).sum().backward(); opt.step(); opt.clear_grad()
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.02,
        momentum: float = 0.95,
        parameters: Any = None,
        use_nesterov: bool = True,
        weight_decay: float | L2Decay | None = None,
        grad_clip: Any = None,
        ns_steps: int = 5,
        normalize_weights: bool = False,
        name: str | None = None,
    ) -> None:
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
            raise ValueError(f"momentum must be a float in [0, 1), got {momentum!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, int) or ns_steps < 1:
            raise ValueError(f"ns_steps must be an int >= 1, got {ns_steps!r}")
        if parameters is not None and not isinstance(parameters, torch.Tensor):
            parameters = list(parameters)
            if parameters and not any(isinstance(p, dict) for p in parameters):
                split = {True: [], False: []}
                for p in parameters:  # a tensor or a (name, tensor) pair
                    split[(p[1] if isinstance(p, tuple) else p).ndim >= 2].append(p)
                parameters = [{"params": ps, "muon": m} for m, ps in split.items() if ps]
        groups, lr, decay = self._setup(learning_rate, parameters, weight_decay, grad_clip)
        for group in groups:
            group.setdefault("muon", False)
            group.setdefault("momentum", float(momentum))
        torch.optim.Optimizer.__init__(
            self,
            groups,
            {
                "lr": lr,
                "momentum": float(momentum),
                "nesterov": bool(use_nesterov),
                "weight_decay": decay["weight_decay"],
                "l1_decay": decay["l1_decay"],
                "ns_steps": ns_steps,
                "normalize_weights": bool(normalize_weights),
            },
        )
        for group in self.param_groups:
            if group["muon"] and any(p.ndim < 2 for p in group["params"]):
                shapes = [tuple(p.shape) for p in group["params"] if p.ndim < 2]
                raise ValueError(
                    f"Muon groups take matrices (2 or more dimensions); got shapes {shapes}: "
                    "put them in a group with muon=False"
                )
        self._finish_setup()

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if not group["muon"] and wd:
                    grad = grad.add(p, alpha=wd)
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = torch.zeros_like(grad)
                buf.mul_(mu).add_(grad)
                update = grad.add(buf, alpha=mu) if group["nesterov"] else buf
                if not group["muon"]:
                    p.add_(update, alpha=-lr)
                    continue
                rows = p.shape[0]
                if group["normalize_weights"]:
                    p.mul_(math.sqrt(rows) / p.norm().clamp_min(1e-12))
                elif wd:
                    p.mul_(1 - lr * wd)
                flat = orthogonalize(update.reshape(rows, -1), group["ns_steps"])
                scale = math.sqrt(max(1.0, rows / flat.shape[1]))
                p.add_(flat.view_as(p).to(p.dtype), alpha=-lr * scale)
        return loss
