"""Interval timers: ``alarm``, ``setitimer`` and ``getitimer``.

Each process has three timers (``Process.itimers``). ``ITIMER_REAL`` counts the monotonic
clock and sends the process SIGALRM when it expires (si_code SI_KERNEL, as Linux), then
starts again if it has an interval. The scheduler asks :class:`Timers` for the next expiry:
it wakes a process waiting in ``pause`` or a sleep as a task's deadline does, and stops a
task that spins without system calls, so ``alarm(1); for (;;);`` ends after a second with
"Alarm clock" as on Linux. A fork's child starts with no timers; execve keeps them.

``ITIMER_VIRTUAL`` and ``ITIMER_PROF`` count CPU time on Linux; the model keeps what they are
set to and reports it back, but they never expire (it does not count a process's CPU time
as it runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kernel_model.linux_errno import Errno
from kernel_model.registry import Int, Ptr, UInt, syscall
from kernel_model.seam import KernelError, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel
    from kernel_model.structs import StructLayout
    from kernel_model.tasks import Process

ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF = 0, 1, 2
SIGALRM = 14
SI_KERNEL = 0x80
NSEC, USEC = 1_000_000_000, 1_000


@dataclass
class ITimer:
    """One interval timer: when it expires next (monotonic ns; None: disarmed) and its interval."""

    deadline: int | None = None
    interval: int = 0
    value: int = 0  # for the CPU-time timers, which never run down: the value set


class Timers:
    """What the scheduler asks of the processes' real-time timers."""

    def __init__(self, k: "Kernel") -> None:
        self._k = k

    def next_deadline(self) -> int | None:
        """The earliest ITIMER_REAL expiry of a live process (monotonic ns), or None."""
        soonest = None
        for proc in self._k.processes.live():
            timer = proc.itimers.get(ITIMER_REAL)
            if timer is not None and timer.deadline is not None:
                soonest = timer.deadline if soonest is None else min(soonest, timer.deadline)
        return soonest

    def fire(self, now: int) -> None:
        """Send SIGALRM to each process whose real-time timer has expired; restart the periodic ones."""
        from kernel_model.lifecycle import post_signal

        for proc in self._k.processes.live():
            timer = proc.itimers.get(ITIMER_REAL)
            if timer is None or timer.deadline is None or timer.deadline > now:
                continue
            if timer.interval:
                while timer.deadline <= now:
                    timer.deadline += timer.interval
            else:
                timer.deadline = None
            post_signal(self._k, proc, SIGALRM, SI_KERNEL, 0, 0, "the expiry of an interval timer")


def _remaining(k: "Kernel", timer: ITimer | None, which: int) -> tuple[int, int]:
    """(value, interval) in ns, as getitimer reports them."""
    if timer is None:
        return 0, 0
    if which != ITIMER_REAL:
        return timer.value, timer.interval
    if timer.deadline is None:
        return 0, timer.interval
    return max(timer.deadline - k.monotonic(), 1 if timer.deadline else 0), timer.interval


def _set(k: "Kernel", proc: "Process", which: int, value: int, interval: int) -> tuple[int, int]:
    """Arm (or with ``value`` 0 disarm) a timer; return what it was."""
    old = _remaining(k, proc.itimers.get(which), which)
    if which == ITIMER_REAL:
        proc.itimers[which] = ITimer(k.monotonic() + value if value else None, interval if value else 0)
        if value:
            k.preempt()  # the CPU side looks at the deadlines again (its timer may stop this task)
    else:
        proc.itimers[which] = ITimer(None, interval if value else 0, value)
    return old


def _layout(k: "Kernel") -> "StructLayout":
    from kernel_model.struct_layouts import struct_layout

    layout = struct_layout("itimerval", k.arch)
    assert layout is not None
    return layout


def _read_itimerval(k: "Kernel", ptr: int) -> tuple[int, int]:
    layout = _layout(k)
    raw = layout.unpack(k.memory.read(ptr, layout.size))
    values = []
    for part in ("it_value", "it_interval"):
        sec, usec = raw[f"{part}.tv_sec"], raw[f"{part}.tv_usec"]
        if sec < 0 or not 0 <= usec < 1_000_000:
            raise KernelError(Errno.EINVAL)
        values.append(sec * NSEC + usec * USEC)
    return values[0], values[1]


def _write_itimerval(k: "Kernel", ptr: int, value: int, interval: int) -> None:
    def split(ns: int) -> tuple[int, int]:
        usec = (ns + USEC - 1) // USEC  # a timer that has some nanoseconds left shows a microsecond
        return usec // 1_000_000, usec % 1_000_000

    vs, vu = split(value)
    isec, iu = split(interval)
    k.memory.write(ptr, _layout(k).pack(**{
        "it_interval.tv_sec": isec, "it_interval.tv_usec": iu, "it_value.tv_sec": vs, "it_value.tv_usec": vu}))


@syscall("setitimer", partial="ITIMER_REAL sends SIGALRM; ITIMER_VIRTUAL and ITIMER_PROF are kept but never expire")
def sys_setitimer(k: "Kernel", req: SyscallRequest, which: Int, new_value: Ptr, old_value: Ptr) -> int:
    if which not in (ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF):
        raise KernelError(Errno.EINVAL)
    # a NULL new value disarms the timer, as Linux still allows (it warns once)
    value, interval = _read_itimerval(k, new_value) if new_value else (0, 0)
    if old_value:  # checked before anything changes
        k.memory.read(old_value, _layout(k).size)
    old = _set(k, k.process, which, value, interval)
    if old_value:
        _write_itimerval(k, old_value, *old)
    return 0


@syscall("getitimer", partial="ITIMER_VIRTUAL and ITIMER_PROF report what they were set to; they never run down")
def sys_getitimer(k: "Kernel", req: SyscallRequest, which: Int, curr_value: Ptr) -> int:
    if which not in (ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF):
        raise KernelError(Errno.EINVAL)
    value, interval = _remaining(k, k.process.itimers.get(which), which)
    _write_itimerval(k, curr_value, value, interval)
    return 0


@syscall("alarm")
def sys_alarm(k: "Kernel", req: SyscallRequest, seconds: UInt) -> int:
    old, _ = _set(k, k.process, ITIMER_REAL, seconds * NSEC, 0)
    # the seconds the old alarm had left, rounded as Linux's alarm_setitimer rounds them
    sec, rest = divmod(old, NSEC)
    if (not sec and rest) or rest >= NSEC // 2:
        sec += 1
    return sec
