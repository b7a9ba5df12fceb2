"""Learning-rate schedules with Paddle's names and arguments (``paddle.optimizer.lr``).

>>> from resvision.optim.lr import StepDecay
>>> s = StepDecay(0.1, step_size=30)
>>> s(), s.step(30), round(s(), 6)
(0.1, None, 0.01)

A schedule is a function of its step counter
``last_epoch``: ``step()`` advances it, ``schedule()`` returns the current rate, and
``state_dict()`` holds the counter for resume.

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

__all__ = [
    "CosineAnnealingDecay",
    "ExponentialDecay",
    "LRScheduler",
    "LambdaDecay",
    "LinearWarmup",
    "MultiStepDecay",
    "OneCycleLR",
    "PiecewiseDecay",
    "PolynomialDecay",
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
        eta_min: float = 0.0,
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
