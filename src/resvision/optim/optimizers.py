"""Optimizers with Paddle's names and arguments, built on ``torch.optim``.

``Momentum``, ``SGD``, ``Adam`` and ``AdamW`` *are* torch optimizers (subclasses of
``torch.optim.SGD`` / ``Adam`` / ``AdamW``), so they work wherever a torch optimizer does
(GradScaler, torch schedulers, ``torch.compile``, checkpoints), and also take Paddle's
arguments: ``learning_rate`` (a float or a :mod:`resvision.optim.lr` schedule),
``parameters``, ``weight_decay`` (a float or :class:`L2Decay` / :class:`L1Decay`) and
``grad_clip`` (:class:`ClipGradByGlobalNorm`, ...), with ``get_lr``, ``set_lr``,
``set_lr_scheduler``, ``clear_grad``, ``minimize`` and ``set_state_dict``. Their common base,
:class:`Optimizer`, is ``paddle.optimizer.Optimizer``: every optimizer of :mod:`resvision.optim`
is an instance, and a new one derives from it.

Weight decay: Paddle's ``L2Decay(coeff)`` adds the gradient of ``coeff / 2 * ||w||^2``,
that is ``coeff * w``, to each gradient before the update; torch's coupled ``weight_decay``
does exactly that, so ``Momentum(weight_decay=L2Decay(c))`` runs ``torch.optim.SGD(...,
weight_decay=c)``. The momentum rules also agree: Paddle's ``v = mu * v + g; w -= lr * v``
(velocity starting at 0) is torch's (buffer starting at the first ``g``), and Nesterov's
``w -= lr * (g + mu * v)`` too. ``AdamW`` decay is decoupled in both (``w -= lr * coeff * w``).

Gradient clipping and L1 decay run in a step pre-hook, in Paddle's order (clip, then
regularise, then update); under a GradScaler they see the unscaled gradients, because
``scaler.step`` unscales before calling ``step``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import torch

from .lr import LRScheduler

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "ClipGradByGlobalNorm",
    "ClipGradByNorm",
    "ClipGradByValue",
    "L1Decay",
    "L2Decay",
    "Momentum",
    "Optimizer",
]


class L2Decay:
    """L2 weight decay ``coeff / 2 * ||w||^2``: adds ``coeff * w`` to the gradient.

    Examples:
        >>> L2Decay(1e-4)
        L2Decay(coeff=0.0001)
    """

    def __init__(self, coeff: float = 0.0) -> None:
        if isinstance(coeff, bool) or not isinstance(coeff, (int, float)) or coeff < 0:
            raise ValueError(f"{type(self).__name__} coeff must be a number >= 0, got {coeff!r}")
        self.coeff = float(coeff)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(coeff={self.coeff:g})"


class L1Decay(L2Decay):
    """L1 weight decay ``coeff * ||w||_1``: adds ``coeff * sign(w)`` to the gradient.

    Examples:
        >>> L1Decay(1e-5)
        L1Decay(coeff=1e-05)
    """


class _Clip:
    def _grads(self, params: Iterable[torch.Tensor]) -> list[torch.Tensor]:
        return [p.grad for p in params if p.grad is not None]


class ClipGradByGlobalNorm(_Clip):
    """Scale all gradients by ``clip_norm / max(global_norm, clip_norm)``.

    Examples:
        >>> p = torch.nn.Parameter(torch.zeros(2)); p.grad = torch.tensor([3.0, 4.0])
        >>> ClipGradByGlobalNorm(1.0)([p]); p.grad.tolist()
        [0.6000000238418579, 0.800000011920929]
    """

    def __init__(self, clip_norm: float) -> None:
        if not clip_norm > 0:
            raise ValueError(f"clip_norm must be > 0, got {clip_norm!r}")
        self.clip_norm = float(clip_norm)

    def __call__(self, params: Iterable[torch.Tensor]) -> None:
        grads = self._grads(params)
        if not grads:
            return
        norms = torch._foreach_norm(grads)
        total = torch.linalg.vector_norm(torch.stack([n.to(grads[0].device) for n in norms]))
        # A tensor scale keeps the clip free of host synchronisation.
        scale = self.clip_norm / torch.clamp(total, min=self.clip_norm)
        torch._foreach_mul_(grads, scale)


class ClipGradByNorm(_Clip):
    """Scale each gradient tensor by ``clip_norm / max(norm(grad), clip_norm)``."""

    def __init__(self, clip_norm: float) -> None:
        if not clip_norm > 0:
            raise ValueError(f"clip_norm must be > 0, got {clip_norm!r}")
        self.clip_norm = float(clip_norm)

    def __call__(self, params: Iterable[torch.Tensor]) -> None:
        for g in self._grads(params):
            g.mul_(self.clip_norm / torch.clamp(torch.linalg.vector_norm(g), min=self.clip_norm))


class ClipGradByValue(_Clip):
    """Clamp each gradient element into ``[min, max]`` (``min`` defaults to ``-max``)."""

    # Paddle names the bounds max and min.
    def __init__(self, max: float, min: float | None = None) -> None:
        low = -max if min is None else min
        if not low < max:
            raise ValueError(f"min must be < max, got min={low!r}, max={max!r}")
        self.max, self.min = float(max), float(low)

    def __call__(self, params: Iterable[torch.Tensor]) -> None:
        for g in self._grads(params):
            g.clamp_(self.min, self.max)


def _decay_kwargs(weight_decay: Any, what: str) -> dict[str, float]:
    """Paddle's weight_decay (None, float, L2Decay, L1Decay) as torch group options."""
    if weight_decay is None:
        return {"weight_decay": 0.0, "l1_decay": 0.0}
    if isinstance(weight_decay, L1Decay):
        return {"weight_decay": 0.0, "l1_decay": weight_decay.coeff}
    if isinstance(weight_decay, L2Decay):
        return {"weight_decay": weight_decay.coeff, "l1_decay": 0.0}
    if isinstance(weight_decay, (int, float)) and not isinstance(weight_decay, bool):
        if weight_decay < 0:
            raise ValueError(f"{what} weight_decay must be >= 0, got {weight_decay!r}")
        return {"weight_decay": float(weight_decay), "l1_decay": 0.0}
    raise TypeError(
        f"{what} weight_decay must be None, a float >= 0, L2Decay or L1Decay, got {weight_decay!r}"
    )


