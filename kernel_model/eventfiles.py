"""Files that are events: ``eventfd`` (a counter), ``timerfd`` (a timer's expirations) and
``signalfd`` (the caller's pending signals).

Each is an anonymous-inode file read and polled like a pipe: a read that finds nothing waits
(parking the task; another runs) unless the descriptor is non-blocking (``EAGAIN``), and poll,
select and epoll see it ready through the same :meth:`Handle.poll` and wait sources. A write to
an eventfd wakes its readers through its wait queue; a timer wakes a waiter with a deadline,
the time of its next expiration; a signal posted to a process wakes the waiters of its
signalfds (:attr:`Process.signal_events`).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from kernel_model.abi import O_CLOEXEC, O_NONBLOCK, O_RDWR
from kernel_model.clock import (
    CLOCK_BOOTTIME,
    CLOCK_BOOTTIME_ALARM,
    CLOCK_MONOTONIC,
    CLOCK_REALTIME,
    CLOCK_REALTIME_ALARM,
    NSEC,
    timespec_ns,
)
from kernel_model.fdtable import OpenFile
from kernel_model.fsnodes import POLLERR, READABLE, WRITABLE, Handle, StatInfo, WouldBlock, makedev
from kernel_model.linux_errno import Errno
from kernel_model.registry import Fd, Int, Ptr, Size, UInt, syscall
from kernel_model.sched import WaitQueue
from kernel_model.seam import KernelError, SyscallRequest
from kernel_model.signals import _UNBLOCKABLE, SI_USER, SIGSET_SIZE

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

ANON_INODE_DEV = makedev(0, 14)
ANON_INODE_INO = 1025  # every anonymous-inode file shares one inode, as on Linux
U64_MAX = (1 << 64) - 1


class AnonHandle(Handle):
    """A file on the anonymous inode (``anon_inode:[kind]``): no offset, no path."""

    seekable = False
    kind = "anon"

    def stat(self) -> StatInfo:
        return StatInfo(mode=0o600, ino=ANON_INODE_INO, dev=ANON_INODE_DEV, blksize=4096)

    def proc_name(self) -> str | None:
        return f"anon_inode:[{self.kind}]"


def install_anon(k: "Kernel", handle: Handle, cloexec: bool, nonblock: bool, flags: int = O_RDWR) -> int:
    """Give a new anonymous file a descriptor."""
    of = OpenFile(handle, flags | (O_NONBLOCK if nonblock else 0), "")
    try:
        return k.fds.install(of, cloexec=cloexec)
    except KernelError:
        handle.close()
        raise


def _create_flags(k: "Kernel", flags: int, extra: int = 0) -> tuple[bool, bool]:
    """(cloexec, nonblock) from flags in the guest's O_CLOEXEC/O_NONBLOCK bits; EINVAL for
    any other bit than those and ``extra``."""
    canonical = k.abi.open_flags_in((flags & ~extra) & 0xFFFFFFFF)
    if canonical & ~(O_CLOEXEC | O_NONBLOCK):
        raise KernelError(Errno.EINVAL)
    return bool(canonical & O_CLOEXEC), bool(canonical & O_NONBLOCK)


# -- eventfd ---------------------------------------------------------------------------------

EFD_SEMAPHORE = 1


class EventFd(AnonHandle):
    """A 64-bit counter: a write adds to it, a read takes it (or one, as a semaphore)."""

    kind = "eventfd"

    def __init__(self, count: int, semaphore: bool, byteorder: str) -> None:
        self.count = count
        self.semaphore = semaphore
        self.byteorder = byteorder
        self.changed = WaitQueue("an eventfd to change")

    def pread(self, size: int, offset: int) -> bytes:
        if size < 8:
            raise KernelError(Errno.EINVAL)
        if self.count == 0:
            raise WouldBlock("a read of an eventfd whose count is 0", (self.changed,))
        value = 1 if self.semaphore else self.count
        self.count -= value
        self.changed.wake()
        return value.to_bytes(8, self.byteorder)

    def pwrite(self, data: bytes, offset: int) -> int:
        if len(data) < 8:
            raise KernelError(Errno.EINVAL)
        value = int.from_bytes(data[:8], self.byteorder)
        if value == U64_MAX:
            raise KernelError(Errno.EINVAL)
        if U64_MAX - self.count <= value:
            raise WouldBlock("a write to an eventfd whose count would overflow", (self.changed,))
        if value:
            self.count += value
            self.changed.wake()
        return 8

    def poll(self) -> int:
        ready = READABLE if self.count else 0
        if self.count == U64_MAX:
            ready |= POLLERR
        if self.count < U64_MAX - 1:
            ready |= WRITABLE
        return ready

    def waiters(self) -> tuple:
        return (self.changed,)


@syscall("eventfd2")
def sys_eventfd2(k: "Kernel", req: SyscallRequest, initval: UInt, flags: Int) -> int:
    cloexec, nonblock = _create_flags(k, flags, EFD_SEMAPHORE)
    return install_anon(k, EventFd(initval & 0xFFFFFFFF, bool(flags & EFD_SEMAPHORE), k.structs.byteorder),
                        cloexec, nonblock)


@syscall("eventfd")
def sys_eventfd(k: "Kernel", req: SyscallRequest, initval: UInt) -> int:
    return sys_eventfd2(k, req, initval, 0)


# -- timerfd ---------------------------------------------------------------------------------

TFD_TIMER_ABSTIME = 1
TFD_TIMER_CANCEL_ON_SET = 2
TIMERFD_CLOCKS = (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM)
_CLOCK_OF = {CLOCK_REALTIME_ALARM: CLOCK_REALTIME, CLOCK_BOOTTIME_ALARM: CLOCK_BOOTTIME}


class TimerFd(AnonHandle):
    """A timer on a clock: armed with a first expiration and an interval; a read takes the
    number of expirations since the last read, as a u64."""

    kind = "timerfd"

    def __init__(self, k: "Kernel", clock_id: int) -> None:
        self.kernel = k
        self.clock_id = _CLOCK_OF.get(clock_id, clock_id)
        self.expires: int | None = None  # the next expiration on the clock (ns), None: disarmed
        self.interval = 0
        self.ticks = 0  # expirations not read yet
        self.total = 0  # expirations ever (an edge-triggered epoll sees each)
        self.changed = WaitQueue("a timerfd to be set")

    def now(self) -> int:
        """The timer's clock now (ns)."""
        return self.kernel.clock.now(self.clock_id)

    def update(self) -> None:
        """Count the expirations that have come."""
        if self.expires is None:
            return
        now = self.now()
        if now < self.expires:
            return
        if self.interval:
            n = 1 + (now - self.expires) // self.interval
            self.expires += n * self.interval
        else:
            n = 1
            self.expires = None
        self.ticks += n
        self.total += n

    def set(self, value_ns: int, interval_ns: int, absolute: bool) -> None:
        """Arm (or with 0, disarm) the timer; the expirations not read are dropped."""
        self.ticks = 0
        self.interval = interval_ns
        if value_ns == 0:
            self.expires = None
        else:
            self.expires = value_ns if absolute else self.now() + value_ns
        self.changed.wake()

    def remaining(self) -> tuple[int, int]:
        """(ns to the next expiration, interval), as timerfd_gettime reports them."""
        self.update()
        if self.expires is None:
            return 0, self.interval
        return max(self.expires - self.now(), 1), self.interval

    def deadline(self) -> int | None:
        """The next expiration on the kernel's monotonic clock (what a waiter's deadline is)."""
        if self.expires is None:
            return None
        if self.clock_id == CLOCK_MONOTONIC:
            return self.expires
        return self.kernel.monotonic() + max(self.expires - self.now(), 0)

    def pread(self, size: int, offset: int) -> bytes:
        if size < 8:
            raise KernelError(Errno.EINVAL)
        self.update()
        if not self.ticks:
            raise WouldBlock("a read of a timerfd before it expires", (self.changed,), deadline=self.deadline())
        ticks, self.ticks = self.ticks, 0
        return ticks.to_bytes(8, self.kernel.structs.byteorder)

    def poll(self) -> int:
        self.update()
        return READABLE if self.ticks else 0

    def waiters(self) -> tuple:
        return (self.changed,)

    def wait_sources(self, events: int) -> tuple[tuple, dict[int, int], int | None]:
        return (self.changed,), {}, self.deadline()

    def poll_generation(self) -> int | None:
        self.update()
        return self.changed.generation + self.total


