"""The training engine: ``Model`` (Paddle's high-level API) and the machinery behind it.

- :mod:`~resvision.engine.model`: the :class:`Model` facade (prepare / fit / evaluate /
  predict / save / load / summary).
- :mod:`~resvision.engine.trainer`: the :class:`~resvision.engine.trainer.Trainer` that owns one
  ``fit`` run (setup, resume, epochs, evaluation, stop, save); :mod:`~resvision.engine.fit`
  holds its argument checks and loader building.
- :mod:`~resvision.engine.loops`: ``train_one_epoch``, ``evaluate``, ``predict`` as functions.
- :mod:`~resvision.engine.checkpoint`, :mod:`~resvision.engine.resume`,
  :mod:`~resvision.engine.identity`: one-file checkpoints, exact resume and the run identity.
- :mod:`~resvision.engine.autotune`, :mod:`~resvision.engine.amp`,
  :mod:`~resvision.engine.device`: the one speed policy (device, precision, channels-last,
  compile) and mixed precision.

The components a run is built from live in their public homes, below the engine:
:mod:`resvision.callbacks`, :mod:`resvision.optim` (optimizers and ``optim.lr`` schedules),
:mod:`resvision.metrics`, :mod:`resvision.losses`; :mod:`resvision.distributed` holds the
process-group helpers every layer may use.
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
