"""The training runs the distributed tests compare, runnable in one process or under a launcher.

Each scenario takes a work folder and returns a dict of tensors and numbers. Under a two-process
launch (``ddp_worker.py``) the per-process batch is half the single-process one, so both see the
same samples per optimizer step.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

import resvision
from resvision import callbacks, distributed
from resvision.engine.checkpoint import checkpoint_differences
from resvision.metrics import Accuracy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: resume_proof
from resume_proof import BatchTrace

GLOBAL_BATCH = 12


def processes() -> int:
    """The number of processes this run is one of (1 when not launched)."""
    info = distributed.launch_environment()
    return 1 if info is None else info.world_size


def tensor_data(n: int, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(
        torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, 4, (n,), generator=g)
    )


def plain_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(24, 4),
    )


def bn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(24, 4),
    )


def image_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 4, stride=4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 10),
    )


def prepared(network: nn.Module, lr: float = 0.1) -> resvision.Model:
    model = resvision.Model(network, device="cpu")
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-3)
    model.prepare(opt, nn.CrossEntropyLoss(), Accuracy(topk=(1, 2)))
    return model


class Record(BatchTrace):
    """Keeps the epoch-end and eval-end logs, and (``BatchTrace``) the (epoch, step) of each
    training batch."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[dict[str, Any]] = []
        self.evals: list[dict[str, Any]] = []
        self.eval_seen = 0  # samples this process evaluated

    def on_eval_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self.eval_seen += int((logs or {})["batch_size"])

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epochs.append(dict(logs or {}))

    def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
        self.evals.append(dict(logs or {}))


def _weights(model: resvision.Model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.network.state_dict().items()}


def _train(network: nn.Module, *, accumulate: int = 1, sync_bn: bool = False, epochs: int = 2):
    model = prepared(network)
    record = Record()
    model.fit(
        tensor_data(48),
        batch_size=GLOBAL_BATCH // processes() // accumulate,
        epochs=epochs,
        verbose=0,
        seed=3,
        callbacks=[record],
        accumulate_grad_batches=accumulate,
        sync_bn=sync_bn,
    )
    return {"weights": _weights(model), "epochs": record.epochs}


def plain(work: Path) -> dict[str, Any]:
    """Two epochs of a network without BatchNorm."""
    return _train(plain_net())


def accumulate(work: Path) -> dict[str, Any]:
    """One epoch with two micro-batches per optimizer step (DDP's no_sync in between)."""
    return _train(plain_net(), accumulate=2, epochs=1)


def syncbn(work: Path) -> dict[str, Any]:
    """Two epochs of a network with BatchNorm, synchronised across processes."""
    return _train(bn_net(), sync_bn=True)


def unsynced_bn(work: Path) -> dict[str, Any]:
    """The same with each process's own BatchNorm statistics (what sync_bn fixes)."""
    return _train(bn_net())


def odd_eval_sets() -> dict[str, Any]:
    """37 samples: the in-memory fast path (CIFAR sample) and the DataLoader path."""
    from resvision.datasets import Cifar10Sample
    from resvision.transforms import Compose, Normalize, Transpose

    cifar = Cifar10Sample(
        "test", transform=Compose([Transpose(), Normalize(127.5, 127.5)]), backend="cv2"
    )
    g = torch.Generator().manual_seed(1)
    images = torch.randn(37, 3, 32, 32, generator=g)
    return {
        "fast": Subset(cifar, list(range(37))),
        "dataloader": TensorDataset(images, torch.randint(0, 10, (37,), generator=g)),
    }


