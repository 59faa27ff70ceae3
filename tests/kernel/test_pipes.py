"""Pipes, poll/ppoll/select, sendfile, and SIGPIPE."""

from __future__ import annotations

import struct

import pytest

from fakes import AARCH64, KernelHarness
from kernel_model.clock import Clock
from kernel_model.linux_errno import Errno
from kernel_model.process import Deadlock
from kernel_model.seam import ProcessExit

O_NONBLOCK, O_CLOEXEC = 0o4000, 0o2000000
POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 1, 4, 8, 16, 32


def make_pipe(kh: KernelHarness, flags: int = 0) -> tuple[int, int]:
    fds = kh.buffer(8)
    assert kh.call("pipe2", fds, flags) == 0
    return struct.unpack("<ii", kh.read(fds, 8))


def test_a_pipe_carries_bytes_and_ends_at_eof():
    kh = KernelHarness()
    r, w = make_pipe(kh)
    assert (r, w) == (3, 4)
    assert kh.call("write", w, kh.put(b"hello"), 5) == 5
    buf = kh.buffer(16)
    assert kh.call("read", r, buf, 3) == 3 and kh.read(buf, 3) == b"hel"
    assert kh.call("read", r, buf, 16) == 2 and kh.read(buf, 2) == b"lo"
    assert kh.call("close", w) == 0
    assert kh.call("read", r, buf, 16) == 0
    assert kh.errno("lseek", r, 0, 0) is Errno.ESPIPE
    assert kh.errno("pread64", r, buf, 1, 0) is Errno.ESPIPE
    assert kh.errno("write", r, buf, 1) is Errno.EBADF


def test_pipe_fstat_and_flags():
    kh = KernelHarness(AARCH64)
    r, w = make_pipe(kh, O_CLOEXEC | 0o4000)
    assert kh.call("fcntl", r, 1, 0) == 1  # F_GETFD: FD_CLOEXEC
    assert kh.call("fcntl", w, 3, 0) & 0o4003 == 0o4001  # F_GETFL: O_WRONLY|O_NONBLOCK
    st = kh.buffer(128)
    assert kh.call("fstat", r, st) == 0
    mode = struct.unpack_from("<I", kh.read(st, 128), 16)[0]  # aarch64 st_mode
    assert mode & 0o170000 == 0o010000
    assert kh.errno("pipe2", kh.buffer(8), 0x1234) is Errno.EINVAL
    assert kh.errno("pipe2", 0x10, 0) is Errno.EFAULT
    assert sorted(fd for fd, _ in kh.kernel.fds.items()) == [0, 1, 2, 3, 4]  # the failed call left nothing


def test_empty_pipe_reads_would_block():
    kh = KernelHarness()
    r, w = make_pipe(kh, O_NONBLOCK)
    assert kh.errno("read", r, kh.buffer(4), 4) is Errno.EAGAIN
    kh2 = KernelHarness()
    r2, _ = make_pipe(kh2)
    with pytest.raises(Deadlock) as ex:
        kh2.dispatch(_req(kh2, "read", r2, kh2.buffer(4), 4))
    assert ex.value.wait_status == 137 and "empty pipe" in ex.value.reason


def test_a_full_pipe():
    kh = KernelHarness()
    r, w = make_pipe(kh, O_NONBLOCK)
    big = kh.call("mmap", 0, 73728, 3, 0x22, -1, 0)
    assert kh.call("write", w, big, 70000) == 65536  # what fits
    assert kh.errno("write", w, big, 1) is Errno.EAGAIN
    kh.call("read", r, kh.buffer(100), 100)
    assert kh.errno("write", w, big, 200) is Errno.EAGAIN  # <= PIPE_BUF: all or nothing
    assert kh.call("write", w, big, 100) == 100


def test_writing_with_no_reader_is_sigpipe_or_epipe():
    kh = KernelHarness()
    r, w = make_pipe(kh)
    kh.call("close", r)
    ex = kh.exit_of("write", w, kh.put(b"x"), 1)
    assert ex.signal == 13 and ex.wait_status == 141
    kh.call("rt_sigaction", 13, kh.put(struct.pack("<QQQQ", 1, 0, 0, 0)), 0, 8)  # SIG_IGN
    assert kh.errno("write", w, kh.put(b"x"), 1) is Errno.EPIPE


def poll(kh: KernelHarness, entries: list[tuple[int, int]], timeout: int = 0) -> tuple[int, list[int]]:
    arr = kh.put(b"".join(struct.pack("<ihh", fd, ev, 0) for fd, ev in entries))
    n = kh.call("poll", arr, len(entries), timeout)
    raw = kh.read(arr, 8 * len(entries))
    return n, [struct.unpack_from("<ihh", raw, 8 * i)[2] for i in range(len(entries))]


