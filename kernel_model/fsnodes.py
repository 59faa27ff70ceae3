"""The pieces a filesystem is made of: file metadata, open-file handles, and the mode bits.

A *handle* is what an open file description reads and writes through: a host file, an
in-memory file, a device, a directory listing, or a stdio stream. Handles know nothing about
file offsets or descriptor flags; :class:`kernel_model.files.OpenFile` owns those.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

from kernel_model.linux_errno import Errno
from kernel_model.seam import KernelError

if TYPE_CHECKING:
    from kernel_model.waits import HostWaits

S_IFMT = 0o170000
S_IFSOCK = 0o140000
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFBLK = 0o060000
S_IFDIR = 0o040000
S_IFCHR = 0o020000
S_IFIFO = 0o010000

# poll(2) event bits (the generic values; x86_64 and aarch64 use them).
POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
POLLRDNORM, POLLRDBAND, POLLWRNORM, POLLWRBAND = 0x40, 0x80, 0x100, 0x200
POLLRDHUP = 0x2000
READABLE = POLLIN | POLLRDNORM
WRITABLE = POLLOUT | POLLWRNORM

# d_type values of getdents64, indexed by the file type bits.
DT_UNKNOWN, DT_FIFO, DT_CHR, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK = 0, 1, 2, 4, 6, 8, 10, 12


def dtype_of(mode: int) -> int:
    """The ``d_type`` for a ``st_mode``."""
    return (mode & S_IFMT) >> 12


def s_isdir(mode: int) -> bool:
    """Whether ``mode`` is a directory's."""
    return mode & S_IFMT == S_IFDIR


def s_islnk(mode: int) -> bool:
    """Whether ``mode`` is a symbolic link's."""
    return mode & S_IFMT == S_IFLNK


def s_isreg(mode: int) -> bool:
    """Whether ``mode`` is a regular file's."""
    return mode & S_IFMT == S_IFREG


def makedev(major: int, minor: int) -> int:
    """A Linux ``dev_t`` from its major and minor numbers (the kernel's new encoding)."""
    return (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & ~0xFF) << 12) | ((major & ~0xFFF) << 32)


@dataclass(frozen=True)
class StatInfo:
    """The fields of ``struct stat`` as the kernel knows them, before any arch packs them."""

    mode: int
    size: int = 0
    ino: int = 0
    dev: int = 0
    nlink: int = 1
    uid: int = 0
    gid: int = 0
    rdev: int = 0
    blksize: int = 4096
    blocks: int = 0
    atime_ns: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0

    def with_(self, **changes: int) -> "StatInfo":
        """A copy with some fields changed."""
        return replace(self, **changes)

    @staticmethod
    def from_host(st: os.stat_result) -> "StatInfo":
        """Convert a host ``os.stat_result``.

        The file type bits are rebuilt from the host's ``S_IS*`` tests, because their
        numbers are not the same on every host OS.
        """
        import stat as host_stat

        kinds = (
            (host_stat.S_ISREG, S_IFREG), (host_stat.S_ISDIR, S_IFDIR), (host_stat.S_ISLNK, S_IFLNK),
            (host_stat.S_ISCHR, S_IFCHR), (host_stat.S_ISBLK, S_IFBLK), (host_stat.S_ISFIFO, S_IFIFO),
            (host_stat.S_ISSOCK, S_IFSOCK),
        )
        ftype = next((bits for test, bits in kinds if test(st.st_mode)), S_IFREG)
        return StatInfo(
            mode=ftype | (st.st_mode & 0o7777),
            size=st.st_size,
            ino=st.st_ino,
            dev=_linux_dev(st.st_dev),
            nlink=st.st_nlink,
            uid=st.st_uid,
            gid=st.st_gid,
            rdev=_linux_dev(getattr(st, "st_rdev", 0)),
            blksize=getattr(st, "st_blksize", 4096),
            blocks=getattr(st, "st_blocks", (st.st_size + 511) // 512),
            atime_ns=st.st_atime_ns,
            mtime_ns=st.st_mtime_ns,
            ctime_ns=st.st_ctime_ns,
        )


def _linux_dev(host_dev: int) -> int:
    """A host ``dev_t`` in Linux's encoding: the host's own major/minor split decides."""
    try:
        return makedev(os.major(host_dev), os.minor(host_dev))
    except (AttributeError, OverflowError, ValueError):
        return host_dev & 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True)
class DirEntry:
    """One entry of a directory listing."""

    name: str
    ino: int
    dtype: int


