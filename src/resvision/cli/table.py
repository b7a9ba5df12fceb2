"""Plain-text tables and human-readable numbers for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def human(n: float) -> str:
    """A count with a K/M/G suffix and three significant digits.

    Examples:
        >>> human(25_557_032), human(4_089_184_256), human(950)
        ('25.6M', '4.09G', '950')
    """
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= limit:
            return f"{n / limit:.3g}{suffix}"
    return f"{n:.3g}" if isinstance(n, float) else str(n)


def format_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1, align: str | None = None
) -> str:
    """Columns padded to their widest cell; the first ``left`` columns left-aligned.

    ``align`` (one ``'l'`` or ``'r'`` per column) replaces ``left`` when given.

    Examples:
        >>> print(format_table(["model", "params"], [["resnet20", "270K"], ["lenet", "61.6K"]]))
        model     params
        --------  ------
        resnet20    270K
        lenet      61.6K
    """
    cells = [[str(c) for c in header]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    if align is None:
        align = "l" * left + "r" * (len(header) - left)

    def line(row: list[str]) -> str:
        parts = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)]
        return "  ".join(parts).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells[1:]]
    return "\n".join(out)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
