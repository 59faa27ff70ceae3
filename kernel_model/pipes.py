"""Pipes: ``pipe2`` (and x86_64's ``pipe``) make a buffer with a read end and a write end.

A read from an empty pipe whose write end is open, or a write that does not fit, waits (the
task is parked on the pipe's wait queue and another task runs) unless the descriptor is
non-blocking (then ``EAGAIN``). A write with no read end left is ``EPIPE`` and raises
``SIGPIPE``, whose default action ends the process.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from kernel_model.abi import O_CLOEXEC, O_DIRECT, O_EXCL, O_NONBLOCK, O_RDONLY, O_WRONLY
from kernel_model.fdtable import OpenFile
from kernel_model.fsnodes import (
    POLLERR,
    POLLHUP,
    READABLE,
    S_IFIFO,
    WRITABLE,
    Handle,
    StatInfo,
    WouldBlock,
    makedev,
    now_ns,
)
from kernel_model.linux_errno import Errno
from kernel_model.registry import Int, Ptr, syscall
from kernel_model.sched import WaitQueue
from kernel_model.seam import GuestFault, KernelError, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

PIPE_BUF = 4096  # writes up to this size are atomic
PIPE_CAPACITY = 65536  # what F_GETPIPE_SZ reports: 16 pages
PIPEFS_DEV = makedev(0, 12)
_pipe_inodes = itertools.count(20000)


class Pipe:
    """The buffer both ends share, and how many open files hold each end."""

    def __init__(self, uid: int, gid: int) -> None:
        self.buffer = bytearray()
        self.readers = 0
        self.writers = 0
        self.ino = next(_pipe_inodes)
        self.uid = uid
        self.gid = gid
        self.born = now_ns()
        # Woken when there may be something to read (data, or no writer left) and room to write.
        self.readable = WaitQueue(f"pipe:[{self.ino}] to have data")
        self.writable = WaitQueue(f"pipe:[{self.ino}] to have room")

    def changed(self) -> None:
        """Wake whoever waits on the pipe: its data, its room or its other end changed."""
        self.readable.wake()
        self.writable.wake()

    def stat(self) -> StatInfo:
        """What fstat says about either end."""
        return StatInfo(
            mode=S_IFIFO | 0o600, ino=self.ino, dev=PIPEFS_DEV, uid=self.uid, gid=self.gid, blksize=4096,
            atime_ns=self.born, mtime_ns=self.born, ctime_ns=self.born,
        )


class PipeEnd(Handle):
    """One end of a pipe."""

    seekable = False
    may_block = True

    def __init__(self, pipe: Pipe, write_end: bool) -> None:
        self.pipe = pipe
        self.write_end = write_end
        if write_end:
            pipe.writers += 1
        else:
            pipe.readers += 1

    def pread(self, size: int, offset: int) -> bytes:
        buf = self.pipe.buffer
        if not buf:
            if self.pipe.writers == 0 or size == 0:
                return b""
            raise WouldBlock(f"a read from an empty pipe ({self.proc_name()}) whose write end is open",
                             (self.pipe.readable,))
        data = bytes(buf[:size])
        del buf[:size]
        self.pipe.writable.wake()
        return data

    def pwrite(self, data: bytes, offset: int) -> int:
        if self.pipe.readers == 0:
            raise KernelError(Errno.EPIPE)
        room = PIPE_CAPACITY - len(self.pipe.buffer)
        n = len(data)
        if n == 0:
            return 0
        if room == 0 or (n <= PIPE_BUF and room < n):
            raise WouldBlock(f"a write of {n} bytes to a full pipe ({self.proc_name()})", (self.pipe.writable,))
        take = min(n, room)
        self.pipe.buffer += data[:take]
        self.pipe.readable.wake()
        return take

    def stat(self) -> StatInfo:
        return self.pipe.stat()

    def poll(self) -> int:
        pipe = self.pipe
        if self.write_end:
            if pipe.readers == 0:
                return POLLERR
            return WRITABLE if len(pipe.buffer) < PIPE_CAPACITY else 0
        ready = READABLE if pipe.buffer else 0
        if pipe.writers == 0:
            ready |= POLLHUP
        return ready

    def bytes_available(self) -> int | None:
        return len(self.pipe.buffer)

    def waiters(self) -> tuple:
        return (self.pipe.readable, self.pipe.writable)

    def proc_name(self) -> str | None:
        return f"pipe:[{self.pipe.ino}]"

    def close(self) -> None:
        if self.write_end:
            self.pipe.writers -= 1
        else:
            self.pipe.readers -= 1
        self.pipe.changed()  # a reader may now see the end of the data, a writer EPIPE


_PIPE2_FLAGS = O_CLOEXEC | O_NONBLOCK | O_DIRECT | O_EXCL  # O_EXCL is O_NOTIFICATION_PIPE


@syscall("pipe2", partial="O_DIRECT (packet mode) pipes are byte streams; O_NOTIFICATION_PIPE is ENOPKG")
def sys_pipe2(k: "Kernel", req: SyscallRequest, pipefd: Ptr, flags: Int) -> int:
    canonical = k.abi.open_flags_in(flags & 0xFFFFFFFF)
    if canonical & ~_PIPE2_FLAGS:
        raise KernelError(Errno.EINVAL)
    if canonical & O_EXCL:
        raise KernelError(Errno.ENOPKG)  # notification pipes need CONFIG_WATCH_QUEUE
    k.fds.check_free()
    pipe = Pipe(k.identity.effective_uid, k.identity.effective_gid)
    status = canonical & (O_NONBLOCK | O_DIRECT)
    reader = OpenFile(PipeEnd(pipe, False), O_RDONLY | status, "")
    writer = OpenFile(PipeEnd(pipe, True), O_WRONLY | status, "")
    cloexec = bool(canonical & O_CLOEXEC)
    rfd = k.fds.install(reader, cloexec=cloexec)
    try:
        wfd = k.fds.install(writer, cloexec=cloexec)
    except KernelError:
        k.fds.close(rfd)
        writer.handle.close()
        raise
    try:
        k.memory.write(pipefd, rfd.to_bytes(4, k.structs.byteorder) + wfd.to_bytes(4, k.structs.byteorder))
    except GuestFault:  # EFAULT: the descriptors were never the guest's
        k.fds.close(rfd)
        k.fds.close(wfd)
        raise
    return 0


@syscall("pipe", partial="as pipe2")
def sys_pipe(k: "Kernel", req: SyscallRequest, pipefd: Ptr) -> int:
    return sys_pipe2(k, req, pipefd, 0)
