"""Training callbacks with Paddle's names (``paddle.callbacks``): hooks called by ``Model.fit``,
``evaluate`` and ``predict``.

>>> from resvision.callbacks import Callback, EarlyStopping
>>> EarlyStopping(monitor="acc_top1", patience=3).mode
'max'

A callback sees the run through ``self.model`` (the :class:`resvision.Model`) and
``self.params`` (epochs, steps, verbosity), as in Paddle; a callback with state has
``state_dict`` / ``load_state_dict`` and its state travels in every checkpoint.
"""

from .base import Callback, CallbackList
from .checkpointing import EarlyStopping, ModelCheckpoint
from .defaults import config_callbacks
from .ema import EMA
from .finetune import FreezeBackbone
from .loggers import JSONLLogger, TensorBoard
from .lr import LRScheduler, ReduceLROnPlateau
from .progbar import ProgBarLogger
from .tracking import MLflowLogger
from .visualdl import VisualDL
from .wandb import WandbCallback

__all__ = [
    "EMA",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "FreezeBackbone",
    "JSONLLogger",
    "LRScheduler",
    "MLflowLogger",
    "ModelCheckpoint",
    "ProgBarLogger",
    "ReduceLROnPlateau",
    "TensorBoard",
    "VisualDL",
    "WandbCallback",
    "config_callbacks",
]
