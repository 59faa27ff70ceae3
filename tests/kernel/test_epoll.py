"""epoll, eventfd, timerfd and signalfd in the kernel model, with fake memory.

The multi-task cases play the CPU side as tests/kernel/test_tasks.py does: a call that waits
leaves its task parked, another task's call wakes it, and the call is made again.
"""

from __future__ import annotations

import os
import struct

import pytest
from fakes import AARCH64, KernelHarness

from kernel_model.clock import Clock
from kernel_model.fsnodes import HostStreamHandle, StreamHandle
from kernel_model.kernel import stream_reader
from kernel_model.linux_errno import Errno
from kernel_model.sched import Blocked
from kernel_model.seam import ProcessExit, SyscallRequest
from kernel_model.waits import HostWaits

O_NONBLOCK, O_CLOEXEC, O_RDWR, O_CREAT = 0o4000, 0o2000000, 2, 0o100
AT_FDCWD = -100
EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP = 0x1, 0x4, 0x8, 0x10, 0x2000
EPOLLEXCLUSIVE, EPOLLONESHOT, EPOLLET = 1 << 28, 1 << 30, 1 << 31
ADD, DEL, MOD = 1, 2, 3
EFD_SEMAPHORE = 1
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM = 0, 1, 7, 8
TFD_TIMER_ABSTIME = 1
SIGUSR1, SIGUSR2, SIGCHLD = 10, 12, 17
SIG_BLOCK = 0
SEC = 10**9


def start(kh: KernelHarness, name: str, *args: int) -> int | Blocked:
    """Make a call as the current task; a call that waits leaves it parked and returns the wait."""
    raw = tuple(a & 0xFFFFFFFFFFFFFFFF for a in args) + (0,) * (6 - len(args))
    req = SyscallRequest(kh.kernel.arch.name, 0, name, raw, kh.memory, cpu=kh.cpu)
    try:
        value = kh.kernel.dispatch(req)
    except Blocked as b:
        kh.kernel.current.block(b.wait)
        return b
    kh.kernel.current.finish_call()
    return value


def make_pipe(kh: KernelHarness, flags: int = 0) -> tuple[int, int]:
    fds = kh.buffer(8)
    assert kh.call("pipe2", fds, flags) == 0
    return struct.unpack("<ii", kh.read(fds, 8))


def u64(value: int) -> bytes:
    return struct.pack("<Q", value)


def read_u64(kh: KernelHarness, fd: int) -> int:
    buf = kh.buffer(8)
    n = kh.call("read", fd, buf, 8)
    return n if n < 0 else struct.unpack("<Q", kh.read(buf, 8))[0]


def ctl(kh: KernelHarness, ep: int, op: int, fd: int, events: int = EPOLLIN, data: int | None = None) -> int:
    packed = struct.pack("<IQ", events, fd if data is None else data)
    if kh.kernel.arch.name != "x86_64":
        packed = struct.pack("<IIQ", events, 0, fd if data is None else data)
    return kh.call("epoll_ctl", ep, op, fd, kh.put(packed))


def wait(kh: KernelHarness, ep: int, maxevents: int = 8, timeout: int = 0) -> list[tuple[int, int]]:
    """epoll_wait's events as (events, data) pairs."""
    size = 12 if kh.kernel.arch.name == "x86_64" else 16
    out = kh.buffer(size * maxevents)
    n = kh.call("epoll_pwait", ep, out, maxevents, timeout, 0, 8)
    assert n >= 0, Errno(-n)
    raw = kh.read(out, size * n)
    fmt = "<IQ" if size == 12 else "<IIQ"
    return [(f[0], f[-1]) for f in struct.iter_unpack(fmt, raw)]


# -- eventfd ---------------------------------------------------------------------------------


def test_an_eventfd_counts_what_is_written_and_a_read_takes_it_all():
    kh = KernelHarness()
    efd = kh.call("eventfd2", 3, O_NONBLOCK)
    assert kh.call("write", efd, kh.put(u64(4)), 8) == 8
    assert read_u64(kh, efd) == 7
    assert read_u64(kh, efd) == -Errno.EAGAIN
    assert kh.call("write", efd, kh.put(u64(0)), 8) == 8 and read_u64(kh, efd) == -Errno.EAGAIN


