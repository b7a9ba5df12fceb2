"""Data: datasets, transforms, the image backend and the loaders.

Public entry points: :mod:`resvision.datasets`, :mod:`resvision.transforms`,
:func:`resvision.data.loader.build_loader` and :func:`resvision.data.backend.set_image_backend`.
This package imports nothing from the engine or the command line.
"""

from resvision.data.backend import get_image_backend, set_image_backend

__all__ = ["get_image_backend", "set_image_backend"]
