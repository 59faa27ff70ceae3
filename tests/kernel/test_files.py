"""read/write and friends on a fake memory: the common paths and Linux's error answers."""

from __future__ import annotations

import struct

from fakes import AARCH64, KernelHarness
from kernel_model.abi import AT_FDCWD, O_APPEND, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY
from kernel_model.fsnodes import StreamHandle
from kernel_model.kernel import stream_reader
from kernel_model.linux_errno import Errno
from kernel_model.seam import PROT_READ


def captured(**kw):
    out = bytearray()

    def write(data: bytes) -> int:
        out.extend(data)
        return len(data)

    return KernelHarness(stdout=StreamHandle(None, write), **kw), out


def open_(kh, path, flags=O_RDONLY, mode=0o644):
    return kh.call("openat", AT_FDCWD, kh.put(path), flags, mode)


def test_write_to_stdout_returns_the_count():
    kh, out = captured()
    assert kh.call("write", 1, kh.put(b"hello"), 5) == 5
    assert out == b"hello"


def test_write_to_a_closed_fd_is_ebadf():
    kh, _ = captured()
    assert kh.errno("write", 42, kh.put(b"x"), 1) is Errno.EBADF
    assert kh.errno("write", -1, kh.put(b"x"), 1) is Errno.EBADF


def test_write_from_unmapped_memory_is_efault():
    kh, out = captured()
    assert kh.errno("write", 1, 0x1000, 4) is Errno.EFAULT
    assert out == b""


def test_write_of_a_partly_mapped_buffer_writes_the_mapped_head():
    kh, out = captured()
    end = kh.SCRATCH + 0x10000
    kh.memory.write(end - 3, b"abc")
    assert kh.call("write", 1, end - 3, 10) == 3
    assert out == b"abc"


def test_zero_length_write_with_a_bad_pointer_is_zero():
    kh, _ = captured()
    assert kh.call("write", 1, 0, 0) == 0


def test_read_stdin_then_eof():
    kh = KernelHarness(stdin=StreamHandle(stream_reader(b"abcdef"), None))
    buf = kh.buffer(16)
    assert kh.call("read", 0, buf, 4) == 4
    assert kh.read(buf, 4) == b"abcd"
    assert kh.call("read", 0, buf, 16) == 2
    assert kh.call("read", 0, buf, 16) == 0


def test_read_from_stdout_is_ebadf():
    kh, _ = captured()
    assert kh.errno("read", 1, kh.buffer(4), 4) is Errno.EBADF


def test_read_a_host_file(kh):
    fd = open_(kh, "data.txt")
    assert fd == 3
    buf = kh.buffer(64)
    assert kh.call("read", fd, buf, 64) == 12
    assert kh.read(buf, 12) == b"Hello world\n"
    assert kh.call("read", fd, buf, 64) == 0


def test_read_into_a_read_only_buffer_is_efault_and_keeps_the_offset(kh):
    fd = open_(kh, "data.txt")
    kh.kernel.mm.protect(kh.SCRATCH + 0x8000, 0x1000, PROT_READ)
    assert kh.errno("read", fd, kh.SCRATCH + 0x8000, 5) is Errno.EFAULT
    buf = kh.buffer(8)
    assert kh.call("read", fd, buf, 5) == 5
    assert kh.read(buf, 5) == b"Hello"


def test_read_at_eof_with_a_bad_buffer_is_zero_not_efault(kh):
    fd = open_(kh, "empty")
    assert kh.call("read", fd, 0, 10) == 0


def test_read_of_a_directory_is_eisdir(kh):
    fd = open_(kh, "sub", O_RDONLY)
    assert kh.errno("read", fd, kh.buffer(4), 4) is Errno.EISDIR


def test_pread_leaves_the_offset_alone(kh):
    fd = open_(kh, "data.txt")
    buf = kh.buffer(16)
    assert kh.call("pread64", fd, buf, 5, 6) == 5
    assert kh.read(buf, 5) == b"world"
    assert kh.call("read", fd, buf, 5) == 5
    assert kh.read(buf, 5) == b"Hello"


def test_pread_negative_offset_is_einval_and_on_a_pipe_espipe(kh):
    fd = open_(kh, "data.txt")
    assert kh.errno("pread64", fd, kh.buffer(4), 4, -1) is Errno.EINVAL
    assert kh.errno("pread64", 0, kh.buffer(4), 4, 0) is Errno.ESPIPE


def test_readv_scatters_and_writev_gathers():
    kh, out = captured()
    a, b = kh.put(b"Hel"), kh.put(b"lo!\n")
    iov = kh.put(struct.pack("<QQQQ", a, 3, b, 4))
    assert kh.call("writev", 1, iov, 2) == 7
    assert out == b"Hello!\n"


def test_readv_fills_buffers_in_order(kh):
    fd = open_(kh, "data.txt")
    a, b = kh.buffer(5), kh.buffer(16)
    iov = kh.put(struct.pack("<QQQQ", a, 5, b, 16))
    assert kh.call("readv", fd, iov, 2) == 12
    assert kh.read(a, 5) == b"Hello" and kh.read(b, 7) == b" world\n"


def test_iovec_count_limits():
    kh, _ = captured()
    assert kh.errno("writev", 1, kh.buffer(16), 1025) is Errno.EINVAL
    assert kh.errno("writev", 1, kh.buffer(16), -1) is Errno.EINVAL
    assert kh.call("writev", 1, 0, 0) == 0
    assert kh.errno("writev", 1, 0x10, 1) is Errno.EFAULT


