"""Pretrained weights: sources, formats, key layouts of other ecosystems, and the cache.

The one entry point is :func:`load_pretrained`, which every model constructor calls with its
``pretrained`` argument::

    >>> from resvision.models import resnet20
    >>> net = resnet20(pretrained=False)            # random initialisation

    resnet50(pretrained=True)                       # torchvision's IMAGENET1K_V2, downloaded once
    resnet50(pretrained='IMAGENET1K_V1')            # another registered entry
    resnet50(pretrained='PADDLE_IMAGENET1K')        # paddle.vision's .pdparams, converted
    resnet50(pretrained='resnet50-0676ba61.pth')    # a local torchvision file
    resnet50(pretrained='runs/x/checkpoints/best.pt', num_classes=2)   # fine-tune: new head

Helpers: :func:`list_weights` / :func:`get_weights` (the registered entries, as data),
:func:`download_weights` (cache with hash check), :func:`read_weights_file` /
:func:`save_weights` (safe reading by content, writing by suffix) and
:func:`convert_state_dict` (resvision <-> torchvision / Paddle layouts).
"""

from . import zoo as _zoo  # noqa: F401  (registers the published entries)
from .convert import SOURCE_FORMATS, TARGET_FORMATS, convert_state_dict, detect_source_format
from .entries import (
    Preprocessing,
    UnknownWeightsError,
    WeightsEntry,
    get_weights,
    list_weights,
    register_weights,
)
from .formats import UnsafeWeightsError, WeightsFile, read_weights_file, save_weights
from .hub import WeightsDownloadError, WeightsHashMismatchError, download_weights, weights_cache_dir
from .imagenet import IMAGENET_CATEGORIES
from .loading import (
    PretrainedHeadSkippedWarning,
    PretrainedLayoutWarning,
    PretrainedWeightsError,
    create_model_from_weights,
    load_pretrained,
    read_state_dict,
)

__all__ = [
    "IMAGENET_CATEGORIES",
    "SOURCE_FORMATS",
    "TARGET_FORMATS",
    "Preprocessing",
    "PretrainedHeadSkippedWarning",
    "PretrainedLayoutWarning",
    "PretrainedWeightsError",
    "UnknownWeightsError",
    "UnsafeWeightsError",
    "WeightsDownloadError",
    "WeightsEntry",
    "WeightsFile",
    "WeightsHashMismatchError",
    "convert_state_dict",
    "create_model_from_weights",
    "detect_source_format",
    "download_weights",
    "get_weights",
    "list_weights",
    "load_pretrained",
    "read_state_dict",
    "read_weights_file",
    "register_weights",
    "save_weights",
    "weights_cache_dir",
]
