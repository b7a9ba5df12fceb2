"""Training callbacks with Paddle's names (``paddle.callbacks``).

>>> from resvision.callbacks import Callback, EarlyStopping
>>> EarlyStopping(monitor="acc_top1", patience=3).mode
'max'
"""

from resvision.engine.callbacks import (
    EMA,
    Callback,
    CallbackList,
    EarlyStopping,
    FreezeBackbone,
    JSONLLogger,
    LRScheduler,
    ModelCheckpoint,
    ProgBarLogger,
    ReduceLROnPlateau,
    TensorBoard,
    config_callbacks,
)

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
