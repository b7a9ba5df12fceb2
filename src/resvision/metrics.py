"""Evaluation metrics with Paddle's protocol (``paddle.metric``).

>>> import torch
>>> from resvision.metrics import Accuracy
>>> m = Accuracy(topk=(1, 5))
>>> m.name()
['acc_top1', 'acc_top5']
>>> logits, labels = torch.eye(10), torch.arange(10)
>>> m.update(m.compute(logits, labels))
[1.0, 1.0]
"""

from resvision.engine.metrics import Accuracy, ConfusionMatrix, Metric, Precision, Recall

__all__ = ["Accuracy", "ConfusionMatrix", "Metric", "Precision", "Recall"]
