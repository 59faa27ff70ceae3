"""The output limit (RLIMIT_FSIZE's behaviour on stdout/stderr) and host waits a sandbox can end."""

from __future__ import annotations

import os
import struct
import threading
import time

import pytest

from fakes import KernelHarness
from kernel_model.clock import Clock
from kernel_model.fsnodes import HostStreamHandle, StreamHandle
from kernel_model.linux_errno import Errno
from kernel_model.seam import ProcessExit
from kernel_model.waits import HostWaits

SIGXFSZ = 25
SIG_IGN = 1


def _captured(limit: int) -> tuple[KernelHarness, bytearray]:
    out = bytearray()

    def sink(data: bytes) -> int:
        out.extend(data)
        return len(data)

    kh = KernelHarness(stdout=StreamHandle(None, sink), stderr=StreamHandle(None, sink), max_output=limit)
    return kh, out


def test_a_write_crossing_the_output_limit_is_cut_short_and_the_next_raises_sigxfsz():
    kh, out = _captured(10)
    buf = kh.put(b"0123456789abcdef")
    assert kh.call("write", 1, buf, 6) == 6
    assert kh.call("write", 2, buf, 16) == 4  # stdout and stderr share the budget
    assert bytes(out) == b"0123450123"
    ex = kh.exit_of("write", 1, buf, 1)
    assert ex.signal == SIGXFSZ and ex.wait_status == 153
    assert "output size limit" in ex.reason
    assert kh.kernel.output_limit.refused == 2


def test_with_sigxfsz_ignored_a_write_past_the_limit_is_efbig():
    kh, out = _captured(4)
    act = kh.put(struct.pack("<QQQQ", SIG_IGN, 0, 0, 0))
    assert kh.call("rt_sigaction", SIGXFSZ, act, 0, 8) == 0
    buf = kh.put(b"hello")
    assert kh.call("write", 1, buf, 5) == 4
    assert kh.errno("write", 1, buf, 5) is Errno.EFBIG
    assert kh.call("write", 1, buf, 0) == 0  # an empty write is no write past the limit
    iov = kh.put(struct.pack("<QQ", buf, 5))
    assert kh.errno("writev", 2, iov, 1) is Errno.EFBIG
    assert bytes(out) == b"hell"


def test_the_output_limit_also_holds_for_dup_and_dev_stdout():
    kh, out = _captured(3)
    act = kh.put(struct.pack("<QQQQ", SIG_IGN, 0, 0, 0))
    kh.call("rt_sigaction", SIGXFSZ, act, 0, 8)
    fd = kh.call("dup", 1)
    buf = kh.put(b"abcdef")
    assert kh.call("write", fd, buf, 2) == 2
    dev = kh.call("openat", -100, kh.put("/dev/stdout"), 1, 0)
    assert dev >= 0
    assert kh.call("write", dev, buf, 6) == 1
    assert kh.errno("write", dev, buf, 6) is Errno.EFBIG
    assert bytes(out) == b"aba"


def test_sendfile_to_limited_output_is_counted(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 100)
    out = bytearray()

    def sink(data: bytes) -> int:
        out.extend(data)
        return len(data)

    kh = KernelHarness(cwd=str(tmp_path), stdout=StreamHandle(None, sink), max_output=10)
    fd = kh.call("openat", -100, kh.put("f"), 0, 0)
    assert kh.call("sendfile", 1, fd, 0, 100) == 10
    assert kh.exit_of("sendfile", 1, fd, 0, 100).signal == SIGXFSZ
    assert len(out) == 10


def test_the_limits_count_what_they_refuse():
    kh = KernelHarness(max_fds=4, max_memory=0x10000 + 8 * 4096 + (8 << 20))
    assert kh.call("dup", 0) == 3
    assert kh.errno("dup", 0) is Errno.EMFILE
    assert kh.errno("pipe2", kh.buffer(8), 0) is Errno.EMFILE
    assert kh.kernel.fds.limit_refusals == 2
    assert kh.errno("mmap", 0, 1 << 30, 3, 0x22, -1, 0) is Errno.ENOMEM
    assert kh.kernel.mm.limit_refusals == 1


