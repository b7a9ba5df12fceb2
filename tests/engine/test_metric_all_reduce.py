"""``Metric.all_reduce`` puts what it reduces where the process group's backend needs it.

NCCL reduces CUDA tensors only, and a metric's counts added from Python ints stay on the CPU:
``all_reduce`` must copy them to the GPU for the collective and bring the sums back. There is
no GPU here, so an NCCL group is emulated: ``torch.distributed`` reports an initialised NCCL
group of two processes, ``Tensor.to`` records the CUDA device asked for (and keeps the data
on the CPU, marked with that device), and the fake ``all_reduce`` records the device of what
it was handed and adds a second process's counts. The gloo tests run two real processes.
"""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.distributed as dist

from resvision.metrics import Accuracy, ConfusionMatrix
from resvision.metrics import base as metrics_module

PRED = torch.tensor(
    [[0.1, 0.6, 0.3], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]]
)
LABEL = torch.tensor([1, 0, 1, 1, 2])
MINE, THEIRS = slice(0, 2), slice(2, None)  # this process's shard and the other process's


def _seen(metric: Any, shard: slice) -> Any:
    metric.update(metric.compute(PRED[shard], LABEL[shard]))
    return metric


def _seen_cm(shard: slice) -> ConfusionMatrix:
    cm = ConfusionMatrix(3)
    cm.update(*cm.compute(PRED[shard], LABEL[shard]))
    return cm


class FakeGroup:
    """An initialised two-process group of ``backend``, for ``monkeypatch``.

    Attributes:
        handed: ``(device, dtype)`` of each tensor given to ``all_reduce``: the CUDA device
            ``Tensor.to`` was asked for, or the tensor's real device.
        moves: The CUDA devices ``Tensor.to`` was asked for.
        back: The devices a "CUDA" tensor was moved back to.
        peer: The other process's accumulators, in the order ``all_reduce`` gets them.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, backend: str, current: int = 0) -> None:
        self.handed: list[tuple[torch.device, torch.dtype]] = []
        self.moves: list[torch.device] = []
        self.back: list[torch.device] = []
        self.peer: list[torch.Tensor] = []
        self.groups: list[Any] = []
        monkeypatch.setattr(dist, "is_available", lambda: True)
        monkeypatch.setattr(dist, "is_initialized", lambda: True)
        monkeypatch.setattr(dist, "get_world_size", lambda group=None: 2)
        monkeypatch.setattr(dist, "get_backend", lambda group=None: backend)
        monkeypatch.setattr(dist, "all_reduce", self.all_reduce)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: current)
        real_to = torch.Tensor.to

        def fake_to(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            parse = {k: v for k, v in kwargs.items() if k != "copy"}
            device, dtype, _, _ = torch._C._nn._parse_to(*args, **parse)
            if device is not None and device.type == "cuda":
                self.moves.append(device)
                moved = real_to(tensor, "cpu", dtype or tensor.dtype, copy=True)
                moved.fake_device = device  # where a CUDA build would have put it
                return moved
            out = real_to(tensor, *args, **kwargs)
            if device is not None and getattr(tensor, "fake_device", None) is not None:
                self.back.append(device)
                out = out.clone()  # off the "GPU": a new tensor, as a CUDA build gives
            return out

        monkeypatch.setattr(torch.Tensor, "to", fake_to)

    def all_reduce(self, tensor: torch.Tensor, op: Any = None, group: Any = None, **_: Any) -> None:
        assert op == dist.ReduceOp.SUM
        self.groups.append(group)
        self.handed.append((getattr(tensor, "fake_device", tensor.device), tensor.dtype))
        tensor.add_(self.peer.pop(0).to(tensor.dtype))


def test_nccl_reduces_cpu_counts_on_the_current_gpu_and_brings_them_back(monkeypatch):
    acc, cm = _seen(Accuracy(topk=(1, 2)), MINE), _seen_cm(MINE)
    assert acc.count.device.type == "cpu"  # counted from a Python int: where NCCL refuses it
    peer_acc, peer_cm = _seen(Accuracy(topk=(1, 2)), THEIRS), _seen_cm(THEIRS)
    group = FakeGroup(monkeypatch, "nccl", current=3)
    group.peer = [peer_acc.correct, peer_acc.count, peer_cm.confusion]
    acc.all_reduce()
    cm.all_reduce()
    monkeypatch.undo()

    cuda3 = torch.device("cuda", 3)
    assert group.handed == [(cuda3, torch.int64)] * 3  # every count, on the GPU, as int64
    assert group.moves == [cuda3] * 3 and group.back == [torch.device("cpu")] * 3
    whole_acc, whole_cm = _seen(Accuracy(topk=(1, 2)), slice(None)), _seen_cm(slice(None))
    assert acc.correct.tolist() == whole_acc.correct.tolist()
    assert int(acc.count) == len(LABEL) and acc.accumulate() == whole_acc.accumulate()
    assert cm.matrix().tolist() == whole_cm.matrix().tolist()
    # The sums are back where the metric keeps them, with their dtype.
    for tensor in (acc.correct, acc.count, cm.confusion):
        assert tensor.device.type == "cpu" and tensor.dtype == torch.int64
        assert not hasattr(tensor, "fake_device")


def test_nccl_on_an_explicit_group_asks_that_group_and_passes_it_on(monkeypatch):
    acc = _seen(Accuracy(), MINE)
    peer = _seen(Accuracy(), THEIRS)
    asked: list[Any] = []
    group = FakeGroup(monkeypatch, "gloo")  # the default group is gloo ...
    sub = object()

    def backend(g: Any = None) -> str:
        asked.append(g)
        return "nccl" if g is sub else "gloo"  # ... the given one is NCCL

    monkeypatch.setattr(dist, "get_backend", backend)
    group.peer = [peer.correct, peer.count]
    acc.all_reduce(group=sub)
    monkeypatch.undo()
    assert asked == [sub]
    assert group.groups == [sub, sub]
    assert group.handed == [(torch.device("cuda", 0), torch.int64)] * 2
    assert int(acc.count) == len(LABEL)


def test_gloo_reduces_on_the_cpu(monkeypatch):
    acc = _seen(Accuracy(topk=(1, 2)), MINE)
    peer = _seen(Accuracy(topk=(1, 2)), THEIRS)
    group = FakeGroup(monkeypatch, "gloo")
    group.peer = [peer.correct, peer.count]
    acc.all_reduce()
    monkeypatch.undo()
    assert group.handed == [(torch.device("cpu"), torch.int64)] * 2 and group.moves == []
    assert int(acc.count) == len(LABEL)


def test_a_group_of_one_process_is_left_alone(monkeypatch):
    acc = _seen(Accuracy(), MINE)
    group = FakeGroup(monkeypatch, "nccl")
    monkeypatch.setattr(dist, "get_world_size", lambda group=None: 1)
    acc.all_reduce()
    monkeypatch.undo()
    assert group.handed == [] and int(acc.count) == 2


def test_a_failed_collective_leaves_the_metric_as_it_was(monkeypatch):
    acc = _seen(Accuracy(), MINE)
    before = acc.state_dict()
    fake = FakeGroup(monkeypatch, "gloo")
    peer = _seen(Accuracy(), THEIRS)
    fake.peer = [peer.correct]  # the second collective finds no peer: it fails

    def flaky(tensor: torch.Tensor, op: Any = None, group: Any = None) -> None:
        if not fake.peer:
            raise RuntimeError("Connection closed by peer")
        fake.all_reduce(tensor, op, group)

    monkeypatch.setattr(dist, "all_reduce", flaky)
    with pytest.raises(RuntimeError, match="closed by peer"):
        acc.all_reduce()
    monkeypatch.undo()
    after = acc.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_nccl_keeps_accumulators_on_the_gpu_they_are_on(monkeypatch):
    """The metric's own CUDA device wins over the current one (a script that never called
    ``torch.cuda.set_device``: every process's current device is cuda:0)."""
    monkeypatch.setattr(dist, "get_backend", lambda group=None: "nccl")
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda group=None: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    on_gpu = SimpleNamespace(device=torch.device("cuda", 1))
    on_cpu = SimpleNamespace(device=torch.device("cpu"))
    device = metrics_module._reduction_device
    assert device(None, [on_cpu, on_gpu]) == torch.device("cuda", 1)
    assert device(None, [on_cpu]) == torch.device("cuda", 0)
    monkeypatch.setattr(dist, "get_backend", lambda group=None: "gloo")
    assert device(None, [on_gpu]) == torch.device("cpu")


