"""LAMB: Adam with a layer-wise trust ratio (``paddle.optimizer.Lamb``; torch has none).

You et al. 2019, "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes"
(https://arxiv.org/abs/1904.00962), Algorithm 2 with ``phi`` the identity, per parameter
tensor ("layer") ``w`` with gradient ``g`` at step ``t``:

    m = beta1 m + (1 - beta1) g            v = beta2 v + (1 - beta2) g^2
    m_hat = m / (1 - beta1^t)              v_hat = v / (1 - beta2^t)
    r = m_hat / (sqrt(v_hat) + epsilon) + lambda w
    w -= lr * (||w|| / ||r||) * r

with the trust ratio ``||w|| / ||r||`` taken as 1 when either norm is 0. As Paddle's kernel, a
parameter whose decay ``lambda`` is 0 (``lamb_weight_decay=0`` or excluded by
``exclude_from_weight_decay_fn``) takes the plain Adam step (trust ratio 1) unless
``always_adapt`` is set.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from .adaptive import _check
from .lr import LRScheduler
from .optimizers import _PaddleOptimizer

__all__ = ["Lamb"]


class Lamb(_PaddleOptimizer, torch.optim.Optimizer):
    """LAMB (``paddle.optimizer.Lamb``): see the module documentation for the update.

    Args:
        learning_rate: a float or a :mod:`resvision.optim.lr` schedule.
        lamb_weight_decay: the decoupled decay ``lambda`` inside the trust-ratio update.
        beta1, beta2, epsilon: Adam's decay rates and denominator guard.
        parameters: the parameters or Paddle-style groups (``learning_rate`` a ratio;
            ``beta1``, ``beta2``, ``epsilon``, ``lamb_weight_decay`` per group).
        grad_clip: None or a gradient clip (:class:`ClipGradByGlobalNorm`, ...).
        exclude_from_weight_decay_fn: None or ``fn(param) -> bool``; True takes the parameter
            out of the decay (and, without ``always_adapt``, out of the trust ratio). Called
            once per parameter, at construction.
        multi_precision: Paddle's fp16 master weights; accepted and ignored.
        always_adapt: apply the trust ratio to parameters without decay too.
        name: Paddle's name; ignored.

    Examples:
        >>> net = torch.nn.Linear(2, 1)
        >>> opt = Lamb(learning_rate=0.01, parameters=net.parameters(),
        ...            exclude_from_weight_decay_fn=lambda p: p.ndim == 1)
        >>> [g['lamb_weight_decay'] for g in opt.param_groups]
        [0.01, 0.0]
        >>> net(torch.ones(1, 2)).sum().backward(); opt.step(); opt.clear_grad()
    """

    _paddle_group_keys: ClassVar[dict[str, str]] = {"epsilon": "eps"}

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        lamb_weight_decay: float = 0.01,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-6,
        parameters: Any = None,
        grad_clip: Any = None,
        exclude_from_weight_decay_fn: Any = None,
        multi_precision: bool = False,
        always_adapt: bool = False,
        name: str | None = None,
    ) -> None:
        if exclude_from_weight_decay_fn is not None and not callable(exclude_from_weight_decay_fn):
            raise TypeError(
                "Lamb exclude_from_weight_decay_fn must be None or a function of the parameter, "
                f"got {exclude_from_weight_decay_fn!r}"
            )
        betas = (_check(beta1, "beta1", 0.0, 1.0), _check(beta2, "beta2", 0.0, 1.0))
        groups, lr, _ = self._setup(learning_rate, parameters, None, grad_clip, betas=betas)
        decay = _check(lamb_weight_decay, "lamb_weight_decay", 0.0)
        if exclude_from_weight_decay_fn is not None:
            groups = _split_excluded(groups, exclude_from_weight_decay_fn)
        torch.optim.Optimizer.__init__(
            self,
            groups,
            {
                "lr": lr,
                "betas": betas,
                "eps": _check(epsilon, "epsilon", 0.0),
                "lamb_weight_decay": decay,
                "always_adapt": bool(always_adapt),
                "l1_decay": 0.0,
            },
        )
        self._finish_setup()

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One LAMB update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            (beta1, beta2), eps, lr = group["betas"], group["eps"], group["lr"]
            decay = group["lamb_weight_decay"]
            adapt = decay > 0 or group["always_adapt"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = float(state["step"])
                exp_avg = state["exp_avg"].mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq = state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (exp_avg_sq / (1 - beta2**t)).sqrt_().add_(eps)
                update = (exp_avg / (1 - beta1**t)).div_(denom)
                if decay:
                    update.add_(p, alpha=decay)
                if adapt:
                    w_norm = torch.linalg.vector_norm(p)
                    u_norm = torch.linalg.vector_norm(update)
                    # A tensor ratio: no host synchronisation.
                    ratio = torch.where(
                        (w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm)
                    )
                    p.sub_(update.mul_(ratio * lr))
                else:
                    p.sub_(update, alpha=lr)
        return loss


def _split_excluded(groups: list[dict[str, Any]], excluded: Any) -> list[dict[str, Any]]:
    """Split each group into its decayed and its excluded parameters (decay 0)."""
    out = []
    for group in groups:
        flags = [bool(excluded(p)) for p in group["params"]]
        kept = [p for p, f in zip(group["params"], flags) if not f]
        dropped = [p for p, f in zip(group["params"], flags) if f]
        if kept:
            out.append({**group, "params": kept})
        if dropped:
            out.append({**group, "params": dropped, "lamb_weight_decay": 0.0})
    return out
