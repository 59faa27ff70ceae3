"""Time: the clocks, sleeping, and the calls that read them.

A :class:`Clock` is either the host's real time or a virtual time that starts at a fixed
instant and only moves when the guest sleeps, so that runs are reproducible.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from kernel_model.linux_errno import Errno
from kernel_model.registry import Int, Ptr, syscall
from kernel_model.seam import KernelError, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel
    from kernel_model.structs import StructLayout

CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1
CLOCK_PROCESS_CPUTIME_ID = 2
CLOCK_THREAD_CPUTIME_ID = 3
CLOCK_MONOTONIC_RAW = 4
CLOCK_REALTIME_COARSE = 5
CLOCK_MONOTONIC_COARSE = 6
CLOCK_BOOTTIME = 7
CLOCK_REALTIME_ALARM = 8
CLOCK_BOOTTIME_ALARM = 9
CLOCK_TAI = 11

_REALTIME_LIKE = {CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_REALTIME_ALARM, CLOCK_TAI}
_CPU = {CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID}
VALID_CLOCKS = _REALTIME_LIKE | _CPU | {
    CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM
}
# Clocks the kernel can read but not sleep on (their k_clock has no nsleep).
_NO_NSLEEP = {CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE}
TIMER_ABSTIME = 1
NSEC = 1_000_000_000
CLOCK_TICKS = 100  # USER_HZ, what times() counts in
# The frequencies of the counters user code reads without a system call (see
# Clock.counter), as the machines they stand for have them: an x86 TSC of a 3 GHz CPU, the
# aarch64 generic timer of QEMU's virt board (cntfrq_el0), and its riscv timebase.
TSC_HZ = 3_000_000_000
CNTFRQ_HZ = 62_500_000
RISCV_TIMEBASE_HZ = 10_000_000


def _host_clock(clock_id: int) -> int:
    """A host monotonic clock by its Linux id (the nearest the host has, off Linux)."""
    from kernel_model.host.translate import clock_to_host

    return time.clock_gettime_ns(clock_to_host(clock_id))


class Clock:
    """The time source of a sandbox: the host's clocks, or a virtual one when ``virtual``.

    The virtual clock starts at ``epoch_ns`` (realtime) and at 0 (monotonic) and advances by
    exactly what the guest sleeps plus ``tick_ns`` per reading, never by host time.
    """

    def __init__(self, virtual: bool = False, epoch_ns: int = 1_767_225_600 * NSEC, tick_ns: int = 1000) -> None:
        self.virtual = virtual
        # The host's own clocks as they are (host mode): its monotonic time since its boot.
        self.host = False
        self._epoch = epoch_ns
        self._tick = tick_ns
        self._elapsed = 0
        self._mono0 = time.monotonic_ns()
        self._cpu0 = time.process_time_ns()

    def now(self, clock_id: int) -> int:
        """Nanoseconds on ``clock_id`` (EINVAL for an unknown clock)."""
        if clock_id not in VALID_CLOCKS:
            raise KernelError(Errno.EINVAL)
        if self.virtual:
            self._elapsed += self._tick
            if clock_id in _REALTIME_LIKE:
                return self._epoch + self._elapsed
            return self._elapsed
        if clock_id in _REALTIME_LIKE:
            return time.time_ns()
        if self.host and clock_id not in _CPU:
            return _host_clock(clock_id)
        if clock_id in _CPU:
            cpu = time.process_time_ns()
            if cpu < self._cpu0:
                self._cpu0 = 0  # a forked child (host mode's confined run) counts from its own start
            return cpu - self._cpu0
        # The guest's monotonic clocks count from the sandbox's start, like a freshly booted box.
        return time.monotonic_ns() - self._mono0 + NSEC

    def counter(self, hz: int) -> int:
        """The monotonic clock as a counter ticking ``hz`` times a second: what x86 ``rdtsc``,
        aarch64 ``cntvct_el0`` and riscv ``rdtime`` read. It agrees with
        ``clock_gettime(CLOCK_MONOTONIC)`` scaled by ``hz``, never goes back, and on a
        virtual clock it is as reproducible as the clock (each reading is one tick later)."""
        return self.now(CLOCK_MONOTONIC) * hz // NSEC

    def advance_to(self, monotonic_ns: int) -> None:
        """A virtual clock: let time pass until its monotonic reading is ``monotonic_ns``."""
        if self.virtual and monotonic_ns > self._elapsed:
            self._elapsed = monotonic_ns

    def sleep(self, ns: int, wait: Callable[[float], None] = time.sleep) -> None:
        """Let ``ns`` nanoseconds pass; a real clock waits with ``wait(seconds)``."""
        if self.virtual:
            self._elapsed += ns
        elif ns > 0:
            wait(ns / NSEC)

    def resolution(self, clock_id: int) -> int:
        """The clock's resolution in nanoseconds."""
        if clock_id not in VALID_CLOCKS:
            raise KernelError(Errno.EINVAL)
        if clock_id in (CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE):
            return 4_000_000
        return 1