def test_poll_reports_what_each_descriptor_can_do():
    kh = KernelHarness(stdin=None)
    r, w = make_pipe(kh)
    n, ev = poll(kh, [(r, POLLIN), (w, POLLOUT), (99, POLLIN), (-1, POLLIN)])
    assert n == 2 and ev == [0, POLLOUT, POLLNVAL, 0]  # nothing to read; a closed fd; a negative one
    kh.call("write", w, kh.put(b"x"), 1)
    assert poll(kh, [(r, POLLIN | POLLOUT)]) == (1, [POLLIN])
    kh.call("close", w)
    assert poll(kh, [(r, POLLIN)]) == (1, [POLLIN | POLLHUP])


def test_poll_on_captured_stdio():
    from kernel_model.fsnodes import StreamHandle
    from kernel_model.kernel import stream_reader

    kh = KernelHarness(stdin=StreamHandle(stream_reader(b"ab"), None), stdout=StreamHandle(None, len))
    assert poll(kh, [(0, POLLIN), (1, POLLOUT)]) == (2, [POLLIN, POLLOUT])
    kh.call("read", 0, kh.buffer(4), 4)
    assert poll(kh, [(0, POLLIN)]) == (1, [POLLHUP])


def test_poll_waits_out_its_timeout_and_never_for_ever():
    kh = KernelHarness(clock=Clock(virtual=True))
    r, _ = make_pipe(kh)
    before = kh.kernel.clock.now(1)
    assert poll(kh, [(r, POLLIN)], 50) == (0, [0])
    assert kh.kernel.clock.now(1) - before >= 50_000_000
    with pytest.raises(Deadlock):
        arr = kh.put(struct.pack("<ihh", r, POLLIN, 0))
        kh.dispatch(_req(kh, "poll", arr, 1, -1))
    assert kh.errno("poll", kh.buffer(8), 1 << 20, 0) is Errno.EINVAL
    assert kh.errno("poll", 0x10, 1, 0) is Errno.EFAULT


def test_ppoll_checks_its_timeout_and_mask():
    kh = KernelHarness()
    zero = kh.put(struct.pack("<qq", 0, 0))
    assert kh.call("ppoll", 0, 0, zero, 0, 0) == 0
    assert kh.errno("ppoll", 0, 0, kh.put(struct.pack("<qq", 0, 10**9)), 0, 0) is Errno.EINVAL
    assert kh.errno("ppoll", 0, 0, zero, kh.buffer(8), 4) is Errno.EINVAL


def test_select_sets_the_ready_bits():
    kh = KernelHarness()
    r, w = make_pipe(kh)
    kh.call("write", w, kh.put(b"x"), 1)
    readfds = kh.put(struct.pack("<Q", 1 << r))
    writefds = kh.put(struct.pack("<Q", 1 << w))
    tv = kh.put(struct.pack("<qq", 1, 0))
    assert kh.call("select", w + 1, readfds, writefds, 0, tv) == 2
    assert struct.unpack("<Q", kh.read(readfds, 8))[0] == 1 << r
    assert kh.errno("select", 10, kh.put(struct.pack("<Q", 1 << 9)), 0, 0, tv) is Errno.EBADF
    assert kh.errno("select", -1, 0, 0, 0, tv) is Errno.EINVAL


def test_sendfile_copies_between_descriptors(kh, hostdir):
    src = kh.call("openat", -100, kh.put("data.txt"), 0, 0)
    r, w = make_pipe(kh)
    off = kh.put(struct.pack("<q", 6))
    assert kh.call("sendfile", w, src, off, 100) == 6
    assert struct.unpack("<q", kh.read(off, 8))[0] == 12
    buf = kh.buffer(16)
    assert kh.call("read", r, buf, 16) == 6 and kh.read(buf, 6) == b"world\n"
    assert kh.call("sendfile", w, src, 0, 5) == 5  # from the file offset, which moves
    assert kh.call("lseek", src, 0, 1) == 5
    assert kh.errno("sendfile", src, w, 0, 5) is Errno.EBADF
    assert kh.errno("sendfile", w, r, off, 5) is Errno.ESPIPE


def _req(kh, name, *args):
    from kernel_model.seam import SyscallRequest

    raw = tuple(a & 0xFFFFFFFFFFFFFFFF for a in args) + (0,) * (6 - len(args))
    return SyscallRequest(kh.kernel.arch.name, 0, name, raw, kh.memory)


def test_deadlock_is_a_process_exit():
    assert issubclass(Deadlock, ProcessExit)
