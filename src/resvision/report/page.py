"""``report.html``: one self-contained page describing a run, built from its folder's files.

The page needs nothing but the run folder: ``config.yaml``, ``env.json``, ``metrics.jsonl``,
``evaluation.json`` and ``misclassified.npz`` (each optional). Plots are PNG embedded as base64
(matplotlib, the optional extra ``plot``); without matplotlib the same numbers appear as tables.
The misclassified images are drawn with Pillow, which is always installed.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from resvision.atomic import atomic_write_text
from resvision.recipe.runfolder import (
    CONFIG_FILE,
    ENV_FILE,
    EVALUATION_FILE,
    METRICS_FILE,
    MISCLASSIFIED_FILE,
    REPORT_FILE,
    read_json,
    read_jsonl,
)
from resvision.report import plots
from resvision.report.history import History, history_from_rows

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #666; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 1em 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.card .v { font-size: 1.5em; font-weight: 600; } .card .k { color: #666; font-size: 0.85em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f5f5f5; } td.l, th.l { text-align: left; }
img.plot { max-width: 100%; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; }
.grid figure { margin: 0; width: 104px; text-align: center; font-size: 0.75em; }
.grid img { width: 96px; height: 96px; image-rendering: pixelated; border: 1px solid #ccc; }
.bad { color: #b22; } .ok { color: #282; }
pre { background: #f7f7f7; padding: 8px; overflow-x: auto; font-size: 0.85em; }
details { margin: 0.5em 0; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="plot" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _pct(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{100.0 * x:.2f}%"


def _num(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return _e(x)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {sec:02d} s"


def _table(header: list[str], rows: list[list[Any]], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned (names), the rest numbers."""
    head = "".join(
        f'<th class="{"l" if i < left else ""}">{_e(h)}</th>' for i, h in enumerate(header)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{"l" if i < left else ""}">{_num(v)}</td>' for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _thumbnail(image: np.ndarray) -> str:
    from PIL import Image

    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _cards(evaluation: dict | None, history: History, env: dict | None) -> str:
    cards = []
    if evaluation:
        cards.append(("test top-1", _pct(evaluation.get("acc_top1"))))
        if evaluation.get("acc_top5") is not None:
            cards.append(("test top-5", _pct(evaluation.get("acc_top5"))))
        if evaluation.get("loss") is not None:
            cards.append(("test loss", f"{evaluation['loss']:.4f}"))
    best = history.best_eval_acc()
    if best is not None:
        cards.append(("best eval top-1", f"{_pct(best[1])} (epoch {best[0]:g})"))
    if env:
        cards.append(("training time", _duration(env.get("train_seconds"))))
        if env.get("train_images_per_second"):
            cards.append(("train speed", f"{env['train_images_per_second']:.0f} img/s"))
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>'
            for k, v in cards
        )
        + "</div>"
    )


def _curves_section(history: History) -> str:
    if history.empty():
        return "<h2>Training curves</h2><p>No metrics were logged.</p>"
    png = plots.curves_png(history.panels())
    parts = ["<h2>Training curves</h2>", _img(png, "loss and accuracy curves")]
    header, rows = history.epoch_table()
    if rows:
        table = _table(header, rows)
        if png is None:
            parts.append(table)
        else:
            parts.append(f"<details><summary>numbers per epoch</summary>{table}</details>")
    return "".join(parts)


def _evaluation_section(evaluation: dict | None) -> str:
    if not evaluation:
        return "<h2>Evaluation</h2><p>No final evaluation was recorded.</p>"
    classes = [str(c) for c in evaluation.get("classes", [])]
    parts = [f"<h2>Evaluation on {_e(evaluation.get('split', 'test'))} data</h2>"]
    parts.append(
        f"<p>{_e(evaluation.get('num_samples', '?'))} images of {_e(evaluation.get('data', '?'))}; "
        f"loss {_num(evaluation.get('loss'))}, top-1 {_pct(evaluation.get('acc_top1'))}, "
        f"top-5 {_pct(evaluation.get('acc_top5'))}.</p>"
    )
    matrix = evaluation.get("confusion_matrix")
    if matrix is not None and classes:
        matrix = np.asarray(matrix, dtype=np.int64)
        parts.append("<h3>Confusion matrix</h3>")
        png = plots.confusion_png(matrix, classes)
        parts.append(_img(png, "confusion matrix"))
        if png is None and len(classes) <= 20:
            rows = [[c, *matrix[i].tolist()] for i, c in enumerate(classes)]
            parts.append("<p>rows: true class, columns: predicted class</p>")
            parts.append(_table(["true \\ predicted", *classes], rows))
    per_class = evaluation.get("per_class_accuracy")
    if per_class is not None and classes:
        acc = [float("nan") if a is None else float(a) for a in per_class]
        counts = evaluation.get("per_class_count") or [None] * len(classes)
        parts.append("<h3>Accuracy per class</h3>")
        png = plots.per_class_png(acc, classes)
        parts.append(_img(png, "accuracy per class"))
        rows = [[c, n if n is not None else "-", _pct(a)] for c, n, a in zip(classes, counts, acc)]
        table = _table(["class", "images", "accuracy"], rows)
        parts.append(
            table if png is None else f"<details><summary>numbers</summary>{table}</details>"
        )
    return "".join(parts)


