"""``resvision train --nproc N``: the same command on N processes of this machine.

A shortcut for ``torchrun --nproc_per_node N -m resvision train ...``: PyTorch's launcher
(``torch.distributed.run``, static rendezvous on a free port of 127.0.0.1) starts the workers,
watches them, and stops all of them as soon as one fails. The failure is then reported by rank:
which process died, how (exit code or signal), and what the others did.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Mapping
from typing import Any

from resvision.recipe.errors import EXIT_INTERRUPTED, UsageError

#: Environment variables of a process started by torchrun / torch.distributed.run.
_LAUNCHED_MARKERS = ("TORCHELASTIC_RUN_ID", "LOCAL_RANK")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at ``host`` right now.

    Examples:
        >>> 1024 <= free_port() <= 65535
        True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def worker_arguments(argv: list[str], extra: list[str] | None = None) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N``, plus ``extra``.

    Examples:
        >>> worker_arguments(["train", "--nproc", "2", "--epochs", "3"], ["--output", "run"])
        ['train', '--epochs', '3', '--output', 'run']
        >>> worker_arguments(["train", "--nproc=4"])
        ['train']
    """
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out + list(extra or [])


def check_nproc(nproc: int) -> None:
    """Refuse a bad ``--nproc`` and a launch from inside a launched worker.

    Raises:
        UsageError: ``nproc`` < 1, or this process was itself started by torchrun.
    """
    if nproc < 1:
        raise UsageError(f"--nproc must be a positive number of processes, got {nproc}")
    if any(os.environ.get(name) for name in _LAUNCHED_MARKERS):
        raise UsageError(
            "--nproc starts the processes itself; under torchrun leave it out "
            "(torchrun's --nproc_per_node says how many)"
        )


def describe_failures(failures: Mapping[int, Any]) -> str:
    """One line per failed process, the first cause first.

    A process killed by a signal (the OOM killer, ``kill -9``) is the likely first cause, then
    one that exited with an error; the others usually failed after it, when a collective found
    their peer gone, or were stopped by the launcher (SIGTERM).

    Args:
        failures: ``ChildFailedError.failures``: global rank -> ``ProcessFailure`` (with
            ``local_rank``, ``pid``, ``exitcode``, ``timestamp``, ``message``).

    Returns:
        The text to print.

    Examples:
        >>> from types import SimpleNamespace as F
        >>> print(describe_failures({
        ...     0: F(local_rank=0, pid=11, exitcode=-15, timestamp=4, message=""),
        ...     1: F(local_rank=1, pid=12, exitcode=1, timestamp=5, message=""),
        ...     2: F(local_rank=2, pid=13, exitcode=-9, timestamp=5, message="")}))
        rank 2 (local rank 2, pid 13) was killed by signal SIGKILL
        rank 1 (local rank 1, pid 12) exited with code 1
        rank 0 (local rank 0, pid 11) was killed by signal SIGTERM
    """

    def order(item: tuple[int, Any]) -> tuple[int, float, int]:
        rank, failure = item
        if failure.exitcode == -signal.SIGTERM:
            kind = 2  # the launcher stops the others with SIGTERM
        else:
            kind = 0 if failure.exitcode < 0 else 1
        return (kind, float(failure.timestamp or 0), rank)

    lines = []
    for rank, failure in sorted(failures.items(), key=order):
        where = f"rank {rank} (local rank {failure.local_rank}, pid {failure.pid})"
        if failure.exitcode < 0:
            try:
                name = signal.Signals(-failure.exitcode).name
            except ValueError:
                name = str(-failure.exitcode)
            line = f"{where} was killed by signal {name}"
        else:
            line = f"{where} exited with code {failure.exitcode}"
        message = _first_line(failure.message)
        if message and not message.startswith(("Signal ", "To enable traceback")):
            line += f": {message}"
        lines.append(line)
    return "\n".join(lines)


def _first_line(message: Any) -> str:
    if isinstance(message, Mapping):
        message = message.get("message", "")
    return str(message or "").strip().splitlines()[0] if message else ""


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``python -m resvision ARGV`` on ``nproc`` processes through ``torch.distributed.run``.

    Args:
        nproc: Processes on this machine (one per GPU on a GPU machine).
        argv: The worker command line (without ``--nproc``).

    Returns:
        The exit code: 0 when every process succeeded, 1 when one failed (the processes and
        how they ended are printed), 130 on Ctrl-C.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    launcher = parse_args(
        [
            "--nnodes=1",
            f"--nproc-per-node={nproc}",
            "--master-addr=127.0.0.1",
            f"--master-port={free_port()}",
            "--module",
            "resvision",
            *argv,
        ]
    )
    try:
        run(launcher)
    except ChildFailedError as err:
        print(
            f"resvision: distributed training failed ({nproc} processes); the others were "
            f"stopped:\n{describe_failures(err.failures)}",
            file=sys.stderr,
        )
        return 1
    except (KeyboardInterrupt, SignalException) as err:
        # The launcher passed the signal on to the workers (they write last.pt and stop).
        signum = getattr(err, "sigval", signal.SIGINT)
        return EXIT_INTERRUPTED if signum == signal.SIGINT else 128 + int(signum)
    return 0
