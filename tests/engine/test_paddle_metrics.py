"""``Auc`` and ``accuracy()`` as ``paddle.metric`` has them, against numbers from real Paddle.

The reference values were recorded once with paddlepaddle 3.3.1 on the inputs below
(``paddle.metric.Auc`` updated with the same batches, ``paddle.metric.accuracy`` on the same
scores); Paddle's signatures are hard-coded from ``inspect.signature`` on the same version.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.distributed as dist

from resvision.engine.loops import metric_values
from resvision.metrics import Auc, accuracy

REQUIRED = "REQUIRED"


def signature(obj):
    out = []
    for p in inspect.signature(obj).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            out.append(("*" if p.kind == p.VAR_POSITIONAL else "**") + p.name)
        elif p.name != "self":
            out.append((p.name, REQUIRED if p.default is p.empty else p.default))
    return out


def test_signatures_are_paddles():
    assert signature(Auc) == [
        ("curve", "ROC"), ("num_thresholds", 4095), ("name", "auc"), "*args", "**kwargs",
    ]  # fmt: skip
    assert signature(accuracy) == [
        ("input", REQUIRED), ("label", REQUIRED), ("k", 1), ("correct", None), ("total", None),
        ("name", None),
    ]  # fmt: skip


# -- Auc ------------------------------------------------------------------------------------
P1 = np.array(
    [0.0, 0.1, 0.35, 0.4, 0.4, 0.5, 0.62, 0.7, 0.8, 0.95, 1.0, 0.33, 0.123456, 0.999], np.float32
)
LABELS = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 1])
PREDS = np.stack([1 - P1, P1], axis=1)  # Paddle's form: [N, 2] class probabilities

# paddle.metric.Auc(num_thresholds=n), updated with PREDS[:6] then PREDS[6:] (labels [N, 1])
PADDLE_ROC = {4095: 0.90625, 10: 0.8958333333333334, 3: 0.9375, 1: 0.5625}
PADDLE_STATS = {  # (_stat_pos, _stat_neg) for the small n
    10: ([0, 0, 0, 1, 1, 1, 0, 1, 1, 2, 1], [1, 2, 0, 1, 1, 0, 1, 0, 0, 0, 0]),
    3: ([0, 3, 4, 1], [4, 2, 0, 0]),
    1: ([7, 1], [6, 0]),
}
PADDLE_4095_BUCKETS = (
    [1433, 1638, 2047, 2866, 3276, 3890, 4090, 4095],  # where the positives fall
    [0, 409, 505, 1351, 1638, 2538],  # the negatives
)


@pytest.mark.parametrize("num_thresholds", sorted(PADDLE_ROC))
def test_roc_equals_paddle_exactly(num_thresholds):
    m = Auc(num_thresholds=num_thresholds)
    m.update(PREDS[:6], LABELS[:6, None])
    m.update(PREDS[6:], LABELS[6:, None])
    assert m.accumulate() == PADDLE_ROC[num_thresholds]
    if num_thresholds in PADDLE_STATS:
        assert (m.stat_pos.tolist(), m.stat_neg.tolist()) == PADDLE_STATS[num_thresholds]
    else:
        assert (
            torch.nonzero(m.stat_pos).flatten().tolist(),
            torch.nonzero(m.stat_neg).flatten().tolist(),
        ) == PADDLE_4095_BUCKETS


def test_roc_equals_paddle_on_tensors_and_a_random_batch():
    m = Auc()
    m.update(torch.tensor(PREDS, dtype=torch.float64), torch.tensor(LABELS))  # labels [N]
    assert m.accumulate() == 0.90625
    rng = np.random.RandomState(0)
    p = rng.rand(200).astype(np.float32)
    labels = (rng.rand(200) < p).astype(np.int64)
    m = Auc()
    m.update(np.stack([1 - p, p], 1), labels[:, None])
    assert m.accumulate() == 0.8427840224809314
    m.reset()
    assert m.accumulate() == 0.0 and m.name() == ["auc"]  # no positives and negatives yet
    m.update(P1[:, None], LABELS[:, None])  # [N, 1] positive-class probabilities
    assert m.accumulate() == 0.90625


def average_precision(scores, labels):
    """Average precision over distinct scores (scikit-learn's definition), by sorting."""
    order = np.argsort(-scores, kind="stable")
    hits = labels[order] == 1
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision_at[hits].sum() / hits.sum())


