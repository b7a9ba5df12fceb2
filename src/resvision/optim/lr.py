"""Learning-rate schedules with Paddle's names (``paddle.optimizer.lr``).

>>> from resvision.optim.lr import StepDecay
>>> s = StepDecay(0.1, step_size=30)
>>> s(), s.step(30), round(s(), 6)
(0.1, None, 0.01)
"""

from resvision.engine.schedules import (
    CosineAnnealingDecay,
    ExponentialDecay,
    LambdaDecay,
    LinearWarmup,
    LRScheduler,
    MultiStepDecay,
    OneCycleLR,
    PiecewiseDecay,
    PolynomialDecay,
    StepDecay,
)

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
