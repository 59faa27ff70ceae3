"""The conformance checks: every implemented system call with good and bad arguments.

They run in this order in one process per arch, in a directory holding the files below
(``FILES``), with descriptors 3 (data.txt, read-only), 4 (dir/, a directory) and 5
(scratch.txt, read-write) opened by the first checks. Calls that return a new descriptor
whose number would depend on which calls an arch has come last. Memory is mapped at fixed
addresses so that both runs see the same ones.
"""

from __future__ import annotations

import struct

from conformance_program import Check, L, LoHi, OpenFlags, Out, Quads, Ret, WordBytes, Words, field_ranges

from kernel_model.seam import KernelArch
from kernel_model.structs import structs_for
from sandbox.arch import Arch

FILES = {
    "data.txt": b"Hello world\n",
    "dir/a.txt": b"a",
    "dir/b.txt": b"bb",
    "emptydir/": None,
    "link.txt": "->data.txt",  # a symbolic link
    "loop.txt": "->loop.txt",  # a link to itself: ELOOP
}

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_EMPTY_PATH, AT_EACCESS = 0x100, 0x200, 0x1000, 0x200
SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2
F_DUPFD, F_GETFD, F_SETFD, F_GETFL = 0, 1, 2, 3
TCGETS, FIONREAD, FIOCLEX = 0x5401, 0x541B, 0x5451
PROT_NONE, PROT_READ, PROT_RW = 0, 1, 3
MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x02, 0x10, 0x20
ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
MAPPED = 0x30000000  # far from the program, its stack and its heap on every arch
FILE_MAP = 0x30010000
UNMAPPED = 0x3F000000
NOWHERE = 16  # an address nothing is mapped at: EFAULT
RDONLY, WRONLY = OpenFlags("O_RDONLY"), OpenFlags("O_WRONLY")
THE_32_BIT = ("i386", "arm")
_NO_EXECVEAT = "qemu-user 7.2 has no execveat (ENOSYS)"
_NO_PWAIT2 = "qemu-user 7.2 has no epoll_pwait2 (ENOSYS)"


def _layout(arch: Arch, name: str):  # noqa: ANN202 - a StructLayout
    return getattr(structs_for(KernelArch(arch.name, arch.bits, arch.uname_machine, arch.big_endian)), name)


def _times_of(layout_name: str, *more: str):  # noqa: ANN202 - an ``Out.ignore``
    # Reading a file moves its access time, so the two runs see different times; a file a
    # run creates has a new inode number each time.
    names = ("st_atime", "st_atime_nsec", "st_mtime", "st_mtime_nsec", "st_ctime", "st_ctime_nsec", *more)
    return lambda arch: field_ranges(_layout(arch, layout_name), names)


def _everything(arch: Arch) -> list[tuple[int, int]]:
    return [(0, 1 << 20)]


def _uname_varies(arch: Arch) -> list[tuple[int, int]]:
    # nodename, release, version and domainname are the machine's; sysname and machine are the
    # ABI. qemu-user writes its machine name over the host's and leaves the rest of the host's
    # name after the NUL ("i686\0" + "4" of "x86_64"), so the machine field counts up to its NUL.
    end = len(arch.uname_machine) + 1
    return [(65, 3 * 65), (4 * 65 + end, 65 - end), (5 * 65, 65)]


def _statx_varies(arch: Arch) -> list[tuple[int, int]]:
    # Compared: the mode, size, inode number, link count, owner, block size and blocks. Not: the
    # times, and what the model leaves out (the mask bits for birth time and mount id, the
    # attributes, the device numbers and the mount id).
    layout = _layout(arch, "statx")
    keep = {"stx_mode", "stx_size", "stx_ino", "stx_nlink", "stx_uid", "stx_gid", "stx_blksize", "stx_blocks"}
    return field_ranges(layout, tuple(name for name, _ in layout.fields if name not in keep))


def _pollfd(fd: int, events: int) -> bytes:
    return struct.pack("<iHH", fd, events, 0)  # every arch here is little-endian


EPOLLIN, EPOLLOUT, EPOLLEXCLUSIVE, EPOLLONESHOT, EPOLLET = 0x1, 0x4, 1 << 28, 1 << 30, 1 << 31
WORDS4 = 32  # an itimerspec: four words on 64-bit arches (two 32-bit timespecs take 16 on the others)
NONBLOCK = OpenFlags("O_NONBLOCK")


def _epoll_ctl(what: str, epfd: int, op: int, fd: int, events: int, data: int, expect: str | int) -> list[Check]:
    # struct epoll_event is packed on x86 (12 bytes), a padded u64 on the others (16)
    x86 = ("x86_64", "i386")
    return [
        Check(f"epoll_ctl: {what}", "epoll_ctl", (epfd, op, fd, struct.pack("<IQ", events & 0xFFFFFFFF, data)), expect,
              only=x86),
        Check(f"epoll_ctl: {what}", "epoll_ctl", (epfd, op, fd, Quads(events & 0xFFFFFFFF, data)), expect, not_on=x86),
    ]


def _signal_sender(arch: Arch) -> list[tuple[int, int]]:
    # ssi_pid and ssi_uid are the run's own
    return [(12, 8)]


def _fd_set(*fds: int) -> bytes:
    bits = 0
    for fd in fds:
        bits |= 1 << fd
    return bits.to_bytes(128, "little")


def _stack_padding(arch: Arch) -> list[tuple[int, int]]:
    # stack_t's padding after ss_flags on 64-bit arches holds whatever the kernel's copy had
    return field_ranges(_layout(arch, "stack_t"), ("_pad",))


STAT = Out(144, _times_of("stat"))
STAT64 = Out(144, _times_of("stat64"))
NEW_STAT = Out(144, _times_of("stat", "st_ino"))
NEW_STAT64 = Out(144, _times_of("stat64", "st_ino", "st_ino_low"))
ANY = Out(64, _everything)


def _stat_checks(call: str) -> list[Check]:
    buf = STAT64 if call.endswith("64") else STAT
    return [
        Check(f"{call}: a file", call, (b"data.txt", buf)),
        Check(f"{call}: a missing file", call, (b"missing", buf), "ENOENT"),
        Check(f"{call}: a bad buffer", call, (b"data.txt", NOWHERE), "EFAULT"),
    ]


def _stat_at(call: str) -> list[Check]:
    buf = STAT64 if call.endswith("64") else STAT
    return [
        Check(f"{call}: a file", call, (AT_FDCWD, b"data.txt", buf, 0)),
        Check(f"{call}: a link, not followed", call, (AT_FDCWD, b"link.txt", buf, AT_SYMLINK_NOFOLLOW)),
        Check(f"{call}: an open descriptor with AT_EMPTY_PATH", call, (3, b"", buf, AT_EMPTY_PATH)),
        Check(f"{call}: an empty path", call, (AT_FDCWD, b"", buf, 0), "ENOENT"),
        Check(f"{call}: a missing file", call, (AT_FDCWD, b"missing", buf, 0), "ENOENT"),
        Check(f"{call}: a bad flag", call, (AT_FDCWD, b"data.txt", buf, 1), "EINVAL"),
        Check(f"{call}: a bad path pointer", call, (AT_FDCWD, NOWHERE, buf, 0), "EFAULT"),
    ]


def _sigtimedwait_checks(call: str, timespec, only: tuple[str, ...]) -> list[Check]:  # noqa: ANN001 - Words or Quads
    # siginfo's si_pid and si_uid are the run's own (bytes 12 to 24 on every arch)
    sender = lambda arch: [(12, 24)]  # noqa: E731
    return [
        Check(f"{call}: nothing pending, no waiting", call, (Quads(1 << 9), Out(128), timespec(0, 0), 8), "EAGAIN",
              only=only),
        Check(f"{call}: kill SIGUSR1 to itself, blocked", "kill", (Ret("getpid: for kill"), 10), 0, only=only),
        Check(f"{call}: SIGUSR1 pending", call, (Quads(1 << 9), Out(128, sender), timespec(0, 0), 8), 10, only=only),
        Check(f"{call}: a bad sigset size", call, (Quads(1 << 9), 0, timespec(0, 0), 4), "EINVAL", only=only),
        Check(f"{call}: a bad timeout", call, (Quads(1 << 9), 0, timespec(0, -1), 8), "EINVAL", only=only),
    ]


def _time_checks(suffix: str, timespec) -> list[Check]:  # noqa: ANN001 - Words or Quads
    gettime, getres, sleep = f"clock_gettime{suffix}", f"clock_getres{'_time64' if suffix else ''}", \
        f"clock_nanosleep{'_time64' if suffix else ''}"
    return [
        Check(f"{gettime}: monotonic", gettime, (1, Out(16, _everything))),
        Check(f"{gettime}: a bad clock", gettime, (999, Out(16)), "EINVAL"),
        Check(f"{gettime}: a bad pointer", gettime, (0, NOWHERE), "EFAULT"),
        Check(f"{getres}: monotonic", getres, (1, Out(16))),
        Check(f"{getres}: a bad clock", getres, (999, Out(16)), "EINVAL"),
        Check(f"{sleep}: a microsecond", sleep, (1, 0, timespec(0, 1000), 0)),
        Check(f"{sleep}: nanoseconds out of range", sleep, (1, 0, timespec(0, 1_000_000_000), 0), "EINVAL"),
        Check(f"{sleep}: the thread's CPU clock", sleep, (3, 0, timespec(0, 1000), 0), "EOPNOTSUPP"),
        Check(f"{sleep}: the raw monotonic clock", sleep, (4, 0, timespec(0, 1000), 0), "EOPNOTSUPP"),
        Check(f"{sleep}: a bad clock", sleep, (999, 0, timespec(0, 1000), 0), "EINVAL"),
        Check(f"{sleep}: a bad pointer", sleep, (1, 0, NOWHERE, 0), "EFAULT"),
    ]


