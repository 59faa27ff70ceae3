"""Process identity, exit, uname, getrandom, time: values and error answers."""

from __future__ import annotations

import struct

import pytest

from fakes import AARCH64, KernelHarness
from kernel_model.clock import Clock
from kernel_model.linux_errno import Errno
from kernel_model.process import Identity
from kernel_model.seam import ProcessExit


def test_exit_and_exit_group_end_the_process_with_the_low_byte():
    kh = KernelHarness()
    assert kh.exit_of("exit", 3).status == 3
    assert kh.exit_of("exit_group", 256 + 7).status == 7
    assert kh.exit_of("exit_group", -1).status == 255
    assert ProcessExit(signal=11).wait_status == 139


def test_ids_come_from_the_identity():
    kh = KernelHarness(identity=Identity(pid=42, ppid=41, uid=1001, gid=1002, euid=0))
    assert kh.call("getpid") == 42
    assert kh.call("gettid") == 42
    assert kh.call("getppid") == 41
    assert kh.call("getuid") == 1001
    assert kh.call("geteuid") == 0
    assert kh.call("getgid") == 1002
    assert kh.call("getegid") == 1002


@pytest.mark.parametrize("harness,machine", [(None, b"x86_64"), (AARCH64, b"aarch64")])
def test_uname_reports_the_guest_machine(harness, machine):
    kh = KernelHarness(harness) if harness else KernelHarness()
    buf = kh.buffer(390)
    assert kh.call("uname", buf) == 0
    fields = [kh.read(buf + 65 * i, 65).split(b"\0")[0] for i in range(6)]
    assert fields[0] == b"Linux"
    assert fields[4] == machine
    assert kh.errno("uname", 0) is Errno.EFAULT


def test_getrandom_fills_and_checks_flags():
    kh = KernelHarness(random_seed=1)
    buf = kh.buffer(32)
    assert kh.call("getrandom", buf, 32, 0) == 32
    first = kh.read(buf, 32)
    assert first != bytes(32)
    assert kh.errno("getrandom", buf, 32, 0x80) is Errno.EINVAL
    assert kh.errno("getrandom", buf, 32, 6) is Errno.EINVAL
    assert kh.errno("getrandom", 0x10, 32, 0) is Errno.EFAULT
    assert kh.call("getrandom", buf, 0, 0) == 0
    again = KernelHarness(random_seed=1)
    b2 = again.buffer(32)
    again.call("getrandom", b2, 32, 0)
    assert again.read(b2, 32) == first


def test_clock_gettime_virtual_and_errors():
    kh = KernelHarness(clock=Clock(virtual=True))
    ts = kh.buffer(16)
    assert kh.call("clock_gettime", 0, ts) == 0
    sec, nsec = struct.unpack("<qq", kh.read(ts, 16))
    assert sec >= 1_767_225_600 and 0 <= nsec < 10**9
    assert kh.call("clock_gettime", 1, ts) == 0
    assert kh.errno("clock_gettime", 99, ts) is Errno.EINVAL
    assert kh.errno("clock_gettime", 0, 0) is Errno.EFAULT
    assert kh.call("clock_getres", 1, ts) == 0 and struct.unpack("<qq", kh.read(ts, 16)) == (0, 1)


def test_nanosleep_advances_virtual_time_and_validates():
    kh = KernelHarness(clock=Clock(virtual=True))
    ts = kh.buffer(16)
    kh.call("clock_gettime", 1, ts)
    before = struct.unpack("<qq", kh.read(ts, 16))
    req = kh.put(struct.pack("<qq", 5, 0))
    assert kh.call("nanosleep", req, 0) == 0
    kh.call("clock_gettime", 1, ts)
    after = struct.unpack("<qq", kh.read(ts, 16))
    assert after[0] - before[0] >= 5
    assert kh.errno("nanosleep", kh.put(struct.pack("<qq", 0, 10**9)), 0) is Errno.EINVAL
    assert kh.errno("nanosleep", kh.put(struct.pack("<qq", -1, 0)), 0) is Errno.EINVAL


def test_gettimeofday_allows_null_pointers():
    kh = KernelHarness()
    assert kh.call("gettimeofday", 0, 0) == 0
    tv = kh.buffer(16)
    assert kh.call("gettimeofday", tv, 0) == 0
    assert struct.unpack("<qq", kh.read(tv, 16))[0] > 1_600_000_000


def test_unimplemented_calls_are_enosys_and_counted():
    kh = KernelHarness()
    assert kh.errno("io_uring_setup", 1, 0) is Errno.ENOSYS
    assert kh.errno("io_uring_setup", 1, 0) is Errno.ENOSYS
    assert kh.kernel.unimplemented["io_uring_setup"] == 2
