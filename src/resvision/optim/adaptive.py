"""Paddle's adaptive optimizers: Adagrad, Adadelta, RMSProp, Adamax, RAdam and NAdam.

Each *is* the ``torch.optim`` optimizer of the same method (``isinstance(Adagrad(...),
torch.optim.Adagrad)``) and takes Paddle's arguments, names, order and defaults, with the
shared Paddle surface of :mod:`resvision.optim.optimizers`: ``learning_rate`` a float or a
:mod:`resvision.optim.lr` schedule, ``weight_decay`` a float / :class:`L2Decay` (coupled: added
to the gradient, as Paddle's regulariser) or :class:`L1Decay`, ``grad_clip``, Paddle-style
parameter groups (``learning_rate`` a ratio of the global rate; Paddle's option names such as
``epsilon``, ``beta1``, ``rho``), ``get_lr``, ``set_lr``, ``clear_grad``, ``minimize``.

Where Paddle's update is torch's (Adagrad, Adadelta, RAdam, NAdam: checked against real Paddle
3.3 in ``tests/engine/test_paddle_optimizers.py``), torch's own ``step`` runs. Two differ, and
follow Paddle:

- ``RMSProp``: ``epsilon`` inside the square root, ``v = momentum * v + lr * g /
  sqrt(r + epsilon)``, ``w -= v`` (torch: ``sqrt(r) + eps`` and the rate outside the
  momentum buffer); Paddle's defaults ``rho=0.95``, ``epsilon=1e-6``.
- ``Adamax``: ``u = max(beta2 * u + epsilon, |g|)`` (torch: ``max(beta2 * u, |g| + eps)``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from .lr import LRScheduler
from .optimizers import L2Decay, _PaddleOptimizer

__all__ = ["Adadelta", "Adagrad", "Adamax", "NAdam", "RAdam", "RMSProp"]


def _check(
    value: Any, what: str, low: float, high: float | None = None, closed: bool = False
) -> float:
    """``value`` as a float in ``[low, high)`` (``[low, high]`` when ``closed``; no upper
    bound without ``high``)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if value < low or (high is not None and (value > high if closed else value >= high)):
        bounds = f"[{low}, {high}{']' if closed else ')'}" if high is not None else f">= {low}"
        raise ValueError(f"{what} must be in {bounds}, got {value!r}")
    return float(value)


def _grad(p: torch.Tensor, weight_decay: float) -> torch.Tensor:
    """The gradient plus the coupled L2 term (Paddle's regulariser runs before the update)."""
    grad = p.grad
    if grad.is_sparse:
        raise RuntimeError("Paddle's optimizers here do not take sparse gradients")
    return grad.add(p, alpha=weight_decay) if weight_decay else grad


class Adagrad(_PaddleOptimizer, torch.optim.Adagrad):
    """Adagrad (``paddle.optimizer.Adagrad``), a ``torch.optim.Adagrad``.

    ``moment += g * g; w -= learning_rate * g / (sqrt(moment) + epsilon)``, the moment starting
    at ``initial_accumulator_value`` (torch's rule with ``lr_decay=0``).

    Args:
        learning_rate: a float or a :mod:`resvision.optim.lr` schedule (required, as Paddle).
        epsilon: added to the denominator.
        parameters: the parameters or Paddle-style groups (``epsilon``,
            ``initial_accumulator_value`` may be set per group).
        weight_decay: None, a float (L2), :class:`L2Decay` or :class:`L1Decay`.
        grad_clip: None or a gradient clip (:class:`ClipGradByGlobalNorm`, ...).
        name: Paddle's name; ignored.
        initial_accumulator_value: the moment's starting value.

    Examples:
        >>> net = torch.nn.Linear(2, 1)
        >>> opt = Adagrad(0.1, parameters=net.parameters(), initial_accumulator_value=0.1)
        >>> net(torch.ones(1, 2)).sum().backward(); opt.step(); opt.clear_grad()
        >>> isinstance(opt, torch.optim.Adagrad), opt.get_lr()
        (True, 0.1)
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler,
        epsilon: float = 1e-6,
        parameters: Any = None,
        weight_decay: float | L2Decay | None = None,
        grad_clip: Any = None,
        name: str | None = None,
        initial_accumulator_value: float = 0.0,
    ) -> None:
        groups, lr, decay = self._setup(learning_rate, parameters, weight_decay, grad_clip)
        self._init_torch(
            torch.optim.Adagrad,
            groups,
            decay,
            lr=lr,
            eps=_check(epsilon, "epsilon", 0.0),
            initial_accumulator_value=_check(
                initial_accumulator_value, "initial_accumulator_value", 0.0
            ),
        )


class Adadelta(_PaddleOptimizer, torch.optim.Adadelta):
    """Adadelta (``paddle.optimizer.Adadelta``), a ``torch.optim.Adadelta``.

    ``E[g^2] = rho E[g^2] + (1 - rho) g^2``; ``dx = sqrt((E[dx^2] + eps) / (E[g^2] + eps)) g``;
    ``E[dx^2] = rho E[dx^2] + (1 - rho) dx^2``; ``w -= learning_rate * dx``.

    Args:
        learning_rate: a float or a schedule (Paddle's default 0.001; torch's is 1.0).
        epsilon: the guard inside both square roots.
        rho: the decay rate of the running averages.
        parameters, weight_decay, grad_clip, name: as :class:`Adagrad`.

    Examples:
        >>> opt = Adadelta(parameters=torch.nn.Linear(2, 1).parameters())
        >>> g = opt.param_groups[0]; g['lr'], g['rho'], g['eps']
        (0.001, 0.95, 1e-06)
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        epsilon: float = 1e-6,
        rho: float = 0.95,
        parameters: Any = None,
        weight_decay: float | L2Decay | None = None,
        grad_clip: Any = None,
        name: str | None = None,
    ) -> None:
        groups, lr, decay = self._setup(learning_rate, parameters, weight_decay, grad_clip)
        self._init_torch(
            torch.optim.Adadelta,
            groups,
            decay,
            lr=lr,
            rho=_check(rho, "rho", 0.0, 1.0, closed=True),
            eps=_check(epsilon, "epsilon", 0.0),
        )


