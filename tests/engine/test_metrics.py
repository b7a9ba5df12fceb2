"""Metrics against hand-computed values, exact counts, state round trips and merging."""

import sys

import numpy as np
import pytest
import torch

from resvision.metrics import Accuracy, ConfusionMatrix, Metric, Precision, Recall

# 5 samples, 4 classes. Rank of the label among the scores (1 = best):
# sample 0: label 2, scores order [2, ...]       -> rank 1
# sample 1: label 0, order [3, 0, ...]           -> rank 2
# sample 2: label 1, order [2, 3, 0, 1]          -> rank 4
# sample 3: label 3, order [1, 2, 3, 0]          -> rank 3
# sample 4: label 1, order [1, ...]              -> rank 1
PRED = torch.tensor(
    [
        [0.1, 0.2, 0.6, 0.1],
        [0.3, 0.1, 0.2, 0.4],
        [0.2, 0.1, 0.4, 0.3],
        [0.1, 0.5, 0.3, 0.2],
        [0.1, 0.7, 0.1, 0.1],
    ]
)
LABEL = torch.tensor([2, 0, 1, 3, 1])


def run(metric, pred, label):
    return metric.update(*_as_args(metric.compute(pred, label)))


def _as_args(computed):
    return computed if isinstance(computed, (list, tuple)) else [computed]


def test_accuracy_topk_by_hand():
    m = Accuracy(topk=(1, 2, 3))
    assert m.name() == ["acc_top1", "acc_top2", "acc_top3"]
    assert run(m, PRED, LABEL) == [2 / 5, 3 / 5, 4 / 5]
    assert m.accumulate() == [2 / 5, 3 / 5, 4 / 5]


def test_accuracy_names_follow_paddle():
    assert Accuracy().name() == ["acc"]
    assert Accuracy(topk=(5,)).name() == ["acc_top5"]
    assert Accuracy(topk=(1, 5), name="a").name() == ["a_top1", "a_top5"]
    assert Accuracy(topk=3).name() == ["acc_top3"]


def test_accuracy_label_shapes_and_soft_labels():
    for label in (
        LABEL,
        LABEL[:, None],
        torch.nn.functional.one_hot(LABEL, 4).float(),
        LABEL.numpy(),
    ):
        m = Accuracy()
        assert run(m, PRED, label) == pytest.approx(2 / 5)


def test_accuracy_counts_partial_last_batch_exactly():
    m = Accuracy(topk=(1, 2))
    run(m, PRED[:4], LABEL[:4])  # batch of 4: top1 1/4, top2 2/4
    run(m, PRED[4:], LABEL[4:])  # partial batch of 1: hit
    assert m.accumulate() == [2 / 5, 3 / 5]  # not the mean of batch means (0.625, 0.75)
    assert int(m.count) == 5


def test_accuracy_topk_larger_than_classes_counts_all():
    m = Accuracy(topk=(1, 10))
    assert run(m, PRED, LABEL) == [2 / 5, 1.0]


def test_accuracy_update_accepts_paddle_style_numpy_float_matrix():
    m = Accuracy(topk=(1, 2))
    correct = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    assert m.update(correct) == [1 / 3, 2 / 3]


def test_accuracy_update_state_matches_update_and_reset():
    a, b = Accuracy(topk=(1, 2)), Accuracy(topk=(1, 2))
    a.update(a.compute(PRED, LABEL))
    assert b.update_state(b.compute(PRED, LABEL)) is None
    assert a.accumulate() == b.accumulate()
    b.reset()
    assert b.accumulate() == [0.0, 0.0]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"topk": 0}, ValueError), ({"topk": (1, -2)}, ValueError), ({"topk": ()}, ValueError)],
)
def test_accuracy_bad_arguments(kwargs, error):
    with pytest.raises(error, match="topk"):
        Accuracy(**kwargs)


def test_accuracy_bad_shapes_name_the_shapes():
    m = Accuracy()
    with pytest.raises(ValueError, match=r"\[N, num_classes\]"):
        m.compute(torch.zeros(5), LABEL)
    with pytest.raises(ValueError, match=r"\[5\]"):
        m.compute(PRED, LABEL[:3])


