"""Paddle-style CrossEntropyLoss against hand-computed values and torch's own loss."""

import math

import pytest
import torch

from resvision.losses import CrossEntropyLoss

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
LABELS = torch.tensor([0, 2])


def test_label_smoothing_by_hand_with_paddle_label_shape():
    eps, c = 0.1, 3
    log_p = torch.log_softmax(LOGITS, dim=1)
    by_hand = 0.0
    for i, y in enumerate(LABELS.tolist()):
        by_hand += -(1 - eps) * log_p[i, y] - eps / c * log_p[i].sum()
    loss = CrossEntropyLoss(label_smoothing=eps)(LOGITS, LABELS[:, None])
    assert loss.item() == pytest.approx(by_hand.item() / 2, rel=1e-6)
    assert isinstance(CrossEntropyLoss(), torch.nn.CrossEntropyLoss)


def test_soft_labels_by_hand():
    soft = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])
    log_p = torch.log_softmax(LOGITS, dim=1)
    by_hand = -(soft * log_p).sum(dim=1).mean()
    assert CrossEntropyLoss(soft_label=True)(LOGITS, soft).item() == pytest.approx(
        by_hand.item(), rel=1e-6
    )


def test_probability_inputs_match_logits():
    probs = torch.softmax(LOGITS, dim=1)
    for kwargs in ({}, {"label_smoothing": 0.2}, {"reduction": "none"}):
        ref = torch.nn.CrossEntropyLoss(**kwargs)(LOGITS, LABELS)
        got = CrossEntropyLoss(use_softmax=False, **kwargs)(probs, LABELS)
        assert torch.allclose(got, ref, atol=1e-6)
    assert CrossEntropyLoss(use_softmax=False)(probs, LABELS).item() == pytest.approx(
        -(math.log(probs[0, 0]) + math.log(probs[1, 2])) / 2, rel=1e-6
    )


def test_class_axis_last_for_dense_outputs():
    logits = torch.randn(2, 5, 3)  # [N, H, C], Paddle's axis=-1
    labels = torch.randint(0, 3, (2, 5, 1))
    ref = torch.nn.CrossEntropyLoss()(logits.movedim(-1, 1), labels[..., 0])
    assert torch.allclose(CrossEntropyLoss(axis=-1)(logits, labels), ref)


def test_bad_labels_are_explained():
    with pytest.raises(TypeError, match="soft_label=True"):
        CrossEntropyLoss()(LOGITS, torch.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match="shape"):
        CrossEntropyLoss(soft_label=True)(LOGITS, torch.ones(2, 4))
    with pytest.raises(ValueError, match="reduction"):
        CrossEntropyLoss(reduction="avg")
