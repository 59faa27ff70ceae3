"""Open file descriptions and the file descriptor table.

An :class:`OpenFile` is what ``open`` creates and ``dup`` shares: a handle, the access mode
and status flags, and the file offset. The :class:`FdTable` maps small integers to open files,
each with its own close-on-exec flag.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel_model.abi import O_ACCMODE, O_APPEND, O_PATH, O_RDONLY, O_RDWR, O_WRONLY
from kernel_model.abi import O_NONBLOCK
from kernel_model.fsnodes import Handle, WouldBlock
from kernel_model.linux_errno import Errno
from kernel_model.seam import KernelError

# The status flags fcntl(F_SETFL) may change.
SETFL_MASK = O_APPEND | 0o4000 | 0o20000 | 0o40000 | 0o1000000  # APPEND NONBLOCK ASYNC DIRECT NOATIME


class OpenFile:
    """An open file description: shared by every descriptor ``dup``'d from the same ``open``."""

    def __init__(self, handle: Handle, flags: int, path: str) -> None:
        self.handle = handle
        self.flags = flags  # canonical open flags (access mode and status flags)
        self.path = path  # the guest path it was opened by, for /proc/self/fd and traces
        self.pos = 0
        self.refs = 0
        self.dir_cursor: list | None = None  # getdents64's snapshot of the listing

    @property
    def readable(self) -> bool:
        """Whether it was opened for reading."""
        return not self.flags & O_PATH and self.flags & O_ACCMODE in (O_RDONLY, O_RDWR)

    @property
    def writable(self) -> bool:
        """Whether it was opened for writing."""
        return not self.flags & O_PATH and self.flags & O_ACCMODE in (O_WRONLY, O_RDWR)

    def read(self, size: int, offset: int | None = None) -> bytes:
        """Read at the file offset (advancing it) or at ``offset`` (leaving it)."""
        if not self.readable:
            raise KernelError(Errno.EBADF)
        if self.handle.is_directory:
            raise KernelError(Errno.EISDIR)
        while True:
            try:
                if offset is None:
                    data = self.handle.pread(size, self.pos)
                    if self.handle.seekable:
                        self.pos += len(data)
                    return data
                return self.handle.pread(size, offset)
            except WouldBlock as e:
                self.wait_or_raise(e)

    def wait_or_raise(self, e: WouldBlock) -> None:
        """EAGAIN with O_NONBLOCK; otherwise the task waits for what ``e`` names, and the call
        is made again when it may progress (:class:`kernel_model.sched.Blocked`)."""
        if self.flags & O_NONBLOCK:
            raise e
        from kernel_model.sched import Blocked, Wait

        raise Blocked(Wait(tuple(e.queues), e.deadline, dict(e.host), e.what)) from None

    def write(self, data: bytes, offset: int | None = None) -> int:
        """Write at the file offset (advancing it; at the end with O_APPEND) or at ``offset``."""
        if not self.writable:
            raise KernelError(Errno.EBADF)
        while True:
            try:
                if offset is None:
                    if self.flags & O_APPEND and self.handle.seekable:
                        self.pos = self.handle.stat().size
                    n = self.handle.pwrite(data, self.pos)
                    if self.handle.seekable:
                        self.pos += n
                else:
                    n = self.handle.pwrite(data, offset)
                break
            except WouldBlock as e:
                self.wait_or_raise(e)
        if n < len(data) and self.handle.may_block and not self.flags & O_NONBLOCK:
            # A blocking write returns only when everything is written; the rest would wait.
            self.wait_or_raise(WouldBlock(f"a write of {len(data)} bytes to a full {self.handle.proc_name() or 'file'}"))
        return n

    def release(self) -> None:
        """Drop one reference; the handle closes with the last."""
        self.refs -= 1
        if self.refs <= 0:
            self.handle.close()


@dataclass
class FdSlot:
    """One descriptor: the open file and the descriptor's own flag."""

    file: OpenFile
    cloexec: bool = False


class FdTable:
    """The descriptor table of the process, with a limit like RLIMIT_NOFILE."""

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self.limit_refusals = 0  # calls refused with EMFILE because of ``limit``
        self._slots: dict[int, FdSlot] = {}

    def __contains__(self, fd: int) -> bool:
        return fd in self._slots

    def items(self) -> list[tuple[int, FdSlot]]:
        """Every open descriptor, lowest first."""
        return sorted(self._slots.items())

    def get(self, fd: int) -> OpenFile:
        """The open file behind ``fd``; EBADF when there is none."""
        slot = self._slots.get(fd)
        if slot is None:
            raise KernelError(Errno.EBADF)
        return slot.file

    def get_io(self, fd: int) -> OpenFile:
        """Like :meth:`get`, but an ``O_PATH`` descriptor is EBADF, as for read/write/ioctl."""
        of = self.get(fd)
        if of.flags & O_PATH:
            raise KernelError(Errno.EBADF)
        return of

    def slot(self, fd: int) -> FdSlot:
        """The slot of ``fd`` (to read or change its close-on-exec flag)."""
        slot = self._slots.get(fd)
        if slot is None:
            raise KernelError(Errno.EBADF)
        return slot

    def check_free(self) -> None:
        """EMFILE when no descriptor is free (checked before a call creates anything)."""
        if len(self._slots) >= self.limit:
            self.limit_refusals += 1
            raise KernelError(Errno.EMFILE)

    def install(self, file: OpenFile, *, lowest: int = 0, cloexec: bool = False) -> int:
        """Give ``file`` the lowest free descriptor at or above ``lowest``; EMFILE when full."""
        if lowest >= self.limit:
            raise KernelError(Errno.EINVAL)
        fd = lowest
        while fd in self._slots:
            fd += 1
        if fd >= self.limit:
            self.limit_refusals += 1
            raise KernelError(Errno.EMFILE)
        self.install_at(fd, file, cloexec=cloexec)
        return fd

    def install_at(self, fd: int, file: OpenFile, *, cloexec: bool = False) -> None:
        """Put ``file`` at ``fd``, closing what was there (dup2/dup3)."""
        if fd < 0 or fd >= self.limit:
            raise KernelError(Errno.EBADF)
        file.refs += 1
        old = self._slots.get(fd)
        self._slots[fd] = FdSlot(file, cloexec)
        if old is not None:
            old.file.release()

    def close(self, fd: int) -> None:
        """Close one descriptor; EBADF when it is not open."""
        slot = self._slots.pop(fd, None)
        if slot is None:
            raise KernelError(Errno.EBADF)
        slot.file.release()

    def copy(self) -> "FdTable":
        """A table of its own with the same open files (fork without CLONE_FILES): the
        descriptors are new, the open file descriptions and their offsets are shared."""
        twin = FdTable(self.limit)
        for fd, slot in self._slots.items():
            slot.file.refs += 1
            twin._slots[fd] = FdSlot(slot.file, slot.cloexec)
        return twin

    def close_on_exec(self) -> None:
        """Close every descriptor marked close-on-exec (execve)."""
        for fd in [fd for fd, slot in self._slots.items() if slot.cloexec]:
            self.close(fd)

    def close_all(self) -> None:
        """Close every descriptor (the process is gone)."""
        for fd in list(self._slots):
            self.close(fd)
