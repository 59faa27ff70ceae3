"""/proc, the /dev links into it, statx/statfs, and changing file attributes."""

from __future__ import annotations

import os
import struct

import pytest

from fakes import KernelHarness
from kernel_model.fsnodes import BytesHandle, StatInfo
from kernel_model.linux_errno import Errno
from kernel_model.procfs import Executable
from kernel_model.process import Identity

AT_FDCWD = -100


def read_file(kh: KernelHarness, path: str) -> bytes:
    fd = kh.call("openat", AT_FDCWD, kh.put(path), 0, 0)
    assert fd >= 0, (path, fd)
    out = b""
    buf = kh.buffer(4096)
    while True:
        n = kh.call("read", fd, buf, 4096)
        if n <= 0:
            break
        out += kh.read(buf, n)
    kh.call("close", fd)
    return out


def readlink(kh: KernelHarness, path: str) -> bytes | Errno:
    buf = kh.buffer(256)
    n = kh.call("readlinkat", AT_FDCWD, kh.put(path), buf, 256)
    return kh.read(buf, n) if n >= 0 else Errno(-n)


def with_program(kh: KernelHarness, path: str = "/opt/tools/prog", data: bytes = b"\x7fELF program") -> None:
    st = StatInfo(mode=0o100755, size=len(data), ino=77)
    kh.kernel.executable = Executable(path, lambda: BytesHandle(data, st), lambda: st, name="prog")


def test_proc_self_links_to_the_pid():
    kh = KernelHarness(identity=Identity(pid=321))
    assert readlink(kh, "/proc/self") == b"321"
    assert readlink(kh, "/proc/self/cwd") == os.fsencode("/" + "/".join(kh.kernel.cwd))
    assert readlink(kh, "/proc/321/root") == b"/"


def test_proc_self_exe_names_the_program_and_opens_it_even_outside_the_mounts():
    kh = KernelHarness()
    with_program(kh)
    assert readlink(kh, "/proc/self/exe") == b"/opt/tools/prog"
    assert read_file(kh, "/proc/self/exe") == b"\x7fELF program"  # /opt is not in the guest's view
    st = kh.buffer(144)
    assert kh.call("newfstatat", AT_FDCWD, kh.put("/proc/self/exe"), st, 0) == 0
    assert struct.unpack_from("<Q", kh.read(st, 144), 8)[0] == 77  # the program's inode
    assert kh.call("newfstatat", AT_FDCWD, kh.put("/proc/self/exe"), st, 0x100) == 0  # the link itself
    assert struct.unpack_from("<I", kh.read(st, 144), 24)[0] & 0o170000 == 0o120000
    assert kh.errno("openat", AT_FDCWD, kh.put("/proc/self/exe"), 0o400000, 0) is Errno.ELOOP  # O_NOFOLLOW
    assert kh.errno("openat", AT_FDCWD, kh.put("/proc/self/exe"), 1, 0) is Errno.ETXTBSY


def test_proc_self_maps_is_the_kernels_vma_list():
    kh = KernelHarness()
    kh.call("mmap", 0, 8192, 1, 0x22, -1, 0)
    text = read_file(kh, "/proc/self/maps").decode()
    assert text.splitlines() == [v.maps_line() for v in kh.kernel.mm.vmas]
    assert any(" r--p " in line for line in text.splitlines())


def test_proc_self_fd_lists_and_reopens_descriptors():
    kh = KernelHarness()
    fds = kh.buffer(8)
    kh.call("pipe2", fds, 0)
    r, w = struct.unpack("<ii", kh.read(fds, 8))
    names = listing(kh, "/proc/self/fd")
    assert {"0", "1", "2", str(r), str(w)} <= set(names)
    assert readlink(kh, f"/proc/self/fd/{r}").startswith(b"pipe:[")
    # /dev/stdout is a link to /proc/self/fd/1, which reaches the same open file
    fd = kh.call("openat", AT_FDCWD, kh.put(f"/proc/self/fd/{w}"), 1, 0)
    assert kh.call("write", fd, kh.put(b"via proc"), 8) == 8
    kh.call("close", fd)  # closing the reopened one leaves the original open
    buf = kh.buffer(16)
    assert kh.call("read", r, buf, 16) == 8 and kh.read(buf, 8) == b"via proc"
    assert readlink(kh, "/dev/stdout") == b"/proc/self/fd/1"
    assert readlink(kh, "/dev/fd") == b"/proc/self/fd"
    assert kh.call("openat", AT_FDCWD, kh.put("/dev/stdout"), 1, 0) >= 0
    assert kh.errno("openat", AT_FDCWD, kh.put("/proc/self/fd/77"), 0, 0) is Errno.ENOENT


