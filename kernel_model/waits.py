"""Waits on the host that the sandbox can cut short: sleeps, and reads or writes of host streams.

A guest can make the sandbox wait on the host for as long as it likes: ``nanosleep`` for an
hour, a read of a terminal nobody types into, a ``poll`` on the host's stdin. The wall-clock
timeout of the sandbox must still end such a process on time, from another thread, and Linux
ends it the way SIGKILL does: the process dies inside the call, which never returns. So every
such wait goes through :class:`HostWaits`; :meth:`HostWaits.end` (thread-safe) wakes it, and
the wait raises the :class:`~kernel_model.seam.ProcessExit` it was given.

The host's own signals (Ctrl-C) still interrupt these waits as they interrupt any other:
Python runs its handler, and a ``KeyboardInterrupt`` leaves the call.
"""

from __future__ import annotations

import threading
import time

from kernel_model.seam import ProcessExit

# How long a host poll waits before looking whether the process was ended meanwhile: short
# enough that a timeout is late by at most this, long enough to cost nothing.
POLL_SLICE_SECONDS = 0.05


class HostWaits:
    """The host waits of one guest process, and the means to end them from another thread."""

    def __init__(self) -> None:
        self._ended = threading.Event()
        self._exit: ProcessExit | None = None

    def __deepcopy__(self, memo: dict) -> "HostWaits":
        # A live link to the threads that may end the process: a debugger's snapshot of the
        # kernel shares it (a kill is not undone by going back in time).
        return self

    @property
    def ended(self) -> bool:
        """Whether :meth:`end` was called."""
        return self._ended.is_set()

    def end(self, exit: ProcessExit) -> None:
        """End the process from any thread: a wait in progress, and every later one, raises ``exit``."""
        if self._exit is None:
            self._exit = exit
        self._ended.set()

    def check(self) -> None:
        """Raise the process's end if it was ended."""
        if self._exit is not None:
            raise ProcessExit(self._exit.status, self._exit.signal, self._exit.reason)

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of host time pass, unless the process is ended first."""
        if seconds <= 0:
            self.check()
            return
        self._ended.wait(seconds)
        self.check()

    def poll(self, wanted: dict[int, int], timeout_ms: int | None) -> dict[int, int]:
        """:func:`kernel_model.fsnodes.host_poll`, in short slices so that an end is noticed.

        Returns the Linux events that are true; empty when the timeout passed first.
        """
        from kernel_model.fsnodes import host_poll

        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        while True:
            self.check()
            slice_ms = int(POLL_SLICE_SECONDS * 1000)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return host_poll(wanted, 0)
                slice_ms = min(slice_ms, max(int(left * 1000), 1))
            got = host_poll(wanted, slice_ms)
            if got:
                return got