def test_an_eventfd_semaphore_gives_one_at_a_time():
    kh = KernelHarness()
    efd = kh.call("eventfd2", 2, EFD_SEMAPHORE | O_NONBLOCK)
    assert [read_u64(kh, efd) for _ in range(3)] == [1, 1, -Errno.EAGAIN]


def test_eventfd_reads_and_writes_need_eight_bytes_and_refuse_the_largest_value():
    kh = KernelHarness()
    efd = kh.call("eventfd", 0)
    assert kh.errno("read", efd, kh.buffer(8), 4) is Errno.EINVAL
    assert kh.errno("write", efd, kh.put(u64(1)), 7) is Errno.EINVAL
    assert kh.errno("write", efd, kh.put(u64(2**64 - 1)), 8) is Errno.EINVAL
    assert kh.call("write", efd, kh.put(u64(1) + bytes(8)), 16) == 8  # only the first 8 count
    nb = kh.call("eventfd2", 0, O_NONBLOCK)
    assert kh.call("write", nb, kh.put(u64(2**64 - 2)), 8) == 8
    assert kh.errno("write", nb, kh.put(u64(1)), 8) is Errno.EAGAIN  # it would reach 2**64 - 1


def test_eventfd2_flags():
    kh = KernelHarness()
    assert kh.errno("eventfd2", 0, 0x10) is Errno.EINVAL
    fd = kh.call("eventfd2", 0, O_CLOEXEC)
    assert kh.call("fcntl", fd, 1) == 1  # F_GETFD: FD_CLOEXEC
    assert kh.call("fcntl", fd, 3) & O_NONBLOCK == 0 and kh.call("fcntl", fd, 3) & 3 == O_RDWR
    assert kh.kernel.fds.get(fd).handle.proc_name() == "anon_inode:[eventfd]"


def test_a_blocking_eventfd_read_parks_the_task_until_another_writes():
    kh = KernelHarness()
    efd = kh.call("eventfd", 0)
    child = kh.call("fork")
    kh.as_task(child)
    buf = kh.buffer(8)
    assert isinstance(start(kh, "read", efd, buf, 8), Blocked)
    assert kh.task(child).state == "blocked"
    kh.as_task(1000)
    assert kh.call("write", efd, kh.put(u64(9)), 8) == 8
    assert kh.task(child).state == "runnable"
    kh.as_task(child)
    assert start(kh, "read", efd, buf, 8) == 8 and kh.read(buf, 8) == u64(9)


def test_poll_sees_an_eventfd():
    kh = KernelHarness()
    efd = kh.call("eventfd2", 0, 0)
    pfd = kh.put(struct.pack("<ihh", efd, 1 | 4, 0))
    assert kh.call("poll", pfd, 1, 0) == 1 and struct.unpack("<ihh", kh.read(pfd, 8))[2] == 4
    kh.call("write", efd, kh.put(u64(1)), 8)
    assert kh.call("poll", pfd, 1, 0) == 1 and struct.unpack("<ihh", kh.read(pfd, 8))[2] == 5


# -- epoll: the interest list ------------------------------------------------------------------


def test_epoll_create_arguments():
    kh = KernelHarness()
    assert kh.errno("epoll_create", 0) is Errno.EINVAL
    assert kh.errno("epoll_create", -1) is Errno.EINVAL
    assert kh.call("epoll_create", 1) >= 0
    assert kh.errno("epoll_create1", 1) is Errno.EINVAL
    ep = kh.call("epoll_create1", O_CLOEXEC)
    assert kh.call("fcntl", ep, 1) == 1
    assert kh.errno("read", ep, kh.buffer(8), 8) is Errno.EINVAL


