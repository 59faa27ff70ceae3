"""Stopping a running guest from outside: wall-clock timeouts and the host's signals (Ctrl-C).

Unicorn runs guest code inside one C call, ``emu_start``, which returns only when the guest
traps, faults or is stopped. Python runs signal handlers (and so raises KeyboardInterrupt for
Ctrl-C) only between bytecodes of the main thread, so a guest looping without system calls
would hold both off for ever. One watchdog thread per Python process therefore waits for:

- a deadline: the guest's wall-clock time is up. The watchdog ends the process as SIGKILL
  would (:meth:`Machine.kill`), which also ends a wait on the host (a sleep, a read of a
  terminal) that the guest is in;
- a byte on its wake-up pipe. ``signal.set_wakeup_fd`` makes the C-level handler of every
  signal that has a Python handler write one there. The watchdog stops the engine, the main
  thread returns to Python and runs the handler at once (SIGINT's raises KeyboardInterrupt);
  if the handler returns, the run resumes. The byte is passed on to whoever had the wake-up
  fd before (an asyncio loop, say).

Unicorn forgets a stop requested just before ``emu_start`` begins, so after a deadline or a
signal the watchdog keeps asking every few milliseconds until the run has taken notice.

Only :meth:`sandbox.api.Sandbox.run` uses a guard by default; anything else that runs a
machine (a debugger's ``continue``) can wrap its run in :func:`guard` too.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

from kernel_model.seam import ProcessExit

if TYPE_CHECKING:
    from sandbox.engine import Machine

# How often a stop that has not been noticed yet is asked for again.
RESTOP_SECONDS = 0.005


class Guard:
    """One guarded run: its machine, its deadline, and what the watchdog did to it."""

    def __init__(self, machine: "Machine", deadline: float | None, on_deadline: Callable[[], ProcessExit] | None) -> None:
        self.machine = machine
        self.deadline = deadline
        self.on_deadline = on_deadline
        self.expired = False  # the deadline passed and the guest was killed
        self.interruptions = 0  # host signals that stopped the guest so Python could handle them
        self.signal_pending = False  # a signal stopped the engine and the run has not resumed yet
        self.catches_signals = False  # whether it holds the wake-up fd (guards made on the main thread)
        self.previous_wakeup_fd = -1  # the wake-up fd before this guard took it

    def resumed(self) -> None:
        """The run came back to Python after a stop: the host's handlers have run."""
        self.signal_pending = False


class Watchdog:
    """The process's watchdog thread and the guards it watches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._guards: list[Guard] = []
        self._thread: threading.Thread | None = None
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)

    # -- the guarded side ------------------------------------------------------------------

    def add(self, machine: "Machine", timeout: float | None, on_deadline: Callable[[], ProcessExit] | None) -> Guard:
        """Watch ``machine`` until :meth:`remove`; kill it after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        g = Guard(machine, deadline, on_deadline)
        if threading.current_thread() is threading.main_thread():
            try:
                g.previous_wakeup_fd = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
                g.catches_signals = True
            except ValueError:  # a sub-interpreter has no signal handling of its own
                pass
        with self._lock:
            self._guards.append(g)
            self._start()
        self._poke()
        return g

    def remove(self, g: Guard) -> None:
        """Stop watching; after this the watchdog never touches the machine again."""
        with self._lock:
            if g in self._guards:
                self._guards.remove(g)
        if g.catches_signals:
            current = signal.set_wakeup_fd(g.previous_wakeup_fd)
            if current != self._write_fd:  # someone else took it meanwhile: leave theirs
                signal.set_wakeup_fd(current)

    # -- the watchdog thread ---------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="sandbox-watchdog", daemon=True)
            self._thread.start()

    def _poke(self) -> None:
        try:
            os.write(self._write_fd, b"\0")  # 0 is no signal number: "look again"
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already

    def _loop(self) -> None:
        while True:
            with self._lock:
                wait = self._next_wait()
            try:
                ready, _, _ = select.select([self._read_fd], [], [], wait)
            except InterruptedError:  # pragma: no cover - PEP 475 retries select
                ready = []
            signals = b""
            if ready:
                try:
                    signals = os.read(self._read_fd, 4096).replace(b"\0", b"")
                except BlockingIOError:
                    pass
            self._act(signals)

    def _next_wait(self) -> float | None:
        if any(g.expired or g.signal_pending for g in self._guards):
            return RESTOP_SECONDS
        deadlines = [g.deadline for g in self._guards if g.deadline is not None]
        return max(min(deadlines) - time.monotonic(), 0.0) if deadlines else None

    def _act(self, signals: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            for g in self._guards:
                if signals and g.catches_signals:
                    self._forward(g, signals)
                    g.signal_pending = True
                    g.interruptions += 1
                if not g.expired and g.deadline is not None and now >= g.deadline:
                    g.expired = True
                # Ask again until the run takes notice (a stop just before emu_start is lost).
                if g.expired and g.on_deadline is not None:
                    g.machine.kill(g.on_deadline())
                elif g.signal_pending:
                    g.machine.request_stop()

    def _forward(self, g: Guard, signals: bytes) -> None:
        fd = g.previous_wakeup_fd
        if fd >= 0 and fd != self._write_fd:
            try:
                os.write(fd, signals)
            except OSError:
                pass


_watchdog: Watchdog | None = None
_watchdog_lock = threading.Lock()


def watchdog() -> Watchdog:
    """The process's watchdog (its thread starts with the first guarded run)."""
    global _watchdog
    with _watchdog_lock:
        if _watchdog is None:
            _watchdog = Watchdog()
        return _watchdog


def _forget_after_fork() -> None:
    # A forked child has no watchdog thread and must not share the parent's pipe.
    global _watchdog
    _watchdog = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


@contextmanager
def guard(
    machine: "Machine", timeout: float | None = None, on_deadline: Callable[[], ProcessExit] | None = None
) -> Iterator[Guard]:
    """Watch ``machine`` while the block runs: kill it with ``on_deadline()`` after ``timeout``
    seconds, and stop it whenever a host signal needs its Python handler run."""
    w = watchdog()
    g = w.add(machine, timeout, on_deadline)
    try:
        yield g
    finally:
        w.remove(g)