_SCRIPT = """
import sys, torch, torch.distributed as dist
from resvision.metrics import Accuracy, ConfusionMatrix, Metric

class Counts(Metric):
    def __init__(self):
        super().__init__()
        self.add_state("n", torch.zeros((), dtype=torch.int64))
        self.add_state("total", torch.zeros((), dtype=torch.float64))
    def name(self):
        return ["mean"]
    def update(self, n, total):
        self._add({"n": n, "total": total})
    def accumulate(self):
        return float(self.total) / max(int(self.n), 1)

rank, path = int(sys.argv[1]), sys.argv[2]
dist.init_process_group("gloo", init_method="file://" + path, rank=rank, world_size=2)
group = dist.new_group([0, 1])
pred = torch.tensor(PRED)
label = torch.tensor(LABEL)
shard = slice(0, 2) if rank == 0 else slice(2, None)
acc, cm = Accuracy(topk=(1, 2)), ConfusionMatrix(3)
acc.update(acc.compute(pred[shard], label[shard]))
cm.update(*cm.compute(pred[shard], label[shard]))
counts = Counts()
counts.update(2**53 + 1, 0.25 * (rank + 1))  # float64 would round 2**54 + 2 to 2**54
for m in (acc, cm, counts):
    m.all_reduce(group=group)
print(acc.accumulate(), cm.matrix().tolist(), int(counts.n), float(counts.total),
      counts.n.dtype, flush=True)
dist.destroy_process_group()
"""


def test_gloo_two_processes_on_an_explicit_group_sum_exactly(tmp_path):
    script = _SCRIPT.replace("PRED", str(PRED.tolist())).replace("LABEL", str(LABEL.tolist()))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(rank), str(tmp_path / "store")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outputs]
    whole_acc, whole_cm = _seen(Accuracy(topk=(1, 2)), slice(None)), _seen_cm(slice(None))
    expected = f"{whole_acc.accumulate()} {whole_cm.matrix().tolist()} {2**54 + 2} 0.75 torch.int64"
    assert [out.strip() for out, _ in outputs] == [expected, expected]