def test_pr_is_the_average_precision_of_the_buckets():
    # Paddle 3.3 returns the ROC area for curve='PR' (0.8958333333333334 on PREDS with 10
    # thresholds); resvision returns the precision-recall area.
    rng = np.random.RandomState(1)
    p = (rng.permutation(300) + 0.5) / 300  # distinct scores, each in a bucket of its own
    labels = (rng.rand(300) < p).astype(np.int64)
    m = Auc(curve="PR", num_thresholds=300)
    m.update(p, labels)
    assert m.accumulate() == pytest.approx(average_precision(p, labels), rel=1e-12)
    # buckets tie their scores: 0.8 alone, then 0.4 (negative), 0.35 (positive), 0.1
    m = Auc(curve="PR", num_thresholds=10)
    m.update(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    assert m.accumulate() == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    m = Auc(curve="PR", num_thresholds=1)  # everything in one bucket: the positive rate
    m.update(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    assert m.accumulate() == 0.5
    assert Auc(curve="PR").accumulate() == 0.0


def test_auc_follows_the_metric_protocol():
    whole = Auc(num_thresholds=50)
    value = whole.update(PREDS, LABELS)
    assert value == whole.accumulate()  # update returns the batch's area
    first, second = Auc(num_thresholds=50), Auc(num_thresholds=50)
    first.update_state(PREDS[:5], LABELS[:5])
    second.update(PREDS[5:], LABELS[5:])
    first.merge(second)
    assert first.accumulate() == whole.accumulate()
    state = first.state_dict()
    assert sorted(state) == ["stat_neg", "stat_pos"] and state["stat_pos"].dtype == torch.int64
    restored = Auc(num_thresholds=50)
    restored.load_state_dict(state)
    assert restored.accumulate() == whole.accumulate()
    assert metric_values([restored, Auc(curve="PR", name="ap")]) == {
        "auc": whole.accumulate(),
        "ap": 0.0,
    }
    with pytest.raises(ValueError, match="shape"):
        restored.load_state_dict({"stat_pos": torch.zeros(3), "stat_neg": torch.zeros(3)})


def test_auc_all_reduce_sums_the_buckets(monkeypatch):
    """Two processes that saw the same batch: every bucket doubles, the area stays."""
    m = Auc(num_thresholds=10)
    m.update(PREDS, LABELS)
    monkeypatch.setattr(dist, "is_available", lambda: True)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda group=None: 2)
    monkeypatch.setattr(dist, "get_backend", lambda group=None: "gloo")
    monkeypatch.setattr("resvision.metrics.base.communication_device", lambda: torch.device("cpu"))
    monkeypatch.setattr(dist, "all_reduce", lambda t, op=None, group=None: t.mul_(2))
    m.all_reduce()
    assert m.stat_pos.tolist() == [2 * c for c in PADDLE_STATS[10][0]]
    assert m.accumulate() == PADDLE_ROC[10]


@pytest.mark.parametrize(
    ("preds", "labels", "match"),
    [
        (np.array([[0.2, 1.7], [0.1, 0.9]]), np.array([0, 1]), "softmax"),  # logits
        (np.array([-0.1, 0.5]), np.array([0, 1]), r"\[0, 1\]"),
        (np.array([np.nan, 0.5]), np.array([0, 1]), "probabilities"),
        (np.ones((2, 3)) / 3, np.array([0, 1]), r"\[N, 2\]"),
        (np.array([0.2, 0.5]), np.array([0, 1, 1]), "labels"),
    ],
)
def test_auc_refuses_what_is_not_probabilities(preds, labels, match):
    with pytest.raises(ValueError, match=match):
        Auc().update(preds, labels)


def test_auc_bad_arguments_are_named():
    with pytest.raises(ValueError, match="curve"):
        Auc(curve="roc")
    with pytest.raises(ValueError, match="num_thresholds"):
        Auc(num_thresholds=0)
    with pytest.raises(TypeError, match="extra"):
        Auc("ROC", 10, "auc", 3)


# -- accuracy() -----------------------------------------------------------------------------
SCORES = torch.tensor(
    [
        [0.2, 0.1, 0.4, 0.1, 0.1],
        [0.2, 0.3, 0.1, 0.15, 0.25],
        [0.1, 0.5, 0.2, 0.1, 0.1],
        [0.3, 0.35, 0.2, 0.1, 0.05],
    ]
)
LABEL = torch.tensor([[2], [0], [2], [1]])
PADDLE_ACCURACY = {1: 0.5, 2: 0.75, 3: 1.0}  # paddle.metric.accuracy(SCORES, LABEL, k)


@pytest.mark.parametrize("k", sorted(PADDLE_ACCURACY))
def test_accuracy_equals_paddle(k):
    acc = accuracy(SCORES, LABEL, k=k)
    assert acc.item() == PADDLE_ACCURACY[k]
    assert acc.dtype == torch.float32 and acc.shape == ()
    assert accuracy(SCORES.double(), LABEL.int().flatten(), k=k).dtype == torch.float32


def test_accuracy_writes_correct_and_total_in_place():
    # Paddle: accuracy(k=2, correct=[7], total=[9]) returns 0.75 and leaves correct=3,
    # total=4 (this batch's counts; the tensors are outputs, not accumulators).
    correct = torch.tensor([7], dtype=torch.int32)
    total = torch.tensor([9], dtype=torch.int32)
    assert accuracy(SCORES, LABEL, k=2, correct=correct, total=total).item() == 0.75
    assert correct.tolist() == [3] and total.tolist() == [4] and correct.dtype == torch.int32


def test_accuracy_ties_rank_the_lower_index_first():
    scores = torch.tensor([[0.3, 0.3, 0.1], [0.1, 0.3, 0.3]])
    assert accuracy(scores, torch.tensor([[0], [1]])).item() == 1.0
    assert accuracy(scores, torch.tensor([[1], [2]])).item() == 0.0  # Paddle: 0.0 too
    assert accuracy(scores, torch.tensor([[1], [2]]), k=2).item() == 1.0
    assert accuracy(torch.zeros(0, 3), torch.zeros(0, 1, dtype=torch.long)).item() == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k must"),
        ({"k": 6}, "k must"),
        ({"label": torch.tensor([[5], [0], [1], [2]])}, "labels must be in"),
        ({"label": torch.tensor([1, 2])}, "label must have shape"),
        ({"input": torch.ones(4)}, "input must be scores"),
    ],
)
def test_accuracy_bad_arguments_are_named(kwargs, match):
    args = {"input": SCORES, "label": LABEL, **kwargs}
    with pytest.raises(ValueError, match=match):
        accuracy(**args)
