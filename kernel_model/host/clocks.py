"""Host clocks: clock_gettime, clock_getres, gettimeofday, time, and the sleeps.

The Linux clock id is translated to the host's (by name off Linux); only the fixed clocks are
passed on, never a clock that names another process or a file descriptor. Sleeps are real.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from kernel_model.host.registry import host_syscall
from kernel_model.host.translate import clock_to_host
from kernel_model.clock import _NO_NSLEEP, NSEC, TIMER_ABSTIME, read_timespec, write_timespec
from kernel_model.linux_errno import Errno
from kernel_model.registry import Int, Ptr
from kernel_model.seam import KernelError, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.host.backend import HostBackend


def _now(clock_id: int) -> int:
    return time.clock_gettime_ns(clock_to_host(clock_id))


@host_syscall("clock_gettime")
def host_clock_gettime(b: "HostBackend", req: SyscallRequest, clockid: Int, tp: Ptr) -> int:
    write_timespec(b.kernel, tp, _now(clockid))
    return 0


@host_syscall("clock_getres")
def host_clock_getres(b: "HostBackend", req: SyscallRequest, clockid: Int, res: Ptr) -> int:
    resolution = round(time.clock_getres(clock_to_host(clockid)) * NSEC)
    if res:
        write_timespec(b.kernel, res, resolution)
    return 0


@host_syscall("gettimeofday")
def host_gettimeofday(b: "HostBackend", req: SyscallRequest, tv: Ptr, tz: Ptr) -> int:
    k = b.kernel
    if tv:
        ns = time.time_ns()
        k.memory.write(tv, k.structs.timeval.pack(tv_sec=ns // NSEC, tv_usec=(ns % NSEC) // 1000))
    if tz:
        k.memory.write(tz, bytes(8))  # struct timezone: the kernel's is UTC, no DST, unless set
    return 0


@host_syscall("time")
def host_time(b: "HostBackend", req: SyscallRequest, tloc: Ptr) -> int:
    k = b.kernel
    sec = time.time_ns() // NSEC
    if tloc:
        k.memory.write(tloc, sec.to_bytes(k.arch.word_size, k.structs.byteorder))
    return sec


@host_syscall("nanosleep")
def host_nanosleep(b: "HostBackend", req: SyscallRequest, duration: Ptr, rem: Ptr) -> int:
    time.sleep(read_timespec(b.kernel, duration) / NSEC)
    return 0


@host_syscall("clock_nanosleep")
def host_clock_nanosleep(b: "HostBackend", req: SyscallRequest, clockid: Int, flags: Int, request: Ptr, remain: Ptr) -> int:
    host_clock = clock_to_host(clockid)
    if clockid in _NO_NSLEEP:
        raise KernelError(Errno.EOPNOTSUPP)  # the clock exists but has no nsleep operation
    ns = read_timespec(b.kernel, request)
    if flags & TIMER_ABSTIME:
        ns = max(ns - time.clock_gettime_ns(host_clock), 0)
    time.sleep(ns / NSEC)
    return 0

