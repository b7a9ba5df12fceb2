"""Stopping training cleanly on Ctrl-C (SIGINT) and SIGTERM.

A signal that lands in the middle of ``optimizer.step()`` would leave half-updated weights, and
a checkpoint of those could not be resumed exactly. So while ``fit`` runs, the two signals only
*request* a stop; the training loop checks the request at the next step boundary, writes a
resumable checkpoint, and then stops: SIGINT raises ``KeyboardInterrupt``, SIGTERM hands over to
the handler that was installed before (or exits with status 143, as a terminated process does).
A second Ctrl-C while the first is pending interrupts at once, as usual.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

_SIGNALS = ("SIGINT", "SIGTERM")


class InterruptGuard:
    """Context manager turning SIGINT/SIGTERM into a stop request (main thread only).

    Off the main thread, Python does not allow installing handlers; the guard then does
    nothing and ``requested`` stays None.

    Examples:
        >>> with InterruptGuard() as guard:
        ...     guard.requested is None
        True
    """

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in _SIGNALS:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN or previous is None:
                continue  # the user chose to ignore it (or it was set outside Python)
            self._previous[signum] = previous
            signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()

    def _restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            self._restore()  # second Ctrl-C: the user does not want to wait
            raise KeyboardInterrupt
        self.requested = signum

    def stop(self) -> None:
        """After the checkpoint is written: raise or exit as the pending signal asks.

        Raises:
            KeyboardInterrupt: for SIGINT.
            SystemExit: for SIGTERM when the previous handler was the default one (status 143)
                or returned.
        """
        signum, self.requested = self.requested, None
        previous = self._previous.get(signum) if signum is not None else None
        self._restore()
        if signum is None:
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        if callable(previous):
            previous(signum, None)
        raise SystemExit(128 + signum)