def _mapping_checks() -> list[Check]:
    # mmap on the 64-bit arches, mmap2 (offset in pages) on arm and i386, and i386's old mmap
    # whose one argument points at the six.
    out = []
    for call, unit in (("mmap", 1), ("mmap2", 4096)):
        not_on = ("i386",) if call == "mmap" else ()
        out += [
            Check(f"{call}: anonymous, fixed", call, (MAPPED, 8192, PROT_RW, ANON, -1, 0), MAPPED, not_on=not_on),
            Check(f"{call}: a file, fixed", call, (FILE_MAP, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, 3, 0), FILE_MAP,
                  not_on=not_on),
            Check(f"{call}: no length", call, (0, 0, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), "EINVAL", not_on=not_on),
            Check(f"{call}: no mapping type", call, (0, 4096, PROT_RW, MAP_ANONYMOUS, -1, 0), "EINVAL", not_on=not_on),
            Check(f"{call}: a bad descriptor", call, (0, 4096, PROT_READ, MAP_PRIVATE, 99, 0), "EBADF", not_on=not_on),
            Check(f"{call}: a directory", call, (0, 4096, PROT_READ, MAP_PRIVATE, 4, 0), "ENODEV", not_on=not_on),
        ]
        if unit == 1:
            out.append(Check(f"{call}: an offset inside a page", call, (0, 4096, PROT_READ, MAP_PRIVATE, 3, 1), "EINVAL",
                             not_on=not_on))
    out += [
        Check("mmap (i386, by pointer): anonymous, fixed", "mmap", (Words(MAPPED, 8192, PROT_RW, ANON, -1, 0),), MAPPED,
              only=("i386",)),
        Check("mmap (i386, by pointer): a file, fixed", "mmap",
              (Words(FILE_MAP, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, 3, 0),), FILE_MAP, only=("i386",)),
        Check("mmap (i386, by pointer): an offset inside a page", "mmap",
              (Words(0, 4096, PROT_READ, MAP_PRIVATE, 3, 1),), "EINVAL", only=("i386",)),
        Check("mmap (i386, by pointer): a bad pointer", "mmap", (NOWHERE,), "EFAULT", only=("i386",)),
        # the kernel reads the mapped file's bytes from memory the mapping made
        Check("write: from a file mapping", "write", (1, FILE_MAP, 12), 12),
        Check("mprotect: read-only", "mprotect", (MAPPED, 4096, PROT_READ)),
        Check("mprotect: a misaligned address", "mprotect", (MAPPED + 1, 4096, PROT_READ), "EINVAL"),
        Check("mprotect: unmapped memory", "mprotect", (UNMAPPED, 4096, PROT_READ), "ENOMEM",
              qemu_differs="qemu-user reserves a 32-bit guest's whole address space", qemu_differs_on=THE_32_BIT),
        Check("mprotect: an unknown bit", "mprotect", (MAPPED, 4096, 0x10000), "EINVAL"),
        Check("mprotect: no access", "mprotect", (MAPPED + 4096, 4096, PROT_NONE)),
        Check("write: from memory without read access", "write", (1, MAPPED + 4096, 4), "EFAULT"),
        Check("read: into read-only memory", "read", (3, MAPPED, 4), "EFAULT"),
        Check("madvise: don't need", "madvise", (MAPPED, 4096, 4)),
        Check("madvise: a misaligned address", "madvise", (MAPPED + 1, 4096, 0), "EINVAL"),
        Check("madvise: unknown advice", "madvise", (MAPPED, 4096, 9999), "EINVAL",
              qemu_differs="qemu-user's madvise checks only the alignment"),
        Check("madvise: unmapped memory", "madvise", (UNMAPPED, 4096, 0), "ENOMEM",
              qemu_differs="qemu-user's madvise checks only the alignment"),
        Check("munmap: a mapping", "munmap", (MAPPED, 8192)),
        Check("munmap: a misaligned address", "munmap", (MAPPED + 1, 4096), "EINVAL"),
        Check("munmap: no length", "munmap", (MAPPED, 0), "EINVAL"),
        Check("munmap: nothing mapped there", "munmap", (UNMAPPED, 4096)),
        Check("brk: where the break is", "brk", (0,), "ok-any"),
        Check("brk: below the heap", "brk", (4096,), "ok-any"),
    ]
    return out


