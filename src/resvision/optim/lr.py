"""Learning-rate schedules with Paddle's names and arguments (``paddle.optimizer.lr``).

>>> from resvision.optim.lr import StepDecay
>>> s = StepDecay(0.1, step_size=30)
>>> s(), s.step(30), round(s(), 6)
(0.1, None, 0.01)

A schedule is a function of its step counter
``last_epoch``: ``step()`` advances it, ``schedule()`` returns the current rate, and
``state_dict()`` holds the counter for resume. Where Paddle computes a rate recursively from
the previous one (``LinearLR``, ``MultiplicativeDecay``, ``CosineAnnealingWarmRestarts``,
``CosineAnnealingDecay``) the rate here is the closed form of the same recursion, so that
``step(epoch)`` and resuming land on the rate the recursion reaches. ``ReduceOnPlateau`` is
the exception: it follows a metric (``step(metrics)``), and its state holds what it has seen.

All of Paddle 3.3's 17 schedules are here with its names, arguments and defaults.

Why not subclasses of ``torch.optim.lr_scheduler.LRScheduler``: Paddle code builds the
schedule *before* the optimizer (``Momentum(learning_rate=CosineAnnealingDecay(...),
parameters=...)``) and nests schedules (``LinearWarmup(learning_rate=PiecewiseDecay(...))``),
while a torch scheduler needs its optimizer at construction. So a schedule here is plain
(closed-form, so that resuming from a counter is exact) and writes its rate into the
``param_groups`` of the optimizers it is bound to, the same mechanism torch schedulers use.
resvision's optimizers bind it themselves; any torch optimizer can be bound with
:meth:`LRScheduler.bind`. Torch's own schedulers work as they are with the ``LRScheduler``
callback.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "CosineAnnealingDecay",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LRScheduler",
    "LambdaDecay",
    "LinearLR",
    "LinearWarmup",
    "MultiStepDecay",
    "MultiplicativeDecay",
    "NaturalExpDecay",
    "NoamDecay",
    "OneCycleLR",
    "PiecewiseDecay",
    "PolynomialDecay",
    "ReduceOnPlateau",
    "StepDecay",
]


def _number(
    value: Any, what: str, *, positive: bool = False, minimum: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{what} must be > 0, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value!r}")
    return float(value)


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return value


class LRScheduler:
    """Base class: subclasses define :meth:`get_lr` from ``self.last_epoch``.

    Construction takes the first step, so ``last_epoch`` is 0 and ``schedule()`` is the rate
    of the first optimizer step, as Paddle.

    Args:
        learning_rate: the base rate ``self.base_lr``.
        last_epoch: the counter before the first step (-1 starts from the beginning).
        verbose: print the rate at every step.

    Examples:
        >>> class Halving(LRScheduler):
        ...     def get_lr(self):
        ...         return self.base_lr * 0.5 ** self.last_epoch
        >>> s = Halving(1.0)
        >>> s(), s.step(), s()
        (1.0, None, 0.5)
    """

    def __init__(
        self, learning_rate: float = 0.1, last_epoch: int = -1, verbose: bool = False
    ) -> None:
        self.base_lr = _number(learning_rate, "learning_rate", minimum=0.0)
        self.last_lr = self.base_lr
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"last_epoch must be an int >= -1, got {last_epoch!r}")
        self.last_epoch = last_epoch
        self.verbose = verbose
        self._optimizers: list[Any] = []
        self.step()

    def get_lr(self) -> float:
        """The rate at step ``self.last_epoch``; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_lr()")

    def __call__(self) -> float:
        """The current rate."""
        return self.last_lr

    @property
    def peak_lr(self) -> float:
        """The schedule's nominal rate (``base_lr``; a warm-up's ``end_lr``, a one-cycle's
        maximum): where the line of a ``linear_decay_steps`` group starts (see :meth:`bind`)."""
        return self.base_lr

    def get_last_lr(self) -> list[float]:
        """The current rate of each param group of the bound optimizers (torch's API name)."""
        if not self._optimizers:
            return [self.last_lr]
        return [g["lr"] for opt in self._optimizers for g in opt.param_groups]

    def step(self, epoch: int | None = None) -> None:
        """Advance the counter by one (or set it to ``epoch``) and apply the new rate.

        Call it after ``optimizer.step()``: the new rate applies to the next optimizer step.
        """
        if epoch is None:
            epoch = self.last_epoch + 1
        elif isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
        previous, self.last_epoch = self.last_epoch, epoch
        try:
            self.last_lr = float(self.get_lr())
        except Exception:
            self.last_epoch = previous  # a failed step leaves the schedule unchanged
            raise
        self._apply()
        if self.verbose:
            print(
                f"Epoch {self.last_epoch}: {type(self).__name__} set learning rate to {self.last_lr}."
            )

    def bind(self, optimizer: Any) -> LRScheduler:
        """Drive the rate of ``optimizer`` (any ``torch.optim.Optimizer``) from now on.

        Each param group gets ``rate * group.get('lr_ratio', 1.0)``. A group with a
        ``linear_decay_steps`` key (an int > 0) follows its own straight line instead: from
        ``peak_lr * lr_ratio`` at step 0 down to 0 at that step, and 0 after it, so that its
        parameters stop moving (airbench trains its whitening layer's bias this way for the
        first 3 epochs only; see ``optim.early_params`` in the CLI).

        Returns:
            self, for chaining.
        """
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"bind() needs a torch optimizer, got {type(optimizer).__name__}")
        if all(o is not optimizer for o in self._optimizers):
            self._optimizers.append(optimizer)
        self._apply()
        return self

    def _apply(self) -> None:
        for opt in getattr(self, "_optimizers", ()):
            for group in opt.param_groups:
                ratio = group.get("lr_ratio", 1.0)
                stop = group.get("linear_decay_steps")
                if stop:
                    left = max(0.0, 1.0 - max(self.last_epoch, 0) / stop)
                    group["lr"] = self.peak_lr * ratio * left
                else:
                    group["lr"] = self.last_lr * ratio

    def state_dict(self) -> dict[str, Any]:
        """The progress: ``{'type', 'last_epoch', 'last_lr'}`` (plus nested schedules)."""
        return {"type": type(self).__name__, "last_epoch": self.last_epoch, "last_lr": self.last_lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` and apply the rate to the bound optimizers.

        Raises:
            ValueError: when the state belongs to another kind of schedule.
            KeyError: when the state lacks ``last_epoch``.
        """
        kind = state.get("type", type(self).__name__)
        if kind != type(self).__name__:
            raise ValueError(f"cannot load a {kind} state into {type(self).__name__}")
        if "last_epoch" not in state:
            raise KeyError(f"{type(self).__name__} state needs 'last_epoch', has {sorted(state)}")
        self.last_epoch = int(state["last_epoch"])
        self.last_lr = float(self.get_lr())
        self._apply()

    set_state_dict = load_state_dict  # Paddle's name
    set_dict = load_state_dict

    def __getstate__(self) -> dict[str, Any]:
        # Bound optimizers are not part of a schedule's identity (and hold the parameters).
        return {k: v for k, v in self.__dict__.items() if k != "_optimizers"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._optimizers = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self.last_lr:g})"


class PiecewiseDecay(LRScheduler):
    """Constant pieces: ``values[i]`` while ``step < boundaries[i]``, then ``values[-1]``.

    Args:
        boundaries: increasing step numbers.
        values: ``len(boundaries) + 1`` rates.

    Examples:
        >>> s = PiecewiseDecay(boundaries=[2, 4], values=[0.1, 0.01, 0.001])
        >>> [s.step(i) or s() for i in range(6)]
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    """

    def __init__(
        self,
        boundaries: Sequence[int],
        values: Sequence[float],
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        boundaries, values = (
            list(boundaries),
            [_number(v, "values[i]", minimum=0.0) for v in values],
        )
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"values needs len(boundaries) + 1 = {len(boundaries) + 1} rates, got {len(values)}"
            )
        if any(b >= c for b, c in itertools.pairwise(boundaries)):
            raise ValueError(f"boundaries must increase, got {boundaries}")
        self.boundaries, self.values = boundaries, values
        super().__init__(values[0], last_epoch, verbose)

    def get_lr(self) -> float:
        for boundary, value in zip(self.boundaries, self.values):
            if self.last_epoch < boundary:
                return value
        return self.values[-1]


class StepDecay(LRScheduler):
    """``learning_rate * gamma ** (step // step_size)``.

    Examples:
        >>> s = StepDecay(0.5, step_size=2, gamma=0.1)
        >>> [round(s.step(i) or s(), 6) for i in range(5)]
        [0.5, 0.5, 0.05, 0.05, 0.005]
    """

    def __init__(
        self,
        learning_rate: float,
        step_size: int,
        gamma: float = 0.1,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        self.step_size = _positive_int(step_size, "step_size")
        self.gamma = _number(gamma, "gamma", positive=True)
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class MultiStepDecay(LRScheduler):
    """``learning_rate * gamma ** (number of milestones <= step)``.

    Examples:
        >>> s = MultiStepDecay(1.0, milestones=[1, 3], gamma=0.5)
        >>> [s.step(i) or s() for i in range(4)]
        [1.0, 0.5, 0.5, 0.25]
    """

    def __init__(
        self,
        learning_rate: float,
        milestones: Sequence[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        milestones = list(milestones)
        if any(a >= b for a, b in itertools.pairwise(milestones)):
            raise ValueError(f"milestones must increase, got {milestones}")
        self.milestones = milestones
        self.gamma = _number(gamma, "gamma", positive=True)
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:
        passed = sum(1 for m in self.milestones if self.last_epoch >= m)
        return self.base_lr * self.gamma**passed


class ExponentialDecay(LRScheduler):
    """``learning_rate * gamma ** step``.

    Examples:
        >>> s = ExponentialDecay(1.0, gamma=0.5)
        >>> s.step(3) or s()
        0.125
    """

    def __init__(
        self, learning_rate: float, gamma: float, last_epoch: int = -1, verbose: bool = False
    ) -> None:
        self.gamma = _number(gamma, "gamma", positive=True)
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:
        return self.base_lr * self.gamma**self.last_epoch


class LambdaDecay(LRScheduler):
    """``learning_rate * lr_lambda(step)``.

    Examples:
        >>> s = LambdaDecay(0.5, lr_lambda=lambda step: 0.9**step)
        >>> round(s.step(2) or s(), 6)
        0.405
    """

    def __init__(
        self,
        learning_rate: float,
        lr_lambda: Callable[[int], float],
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        if not callable(lr_lambda):
            raise TypeError(
                f"lr_lambda must be a function of the step, got {type(lr_lambda).__name__}"
            )
        self.lr_lambda = lr_lambda
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:
        return self.base_lr * float(self.lr_lambda(self.last_epoch))


class PolynomialDecay(LRScheduler):
    """``(lr - end_lr) * (1 - step / decay_steps) ** power + end_lr``, then ``end_lr``.

    With ``cycle=True`` the decay restarts with ``decay_steps`` multiplied by
    ``ceil(step / decay_steps)``, as Paddle.

    Examples:
        >>> s = PolynomialDecay(1.0, decay_steps=4, end_lr=0.0, power=1.0)
        >>> [s.step(i) or s() for i in range(6)]
        [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """

    def __init__(
        self,
        learning_rate: float,
        decay_steps: int,
        end_lr: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        self.decay_steps = _positive_int(decay_steps, "decay_steps")
        self.end_lr = _number(end_lr, "end_lr", minimum=0.0)
        self.power = _number(power, "power", positive=True)
        self.cycle = bool(cycle)
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:
        step, span = self.last_epoch, self.decay_steps
        if self.cycle:
            span = self.decay_steps * max(1, math.ceil(step / self.decay_steps))
        else:
            step = min(step, span)
        return (self.base_lr - self.end_lr) * (1 - step / span) ** self.power + self.end_lr


class CosineAnnealingDecay(LRScheduler):
    """Cosine annealing: ``eta_min + (lr - eta_min) * (1 + cos(pi * step / T_max)) / 2``.

    The closed form of Paddle's (and torch's) recursive rule; past ``T_max`` the rate rises
    again along the cosine, as theirs does.

    Args:
        learning_rate: the rate at step 0.
        T_max: steps (or epochs, when stepped per epoch) of the half period.
        eta_min: the rate at ``T_max``.

    Examples:
        >>> s = CosineAnnealingDecay(1.0, T_max=4)
        >>> [round(s.step(i) or s(), 4) for i in range(5)]
        [1.0, 0.8536, 0.5, 0.1464, 0.0]
    """

    def __init__(
        self,
        learning_rate: float,
        T_max: int,
        eta_min: float = 0,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        self.T_max = _positive_int(T_max, "T_max")
        self.eta_min = _number(eta_min, "eta_min", minimum=0.0)
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return self.eta_min + (self.base_lr - self.eta_min) * cosine


class LinearWarmup(LRScheduler):
    """Linear warm-up from ``start_lr`` to ``end_lr`` over ``warmup_steps``, then ``learning_rate``.

    Args:
        learning_rate: a float, or a schedule that takes over after the warm-up (its step
            0 is the first step after the warm-up).
        warmup_steps: the number of warm-up steps.
        start_lr: the rate at step 0.
        end_lr: the rate the warm-up approaches (reached at step ``warmup_steps``).

    Examples:
        >>> s = LinearWarmup(CosineAnnealingDecay(0.1, T_max=2), warmup_steps=2,
        ...                  start_lr=0.0, end_lr=0.1)
        >>> [round(s.step(i) or s(), 4) for i in range(5)]
        [0.0, 0.05, 0.1, 0.05, 0.0]
    """

    def __init__(
        self,
        learning_rate: float | LRScheduler,
        warmup_steps: int,
        start_lr: float,
        end_lr: float,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        if isinstance(learning_rate, ReduceOnPlateau):
            raise TypeError(
                "LinearWarmup cannot wrap ReduceOnPlateau (it follows a metric, not the step "
                "counter): warm up with another schedule, or step ReduceOnPlateau yourself"
            )
        if not isinstance(learning_rate, LRScheduler):
            learning_rate = _number(learning_rate, "learning_rate", minimum=0.0)
        self.learning_rate = learning_rate
        self.warmup_steps = _positive_int(warmup_steps, "warmup_steps")
        self.start_lr = _number(start_lr, "start_lr", minimum=0.0)
        self.end_lr = _number(end_lr, "end_lr", minimum=0.0)
        super().__init__(self.start_lr, last_epoch, verbose)

    @property
    def peak_lr(self) -> float:
        return self.end_lr

    def get_lr(self) -> float:
        if self.last_epoch < self.warmup_steps:
            fraction = self.last_epoch / self.warmup_steps
            return self.start_lr + (self.end_lr - self.start_lr) * fraction
        if isinstance(self.learning_rate, LRScheduler):
            self.learning_rate.step(self.last_epoch - self.warmup_steps)
            return self.learning_rate()
        return self.learning_rate

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if isinstance(self.learning_rate, LRScheduler):
            state["learning_rate"] = self.learning_rate.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if isinstance(self.learning_rate, LRScheduler) and "learning_rate" in state:
            self.learning_rate.load_state_dict(state["learning_rate"])
        super().load_state_dict(state)

    set_state_dict = load_state_dict
    set_dict = load_state_dict


class OneCycleLR(LRScheduler):
    """One-cycle policy (Paddle's arguments): up to ``max_learning_rate``, then down.

    The rate starts at ``max_learning_rate / divide_factor``, rises to the maximum by step
    ``phase_pct * total_steps - 1`` and anneals to ``end_learning_rate`` (an absolute rate,
    unlike torch's ``final_div_factor``) at step ``total_steps - 1``. With ``three_phase``
    it first returns to the initial rate, then anneals to ``end_learning_rate``.

    Raises:
        ValueError: when stepped beyond ``total_steps``.

    Examples:
        >>> s = OneCycleLR(max_learning_rate=1.0, total_steps=5, divide_factor=10.0,
        ...                end_learning_rate=0.0, phase_pct=0.4, anneal_strategy='linear')
        >>> [round(s.step(i) or s(), 4) for i in range(5)]
        [0.1, 1.0, 0.6667, 0.3333, 0.0]
    """

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        divide_factor: float = 25.0,
        end_learning_rate: float = 0.0001,
        phase_pct: float = 0.3,
        anneal_strategy: str = "cos",
        three_phase: bool = False,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        max_lr = _number(max_learning_rate, "max_learning_rate", positive=True)
        self.total_steps = _positive_int(total_steps, "total_steps")
        divide = _number(divide_factor, "divide_factor", positive=True)
        end = _number(end_learning_rate, "end_learning_rate", minimum=0.0)
        phase_pct = _number(phase_pct, "phase_pct")
        limit = 0.5 if three_phase else 1.0
        if not 0 < phase_pct < limit:
            raise ValueError(f"phase_pct must be in (0, {limit}), got {phase_pct}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)
        initial = max_lr / divide
        up_end = phase_pct * self.total_steps - 1
        last = self.total_steps - 1
        if three_phase:
            # (phase end step, start rate, end rate); a phase starts where the previous ends.
            self._phases = [
                (up_end, initial, max_lr),
                (2 * up_end, max_lr, initial),
                (last, initial, end),
            ]
        else:
            self._phases = [(up_end, initial, max_lr), (last, max_lr, end)]
        self.max_lr = max_lr
        super().__init__(initial, last_epoch, verbose)

    @property
    def peak_lr(self) -> float:
        return self.max_lr

    def _anneal(self, start: float, end: float, fraction: float) -> float:
        if self.anneal_strategy == "linear":
            return start + (end - start) * fraction
        return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2

    def get_lr(self) -> float:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR was stepped {step} times but total_steps is {self.total_steps}: "
                "make total_steps cover every optimizer step of the run"
            )
        begin = 0.0
        for i, (end_step, start_lr, end_lr) in enumerate(self._phases):
            if step <= end_step or i == len(self._phases) - 1:
                span = end_step - begin
                fraction = min(1.0, (step - begin) / span) if span > 0 else 1.0
                return self._anneal(start_lr, end_lr, fraction)
            begin = end_step
        raise AssertionError("unreachable")  # pragma: no cover


class NoamDecay(LRScheduler):
    """The Transformer's schedule: ``lr * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)``.

    Linear warm-up for ``warmup_steps`` steps, then decay as the inverse square root of the
    step (Vaswani et al. 2017). The rate is 0 at step 0.

    Args:
        d_model: the model width.
        warmup_steps: the steps of the warm-up (the peak).
        learning_rate: a multiplier of the whole schedule.

    Examples:
        >>> s = NoamDecay(d_model=4, warmup_steps=2)
        >>> [round(s.step(i) or s(), 4) for i in range(5)]
        [0.0, 0.1768, 0.3536, 0.2887, 0.25]
    """

    def __init__(
        self,
        d_model: int,
        warmup_steps: int,
        learning_rate: float = 1.0,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        self.d_model = _number(d_model, "d_model", positive=True)
        self.warmup_steps = _number(warmup_steps, "warmup_steps", positive=True)
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:
        a = 1.0 if self.last_epoch == 0 else self.last_epoch**-0.5
        b = self.warmup_steps**-1.5 * self.last_epoch
        return self.base_lr * (self.d_model**-0.5) * min(a, b)


class NaturalExpDecay(LRScheduler):
    """``learning_rate * exp(-gamma * step)``.

    Examples:
        >>> s = NaturalExpDecay(1.0, gamma=0.5)
        >>> [round(s.step(i) or s(), 4) for i in range(3)]
        [1.0, 0.6065, 0.3679]
    """

    def __init__(
        self, learning_rate: float, gamma: float, last_epoch: int = -1, verbose: bool = False
    ) -> None:
        self.gamma = _number(gamma, "gamma", positive=True)
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:
        return self.base_lr * math.exp(-1 * self.gamma * self.last_epoch)


class InverseTimeDecay(LRScheduler):
    """``learning_rate / (1 + gamma * step)``.

    Examples:
        >>> s = InverseTimeDecay(1.0, gamma=0.5)
        >>> [s.step(i) or s() for i in range(3)]
        [1.0, 0.6666666666666666, 0.5]
    """

    def __init__(
        self, learning_rate: float, gamma: float, last_epoch: int = -1, verbose: bool = False
    ) -> None:
        self.gamma = _number(gamma, "gamma", minimum=0.0)
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:
        return self.base_lr / (1 + self.gamma * self.last_epoch)


class MultiplicativeDecay(LRScheduler):
    """``learning_rate * lr_lambda(1) * lr_lambda(2) * ... * lr_lambda(step)``.

    Paddle multiplies the previous rate by ``lr_lambda(step)`` at each step; this is the same
    product (in the same order, so the same floats), kept incrementally while stepping one by
    one and recomputed when stepped to an arbitrary ``epoch`` or resumed.

    Examples:
        >>> s = MultiplicativeDecay(0.5, lr_lambda=lambda step: 0.95)
        >>> [round(s.step(i) or s(), 6) for i in range(3)]
        [0.5, 0.475, 0.45125]
    """

    def __init__(
        self,
        learning_rate: float,
        lr_lambda: Callable[[int], float],
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        if not callable(lr_lambda):
            raise TypeError(
                f"lr_lambda must be a function of the step, got {type(lr_lambda).__name__}"
            )
        self.lr_lambda = lr_lambda
        self._product: tuple[int, float] | None = None  # (step, rate) of the last evaluation
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:
        step = self.last_epoch
        start, rate = 0, self.base_lr
        cached = getattr(self, "_product", None)
        if cached is not None and 0 <= cached[0] <= step:
            start, rate = cached
        for epoch in range(start + 1, step + 1):
            rate = rate * self.lr_lambda(epoch)
        self._product = (step, rate)
        return rate


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith 2017): between ``base_learning_rate`` and the maximum.

    Each cycle rises linearly for ``step_size_up`` steps and falls for ``step_size_down``; the
    amplitude ``max_learning_rate - base_learning_rate`` is scaled by ``scale_fn`` of the cycle
    number (from 1) or of the step: 1 (``'triangular'``), halved every cycle
    (``'triangular2'``), ``exp_gamma ** step`` (``'exp_range'``).

    Args:
        base_learning_rate: the lower bound (the rate at step 0).
        max_learning_rate: the upper bound of the first cycle.
        step_size_up: steps from the lower to the upper bound.
        step_size_down: steps back down (default ``step_size_up``).
        mode: ``'triangular'``, ``'triangular2'`` or ``'exp_range'`` (ignored with
            ``scale_fn``).
        exp_gamma: the base of ``'exp_range'``.
        scale_fn: None or ``fn(x) -> float`` in [0, 1], replacing ``mode``.
        scale_mode: what ``scale_fn`` takes: ``'cycle'`` or ``'iterations'``.

    Examples:
        >>> s = CyclicLR(0.1, 0.5, step_size_up=2, mode='triangular2')
        >>> [round(s.step(i) or s(), 4) for i in range(7)]
        [0.1, 0.3, 0.5, 0.3, 0.1, 0.2, 0.3]
    """

    def __init__(
        self,
        base_learning_rate: float,
        max_learning_rate: float,
        step_size_up: int,
        step_size_down: int | None = None,
        mode: str = "triangular",
        exp_gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: str = "cycle",
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        self.max_lr = _number(max_learning_rate, "max_learning_rate", minimum=0.0)
        up = float(_positive_int(step_size_up, "step_size_up"))
        down = (
            up if step_size_down is None else float(_positive_int(step_size_down, "step_size_down"))
        )
        self.cycle_size = up + down
        self.step_up_pct = up / self.cycle_size
        self.amplitude = self.max_lr - _number(base_learning_rate, "base_learning_rate")
        self.gamma = _number(exp_gamma, "exp_gamma", positive=True)
        self.mode = mode
        if scale_fn is None:
            modes = {
                "triangular": (self._triangular_scale_fn, "cycle"),
                "triangular2": (self._triangular2_scale_fn, "cycle"),
                "exp_range": (self._exp_range_scale_fn, "iterations"),
            }
            if mode not in modes:
                raise ValueError(
                    f"mode must be 'triangular', 'triangular2' or 'exp_range' (or give "
                    f"scale_fn), got {mode!r}"
                )
            self.scale_fn, self.scale_mode = modes[mode]
        else:
            if not callable(scale_fn):
                raise TypeError(f"scale_fn must be a function, got {type(scale_fn).__name__}")
            if scale_mode not in ("cycle", "iterations"):
                raise ValueError(f"scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
            self.scale_fn, self.scale_mode = scale_fn, scale_mode
        super().__init__(base_learning_rate, last_epoch, verbose)

    @property
    def peak_lr(self) -> float:
        return self.max_lr

    def get_lr(self) -> float:
        iterations = self.last_epoch
        cycle = 1 + iterations // self.cycle_size
        pct_per_cycle = 1.0 + iterations / self.cycle_size - cycle
        if pct_per_cycle <= self.step_up_pct:
            scale_factor = pct_per_cycle / self.step_up_pct
        else:
            scale_factor = (1 - pct_per_cycle) / (1 - self.step_up_pct)
        x = cycle if self.scale_mode == "cycle" else iterations
        return self.base_lr + self.amplitude * scale_factor * self.scale_fn(x)

    def _triangular_scale_fn(self, x: float) -> float:
        return 1.0

    def _triangular2_scale_fn(self, x: float) -> float:
        return 1 / (2.0 ** (x - 1))

    def _exp_range_scale_fn(self, x: float) -> float:
        return self.gamma**x


class LinearLR(LRScheduler):
    """From ``start_factor * learning_rate`` linearly to ``end_factor * learning_rate``.

    The factor moves over ``total_steps`` steps and stays at ``end_factor`` after them:
    ``learning_rate * (start + (end - start) * min(step, total_steps) / total_steps)``, the
    closed form of Paddle's (and torch's) recursive rule.

    Examples:
        >>> s = LinearLR(1.0, total_steps=4, start_factor=0.2)
        >>> [round(s.step(i) or s(), 4) for i in range(6)]
        [0.2, 0.4, 0.6, 0.8, 1.0, 1.0]
    """

    def __init__(
        self,
        learning_rate: float,
        total_steps: int,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        self.start_factor = _number(start_factor, "start_factor", positive=True)
        if self.start_factor > 1:
            raise ValueError(f"start_factor must be in (0, 1], got {start_factor!r}")
        self.end_factor = _number(end_factor, "end_factor", minimum=0.0)
        if self.end_factor > 1:
            raise ValueError(f"end_factor must be in [0, 1], got {end_factor!r}")
        self.total_steps = _positive_int(total_steps, "total_steps")
        super().__init__(learning_rate, last_epoch, verbose)

    def get_lr(self) -> float:
        done = min(self.last_epoch, self.total_steps) / self.total_steps
        return self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * done)


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing with warm restarts (SGDR, Loshchilov and Hutter 2017).

    ``eta_min + (learning_rate - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2`` where ``T_cur``
    counts the steps since the last restart and ``T_i`` is the current period: ``T_0``, then
    ``T_0 * T_mult``, ``T_0 * T_mult^2``... As Paddle's (and torch's), ``step(epoch)`` also
    takes a fractional epoch (e.g. ``epoch + batch / batches``); ``last_epoch`` is its floor.

    Args:
        learning_rate: the rate at each restart.
        T_0: the first period.
        T_mult: the growth factor of the period (an int >= 1).
        eta_min: the lowest rate.

    Examples:
        >>> s = CosineAnnealingWarmRestarts(1.0, T_0=2, T_mult=2)
        >>> [round(s.step(i) or s(), 4) for i in range(7)]
        [1.0, 0.5, 1.0, 0.8536, 0.5, 0.1464, 1.0]
    """

    def __init__(
        self,
        learning_rate: float,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0,
        last_epoch: int = -1,
        verbose: bool = False,
    ) -> None:
        self.T_0 = _positive_int(T_0, "T_0")
        if isinstance(T_mult, bool) or not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"T_mult must be an int >= 1, got {T_mult!r}")
        self.T_mult = T_mult
        self.eta_min = _number(eta_min, "eta_min", minimum=0.0)
        self.T_i, self.T_cur = self.T_0, last_epoch
        self._position: float = last_epoch
        super().__init__(learning_rate, last_epoch, verbose)

    def step(self, epoch: float | None = None) -> None:
        """Advance by one step (or go to ``epoch``, which may be fractional).

        Raises:
            ValueError: a negative or non-numeric ``epoch``.
        """
        if epoch is None:
            position: float = 0 if self.last_epoch < 0 else self._position + 1
        else:
            position = _number(epoch, "epoch", minimum=0.0)
            position = int(position) if position == int(position) else position
        previous, self._position = self._position, position
        try:
            super().step(math.floor(position))
        except Exception:
            self._position = previous
            raise

    def get_lr(self) -> float:
        position, period, start = self._position, self.T_0, 0
        if position >= self.T_0 and self.T_mult == 1:
            self.T_i, self.T_cur = period, position % period
        else:
            while position >= start + period:
                start, period = start + period, period * self.T_mult
            self.T_i, self.T_cur = period, position - start
        cosine = (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
        return self.eta_min + (self.base_lr - self.eta_min) * cosine

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "position": self._position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._position = state.get("position", state.get("last_epoch", 0))
        super().load_state_dict(state)

    set_state_dict = load_state_dict
    set_dict = load_state_dict


class ReduceOnPlateau(LRScheduler):
    """Reduce the rate when a metric stops improving (``paddle.optimizer.lr.ReduceOnPlateau``).

    Stepped with the metric: ``schedule.step(metrics)`` (typically once per epoch, with the
    evaluation loss). After more than ``patience`` steps without an improvement (``'rel'``:
    better than ``best * (1 -+ threshold)``, ``'abs'``: than ``best -+ threshold``) the rate
    becomes ``max(rate * factor, min_lr)`` (unless that changes it by ``epsilon`` or less),
    then ``cooldown`` steps pass before counting again. Unlike the other schedules its state
    is what it has seen (``best``, ``num_bad_epochs``, ``cooldown_counter``, the rate).

    Under ``resvision.Model.fit``, the ``LRScheduler`` callback (which ``fit`` adds) steps it
    once per epoch with the epoch's ``eval_loss`` (the training ``loss`` when the epoch had no
    evaluation), whatever its ``by_step`` / ``by_epoch``.

    Args:
        learning_rate: the initial rate.
        mode: ``'min'`` (lower is better) or ``'max'``.
        factor: the multiplier of a reduction, < 1.
        patience: steps without improvement tolerated before a reduction.
        threshold: the smallest improvement that counts (see ``threshold_mode``).
        threshold_mode: ``'rel'`` or ``'abs'``.
        cooldown: steps after a reduction during which nothing is counted.
        min_lr: the lowest rate.
        epsilon: a reduction smaller than this is skipped.
        verbose: print each reduction.

    Examples:
        >>> s = ReduceOnPlateau(1.0, patience=1, factor=0.5)
        >>> for loss in (3.0, 2.0, 2.0, 2.0, 2.0):
        ...     s.step(loss)
        >>> s(), s.num_bad_epochs, s.best
        (0.5, 1, 2.0)
    """

    def __init__(
        self,
        learning_rate: float,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0,
        epsilon: float = 1e-8,
        verbose: bool = False,
    ) -> None:
        mode, threshold_mode = str(mode).lower(), str(threshold_mode).lower()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.factor = _number(factor, "factor", positive=True)
        if self.factor >= 1.0:
            raise ValueError(f"factor must be < 1 (new rate = rate * factor), got {factor!r}")
        for what, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{what} must be an int >= 0, got {value!r}")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.patience, self.cooldown = patience, cooldown
        self.threshold = _number(threshold, "threshold", minimum=0.0)
        self.min_lr = _number(min_lr, "min_lr", minimum=0.0)
        self.epsilon = _number(epsilon, "epsilon", minimum=0.0)
        self.cooldown_counter, self.num_bad_epochs = 0, 0
        self.best: float | None = None
        # As Paddle: no first step at construction (there is no metric yet).
        self.base_lr = self.last_lr = _number(learning_rate, "learning_rate", minimum=0.0)
        self.last_epoch, self.verbose = 0, verbose
        self._optimizers: list[Any] = []

    def get_lr(self) -> float:
        """The current rate (it changes only in :meth:`step`)."""
        return self.last_lr

    def step(self, metrics: Any = None, epoch: int | None = None) -> None:  # type: ignore[override]
        """Count ``metrics`` (a number, or a one-element tensor or array) and maybe reduce.

        Raises:
            TypeError: without a metric, or with one that is not a single number.
        """
        value = _metric_value(metrics)
        if epoch is None:
            self.last_epoch += 1
        elif isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
        else:
            self.last_epoch = epoch
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            return
        if self.best is None or self._is_better(value, self.best):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.num_bad_epochs > self.patience:
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
            new_lr = max(self.last_lr * self.factor, self.min_lr)
            if self.last_lr - new_lr > self.epsilon:
                self.last_lr = new_lr
                self._apply()
                if self.verbose:
                    print(
                        f"Epoch {self.last_epoch}: {type(self).__name__} set learning rate to "
                        f"{self.last_lr}."
                    )

    def _is_better(self, current: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return current < best - best * self.threshold
        if self.mode == "min":
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best + best * self.threshold
        return current > best + self.threshold

    def state_dict(self) -> dict[str, Any]:
        """Paddle's keys (``cooldown_counter``, ``best``, ``num_bad_epochs``, ``last_epoch``,
        ``last_lr``) plus ``type``."""
        return {
            "type": type(self).__name__,
            "cooldown_counter": self.cooldown_counter,
            "best": self.best,
            "num_bad_epochs": self.num_bad_epochs,
            "last_epoch": self.last_epoch,
            "last_lr": self.last_lr,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (a Paddle ``ReduceOnPlateau`` state works too).

        Raises:
            ValueError: when the state belongs to another kind of schedule.
            KeyError: when a key is missing.
        """
        kind = state.get("type", type(self).__name__)
        if kind != type(self).__name__:
            raise ValueError(f"cannot load a {kind} state into {type(self).__name__}")
        keys = ("cooldown_counter", "best", "num_bad_epochs", "last_epoch", "last_lr")
        missing = [k for k in keys if k not in state]
        if missing:
            raise KeyError(f"{type(self).__name__} state lacks {missing}, has {sorted(state)}")
        self.cooldown_counter = int(state["cooldown_counter"])
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.best = None if state["best"] is None else _metric_value(state["best"])
        self.last_epoch = int(state["last_epoch"])
        self.last_lr = float(state["last_lr"])
        self._apply()

    set_state_dict = load_state_dict
    set_dict = load_state_dict


def _metric_value(metrics: Any) -> float:
    """A metric given to ``ReduceOnPlateau.step`` as a float (one-element tensors too)."""
    if metrics is None:
        raise TypeError(
            "ReduceOnPlateau.step needs the metric to watch, e.g. schedule.step(eval_loss)"
        )
    if hasattr(metrics, "numel") and hasattr(metrics, "item"):  # a tensor of any framework
        if metrics.numel() != 1:
            raise TypeError(
                f"ReduceOnPlateau metrics must hold one value, got shape {list(metrics.shape)}: "
                "reduce it first (e.g. .mean())"
            )
        return float(metrics.item())
    if isinstance(metrics, np.ndarray):
        if metrics.size != 1:
            raise TypeError(
                f"ReduceOnPlateau metrics must hold one value, got shape {list(metrics.shape)}"
            )
        return float(metrics.reshape(-1)[0])
    if isinstance(metrics, (int, float, np.integer, np.floating)) and not isinstance(metrics, bool):
        return float(metrics)
    raise TypeError(
        f"ReduceOnPlateau metrics must be a number, a tensor or an array, got "
        f"{type(metrics).__name__}"
    )