class RMSProp(_PaddleOptimizer, torch.optim.RMSprop):
    """RMSProp with Paddle's update (``paddle.optimizer.RMSProp``), a ``torch.optim.RMSprop``.

    ``r = rho r + (1 - rho) g^2``; ``v = momentum v + learning_rate g / sqrt(r + epsilon)``;
    ``w -= v``. With ``centered``, ``m = rho m + (1 - rho) g`` and the denominator is
    ``sqrt(r - m^2 + epsilon)``. Unlike torch's RMSprop, ``epsilon`` is inside the square root
    and the rate inside the momentum buffer (so a rate change reaches the buffer gradually).

    Args:
        learning_rate: a float or a schedule (required, as Paddle).
        rho: the decay rate of the squared-gradient average (torch's ``alpha``).
        epsilon: added under the square root.
        momentum: the momentum factor.
        centered: divide by the estimated variance instead of the second moment.
        parameters, weight_decay, grad_clip, name: as :class:`Adagrad`; groups may set
            ``rho``, ``epsilon``, ``momentum``, ``centered``.

    Examples:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = RMSProp(0.1, rho=0.5, epsilon=0.0, parameters=[w])
        >>> w.grad = torch.tensor([2.0]); opt.step()
        >>> round(w.item(), 6)  # 1 - 0.1 * 2 / sqrt(0.5 * 4)
        0.858579
    """

    _paddle_group_keys: ClassVar[dict[str, str]] = {"epsilon": "eps", "rho": "alpha"}

    def __init__(
        self,
        learning_rate: float | LRScheduler,
        rho: float = 0.95,
        epsilon: float = 1e-6,
        momentum: float = 0.0,
        centered: bool = False,
        parameters: Any = None,
        weight_decay: float | L2Decay | None = None,
        grad_clip: Any = None,
        name: str | None = None,
    ) -> None:
        groups, lr, decay = self._setup(learning_rate, parameters, weight_decay, grad_clip)
        self._init_torch(
            torch.optim.RMSprop,
            groups,
            decay,
            lr=lr,
            alpha=_check(rho, "rho", 0.0),
            eps=_check(epsilon, "epsilon", 0.0),
            momentum=_check(momentum, "momentum", 0.0),
            centered=bool(centered),
        )

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One Paddle RMSProp update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, rho, eps = group["lr"], group["alpha"], group["eps"]
            mu, centered = group["momentum"], group["centered"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = _grad(p, group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["square_avg"] = torch.zeros_like(p)
                    state["momentum_buffer"] = torch.zeros_like(p)
                    if centered:
                        state["grad_avg"] = torch.zeros_like(p)
                state["step"] += 1
                square_avg = state["square_avg"].mul_(rho).addcmul_(grad, grad, value=1 - rho)
                if centered:
                    grad_avg = state["grad_avg"].mul_(rho).add_(grad, alpha=1 - rho)
                    denom = square_avg.addcmul(grad_avg, grad_avg, value=-1).add_(eps).sqrt_()
                else:
                    denom = square_avg.add(eps).sqrt_()
                buf = state["momentum_buffer"].mul_(mu).addcdiv_(grad, denom, value=lr)
                p.sub_(buf)
        return loss


class Adamax(_PaddleOptimizer, torch.optim.Adamax):
    """Adamax with Paddle's update (``paddle.optimizer.Adamax``), a ``torch.optim.Adamax``.

    ``m = beta1 m + (1 - beta1) g``; ``u = max(beta2 u + epsilon, |g|)``;
    ``w -= learning_rate / (1 - beta1^t) * m / u``. Torch adds ``eps`` to ``|g|`` instead.

    Args:
        learning_rate: a float or a schedule.
        beta1, beta2: the decay rates of the moment and of the infinity norm.
        epsilon: added to the decayed norm.
        parameters, weight_decay, grad_clip, name: as :class:`Adagrad`; groups may set
            ``beta1``, ``beta2``, ``epsilon``.

    Examples:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = Adamax(0.1, epsilon=0.5, parameters=[w])
        >>> w.grad = torch.tensor([0.2]); opt.step()
        >>> round(w.item(), 6)  # 1 - 0.1 / 0.1 * 0.02 / max(0.5, 0.2)
        0.96
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        parameters: Any = None,
        weight_decay: float | L2Decay | None = None,
        grad_clip: Any = None,
        name: str | None = None,
    ) -> None:
        betas = (_check(beta1, "beta1", 0.0, 1.0), _check(beta2, "beta2", 0.0, 1.0))
        groups, lr, decay = self._setup(
            learning_rate, parameters, weight_decay, grad_clip, betas=betas
        )
        self._init_torch(
            torch.optim.Adamax,
            groups,
            decay,
            lr=lr,
            betas=betas,
            eps=_check(epsilon, "epsilon", 0.0),
        )

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One Paddle Adamax update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            (beta1, beta2), eps, lr = group["betas"], group["eps"], group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = _grad(p, group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_inf"] = torch.zeros_like(p)
                state["step"] += 1
                t = float(state["step"])
                exp_avg = state["exp_avg"].mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_inf = state["exp_inf"].mul_(beta2).add_(eps)
                torch.maximum(exp_inf, grad.abs(), out=exp_inf)
                p.addcdiv_(exp_avg, exp_inf, value=-lr / (1 - beta1**t))
        return loss


class RAdam(_PaddleOptimizer, torch.optim.RAdam):
    """Rectified Adam (``paddle.optimizer.RAdam``), a ``torch.optim.RAdam``.

    Adam whose adaptive step is switched on (and scaled by the rectification ``r_t``) once the
    variance of the adaptive rate is tractable (``rho_t > 5``); plain momentum SGD before.
    ``weight_decay`` is coupled L2, as Paddle's.

    Args:
        learning_rate: a float or a schedule.
        beta1, beta2, epsilon: Adam's decay rates and denominator guard.
        parameters, weight_decay, grad_clip, name: as :class:`Adagrad`.

    Examples:
        >>> opt = RAdam(parameters=torch.nn.Linear(2, 1).parameters())
        >>> isinstance(opt, torch.optim.RAdam), opt.param_groups[0]['betas']
        (True, (0.9, 0.999))
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        parameters: Any = None,
        weight_decay: float | L2Decay | None = None,
        grad_clip: Any = None,
        name: str | None = None,
    ) -> None:
        betas = (_check(beta1, "beta1", 0.0, 1.0), _check(beta2, "beta2", 0.0, 1.0))
        groups, lr, decay = self._setup(
            learning_rate, parameters, weight_decay, grad_clip, betas=betas
        )
        self._init_torch(
            torch.optim.RAdam,
            groups,
            decay,
            lr=lr,
            betas=betas,
            eps=_check(epsilon, "epsilon", 0.0),
        )


class NAdam(_PaddleOptimizer, torch.optim.NAdam):
    """Adam with Nesterov momentum (``paddle.optimizer.NAdam``), a ``torch.optim.NAdam``.

    ``mu_t = beta1 (1 - 0.96^(t momentum_decay) / 2)`` schedules the momentum, as Dozat's
    paper and both frameworks. ``weight_decay`` is coupled L2, as Paddle's.

    Args:
        learning_rate: a float or a schedule (default 0.002, as Paddle and torch).
        beta1, beta2, epsilon: Adam's decay rates and denominator guard.
        momentum_decay: the ``psi`` of the momentum schedule.
        parameters, weight_decay, grad_clip, name: as :class:`Adagrad`; groups may set
            ``beta1``, ``beta2``, ``epsilon``, ``momentum_decay``.

    Examples:
        >>> opt = NAdam(parameters=torch.nn.Linear(2, 1).parameters())
        >>> opt.get_lr(), opt.param_groups[0]['momentum_decay']
        (0.002, 0.004)
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.002,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        momentum_decay: float = 0.004,
        parameters: Any = None,
        weight_decay: float | L2Decay | None = None,
        grad_clip: Any = None,
        name: str | None = None,
    ) -> None:
        betas = (_check(beta1, "beta1", 0.0, 1.0), _check(beta2, "beta2", 0.0, 1.0))
        groups, lr, decay = self._setup(
            learning_rate, parameters, weight_decay, grad_clip, betas=betas
        )
        self._init_torch(
            torch.optim.NAdam,
            groups,
            decay,
            lr=lr,
            betas=betas,
            eps=_check(epsilon, "epsilon", 0.0),
            momentum_decay=_check(momentum_decay, "momentum_decay", 0.0),
        )
