"""Evaluation metrics with Paddle's protocol (``paddle.metric``): ``compute`` -> ``update`` ->
``accumulate``.

>>> import torch
>>> from resvision.metrics import Accuracy
>>> m = Accuracy(topk=(1, 5))
>>> m.name()
['acc_top1', 'acc_top5']
>>> logits, labels = torch.eye(10), torch.arange(10)
>>> m.update(m.compute(logits, labels))
[1.0, 1.0]

- :mod:`~resvision.metrics.base`: the :class:`Metric` protocol, its count states, merging and
  all-reduce across processes.
- :mod:`~resvision.metrics.topk`: top-k :class:`Accuracy` and the function
  :func:`accuracy`.
- :mod:`~resvision.metrics.auc`: :class:`Auc` (ROC and precision-recall areas).
- :mod:`~resvision.metrics.classification`: :class:`ConfusionMatrix`, :class:`Precision`,
  :class:`Recall`.
"""

from .auc import Auc
from .base import Metric
from .classification import ConfusionMatrix, Precision, Recall
from .topk import Accuracy, accuracy

__all__ = ["Accuracy", "Auc", "ConfusionMatrix", "Metric", "Precision", "Recall", "accuracy"]
