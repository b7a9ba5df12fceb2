"""Training callbacks (``paddle.callbacks``): hooks called by ``Model.fit`` / ``evaluate``.

Public as :mod:`resvision.callbacks`.
"""

from .base import Callback, CallbackList
from .checkpointing import EarlyStopping, ModelCheckpoint
from .defaults import config_callbacks
from .ema import EMA
from .finetune import FreezeBackbone
from .loggers import JSONLLogger, TensorBoard
from .lr import LRScheduler, ReduceLROnPlateau
from .progbar import ProgBarLogger

__all__ = [
    "EMA",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "FreezeBackbone",
    "JSONLLogger",
    "LRScheduler",
    "ModelCheckpoint",
    "ProgBarLogger",
    "ReduceLROnPlateau",
    "TensorBoard",
    "config_callbacks",
]