def host_errno(exc: OSError) -> Errno:
    """The Linux errno for a host ``OSError``, by name, so that macOS numbers never leak."""
    import errno as host_errno_mod

    name = host_errno_mod.errorcode.get(exc.errno or 0, "EIO")
    try:
        return Errno[name]
    except KeyError:
        aliases = {"EWOULDBLOCK": Errno.EAGAIN, "ENOTSUP": Errno.EOPNOTSUPP, "EDEADLOCK": Errno.EDEADLK}
        return aliases.get(name, Errno.EIO)


def host_call(fn: Callable, *args, **kw):  # type: ignore[no-untyped-def]
    """Call a host function, turning an ``OSError`` into the matching Linux :class:`KernelError`."""
    try:
        return fn(*args, **kw)
    except OSError as exc:
        raise KernelError(host_errno(exc), str(exc)) from None


def now_ns() -> int:
    """The current wall-clock time in nanoseconds, for in-memory file timestamps."""
    return time.time_ns()


class WouldBlock(KernelError):
    """The transfer cannot make progress now (an empty pipe, a full one, a quiet host FIFO).

    A handle raises it; the open file decides what it means: ``EAGAIN`` with ``O_NONBLOCK``,
    otherwise the task waits (:class:`kernel_model.sched.Blocked`) until one of ``queues`` is
    woken (another task wrote to the pipe) or a descriptor in ``host`` is ready (a host FIFO).
    """

    def __init__(self, what: str, queues: tuple = (), host: dict[int, int] | None = None,
                 deadline: int | None = None) -> None:
        super().__init__(Errno.EAGAIN, what)
        self.what = what
        self.queues = queues  # the wait queues (kernel_model.sched.WaitQueue) a change wakes
        self.host = host or {}  # or the host descriptors whose events end the wait
        self.deadline = deadline  # or this time (monotonic ns), when time alone ends it (a timer)


class Handle:
    """An open file as a filesystem provides it. Subclasses override what they support.

    ``pread``/``pwrite`` take explicit offsets; ``seekable`` False makes ``lseek`` fail with
    ``ESPIPE`` and ``pread`` ignore its offset (the kernel layer rejects pread on such files).
    A handle that can block (a pipe) raises :class:`WouldBlock` instead of blocking, and writes
    only what fits without blocking; ``may_block`` tells the open file to treat a short write as
    a wait.
    """

    seekable = True
    is_tty = False
    is_directory = False
    may_block = False

    def pread(self, size: int, offset: int) -> bytes:
        """Read up to ``size`` bytes at ``offset``."""
        raise KernelError(Errno.EINVAL)

    def pwrite(self, data: bytes, offset: int) -> int:
        """Write ``data`` at ``offset``; return how many bytes were written."""
        raise KernelError(Errno.EINVAL)

    def stat(self) -> StatInfo:
        """The file's metadata."""
        raise NotImplementedError

    def truncate(self, length: int) -> None:
        """Set the file's size."""
        raise KernelError(Errno.EINVAL)

    def listdir(self) -> list[DirEntry]:
        """The entries of a directory, without ``.`` and ``..``."""
        raise KernelError(Errno.ENOTDIR)

    def sync(self) -> None:
        """Flush to stable storage (nothing to do for most handles)."""

    def close(self) -> None:
        """Release what the handle holds."""

    def host_fd(self) -> int | None:
        """The host file descriptor behind this handle, if any (for zero-copy transfers)."""
        return None

    def poll(self) -> int:
        """The poll events true now (a file is always ready to read and write)."""
        return READABLE | WRITABLE

    def wait_fd(self) -> int | None:
        """A host descriptor whose readiness is this handle's, for a blocking poll to wait on."""
        return None

    def waiters(self) -> tuple:
        """The wait queues woken when this handle's readiness may have changed (a poll waits
        on them); none for a handle that is always ready or whose readiness is the host's."""
        return ()

    @property
    def pollable(self) -> bool:
        """Whether epoll may watch it: streams, pipes, sockets and event files are; regular
        files, directories and plain devices have no poll of their own (``EPERM``)."""
        return not self.seekable and not self.is_directory

    def wait_sources(self, events: int) -> tuple[tuple, dict[int, int], int | None]:
        """What a wait for ``events`` of this handle waits on: its wait queues, host
        descriptors with their events, and a deadline (monotonic ns) when time alone makes it
        ready (a timer). poll, select and epoll all wait through this."""
        host_fd = self.wait_fd()
        return self.waiters(), ({host_fd: events} if host_fd is not None else {}), None

    def poll_generation(self) -> int | None:
        """A number that changes whenever the handle's readiness may have changed (each wake
        of its wait queues), for an edge-triggered epoll; None when only the host knows (an
        edge is then a change of the events seen)."""
        queues = self.waiters()
        if not queues:
            return None
        return sum(q.generation for q in queues)

    def bytes_available(self) -> int | None:
        """What FIONREAD reports for a stream (None: not a stream that counts)."""
        return None

    def proc_name(self) -> str | None:
        """The name ``/proc/self/fd`` shows for an object without a path (``pipe:[ino]``)."""
        return None