CHECKS: list[Check] = [
    # -- the descriptors the other checks use: 3, 4, 5 ------------------------------------------
    Check("openat: a file", "openat", (AT_FDCWD, b"data.txt", RDONLY, 0), 3),
    Check("openat: a directory", "openat", (AT_FDCWD, b"dir", OpenFlags("O_RDONLY|O_DIRECTORY"), 0), 4),
    Check("openat: create", "openat", (AT_FDCWD, b"scratch.txt", OpenFlags("O_RDWR|O_CREAT|O_TRUNC"), 0o644), 5),
    Check("openat: a missing file", "openat", (AT_FDCWD, b"missing", RDONLY, 0), "ENOENT"),
    Check("openat: O_DIRECTORY on a file", "openat", (AT_FDCWD, b"data.txt", OpenFlags("O_RDONLY|O_DIRECTORY"), 0), "ENOTDIR"),
    Check("openat: a directory for writing", "openat", (AT_FDCWD, b"dir", WRONLY, 0), "EISDIR"),
    Check("openat: a symlink loop", "openat", (AT_FDCWD, b"loop.txt", RDONLY, 0), "ELOOP"),
    Check("openat: O_NOFOLLOW on a link", "openat", (AT_FDCWD, b"link.txt", OpenFlags("O_RDONLY|O_NOFOLLOW"), 0), "ELOOP"),
    Check("openat: O_EXCL on an existing file", "openat", (AT_FDCWD, b"data.txt", OpenFlags("O_WRONLY|O_CREAT|O_EXCL"), 0o644),
          "EEXIST"),
    Check("openat: through a file", "openat", (AT_FDCWD, b"data.txt/x", RDONLY, 0), "ENOTDIR"),
    Check("openat: a bad path pointer", "openat", (AT_FDCWD, NOWHERE, RDONLY, 0), "EFAULT"),
    Check("openat: a bad directory descriptor", "openat", (99, b"data.txt", RDONLY, 0), "EBADF"),
    Check("openat: a file as the directory", "openat", (3, b"x", RDONLY, 0), "ENOTDIR"),
    Check("openat: a name too long", "openat", (AT_FDCWD, b"a" * 5000, RDONLY, 0), "ENAMETOOLONG"),
    Check("open: a missing file", "open", (b"missing", RDONLY, 0), "ENOENT"),
    Check("creat: a directory", "creat", (b"dir", 0o644), "EISDIR"),
    # -- reading and writing ------------------------------------------------------------------------
    Check("read: some bytes", "read", (3, Out(5), 5), 5),
    Check("read: a bad descriptor", "read", (99, Out(4), 4), "EBADF"),
    Check("read: a bad buffer", "read", (3, NOWHERE, 4), "EFAULT"),
    Check("read: a directory", "read", (4, Out(4), 4), "EISDIR"),
    Check("read: stdin at end of file", "read", (0, Out(4), 4), 0),
    Check("read: nothing", "read", (3, Out(1), 0), 0),
    Check("write: stdout", "write", (1, b"out\n", 4), 4),
    Check("write: a file", "write", (5, b"scratch data\n", 13), 13),
    Check("write: a bad descriptor", "write", (99, b"x", 1), "EBADF"),
    Check("write: a read-only descriptor", "write", (3, b"x", 1), "EBADF"),
    Check("write: a bad buffer", "write", (5, NOWHERE, 4), "EFAULT"),
    Check("pread64: at an offset", "pread64", (3, Out(5), 5, L(6)), 5),
    Check("pread64: past the end", "pread64", (3, Out(5), 5, L(1 << 33)), 0),
    Check("pread64: a negative offset", "pread64", (3, Out(4), 4, L(-1)), "EINVAL"),
    Check("pread64: a pipe", "pread64", (0, Out(1), 1, L(0)), "ESPIPE"),
    Check("pwrite64: at an offset", "pwrite64", (5, b"PW", 2, L(1)), 2),
    Check("pwrite64: a read-only descriptor", "pwrite64", (3, b"x", 1, L(0)), "EBADF"),
    Check("pwrite64: a negative offset", "pwrite64", (5, b"x", 1, L(-2)), "EINVAL"),
    Check("readv: two buffers", "readv", (3, Words(Out(3), 3, Out(4), 4), 2), "ok"),
    Check("readv: a negative count", "readv", (3, Words(Out(3), 3), -1), "EINVAL"),
    Check("readv: a bad vector", "readv", (3, NOWHERE, 1), "EFAULT"),
    Check("writev: two pieces", "writev", (1, Words(b"a", 1, b"b\n", 2), 2), 3),
    Check("writev: a bad descriptor", "writev", (99, Words(b"a", 1), 1), "EBADF"),
    Check("preadv: at an offset", "preadv", (3, Words(Out(4), 4), 1, LoHi(2)), 4),
    Check("preadv: a negative offset", "preadv", (3, Words(Out(4), 4), 1, LoHi(-1)), "EINVAL"),
    Check("pwritev: at an offset", "pwritev", (5, Words(b"V", 1), 1, LoHi(3)), 1),
    Check("pwritev: a read-only descriptor", "pwritev", (3, Words(b"V", 1), 1, LoHi(0)), "EBADF"),
    # -- positions ---------------------------------------------------------------------------------
    Check("lseek: to the start", "lseek", (3, 0, SEEK_SET), 0),
    Check("lseek: to the end", "lseek", (3, 0, SEEK_END), 12),
    Check("lseek: from here", "lseek", (3, -2, SEEK_CUR), 10),
    Check("lseek: before the start", "lseek", (3, -100, SEEK_SET), "EINVAL"),
    Check("lseek: a bad whence", "lseek", (3, 0, 7), "EINVAL"),
    Check("lseek: a pipe", "lseek", (0, 0, SEEK_SET), "ESPIPE"),
    Check("lseek: a bad descriptor", "lseek", (99, 0, SEEK_SET), "EBADF"),
    Check("_llseek: past 4 GiB", "_llseek", (3, 1, 2, Out(8), SEEK_SET)),
    Check("_llseek: back", "_llseek", (3, 0, 0, Out(8), SEEK_SET)),
    Check("_llseek: a bad result pointer", "_llseek", (3, 0, 1, NOWHERE, SEEK_SET), "EFAULT"),
    Check("_llseek: a bad whence", "_llseek", (3, 0, 0, Out(8), 9), "EINVAL"),
    Check("_llseek: a bad descriptor", "_llseek", (99, 0, 0, Out(8), SEEK_SET), "EBADF"),
    # -- metadata ----------------------------------------------------------------------------------
    Check("fstat: a file", "fstat", (3, STAT)),
    Check("fstat: a directory", "fstat", (4, STAT)),
    Check("fstat: a bad descriptor", "fstat", (99, STAT), "EBADF"),
    Check("fstat: a bad buffer", "fstat", (3, NOWHERE), "EFAULT"),
    Check("fstat64: a file", "fstat64", (3, STAT64)),
    Check("fstat64: a bad descriptor", "fstat64", (99, STAT64), "EBADF"),
    *_stat_at("newfstatat"),
    *_stat_at("fstatat64"),
    *_stat_checks("stat"),
    *_stat_checks("lstat"),
    *_stat_checks("stat64"),
    *_stat_checks("lstat64"),
    Check("lstat: a link", "lstat", (b"link.txt", STAT)),
    Check("lstat64: a link", "lstat64", (b"link.txt", STAT64)),
    Check("readlinkat: a link", "readlinkat", (AT_FDCWD, b"link.txt", Out(32), 32), 8),
    Check("readlinkat: a short buffer", "readlinkat", (AT_FDCWD, b"link.txt", Out(3), 3), 3),
    Check("readlinkat: not a link", "readlinkat", (AT_FDCWD, b"data.txt", Out(32), 32), "EINVAL"),
    Check("readlinkat: no room", "readlinkat", (AT_FDCWD, b"link.txt", Out(4), 0), "EINVAL"),
    Check("readlinkat: a missing file", "readlinkat", (AT_FDCWD, b"missing", Out(4), 4), "ENOENT"),
    Check("readlink: a link", "readlink", (b"link.txt", Out(32), 32), 8),
    Check("readlink: not a link", "readlink", (b"dir", Out(32), 32), "EINVAL"),
    Check("faccessat: readable", "faccessat", (AT_FDCWD, b"data.txt", 4), 0),
    Check("faccessat: not executable", "faccessat", (AT_FDCWD, b"data.txt", 1), "EACCES"),
    Check("faccessat: a missing file", "faccessat", (AT_FDCWD, b"missing", 0), "ENOENT"),
    Check("faccessat: a bad mode", "faccessat", (AT_FDCWD, b"data.txt", 8), "EINVAL"),
    Check("faccessat2: readable, effective ids", "faccessat2", (AT_FDCWD, b"data.txt", 4, AT_EACCESS), 0),
    Check("faccessat2: a bad flag", "faccessat2", (AT_FDCWD, b"data.txt", 4, 1), "EINVAL"),
    Check("access: a directory is searchable", "access", (b"dir", 1), 0),
    # Extended attributes: the files here have none (and the model shows no host file's).
    Check("getxattr: none", "getxattr", (b"data.txt", b"user.none", Out(64), 64), "ENODATA", valid=True),
    Check("getxattr: a missing file", "getxattr", (b"missing", b"user.none", Out(64), 64), "ENOENT"),
    Check("getxattr: an empty name", "getxattr", (b"data.txt", b"", Out(64), 64), "ERANGE"),
    Check("getxattr: a bad name pointer", "getxattr", (b"data.txt", NOWHERE, Out(64), 64), "EFAULT"),
    Check("getxattr: no such namespace", "getxattr", (b"data.txt", b"foo.bar", Out(64), 64), "EOPNOTSUPP"),
    Check("lgetxattr: the link itself", "lgetxattr", (b"link.txt", b"user.none", Out(64), 64), "ENODATA", valid=True),
    Check("lgetxattr: through a file", "lgetxattr", (b"data.txt/x", b"user.none", Out(64), 64), "ENOTDIR"),
    Check("fgetxattr: none", "fgetxattr", (3, b"user.none", Out(64), 64), "ENODATA", valid=True),
    Check("fgetxattr: a bad descriptor", "fgetxattr", (99, b"user.none", Out(64), 64), "EBADF"),
    Check("listxattr: an empty list", "listxattr", (b"data.txt", Out(64), 64), 0),
    Check("listxattr: a missing file", "listxattr", (b"missing", Out(64), 64), "ENOENT"),
    Check("llistxattr: the link itself", "llistxattr", (b"link.txt", Out(64), 64), 0),
    Check("llistxattr: a bad path pointer", "llistxattr", (NOWHERE, Out(64), 64), "EFAULT"),
    Check("flistxattr: a directory", "flistxattr", (4, Out(64), 64), 0),
    Check("flistxattr: a bad descriptor", "flistxattr", (99, Out(64), 64), "EBADF"),
    Check("setxattr: a namespace no filesystem has", "setxattr", (b"data.txt", b"foo.bar", b"v", 1, 0), "EOPNOTSUPP",
          valid=True),
    Check("setxattr: bad flags", "setxattr", (b"data.txt", b"user.x", b"v", 1, 4), "EINVAL"),
    Check("setxattr: flags before the path", "setxattr", (b"missing", b"user.x", b"v", 1, 4), "EINVAL"),
    Check("setxattr: a missing file", "setxattr", (b"missing", b"user.x", b"v", 1, 0), "ENOENT"),
    Check("lsetxattr: a namespace no filesystem has", "lsetxattr", (b"data.txt", b"foo.bar", b"v", 1, 0),
          "EOPNOTSUPP", valid=True),
    Check("lsetxattr: a value too big", "lsetxattr", (b"data.txt", b"user.x", b"v", 65537, 0), "E2BIG",
          qemu_differs="qemu-user copies the value in before Linux's size check: EFAULT, not E2BIG"),
    Check("fsetxattr: a namespace no filesystem has", "fsetxattr", (5, b"foo.bar", b"v", 1, 0), "EOPNOTSUPP",
          valid=True),
    Check("fsetxattr: a bad descriptor", "fsetxattr", (99, b"user.x", b"v", 1, 0), "EBADF"),
    Check("removexattr: nothing to remove", "removexattr", (b"data.txt", b"user.none"), "ENODATA", valid=True),
    Check("removexattr: a missing file", "removexattr", (b"missing", b"user.none"), "ENOENT"),
    Check("lremovexattr: nothing to remove", "lremovexattr", (b"dir", b"user.none"), "ENODATA", valid=True),
    Check("lremovexattr: an empty name", "lremovexattr", (b"dir", b""), "ERANGE"),
    Check("fremovexattr: nothing to remove", "fremovexattr", (5, b"user.none"), "ENODATA", valid=True),
    Check("fremovexattr: a bad descriptor", "fremovexattr", (99, b"user.none"), "EBADF"),
    Check("access: a missing file", "access", (b"missing", 0), "ENOENT"),
    Check("getdents64: a directory", "getdents64", (4, Out(1024, _everything), 1024),
          qemu_differs="qemu-i386 aligns records to 4 bytes, a u64's alignment on i386; Linux always aligns to 8",
          qemu_differs_on=("i386",)),
    Check("getdents64: at its end", "getdents64", (4, Out(1024), 1024), 0),
    Check("lseek: a directory back to the start", "lseek", (4, 0, SEEK_SET), 0),
    Check("getdents64: too small a buffer", "getdents64", (4, Out(8), 8), "EINVAL"),
    Check("getdents64: a file", "getdents64", (3, Out(64), 64), "ENOTDIR"),
    Check("getdents64: a bad descriptor", "getdents64", (99, Out(64), 64), "EBADF"),
    # -- descriptors -------------------------------------------------------------------------------
    Check("dup: a bad descriptor", "dup", (99,), "EBADF"),
    Check("dup2: to a chosen number", "dup2", (3, 20), 20),
    Check("dup2: onto itself", "dup2", (3, 3), 3),
    Check("dup2: a bad descriptor", "dup2", (99, 21), "EBADF"),
    Check("dup3: close-on-exec", "dup3", (3, 22, OpenFlags("O_CLOEXEC")), 22),
    Check("dup3: onto itself", "dup3", (3, 3, 0), "EINVAL"),
    Check("dup3: a bad flag", "dup3", (3, 23, 1), "EINVAL"),
    Check("fcntl: F_GETFD", "fcntl", (3, F_GETFD, 0), 0),
    Check("fcntl: F_GETFD after dup3 O_CLOEXEC", "fcntl", (22, F_GETFD, 0), 1),
    Check("fcntl: F_SETFD", "fcntl", (3, F_SETFD, 1), 0),
    Check("fcntl: F_GETFL", "fcntl", (5, F_GETFL, 0), OpenFlags("O_RDWR|O_LARGEFILE"), not_on=THE_32_BIT,
          qemu_differs="qemu-user leaves out the O_LARGEFILE a 64-bit kernel adds to every open"),
    Check("fcntl: F_GETFL (no O_LARGEFILE asked for)", "fcntl", (5, F_GETFL, 0), 2, only=THE_32_BIT),
    Check("fcntl: F_DUPFD", "fcntl", (3, F_DUPFD, 30), 30),
    Check("fcntl: an unknown command", "fcntl", (3, 9999, 0), "EINVAL"),
    Check("fcntl: a bad descriptor", "fcntl", (99, F_GETFD, 0), "EBADF"),
    Check("fcntl64: F_GETFD", "fcntl64", (3, F_GETFD, 0), 1),
    Check("fcntl64: a bad descriptor", "fcntl64", (99, F_GETFD, 0), "EBADF"),
    Check("ioctl: TCGETS on a file", "ioctl", (3, TCGETS, Out(64)), "ENOTTY"),
    Check("ioctl: FIONREAD", "ioctl", (3, FIONREAD, Out(4))),
    Check("ioctl: FIOCLEX", "ioctl", (3, FIOCLEX, 0), 0),
    Check("ioctl: a bad descriptor", "ioctl", (99, TCGETS, Out(64)), "EBADF"),
    Check("fsync: a file", "fsync", (5,), 0),
    Check("fsync: a pipe", "fsync", (0,), "EINVAL"),
    Check("fsync: a bad descriptor", "fsync", (99,), "EBADF"),
    Check("fdatasync: a file", "fdatasync", (5,), 0),
    Check("fdatasync: a bad descriptor", "fdatasync", (99,), "EBADF"),
    Check("ftruncate: shorter", "ftruncate", (5, 6), 0),
    Check("ftruncate: a read-only descriptor", "ftruncate", (3, 0), "EINVAL"),
    Check("ftruncate: a negative length", "ftruncate", (5, -1), "EINVAL"),
    Check("ftruncate: a bad descriptor", "ftruncate", (99, 0), "EBADF"),
    Check("ftruncate64: longer", "ftruncate64", (5, L(20)), 0),
    Check("ftruncate64: a negative length", "ftruncate64", (5, L(-1)), "EINVAL"),
    Check("read: the truncated file", "pread64", (5, Out(24), 24, L(0)), 20, only=THE_32_BIT),
    Check("read: the truncated file", "pread64", (5, Out(24), 24, L(0)), 6, not_on=THE_32_BIT),
    Check("close: a bad descriptor", "close", (99,), "EBADF"),
    Check("close: a descriptor", "close", (22,), 0),
    Check("close: it again", "close", (22,), "EBADF"),
    # -- the working directory -----------------------------------------------------------------------
    Check("getcwd: the directory", "getcwd", (Out(4096), 4096)),
    Check("getcwd: too small a buffer", "getcwd", (Out(4), 4), "ERANGE"),
    Check("getcwd: a bad buffer", "getcwd", (NOWHERE, 4096), "EFAULT"),
    Check("chdir: into a directory", "chdir", (b"dir",), 0),
    Check("getcwd: after chdir", "getcwd", (Out(4096), 4096)),
    Check("chdir: back", "chdir", (b"..",), 0),
    Check("chdir: a missing directory", "chdir", (b"missing",), "ENOENT"),
    Check("chdir: a file", "chdir", (b"data.txt",), "ENOTDIR"),
    Check("fchdir: a directory", "fchdir", (4,), 0),
    Check("getcwd: after fchdir", "getcwd", (Out(4096), 4096)),
    Check("chdir: back again", "chdir", (b"..",), 0),
    Check("fchdir: a file", "fchdir", (3,), "ENOTDIR"),
    Check("fchdir: a bad descriptor", "fchdir", (99,), "EBADF"),
    Check("umask: set (the old value is the host's)", "umask", (0o027,), "ok-any"),
    Check("umask: set back", "umask", (0o022,), 0o027),
    # -- creating, linking, renaming, removing ----------------------------------------------------------
    Check("mkdirat: a directory", "mkdirat", (AT_FDCWD, b"newdir", 0o755), 0),
    Check("mkdirat: it again", "mkdirat", (AT_FDCWD, b"newdir", 0o755), "EEXIST"),
    Check("mkdirat: in a missing directory", "mkdirat", (AT_FDCWD, b"missing/x", 0o755), "ENOENT"),
    Check("mkdir: a directory", "mkdir", (b"newdir2", 0o700), 0),
    Check("mkdir: under a file", "mkdir", (b"data.txt/x", 0o700), "ENOTDIR"),
    Check("fstatat: the new directory", "newfstatat", (AT_FDCWD, b"newdir", NEW_STAT, 0)),
    Check("fstatat64: the new directory", "fstatat64", (AT_FDCWD, b"newdir", NEW_STAT64, 0)),
    Check("symlinkat: a link", "symlinkat", (b"data.txt", AT_FDCWD, b"sym1"), 0),
    Check("symlinkat: over a file", "symlinkat", (b"x", AT_FDCWD, b"data.txt"), "EEXIST"),
    Check("symlinkat: an empty target", "symlinkat", (b"", AT_FDCWD, b"sym0"), "ENOENT"),
    Check("symlink: a link", "symlink", (b"dir", b"sym2"), 0),
    Check("symlink: over a directory", "symlink", (b"x", b"dir"), "EEXIST"),
    Check("linkat: a hard link", "linkat", (AT_FDCWD, b"data.txt", AT_FDCWD, b"hard1", 0), 0),
    Check("linkat: a directory", "linkat", (AT_FDCWD, b"dir", AT_FDCWD, b"hard2", 0), "EPERM"),
    Check("linkat: a missing file", "linkat", (AT_FDCWD, b"missing", AT_FDCWD, b"hard3", 0), "ENOENT"),
    Check("linkat: a bad flag", "linkat", (AT_FDCWD, b"data.txt", AT_FDCWD, b"hard4", 1), "EINVAL"),
    Check("link: a hard link", "link", (b"data.txt", b"hard5"), 0),
    Check("link: a missing file", "link", (b"missing", b"hard6"), "ENOENT"),
    Check("fstat: a file with three names", "fstat", (3, STAT)),
    Check("fstat64: a file with three names", "fstat64", (3, STAT64)),
    Check("renameat2: a rename", "renameat2", (AT_FDCWD, b"sym1", AT_FDCWD, b"sym3", 0), 0),
    Check("renameat2: no replacing", "renameat2", (AT_FDCWD, b"sym3", AT_FDCWD, b"data.txt", 1), "EEXIST"),
    Check("renameat2: a missing file", "renameat2", (AT_FDCWD, b"missing", AT_FDCWD, b"x", 0), "ENOENT"),
    Check("renameat2: an unknown flag", "renameat2", (AT_FDCWD, b"sym3", AT_FDCWD, b"x", 8), "EINVAL"),
    Check("renameat2: a directory into itself", "renameat2", (AT_FDCWD, b"newdir", AT_FDCWD, b"newdir/in", 0), "EINVAL"),
    Check("renameat: a rename", "renameat", (AT_FDCWD, b"sym3", AT_FDCWD, b"sym4"), 0),
    Check("renameat: a missing file", "renameat", (AT_FDCWD, b"missing", AT_FDCWD, b"x"), "ENOENT"),
    Check("rename: a rename", "rename", (b"sym2", b"sym5"), 0),
    Check("rename: a missing file", "rename", (b"missing", b"x"), "ENOENT"),
    Check("unlinkat: a directory", "unlinkat", (AT_FDCWD, b"newdir", AT_REMOVEDIR), 0),
    Check("unlinkat: a directory without AT_REMOVEDIR", "unlinkat", (AT_FDCWD, b"dir", 0), "EISDIR"),
    Check("unlinkat: a full directory", "unlinkat", (AT_FDCWD, b"dir", AT_REMOVEDIR), "ENOTEMPTY"),
    Check("unlinkat: a missing file", "unlinkat", (AT_FDCWD, b"missing", 0), "ENOENT"),
    Check("unlinkat: a bad flag", "unlinkat", (AT_FDCWD, b"hard1", 1), "EINVAL"),
    Check("unlinkat: a hard link", "unlinkat", (AT_FDCWD, b"hard1", 0), 0),
    Check("rmdir: a directory", "rmdir", (b"newdir2",), 0),
    Check("rmdir: a file", "rmdir", (b"data.txt",), "ENOTDIR"),
    Check("unlink: a link", "unlink", (b"sym5",), 0),
    Check("unlink: a missing file", "unlink", (b"missing",), "ENOENT"),
    # -- memory ------------------------------------------------------------------------------------
    *_mapping_checks(),
    # -- identity and the machine ------------------------------------------------------------------
    Check("getpid", "getpid", (), "ok-any"),
    Check("gettid", "gettid", (), "ok-any"),
    Check("getppid", "getppid", (), "ok-any"),
    Check("getuid", "getuid", ()),
    Check("geteuid", "geteuid", ()),
    Check("getgid", "getgid", ()),
    Check("getegid", "getegid", ()),
    Check("getuid32", "getuid32", ()),
    Check("geteuid32", "geteuid32", ()),
    Check("getgid32", "getgid32", ()),
    Check("getegid32", "getegid32", ()),
    Check("uname", "uname", (Out(6 * 65, _uname_varies),), 0),
    Check("uname: a bad buffer", "uname", (NOWHERE,), "EFAULT"),
    Check("getrandom: some bytes", "getrandom", (Out(16, _everything), 16, 0), 16),
    Check("getrandom: unknown flags", "getrandom", (Out(16), 16, 0x100), "EINVAL"),
    Check("getrandom: a bad buffer", "getrandom", (NOWHERE, 16, 0), "EFAULT"),
    # -- time --------------------------------------------------------------------------------------
    *_time_checks("", lambda s, ns: Words(s, ns)),
    *_time_checks("64", lambda s, ns: Quads(s, ns)),
    Check("nanosleep: a microsecond", "nanosleep", (Words(0, 1000), 0), 0),
    Check("nanosleep: nanoseconds out of range", "nanosleep", (Words(0, -1), 0), "EINVAL"),
    Check("nanosleep: a bad pointer", "nanosleep", (NOWHERE, 0), "EFAULT",
          qemu_differs="qemu-user 7.2 ignores the fault reading nanosleep's timespec and sleeps on garbage"),
    Check("gettimeofday: the time", "gettimeofday", (Out(16, _everything), 0), 0),
    Check("gettimeofday: a bad pointer", "gettimeofday", (NOWHERE, 0), "EFAULT"),
    Check("time: the time", "time", (0,), "ok-any"),
    Check("time: a bad pointer", "time", (NOWHERE,), "EFAULT"),
    Check("times: the process times", "times", (Out(32, _everything),), "ok-any"),
    Check("times: a bad pointer", "times", (NOWHERE,), "EFAULT"),
    # -- one arch's own calls -------------------------------------------------------------------------
    Check("set_tls", "set_tls", (0x12345678,), 0),
    Check("get_tls", "get_tls", (), 0x12345678),
    Check("cacheflush: a range", "cacheflush", (0x400000, 0x400100, 0), 0),
    Check("cacheflush: flags", "cacheflush", (0x400000, 0x400100, 1), "EINVAL",
          qemu_differs="qemu-arm's cacheflush returns 0 without looking at its arguments"),
    Check("riscv_flush_icache: everything", "riscv_flush_icache", (0, 0, 0), 0),
    Check("riscv_flush_icache: an unknown flag", "riscv_flush_icache", (0, 0, 2), "EINVAL",
          qemu_differs="qemu-riscv64 does not look at riscv_flush_icache's flags"),
    # -- signals ------------------------------------------------------------------------------------
    Check("rt_sigaction: SIGUSR1's action", "rt_sigaction", (10, 0, Out(32), 8), 0),
    Check("rt_sigaction: SIGKILL cannot be caught", "rt_sigaction", (9, Words(1, 0, 0, 0, 0), 0, 8), "EINVAL"),
    Check("rt_sigaction: a bad signal", "rt_sigaction", (65, 0, Out(32), 8), "EINVAL"),
    Check("rt_sigaction: a bad sigset size", "rt_sigaction", (10, 0, Out(32), 4), "EINVAL"),
    Check("rt_sigprocmask: block SIGUSR1", "rt_sigprocmask", (0, Quads(1 << 9), Out(8), 8), 0),
    Check("rt_sigprocmask: the mask", "rt_sigprocmask", (0, 0, Out(8), 8), 0),
    Check("rt_sigprocmask: unblock it", "rt_sigprocmask", (1, Quads(1 << 9), 0, 8), 0),
    Check("rt_sigprocmask: a bad how", "rt_sigprocmask", (5, Quads(0), 0, 8), "EINVAL"),
    Check("rt_sigprocmask: a bad sigset size", "rt_sigprocmask", (0, Quads(0), 0, 4), "EINVAL"),
    Check("rt_sigpending: nothing pending", "rt_sigpending", (Out(8), 8), 0),
    Check("rt_sigpending: a bad pointer", "rt_sigpending", (NOWHERE, 8), "EFAULT"),
    Check("sigaltstack: the current one", "sigaltstack", (0, Out(24, _stack_padding)), 0),
    Check("sigaltstack: bad flags", "sigaltstack", (Words(0, 7, 65536), 0), "EINVAL"),
    Check("getpid: for kill", "getpid", (), "ok-any"),
    Check("gettid: for tkill", "gettid", (), "ok-any"),
    Check("kill: signal 0 to itself", "kill", (Ret("getpid: for kill"), 0), 0),
    Check("kill: a bad signal", "kill", (Ret("getpid: for kill"), 99), "EINVAL"),
    Check("kill: nobody", "kill", (0x3FFFFFFF, 0), "ESRCH"),
    Check("tkill: signal 0 to itself", "tkill", (Ret("gettid: for tkill"), 0), 0),
    Check("tkill: a bad thread id", "tkill", (-1, 0), "EINVAL"),
    Check("tgkill: signal 0 to itself", "tgkill", (Ret("getpid: for kill"), Ret("gettid: for tkill"), 0), 0),
    Check("tgkill: nobody", "tgkill", (0x3FFFFFFF, 0x3FFFFFFF, 0), "ESRCH"),
    Check("rt_sigprocmask: block SIGUSR1 to wait for it", "rt_sigprocmask", (0, Quads(1 << 9), 0, 8), 0),
    *_sigtimedwait_checks("rt_sigtimedwait", Words, ()),
    *_sigtimedwait_checks("rt_sigtimedwait_time64", Quads, THE_32_BIT),
    Check("rt_sigprocmask: unblock SIGUSR1 again", "rt_sigprocmask", (1, Quads(1 << 9), 0, 8), 0),
    Check("rt_sigsuspend: a bad sigset size", "rt_sigsuspend", (Quads(0), 4), "EINVAL"),
    # -- processes: only what fails (a new process or program would run the rest of the checks) --
    Check("clone: CLONE_SIGHAND without CLONE_VM", "clone", (0x800, 0, 0, 0, 0), "EINVAL"),
    Check("clone: CLONE_THREAD without CLONE_SIGHAND", "clone", (0x10000 | 0x100, 0, 0, 0, 0), "EINVAL"),
    Check("clone3: a struct smaller than its first version", "clone3", (Out(64), 8), "EINVAL",
          qemu_differs="qemu-user has no clone3 (ENOSYS)"),
    Check("clone3: a bad pointer", "clone3", (NOWHERE, 64), "EFAULT", qemu_differs="qemu-user has no clone3 (ENOSYS)"),
    Check("execve: a missing file", "execve", (b"missing", 0, 0), "ENOENT"),
    Check("execve: a file without execute permission", "execve", (b"data.txt", 0, 0), "EACCES"),
    Check("execve: a directory", "execve", (b"dir", 0, 0), "EACCES"),
    Check("execve: a bad path pointer", "execve", (NOWHERE, 0, 0), "EFAULT"),
    Check("execveat: a bad descriptor", "execveat", (99, b"data.txt", 0, 0, 0), "EBADF",
          qemu_differs=_NO_EXECVEAT),
    Check("execveat: a bad flag", "execveat", (AT_FDCWD, b"data.txt", 0, 0, 1), "EINVAL",
          qemu_differs=_NO_EXECVEAT),
    Check("execveat: a missing file", "execveat", (AT_FDCWD, b"missing", 0, 0, 0), "ENOENT",
          qemu_differs=_NO_EXECVEAT),
    Check("rt_sigsuspend: a bad mask pointer", "rt_sigsuspend", (NOWHERE, 8), "EFAULT"),
    # -- threads and futexes ----------------------------------------------------------------------------
    Check("set_thread_area: a new TLS segment", "set_thread_area",
          (Out(16, init=struct.pack("<iIII", -1, MAPPED, 0xFFFFF, 0x51)),), 0, only=("i386",)),
    Check("get_thread_area: it", "get_thread_area", (Out(16, init=struct.pack("<i", 6)),), 0, only=("i386",)),
    Check("set_thread_area: not a TLS entry", "set_thread_area", (Out(16, init=struct.pack("<iIII", 3, 0, 0, 0x51)),),
          "EINVAL", only=("i386",)),
    Check("get_thread_area: not a TLS entry", "get_thread_area", (Out(16, init=struct.pack("<i", 99)),), "EINVAL",
          only=("i386",)),
    Check("arch_prctl: ARCH_GET_FS", "arch_prctl", (0x1003, Out(8)), 0, not_on=("i386",)),
    Check("arch_prctl: ARCH_GET_CPUID", "arch_prctl", (0x1011, 0), 1,
          qemu_differs="qemu-user has no ARCH_GET_CPUID, and no arch_prctl at all for i386"),
    Check("arch_prctl: ARCH_GET_FS on i386", "arch_prctl", (0x1003, Out(8)), "EINVAL", only=("i386",),
          qemu_differs="qemu-i386 has no arch_prctl"),
    Check("arch_prctl: an unknown option", "arch_prctl", (0x9999, 0), "EINVAL",
          qemu_differs="qemu-i386 has no arch_prctl", qemu_differs_on=("i386",)),
    Check("set_tid_address", "set_tid_address", (Out(4),), "ok-any"),
    Check("set_robust_list: a list head", "set_robust_list", (Words(0, 0, 0), WordBytes(3)), 0,
          qemu_differs="qemu-user does not implement robust futex lists"),
    Check("set_robust_list: a bad length", "set_robust_list", (Words(0, 0, 0), 0), "EINVAL",
          qemu_differs="qemu-user does not implement robust futex lists"),
    Check("get_robust_list: its own", "get_robust_list", (0, Out(8), Out(8)), 0,
          qemu_differs="qemu-user does not implement robust futex lists"),
    Check("get_robust_list: nobody", "get_robust_list", (0x3FFFFFFF, Out(8), Out(8)), "ESRCH",
          qemu_differs="qemu-user does not implement robust futex lists"),
    Check("futex: wake nobody", "futex", (Out(4), 1, 1, 0, 0, 0), 0),
    Check("futex: wait on a changed value", "futex", (Out(4), 0, 1, 0, 0, 0), "EAGAIN"),
    Check("futex: an unknown operation", "futex", (Out(4), 99, 0, 0, 0, 0), "ENOSYS"),
    Check("futex: a bad address", "futex", (NOWHERE, 0, 0, 0, 0, 0), "EFAULT"),
    # -- process groups, sessions, ids ------------------------------------------------------------------
    Check("getpgrp", "getpgrp", (), "ok-any"),
    Check("getpgid: its own", "getpgid", (0,), "ok-any"),
    Check("getpgid: nobody", "getpgid", (0x3FFFFFFF,), "ESRCH"),
    Check("getsid: its own", "getsid", (0,), "ok-any"),
    Check("getsid: nobody", "getsid", (0x3FFFFFFF,), "ESRCH"),
    Check("setsid: it leads a process group", "setsid", (), "EPERM", valid=True),
    Check("setpgid: its own group", "setpgid", (0, 0), 0),
    Check("setpgid: a negative group", "setpgid", (0, -1), "EINVAL"),
    Check("setpgid: nobody", "setpgid", (0x3FFFFFFF, 0), "ESRCH"),
    Check("getgroups: how many", "getgroups", (0, 0), "ok-any"),
    Check("getgroups: a negative size", "getgroups", (-1, 0), "EINVAL"),
    Check("setgroups: none", "setgroups", (0, 0), "EPERM", valid=True,
          qemu_differs="the sandboxed process never has CAP_SETGID; under qemu it has the host user's"),
    Check("setgroups: a negative size", "setgroups", (-1, 0), "EINVAL"),
    Check("getgroups32: how many", "getgroups32", (0, 0), "ok-any"),
    Check("getgroups32: a negative size", "getgroups32", (-1, 0), "EINVAL"),
    Check("setgroups32: none", "setgroups32", (0, 0), "EPERM", valid=True,
          qemu_differs="the sandboxed process never has CAP_SETGID; under qemu it has the host user's"),
    Check("setgroups32: a negative size", "setgroups32", (-1, 0), "EINVAL"),
    Check("prctl: PR_SET_NAME", "prctl", (15, b"conformance", 0, 0, 0), 0),
    Check("prctl: PR_GET_NAME", "prctl", (16, Out(16), 0, 0, 0), 0),
    Check("prctl: PR_GET_DUMPABLE", "prctl", (3, 0, 0, 0, 0), 1),
    Check("prctl: an unknown option", "prctl", (9999, 0, 0, 0, 0), "EINVAL"),
    Check("wait4: no children", "wait4", (-1, Out(4), 0, 0), "ECHILD", valid=True),
    Check("wait4: bad options", "wait4", (-1, Out(4), 0x100, 0), "EINVAL"),
    Check("waitid: no children", "waitid", (0, 0, Out(128), 4, 0), "ECHILD", valid=True),
    Check("waitid: a bad id type", "waitid", (9, 0, Out(128), 4, 0), "EINVAL"),
    Check("getrusage: its own", "getrusage", (0, Out(144, _everything)), 0),
    Check("getrusage: a bad who", "getrusage", (5, Out(144)), "EINVAL"),
    Check("getrusage: a bad pointer", "getrusage", (0, NOWHERE), "EFAULT"),
    # -- limits and scheduling ---------------------------------------------------------------------
    Check("prlimit64: RLIMIT_NOFILE", "prlimit64", (0, 7, 0, Out(16, _everything)), 0),
    Check("prlimit64: a bad resource", "prlimit64", (0, 99, 0, Out(16)), "EINVAL"),
    Check("prlimit64: nobody", "prlimit64", (0x3FFFFFFF, 7, 0, Out(16)), "ESRCH"),
    Check("getrlimit: RLIMIT_NOFILE", "getrlimit", (7, Out(16, _everything)), 0),
    Check("getrlimit: a bad resource", "getrlimit", (99, Out(16)), "EINVAL"),
    Check("ugetrlimit: RLIMIT_NOFILE", "ugetrlimit", (7, Out(16, _everything)), 0),
    Check("ugetrlimit: a bad resource", "ugetrlimit", (99, Out(16)), "EINVAL"),
    Check("setrlimit: no core files", "setrlimit", (4, Words(0, 0)), 0),
    Check("setrlimit: soft above hard", "setrlimit", (4, Words(10, 5)), "EINVAL"),
    Check("getrlimit: the new core limit", "getrlimit", (4, Out(16)), 0),
    Check("sysinfo", "sysinfo", (Out(128, _everything),), 0),
    Check("sysinfo: a bad pointer", "sysinfo", (NOWHERE,), "EFAULT",
          qemu_differs="qemu-user does not check sysinfo's pointer"),
    Check("sched_getaffinity: its own", "sched_getaffinity", (0, 128, Out(128, _everything)), "ok-any"),
    Check("sched_getaffinity: too small a mask", "sched_getaffinity", (0, 1, Out(8)), "EINVAL"),
    Check("sched_getaffinity: nobody", "sched_getaffinity", (0x3FFFFFFF, 128, Out(128)), "ESRCH"),
    Check("sched_setaffinity: CPU 0", "sched_setaffinity", (0, 8, Quads(1)), 0),
    Check("sched_setaffinity: no CPU", "sched_setaffinity", (0, 8, Quads(0)), "EINVAL"),
    Check("sched_yield", "sched_yield", (), 0),
    Check("getcpu", "getcpu", (Out(4, _everything), Out(4, _everything), 0), 0),
    Check("getcpu: a bad pointer", "getcpu", (NOWHERE, 0, 0), "EFAULT"),
    Check("sched_getscheduler: its own", "sched_getscheduler", (0,), 0),
    Check("sched_getscheduler: a negative pid", "sched_getscheduler", (-1,), "EINVAL"),
    Check("sched_getparam: its own", "sched_getparam", (0, Out(4)), 0),
    Check("sched_getparam: no pointer", "sched_getparam", (0, 0), "EINVAL"),
    Check("getpriority: its own", "getpriority", (0, 0), "ok-any"),
    Check("getpriority: a bad which", "getpriority", (9, 0), "EINVAL"),
    Check("setpriority: a higher nice value", "setpriority", (0, 0, 5), 0),
    Check("getpriority: after it", "getpriority", (0, 0), 15),
    Check("setpriority: a bad which", "setpriority", (9, 0, 5), "EINVAL"),
    Check("setpriority: no such process", "setpriority", (0, 0x3FFFFFFF, 5), "ESRCH"),
    # interval timers: armed far ahead, then disarmed, so no SIGALRM ever comes (the time
    # left differs from run to run: its bytes are not compared)
    Check("alarm: none was set", "alarm", (100,), 0),
    Check("alarm: the seconds the last had left", "alarm", (0,), 100),
    Check("setitimer: ITIMER_REAL far ahead", "setitimer", (0, Words(0, 0, 100, 0), Out(32, ignore=lambda arch: [(0, 32)])), 0),
    Check("getitimer: ITIMER_REAL", "getitimer", (0, Out(32, ignore=lambda arch: [(0, 32)])), 0),
    Check("setitimer: disarm it", "setitimer", (0, Words(0, 0, 0, 0), 0), 0),
    Check("setitimer: a bad which", "setitimer", (9, Words(0, 0, 1, 0), 0), "EINVAL"),
    Check("setitimer: a microsecond count out of range", "setitimer", (0, Words(0, 0, 1, 1000000), 0), "EINVAL"),
    Check("setitimer: an unreadable value", "setitimer", (0, NOWHERE, 0), "EFAULT"),
    Check("getitimer: a bad which", "getitimer", (9, Out(32, ignore=lambda arch: [(0, 32)])), "EINVAL"),
    Check("getitimer: an unwritable result", "getitimer", (0, NOWHERE), "EFAULT"),
    Check("nice: one more", "nice", (1,), 0,
          qemu_differs="qemu-user returns the host C library's nice(), the new value; Linux's call returns 0"),
    # -- owners, modes, times, lengths ---------------------------------------------------------------
    Check("chmod: a file", "chmod", (b"scratch.txt", 0o600), 0),
    Check("chmod: a missing file", "chmod", (b"missing", 0o600), "ENOENT"),
    Check("fchmod: a file", "fchmod", (5, 0o640), 0),
    Check("fchmod: a bad descriptor", "fchmod", (99, 0o640), "EBADF"),
    Check("fchmodat: a file", "fchmodat", (AT_FDCWD, b"scratch.txt", 0o644), 0),
    Check("fchmodat: a missing file", "fchmodat", (AT_FDCWD, b"missing", 0o644), "ENOENT"),
    Check("fchmodat2: a file", "fchmodat2", (AT_FDCWD, b"scratch.txt", 0o644, 0), 0,
          qemu_differs="qemu-user 7.2 predates fchmodat2 (Linux 6.6)"),
    Check("fchmodat2: a bad flag", "fchmodat2", (AT_FDCWD, b"scratch.txt", 0o644, 1), "EINVAL",
          qemu_differs="qemu-user 7.2 predates fchmodat2 (Linux 6.6)"),
    Check("fstat: the new mode", "fstat", (5, NEW_STAT)),
    Check("chown: no change", "chown", (b"scratch.txt", -1, -1), 0),
    Check("chown: a missing file", "chown", (b"missing", -1, -1), "ENOENT"),
    Check("lchown: a link, no change", "lchown", (b"link.txt", -1, -1), 0),
    Check("lchown: a missing file", "lchown", (b"missing", -1, -1), "ENOENT"),
    Check("fchown: no change", "fchown", (5, -1, -1), 0),
    Check("fchown: a bad descriptor", "fchown", (99, -1, -1), "EBADF"),
    Check("chown32: no change", "chown32", (b"scratch.txt", -1, -1), 0),
    Check("chown32: a missing file", "chown32", (b"missing", -1, -1), "ENOENT"),
    Check("lchown32: no change", "lchown32", (b"link.txt", -1, -1), 0),
    Check("lchown32: a missing file", "lchown32", (b"missing", -1, -1), "ENOENT"),
    Check("fchown32: no change", "fchown32", (5, -1, -1), 0),
    Check("fchown32: a bad descriptor", "fchown32", (99, -1, -1), "EBADF"),
    Check("fchownat: no change", "fchownat", (AT_FDCWD, b"scratch.txt", -1, -1, 0), 0),
    Check("fchownat: a bad flag", "fchownat", (AT_FDCWD, b"scratch.txt", -1, -1, 1), "EINVAL"),
    Check("utimensat: now", "utimensat", (AT_FDCWD, b"scratch.txt", 0, 0), 0),
    Check("utimensat: nanoseconds out of range", "utimensat",
          (AT_FDCWD, b"scratch.txt", Words(0, 2_000_000_000, 0, 0), 0), "EINVAL"),
    Check("utimensat: a bad flag", "utimensat", (AT_FDCWD, b"scratch.txt", 0, 1), "EINVAL"),
    Check("futimesat: now", "futimesat", (AT_FDCWD, b"scratch.txt", 0), 0),
    Check("futimesat: microseconds out of range", "futimesat", (AT_FDCWD, b"scratch.txt", Words(0, 2_000_000, 0, 0)),
          "EINVAL"),
    Check("utimes: now", "utimes", (b"scratch.txt", 0), 0),
    Check("utimes: a missing file", "utimes", (b"missing", 0), "ENOENT"),
    Check("utime: now", "utime", (b"scratch.txt", 0), 0),
    Check("utime: a missing file", "utime", (b"missing", 0), "ENOENT"),
    Check("truncate: a file", "truncate", (b"scratch.txt", 3), 0),
    Check("truncate: a directory", "truncate", (b"dir", 0), "EISDIR"),
    Check("truncate: a missing file", "truncate", (b"missing", 0), "ENOENT"),
    Check("truncate64: a file", "truncate64", (b"scratch.txt", L(4)), 0),
    Check("truncate64: a negative length", "truncate64", (b"scratch.txt", L(-1)), "EINVAL"),
    # -- file systems ---------------------------------------------------------------------------------
    Check("statfs: the directory's", "statfs", (b"data.txt", Out(120, _everything)), 0),
    Check("statfs: a missing file", "statfs", (b"missing", Out(120)), "ENOENT"),
    Check("fstatfs: a descriptor's", "fstatfs", (3, Out(120, _everything)), 0),
    Check("fstatfs: a bad descriptor", "fstatfs", (99, Out(120)), "EBADF"),
    Check("statx: a file", "statx", (AT_FDCWD, b"data.txt", 0, 0x7FF, Out(256, _statx_varies)), 0),
    Check("statx: a reserved mask bit", "statx", (AT_FDCWD, b"data.txt", 0, 0x80000000, Out(256)), "EINVAL"),
    Check("statx: a bad flag", "statx", (AT_FDCWD, b"data.txt", 0x10000000, 0x7FF, Out(256)), "EINVAL"),
    # -- pipes, polling, copying --------------------------------------------------------------------------
    Check("pipe2: a pipe", "pipe2", (Out(8), 0), 0),
    Check("write: into the pipe", "write", (7, b"piped", 5), 5),
    Check("poll: the pipe is readable", "poll", (Out(8, init=_pollfd(6, 1)), 1, 0), 1),
    Check("poll: too many descriptors", "poll", (Out(8), 0x7FFFFFFF, 0), "EINVAL"),
    Check("poll: a bad pointer", "poll", (NOWHERE, 1, 0), "EFAULT"),
    Check("ppoll: the pipe is readable", "ppoll", (Out(8, init=_pollfd(6, 1)), 1, Words(0, 0), 0, 8), 1),
    Check("ppoll: a bad sigset size", "ppoll", (Out(8, init=_pollfd(6, 1)), 1, Words(0, 0), Quads(0), 4), "EINVAL"),
    Check("select: the pipe is readable", "select", (8, Out(128, init=_fd_set(6)), 0, 0, Words(0, 0)), 1,
          not_on=("i386",)),
    Check("select: a negative count", "select", (-1, 0, 0, 0, Words(0, 0)), "EINVAL", not_on=("i386",)),
    Check("select (i386, by pointer): the pipe is readable", "select",
          (Words(8, Out(128, init=_fd_set(6)), 0, 0, Words(0, 0)),), 1, only=("i386",)),
    Check("select (i386, by pointer): a negative count", "select", (Words(-1, 0, 0, 0, Words(0, 0)),), "EINVAL",
          only=("i386",)),
    Check("_newselect: the pipe is readable", "_newselect", (8, Out(128, init=_fd_set(6)), 0, 0, Words(0, 0)), 1),
    Check("_newselect: a negative count", "_newselect", (-1, 0, 0, 0, Words(0, 0)), "EINVAL"),
    Check("pselect6: the pipe is readable", "pselect6", (8, Out(128, init=_fd_set(6)), 0, 0, Words(0, 0), 0), 1),
    Check("pselect6: a negative count", "pselect6", (-1, 0, 0, 0, Words(0, 0), 0), "EINVAL"),
    Check("read: from the pipe", "read", (6, Out(8), 8), 5),
    Check("close: the pipe's read end", "close", (6,), 0),
    Check("close: the pipe's write end", "close", (7,), 0),
    Check("pipe2: a bad flag", "pipe2", (Out(8), 1), "EINVAL"),
    # -- a socket pair (6 and 7): the sockets that reach nothing but each other ----------------------
    Check("socketpair: AF_UNIX, SOCK_STREAM", "socketpair", (1, 1, 0, Out(8)), 0),
    Check("socketpair: not AF_UNIX", "socketpair", (2, 1, 0, Out(8)), "EOPNOTSUPP"),
    Check("socketpair: a bad type", "socketpair", (1, 11, 0, Out(8)), "EINVAL"),
    Check("sendto: over the pair", "sendto", (7, b"hi", 2, 0, 0, 0), 2),
    Check("sendto: not a socket", "sendto", (3, b"hi", 2, 0, 0, 0), "ENOTSOCK"),
    Check("recvfrom: over the pair", "recvfrom", (6, Out(8), 8, 0, 0, 0), 2),
    Check("recvfrom: a bad descriptor", "recvfrom", (99, Out(8), 8, 0, 0, 0), "EBADF"),
    Check("sendmsg: one segment", "sendmsg", (7, Words(0, 0, Words(b"yo!", 3), 1, 0, 0, 0), 0), 3),
    Check("sendmsg: not a socket", "sendmsg", (3, Words(0, 0, Words(b"yo!", 3), 1, 0, 0, 0), 0), "ENOTSOCK"),
    Check("recvmsg: one segment", "recvmsg", (6, Words(0, 0, Words(Out(8), 8), 1, 0, 0, 0), 0), 3),
    Check("recvmsg: a bad header", "recvmsg", (6, NOWHERE, 0), "EFAULT"),
    Check("getsockopt: SO_TYPE", "getsockopt", (6, 1, 3, Out(4), Words(4)), 0),
    Check("getsockopt: a level a Unix socket has not", "getsockopt", (6, 6, 1, Out(4), Words(4)), "EOPNOTSUPP"),
    Check("setsockopt: SO_KEEPALIVE", "setsockopt", (6, 1, 9, Words(1), 4), 0),
    Check("setsockopt: a short value", "setsockopt", (6, 1, 9, Words(1), 1), "EINVAL"),
    Check("getsockname: an unnamed socket", "getsockname", (6, Out(16), Words(16)), 0),
    Check("getsockname: not a socket", "getsockname", (3, Out(16), Words(16)), "ENOTSOCK"),
    Check("getpeername: an unnamed peer", "getpeername", (6, Out(16), Words(16)), 0),
    Check("getpeername: a bad descriptor", "getpeername", (99, Out(16), Words(16)), "EBADF"),
    Check("shutdown: writing", "shutdown", (7, 1), 0),
    Check("shutdown: a bad how", "shutdown", (7, 9), "EINVAL"),
    Check("listen: a connected socket", "listen", (6, 5), "EINVAL"),
    Check("connect: not a socket", "connect", (3, bytes(16), 16), "ENOTSOCK"),
    Check("bind: not a socket", "bind", (3, bytes(16), 16), "ENOTSOCK"),
    Check("accept: not a socket", "accept", (3, 0, 0), "ENOTSOCK"),
    Check("accept4: a bad flag", "accept4", (6, 0, 0, 1), "EINVAL"),
    Check("socket: a bad type", "socket", (2, 99, 0), "EINVAL",
          qemu_differs="qemu-user drops the bits of the type it does not know, and answers for what is left"),
    Check("socket: an unknown family", "socket", (999, 1, 0), "EAFNOSUPPORT"),
    Check("close: the pair's first socket", "close", (6,), 0),
    Check("close: the pair's second socket", "close", (7,), 0),
    # -- an eventfd (6), an epoll (7), a timerfd (8) and a signalfd (9) --------------------------------
    Check("eventfd2: a count of 2", "eventfd2", (2, 0), 6),
    Check("eventfd2: a bad flag", "eventfd2", (0, 0x10), "EINVAL"),
    Check("eventfd2: every bit set", "eventfd2", (0, -1), "EINVAL"),
    Check("write: 3 to the eventfd", "write", (6, Quads(3), 8), 8),
    Check("write: 4 bytes to the eventfd", "write", (6, Quads(3), 4), "EINVAL"),
    Check("write: the largest count to the eventfd", "write", (6, Quads(2**64 - 1), 8), "EINVAL"),
    Check("read: 4 bytes of the eventfd", "read", (6, Out(8), 4), "EINVAL"),
    Check("read: the eventfd's count", "read", (6, Out(8), 8), 8),
    Check("poll: the eventfd is writable, not readable", "poll", (Out(8, init=_pollfd(6, 5)), 1, 0), 1),
    Check("write: 1 to the eventfd", "write", (6, Quads(1), 8), 8),
    Check("epoll_create1: an epoll", "epoll_create1", (0,), 7),
    Check("epoll_create1: a bad flag", "epoll_create1", (1,), "EINVAL"),
    Check("epoll_create: a size of 0", "epoll_create", (0,), "EINVAL"),
    *_epoll_ctl("add the eventfd", 7, 1, 6, EPOLLIN, 0x6666, 0),
    *_epoll_ctl("add it again", 7, 1, 6, EPOLLIN, 0, "EEXIST"),
    *_epoll_ctl("modify a descriptor not added", 7, 3, 1, EPOLLIN, 0, "ENOENT"),
    *_epoll_ctl("a regular file", 7, 1, 3, EPOLLIN, 0, "EPERM"),
    *_epoll_ctl("a directory", 7, 1, 4, EPOLLIN, 0, "EPERM"),
    *_epoll_ctl("the epoll itself", 7, 1, 7, EPOLLIN, 0, "EINVAL"),
    *_epoll_ctl("not an epoll", 6, 1, 1, EPOLLIN, 0, "EINVAL"),
    *_epoll_ctl("a bad descriptor", 7, 1, 99, EPOLLIN, 0, "EBADF"),
    *_epoll_ctl("a bad epoll descriptor", 99, 1, 6, EPOLLIN, 0, "EBADF"),
    *_epoll_ctl("a bad op", 7, 9, 6, EPOLLIN, 0, "EINVAL"),
    *_epoll_ctl("EPOLLEXCLUSIVE with EPOLLONESHOT", 7, 1, 1, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 0, "EINVAL"),
    *_epoll_ctl("EPOLLEXCLUSIVE on a modify", 7, 3, 6, EPOLLIN | EPOLLEXCLUSIVE, 0, "EINVAL"),
    Check("epoll_ctl: delete a descriptor not added", "epoll_ctl", (7, 2, 1, 0), "ENOENT"),
    Check("epoll_ctl: a bad event pointer", "epoll_ctl", (7, 1, 1, NOWHERE), "EFAULT"),
    Check("epoll_wait: the eventfd is readable", "epoll_wait", (7, Out(32), 2, 0), 1),
    Check("epoll_wait: no room", "epoll_wait", (7, Out(32), 0, 0), "EINVAL"),
    Check("epoll_pwait: the eventfd is readable", "epoll_pwait", (7, Out(32), 2, 0, 0, 8), 1),
    Check("epoll_pwait: a bad sigset size", "epoll_pwait", (7, Out(32), 2, 0, Quads(0), 4), "EINVAL"),
    Check("epoll_pwait: no room", "epoll_pwait", (7, Out(32), 0, 0, 0, 8), "EINVAL"),
    Check("epoll_pwait: not an epoll", "epoll_pwait", (6, Out(32), 1, 0, 0, 8), "EINVAL"),
    Check("epoll_pwait: a bad descriptor", "epoll_pwait", (99, Out(32), 1, 0, 0, 8), "EBADF"),
    Check("epoll_pwait2: the eventfd is readable", "epoll_pwait2", (7, Out(32), 2, Quads(0, 0), 0, 8), 1,
          qemu_differs=_NO_PWAIT2),
    Check("epoll_pwait2: a bad timeout", "epoll_pwait2", (7, Out(32), 2, Quads(0, 10**9), 0, 8), "EINVAL",
          qemu_differs=_NO_PWAIT2),
    *_epoll_ctl("modify it to writable, edge-triggered", 7, 3, 6, EPOLLOUT | EPOLLET, 0x6767, 0),
    Check("epoll_pwait: the edge", "epoll_pwait", (7, Out(32), 2, 0, 0, 8), 1),
    Check("epoll_pwait: no edge since", "epoll_pwait", (7, Out(32), 2, 0, 0, 8), 0),
    Check("epoll_ctl: delete the eventfd", "epoll_ctl", (7, 2, 6, 0), 0),
    Check("epoll_pwait: nothing watched", "epoll_pwait", (7, Out(32), 2, 0, 0, 8), 0),
    Check("timerfd_create: monotonic", "timerfd_create", (1, 0), 8),
    Check("timerfd_create: a bad clock", "timerfd_create", (3, 0), "EINVAL"),
    Check("timerfd_create: a bad flag", "timerfd_create", (1, 1), "EINVAL"),
    *_epoll_ctl("add the timerfd", 7, 1, 8, EPOLLIN, 0x8888, 0),
    Check("timerfd_settime: in 100 s", "timerfd_settime", (8, 0, Words(0, 0, 100, 0), Out(WORDS4)), 0),
    Check("timerfd_gettime: armed", "timerfd_gettime", (8, Out(WORDS4, _everything)), 0),
    Check("epoll_pwait: the timer has not expired", "epoll_pwait", (7, Out(32), 2, 0, 0, 8), 0),
    Check("timerfd_settime: a bad flag", "timerfd_settime", (8, 4, Words(0, 0, 1, 0), 0), "EINVAL"),
    Check("timerfd_settime: nanoseconds out of range", "timerfd_settime", (8, 0, Words(0, 0, 0, 10**9), 0),
          "EINVAL"),
    Check("timerfd_settime: not a timerfd", "timerfd_settime", (6, 0, Words(0, 0, 1, 0), 0), "EINVAL"),
    Check("timerfd_settime: a bad descriptor", "timerfd_settime", (99, 0, Words(0, 0, 1, 0), 0), "EBADF"),
    Check("timerfd_settime: a bad pointer", "timerfd_settime", (8, 0, NOWHERE, 0), "EFAULT"),
    Check("timerfd_settime: an instant long past", "timerfd_settime", (8, 1, Words(0, 0, 0, 1), Out(WORDS4, _everything)),
          0),
    Check("epoll_pwait: the timer has expired", "epoll_pwait", (7, Out(32), 2, 0, 0, 8), 1),
    Check("read: the timer's expirations", "read", (8, Out(8), 8), 8),
    Check("read: 4 bytes of the timerfd", "read", (8, Out(8), 4), "EINVAL"),
    Check("timerfd_gettime: expired, disarmed", "timerfd_gettime", (8, Out(WORDS4)), 0),
    Check("timerfd_gettime: not a timerfd", "timerfd_gettime", (6, Out(WORDS4)), "EINVAL"),
    Check("timerfd_gettime: a bad pointer", "timerfd_gettime", (8, NOWHERE), "EFAULT"),
    Check("timerfd_settime64: in 100 s", "timerfd_settime64", (8, 0, Quads(0, 0, 100, 0), Out(32)), 0),
    Check("timerfd_gettime64: armed", "timerfd_gettime64", (8, Out(32, _everything)), 0),
    Check("timerfd_settime64: a bad flag", "timerfd_settime64", (8, 4, Quads(0, 0, 1, 0), 0), "EINVAL"),
    Check("timerfd_gettime64: not a timerfd", "timerfd_gettime64", (6, 0), "EINVAL"),
    Check("rt_sigprocmask: block SIGUSR1 for a signalfd", "rt_sigprocmask", (0, Quads(1 << 9), 0, 8), 0),
    Check("signalfd4: SIGUSR1, non-blocking", "signalfd4", (-1, Quads(1 << 9), 8, NONBLOCK), 9),
    Check("signalfd4: a bad flag", "signalfd4", (-1, Quads(1 << 9), 8, 1), "EINVAL"),
    Check("signalfd4: not a signalfd", "signalfd4", (6, Quads(1 << 9), 8, 0), "EINVAL"),
    Check("signalfd4: a bad descriptor", "signalfd4", (99, Quads(1 << 9), 8, 0), "EBADF"),
    Check("signalfd4: a bad mask pointer", "signalfd4", (-1, NOWHERE, 8, 0), "EFAULT"),
    Check("signalfd: not a signalfd", "signalfd", (6, Quads(1 << 9), 8), "EINVAL"),
    Check("signalfd4: the same mask again", "signalfd4", (9, Quads(1 << 9), 8, 0), 9),
    Check("read: nothing pending on the signalfd", "read", (9, Out(128), 128), "EAGAIN"),
    Check("read: 64 bytes of the signalfd", "read", (9, Out(128), 64), "EINVAL"),
    *_epoll_ctl("add the signalfd", 7, 1, 9, EPOLLIN, 0x9999, 0),
    Check("kill: SIGUSR1 to itself, for the signalfd", "kill", (Ret("getpid: for kill"), 10), 0),
    Check("epoll_pwait: the signalfd is readable", "epoll_pwait", (7, Out(32), 2, 0, 0, 8), 1),
    Check("read: SIGUSR1 from the signalfd", "read", (9, Out(128, _signal_sender), 128), 128),
    Check("rt_sigprocmask: unblock SIGUSR1 after the signalfd", "rt_sigprocmask", (1, Quads(1 << 9), 0, 8), 0),
    Check("epoll_pwait: nothing ready after the reads", "epoll_pwait", (7, Out(32), 2, 0, 0, 8), 0),
    Check("close: the signalfd", "close", (9,), 0),
    Check("close: the timerfd", "close", (8,), 0),
    Check("close: the epoll", "close", (7,), 0),
    Check("close: the eventfd", "close", (6,), 0),
    Check("sendfile: to stdout", "sendfile", (1, 3, Words(0), 5), 5),
    Check("sendfile: from a bad descriptor", "sendfile", (1, 99, 0, 5), "EBADF"),
    Check("sendfile: to a read-only descriptor", "sendfile", (3, 3, 0, 5), "EBADF"),
    Check("getdents: a directory", "getdents", (4, Out(1024, _everything), 1024), "ok",
          qemu_differs="qemu-i386 lays out legacy dirents with the host's 8-byte words", qemu_differs_on=("i386",)),
    Check("getdents: a file", "getdents", (3, Out(64), 64), "ENOTDIR"),
    # -- calls that make a descriptor whose number depends on the arch's calls: last ----------------
    Check("pipe: a pipe", "pipe", (Out(8),), 0),
    Check("open: a file", "open", (b"data.txt", RDONLY, 0)),
    Check("creat: a file", "creat", (b"created.txt", 0o600)),
    Check("dup: a descriptor", "dup", (3,)),
    Check("eventfd: a counter", "eventfd", (0,)),
    Check("epoll_create: an epoll", "epoll_create", (1,)),
    Check("signalfd: SIGUSR2", "signalfd", (-1, Quads(1 << 11), 8)),
    # qemu-user leaves the two descriptors of a pipe open when it cannot store their numbers
    Check("pipe2: a bad pointer", "pipe2", (NOWHERE, 0), "EFAULT"),
    Check("pipe: a bad pointer", "pipe", (NOWHERE,), "EFAULT"),
    # qemu-user makes a signalfd whatever the mask's size: the descriptors it leaks come last
    Check("signalfd4: a bad mask size", "signalfd4", (-1, Quads(1 << 9), 4, 0), "EINVAL",
          qemu_differs="qemu-user does not check the mask's size"),
    Check("signalfd: a bad mask size", "signalfd", (-1, Quads(1 << 9), 4), "EINVAL",
          qemu_differs="qemu-user does not check the mask's size"),
]