def test_lseek_whences(kh):
    fd = open_(kh, "data.txt")
    assert kh.call("lseek", fd, 6, 0) == 6
    assert kh.call("lseek", fd, 2, 1) == 8
    assert kh.call("lseek", fd, -1, 2) == 11
    assert kh.errno("lseek", fd, -100, 0) is Errno.EINVAL
    assert kh.errno("lseek", fd, 0, 7) is Errno.EINVAL
    assert kh.errno("lseek", 0, 0, 0) is Errno.ESPIPE
    assert kh.errno("lseek", 99, 0, 0) is Errno.EBADF


def test_close_twice_is_ebadf(kh):
    fd = open_(kh, "data.txt")
    assert kh.call("close", fd) == 0
    assert kh.errno("close", fd) is Errno.EBADF


def test_lowest_free_fd_is_reused(kh):
    a = open_(kh, "data.txt")
    b = open_(kh, "data.txt")
    kh.call("close", a)
    assert open_(kh, "data.txt") == a
    assert b == a + 1


def test_fd_limit_is_emfile(hostdir):
    kh = KernelHarness(cwd=str(hostdir), max_fds=5)
    assert open_(kh, "data.txt") == 3
    assert open_(kh, "data.txt") == 4
    assert -open_(kh, "data.txt") == Errno.EMFILE


def test_fstat_regular_file_layout_x86_64(kh):
    fd = open_(kh, "data.txt")
    buf = kh.buffer(144)
    assert kh.call("fstat", fd, buf) == 0
    raw = kh.read(buf, 144)
    mode = struct.unpack_from("<I", raw, 24)[0]
    size = struct.unpack_from("<q", raw, 48)[0]
    assert mode & 0o170000 == 0o100000
    assert size == 12


def test_fstat_layout_aarch64(hostdir):
    kh = KernelHarness(AARCH64, cwd=str(hostdir))
    fd = open_(kh, "data.txt")
    buf = kh.buffer(128)
    assert kh.call("fstat", fd, buf) == 0
    raw = kh.read(buf, 128)
    mode, nlink = struct.unpack_from("<II", raw, 16)
    size = struct.unpack_from("<q", raw, 48)[0]
    assert mode & 0o170000 == 0o100000 and nlink >= 1 and size == 12


def test_fstat_bad_fd_and_bad_buffer(kh):
    assert kh.errno("fstat", 77, kh.buffer(144)) is Errno.EBADF
    assert kh.errno("fstat", 0, 0) is Errno.EFAULT


def test_ioctl_tcgets_on_a_non_terminal_is_enotty(kh):
    assert kh.errno("ioctl", 1, 0x5401, kh.buffer(64)) is Errno.ENOTTY
    assert kh.errno("ioctl", 1, 0x5413, kh.buffer(8)) is Errno.ENOTTY
    assert kh.errno("ioctl", 55, 0x5401, kh.buffer(64)) is Errno.EBADF


def test_ioctl_on_a_terminal_answers_termios_and_winsize():
    tty = StreamHandle(None, len, is_tty=True)
    kh = KernelHarness(stdout=tty, terminal_size=(40, 120))
    buf = kh.buffer(64)
    assert kh.call("ioctl", 1, 0x5401, buf) == 0
    assert kh.call("ioctl", 1, 0x5413, buf) == 0
    assert struct.unpack("<HH", kh.read(buf, 4)) == (40, 120)


def test_dup_family(kh):
    fd = open_(kh, "data.txt")
    d = kh.call("dup", fd)
    assert d == fd + 1
    assert kh.call("dup2", fd, 10) == 10
    assert kh.call("dup2", fd, fd) == fd
    assert kh.errno("dup3", fd, fd, 0) is Errno.EINVAL
    assert kh.call("dup3", fd, 12, 0o2000000) == 12
    assert kh.call("fcntl", 12, 1, 0) == 1  # F_GETFD: FD_CLOEXEC
    assert kh.call("fcntl", 10, 1, 0) == 0
    buf = kh.buffer(4)
    kh.call("read", 10, buf, 4)  # a shared offset
    kh.call("read", fd, buf, 2)
    assert kh.read(buf, 2) == b"o "


def test_fcntl_getfl_setfl(hostdir):
    kh = KernelHarness(cwd="/", mounts=[])
    kh.kernel.ns.mount("/w", __import__("kernel_model.filesystems", fromlist=["x"]).MemoryFilesystem())
    fd = open_(kh, "/w/f", O_CREAT | O_WRONLY)
    assert kh.call("fcntl", fd, 3, 0) & 3 == O_WRONLY
    assert kh.call("fcntl", fd, 4, O_APPEND) == 0
    assert kh.call("fcntl", fd, 3, 0) & O_APPEND
    assert kh.errno("fcntl", fd, 9999, 0) is Errno.EINVAL


def test_write_creates_and_appends_in_tmp():
    kh = KernelHarness()
    fd = open_(kh, "/tmp/log", O_CREAT | O_WRONLY | O_TRUNC)
    assert kh.call("write", fd, kh.put(b"one\n"), 4) == 4
    kh.call("close", fd)
    fd = open_(kh, "/tmp/log", O_WRONLY | O_APPEND)
    kh.call("write", fd, kh.put(b"two\n"), 4)
    kh.call("close", fd)
    fd = open_(kh, "/tmp/log", O_RDWR)
    buf = kh.buffer(16)
    assert kh.call("read", fd, buf, 16) == 8
    assert kh.read(buf, 8) == b"one\ntwo\n"
    assert kh.call("ftruncate", fd, 3) == 0
    assert kh.call("pread64", fd, buf, 16, 0) == 3
    assert kh.errno("ftruncate", fd, -1) is Errno.EINVAL


def test_ftruncate_of_a_read_only_fd_is_einval(kh):
    fd = open_(kh, "data.txt")
    assert kh.errno("ftruncate", fd, 0) is Errno.EINVAL