def _misclassified_section(path: Path) -> str:
    if not path.exists():
        return ""
    with np.load(path, allow_pickle=False) as data:
        images, true, pred = data["images"], data["true"], data["pred"]
        prob = data["prob"] if "prob" in data.files else None
        classes = [str(c) for c in data["classes"]] if "classes" in data.files else None
    if len(images) == 0:
        return "<h2>Misclassified test images</h2><p>None: every test image was right.</p>"

    def name(i: int) -> str:
        return classes[i] if classes and 0 <= i < len(classes) else str(i)

    figures = []
    for k in range(len(images)):
        p = "" if prob is None else f" {100.0 * float(prob[k]):.0f}%"
        figures.append(
            f'<figure><img alt="misclassified" src="data:image/png;base64,{_thumbnail(images[k])}">'
            f'<figcaption><span class="bad">{_e(name(int(pred[k])))}{p}</span><br>'
            f'<span class="ok">true: {_e(name(int(true[k])))}</span></figcaption></figure>'
        )
    return (
        f"<h2>Misclassified test images (first {len(images)})</h2>"
        "<p>Red: the prediction and its probability; green: the true class.</p>"
        f'<div class="grid">{"".join(figures)}</div>'
    )


def _settings_section(config: dict | None, env: dict | None) -> str:
    parts = ["<h2>Settings and environment</h2>"]
    if env:
        rows = [["command", " ".join(env.get("command", []))]]
        for key in ("started", "ended", "device", "seed"):
            if env.get(key) is not None:
                rows.append([key, env[key]])
        for key in ("train_seconds", "eval_seconds"):
            if env.get(key) is not None:
                rows.append([key.replace("_seconds", " time"), _duration(env[key])])
        for lib, version in (env.get("versions") or {}).items():
            rows.append([lib, version])
        git = env.get("git")
        if git:
            rows.append(
                ["git commit", git["commit"] + (" (with local changes)" if git["dirty"] else "")]
            )
        if env.get("cuda"):
            rows.append(["CUDA", env["cuda"]])
        parts.append(_table(["", ""], rows, left=2))
    if config:
        text = yaml.safe_dump(config, sort_keys=False)
        parts.append(f"<h3>Resolved config</h3><pre>{_e(text)}</pre>")
    return "".join(parts)


def build_report(run_dir: str | Path, *, out: str | Path | None = None) -> Path:
    """Write ``report.html`` for a run folder; works on an unfinished run too.

    Args:
        run_dir: the run folder.
        out: where to write the page (default ``run_dir/report.html``).

    Returns:
        The path of the page.

    Raises:
        FileNotFoundError: ``run_dir`` is not a folder.

    Examples:
        >>> import tempfile
        >>> path = build_report(tempfile.mkdtemp())
        >>> path.name
        'report.html'
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {str(run_dir)!r} does not exist")
    config_path = run_dir / CONFIG_FILE
    config = (
        yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.exists() else None
    )
    env = read_json(run_dir / ENV_FILE)
    evaluation = read_json(run_dir / EVALUATION_FILE)
    history = history_from_rows(read_jsonl(run_dir / METRICS_FILE))
    note = ""
    if not plots.available():
        note = (
            '<p class="sub">The plots need matplotlib: <code>pip install "resvision[plot]"</code>, '
            f"then <code>resvision report {_e(run_dir)}</code>.</p>"
        )
    model = (config or {}).get("model", {}).get("name", "?")
    data = (config or {}).get("data", {}).get("name", "?")
    body = [
        f"<h1>resvision run: {_e(model)} on {_e(data)}</h1>",
        f'<p class="sub">{_e(run_dir.resolve())}</p>',
        note,
        _cards(evaluation, history, env),
        _curves_section(history),
        _evaluation_section(evaluation),
        _misclassified_section(run_dir / MISCLASSIFIED_FILE),
        _settings_section(config, env),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>resvision: {_e(model)} on {_e(data)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
    path = Path(out) if out is not None else run_dir / REPORT_FILE
    atomic_write_text(path, page)
    return path
