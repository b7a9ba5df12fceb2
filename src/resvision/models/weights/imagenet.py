"""The 1000 ImageNet-1K class names, in the index order of the classifiers trained on it.

The names are the short WordNet-derived labels torchvision publishes with its ImageNet weights
(``weights.meta['categories']``); Paddle's ImageNet models use the same class order. They are
data, kept in ``resvision/assets/imagenet_classes.txt`` (one name a line), not code.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["IMAGENET_CATEGORIES"]


def _read_names() -> tuple[str, ...]:
    text = resources.files("resvision").joinpath("assets/imagenet_classes.txt").read_text("utf-8")
    names = tuple(text.strip("\n").split("\n"))
    if len(names) != 1000:  # a damaged install: say so rather than mislabel predictions
        raise RuntimeError(
            f"resvision/assets/imagenet_classes.txt holds {len(names)} names, not 1000"
        )
    return names


#: Class ``i`` of an ImageNet-1K classifier is ``IMAGENET_CATEGORIES[i]``.
IMAGENET_CATEGORIES: tuple[str, ...] = _read_names()