def test_epoll_ctl_errors_are_linux_s():
    kh = KernelHarness()
    ep = kh.call("epoll_create1", 0)
    r, w = make_pipe(kh)
    assert ctl(kh, ep, ADD, r) == 0
    assert ctl(kh, ep, ADD, r) == -Errno.EEXIST
    assert ctl(kh, ep, MOD, w) == -Errno.ENOENT
    assert ctl(kh, ep, DEL, w) == -Errno.ENOENT
    assert ctl(kh, ep, 7, r) == -Errno.EINVAL
    assert ctl(kh, ep, ADD, ep) == -Errno.EINVAL  # itself
    assert ctl(kh, r, ADD, w) == -Errno.EINVAL  # not an epoll
    assert ctl(kh, ep, ADD, 99) == -Errno.EBADF
    assert ctl(kh, 99, ADD, r) == -Errno.EBADF
    assert kh.errno("epoll_ctl", ep, ADD, w, 0) is Errno.EFAULT
    assert kh.call("epoll_ctl", ep, DEL, r, 0) == 0  # DEL reads no event
    f = kh.call("openat", AT_FDCWD, kh.put("/tmp/plain"), O_CREAT | O_RDWR, 0o600)
    assert f >= 0 and ctl(kh, ep, ADD, f) == -Errno.EPERM  # a regular file has no poll


def test_epollexclusive_is_for_add_only_and_a_few_events():
    kh = KernelHarness()
    ep, inner = kh.call("epoll_create1", 0), kh.call("epoll_create1", 0)
    r, w = make_pipe(kh)
    assert ctl(kh, ep, ADD, r, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT) == -Errno.EINVAL
    assert ctl(kh, ep, ADD, inner, EPOLLIN | EPOLLEXCLUSIVE) == -Errno.EINVAL
    assert ctl(kh, ep, ADD, r, EPOLLIN | EPOLLEXCLUSIVE | EPOLLET) == 0
    assert ctl(kh, ep, MOD, r, EPOLLIN) == -Errno.EINVAL  # an exclusive entry cannot change
    assert ctl(kh, ep, ADD, w, EPOLLOUT) == 0
    assert ctl(kh, ep, MOD, w, EPOLLOUT | EPOLLEXCLUSIVE) == -Errno.EINVAL


def test_epoll_fds_nest_but_not_in_a_loop():
    kh = KernelHarness()
    outer, inner = kh.call("epoll_create1", 0), kh.call("epoll_create1", 0)
    r, w = make_pipe(kh)
    assert ctl(kh, inner, ADD, r) == 0 and ctl(kh, outer, ADD, inner, EPOLLIN, 77) == 0
    assert ctl(kh, inner, ADD, outer) == -Errno.ELOOP
    assert wait(kh, outer) == []
    kh.call("write", w, kh.put(b"x"), 1)
    assert wait(kh, outer) == [(EPOLLIN, 77)]
    assert wait(kh, inner) == [(EPOLLIN, r)]


# -- epoll: readiness --------------------------------------------------------------------------


def test_level_triggered_reports_while_ready():
    kh = KernelHarness()
    ep = kh.call("epoll_create1", 0)
    r, w = make_pipe(kh)
    ctl(kh, ep, ADD, r, EPOLLIN, 0x1122334455667788)
    ctl(kh, ep, ADD, w, EPOLLOUT)
    assert wait(kh, ep) == [(EPOLLOUT, w)]
    kh.call("write", w, kh.put(b"ab"), 2)
    assert sorted(wait(kh, ep)) == [(EPOLLIN, 0x1122334455667788), (EPOLLOUT, w)]
    assert (EPOLLIN, 0x1122334455667788) in wait(kh, ep)  # still there


def test_a_small_maxevents_takes_turns():
    kh = KernelHarness()
    ep = kh.call("epoll_create1", 0)
    fds = [kh.call("eventfd2", 1, 0) for _ in range(3)]
    for fd in fds:
        ctl(kh, ep, ADD, fd)
    assert [wait(kh, ep, 1)[0][1] for _ in range(4)] == [fds[0], fds[1], fds[2], fds[0]]
    assert kh.errno("epoll_wait", ep, kh.buffer(16), 0, 0) is Errno.EINVAL
    assert kh.errno("epoll_wait", 0, kh.buffer(16), 1, 0) is Errno.EINVAL  # not an epoll
    assert kh.errno("epoll_wait", 99, kh.buffer(16), 1, 0) is Errno.EBADF


