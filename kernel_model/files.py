"""System calls on file descriptors: read/write and their vector and positioned forms,
lseek, close, fstat, ioctl, dup, fcntl.

``read``, ``pread64``, ``readv`` and ``preadv`` share one helper, as do the writes: each only
turns its arguments into a list of guest segments and an optional offset.
"""

from __future__ import annotations

import struct

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from kernel_model.abi import O_APPEND, O_CLOEXEC
from kernel_model.fdtable import SETFL_MASK, OpenFile
from kernel_model.fsnodes import StatInfo, s_isreg
from kernel_model.linux_errno import Errno
from kernel_model.registry import Fd, Int, Long, LOff, Off, PosLoHi, Ptr, Size, UInt, ULong, syscall
from kernel_model.seam import PROT_READ, PROT_WRITE, KernelError, SyscallRequest
from kernel_model.structs import StructLayout

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

MAX_RW_COUNT = 0x7FFFF000  # INT_MAX rounded down to a page, as the kernel caps every transfer
UIO_MAXIOV = 1024

Segments = list[tuple[int, int]]


# -- the shared transfer helpers -----------------------------------------------------------


def _access_ok(k: "Kernel", addr: int, size: int) -> None:
    if addr + size > k.mm.task_size:
        raise KernelError(Errno.EFAULT)


def _check_offset(offset: int | None, size: int) -> None:
    if offset is not None and (offset < 0 or offset + size < 0 or offset + size >= 1 << 63):
        raise KernelError(Errno.EINVAL)


def _plan(k: "Kernel", segs: Segments, prot: int) -> tuple[Segments, int, int]:
    """Cut the segments at MAX_RW_COUNT and at the first inaccessible byte.

    Returns the usable segments, how many bytes they hold, and how many were asked for.
    """
    mem = k.memory
    wanted = 0
    usable: Segments = []
    room = 0
    faulted = False
    for addr, length in segs:
        length = min(length, MAX_RW_COUNT - wanted)
        if length <= 0:
            break
        _access_ok(k, addr, length)
        wanted += length
        if faulted:
            continue
        ok = mem.accessible(addr, length, prot)
        if ok:
            usable.append((addr, ok))
            room += ok
        faulted = ok < length
    return usable, room, wanted


def read_into(k: "Kernel", of: OpenFile, segs: Segments, offset: int | None = None) -> int:
    """Read from ``of`` into guest segments, as read/pread64/readv/preadv do."""
    if not of.readable:
        raise KernelError(Errno.EBADF)
    usable, room, wanted = _plan(k, segs, PROT_WRITE)
    _check_offset(offset, wanted)
    if offset is not None and not of.handle.seekable:
        raise KernelError(Errno.ESPIPE)
    if room == 0:
        data = of.read(0, offset)  # still EISDIR for a directory
        if wanted == 0:
            return 0
        # A fault before the first byte: nothing to copy at end of file is not a fault.
        if not _has_data(of, offset):
            return 0
        raise KernelError(Errno.EFAULT)
    data = of.read(room, offset)
    done = 0
    for addr, length in usable:
        if done >= len(data):
            break
        chunk = data[done : done + length]
        k.memory.write(addr, chunk)
        done += len(chunk)
    return len(data)


SIGPIPE = 13
SIGXFSZ = 25


@contextmanager
def raising_write_signals(k: "Kernel") -> Iterator[None]:
    """The signals a failed write raises besides its errno, as the kernel's write paths do.

    EPIPE (no reader left) raises SIGPIPE, as pipe_write does; EFBIG (a file size limit, here
    the sandbox's output limit) raises SIGXFSZ, as generic_write_check_limits does. With the
    default action the process ends there (status 141 or 153); if the signal is ignored or
    blocked, the call returns the errno.
    """
    try:
        yield
    except KernelError as e:
        if e.errno is Errno.EPIPE:
            k.signals.send(SIGPIPE, "a write to a pipe with no reader", 0, -int(Errno.EPIPE))
        elif e.errno is Errno.EFBIG:
            k.signals.send(SIGXFSZ, "a write past the output size limit", 0, -int(Errno.EFBIG))
        raise