def read_timespec(k: "Kernel", ptr: int) -> int:
    """A ``struct timespec`` from guest memory as nanoseconds (EINVAL when malformed)."""
    ts = k.structs.timespec.unpack(k.memory.read(ptr, k.structs.timespec.size))
    return timespec_ns(ts["tv_sec"], ts["tv_nsec"])


def timespec_ns(sec: int, nsec: int) -> int:
    """A duration or instant from a timespec's fields; EINVAL when they are out of range."""
    if sec < 0 or not 0 <= nsec < NSEC:
        raise KernelError(Errno.EINVAL)
    return sec * NSEC + nsec


def write_timespec(k: "Kernel", ptr: int, ns: int, layout: "StructLayout | None" = None) -> None:
    """Write nanoseconds as a ``struct timespec`` (or ``layout``: the *_time64 calls' one)."""
    layout = layout or k.structs.timespec
    k.memory.write(ptr, layout.pack(tv_sec=ns // NSEC, tv_nsec=ns % NSEC))


@syscall("clock_gettime")
def sys_clock_gettime(k: "Kernel", req: SyscallRequest, clockid: Int, tp: Ptr) -> int:
    return clock_gettime(k, clockid, tp)


def clock_gettime(k: "Kernel", clockid: int, tp: int, layout: "StructLayout | None" = None) -> int:
    """clock_gettime with the timespec layout the call uses (32-bit arches have two)."""
    write_timespec(k, tp, k.clock.now(clockid), layout)
    return 0


@syscall("clock_getres")
def sys_clock_getres(k: "Kernel", req: SyscallRequest, clockid: Int, res: Ptr) -> int:
    return clock_getres(k, clockid, res)


def clock_getres(k: "Kernel", clockid: int, res: int, layout: "StructLayout | None" = None) -> int:
    """clock_getres with the timespec layout the call uses."""
    ns = k.clock.resolution(clockid)
    if res:
        write_timespec(k, res, ns, layout)
    return 0


@syscall("gettimeofday")
def sys_gettimeofday(k: "Kernel", req: SyscallRequest, tv: Ptr, tz: Ptr) -> int:
    if tv:
        ns = k.clock.now(CLOCK_REALTIME)
        k.memory.write(tv, k.structs.timeval.pack(tv_sec=ns // NSEC, tv_usec=(ns % NSEC) // 1000))
    if tz:
        k.memory.write(tz, bytes(8))  # struct timezone: UTC, no DST
    return 0


@syscall("time")
def sys_time(k: "Kernel", req: SyscallRequest, tloc: Ptr) -> int:
    sec = k.clock.now(CLOCK_REALTIME) // NSEC
    if tloc:
        k.memory.write(tloc, sec.to_bytes(k.arch.word_size, "big" if k.arch.big_endian else "little"))
    return sec


@syscall("nanosleep")
def sys_nanosleep(k: "Kernel", req: SyscallRequest, duration: Ptr, rem: Ptr) -> int:
    k.sleep(read_timespec(k, duration))
    return 0


@syscall("clock_nanosleep")
def sys_clock_nanosleep(k: "Kernel", req: SyscallRequest, clockid: Int, flags: Int, request: Ptr, remain: Ptr) -> int:
    return clock_nanosleep(k, clockid, flags, lambda: read_timespec(k, request))


def clock_nanosleep(k: "Kernel", clockid: int, flags: int, read_request: Callable[[], int]) -> int:
    """clock_nanosleep once the clock is checked; ``read_request`` reads the time asked for."""
    if clockid not in VALID_CLOCKS:
        raise KernelError(Errno.EINVAL)
    if clockid in _NO_NSLEEP:
        raise KernelError(Errno.EOPNOTSUPP)  # the clock exists but has no nsleep operation
    ns = read_request()
    if flags & TIMER_ABSTIME:
        ns = max(ns - k.clock.now(clockid), 0)
    k.sleep(ns)
    return 0


def write_remaining(k: "Kernel", req: SyscallRequest, deadline: int | None) -> None:
    """A sleep a signal handler interrupted (EINTR): write the time it had left to ``rem``, as
    ``nanosleep`` and a relative ``clock_nanosleep`` do (an absolute one has none to write)."""
    if deadline is None:
        return
    layout = None
    if req.name == "nanosleep":
        rem = req.args[1]
    elif req.name in ("clock_nanosleep", "clock_nanosleep_time64"):
        if req.args[1] & TIMER_ABSTIME:
            return
        rem = req.args[3]
        layout = k.structs.timespec64 if req.name.endswith("_time64") else None
    else:
        return
    if rem:
        try:
            write_timespec(k, rem, max(deadline - k.monotonic(), 0), layout)
        except KernelError:
            pass  # an unwritable rem: Linux gives EFAULT only when it cannot; the EINTR stands


@syscall("times")
def sys_times(k: "Kernel", req: SyscallRequest, buf: Ptr) -> int:
    ticks = k.clock.now(CLOCK_PROCESS_CPUTIME_ID) * CLOCK_TICKS // NSEC
    if buf:
        word = k.structs.word
        import struct

        k.memory.write(buf, struct.pack(k.structs.endian + word * 4, ticks, 0, 0, 0))
    return k.clock.now(CLOCK_MONOTONIC) * CLOCK_TICKS // NSEC