class Optimizer(torch.optim.Optimizer):
    """The base of resvision's optimizers: ``paddle.optimizer.Optimizer`` on ``torch.optim``.

    Every optimizer of :mod:`resvision.optim` is one (``Momentum``, ``Adam``, ... ``Muon``), and
    a ``torch.optim.Optimizer`` too: each subclass also derives from the torch optimizer it runs
    (``class Momentum(Optimizer, torch.optim.SGD)``). The base turns Paddle's arguments
    (``learning_rate`` a float or a :mod:`resvision.optim.lr` schedule, ``parameters`` with
    Paddle-style groups, ``weight_decay``, ``grad_clip``) into torch param groups and adds
    Paddle's methods: ``step``, ``clear_grad``, ``minimize``, ``get_lr``, ``set_lr``,
    ``set_lr_scheduler``, ``state_dict``, ``set_state_dict``. Gradient clipping and L1 decay run
    before each ``step``; an L2 ``weight_decay`` is the groups' ``'weight_decay'``, which the
    update rule applies (as torch's optimizers do).

    Built directly, it is Paddle's base class: a new optimizer derives from it, keeps its
    constructor and implements ``step`` (torch's way; Paddle's ``_append_optimize_op`` has no
    eager counterpart).

    Args:
        learning_rate: a float or a :mod:`resvision.optim.lr` schedule.
        parameters: the parameters, ``(name, parameter)`` pairs, or Paddle-style groups
            (``[{'params': ..., 'weight_decay': ..., 'learning_rate': ratio}]``).
        weight_decay: None, a float (L2 coefficient), :class:`L2Decay` or :class:`L1Decay`.
        grad_clip: None or a gradient clip (:class:`ClipGradByGlobalNorm`, ...).
        name: Paddle's static-graph label; ignored.

    Raises:
        TypeError: a learning rate that is neither a float nor a schedule, no parameters.
        ValueError: an empty parameter list, a negative weight decay.

    Examples:
        >>> class PlainSGD(Optimizer):
        ...     @torch.no_grad()
        ...     def step(self, closure=None):
        ...         for group in self.param_groups:
        ...             for p in group['params']:
        ...                 if p.grad is not None:
        ...                     p.add_(p.grad, alpha=-group['lr'])
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = PlainSGD(learning_rate=0.5, parameters=[w])
        >>> (w * w).sum().backward(); opt.step(); w.tolist()
        [0.0, 0.0]
        >>> from resvision.optim import Adam, Momentum
        >>> isinstance(Momentum(parameters=[w]), Optimizer), isinstance(Adam(parameters=[w]), Optimizer)
        (True, True)
    """

    lr_scheduler: LRScheduler | None

    def __init__(
        self,
        learning_rate: float | LRScheduler,
        parameters: Any = None,
        weight_decay: float | L2Decay | None = None,
        grad_clip: Any = None,
        name: str | None = None,
    ) -> None:
        groups, lr, decay = self._setup(learning_rate, parameters, weight_decay, grad_clip)
        torch.optim.Optimizer.__init__(
            self, groups, {"lr": lr, "weight_decay": decay["weight_decay"]}
        )
        for group in self.param_groups:
            group.setdefault("l1_decay", decay["l1_decay"])
        self._finish_setup()

    # Paddle's per-group option names -> this optimizer's torch names (``beta1`` / ``beta2``
    # become torch's ``betas`` pair, see _translate_group).
    _paddle_group_keys: ClassVar[dict[str, str]] = {"epsilon": "eps"}

    def _setup(
        self,
        learning_rate: float | LRScheduler,
        parameters: Any,
        weight_decay: Any,
        grad_clip: Any,
        decay_kwargs: Any = _decay_kwargs,
        betas: tuple[float, float] | None = None,
    ) -> tuple[list[dict[str, Any]], float, dict[str, float]]:
        """Paddle's arguments as torch param groups, the initial rate and the decay options.

        ``parameters`` may hold ``(name, tensor)`` pairs (``model.named_parameters()``); the
        names are kept in ``self._param_names`` (by tensor id) for the name-based options of
        ``AdamW``. Groups may use Paddle's option names (``epsilon``, ``beta1``, ...).
        """
        name = type(self).__name__
        self._param_names: dict[int, str] = {}
        if isinstance(learning_rate, LRScheduler):
            self.lr_scheduler, lr = learning_rate, learning_rate()
        elif (
            isinstance(learning_rate, (int, float))
            and not isinstance(learning_rate, bool)
            and learning_rate >= 0
        ):
            self.lr_scheduler, lr = None, float(learning_rate)
        else:
            raise TypeError(
                f"{name} learning_rate must be a float >= 0 or a resvision.optim.lr schedule, "
                f"got {learning_rate!r}"
            )
        if parameters is None or isinstance(parameters, torch.Tensor):
            raise TypeError(
                f"{name} needs parameters=<an iterable of tensors or groups>, e.g. "
                f"parameters=model.parameters(); got {type(parameters).__name__}"
            )
        if grad_clip is not None and not callable(grad_clip):
            raise TypeError(
                f"{name} grad_clip must be ClipGradByGlobalNorm, ClipGradByNorm, ClipGradByValue "
                f"or a callable on the parameter list, got {grad_clip!r}"
            )
        self._grad_clip = grad_clip
        defaults = decay_kwargs(weight_decay, name)
        groups = []
        params = list(parameters)
        if not params:
            raise ValueError(f"{name} got an empty parameter list")
        if all(isinstance(p, dict) for p in params):
            for group in params:
                group = self._translate_group(dict(group), betas)
                if "params" not in group:
                    raise ValueError(
                        f"{name} parameter group needs a 'params' key, got {sorted(group)}"
                    )
                group["params"] = self._strip_names(group["params"])
                if "learning_rate" in group:  # Paddle: a multiplier of the global rate
                    group["lr_ratio"] = float(group.pop("learning_rate"))
                if "weight_decay" in group:
                    group.update(decay_kwargs(group.pop("weight_decay"), name))
                group.setdefault("lr_ratio", 1.0)
                steps = group.get("linear_decay_steps")
                if steps is not None:
                    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
                        raise ValueError(
                            f"{name} group linear_decay_steps must be an int >= 1 (the step at "
                            f"which the group's rate reaches 0), got {steps!r}"
                        )
                    if self.lr_scheduler is None:
                        raise ValueError(
                            f"{name} group linear_decay_steps needs a resvision.optim.lr "
                            "schedule as learning_rate (the schedule counts the steps)"
                        )
                group["lr"] = lr * group["lr_ratio"]
                groups.append(group)
        else:
            groups.append({"params": self._strip_names(params), "lr_ratio": 1.0})
        return groups, lr, defaults

    def _strip_names(self, params: Any) -> list[Any]:
        """The tensors of ``params``, remembering the names of ``(name, tensor)`` pairs."""
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        tensors = []
        for p in params:
            if (
                isinstance(p, tuple)
                and len(p) == 2
                and isinstance(p[0], str)
                and isinstance(p[1], torch.Tensor)
            ):
                self._param_names[id(p[1])] = p[0]
                p = p[1]
            tensors.append(p)
        return tensors

    def _param_name(self, p: torch.Tensor, what: str) -> str:
        """A parameter's name, from the ``(name, parameter)`` pairs it was given in."""
        found = self._param_names.get(id(p))
        if found is None:
            raise TypeError(
                f"{type(self).__name__} {what} is called with parameter names, and torch "
                "parameters have none: pass parameters=model.named_parameters() (or groups "
                "whose 'params' are (name, parameter) pairs)"
            )
        return found

    def _translate_group(
        self, group: dict[str, Any], betas: tuple[float, float] | None
    ) -> dict[str, Any]:
        """A Paddle parameter group's option names as this optimizer's torch names."""
        if betas is not None and ("beta1" in group or "beta2" in group):
            group["betas"] = (
                float(group.pop("beta1", betas[0])),
                float(group.pop("beta2", betas[1])),
            )
        for paddle_key, torch_key in self._paddle_group_keys.items():
            if paddle_key in group and paddle_key != torch_key:
                group[torch_key] = group.pop(paddle_key)
        return group

    def _init_torch(
        self,
        base: type[torch.optim.Optimizer],
        groups: list[dict[str, Any]],
        decay: dict[str, float],
        **defaults: Any,
    ) -> None:
        """``base.__init__`` with the groups and defaults, then Paddle's hooks and schedule."""
        base.__init__(self, groups, weight_decay=decay["weight_decay"], **defaults)  # type: ignore[call-arg]
        for group in self.param_groups:  # type: ignore[attr-defined]
            group.setdefault("l1_decay", decay["l1_decay"])
        self._finish_setup()

    def _finish_setup(self) -> None:
        self.register_step_pre_hook(Optimizer._pre_step)  # type: ignore[attr-defined]
        if self.lr_scheduler is not None:
            self.lr_scheduler.bind(self)

    @staticmethod
    def _pre_step(optimizer: Any, args: Any, kwargs: Any) -> None:
        # Paddle's order: clip the gradients, then add the regularisation, then update.
        params = [p for g in optimizer.param_groups for p in g["params"]]
        if optimizer._grad_clip is not None:
            optimizer._grad_clip(params)
        for group in optimizer.param_groups:
            coeff = group.get("l1_decay", 0.0)
            if coeff:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.add_(torch.sign(p.detach()), alpha=coeff)

    # -- Paddle's methods --------------------------------------------------------------
    def get_lr(self) -> float:
        """The current global learning rate (the schedule's value when there is one)."""
        if self.lr_scheduler is not None:
            return self.lr_scheduler()
        group = self.param_groups[0]  # type: ignore[attr-defined]
        return group["lr"] / group.get("lr_ratio", 1.0)

    def set_lr(self, value: float) -> None:
        """Set the global learning rate (not allowed while a schedule drives it).

        Raises:
            RuntimeError: when the optimizer was built with a schedule.
        """
        if self.lr_scheduler is not None:
            raise RuntimeError(
                f"{type(self).__name__} follows {type(self.lr_scheduler).__name__}: set_lr would "
                "be overwritten at its next step; change the schedule instead"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"learning rate must be a float >= 0, got {value!r}")
        for group in self.param_groups:  # type: ignore[attr-defined]
            group["lr"] = float(value) * group.get("lr_ratio", 1.0)

    def clear_grad(self, set_to_zero: bool = True) -> None:
        """Clear the gradients (Paddle's name for ``zero_grad``)."""
        self.zero_grad(set_to_none=not set_to_zero)  # type: ignore[attr-defined]

    clear_gradients = clear_grad

    def minimize(
        self,
        loss: torch.Tensor,
        startup_program: Any = None,
        parameters: Any = None,
        no_grad_set: Any = None,
    ) -> tuple[list[Any], list[tuple[torch.Tensor, torch.Tensor]]]:
        """Update the parameters from the gradients of ``loss`` (Paddle's dygraph ``minimize``).

        Paddle's ``minimize`` applies the gradients that ``loss.backward()`` left (Paddle code
        calls ``loss.backward(); opt.minimize(loss)``). When there is none yet (every gradient
        is None or zero, as after ``clear_grad``), ``loss.backward()`` runs first, so
        ``opt.minimize(loss)`` alone works too.

        Args:
            loss: the loss.
            startup_program: Paddle's static-graph program; ignored.
            parameters: update only these parameters (tensors, or names given as
                ``(name, parameter)`` pairs); default all.
            no_grad_set: parameters (or names) not to update.

        Returns:
            ``(optimize_ops, params_grads)`` as Paddle's: no ops in eager PyTorch (``[]``) and
            the ``(parameter, gradient)`` pairs applied.

        Raises:
            ValueError: an item of ``parameters`` / ``no_grad_set`` that names no parameter.

        Examples:
            >>> w = torch.nn.Parameter(torch.ones(2))
            >>> opt = Momentum(learning_rate=0.5, momentum=0.0, parameters=[w])
            >>> loss = (w * w).sum()
            >>> loss.backward()
            >>> _, applied = opt.minimize(loss)
            >>> w.tolist(), len(applied)
            ([0.0, 0.0], 1)
        """
        own = [p for g in self.param_groups for p in g["params"]]
        chosen = own if parameters is None else self._resolve(parameters, "parameters")
        left_out = {id(p) for p in self._resolve(no_grad_set or [], "no_grad_set")}
        targets = [p for p in chosen if id(p) not in left_out]
        if not any(p.grad is not None and bool(p.grad.any()) for p in targets):
            loss.backward()
        keep = {id(p) for p in targets}
        set_aside = {}
        for p in own:
            if id(p) not in keep and p.grad is not None:
                set_aside[p], p.grad = p.grad, None  # torch skips a parameter without gradient
        try:
            self.step()
        finally:
            for p, grad in set_aside.items():
                p.grad = grad
        return [], [(p, p.grad) for p in targets if p.grad is not None]

    def _resolve(self, items: Any, what: str) -> list[torch.Tensor]:
        """Parameters given as tensors or by the names of ``(name, parameter)`` pairs."""
        by_name = {
            name: p
            for g in self.param_groups
            for p in g["params"]
            if (name := self._param_names.get(id(p))) is not None
        }
        out = []
        for item in items:
            if isinstance(item, torch.Tensor):
                out.append(item)
            elif isinstance(item, str) and item in by_name:
                out.append(by_name[item])
            else:
                raise ValueError(
                    f"{type(self).__name__}.minimize {what}: {item!r} is neither a parameter nor "
                    "the name of one given as parameters=model.named_parameters()"
                )
        return out

    def set_lr_scheduler(self, scheduler: LRScheduler) -> None:
        """Drive the rate by ``scheduler`` from now on, replacing the schedule if there is one.

        Raises:
            TypeError: ``scheduler`` is not a :mod:`resvision.optim.lr` schedule.

        Examples:
            >>> from resvision.optim import lr
            >>> opt = SGD(learning_rate=0.5, parameters=[torch.nn.Parameter(torch.ones(1))])
            >>> opt.set_lr_scheduler(lr.StepDecay(0.1, step_size=1, gamma=0.5))
            >>> opt.get_lr(), opt.param_groups[0]['lr']
            (0.1, 0.1)
        """
        if not isinstance(scheduler, LRScheduler):
            raise TypeError(
                "set_lr_scheduler needs a resvision.optim.lr schedule (an LRScheduler), got "
                f"{type(scheduler).__name__}"
            )
        previous = self.lr_scheduler
        if previous is not None and previous is not scheduler:
            # the old schedule must no longer set this optimizer's rate when it steps
            previous._optimizers = [o for o in previous._optimizers if o is not self]
        self.lr_scheduler = scheduler
        scheduler.bind(self)

    def state_dict(self) -> dict[str, Any]:
        """Torch's optimizer state plus ``'lr_scheduler'`` (the schedule's progress, if any)."""
        state = super().state_dict()  # type: ignore[misc]
        if self.lr_scheduler is not None:
            state["lr_scheduler"] = self.lr_scheduler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (a plain torch optimizer state works too)."""
        state_dict = dict(state_dict)
        schedule_state = state_dict.pop("lr_scheduler", None)
        super().load_state_dict(state_dict)  # type: ignore[misc]
        if schedule_state is not None and self.lr_scheduler is not None:
            self.lr_scheduler.load_state_dict(schedule_state)

    def set_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Paddle's name for :meth:`load_state_dict`."""
        self.load_state_dict(state_dict)