def _has_data(of: OpenFile, offset: int | None) -> bool:
    """Whether a read now would have bytes to copy (without taking any from a stream)."""
    handle = of.handle
    if handle.seekable:
        return bool(handle.pread(1, of.pos if offset is None else offset))
    if handle.bytes_available():
        return True
    # Nothing buffered: the read ends at end of file, or waits (an empty pipe with a writer).
    return bool(of.read(1))


def write_from(k: "Kernel", of: OpenFile, segs: Segments, offset: int | None = None) -> int:
    """Write guest segments to ``of``, as write/pwrite64/writev/pwritev do."""
    if not of.writable:
        raise KernelError(Errno.EBADF)
    usable, room, wanted = _plan(k, segs, PROT_READ)
    _check_offset(offset, wanted)
    if offset is not None and not of.handle.seekable:
        raise KernelError(Errno.ESPIPE)
    if wanted == 0:
        return of.write(b"", offset)
    if room == 0:
        raise KernelError(Errno.EFAULT)
    data = b"".join(k.memory.read(addr, length) for addr, length in usable)
    with raising_write_signals(k):
        return of.write(data, offset)


def _iovecs(k: "Kernel", iov: int, iovcnt: int) -> Segments:
    if iovcnt < 0 or iovcnt > UIO_MAXIOV:
        raise KernelError(Errno.EINVAL)
    layout = k.structs.iovec
    raw = k.memory.read(iov, layout.size * iovcnt)
    segs = []
    total = 0
    sign = 1 << (k.arch.bits - 1)
    for i in range(iovcnt):
        v = layout.unpack(raw[i * layout.size : (i + 1) * layout.size])
        if v["iov_len"] & sign:
            raise KernelError(Errno.EINVAL)
        total += v["iov_len"]
        if total >= sign:
            raise KernelError(Errno.EINVAL)
        segs.append((v["iov_base"], v["iov_len"]))
    return segs


# -- read and write ------------------------------------------------------------------------


@syscall("read")
def sys_read(k: "Kernel", req: SyscallRequest, fd: Fd, buf: Ptr, count: Size) -> int:
    return read_into(k, k.fds.get_io(fd), [(buf, count)])


@syscall("write")
def sys_write(k: "Kernel", req: SyscallRequest, fd: Fd, buf: Ptr, count: Size) -> int:
    return write_from(k, k.fds.get_io(fd), [(buf, count)])


@syscall("pread64")
def sys_pread64(k: "Kernel", req: SyscallRequest, fd: Fd, buf: Ptr, count: Size, offset: LOff) -> int:
    return read_into(k, k.fds.get_io(fd), [(buf, count)], offset)


@syscall("pwrite64")
def sys_pwrite64(k: "Kernel", req: SyscallRequest, fd: Fd, buf: Ptr, count: Size, offset: LOff) -> int:
    return write_from(k, k.fds.get_io(fd), [(buf, count)], offset)


@syscall("readv")
def sys_readv(k: "Kernel", req: SyscallRequest, fd: Fd, iov: Ptr, iovcnt: Int) -> int:
    of = k.fds.get_io(fd)
    return read_into(k, of, _iovecs(k, iov, iovcnt))


@syscall("writev")
def sys_writev(k: "Kernel", req: SyscallRequest, fd: Fd, iov: Ptr, iovcnt: Int) -> int:
    of = k.fds.get_io(fd)
    return write_from(k, of, _iovecs(k, iov, iovcnt))


@syscall("preadv")
def sys_preadv(k: "Kernel", req: SyscallRequest, fd: Fd, iov: Ptr, iovcnt: Int, offset: PosLoHi) -> int:
    of = k.fds.get_io(fd)
    return read_into(k, of, _iovecs(k, iov, iovcnt), offset)


