"""The training engine: ``Model`` (Paddle's high-level API), its loops and checkpoints.

- :mod:`~resvision.engine.model`: the :class:`Model` facade (prepare / fit / evaluate /
  predict / save / load / summary).
- :mod:`~resvision.engine.fit`: the driver behind ``fit`` (callbacks, epochs, resume).
- :mod:`~resvision.engine.loops`: ``train_one_epoch``, ``evaluate``, ``predict`` as functions.
- :mod:`~resvision.engine.checkpoint`, :mod:`~resvision.engine.resume`: one-file checkpoints
  and exact resume.
- :mod:`~resvision.engine.device`, :mod:`~resvision.engine.amp`: device choice and mixed
  precision.
- callbacks, metrics, optimizers, schedules, EMA, losses: re-exported by
  :mod:`resvision.callbacks`, :mod:`resvision.metrics` and :mod:`resvision.optim`.
"""

from resvision.engine.checkpoint import checkpoint_path, find_latest_checkpoint, load_checkpoint
from resvision.engine.device import resolve_device
from resvision.engine.loops import NonFiniteLossError
from resvision.engine.model import Model

__all__ = [
    "Model",
    "NonFiniteLossError",
    "checkpoint_path",
    "find_latest_checkpoint",
    "load_checkpoint",
    "resolve_device",
]