def test_edge_triggered_reports_each_change_once():
    kh = KernelHarness()
    ep = kh.call("epoll_create1", 0)
    r, w = make_pipe(kh, O_NONBLOCK)
    ctl(kh, ep, ADD, r, EPOLLIN | EPOLLET)
    assert wait(kh, ep) == []
    kh.call("write", w, kh.put(b"a"), 1)
    assert wait(kh, ep) == [(EPOLLIN, r)]
    assert wait(kh, ep) == []  # no new data: no new edge
    kh.call("write", w, kh.put(b"b"), 1)
    assert wait(kh, ep) == [(EPOLLIN, r)]  # new data is an edge, read or not
    kh.call("read", r, kh.buffer(8), 8)
    assert wait(kh, ep) == []
    kh.call("write", w, kh.put(b"c"), 1)
    assert wait(kh, ep) == [(EPOLLIN, r)]
    ctl(kh, ep, MOD, r, EPOLLIN | EPOLLET)
    assert wait(kh, ep) == [(EPOLLIN, r)]  # MOD looks again


def test_oneshot_fires_once_until_mod():
    kh = KernelHarness()
    ep = kh.call("epoll_create1", 0)
    efd = kh.call("eventfd2", 1, 0)
    ctl(kh, ep, ADD, efd, EPOLLIN | EPOLLONESHOT)
    assert wait(kh, ep) == [(EPOLLIN, efd)]
    assert wait(kh, ep) == []
    kh.call("write", efd, kh.put(u64(1)), 8)
    assert wait(kh, ep) == []
    assert ctl(kh, ep, ADD, efd) == -Errno.EEXIST  # still in the list
    ctl(kh, ep, MOD, efd, EPOLLIN | EPOLLONESHOT)
    assert wait(kh, ep) == [(EPOLLIN, efd)]


def test_hup_and_err_are_reported_unasked():
    kh = KernelHarness()
    ep = kh.call("epoll_create1", 0)
    r, w = make_pipe(kh)
    ctl(kh, ep, ADD, r, EPOLLRDHUP)  # not EPOLLIN: a pipe never says RDHUP
    ctl(kh, ep, ADD, w, 0)
    assert wait(kh, ep) == []
    kh.call("close", r)  # the entry goes with the read end's last close
    assert wait(kh, ep) == [(EPOLLERR, w)]
    r2, w2 = make_pipe(kh)
    ctl(kh, ep, ADD, r2, EPOLLIN)
    kh.call("write", w2, kh.put(b"z"), 1)
    kh.call("close", w2)
    assert (EPOLLIN | EPOLLHUP, r2) in wait(kh, ep)


def test_an_entry_stays_while_a_dup_keeps_the_file_open():
    kh = KernelHarness()
    ep = kh.call("epoll_create1", 0)
    efd = kh.call("eventfd2", 1, 0)
    ctl(kh, ep, ADD, efd)
    copy = kh.call("dup", efd)
    kh.call("close", efd)
    assert wait(kh, ep) == [(EPOLLIN, efd)]
    kh.call("close", copy)
    assert wait(kh, ep) == []


def test_aarch64_events_are_sixteen_bytes():
    kh = KernelHarness(AARCH64)
    ep = kh.call("epoll_create1", 0)
    efd = kh.call("eventfd2", 1, 0)
    assert ctl(kh, ep, ADD, efd, EPOLLIN, 0xABCDEF) == 0
    assert wait(kh, ep) == [(EPOLLIN, 0xABCDEF)]


def test_epoll_wait_parks_the_task_until_another_writes():
    kh = KernelHarness()
    ep = kh.call("epoll_create1", 0)
    r, w = make_pipe(kh)
    ctl(kh, ep, ADD, r)
    child = kh.call("fork")
    kh.as_task(child)
    out = kh.buffer(12)
    assert isinstance(start(kh, "epoll_wait", ep, out, 1, -1), Blocked)
    kh.as_task(1000)
    kh.call("write", w, kh.put(b"hi"), 2)
    assert kh.task(child).state == "runnable"
    kh.as_task(child)
    assert start(kh, "epoll_wait", ep, out, 1, -1) == 1
    assert struct.unpack("<IQ", kh.read(out, 12)) == (EPOLLIN, r)