#: The former private name of :class:`Optimizer`, which the other optimizer modules import.
_PaddleOptimizer = Optimizer


class Momentum(Optimizer, torch.optim.SGD):
    """SGD with momentum (``paddle.optimizer.Momentum``), a ``torch.optim.SGD``.

    Args:
        learning_rate: a float or a :mod:`resvision.optim.lr` schedule.
        momentum: the momentum factor.
        parameters: the parameters (e.g. ``model.parameters()``, a generator is fine) or
            Paddle-style groups ``[{'params': ..., 'weight_decay': ..., 'learning_rate':
            ratio}]`` where ``learning_rate`` multiplies the global rate.
        use_nesterov: Nesterov momentum.
        weight_decay: None, a float (L2 coefficient), :class:`L2Decay` or :class:`L1Decay`.
        grad_clip: None or a gradient clip (:class:`ClipGradByGlobalNorm`, ...).
        multi_precision, rescale_grad, use_multi_tensor, name: Paddle options;
            ``use_multi_tensor`` selects torch's ``foreach`` implementation, ``rescale_grad``
            must be 1.0 (scale the loss instead), the others are accepted and ignored (torch
            keeps fp32 parameters under autocast).

    Examples:
        >>> net = torch.nn.Linear(2, 1)
        >>> opt = Momentum(learning_rate=0.01, momentum=0.9, weight_decay=L2Decay(1e-4),
        ...                parameters=net.parameters())
        >>> isinstance(opt, torch.optim.SGD), opt.get_lr()
        (True, 0.01)
        >>> net(torch.ones(1, 2)).sum().backward(); opt.step(); opt.clear_grad()
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        momentum: float = 0.9,
        parameters: Any = None,
        use_nesterov: bool = False,
        weight_decay: float | L2Decay | None = None,
        grad_clip: Any = None,
        multi_precision: bool = False,
        rescale_grad: float = 1.0,
        use_multi_tensor: bool = False,
        name: str | None = None,
    ) -> None:
        if rescale_grad != 1.0:
            raise ValueError(
                f"rescale_grad must be 1.0 (scale the loss instead), got {rescale_grad!r}"
            )
        _init_sgd(
            self,
            learning_rate,
            momentum,
            parameters,
            use_nesterov,
            weight_decay,
            grad_clip,
            use_multi_tensor,
        )


def _init_sgd(
    opt: Any,
    learning_rate: Any,
    momentum: float,
    parameters: Any,
    use_nesterov: bool,
    weight_decay: Any,
    grad_clip: Any,
    use_multi_tensor: bool,
) -> None:
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or momentum < 0:
        raise ValueError(f"momentum must be a float >= 0, got {momentum!r}")
    groups, lr, decay = opt._setup(learning_rate, parameters, weight_decay, grad_clip)
    torch.optim.SGD.__init__(
        opt,
        groups,
        lr=lr,
        momentum=float(momentum),
        nesterov=bool(use_nesterov),
        weight_decay=decay["weight_decay"],
        foreach=True if use_multi_tensor else None,
    )
    for group in opt.param_groups:
        group.setdefault("l1_decay", decay["l1_decay"])
    opt._finish_setup()


class SGD(Optimizer, torch.optim.SGD):
    """Plain SGD (``paddle.optimizer.SGD``): :class:`Momentum` with momentum 0.

    Examples:
        >>> opt = SGD(learning_rate=0.1, parameters=torch.nn.Linear(2, 1).parameters())
        >>> opt.param_groups[0]['momentum']
        0.0
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        parameters: Any = None,
        weight_decay: float | L2Decay | None = None,
        grad_clip: Any = None,
        multi_precision: bool = False,
        name: str | None = None,
    ) -> None:
        _init_sgd(self, learning_rate, 0.0, parameters, False, weight_decay, grad_clip, False)


