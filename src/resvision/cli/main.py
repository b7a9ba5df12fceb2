"""``resvision`` / ``python -m resvision``: the entry point of the command line.

A user mistake (unknown name, bad value, missing file) prints ``resvision: error: ...`` and
exits with code 2, without a Python traceback; ``--debug`` shows the traceback too. Ctrl-C
exits with code 130 (``train`` first says how to resume).
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
import traceback

from resvision.recipe.errors import EXIT_INTERRUPTED, EXIT_USAGE, UsageError

#: command -> "module:function" taking the parsed arguments and returning an exit code.
COMMANDS = {
    "train": "resvision.cli.train:run_train",
    "eval": "resvision.cli.evaluate:run_eval",
    "predict": "resvision.cli.predict:run_predict",
    "export": "resvision.cli.export:run_export",
    "models": "resvision.cli.inspect:run_models",
    "summary": "resvision.cli.inspect:run_summary",
    "data": "resvision.cli.inspect:run_data",
    "report": "resvision.cli.inspect:run_report",
}


#: errno values of disk trouble, reported without a traceback (exit code 1).
_DISK_TROUBLE = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG}
# A path that is not what the command expects (a file where a folder goes, no permission).
_PATH_TROUBLE = {
    errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.ENOENT,
    errno.ELOOP, errno.ENAMETOOLONG,
}  # fmt: skip


def _is_data_error(err: ValueError) -> bool:
    """A label outside the classes, or an image file found unreadable while loading."""
    kinds = [
        getattr(sys.modules.get(module), name, None)  # not imported yet: cannot be its error
        for module, name in (
            ("resvision.engine.guards", "LabelRangeError"),
            ("resvision.data.images", "ImageDecodeError"),
        )
    ]
    return any(kind is not None and isinstance(err, kind) for kind in kinds)


def _configure_threads() -> None:
    """Cap torch's intra-op threads at ``RESVISION_NUM_THREADS`` (tests on shared machines).

    Before torch is imported the cap goes through ``OMP_NUM_THREADS``, which torch reads when it
    starts, so that commands that fail early never pay for importing torch.
    """
    value = os.environ.get("RESVISION_NUM_THREADS")
    if not value:
        return
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"RESVISION_NUM_THREADS must be a positive integer, got {value!r}")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(value))
    else:
        os.environ["OMP_NUM_THREADS"] = value


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        The exit code: 0 success, 1 failure, 2 usage error, 130 interrupted.

    Examples:
        >>> main(["models", "resnet2*", "--json"]) == 0  # doctest: +ELLIPSIS
        [...
        True
    """
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        from resvision.cli.parser import parse

        parser, args = parse(argv)
        if args.command is None:
            parser.print_help()
            return 0
        _configure_threads()
        module_name, func_name = COMMANDS[args.command].split(":")
        func = getattr(importlib.import_module(module_name), func_name)
        return int(func(args) or 0)
    except UsageError as err:
        if debug:
            traceback.print_exc()
        print(f"resvision: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nresvision: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError as err:  # resvision's BatchTooLargeError: the message suggests a size
        if debug:
            traceback.print_exc()
        print(f"resvision: error: {err or 'out of memory (MemoryError)'}", file=sys.stderr)
        return 1
    except ValueError as err:
        if not _is_data_error(err):
            raise
        if debug:
            traceback.print_exc()
        # DataLoader workers re-raise with the worker's traceback in the message: keep the end.
        message = str(err).strip().splitlines()[-1] if str(err).strip() else repr(err)
        hint = ""
        if type(err).__name__ == "ImageDecodeError":
            hint = "\n(`resvision data DATA --decode` lists every unreadable file of a data set)"
        print(f"resvision: error: {message}{hint}", file=sys.stderr)
        return 1
    except OSError as err:
        if err.errno not in _DISK_TROUBLE and not (err.errno in _PATH_TROUBLE and err.filename):
            raise
        # A full disk or a failing one while writing the run folder, or a path that is not what
        # it should be: the message says which file; a traceback would add nothing the user can
        # act on.
        if debug:
            traceback.print_exc()
        where = f" with {err.filename!r}" if err.filename else ""
        print(f"resvision: error{where}: {err.strerror or err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `resvision models | head`: the reader left; not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