def test_precision_recall_binary_paddle_examples():
    p = Precision()
    assert p.name() == ["precision"]
    assert p.update(np.array([0.1, 0.5, 0.6, 0.7]), np.array([0, 1, 1, 1])) == 1.0
    r = Recall()
    assert r.update(np.array([0.1, 0.5, 0.6, 0.7]), np.array([1, 0, 1, 1])) == pytest.approx(2 / 3)


def test_precision_recall_binary_accumulate_over_batches():
    # batch 1: preds+ at 0,1; labels+ at 0,2 -> tp 1, fp 1, fn 1
    # batch 2: preds+ at 0;   labels+ at 0,1 -> tp 1, fp 0, fn 1
    p, r = Precision(), Recall()
    for metric in (p, r):
        metric.update(torch.tensor([[0.9], [0.8], [0.1]]), torch.tensor([[1], [0], [1]]))
        metric.update(torch.tensor([0.7, 0.2]), torch.tensor([1, 1]))
    assert p.accumulate() == pytest.approx(2 / 3)
    assert r.accumulate() == pytest.approx(2 / 4)


def test_precision_recall_empty_is_zero():
    assert Precision().accumulate() == 0.0
    assert Recall().accumulate() == 0.0


def test_binary_mode_rejects_class_scores():
    with pytest.raises(ValueError, match="num_classes"):
        Precision().update(torch.rand(4, 3), torch.tensor([0, 1, 2, 0]))


def test_macro_precision_recall_by_hand():
    # predicted argmax: [2, 3, 2, 1, 1]; labels [2, 0, 1, 3, 1]
    # class 0: tp 0, predicted 0, support 1 -> P 0 (undefined -> 0), R 0
    # class 1: tp 1, predicted 2, support 2 -> P 1/2, R 1/2
    # class 2: tp 1, predicted 2, support 1 -> P 1/2, R 1
    # class 3: tp 0, predicted 1, support 1 -> P 0, R 0
    p, r = Precision(num_classes=4), Recall(num_classes=4)
    assert run(p, PRED, LABEL) == pytest.approx((0 + 0.5 + 0.5 + 0) / 4)
    assert run(r, PRED, LABEL) == pytest.approx((0 + 0.5 + 1 + 0) / 4)
    assert p.per_class() == [0.0, 0.5, 0.5, 0.0]
    assert r.per_class() == [0.0, 0.5, 1.0, 0.0]


def test_macro_average_skips_classes_absent_everywhere():
    p = Precision(num_classes=5)  # class 4 never appears
    assert run(p, torch.nn.functional.pad(PRED, (0, 1)), LABEL) == pytest.approx(1 / 4)
    assert p.per_class()[4] is None


def test_confusion_matrix_by_hand():
    m = ConfusionMatrix(4)
    assert run(m, PRED[:3], LABEL[:3]) == pytest.approx(1 / 3)
    run(m, PRED[3:], LABEL[3:])
    expected = torch.zeros(4, 4, dtype=torch.int64)
    for t, p in zip([2, 0, 1, 3, 1], [2, 3, 2, 1, 1]):
        expected[t, p] += 1
    assert torch.equal(m.matrix(), expected)
    assert m.per_class_accuracy() == [0.0, 0.5, 1.0, 0.0]
    assert m.accumulate() == pytest.approx(1.5 / 4)
    text = m.table(["a", "b", "c", "d"])
    assert len(text.splitlines()) == 5 and "0.500" in text


def test_confusion_matrix_class_without_samples_is_nan_and_skipped():
    m = ConfusionMatrix(3)
    m.update(torch.tensor([0, 1]), torch.tensor([0, 0]))
    acc = m.per_class_accuracy()
    assert acc[0] == 0.5 and acc[1] != acc[1] and acc[2] != acc[2]
    assert m.accumulate() == 0.5