@syscall("pwritev")
def sys_pwritev(k: "Kernel", req: SyscallRequest, fd: Fd, iov: Ptr, iovcnt: Int, offset: PosLoHi) -> int:
    of = k.fds.get_io(fd)
    return write_from(k, of, _iovecs(k, iov, iovcnt), offset)


# -- positioning, closing, metadata ---------------------------------------------------------

SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE = 0, 1, 2, 3, 4


@syscall("lseek")
def sys_lseek(k: "Kernel", req: SyscallRequest, fd: Fd, offset: Off, whence: UInt) -> int:
    new = seek(k, fd, offset, whence)
    if new >= 1 << (k.arch.bits - 1):
        raise KernelError(Errno.EOVERFLOW)  # a 32-bit off_t cannot say where it went (it still moved)
    return new


def seek(k: "Kernel", fd: int, offset: int, whence: int) -> int:
    """Move ``fd``'s position as lseek/_llseek do; the new position."""
    of = k.fds.get(fd)
    if whence > SEEK_HOLE:
        raise KernelError(Errno.EINVAL)
    if not of.handle.seekable:
        raise KernelError(Errno.ESPIPE)
    if whence == SEEK_SET:
        new = offset
    elif whence == SEEK_CUR:
        new = of.pos + offset
    elif whence == SEEK_END:
        new = of.handle.stat().size + offset
    else:
        size = of.handle.stat().size
        if offset < 0 or offset >= size:
            raise KernelError(Errno.ENXIO)
        holes = getattr(of.handle, "seek_data", None)
        # A file that knows its holes (a host file) says where data and holes are; for the
        # others the whole file is data, as Linux's generic answer has it.
        new = holes(offset, whence == SEEK_DATA) if holes is not None else offset if whence == SEEK_DATA else size
    if new < 0:
        raise KernelError(Errno.EINVAL)
    if new != of.pos:
        of.dir_cursor = None
    of.pos = new
    return new


@syscall("close")
def sys_close(k: "Kernel", req: SyscallRequest, fd: Fd) -> int:
    k.fds.close(fd)
    return 0


OVERFLOW_ID = 65534  # what a 16-bit uid/gid field shows for an id it cannot hold (overflowuid)


def pack_stat(k: "Kernel", st: StatInfo, layout: StructLayout | None = None) -> bytes:
    """``st`` as the guest arch's ``struct stat`` (or ``layout``, e.g. ``struct stat64``).

    As the kernel's ``cp_new_stat``: a number the struct cannot hold (the 32-bit arches'
    ``struct stat``) is EOVERFLOW, and a uid or gid too big for a 16-bit field shows as 65534.
    """
    layout = layout or k.structs.stat
    values = dict(
        st_dev=st.dev, st_ino=st.ino, st_ino_low=st.ino & 0xFFFFFFFF, st_nlink=st.nlink, st_mode=st.mode,
        st_uid=st.uid, st_gid=st.gid, st_rdev=st.rdev, st_size=st.size, st_blksize=st.blksize,
        st_blocks=st.blocks,
        st_atime=st.atime_ns // 10**9, st_atime_nsec=st.atime_ns % 10**9,
        st_mtime=st.mtime_ns // 10**9, st_mtime_nsec=st.mtime_ns % 10**9,
        st_ctime=st.ctime_ns // 10**9, st_ctime_nsec=st.ctime_ns % 10**9,
    )
    for name in ("st_dev", "st_rdev", "st_ino", "st_nlink", "st_size"):
        if not layout.fits(name, values[name]):
            raise KernelError(Errno.EOVERFLOW)
    for name in ("st_uid", "st_gid"):
        if not layout.fits(name, values[name]):
            values[name] = OVERFLOW_ID
    return layout.pack(values)


@syscall("fstat")
def sys_fstat(k: "Kernel", req: SyscallRequest, fd: Fd, statbuf: Ptr) -> int:
    st = k.fds.get(fd).handle.stat()
    k.memory.write(statbuf, pack_stat(k, st))
    return 0


# -- ioctl ---------------------------------------------------------------------------------