def listing(kh: KernelHarness, path: str) -> list[str]:
    fd = kh.call("openat", AT_FDCWD, kh.put(path), 0o200000, 0)
    buf = kh.buffer(4096)
    n = kh.call("getdents64", fd, buf, 4096)
    raw = kh.read(buf, n)
    names, pos = [], 0
    while pos < n:
        reclen = struct.unpack_from("<H", raw, pos + 16)[0]
        names.append(raw[pos + 19 : pos + reclen].split(b"\0")[0].decode())
        pos += reclen
    return names


def test_proc_cmdline_environ_comm_and_status():
    kh = KernelHarness()
    with_program(kh)
    args = kh.put(b"prog\0-x\0")
    mm = kh.kernel.mm
    mm.arg_start, mm.arg_end = args, args + 8
    mm.env_start = mm.env_end = args + 8
    assert read_file(kh, "/proc/self/cmdline") == b"prog\0-x\0"
    assert read_file(kh, "/proc/self/environ") == b""
    assert read_file(kh, "/proc/self/comm") == b"prog\n"
    status = read_file(kh, "/proc/self/status").decode()
    assert f"Pid:\t{kh.kernel.identity.pid}" in status and "Threads:\t1" in status
    assert read_file(kh, "/proc/self/stat").startswith(f"{kh.kernel.identity.pid} (prog) R".encode())
    assert b"/proc proc" in read_file(kh, "/proc/mounts")
    assert kh.errno("openat", AT_FDCWD, kh.put("/proc/self/maps"), 1, 0) is Errno.EACCES
    assert kh.errno("openat", AT_FDCWD, kh.put("/proc/4242/maps"), 0, 0) is Errno.ENOENT


def test_dev_tty_is_absent_without_a_terminal():
    kh = KernelHarness()
    assert kh.errno("openat", AT_FDCWD, kh.put("/dev/tty"), 2, 0) is Errno.ENXIO


def test_statx_fills_the_basic_fields(kh, hostdir):
    out = kh.buffer(256)
    assert kh.call("statx", AT_FDCWD, kh.put("data.txt"), 0, 0x7FF, out) == 0
    raw = kh.read(out, 256)
    mask, = struct.unpack_from("<I", raw, 0)
    mode, = struct.unpack_from("<H", raw, 28)
    size, = struct.unpack_from("<Q", raw, 40)
    host = os.stat(hostdir / "data.txt")
    assert mask == 0x7FF and mode == host.st_mode and size == 12
    assert struct.unpack_from("<q", raw, 112)[0] == int(host.st_mtime)  # stx_mtime.tv_sec
    assert kh.errno("statx", AT_FDCWD, kh.put("data.txt"), 0x6000, 0x7FF, out) is Errno.EINVAL
    assert kh.errno("statx", AT_FDCWD, kh.put("data.txt"), 0, 0x80000000, out) is Errno.EINVAL
    assert kh.errno("statx", AT_FDCWD, kh.put("nope"), 0, 0x7FF, out) is Errno.ENOENT
    assert kh.call("statx", 1, kh.put(""), 0x1000, 0x7FF, out) == 0  # AT_EMPTY_PATH: stdout


