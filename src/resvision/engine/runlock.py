"""One owner per run folder: a lock file taken atomically when training starts.

Two runs writing to one folder would overwrite each other's checkpoints and interleave their
logs, and both would exit 0. So ``fit(save_dir=...)`` (and ``resvision train`` for its whole
run folder) first creates ``<folder>/.lock`` with ``O_CREAT | O_EXCL``, which succeeds for one
process only, even on NFS-free local disks where two start in the same millisecond. The file
records who holds it (host, process id, the process's start time, when, and the command), so
that the second run is refused with a message naming the first.

A lock is *stale*, and taken over, only when it can be proven dead: written on this host by a
process that no longer exists (or whose process id now belongs to a process started at another
time). A lock from another host is never taken over: resvision cannot see that machine's
processes, so the message says which file to delete when that run is known to be gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

LOCK_FILE = ".lock"


class RunFolderBusyError(RuntimeError):
    """Another run holds the folder's lock; ``holder`` is what its lock file says."""

    def __init__(self, message: str, folder: Path, holder: dict[str, Any]) -> None:
        super().__init__(message)
        self.folder, self.holder = folder, holder


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), else None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 counts after the command name, which is in parentheses and may hold spaces.
    fields = text.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (another user's) or cannot tell: keep the lock
    now = _process_start(pid)
    return started is None or now is None or now == started  # a reused pid is another process


def _describe(holder: dict[str, Any]) -> str:
    when = holder.get("started")
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) if when else "an unknown time"
    command = holder.get("command")
    return (
        f"process {holder.get('pid', '?')} on host {holder.get('host', '?')}, started {since}"
        + (f" ({command})" if command else "")
    )


class RunLock:
    """Context manager holding ``<folder>/.lock`` while a run writes to ``folder``.

    Args:
        folder: The run or checkpoint folder (created when missing).
        command: What to record as the holder's command (default: this process's argv).

    Raises:
        RunFolderBusyError: a live run holds the folder (on entering).

    Examples:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with RunLock(folder):
        ...     try:
        ...         RunLock(folder).acquire()
        ...     except RunFolderBusyError as err:
        ...         print("refused:", "is in use by" in str(err))
        refused: True
        >>> with RunLock(folder):  # released on exit: the next run may take it
        ...     pass
    """

    def __init__(self, folder: str | os.PathLike[str], command: str | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.command = command if command is not None else " ".join(sys.argv)[:300]
        self._held = False
        self._record: dict[str, Any] = {}

    def acquire(self) -> RunLock:
        """Take the lock (taking over a stale one once); see the class for the errors."""
        self.folder.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        self._record = {
            "host": socket.gethostname(),
            "pid": pid,
            "process_start": _process_start(pid),
            "started": time.time(),
            "command": self.command,
        }
        for _ in range(2):  # the second try follows the removal of a stale lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._read_holder()
                if self._stale(holder):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path)
                    continue
                raise RunFolderBusyError(
                    f"{str(self.folder)!r} is in use by another run: {_describe(holder)}. Wait "
                    f"for it to finish or choose another folder; if that run is gone (e.g. its "
                    f"machine went down), delete {str(self.path)!r}",
                    self.folder,
                    holder,
                ) from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._record, f)
                f.write("\n")
            self._held = True
            return self
        raise RunFolderBusyError(
            f"{str(self.folder)!r}: another run took the lock while a stale one was removed",
            self.folder,
            self._read_holder(),
        )

    def _read_holder(self) -> dict[str, Any]:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
            return holder if isinstance(holder, dict) else {}
        except FileNotFoundError:
            return {"pid": None}  # released meanwhile: the next try takes it
        except (OSError, ValueError):
            return {}  # being written right now, or damaged: treat as held

    def _stale(self, holder: dict[str, Any]) -> bool:
        if holder.get("pid", 0) is None:
            return True
        pid = holder.get("pid")
        if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
            return False
        if pid == os.getpid() and holder.get("process_start") == _process_start(pid):
            return False  # this very process holds it (a fit inside a fit): refuse
        return not _alive(pid, holder.get("process_start"))

    def release(self) -> None:
        """Remove the lock file if this process still holds it."""
        if not self._held:
            return
        self._held = False
        with contextlib.suppress(OSError):
            if json.loads(self.path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                os.unlink(self.path)

    def __enter__(self) -> RunLock:
        return self if self._held else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