TCGETS = 0x5401
TCSETS, TCSETSW, TCSETSF = 0x5402, 0x5403, 0x5404
TIOCGPGRP = 0x540F
TIOCSPGRP = 0x5410
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414
FIONREAD = 0x541B
FIONBIO = 0x5421
FIONCLEX = 0x5450
FIOCLEX = 0x5451
FIOASYNC = 0x5452

_TTY_REQUESTS = {TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGPGRP, TIOCSPGRP, TIOCGWINSZ, TIOCSWINSZ}

# A terminal's settings as a fresh Linux pty has them: ICRNL|IXON, OPOST|ONLCR,
# B38400|CS8|CREAD, ISIG|ICANON|ECHO|ECHOE|ECHOK|ECHOCTL|ECHOKE|IEXTEN, and the usual c_cc.
_DEFAULT_TERMIOS = {
    "c_iflag": 0o2400, "c_oflag": 0o5, "c_cflag": 0o277, "c_lflag": 0o105073, "c_line": 0,
    "c_cc": bytes([3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0]),
}


@syscall("ioctl", partial="terminal requests (TCGETS, TIOCGWINSZ...) and FIONREAD/FIONBIO/FIOCLEX/FIONCLEX")
def sys_ioctl(k: "Kernel", req: SyscallRequest, fd: Fd, request: UInt, arg: ULong) -> int:
    of = k.fds.get_io(fd)
    if request == FIOCLEX or request == FIONCLEX:
        k.fds.slot(fd).cloexec = request == FIOCLEX
        return 0
    if request == FIONBIO or request == FIOASYNC:
        on = int.from_bytes(k.memory.read(arg, 4), "big" if k.arch.big_endian else "little")
        bit = 0o4000 if request == FIONBIO else 0o20000
        of.flags = (of.flags | bit) if on else (of.flags & ~bit)
        return 0
    if request == FIONREAD:
        if s_isreg(of.handle.stat().mode):
            avail = max(of.handle.stat().size - of.pos, 0)
        else:
            stream = of.handle.bytes_available()
            if stream is None:
                raise KernelError(Errno.ENOTTY)
            avail = stream
        k.memory.write(arg, min(avail, 0x7FFFFFFF).to_bytes(4, "big" if k.arch.big_endian else "little"))
        return 0
    if not of.handle.is_tty:
        raise KernelError(Errno.ENOTTY)
    if request == TCGETS:
        k.memory.write(arg, k.structs.termios.pack(_DEFAULT_TERMIOS))
        return 0
    if request in (TCSETS, TCSETSW, TCSETSF):
        k.memory.read(arg, k.structs.termios.size)
        return 0
    if request == TIOCGWINSZ:
        rows, cols = k.terminal_size()
        k.memory.write(arg, k.structs.winsize.pack(ws_row=rows, ws_col=cols))
        return 0
    if request == TIOCSWINSZ:
        k.memory.read(arg, k.structs.winsize.size)
        return 0
    if request == TIOCGPGRP:
        k.memory.write(arg, k.identity.pid.to_bytes(4, "big" if k.arch.big_endian else "little", signed=True))
        return 0
    if request == TIOCSPGRP:
        k.memory.read(arg, 4)
        return 0
    raise KernelError(Errno.ENOTTY)


# -- descriptors ---------------------------------------------------------------------------


@syscall("dup")
def sys_dup(k: "Kernel", req: SyscallRequest, oldfd: Fd) -> int:
    return k.fds.install(k.fds.get(oldfd))


@syscall("dup2")
def sys_dup2(k: "Kernel", req: SyscallRequest, oldfd: Fd, newfd: Fd) -> int:
    of = k.fds.get(oldfd)
    if oldfd == newfd:
        return newfd
    k.fds.install_at(newfd, of)
    return newfd


@syscall("dup3")
def sys_dup3(k: "Kernel", req: SyscallRequest, oldfd: Fd, newfd: Fd, flags: Int) -> int:
    if flags & ~O_CLOEXEC or oldfd == newfd:
        raise KernelError(Errno.EINVAL)
    of = k.fds.get(oldfd)
    k.fds.install_at(newfd, of, cloexec=bool(flags & O_CLOEXEC))
    return newfd


