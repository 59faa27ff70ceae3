"""alarm, setitimer and getitimer in the kernel model, with a fake memory and a virtual clock."""

from __future__ import annotations

import struct

from fakes import KernelHarness

from kernel_model.clock import Clock
from kernel_model.linux_errno import Errno

ITIMER_REAL, ITIMER_VIRTUAL = 0, 1
SIGALRM = 14


def itimerval(interval_s: int, interval_us: int, value_s: int, value_us: int) -> bytes:
    return struct.pack("<qqqq", interval_s, interval_us, value_s, value_us)


def test_alarm_says_what_the_last_one_had_left_rounded_as_linux():
    kh = KernelHarness(clock=Clock(virtual=True))
    assert kh.call("alarm", 10) == 0
    kh.kernel.clock.advance_to(kh.kernel.monotonic() + 2_400_000_000)
    assert kh.call("alarm", 5) == 8  # 7.6 s left: rounded up from half a second
    kh.kernel.clock.advance_to(kh.kernel.monotonic() + 4_999_000_000)
    assert kh.call("alarm", 0) == 1  # a millisecond left still says 1
    assert kh.call("alarm", 0) == 0  # disarmed


def test_setitimer_and_getitimer_report_the_time_left_and_the_interval():
    kh = KernelHarness(clock=Clock(virtual=True))
    old = kh.buffer(32)
    assert kh.call("setitimer", ITIMER_REAL, kh.put(itimerval(0, 250000, 1, 500000)), old) == 0
    assert struct.unpack("<qqqq", kh.read(old, 32)) == (0, 0, 0, 0)
    kh.kernel.clock.advance_to(kh.kernel.monotonic() + 500_000_000)
    cur = kh.buffer(32)
    assert kh.call("getitimer", ITIMER_REAL, cur) == 0
    interval_s, interval_us, value_s, value_us = struct.unpack("<qqqq", kh.read(cur, 32))
    assert (interval_s, interval_us) == (0, 250000)
    assert 999_000 <= value_s * 1_000_000 + value_us <= 1_000_000  # a virtual clock ticks as it is read
    assert kh.errno("setitimer", 7, kh.put(itimerval(0, 0, 1, 0)), 0) is Errno.EINVAL
    assert kh.errno("setitimer", ITIMER_REAL, kh.put(itimerval(0, 0, 1, 1_000_000)), 0) is Errno.EINVAL
    assert kh.errno("getitimer", ITIMER_REAL, 8) is Errno.EFAULT
    # the CPU-time timers keep what they are set to
    assert kh.call("setitimer", ITIMER_VIRTUAL, kh.put(itimerval(0, 0, 3, 0)), 0) == 0
    assert kh.call("getitimer", ITIMER_VIRTUAL, cur) == 0
    assert struct.unpack("<qqqq", kh.read(cur, 32)) == (0, 0, 3, 0)


def test_an_expired_timer_sends_sigalrm_and_a_periodic_one_starts_again():
    kh = KernelHarness(clock=Clock(virtual=True))
    kh.call("rt_sigprocmask", 0, kh.put(struct.pack("<Q", 1 << (SIGALRM - 1))), 0, 8)  # block it: it stays pending
    assert kh.call("setitimer", ITIMER_REAL, kh.put(itimerval(1, 0, 1, 0)), 0) == 0
    scheduler = kh.kernel.scheduler
    assert scheduler.timers.next_deadline() is not None
    kh.kernel.clock.advance_to(kh.kernel.monotonic() + 1_000_000_000)
    scheduler.expire()
    assert kh.kernel.signals.pending & (1 << (SIGALRM - 1))
    cur = kh.buffer(32)
    kh.call("getitimer", ITIMER_REAL, cur)
    interval_s, _, value_s, value_us = struct.unpack("<qqqq", kh.read(cur, 32))
    assert interval_s == 1 and 0 < value_s * 1_000_000 + value_us <= 1_000_000  # armed again


def test_a_fork_child_starts_with_no_timers():
    kh = KernelHarness(clock=Clock(virtual=True))
    kh.call("alarm", 30)
    child = kh.call("fork")
    kh.as_task(child)
    assert kh.call("alarm", 0) == 0
    kh.as_task(1000)
    assert kh.call("alarm", 0) == 30