def test_a_sleep_ends_at_once_when_the_process_is_ended():
    kh = KernelHarness(clock=Clock(virtual=False))
    ts = kh.put(struct.pack("<qq", 3600, 0))
    timer = threading.Timer(0.1, kh.kernel.waits.end, [ProcessExit(signal=9, reason="timeout")])
    timer.start()
    t = time.monotonic()
    ex = kh.exit_of("nanosleep", ts, 0)
    assert time.monotonic() - t < 5
    assert (ex.signal, ex.reason) == (9, "timeout")
    timer.join()


def test_a_read_of_a_host_stream_ends_when_the_process_is_ended():
    r, w = os.pipe()  # a pipe nobody writes to: a read would wait for ever
    waits = HostWaits()
    try:
        kh = KernelHarness(stdin=HostStreamHandle(r, waits), waits=waits)
        timer = threading.Timer(0.1, waits.end, [ProcessExit(signal=9, reason="timeout")])
        timer.start()
        t = time.monotonic()
        assert kh.exit_of("read", 0, kh.buffer(16), 16).signal == 9
        assert time.monotonic() - t < 5
        timer.join()
        # ...and a poll on it too, and any later wait
        fds = kh.put(struct.pack("<iHH", 0, 1, 0))
        assert kh.exit_of("poll", fds, 1, -1).signal == 9
    finally:
        os.close(r)
        os.close(w)


def test_host_waits_that_are_not_ended_behave_as_before():
    r, w = os.pipe()
    try:
        waits = HostWaits()
        os.write(w, b"ready")
        assert waits.poll({r: 1}, 1000) == {r: 1}
        t = time.monotonic()
        assert waits.poll({w: 1}, 0) == {}  # the write end is never readable: a zero timeout returns
        waits.sleep(0.01)
        assert time.monotonic() - t < 1
        assert HostStreamHandle(r, waits).pread(16, 0) == b"ready"
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("virtual", [True, False])
def test_sleeping_on_a_clock_uses_the_waits(virtual):
    kh = KernelHarness(clock=Clock(virtual=virtual))
    kh.kernel.waits.end(ProcessExit(signal=9, reason="ended"))
    ts = kh.put(struct.pack("<qq", 0, 1000))
    if virtual:
        assert kh.call("nanosleep", ts, 0) == 0  # virtual time never waits on the host
    else:
        assert kh.exit_of("nanosleep", ts, 0).reason == "ended"


# -- /tmp holds at most half the memory limit (tmpfs's size=) ------------------------------

O_CREAT_RDWR = 0o102


def test_tmp_is_as_big_as_half_the_memory_limit_and_then_enospc():
    kh = KernelHarness(max_memory=16 << 20)
    size = 8 << 20
    fd = kh.call("openat", -100, kh.put("/tmp/big"), O_CREAT_RDWR, 0o644)
    assert fd >= 0
    assert kh.call("ftruncate", fd, size - 10) == 0
    buf = kh.put(b"x" * 100)
    assert kh.call("pwrite64", fd, buf, 100, size - 10) == 10  # what fits is written
    assert kh.errno("pwrite64", fd, buf, 100, size) is Errno.ENOSPC
    assert kh.errno("ftruncate", fd, size + 1) is Errno.ENOSPC
    assert kh.errno("ftruncate", fd, 1 << 62) is Errno.ENOSPC  # not a MemoryError in the host
    statfs = kh.buffer(120)
    assert kh.call("fstatfs", fd, statfs) == 0
    blocks, bfree = struct.unpack_from("<QQ", kh.read(statfs, 120), 16)
    assert (blocks, bfree) == (size // 4096, 0)
    # the space comes back when the file is gone: unlinked and closed
    assert kh.call("unlinkat", -100, kh.put("/tmp/big"), 0) == 0
    assert kh.errno("ftruncate", fd, size + 1) is Errno.ENOSPC  # still open
    assert kh.call("close", fd) == 0
    fd = kh.call("openat", -100, kh.put("/tmp/again"), O_CREAT_RDWR, 0o644)
    assert kh.call("ftruncate", fd, size) == 0
    assert kh.call("openat", -100, kh.put("/tmp/again"), O_CREAT_RDWR | 0o1000, 0o644) >= 0  # O_TRUNC frees it
    assert kh.call("ftruncate", fd, size) == 0


def test_tmp_without_a_memory_limit_is_one_gib():
    kh = KernelHarness(max_memory=None)
    statfs = kh.buffer(120)
    assert kh.call("statfs", kh.put("/tmp"), statfs) == 0
    assert struct.unpack_from("<Q", kh.read(statfs, 120), 16)[0] == (1 << 30) // 4096
