"""Waiting and the scheduler: how a task waits for something, and which task runs next.

Unicorn runs one guest instruction stream at a time, so the guest's tasks take turns on it.
A system call that would wait (a read of an empty pipe, a futex wait, a ``wait4`` with no
child to reap, a sleep) raises :class:`Blocked` with a :class:`Wait`: what it waits on (wait
queues of kernel objects, a deadline, host descriptors). The task is parked; when something
wakes it (a write to the pipe, a ``FUTEX_WAKE``, a child's exit, the deadline), the same call
is made again from the start, as the kernel restarts a call after a wait. A call that blocks
has changed nothing yet, so running it again is exact.

The :class:`Scheduler` picks the next runnable task. By default the choice is deterministic
(round robin in the order tasks were made), so a race between threads comes out the same way
on every run and every machine; a ``seed`` makes it a seeded random choice instead. When no
task can run, the scheduler waits for the earliest deadline and for the host descriptors the
tasks wait on, through the kernel's :class:`~kernel_model.waits.HostWaits` (which a timeout and
Ctrl-C end); when there is nothing to wait for either, every task waits on something only
another guest task could do, and :class:`Deadlock` says which and on what.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from kernel_model.seam import ProcessExit

if TYPE_CHECKING:
    from kernel_model.tasks import Task


class WaitQueue:
    """The tasks waiting for something of one kernel object (a pipe's data, a futex word)."""

    __slots__ = ("waiters", "name", "generation")

    def __init__(self, name: str = "") -> None:
        self.waiters: list["Task"] = []
        self.name = name
        # Counts the wakes, waiters or not: an edge-triggered epoll sees a change by it.
        self.generation = 0

    def __repr__(self) -> str:
        return f"WaitQueue({self.name or id(self)}: {len(self.waiters)} waiting)"

    def wake(self, count: int | None = None, match: Callable[["Task"], bool] | None = None) -> int:
        """Wake up to ``count`` waiters (all with None), oldest first; how many were woken."""
        woken = 0
        self.generation += 1
        for task in list(self.waiters):
            if count is not None and woken >= count:
                break
            if match is not None and not match(task):
                continue
            task.wake("event")
            woken += 1
        return woken


@dataclass
class Wait:
    """What a blocked task waits for: any of ``queues`` to be woken, the ``deadline`` (ns on
    the kernel's monotonic clock), or a host descriptor in ``host`` to have its events."""

    queues: tuple[WaitQueue, ...] = ()
    deadline: int | None = None
    host: dict[int, int] = field(default_factory=dict)
    what: str = "a wait"


class Blocked(Exception):
    """A system call must wait: park the task until :attr:`wait` ends, then make the call again."""

    def __init__(self, wait: Wait) -> None:
        super().__init__(wait.what)
        self.wait = wait


class Yield(Exception):
    """The task gives up the CPU (``sched_yield``) with ``result`` as the call's value."""

    def __init__(self, result: int = 0) -> None:
        super().__init__("yield")
        self.result = result


class Deadlock(ProcessExit):
    """Every task waits for something only another guest task could do; Linux would wait for
    ever. The guest is ended as if killed (SIGKILL, status 137), with a reason naming each
    task and what it waits on, rather than hanging the sandbox."""

    def __init__(self, what: str) -> None:
        super().__init__(signal=9, reason=f"deadlock: {what}; ended with SIGKILL")


class Scheduler:
    """The guest's tasks, which of them can run, and who runs next.

    ``now`` reads the kernel's monotonic clock (ns); ``advance`` moves a virtual clock to a
    deadline (None: the clock is real and ``sleep``/``poll`` wait for it); ``poll`` waits for
    host descriptors with a timeout in ms (the kernel's HostWaits.poll).
    """

    def __init__(
        self,
        now: Callable[[], int],
        poll: Callable[[dict[int, int], int | None], dict[int, int]],
        sleep: Callable[[float], None],
        advance: Callable[[int], None] | None = None,
        seed: int | None = None,
    ) -> None:
        self.tasks: list["Task"] = []
        self._now = now
        self._poll = poll
        self._sleep = sleep
        self._advance = advance
        self._rng = random.Random(seed) if seed is not None else None
        self._next = 0  # round robin: where the search for the next task starts
        self.switches = 0
        # Told when a task becomes runnable (woken, or new) while another may be running: the
        # CPU side then gives the running one a time slice, so that the two take turns.
        self.on_runnable: Callable[["Task"], None] | None = None
        # The processes' interval timers (kernel_model.itimers.Timers): their expiries are
        # deadlines too, which send a signal rather than wake one task.
        self.timers: Any = None

    # -- the set of tasks ------------------------------------------------------------------

    def add(self, task: "Task") -> None:
        """A new task, runnable."""
        self.tasks.append(task)
        task.scheduler = self
        if self.on_runnable is not None:
            self.on_runnable(task)

    def remove(self, task: "Task") -> None:
        """A task that ended: it runs no more and waits for nothing."""
        task.unblock()
        if task in self.tasks:
            index = self.tasks.index(task)
            self.tasks.remove(task)
            if index < self._next:
                self._next -= 1

    def runnable(self) -> list["Task"]:
        """The tasks that could run now, in order."""
        return [t for t in self.tasks if t.state == "runnable"]

    # -- choosing --------------------------------------------------------------------------

    def pick(self, current: "Task | None" = None) -> "Task | None":
        """The next task to run (None: none can run now; see :meth:`idle`).

        Round robin from the task after ``current``, or a seeded random choice.
        """
        ready = self.runnable()
        if not ready:
            return None
        if self._rng is not None:
            choice = self._rng.choice(ready)
        else:
            start = self.tasks.index(current) + 1 if current is not None and current in self.tasks else self._next
            n = len(self.tasks)
            choice = next(self.tasks[(start + i) % n] for i in range(n) if self.tasks[(start + i) % n].state == "runnable")
        self._next = (self.tasks.index(choice) + 1) % max(len(self.tasks), 1)
        if choice is not current:
            self.switches += 1
        return choice

    def idle(self) -> None:
        """No task can run: wait for the earliest deadline or a host descriptor, and wake the
        tasks whose wait that ends. :class:`Deadlock` when nothing could ever end a wait."""
        blocked = [t for t in self.tasks if t.state == "blocked" and t.wait is not None]
        deadlines = [t.wait.deadline for t in blocked if t.wait.deadline is not None]  # type: ignore[union-attr]
        host: dict[int, int] = {}
        for t in blocked:
            for fd, events in t.wait.host.items():  # type: ignore[union-attr]
                host[fd] = host.get(fd, 0) | events
        timer = self.timers.next_deadline() if self.timers is not None else None
        if timer is not None:
            deadlines.append(timer)
        if not deadlines and not host:
            raise Deadlock(self.describe_waits(blocked))
        now = self._now()
        soonest = min(deadlines) if deadlines else None
        if host:
            timeout_ms = None if soonest is None else max((soonest - now + 999_999) // 1_000_000, 0)
            ready = self._poll(host, timeout_ms) if soonest is None or self._advance is None else self._poll(host, 0)
            if ready:
                for t in blocked:
                    if any(fd in ready for fd in t.wait.host):  # type: ignore[union-attr]
                        t.wake("event")
                return
        if soonest is not None:
            if self._advance is not None:
                self._advance(soonest)
            else:
                self._sleep(max(soonest - now, 0) / 1e9)  # also where an end of the run is noticed
            self.expire()

    def next_check_ns(self, poll_ns: int) -> int | None:
        """While a task runs: in how many ns to look at the waits again, the earliest deadline
        of a blocked task (0 when it has passed) or, when a task waits for a host descriptor,
        ``poll_ns`` if that is sooner; None when no blocked task waits for time or the host. A
        virtual clock does not move while a task runs: its deadlines come when every task waits."""
        host = False
        soonest = None
        for t in self.tasks:
            wait = t.wait
            if t.state != "blocked" or wait is None:
                continue
            if wait.deadline is not None and self._advance is None:
                soonest = wait.deadline if soonest is None else min(soonest, wait.deadline)
            host = host or bool(wait.host)
        timer = self.timers.next_deadline() if self.timers is not None and self._advance is None else None
        if timer is not None:
            soonest = timer if soonest is None else min(soonest, timer)
        due = None if soonest is None else max(soonest - self._now(), 0)
        if host:
            due = poll_ns if due is None else min(due, poll_ns)
        return due

    def check_waits(self) -> None:
        """Wake the tasks whose deadline has passed or whose host descriptor is ready (without
        waiting: another task can run)."""
        self.expire()
        host: dict[int, int] = {}
        blocked = [t for t in self.tasks if t.state == "blocked" and t.wait is not None and t.wait.host]
        for t in blocked:
            for fd, events in t.wait.host.items():  # type: ignore[union-attr]
                host[fd] = host.get(fd, 0) | events
        if host:
            ready = self._poll(host, 0)
            for t in blocked:
                if any(fd in ready for fd in t.wait.host):  # type: ignore[union-attr]
                    t.wake("event")

    def expire(self) -> None:
        """Wake the blocked tasks whose deadline has passed, and fire the expired interval timers."""
        now = self._now()
        if self.timers is not None:
            self.timers.fire(now)
        for t in self.tasks:
            if t.state == "blocked" and t.wait is not None and t.wait.deadline is not None and t.wait.deadline <= now:
                t.wake("timeout")

    @staticmethod
    def describe_waits(tasks: Iterable["Task"]) -> str:
        """Each task and what it waits on, in words."""
        parts = [f"{t.name()} waits on {t.wait.what}" for t in tasks if t.wait is not None]  # type: ignore[union-attr]
        if len(parts) == 1:
            return parts[0] + " (nothing else could end the wait)"
        return "; ".join(parts)