@pytest.mark.parametrize("path,magic", [("/proc", 0x9FA0), ("/tmp", 0x01021994), ("/dev", 0x01021994)])
def test_statfs_names_the_filesystem(path, magic):
    kh = KernelHarness()
    out = kh.buffer(120)
    assert kh.call("statfs", kh.put(path), out) == 0
    assert struct.unpack_from("<q", kh.read(out, 120), 0)[0] == magic
    assert kh.errno("fstatfs", 99, out) is Errno.EBADF
    assert kh.errno("statfs", kh.put("/nonexistent"), out) is Errno.ENOENT


def test_fstatfs_of_a_read_only_mount_says_so(kh):
    out = kh.buffer(120)
    fd = kh.call("openat", AT_FDCWD, kh.put("data.txt"), 0, 0)
    assert kh.call("fstatfs", fd, out) == 0
    assert struct.unpack_from("<q", kh.read(out, 120), 80)[0] & 1  # f_flags: ST_RDONLY


def test_chmod_utimensat_truncate_chown_in_tmp():
    kh = KernelHarness(identity=Identity(uid=1000, gid=1000))
    fd = kh.call("openat", AT_FDCWD, kh.put("/tmp/f"), 0o101, 0o644)  # O_CREAT|O_WRONLY
    kh.call("write", fd, kh.put(b"0123456789"), 10)
    assert kh.call("fchmodat", AT_FDCWD, kh.put("/tmp/f"), 0o600) == 0
    assert kh.call("fchmod", fd, 0o640) == 0
    times = kh.put(struct.pack("<qqqq", 100, 0, 200, (1 << 30) - 2))  # atime=100, mtime omitted
    assert kh.call("utimensat", AT_FDCWD, kh.put("/tmp/f"), times, 0) == 0
    assert kh.call("truncate", kh.put("/tmp/f"), 4) == 0
    st = kh.buffer(144)
    kh.call("fstat", fd, st)
    raw = kh.read(st, 144)
    assert struct.unpack_from("<I", raw, 24)[0] & 0o7777 == 0o640
    assert struct.unpack_from("<q", raw, 48)[0] == 4
    assert struct.unpack_from("<q", raw, 72)[0] == 100  # st_atime
    assert kh.call("fchown", fd, 0xFFFFFFFF, 1000) == 0  # to its own group: allowed
    assert kh.errno("fchown", fd, 0, 0xFFFFFFFF) is Errno.EPERM
    assert kh.errno("utimensat", AT_FDCWD, kh.put("/tmp/f"), kh.put(struct.pack("<qqqq", 0, -5, 0, 0)), 0) is Errno.EINVAL
    assert kh.errno("truncate", kh.put("/tmp/f"), -1) is Errno.EINVAL
    assert kh.errno("truncate", kh.put("/tmp"), 0) is Errno.EISDIR
    assert kh.call("utimensat", fd, 0, 0, 0) == 0  # futimens: now


def test_attributes_of_a_read_only_mount_are_erofs_first(kh):
    assert kh.errno("fchmodat", AT_FDCWD, kh.put("data.txt"), 0o777) is Errno.EROFS
    assert kh.errno("utimensat", AT_FDCWD, kh.put("data.txt"), 0, 0) is Errno.EROFS
    assert kh.errno("fchownat", AT_FDCWD, kh.put("data.txt"), 0, 0, 0) is Errno.EROFS
    assert kh.errno("truncate", kh.put("data.txt"), 0) is Errno.EROFS
    assert kh.errno("fchmodat", AT_FDCWD, kh.put("nope"), 0o777) is Errno.ENOENT


def test_legacy_getdents_lists_the_same_names_with_d_type_last(kh, hostdir):
    fd = kh.call("openat", AT_FDCWD, kh.put("."), 0o200000, 0)
    buf = kh.buffer(4096)
    n = kh.call("getdents", fd, buf, 4096)
    raw = kh.read(buf, n)
    entries, pos = {}, 0
    while pos < n:
        reclen = struct.unpack_from("<H", raw, pos + 16)[0]
        name = raw[pos + 18 : pos + reclen].split(b"\0")[0].decode()
        entries[name] = raw[pos + reclen - 1]  # d_type is the record's last byte
        assert reclen % 8 == 0
        pos += reclen
    assert set(entries) == set(listing(kh, "."))
    assert entries["sub"] == 4 and entries["data.txt"] == 8  # DT_DIR, DT_REG
    kh.call("lseek", fd, 0, 0)
    assert kh.errno("getdents", fd, buf, 10) is Errno.EINVAL  # not even one record fits
    assert kh.errno("getdents", 1, buf, 4096) is Errno.ENOTDIR