def test_an_epoll_ctl_by_another_task_wakes_a_waiter():
    kh = KernelHarness()
    ep = kh.call("epoll_create1", 0)
    efd = kh.call("eventfd2", 1, 0)
    child = kh.call("fork")
    kh.as_task(child)
    assert isinstance(start(kh, "epoll_wait", ep, kh.buffer(12), 1, -1), Blocked)
    kh.as_task(1000)
    ctl(kh, ep, ADD, efd)
    assert kh.task(child).state == "runnable"


def test_an_epoll_wait_times_out_on_the_virtual_clock():
    kh = KernelHarness(clock=Clock(virtual=True))
    ep = kh.call("epoll_create1", 0)
    r, _w = make_pipe(kh)
    ctl(kh, ep, ADD, r)
    before = kh.kernel.monotonic()
    assert wait(kh, ep, 1, 1500) == []
    assert kh.kernel.monotonic() - before >= 1500 * 10**6
    ts = kh.put(struct.pack("<qq", 0, 5))
    assert kh.call("epoll_pwait2", ep, kh.buffer(12), 1, ts, 0, 8) == 0
    assert kh.errno("epoll_pwait2", ep, kh.buffer(12), 1, kh.put(struct.pack("<qq", 0, 10**9)), 0, 8) is Errno.EINVAL
    assert kh.errno("epoll_pwait", ep, kh.buffer(12), 1, 0, kh.buffer(8), 4) is Errno.EINVAL


# -- timerfd ---------------------------------------------------------------------------------


