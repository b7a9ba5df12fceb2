"""Public datasets (re-exported from :mod:`resvision.data.datasets`).

>>> from resvision.datasets import Cifar10Sample
>>> len(Cifar10Sample(mode="test"))
1000
"""

from resvision.data.datasets import *  # noqa: F403
from resvision.data.datasets import __all__  # noqa: F401
