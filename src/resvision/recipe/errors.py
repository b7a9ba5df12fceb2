"""User-facing errors of the command line: a message, the close valid names, exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: Exit code of a user mistake (unknown name, bad value, missing file), as argparse uses.
EXIT_USAGE = 2
#: Exit code after Ctrl-C, as shells report a process ended by SIGINT (128 + 2).
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A mistake of the user: printed as ``resvision: error: <message>`` without a traceback.

    Args:
        message: what is wrong, naming the bad value and what would have been accepted.

    Examples:
        >>> str(UsageError("unknown model 'resnet5'"))
        "unknown model 'resnet5'"
    """


def close_names(name: str, valid: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The valid names closest to a mistyped one (``difflib``), best first.

    Case is ignored when comparing, so ``ResNet50`` finds ``resnet50``.

    Args:
        name: the name the user typed.
        valid: the accepted names.
        n: at most this many suggestions.
        cutoff: similarity ratio in [0, 1] below which a name is not suggested.

    Returns:
        Up to ``n`` accepted names, spelled as in ``valid``.

    Examples:
        >>> close_names("resnet5", ["resnet18", "resnet50", "vgg16"])
        ['resnet50', 'resnet18']
    """
    by_lower: dict[str, str] = {}
    for v in valid:
        by_lower.setdefault(v.lower(), v)
    hits = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=cutoff)
    return [by_lower[h] for h in hits]


def unknown_name_error(
    kind: str, name: str, valid: Iterable[str], *, hint: str | None = None, prefix: str = ""
) -> UsageError:
    """Build the error for an unknown name: the name, the close valid names, and a hint.

    Args:
        kind: what the name is ("model", "data set", "config key", ...).
        name: the name the user typed.
        valid: the accepted names; all of them are listed when there are few.
        hint: an extra sentence (e.g. the command that lists the valid names).
        prefix: shown before the name and each valid name but not compared (``"train."`` for
            config keys, so that the section does not make every key look alike).

    Returns:
        A :class:`UsageError` to raise.

    Examples:
        >>> print(unknown_name_error("optimizer", "adamw2", ["sgd", "momentum", "adamw"]))
        unknown optimizer 'adamw2'; did you mean 'adamw'? (valid: sgd, momentum, adamw)
    """
    valid = list(valid)
    message = f"unknown {kind} {prefix + name!r}"
    close = close_names(name, valid)
    if close:
        message += "; did you mean " + " or ".join(repr(prefix + c) for c in close) + "?"
    if 0 < len(valid) <= 12:
        message += " (valid: " + ", ".join(prefix + v for v in valid) + ")"
    if hint:
        message += ("" if message.endswith("?") else ".") + " " + hint
    return UsageError(message)