def evaluate(work: Path) -> dict[str, Any]:
    """Evaluation on 37 samples in batches of 4, inside fit and through Model.evaluate.

    The learning rate is 0, so the weights stay those of the initialisation in every run and
    the metrics can be compared exactly.
    """
    result: dict[str, Any] = {}
    for name, data in odd_eval_sets().items():
        model = prepared(image_net(), lr=0.0)
        record = Record()
        train = Subset(data, list(range(8)))
        model.fit(
            train, data, batch_size=[4 // processes(), 4], epochs=1, verbose=0, callbacks=[record]
        )
        result[f"fit_{name}"] = record.evals[-1]
        record = Record()
        result[f"evaluate_{name}"] = model.evaluate(
            data, batch_size=4, verbose=0, callbacks=[record]
        )
        result[f"evaluate_{name}_logs"] = record.evals[-1]
        result[f"evaluate_{name}_seen"] = record.eval_seen
    return result


class _Images(torch.utils.data.Dataset):
    """Bare images (no labels), as Paddle's predict takes them."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


class _CountPredictSteps(callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    def on_predict_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        self.steps += 1


def predict(work: Path) -> dict[str, Any]:
    """Model.predict over 37 samples in batches of 4: with labels (both loader paths) and bare
    images; stacked and per batch; and the number of samples this process ran."""
    sets = odd_eval_sets()
    sets["bare"] = _Images(sets["dataloader"].tensors[0])
    result: dict[str, Any] = {}
    for name, data in sets.items():
        model = prepared(image_net(), lr=0.0)
        count = _CountPredictSteps()
        (stacked,) = model.predict(data, batch_size=4, stack_outputs=True, verbose=0,
                                   callbacks=[count])  # fmt: skip
        (batches,) = model.predict(data, batch_size=4, verbose=0)
        result[f"{name}_stacked"] = stacked
        result[f"{name}_batches"] = [b.shape[0] for b in batches]
        result[f"{name}_joined"] = np.concatenate(batches)
        result[f"{name}_local_steps"] = count.steps
    return result


def resume(work: Path) -> dict[str, Any]:
    """Stop inside the first epoch, resume, and compare with an uninterrupted run."""
    data = tensor_data(48)
    batch = GLOBAL_BATCH // processes()

    def run(save_dir: Path, num_iters: int, resume_from: Any = None, save_steps: Any = None):
        model = prepared(plain_net())
        record = Record()
        model.fit(
            data,
            batch_size=batch,
            epochs=3,
            verbose=0,
            seed=5,
            save_dir=save_dir,
            save_steps=save_steps,
            num_iters=num_iters,
            resume=resume_from,
            callbacks=[record, callbacks.JSONLLogger(save_dir)],
        )
        return {"weights": _weights(model), "epochs": record.epochs, "batches": record.batches}

    full = run(work / "full", 6)
    run(work / "cut", 3, save_steps=2)  # last.pt at step 2, final.pt at step 3
    from_last = run(work / "from_last", 6, resume_from=work / "cut" / "last.pt")
    from_final = run(work / "from_final", 6, resume_from=work / "cut" / "final.pt")
    files = {
        name: torch.load(work / "cut" / f"{name}.pt", weights_only=True)
        for name in ("last", "final")
    }
    lines = (work / "full" / "metrics.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in lines]
    final = {
        name: torch.load(work / name / "final.pt", weights_only=True)
        for name in ("full", "from_last", "from_final")
    }
    # the whole state, bit for bit
    from_last["final_differences"] = checkpoint_differences(final["full"], final["from_last"])
    from_final["final_differences"] = checkpoint_differences(final["full"], final["from_final"])
    return {
        "full": full,
        "from_last": from_last,
        "from_final": from_final,
        "rank_entries": {name: len(ckpt.get("ranks") or []) for name, ckpt in files.items()},
        "progress": {name: ckpt["progress"] for name, ckpt in files.items()},
        "events": events,
    }


def stalled_peer(work: Path) -> dict[str, Any]:
    """Rank 1 stops answering at step 2 (a hung GPU, a deadlocked data loader): rank 0 must
    fail when the collective timeout (``RESVISION_DIST_TIMEOUT``) runs out."""
    import time

    class Stall(callbacks.Callback):
        def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
            if step == 2 and distributed.rank() == 1:
                time.sleep(600)

    model = prepared(plain_net())
    try:
        model.fit(tensor_data(48), batch_size=6, epochs=50, verbose=0, callbacks=[Stall()])
    except Exception as err:  # what a collective raises when its peer is silent
        return {"error": f"{type(err).__name__}: {err}"}
    return {"error": None}


# The training runs the ddp_results fixture launches together; failure cases are started apart.
SCENARIOS = {
    "plain": plain,
    "accumulate": accumulate,
    "syncbn": syncbn,
    "unsynced_bn": unsynced_bn,
    "evaluate": evaluate,
    "predict": predict,
    "resume": resume,
}
FAILURES = {"stalled_peer": stalled_peer}
