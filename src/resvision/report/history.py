"""A run's history read back from ``metrics.jsonl``: per-epoch train/eval metrics and steps.

The engine's JSONL logger writes one JSON object per event. This module accepts the rows it
writes and is lenient about the rest: a row is classified by its ``event`` (or ``phase`` /
``mode``) field and by its keys, and unknown rows are ignored, so a report can be built from
an older or partial run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: Keys that are bookkeeping, not metrics.
_META = {
    "event",
    "phase",
    "mode",
    "type",
    "epoch",
    "step",
    "global_step",
    "steps",
    "time",
    "timestamp",
    "wall_time",
    "elapsed",
    "batch_size",
    "ips",
    "lr",
    "num_samples",
    "samples",
}


@dataclass
class History:
    """Metrics of a run, by epoch (1-based) and by optimizer step.

    Attributes:
        train: ``{epoch: {metric: value}}`` from the end of each training epoch.
        eval: ``{epoch: {metric: value}}`` from each evaluation during training.
        steps: ``[(global step, loss, lr)]`` from the logged training steps.
        lr: ``{epoch: lr}`` at the end of each epoch when logged.
    """

    train: dict[float, dict[str, float]] = field(default_factory=dict)
    eval: dict[float, dict[str, float]] = field(default_factory=dict)
    steps: list[tuple[int, float, float | None]] = field(default_factory=list)
    lr: dict[float, float] = field(default_factory=dict)

    def empty(self) -> bool:
        """True when nothing usable was logged."""
        return not (self.train or self.eval or self.steps)

    def _series(self, table: dict[float, dict[str, float]], key: str) -> tuple[list, list]:
        xs = [e for e in sorted(table) if _finite(table[e].get(key))]
        return xs, [table[e][key] for e in xs]

    def panels(self) -> dict[str, dict[str, tuple[list, list]]]:
        """Plot panels for :func:`resvision.report.plots.curves_png`: loss, accuracy, lr."""
        acc_key = self._accuracy_key()
        panels: dict[str, dict[str, tuple[list, list]]] = {
            "loss": {
                "train": self._series(self.train, "loss"),
                "eval": self._series(self.eval, "loss"),
            }
        }
        if acc_key:
            panels["top-1 accuracy"] = {
                "train": self._series(self.train, acc_key),
                "eval": self._series(self.eval, acc_key),
            }
        if self.lr:
            xs = sorted(self.lr)
            panels["learning rate"] = {"lr": (xs, [self.lr[x] for x in xs])}
        return panels

    def _accuracy_key(self) -> str | None:
        keys = {k for row in (*self.train.values(), *self.eval.values()) for k in row}
        for key in ("acc_top1", "acc", "accuracy"):
            if key in keys:
                return key
        return next((k for k in sorted(keys) if k.startswith("acc")), None)

    def epoch_table(self) -> tuple[list[str], list[list[Any]]]:
        """Header and rows of a table with one row per epoch (train then eval metrics)."""
        train_keys = sorted({k for row in self.train.values() for k in row})
        eval_keys = sorted({k for row in self.eval.values() for k in row})
        header = ["epoch", *(f"train {k}" for k in train_keys), *(f"eval {k}" for k in eval_keys)]
        if self.lr:
            header.append("lr")
        rows = []
        for epoch in sorted(set(self.train) | set(self.eval)):
            row: list[Any] = [f"{epoch:g}"]
            row += [self.train.get(epoch, {}).get(k, "") for k in train_keys]
            row += [self.eval.get(epoch, {}).get(k, "") for k in eval_keys]
            if self.lr:
                row.append(self.lr.get(epoch, ""))
            rows.append(row)
        return header, rows

    def best_eval_acc(self) -> tuple[float, float] | None:
        """``(epoch, accuracy)`` of the best evaluation during training, if any."""
        key = self._accuracy_key()
        xs, ys = self._series(self.eval, key) if key else ([], [])
        if not ys:
            return None
        i = max(range(len(ys)), key=lambda j: ys[j])
        return xs[i], ys[i]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _metrics(row: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out = {}
    for key, value in row.items():
        if not key.startswith(prefix) or key in _META or not _finite(value):
            continue
        if not prefix and key.startswith("eval_"):
            continue
        name = key[len(prefix) :]
        if name and name not in _META:
            out[name] = float(value)
    return out


def history_from_rows(rows: list[dict[str, Any]]) -> History:
    """Classify the rows of ``metrics.jsonl`` into a :class:`History`.

    Epochs are shown 1-based: when the rows count epochs from 0, 1 is added.

    Args:
        rows: the decoded lines of ``metrics.jsonl``.

    Returns:
        The history; rows that fit nothing are ignored.

    Examples:
        >>> h = history_from_rows([
        ...     {"event": "train_batch", "epoch": 0, "step": 10, "loss": 2.1, "lr": 0.1},
        ...     {"event": "epoch_end", "epoch": 0, "loss": 1.9, "acc_top1": 0.3},
        ...     {"event": "eval_end", "epoch": 0, "loss": 1.7, "acc_top1": 0.4},
        ... ])
        >>> h.train, h.eval, h.steps
        ({1.0: {'loss': 1.9, 'acc_top1': 0.3}}, {1.0: {'loss': 1.7, 'acc_top1': 0.4}}, [(10, 2.1, 0.1)])
    """
    epochs = [r["epoch"] for r in rows if _finite(r.get("epoch"))]
    offset = 1 if epochs and min(epochs) == 0 else 0
    history = History()
    for row in rows:
        kind = str(row.get("event") or row.get("phase") or row.get("mode") or row.get("type") or "")
        kind = kind.lower()
        epoch = float(row["epoch"]) + offset if _finite(row.get("epoch")) else None
        if "batch" in kind or ("step" in kind and "epoch" not in kind):
            step = row.get("global_step", row.get("step"))
            if _finite(step) and _finite(row.get("loss")):
                lr = float(row["lr"]) if _finite(row.get("lr")) else None
                history.steps.append((int(step), float(row["loss"]), lr))
            continue
        if epoch is None:
            continue
        if "eval" in kind or "val" in kind:
            metrics = _metrics(row, "eval_") or _metrics(row)
            if metrics:
                history.eval[epoch] = metrics
            continue
        train = _metrics(row)
        evaluation = _metrics(row, "eval_")
        if train:
            history.train[epoch] = train
        if evaluation:
            history.eval[epoch] = evaluation
        if _finite(row.get("lr")):
            history.lr[epoch] = float(row["lr"])
    return history