class Adam(Optimizer, torch.optim.Adam):
    """Adam (``paddle.optimizer.Adam``), a ``torch.optim.Adam``.

    ``weight_decay`` is coupled L2 (added to the gradient), as Paddle's ``L2Decay``. Paddle's
    ``epsilon`` placement (``eps * sqrt(1 - beta2^t)``) is algebraically torch's. ``amsgrad``
    keeps the running maximum of the second moment, as both define it.

    Examples:
        >>> opt = Adam(learning_rate=1e-3, parameters=torch.nn.Linear(2, 1).parameters())
        >>> opt.param_groups[0]['betas']
        (0.9, 0.999)
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
        lazy_mode: bool = False,
        multi_precision: bool = False,
        use_multi_tensor: bool = False,
        amsgrad: bool = False,
        name: str | None = None,
    ) -> None:
        betas = (float(beta1), float(beta2))
        groups, lr, decay = self._setup(
            learning_rate, parameters, weight_decay, grad_clip, betas=betas
        )
        torch.optim.Adam.__init__(
            self,
            groups,
            lr=lr,
            betas=betas,
            eps=float(epsilon),
            weight_decay=decay["weight_decay"],
            amsgrad=bool(amsgrad),
            foreach=True if use_multi_tensor else None,
        )
        for group in self.param_groups:
            group.setdefault("l1_decay", decay["l1_decay"])
        self._finish_setup()


def _decoupled_decay(weight_decay: Any, what: str) -> dict[str, float]:
    if isinstance(weight_decay, L2Decay):  # includes L1Decay
        raise TypeError(
            f"{what} weight_decay is a decoupled coefficient (a float), got {weight_decay!r}; use "
            "Adam for L2Decay"
        )
    if weight_decay is None:
        return {"weight_decay": 0.0, "l1_decay": 0.0}
    if isinstance(weight_decay, torch.Tensor) and weight_decay.numel() == 1:
        weight_decay = float(weight_decay)
    return _decay_kwargs(weight_decay, what)


class AdamW(Optimizer, torch.optim.AdamW):
    """AdamW (``paddle.optimizer.AdamW``), a ``torch.optim.AdamW``: decoupled decay.

    Each step is ``w -= lr * coeff * w`` (when the parameter decays) then Adam's update with
    ``lr``, where ``lr`` is the global rate times the group's ``learning_rate`` ratio times
    ``lr_ratio(param)``, as Paddle's kernel.

    Args:
        learning_rate: a float or a :mod:`resvision.optim.lr` schedule.
        beta1, beta2, epsilon: Adam's moment decay rates and denominator guard.
        parameters: the parameters, ``(name, parameter)`` pairs (``model.named_parameters()``,
            needed by ``apply_decay_param_fun``) or Paddle-style groups.
        weight_decay: the decoupled coefficient (a float; not ``L2Decay``).
        use_lowprecision_moment: Paddle's option for fp16 moments; accepted and ignored.
        lr_ratio: None or ``fn(param) -> float``, a per-parameter multiplier of the rate
            (layer-wise rate decay). Paddle runs it on GPU only; here on any device.
        apply_decay_param_fun: None or ``fn(name) -> bool``: only parameters whose name gives
            True decay. Torch parameters carry no name: pass ``(name, parameter)`` pairs
            (``model.named_parameters()``); the names are those (``'0.weight'``), not Paddle's
            generated ``linear_0.w_0``.
        grad_clip: None or a gradient clip (:class:`ClipGradByGlobalNorm`, ...).
        lazy_mode, multi_precision, name: Paddle options, accepted and ignored.
        amsgrad: keep the running maximum of the second moment.

    Both functions run once, at construction: the parameters are split into param groups
    by (decays, ratio), each with its own ``weight_decay`` and ``lr_ratio``.

    Raises:
        TypeError: ``apply_decay_param_fun`` without parameter names, ``weight_decay`` given as
            ``L2Decay``, or a function that is not callable.

    Examples:
        >>> net = torch.nn.Linear(2, 1)
        >>> opt = AdamW(learning_rate=1e-3, parameters=net.named_parameters(),
        ...             apply_decay_param_fun=lambda name: not name.endswith('bias'),
        ...             lr_ratio=lambda p: 0.5 if p.ndim == 1 else 1.0)
        >>> [(g['weight_decay'], g['lr_ratio'], g['lr']) for g in opt.param_groups]
        [(0.01, 1.0, 0.001), (0.0, 0.5, 0.0005)]
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        parameters: Any = None,
        weight_decay: float = 0.01,
        use_lowprecision_moment: bool = False,
        lr_ratio: Any = None,
        apply_decay_param_fun: Any = None,
        grad_clip: Any = None,
        lazy_mode: bool = False,
        multi_precision: bool = False,
        amsgrad: bool = False,
        name: str | None = None,
    ) -> None:
        for what, fn in (("lr_ratio", lr_ratio), ("apply_decay_param_fun", apply_decay_param_fun)):
            if fn is not None and not callable(fn):
                raise TypeError(f"AdamW {what} must be None or a function, got {fn!r}")
        betas = (float(beta1), float(beta2))
        groups, lr, decay = self._setup(
            learning_rate,
            parameters,
            weight_decay,
            grad_clip,
            decay_kwargs=_decoupled_decay,
            betas=betas,
        )
        if lr_ratio is not None or apply_decay_param_fun is not None:
            groups = self._split_groups(groups, lr, lr_ratio, apply_decay_param_fun)
        torch.optim.AdamW.__init__(
            self,
            groups,
            lr=lr,
            betas=betas,
            eps=float(epsilon),
            weight_decay=decay["weight_decay"],
            amsgrad=bool(amsgrad),
        )
        for group in self.param_groups:
            group.setdefault("l1_decay", 0.0)
        self._finish_setup()

    def _split_groups(
        self, groups: list[dict[str, Any]], lr: float, lr_ratio: Any, decays: Any
    ) -> list[dict[str, Any]]:
        """Split each group by (decays?, lr_ratio(param)), keeping the parameter order."""
        out = []
        for group in groups:
            parts: dict[tuple[bool, float], dict[str, Any]] = {}
            for p in group["params"]:
                decay = (
                    True
                    if decays is None
                    else bool(decays(self._param_name(p, "apply_decay_param_fun")))
                )
                ratio = 1.0 if lr_ratio is None else float(lr_ratio(p))
                if not ratio >= 0:
                    raise ValueError(f"AdamW lr_ratio must return a number >= 0, got {ratio!r}")
                part = parts.get((decay, ratio))
                if part is None:
                    part = parts[(decay, ratio)] = {**group, "params": []}
                    part["lr_ratio"] = group["lr_ratio"] * ratio
                    part["lr"] = lr * part["lr_ratio"]
                    if not decay:
                        part["weight_decay"] = 0.0
                part["params"].append(p)
            out.extend(parts.values())
        return out