F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL = 0, 1, 2, 3, 4
F_GETLK, F_SETLK, F_SETLKW = 5, 6, 7
F_DUPFD_CLOEXEC = 1030
F_GETPIPE_SZ = 1032
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
FD_CLOEXEC = 1


@syscall("fcntl", partial="record locks are the host's on a host file; elsewhere nothing else holds one")
def sys_fcntl(k: "Kernel", req: SyscallRequest, fd: Fd, cmd: UInt, arg: ULong) -> int:
    of = k.fds.get(fd)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        lowest = arg & 0xFFFFFFFF
        if lowest >= k.fds.limit:
            raise KernelError(Errno.EINVAL)
        return k.fds.install(of, lowest=lowest, cloexec=cmd == F_DUPFD_CLOEXEC)
    if cmd == F_GETFD:
        return FD_CLOEXEC if k.fds.slot(fd).cloexec else 0
    if cmd == F_SETFD:
        k.fds.slot(fd).cloexec = bool(arg & FD_CLOEXEC)
        return 0
    if cmd == F_GETFL:
        return k.abi.open_flags_out(of.flags & ~O_CLOEXEC)
    if cmd == F_SETFL:
        new = k.abi.open_flags_in(arg & 0xFFFFFFFF)
        of.flags = (of.flags & ~SETFL_MASK) | (new & SETFL_MASK)
        return 0
    if cmd in _LOCK_COMMANDS:
        return record_lock(k, of, cmd, arg)
    if cmd == F_GETPIPE_SZ:
        return 65536
    raise KernelError(Errno.EINVAL)


_LOCK_COMMANDS = {F_GETLK: "F_GETLK", F_SETLK: "F_SETLK", F_SETLKW: "F_SETLKW", F_OFD_GETLK: "F_OFD_GETLK",
                  F_OFD_SETLK: "F_OFD_SETLK", F_OFD_SETLKW: "F_OFD_SETLKW"}
_LOCK_TYPES = {0: "F_RDLCK", 1: "F_WRLCK", 2: "F_UNLCK"}
# struct flock by word size: l_type, l_whence, l_start, l_len, l_pid (the same order on every arch).
_FLOCK_FORMAT = {64: "hh4xqqi4x", 32: "hhiii"}


def record_lock(k: "Kernel", of: OpenFile, cmd: int, arg: int, layout: str | None = None) -> int:
    """fcntl's record locks: a host file's are the host's own; nothing else holds one here.

    ``layout`` is the guest's struct flock (``struct`` format, without byte order); the
    default is the one of fcntl on this arch's word size.
    """
    fmt = struct.Struct(k.structs.endian + (layout or _FLOCK_FORMAT[k.arch.bits]))
    l_type, whence, start, length, _pid = fmt.unpack(k.memory.read(arg, fmt.size))
    command = _LOCK_COMMANDS[cmd]
    type_name = _LOCK_TYPES.get(l_type)
    if type_name is None or whence not in (0, 1, 2):
        raise KernelError(Errno.EINVAL)
    if command.endswith("SETLK") or command.endswith("SETLKW"):
        if type_name == "F_RDLCK" and not of.readable or type_name == "F_WRLCK" and not of.writable:
            raise KernelError(Errno.EBADF)
    lock = getattr(of.handle, "lock", None)
    got = lock(command, type_name, whence, start, length) if lock is not None else None
    if command.endswith("GETLK"):
        if got is None:
            # Nothing else holds a lock: F_UNLCK, the rest as given.
            k.memory.write(arg, fmt.pack(2, whence, start, length, 0))
        else:
            got_type, got_whence, got_start, got_len, got_pid = got
            back = {name: number for number, name in _LOCK_TYPES.items()}
            k.memory.write(arg, fmt.pack(back[got_type], got_whence, got_start, got_len, got_pid))
    return 0