def itimerspec(value: float, interval: float = 0) -> bytes:
    def ts(x: float) -> bytes:
        ns = int(x * SEC)
        return struct.pack("<qq", ns // SEC, ns % SEC)

    return ts(interval) + ts(value)


def test_timerfd_create_arguments():
    kh = KernelHarness()
    assert kh.errno("timerfd_create", 3, 0) is Errno.EINVAL
    assert kh.errno("timerfd_create", CLOCK_MONOTONIC, 1) is Errno.EINVAL
    assert kh.errno("timerfd_create", CLOCK_REALTIME_ALARM, 0) is Errno.EPERM
    for clock in (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME):
        assert kh.call("timerfd_create", clock, O_NONBLOCK | O_CLOEXEC) >= 0


def test_a_timer_expires_and_a_read_counts_the_expirations():
    kh = KernelHarness(clock=Clock(virtual=True))
    tfd = kh.call("timerfd_create", CLOCK_MONOTONIC, 0)
    old = kh.buffer(32)
    assert kh.call("timerfd_settime", tfd, 0, kh.put(itimerspec(1, 0.5)), old) == 0
    assert kh.read(old, 32) == bytes(32)
    cur = kh.buffer(32)
    assert kh.call("timerfd_gettime", tfd, cur) == 0
    interval_s, interval_ns, value_s, value_ns = struct.unpack("<qqqq", kh.read(cur, 32))
    assert (interval_s, interval_ns) == (0, SEC // 2) and 0 < value_s * SEC + value_ns <= SEC
    start_ns = kh.kernel.monotonic()
    assert read_u64(kh, tfd) == 1  # the read waits for the first expiration
    assert kh.kernel.monotonic() - start_ns >= SEC - 10**6
    kh.kernel.clock.advance_to(kh.kernel.monotonic() + 2 * SEC)
    assert read_u64(kh, tfd) == 4  # 2 s at 0.5 s intervals
    assert kh.call("timerfd_settime", tfd, 0, kh.put(itimerspec(0)), old) == 0  # disarm
    assert struct.unpack("<qqqq", kh.read(old, 32))[:2] == (0, SEC // 2)
    assert kh.errno("read", tfd, kh.buffer(8), 4) is Errno.EINVAL


def test_an_absolute_timer_on_the_realtime_clock():
    kh = KernelHarness(clock=Clock(virtual=True))
    tfd = kh.call("timerfd_create", CLOCK_REALTIME, O_NONBLOCK)
    now = kh.kernel.clock.now(CLOCK_REALTIME)
    assert kh.call("timerfd_settime", tfd, TFD_TIMER_ABSTIME, kh.put(itimerspec((now + 3 * SEC) / SEC)), 0) == 0
    assert read_u64(kh, tfd) == -Errno.EAGAIN
    kh.kernel.clock.advance_to(kh.kernel.monotonic() + 3 * SEC)
    assert read_u64(kh, tfd) == 1 and read_u64(kh, tfd) == -Errno.EAGAIN
    past = kh.put(itimerspec(1))  # 1 s after the epoch: long past, so expired at once
    assert kh.call("timerfd_settime", tfd, TFD_TIMER_ABSTIME, past, 0) == 0 and read_u64(kh, tfd) == 1


def test_timerfd_settime_and_gettime_errors():
    kh = KernelHarness()
    tfd = kh.call("timerfd_create", CLOCK_MONOTONIC, 0)
    efd = kh.call("eventfd", 0)
    good = kh.put(itimerspec(1))
    assert kh.errno("timerfd_settime", tfd, 4, good, 0) is Errno.EINVAL
    assert kh.errno("timerfd_settime", tfd, 0, kh.put(struct.pack("<qqqq", 0, 0, 0, SEC)), 0) is Errno.EINVAL
    assert kh.errno("timerfd_settime", efd, 0, good, 0) is Errno.EINVAL
    assert kh.errno("timerfd_settime", 99, 0, good, 0) is Errno.EBADF
    assert kh.errno("timerfd_settime", tfd, 0, 0, 0) is Errno.EFAULT
    assert kh.errno("timerfd_gettime", efd, kh.buffer(32)) is Errno.EINVAL
    assert kh.errno("timerfd_gettime", tfd, 0) is Errno.EFAULT


def test_epoll_waits_for_a_timer_and_edge_triggers_on_each_expiration():
    kh = KernelHarness(clock=Clock(virtual=True))
    ep = kh.call("epoll_create1", 0)
    tfd = kh.call("timerfd_create", CLOCK_MONOTONIC, O_NONBLOCK)
    ctl(kh, ep, ADD, tfd, EPOLLIN | EPOLLET)
    kh.call("timerfd_settime", tfd, 0, kh.put(itimerspec(0.25, 0.25)), 0)
    before = kh.kernel.monotonic()
    assert wait(kh, ep, 4, -1) == [(EPOLLIN, tfd)]  # the wait's deadline is the timer's
    assert kh.kernel.monotonic() - before >= SEC // 4 - 10**6
    assert wait(kh, ep, 4, 0) == []
    assert wait(kh, ep, 4, -1) == [(EPOLLIN, tfd)]  # not read: the next expiration is an edge
    assert read_u64(kh, tfd) == 2


def test_poll_waits_for_a_timer():
    kh = KernelHarness(clock=Clock(virtual=True))
    tfd = kh.call("timerfd_create", CLOCK_BOOTTIME, 0)
    kh.call("timerfd_settime", tfd, 0, kh.put(itimerspec(2)), 0)
    pfd = kh.put(struct.pack("<ihh", tfd, 1, 0))
    assert kh.call("poll", pfd, 1, -1) == 1 and struct.unpack("<ihh", kh.read(pfd, 8))[2] == 1


# -- signalfd --------------------------------------------------------------------------------


def sigset(*sigs: int) -> int:
    return sum(1 << (s - 1) for s in sigs)


def test_signalfd_reads_a_blocked_pending_signal():
    kh = KernelHarness()
    mask = kh.put(struct.pack("<Q", sigset(SIGUSR1, SIGUSR2)))
    assert kh.call("rt_sigprocmask", SIG_BLOCK, mask, 0, 8) == 0
    sfd = kh.call("signalfd4", -1, mask, 8, O_NONBLOCK)
    assert sfd >= 0
    buf = kh.buffer(256)
    assert kh.errno("read", sfd, buf, 256) is Errno.EAGAIN
    assert kh.errno("read", sfd, buf, 100) is Errno.EINVAL
    assert kh.call("kill", 1000, SIGUSR2) == 0 and kh.call("kill", 1000, SIGUSR1) == 0
    pfd = kh.put(struct.pack("<ihh", sfd, 1, 0))
    assert kh.call("poll", pfd, 1, 0) == 1
    assert kh.call("read", sfd, buf, 256) == 256
    first = struct.unpack("<IiiII", kh.read(buf, 20))
    second = struct.unpack("<IiiII", kh.read(buf + 128, 20))
    assert first[0] == SIGUSR1 and second[0] == SIGUSR2  # lowest first
    assert first[2] == 0 and first[3] == 1000  # SI_USER, from pid 1000
    assert kh.errno("read", sfd, buf, 256) is Errno.EAGAIN
    assert kh.kernel.signals.pending == 0


def test_signalfd_arguments_and_changing_the_mask():
    kh = KernelHarness()
    mask = kh.put(struct.pack("<Q", sigset(SIGUSR1)))
    assert kh.errno("signalfd4", -1, mask, 4, 0) is Errno.EINVAL
    assert kh.errno("signalfd4", -1, mask, 8, 1) is Errno.EINVAL
    assert kh.errno("signalfd4", -1, 0, 8, 0) is Errno.EFAULT
    efd = kh.call("eventfd", 0)
    assert kh.errno("signalfd4", efd, mask, 8, 0) is Errno.EINVAL
    assert kh.errno("signalfd4", 99, mask, 8, 0) is Errno.EBADF
    sfd = kh.call("signalfd", -1, mask, 8)
    assert kh.call("signalfd", sfd, kh.put(struct.pack("<Q", sigset(SIGUSR2))), 8) == sfd
    assert kh.kernel.fds.get(sfd).handle.mask == sigset(SIGUSR2)


def test_a_signal_from_another_process_wakes_a_signalfd_reader():
    kh = KernelHarness()
    mask = kh.put(struct.pack("<Q", sigset(SIGCHLD)))
    kh.call("rt_sigprocmask", SIG_BLOCK, mask, 0, 8)
    sfd = kh.call("signalfd4", -1, mask, 8, 0)
    ep = kh.call("epoll_create1", 0)
    ctl(kh, ep, ADD, sfd, EPOLLIN | EPOLLET)
    child = kh.call("fork")
    out = kh.buffer(12)
    assert isinstance(start(kh, "epoll_wait", ep, out, 1, -1), Blocked)
    kh.as_task(child)
    kh.end(ProcessExit(3))
    assert kh.task(1000).state == "runnable"
    kh.as_task(1000)
    assert start(kh, "epoll_wait", ep, out, 1, -1) == 1
    buf = kh.buffer(128)
    assert kh.call("read", sfd, buf, 128) == 128
    signo, _errno, code, pid = struct.unpack("<IiiI", kh.read(buf, 16))
    assert (signo, pid) == (SIGCHLD, child) and code == 1  # CLD_EXITED
    assert struct.unpack("<i", kh.read(buf + 40, 4))[0] == 3  # ssi_status


# -- host descriptors and captured stdin ------------------------------------------------------


def test_epoll_on_a_captured_stdin_sees_data_then_its_end():
    kh = KernelHarness(stdin=StreamHandle(stream_reader(b"hi"), None))
    ep = kh.call("epoll_create1", 0)
    assert ctl(kh, ep, ADD, 0, EPOLLIN | EPOLLRDHUP) == 0
    assert wait(kh, ep) == [(EPOLLIN, 0)]
    kh.call("read", 0, kh.buffer(8), 8)
    assert wait(kh, ep) == [(EPOLLHUP, 0)]  # the writer has gone


def test_epoll_waits_on_a_host_stream_through_the_host():
    r, w = os.pipe()
    waits = HostWaits()
    try:
        kh = KernelHarness(stdin=HostStreamHandle(r, waits), waits=waits)
        ep = kh.call("epoll_create1", 0)
        assert ctl(kh, ep, ADD, 0, EPOLLIN | EPOLLET) == 0
        blocked = start(kh, "epoll_wait", ep, kh.buffer(12), 1, -1)
        assert isinstance(blocked, Blocked) and blocked.wait.host == {r: EPOLLIN | EPOLLERR | EPOLLHUP}
        os.write(w, b"x")
        kh.kernel.scheduler.check_waits()  # the host descriptor is ready: the task is woken
        assert kh.task(1000).state == "runnable"
        assert start(kh, "epoll_wait", ep, kh.buffer(12), 1, -1) == 1
        assert wait(kh, ep) == []  # edge-triggered: no new data, no new edge
        os.write(w, b"y")
        assert wait(kh, ep) == []  # still readable as before: the host shows no edge
        kh.call("read", 0, kh.buffer(8), 8)
        assert wait(kh, ep) == []
        os.write(w, b"z")
        assert wait(kh, ep) == [(EPOLLIN, 0)]
    finally:
        os.close(r)
        os.close(w)


# -- epoll_pwait's signal mask ----------------------------------------------------------------


def test_epoll_pwait_lets_in_a_signal_for_the_wait_only():
    from kernel_model.signals import SigAction, SignalDelivery

    kh = KernelHarness()
    kh.kernel.process.handlers[SIGUSR1] = SigAction(handler=0x400000)
    kh.call("rt_sigprocmask", SIG_BLOCK, kh.put(struct.pack("<Q", sigset(SIGUSR1))), 0, 8)
    ep = kh.call("epoll_create1", 0)
    efd = kh.call("eventfd2", 0, 0)
    ctl(kh, ep, ADD, efd)
    empty = kh.put(struct.pack("<Q", 0))
    child = kh.call("fork")
    out = kh.buffer(12)
    assert isinstance(start(kh, "epoll_pwait", ep, out, 1, -1, empty, 8), Blocked)
    assert kh.kernel.signals.blocked == 0  # the wait's mask is in place while it waits
    kh.as_task(child)
    assert kh.call("kill", 1000, SIGUSR1) == 0
    assert kh.task(1000).state == "runnable"  # the mask let it in: the wait ends
    kh.as_task(1000)
    with pytest.raises(SignalDelivery) as d:
        start(kh, "epoll_pwait", ep, out, 1, -1, empty, 8)
    assert d.value.result == -Errno.EINTR and d.value.saved_mask == sigset(SIGUSR1)  # the handler returns to it


def test_epoll_pwait_returns_events_before_a_signal_and_puts_the_mask_back():
    kh = KernelHarness()
    kh.call("rt_sigprocmask", SIG_BLOCK, kh.put(struct.pack("<Q", sigset(SIGUSR1))), 0, 8)
    kh.call("kill", 1000, SIGUSR1)  # pending, blocked
    ep = kh.call("epoll_create1", 0)
    efd = kh.call("eventfd2", 1, 0)
    ctl(kh, ep, ADD, efd)
    assert kh.call("epoll_pwait", ep, kh.buffer(12), 1, -1, kh.put(struct.pack("<Q", 0)), 8) == 1
    assert kh.kernel.signals.blocked == sigset(SIGUSR1) and kh.kernel.signals.pending == sigset(SIGUSR1)
    assert kh.errno("epoll_pwait", 99, kh.buffer(12), 1, 0, kh.put(struct.pack("<Q", 0)), 8) is Errno.EBADF
    assert kh.kernel.signals.blocked == sigset(SIGUSR1)  # a failed call leaves it as it was


def test_epoll_on_a_socket_pair_sees_the_peer_shut_down():
    kh = KernelHarness()
    sv = kh.buffer(8)
    assert kh.call("socketpair", 1, 1, 0, sv) == 0
    a, b = struct.unpack("<ii", kh.read(sv, 8))
    ep = kh.call("epoll_create1", 0)
    assert ctl(kh, ep, ADD, a, EPOLLIN | EPOLLRDHUP) == 0
    assert wait(kh, ep) == []
    kh.call("write", b, kh.put(b"hi"), 2)
    assert wait(kh, ep, 4, 1000) == [(EPOLLIN, a)]
    kh.call("shutdown", b, 1)  # SHUT_WR: a reads the end of the stream
    assert wait(kh, ep, 4, 1000) == [(EPOLLIN | EPOLLRDHUP, a)]
