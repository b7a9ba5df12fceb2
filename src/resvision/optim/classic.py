"""Paddle's ASGD, Rprop and LBFGS: averaged-gradient, sign-based and quasi-Newton methods.

- ``ASGD`` is Paddle's *stochastic average gradient* (SAG, Schmidt et al.): it keeps the last
  ``batch_num`` gradients and steps along their mean. It is not ``torch.optim.ASGD`` (Polyak
  averaging of the iterates), so it is written here on ``torch.optim.Optimizer``.
- ``Rprop`` *is* ``torch.optim.Rprop`` (the same rule as Paddle's: the step size of each
  element grows by ``etas[1]`` while the gradient keeps its sign, shrinks by ``etas[0]`` and
  skips the update when it flips).
- ``LBFGS`` *is* ``torch.optim.LBFGS`` (Paddle's is a port of it), stepped with a closure.

All take Paddle's arguments, names, order and defaults.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from .adaptive import _check, _grad
from .lr import LRScheduler
from .optimizers import L2Decay, _PaddleOptimizer

__all__ = ["ASGD", "LBFGS", "Rprop"]


class ASGD(_PaddleOptimizer, torch.optim.Optimizer):
    """Stochastic average gradient (``paddle.optimizer.ASGD``).

    With ``n = batch_num`` gradient slots ``y_0 .. y_{n-1}`` (zero at first) and their sum
    ``d``, step ``m`` (from 0) uses slot ``i = m % n``::

        d = d - y_i + g;   y_i = g;   w -= learning_rate * d / min(m + 1, n)

    so after ``n`` steps every update is the mean of the last ``n`` gradients (one per batch
    of an epoch when ``batch_num`` is the number of batches). ``weight_decay`` is coupled L2:
    ``coeff * w`` is part of each stored gradient, as Paddle's regulariser makes it. The state
    holds ``n`` copies of each parameter.

    Args:
        learning_rate: a float or a :mod:`resvision.optim.lr` schedule.
        batch_num: the number of gradients averaged (Paddle: batches per epoch).
        parameters: the parameters or Paddle-style groups.
        weight_decay: None, a float (L2), :class:`L2Decay` or :class:`L1Decay`.
        grad_clip: None or a gradient clip (:class:`ClipGradByGlobalNorm`, ...).
        multi_precision, name: Paddle options; ignored.

    Raises:
        ValueError: ``batch_num`` is not an int >= 1.

    Examples:
        >>> w = torch.nn.Parameter(torch.tensor([0.0]))
        >>> opt = ASGD(learning_rate=1.0, batch_num=2, parameters=[w])
        >>> for g in (2.0, 4.0, 8.0):
        ...     w.grad = torch.tensor([g]); opt.step()
        >>> w.item()  # -(2 / 1) - (2 + 4) / 2 - (4 + 8) / 2
        -11.0
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        batch_num: int = 1,
        parameters: Any = None,
        weight_decay: float | L2Decay | None = None,
        grad_clip: Any = None,
        multi_precision: bool = False,
        name: str | None = None,
    ) -> None:
        if isinstance(batch_num, bool) or not isinstance(batch_num, int) or batch_num < 1:
            raise ValueError(f"ASGD batch_num must be an int >= 1, got {batch_num!r}")
        groups, lr, decay = self._setup(learning_rate, parameters, weight_decay, grad_clip)
        torch.optim.Optimizer.__init__(self, groups, {"lr": lr, "batch_num": batch_num, **decay})
        self._finish_setup()

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One averaged-gradient update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            n = group["batch_num"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = _grad(p, group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["d"] = torch.zeros_like(p)
                    state["ys"] = torch.zeros((n, *p.shape), dtype=p.dtype, device=p.device)
                m = int(state["step"])
                slot = state["ys"][m % n]
                d = state["d"].sub_(slot).add_(grad)
                slot.copy_(grad)
                state["step"] += 1
                p.sub_(d, alpha=group["lr"] / min(m + 1, n))
        return loss


class Rprop(_PaddleOptimizer, torch.optim.Rprop):
    """Resilient backpropagation (``paddle.optimizer.Rprop``), a ``torch.optim.Rprop``.

    Each element has its own step size, starting at ``learning_rate``: while the gradient keeps
    its sign the step grows by ``etas[1]`` (up to ``learning_rate_range[1]``) and the element
    moves by ``-sign(g) * step``; when the sign flips the step shrinks by ``etas[0]`` (down to
    ``learning_rate_range[0]``), the element stays and the gradient is forgotten. Meant for
    full-batch training. Paddle ignores a group's ``learning_rate`` ratio; here it scales the
    group's initial step size. A schedule changes nothing after the first step (as Paddle).

    Args:
        learning_rate: the initial step size.
        learning_rate_range: ``(min, max)`` step sizes.
        parameters: the parameters or Paddle-style groups.
        etas: ``(decrease, increase)`` factors, ``0 < etas[0] < 1 < etas[1]``.
        grad_clip: None or a gradient clip.
        multi_precision, name: Paddle options; ignored.

    Raises:
        ValueError: unless ``0 < min <= learning_rate <= max`` and
            ``0 < etas[0] < 1 < etas[1]``.

    Examples:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = Rprop(learning_rate=0.1, learning_rate_range=(0.01, 1.0), parameters=[w])
        >>> for g in (1.0, 1.0, -1.0):
        ...     w.grad = torch.tensor([g]); opt.step()
        >>> round(w.item(), 6)  # -0.1, -0.12, then a sign flip: no move
        0.78
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        learning_rate_range: tuple[float, float] = (1e-5, 50),
        parameters: Any = None,
        etas: tuple[float, float] = (0.5, 1.2),
        grad_clip: Any = None,
        multi_precision: bool = False,
        name: str | None = None,
    ) -> None:
        groups, lr, _ = self._setup(learning_rate, parameters, None, grad_clip)
        low, high = (float(v) for v in learning_rate_range)
        if not 0.0 < low <= lr <= high:
            raise ValueError(
                "Rprop needs 0 < learning_rate_range[0] <= learning_rate <= "
                f"learning_rate_range[1], got learning_rate={lr!r}, "
                f"learning_rate_range={tuple(learning_rate_range)!r}"
            )
        shrink, grow = (float(v) for v in etas)
        if not 0.0 < shrink < 1.0 < grow:
            raise ValueError(f"Rprop needs 0 < etas[0] < 1 < etas[1], got etas={tuple(etas)!r}")
        torch.optim.Rprop.__init__(self, groups, lr=lr, etas=(shrink, grow), step_sizes=(low, high))
        for group in self.param_groups:
            group.setdefault("l1_decay", 0.0)
        self._finish_setup()


class LBFGS(_PaddleOptimizer, torch.optim.LBFGS):
    """Limited-memory BFGS (``paddle.optimizer.LBFGS``), a ``torch.optim.LBFGS``.

    Stepped with a closure that clears the gradients, computes the loss, calls ``backward``
    and returns the loss: ``opt.step(closure)``. Each ``step`` runs up to ``max_iter``
    iterations. As Paddle's, it takes one group of parameters and ignores ``weight_decay`` and
    ``grad_clip`` (a warning says so when they are set).

    Args:
        learning_rate: the step length (the first iteration scales it by
            ``min(1, 1 / sum(|g|))``).
        max_iter: iterations per ``step``.
        max_eval: closure evaluations per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when the largest gradient element is at most this.
        tolerance_change: stop when the loss or the step changes less than this.
        history_size: the number of curvature pairs kept.
        line_search_fn: None (fixed step) or ``'strong_wolfe'``.
        parameters: the parameters (a single group).
        weight_decay, grad_clip, name: accepted and ignored, as Paddle.

    Raises:
        ValueError: more than one parameter group, or an unknown ``line_search_fn``.

    ``step(closure)`` returns the loss of the closure's first evaluation (as Paddle and torch).

    Examples:
        >>> w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
        >>> opt = LBFGS(parameters=[w], line_search_fn='strong_wolfe')
        >>> def closure():
        ...     opt.clear_grad()
        ...     loss = ((w - 1.0) ** 2).sum()
        ...     loss.backward()
        ...     return loss
        >>> _ = opt.step(closure)
        >>> [round(v, 4) for v in w.tolist()]
        [1.0, 1.0]
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
        parameters: Any = None,
        weight_decay: Any = None,
        grad_clip: Any = None,
        name: str | None = None,
    ) -> None:
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(
                f"LBFGS line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}"
            )
        for what, value in (("max_iter", max_iter), ("history_size", history_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LBFGS {what} must be an int >= 1, got {value!r}")
        if weight_decay is not None or grad_clip is not None:
            warnings.warn(
                "LBFGS ignores weight_decay and grad_clip, as Paddle's does: add the penalty to "
                "the closure's loss instead",
                stacklevel=2,
            )
        groups, lr, _ = self._setup(learning_rate, parameters, None, None)
        if len(groups) != 1:
            raise ValueError(f"LBFGS takes a single parameter group, got {len(groups)}")
        torch.optim.LBFGS.__init__(
            self,
            groups,
            lr=lr,
            max_iter=max_iter,
            max_eval=max_eval,
            tolerance_grad=_check(tolerance_grad, "tolerance_grad", 0.0),
            tolerance_change=_check(tolerance_change, "tolerance_change", 0.0),
            history_size=history_size,
            line_search_fn=line_search_fn,
        )
        self.param_groups[0].setdefault("l1_decay", 0.0)
        self._finish_setup()

    def minimize(self, loss: torch.Tensor) -> None:
        """Not available: LBFGS re-evaluates the loss, so it is stepped with a closure.

        Raises:
            NotImplementedError: always, as Paddle's.
        """
        raise NotImplementedError(
            "LBFGS is stepped with a closure (opt.step(closure)), not with minimize(loss)"
        )