@syscall("fsync")
def sys_fsync(k: "Kernel", req: SyscallRequest, fd: Fd) -> int:
    of = k.fds.get_io(fd)
    if not of.handle.seekable:
        raise KernelError(Errno.EINVAL)
    of.handle.sync()
    return 0


@syscall("fdatasync")
def sys_fdatasync(k: "Kernel", req: SyscallRequest, fd: Fd) -> int:
    return sys_fsync(k, req, fd)


@syscall("ftruncate")
def sys_ftruncate(k: "Kernel", req: SyscallRequest, fd: Fd, length: Long) -> int:
    of = k.fds.get_io(fd)
    if length < 0 or not of.writable or not s_isreg(of.handle.stat().mode):
        raise KernelError(Errno.EINVAL)
    of.handle.truncate(length)
    return 0


# -- copying between descriptors -------------------------------------------------------------


@syscall("sendfile")
def sys_sendfile(k: "Kernel", req: SyscallRequest, out_fd: Fd, in_fd: Fd, offset: Ptr, count: Size) -> int:
    src = k.fds.get_io(in_fd)
    dst = k.fds.get_io(out_fd)
    if not src.readable or not dst.writable:
        raise KernelError(Errno.EBADF)
    if dst.flags & O_APPEND:
        raise KernelError(Errno.EINVAL)
    if src.handle.is_directory:
        raise KernelError(Errno.EINVAL)
    pos = None
    if offset:
        if not src.handle.seekable:
            raise KernelError(Errno.ESPIPE)
        pos = int.from_bytes(k.memory.read(offset, k.arch.word_size), k.structs.byteorder, signed=True)
        if pos < 0:
            raise KernelError(Errno.EINVAL)
    count = min(count, MAX_RW_COUNT)
    if count == 0:
        return 0
    with raising_write_signals(k):
        # at most some megabytes in one host call, which nothing could cut short (a partial
        # transfer is a sendfile's right; the guest loops)
        written = _host_sendfile(src, dst, pos, min(count, 16 * _SENDFILE_PIECE))
    if written is not None:
        if pos is not None:
            k.memory.write(offset, (pos + written).to_bytes(k.arch.word_size, k.structs.byteorder, signed=True))
        else:
            src.pos += written
        return written
    # Straight from file to file, the bytes never entering guest memory, in pieces: a copy of
    # gigabytes (from /dev/urandom, say) holds one piece at a time, and the sandbox's limits
    # (a timeout, the output limit) end it between pieces. The input offset moves by what
    # was written, not by what was read.
    start = pos if pos is not None else src.pos
    written = 0
    while written < count:
        piece = min(_SENDFILE_PIECE, count - written)
        if written:
            k.waits.check()
        if src.handle.seekable:
            data = src.read(piece, start + written)
        else:
            data = src.read(piece)
        if not data:
            break
        try:
            with raising_write_signals(k):
                n = dst.write(data)
        except KernelError:
            if written:
                break  # what was copied is the answer; the error comes with the next call
            raise
        written += n
        if n < len(data):
            break
    if pos is not None:
        k.memory.write(offset, (pos + written).to_bytes(k.arch.word_size, k.structs.byteorder, signed=True))
    elif src.handle.seekable:
        src.pos = start + written
    return written


# How much sendfile copies between looks at the sandbox's limits.
_SENDFILE_PIECE = 1 << 20


def _host_sendfile(src: OpenFile, dst: OpenFile, pos: int | None, count: int) -> int | None:
    """Copy inside the host kernel when a host file goes to a host stream (None: not possible).

    The destination must be a stream (the sandbox's stdout, say), whose host offset is its own;
    a seekable destination keeps its offset in the model, which the host does not know.
    """
    import os

    src_fd, dst_fd = src.handle.host_fd(), dst.handle.host_fd()
    if src_fd is None or dst_fd is None or not src.handle.seekable or dst.handle.seekable:
        return None
    if not hasattr(os, "sendfile"):
        return None
    from kernel_model.fsnodes import host_call

    return host_call(os.sendfile, dst_fd, src_fd, src.pos if pos is None else pos, count)
