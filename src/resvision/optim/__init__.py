"""Optimizers and learning-rate schedules with Paddle's names (``paddle.optimizer``).

>>> import torch
>>> from resvision.optim import Momentum, L2Decay, lr
>>> net = torch.nn.Linear(4, 2)
>>> schedule = lr.LinearWarmup(lr.CosineAnnealingDecay(0.1, T_max=100), warmup_steps=5,
...                            start_lr=0.0, end_lr=0.1)
>>> opt = Momentum(learning_rate=schedule, momentum=0.9, weight_decay=L2Decay(1e-4),
...                parameters=net.parameters())
>>> isinstance(opt, torch.optim.SGD), opt.get_lr()
(True, 0.0)

The optimizers are ``torch.optim`` optimizers; any torch optimizer works with
``resvision.Model`` too. All 15 of ``paddle.optimizer`` are here with Paddle's arguments:
the base :class:`Optimizer` (a ``torch.optim.Optimizer`` that all the others derive from),
``SGD``, ``Momentum``, ``Adam``, ``AdamW`` (:mod:`~resvision.optim.optimizers`), ``Adagrad``,
``Adadelta``, ``RMSProp``, ``Adamax``, ``RAdam``, ``NAdam`` (:mod:`~resvision.optim.adaptive`),
``Lamb`` (:mod:`~resvision.optim.lamb`), ``ASGD``, ``Rprop``, ``LBFGS``
(:mod:`~resvision.optim.classic`), plus ``Muon``; and the 17 schedules of
``paddle.optimizer.lr`` in :mod:`~resvision.optim.lr`. :func:`weight_decay_groups` gives
normalisation parameters and biases their own decay (torchvision's ``norm_weight_decay``).
"""

from resvision.optim.adaptive import Adadelta, Adagrad, Adamax, NAdam, RAdam, RMSProp
from resvision.optim.classic import ASGD, LBFGS, Rprop
from resvision.optim.lamb import Lamb
from resvision.optim.muon import Muon, muon_param_groups, orthogonalize
from resvision.optim.optimizers import (
    SGD,
    Adam,
    AdamW,
    ClipGradByGlobalNorm,
    ClipGradByNorm,
    ClipGradByValue,
    L1Decay,
    L2Decay,
    Momentum,
    Optimizer,
)
from resvision.optim.param_groups import weight_decay_groups

from . import lr

__all__ = [
    "ASGD",
    "LBFGS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "ClipGradByGlobalNorm",
    "ClipGradByNorm",
    "ClipGradByValue",
    "L1Decay",
    "L2Decay",
    "Lamb",
    "Momentum",
    "Muon",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSProp",
    "Rprop",
    "lr",
    "muon_param_groups",
    "orthogonalize",
    "weight_decay_groups",
]