def test_confusion_matrix_rejects_out_of_range_labels():
    m = ConfusionMatrix(3)
    with pytest.raises(ValueError, match=r"\[3\].*outside"):
        m.update(torch.tensor([0, 1]), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=">= 2"):
        ConfusionMatrix(1)


@pytest.mark.parametrize(
    "make",
    [lambda: Accuracy(topk=(1, 2)), lambda: ConfusionMatrix(4), lambda: Recall(num_classes=4)],
)
def test_state_dict_round_trip_and_merge(make):
    whole, first, second = make(), make(), make()
    run(whole, PRED, LABEL)
    run(first, PRED[:2], LABEL[:2])
    run(second, PRED[2:], LABEL[2:])
    # resume: a fresh metric loading `first`'s state, then seeing the rest
    resumed = make()
    resumed.load_state_dict(first.state_dict())
    run(resumed, PRED[2:], LABEL[2:])
    assert resumed.accumulate() == whole.accumulate()
    # merge: what an all-reduce over two ranks computes
    first.merge(second)
    assert first.accumulate() == whole.accumulate()


def test_load_state_dict_rejects_wrong_keys_and_shapes():
    m = Accuracy(topk=(1, 2))
    with pytest.raises(KeyError, match="expected"):
        m.load_state_dict({"correct": torch.zeros(2, dtype=torch.int64)})
    with pytest.raises(ValueError, match="shape"):
        m.load_state_dict({"correct": torch.zeros(3, dtype=torch.int64), "count": torch.tensor(0)})
    with pytest.raises(TypeError, match="merge"):
        m.merge(ConfusionMatrix(3))


def test_all_reduce_without_distributed_is_a_no_op():
    m = Accuracy()
    run(m, PRED, LABEL)
    m.all_reduce()
    assert m.accumulate() == pytest.approx(2 / 5)


def test_paddle_style_subclass_without_super_init():
    class Mean(Metric):
        def __init__(self):  # Paddle's own metrics do not call super().__init__()
            self.total, self.n = 0.0, 0

        def name(self):
            return ["mean"]

        def update(self, value):
            self.total, self.n = self.total + float(value.sum()), self.n + value.numel()
            return float(value.mean())

        def accumulate(self):
            return self.total / self.n

        def reset(self):
            self.total, self.n = 0.0, 0

    m = Mean()
    m.update(torch.tensor([1.0, 3.0]))
    m.update_state(torch.tensor([5.0]))
    assert m.accumulate() == 3.0 and m.state_dict() == {}
    assert m.compute(1, 2) == (1, 2)


_ALL_REDUCE_SCRIPT = """
import sys, torch, torch.distributed as dist
from resvision.metrics import Accuracy, ConfusionMatrix
rank, path = int(sys.argv[1]), sys.argv[2]
dist.init_process_group("gloo", init_method="file://" + path, rank=rank, world_size=2)
pred = torch.tensor({pred})
label = torch.tensor({label})
shard = slice(0, 3) if rank == 0 else slice(3, None)  # unequal shards, no padding
acc, cm = Accuracy(topk=(1, 2)), ConfusionMatrix(4)
acc.update(acc.compute(pred[shard], label[shard]))
cm.update(*cm.compute(pred[shard], label[shard]))
for m in (acc, cm):
    m.all_reduce()
print(acc.accumulate(), cm.matrix().tolist(), flush=True)
dist.destroy_process_group()
"""


def test_all_reduce_over_two_processes_counts_every_sample_once(tmp_path):
    import subprocess

    script = _ALL_REDUCE_SCRIPT.format(pred=PRED.tolist(), label=LABEL.tolist())
    store = tmp_path / "store"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(rank), str(store)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outputs]
    whole_acc, whole_cm = Accuracy(topk=(1, 2)), ConfusionMatrix(4)
    run(whole_acc, PRED, LABEL)
    run(whole_cm, PRED, LABEL)
    expected = f"{whole_acc.accumulate()} {whole_cm.matrix().tolist()}"
    assert [out.strip() for out, _ in outputs] == [expected, expected]