CLONE_THREAD_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000  # VM, FS, FILES, SIGHAND, THREAD


def test_every_process_has_its_directory_and_self_follows_who_looks():
    kh = KernelHarness()
    with_program(kh)
    child = kh.call("fork")
    assert [n for n in listing(kh, "/proc") if n.isdigit()] == ["1000", str(child)]
    assert readlink(kh, "/proc/self") == b"1000"
    status = read_file(kh, f"/proc/{child}/status").decode()
    assert f"Pid:\t{child}" in status and "PPid:\t1000" in status and "State:\tR (running)" in status
    kh.as_task(child)
    assert readlink(kh, "/proc/self") == str(child).encode()
    assert readlink(kh, "/proc/thread-self") == f"{child}/task/{child}".encode()
    kh.call("chdir", kh.put("/tmp"))
    kh.as_task(1000)
    assert readlink(kh, f"/proc/{child}/cwd") == b"/tmp"  # the child's own directory
    assert readlink(kh, "/proc/self/cwd") != b"/tmp"
    stat = read_file(kh, f"/proc/{child}/stat").split()
    assert stat[:6] == [str(child).encode(), b"(prog)", b"R", b"1000", b"1000", str(kh.kernel.process.sid).encode()]


def test_a_zombie_keeps_its_directory_without_memory_or_files():
    from kernel_model.seam import ProcessExit

    kh = KernelHarness()
    with_program(kh)
    child = kh.call("fork")
    kh.as_task(child)
    kh.end(ProcessExit(0))
    kh.as_task(1000)
    assert "State:\tZ (zombie)" in read_file(kh, f"/proc/{child}/status").decode()
    assert read_file(kh, f"/proc/{child}/stat").split()[2] == b"Z"
    assert read_file(kh, f"/proc/{child}/maps") == b"" and read_file(kh, f"/proc/{child}/cmdline") == b""
    assert readlink(kh, f"/proc/{child}/exe") is Errno.ENOENT
    assert listing(kh, f"/proc/{child}/fd") == [".", ".."]
    assert kh.call("wait4", child, 0, 0, 0) == child  # reaped: gone from /proc
    assert kh.errno("openat", AT_FDCWD, kh.put(f"/proc/{child}/status"), 0, 0) is Errno.ENOENT


def test_threads_are_under_task_and_have_their_own_names():
    kh = KernelHarness()
    with_program(kh)
    tid = kh.call("clone", CLONE_THREAD_FLAGS, 0, 0, 0, 0)
    assert listing(kh, "/proc/self/task")[2:] == ["1000", str(tid)]  # after . and ..
    assert str(tid) not in listing(kh, "/proc")  # a thread is not listed at the top...
    assert f"Tgid:\t1000\nNgid:\t0\nPid:\t{tid}" in read_file(kh, f"/proc/{tid}/status").decode()  # ...but is there
    assert "Threads:\t2" in read_file(kh, "/proc/self/status").decode()
    kh.as_task(tid)
    assert kh.call("prctl", 15, kh.put("worker"), 0, 0, 0) == 0  # PR_SET_NAME names this thread only
    assert read_file(kh, "/proc/thread-self/comm") == b"worker\n"
    assert read_file(kh, f"/proc/1000/task/{tid}/comm") == b"worker\n"
    assert read_file(kh, "/proc/1000/task/1000/comm") == b"prog\n"
    assert read_file(kh, "/proc/self/comm") == b"prog\n"  # the process's: its leader's
    assert kh.errno("openat", AT_FDCWD, kh.put("/proc/1000/task/4242/comm"), 0, 0) is Errno.ENOENT
    assert kh.errno("openat", AT_FDCWD, kh.put("/proc/1000/task/1000/task"), 0, 0) is Errno.ENOENT
