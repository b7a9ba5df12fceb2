"""resvision: image classification with deep residual networks, on PyTorch.

The public API, re-exported here (loaded on first use so that ``import resvision`` and the
command line start fast):

>>> import resvision
>>> net = resvision.models.resnet20(num_classes=10)
>>> model = resvision.Model(net)

Sub-packages follow the data flow ``cli -> engine -> components -> (models, data)``:

- :mod:`resvision.models`: networks only (no devices, no data)
- :mod:`resvision.data`: datasets, transforms and loaders (re-exported as
  :mod:`resvision.datasets` and :mod:`resvision.transforms`)
- :mod:`resvision.callbacks`, :mod:`resvision.optim`, :mod:`resvision.metrics`,
  :mod:`resvision.losses`: the components of a training run, under Paddle's names
- :mod:`resvision.engine`: the training machinery behind :class:`resvision.Model`
- :mod:`resvision.export`, :mod:`resvision.report`: ONNX/TorchScript export, run reports
- :mod:`resvision.cli`: the command line, the only code that parses arguments
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "models": ("resvision.models", None),
    "datasets": ("resvision.datasets", None),
    "transforms": ("resvision.transforms", None),
    "metrics": ("resvision.metrics", None),
    "optim": ("resvision.optim", None),
    "callbacks": ("resvision.callbacks", None),
    "losses": ("resvision.losses", None),
    "distributed": ("resvision.distributed", None),
    "data": ("resvision.data", None),
    "engine": ("resvision.engine", None),
    "Model": ("resvision.engine.model", "Model"),
    "create_model": ("resvision.models", "create_model"),
    "list_models": ("resvision.models", "list_models"),
    # Paddle's paddle.summary / paddle.flops (resvision.models.summary is the MACs table)
    "summary": ("resvision.models.summary", "paddle_summary"),
    "flops": ("resvision.models.summary", "flops"),
    "set_image_backend": ("resvision.data.backend", "set_image_backend"),
    "get_image_backend": ("resvision.data.backend", "get_image_backend"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'resvision' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