class BytesHandle(Handle):
    """A read-only file whose contents are already in memory (a loaded program image)."""

    def __init__(self, data: bytes, st: StatInfo) -> None:
        self._data = data
        self._st = st

    def pread(self, size: int, offset: int) -> bytes:
        return self._data[offset : offset + size]

    def stat(self) -> StatInfo:
        return self._st


class StreamHandle(Handle):
    """A byte stream with no offsets: stdin, stdout, stderr (captured or passed through)."""

    seekable = False

    def __init__(
        self,
        reader: Callable[[int], bytes] | None,
        writer: Callable[[bytes], int] | None,
        *,
        is_tty: bool = False,
        ino: int = 0,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.is_tty = is_tty
        self._ino = ino

    def pread(self, size: int, offset: int) -> bytes:
        if self._reader is None:
            raise KernelError(Errno.EBADF)
        return self._reader(size)

    def pwrite(self, data: bytes, offset: int) -> int:
        if self._writer is None:
            raise KernelError(Errno.EBADF)
        return self._writer(data)

    def poll(self) -> int:
        ready = WRITABLE if self._writer is not None else 0
        if self._reader is not None:
            # A captured stdin is a pipe whose writer has written everything and gone.
            remaining = getattr(self._reader, "remaining", None)
            ready |= READABLE if remaining is None or remaining > 0 else POLLHUP
        return ready

    def bytes_available(self) -> int | None:
        return getattr(self._reader, "remaining", None)

    def proc_name(self) -> str | None:
        return f"pipe:[{self._ino}]" if not self.is_tty else None

    def stat(self) -> StatInfo:
        # A terminal is a character device (136 = pty major); anything else shows as a pipe,
        # which is what a captured or redirected stream is.
        if self.is_tty:
            return StatInfo(mode=S_IFCHR | 0o620, ino=self._ino, rdev=makedev(136, 0), blksize=1024)
        return StatInfo(mode=S_IFIFO | 0o600, ino=self._ino, blksize=4096)


class HostStreamHandle(Handle):
    """One of the host's own stdin/stdout/stderr, passed through to the guest (the CLI's case).

    Reads and writes go straight to the host descriptor; ``fstat`` and ``isatty`` describe it
    as it is, so a guest sees a terminal, a pipe or a redirected file just as it would natively.
    """

    seekable = False

    def __init__(self, fd: int, waits: "HostWaits | None" = None) -> None:
        self._fd = fd
        # Reads and writes first wait through ``waits``, so a timeout can end a guest that
        # waits for a terminal (see kernel_model.waits); None: wait in the host call itself.
        self._waits = waits
        try:
            self.is_tty = os.isatty(fd)
        except OSError:
            self.is_tty = False

    def pread(self, size: int, offset: int) -> bytes:
        if self._waits is not None and not host_poll({self._fd: READABLE}, 0):
            # Not ready: the task waits for the host descriptor (and other tasks run meanwhile).
            raise WouldBlock("a read of the host's stream", host={self._fd: READABLE})
        return host_call(os.read, self._fd, min(size, 1 << 20))

    def pwrite(self, data: bytes, offset: int) -> int:
        if self._waits is not None and not host_poll({self._fd: WRITABLE}, 0):
            raise WouldBlock("a write to the host's stream", host={self._fd: WRITABLE})
        return host_call(os.write, self._fd, data)

    def stat(self) -> StatInfo:
        return StatInfo.from_host(host_call(os.fstat, self._fd))

    def poll(self) -> int:
        return host_poll({self._fd: READABLE | WRITABLE}, 0).get(self._fd, 0)

    def bytes_available(self) -> int | None:
        return host_bytes_available(self._fd)

    def wait_fd(self) -> int | None:
        return self._fd

    def host_fd(self) -> int | None:
        return self._fd

    def proc_name(self) -> str | None:
        # What the process would see natively: the host's own name for it (pipe:[...], a tty).
        try:
            return os.readlink(f"/proc/self/fd/{self._fd}")
        except OSError:
            return None


def host_bytes_available(fd: int) -> int | None:
    """What FIONREAD says of a host stream descriptor (None where the host cannot say)."""
    try:
        import fcntl
        import sys
        import termios

        buf = bytearray(4)
        fcntl.ioctl(fd, termios.FIONREAD, buf)
        return int.from_bytes(buf, sys.byteorder)
    except (ImportError, OSError):
        return None


# Linux poll bits by the host's names, so a host whose numbers differ still answers right.
_HOST_POLL_BITS = (
    ("POLLIN", POLLIN), ("POLLPRI", POLLPRI), ("POLLOUT", POLLOUT), ("POLLERR", POLLERR), ("POLLHUP", POLLHUP),
    ("POLLNVAL", POLLNVAL), ("POLLRDNORM", POLLRDNORM), ("POLLRDBAND", POLLRDBAND), ("POLLWRNORM", POLLWRNORM),
    ("POLLWRBAND", POLLWRBAND), ("POLLRDHUP", POLLRDHUP),
)


def host_poll(wanted: dict[int, int], timeout_ms: int | None) -> dict[int, int]:
    """Poll host descriptors for Linux event bits; returns the Linux bits that are true.

    ``timeout_ms`` None waits for ever. Uses the host's ``poll`` where it has one.
    """
    import select

    if not hasattr(select, "poll"):  # pragma: no cover - Windows has no poll for pipes
        return {fd: ev & (READABLE | WRITABLE) for fd, ev in wanted.items()}
    bits = [(getattr(select, name), linux) for name, linux in _HOST_POLL_BITS if hasattr(select, name)]
    poller = select.poll()
    for fd, events in wanted.items():
        poller.register(fd, sum(host for host, linux in bits if events & linux))
    try:
        got = poller.poll(timeout_ms)
    except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for older hosts
        got = []
    out: dict[int, int] = {}
    for fd, host_events in got:
        out[fd] = out.get(fd, 0) | sum(linux for host, linux in bits if host_events & host)
    return out


class OutputLimit:
    """A budget of bytes shared by the output streams it limits (the guest's stdout and stderr).

    ``refused`` counts the writes the limit cut short or refused.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.refused = 0


class LimitedOutputHandle(Handle):
    """An output stream whose writes draw on an :class:`OutputLimit`.

    It behaves as ``RLIMIT_FSIZE`` makes a file behave: a write that would cross the limit
    writes what fits, and a write at the limit fails with ``EFBIG`` (the write path then
    raises ``SIGXFSZ``, whose default action ends the process). Everything else is the
    stream's own.
    """

    def __init__(self, inner: Handle, budget: OutputLimit) -> None:
        self.inner = inner
        self.budget = budget
        self.seekable = inner.seekable
        self.is_tty = inner.is_tty
        self.is_directory = inner.is_directory
        self.may_block = inner.may_block

    def pwrite(self, data: bytes, offset: int) -> int:
        if not data:
            return self.inner.pwrite(data, offset)
        budget = self.budget
        room = budget.limit - budget.used
        if room <= 0:
            budget.refused += 1
            raise KernelError(Errno.EFBIG)
        if len(data) > room:
            budget.refused += 1
            data = data[:room]
        written = self.inner.pwrite(data, offset)
        budget.used += written
        return written

    def pread(self, size: int, offset: int) -> bytes:
        return self.inner.pread(size, offset)

    def stat(self) -> StatInfo:
        return self.inner.stat()

    def truncate(self, length: int) -> None:
        self.inner.truncate(length)

    def sync(self) -> None:
        self.inner.sync()

    def close(self) -> None:
        self.inner.close()

    def host_fd(self) -> int | None:
        return None  # a zero-copy transfer to the host descriptor would not be counted

    def poll(self) -> int:
        return self.inner.poll()

    def wait_fd(self) -> int | None:
        return self.inner.wait_fd()

    def waiters(self) -> tuple:
        return self.inner.waiters()

    def wait_sources(self, events: int) -> tuple[tuple, dict[int, int], int | None]:
        return self.inner.wait_sources(events)

    def poll_generation(self) -> int | None:
        return self.inner.poll_generation()

    def bytes_available(self) -> int | None:
        return self.inner.bytes_available()

    def proc_name(self) -> str | None:
        return self.inner.proc_name()
