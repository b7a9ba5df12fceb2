"""The report's figures as PNG bytes, drawn with matplotlib (the optional extra ``plot``).

Every function returns None when matplotlib is not installed, so the report falls back to
tables of numbers. The Agg backend is used explicitly: no display is needed and nothing here
changes the backend the caller's own pyplot uses.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

Curve = tuple[Sequence[float], Sequence[float]]


def available() -> bool:
    """True when matplotlib is installed (the plots can be drawn)."""
    return _figure(1, 1) is not None


def _figure(width: float, height: float):
    """A new Agg figure, or None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def curves_png(panels: dict[str, dict[str, Curve]], xlabel: str = "epoch") -> bytes | None:
    """Line plots side by side: one panel per quantity, one line per series.

    Args:
        panels: ``{panel title: {series label: (xs, ys)}}``, e.g.
            ``{'loss': {'train': ([1, 2], [2.1, 1.7]), 'eval': ([1, 2], [1.9, 1.6])}}``.
            Empty series are skipped; a panel with none is dropped.
        xlabel: the x axis label shared by the panels.

    Returns:
        PNG bytes, or None without matplotlib or without any series.

    Examples:
        >>> png = curves_png({"loss": {"train": ([1, 2, 3], [2.0, 1.5, 1.2])}})
        >>> png is None or png[:4] == b"\\x89PNG"
        True
    """
    panels = {
        title: {label: xy for label, xy in series.items() if len(xy[0])}
        for title, series in panels.items()
    }
    panels = {title: series for title, series in panels.items() if series}
    if not panels:
        return None
    fig = _figure(4.2 * len(panels), 3.2)
    if fig is None:
        return None
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, series) in zip(axes, panels.items()):
        for label, (xs, ys) in series.items():
            marker = "o" if len(xs) <= 30 else None
            ax.plot(xs, ys, label=label, marker=marker, markersize=3, linewidth=1.5)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
        if title == "learning rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        if len(series) > 1:
            ax.legend(fontsize=8)
    return _png(fig)


def confusion_png(matrix: np.ndarray, classes: Sequence[str]) -> bytes | None:
    """A confusion matrix heat map: rows true classes, columns predictions, colour = row share.

    Counts are written in the cells when there are at most 20 classes.

    Args:
        matrix: ``[C, C]`` counts, ``matrix[true, pred]``.
        classes: the ``C`` class names.

    Returns:
        PNG bytes, or None without matplotlib.
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    n = len(classes)
    fig = _figure(max(4.5, 0.45 * n + 2.0), max(4.0, 0.45 * n + 1.6))
    if fig is None:
        return None
    ax = fig.subplots()
    rows = matrix.sum(axis=1, keepdims=True)
    share = matrix / np.maximum(rows, 1)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    if n <= 40:
        ax.set_xticks(range(n), [str(c) for c in classes], rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(n), [str(c) for c in classes], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    color = "white" if share[i, j] > 0.5 else "black"
                    ax.text(
                        j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=color
                    )
    return _png(fig)


def per_class_png(accuracy: Sequence[float], classes: Sequence[str]) -> bytes | None:
    """Horizontal bars of the accuracy of each class, with the mean as a dashed line.

    Args:
        accuracy: per-class accuracy in [0, 1] (NaN for a class without samples).
        classes: the class names.

    Returns:
        PNG bytes, or None without matplotlib.
    """
    acc = np.asarray(accuracy, dtype=np.float64)
    n = len(classes)
    fig = _figure(5.5, max(2.5, 0.22 * n + 1.0))
    if fig is None:
        return None
    ax = fig.subplots()
    ys = np.arange(n)
    ax.barh(ys, np.nan_to_num(acc * 100.0), color="#4c72b0")
    if n <= 40:
        ax.set_yticks(ys, [str(c) for c in classes], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)")
    if np.isfinite(acc).any():
        ax.axvline(
            np.nanmean(acc) * 100.0, color="#c44e52", linestyle="--", linewidth=1, label="mean"
        )
        ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)