def _timerfd(k: "Kernel", fd: int) -> TimerFd:
    handle = k.fds.get_io(fd).handle
    if not isinstance(handle, TimerFd):
        raise KernelError(Errno.EINVAL)
    return handle


@syscall("timerfd_create")
def sys_timerfd_create(k: "Kernel", req: SyscallRequest, clockid: Int, flags: Int) -> int:
    if clockid not in TIMERFD_CLOCKS:
        raise KernelError(Errno.EINVAL)
    cloexec, nonblock = _create_flags(k, flags)
    if clockid in (CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM):
        raise KernelError(Errno.EPERM)  # CAP_WAKE_ALARM, which the guest has not
    return install_anon(k, TimerFd(k, clockid), cloexec, nonblock)


def _read_itimerspec(k: "Kernel", ptr: int, layout) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    raw = k.memory.read(ptr, layout.size * 2)
    interval = layout.unpack(raw[: layout.size])
    value = layout.unpack(raw[layout.size :])
    return (value["tv_sec"], value["tv_nsec"]), (interval["tv_sec"], interval["tv_nsec"])  # type: ignore[return-value]


def _write_itimerspec(k: "Kernel", ptr: int, value: int, interval: int, layout) -> None:  # type: ignore[no-untyped-def]
    k.memory.write(ptr, layout.pack(tv_sec=interval // NSEC, tv_nsec=interval % NSEC)
                   + layout.pack(tv_sec=value // NSEC, tv_nsec=value % NSEC))


def timerfd_settime(k: "Kernel", fd: int, flags: int, new: int, old: int, layout) -> int:  # type: ignore[no-untyped-def]
    """timerfd_settime's body, with the arch's timespec ``layout`` (or timespec64's)."""
    value, interval = _read_itimerspec(k, new, layout)
    if flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET):
        raise KernelError(Errno.EINVAL)
    value_ns = timespec_ns(*value)
    interval_ns = timespec_ns(*interval)
    timer = _timerfd(k, fd)
    before = timer.remaining()
    timer.set(value_ns, interval_ns, bool(flags & TFD_TIMER_ABSTIME))
    if old:
        _write_itimerspec(k, old, before[0], before[1], layout)
    return 0


def timerfd_gettime(k: "Kernel", fd: int, cur: int, layout) -> int:  # type: ignore[no-untyped-def]
    """timerfd_gettime's body, with the arch's timespec ``layout``."""
    value, interval = _timerfd(k, fd).remaining()
    _write_itimerspec(k, cur, value, interval, layout)
    return 0


@syscall("timerfd_settime", partial="TFD_TIMER_CANCEL_ON_SET is accepted; the clock is never set, so nothing cancels")
def sys_timerfd_settime(k: "Kernel", req: SyscallRequest, fd: Fd, flags: Int, new_value: Ptr, old_value: Ptr) -> int:
    return timerfd_settime(k, fd, flags, new_value, old_value, k.structs.timespec)


@syscall("timerfd_gettime")
def sys_timerfd_gettime(k: "Kernel", req: SyscallRequest, fd: Fd, curr_value: Ptr) -> int:
    return timerfd_gettime(k, fd, curr_value, k.structs.timespec)


@syscall("timerfd_settime64", partial="as timerfd_settime")
def sys_timerfd_settime64(k: "Kernel", req: SyscallRequest, fd: Fd, flags: Int, new_value: Ptr, old_value: Ptr) -> int:
    return timerfd_settime(k, fd, flags, new_value, old_value, k.structs.timespec64 or k.structs.timespec)


@syscall("timerfd_gettime64")
def sys_timerfd_gettime64(k: "Kernel", req: SyscallRequest, fd: Fd, curr_value: Ptr) -> int:
    return timerfd_gettime(k, fd, curr_value, k.structs.timespec64 or k.structs.timespec)


# -- signalfd --------------------------------------------------------------------------------

SIGNALFD_SIGINFO_SIZE = 128
# ssi_signo errno code pid uid fd tid band overrun trapno status int ptr utime stime addr addr_lsb
_SIGINFO_FORMAT = "IiiIIiIIIIiiQQQQH"


class SignalFd(AnonHandle):
    """The pending signals of the reader (a blocked signal stays pending) in a mask: a read
    takes them, lowest first, as ``struct signalfd_siginfo`` records."""

    kind = "signalfd"

    def __init__(self, k: "Kernel", mask: int) -> None:
        self.kernel = k
        self.mask = mask
        self.changed = WaitQueue("a signalfd's mask to change")

    def _queues(self) -> tuple:
        return (self.changed, self.kernel.process.signal_events)

    def _ready(self) -> int:
        return self.kernel.signals.pending & self.mask

    def pread(self, size: int, offset: int) -> bytes:
        if size < SIGNALFD_SIGINFO_SIZE:
            raise KernelError(Errno.EINVAL)
        state = self.kernel.signals
        if not self._ready():
            raise WouldBlock("a read of a signalfd with none of its signals pending", self._queues())
        out = b""
        endian = self.kernel.structs.endian
        while len(out) + SIGNALFD_SIGINFO_SIZE <= size:
            ready = self._ready()
            if not ready:
                break
            sig = (ready & -ready).bit_length()
            state.pending &= ~(1 << (sig - 1))
            code = state.pending_codes.pop(sig, SI_USER)
            pid, uid, _how, status = state.pending_senders.pop(sig, (state.pid, state.uid, "", 0))
            record = struct.pack(endian + _SIGINFO_FORMAT, sig, 0, code, pid, uid, 0, 0, 0, 0, 0, status,
                                 0, 0, 0, 0, 0, 0)
            out += record.ljust(SIGNALFD_SIGINFO_SIZE, b"\0")
        self.changed.wake()  # taken: an edge-triggered epoll sees the next one as new
        return out

    def poll(self) -> int:
        return READABLE if self._ready() else 0

    def waiters(self) -> tuple:
        return self._queues()

    def poll_generation(self) -> int | None:
        return sum(q.generation for q in self._queues()) * 2**64 + self._ready()


@syscall("signalfd4")
def sys_signalfd4(k: "Kernel", req: SyscallRequest, fd: Int, mask: Ptr, sizemask: Size, flags: Int) -> int:
    if sizemask != SIGSET_SIZE:
        raise KernelError(Errno.EINVAL)
    wanted = int.from_bytes(k.memory.read(mask, SIGSET_SIZE), k.structs.byteorder) & ~_UNBLOCKABLE
    cloexec, nonblock = _create_flags(k, flags)
    if fd == -1:
        return install_anon(k, SignalFd(k, wanted), cloexec, nonblock)
    handle = k.fds.get_io(fd).handle
    if not isinstance(handle, SignalFd):
        raise KernelError(Errno.EINVAL)
    handle.mask = wanted
    handle.changed.wake()
    return fd


@syscall("signalfd")
def sys_signalfd(k: "Kernel", req: SyscallRequest, fd: Int, mask: Ptr, sizemask: Size) -> int:
    return sys_signalfd4(k, req, fd, mask, sizemask, 0)
