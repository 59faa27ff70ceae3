"""Host system calls on files: open, and the calls that ask the host about an open descriptor
(lseek, getdents64, fcntl locks and status flags, terminal ioctls, statx, statfs).

``open`` resolves the path in the guest's view and opens it in its grant with the guest's
flags translated to the host's: the guest gets the next free descriptor of its own table, whose
open file holds the host descriptor. Reads and writes then go through that open file to the
host (``read(2)``/``pread(2)`` on the host descriptor), with the kernel model's checks of the
guest's buffers. An open file the model made (a pipe, ``/proc``, ``/dev/null``, a ``tmpfs``
file) is served by the model.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from typing import TYPE_CHECKING, Callable

from kernel_model.host.places import host_file, host_place, mounts_below, opened_for_guest
from kernel_model.host.registry import host_syscall
from kernel_model.host.translate import LINUX_HOST, host_umask, open_flags_to_host, whence_to_host
from kernel_model.abi import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_NO_AUTOMOUNT,
    AT_SYMLINK_NOFOLLOW,
    O_ACCMODE,
    O_APPEND,
    O_CLOEXEC,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_NOFOLLOW,
    O_NONBLOCK,
    O_PATH,
    O_RDONLY,
    O_TMPFILE,
    O_TRUNC,
    O_WRONLY,
)
from kernel_model.beneath import O_PATH_OR_RDONLY, filesystem_type, raw_syscall
from kernel_model.fdtable import OpenFile
from kernel_model.files import FIOASYNC, FIOCLEX, FIONBIO, FIONCLEX, FIONREAD, TCGETS, TIOCGWINSZ
from kernel_model.filesystems import EXT4_SUPER_MAGIC, ST_RDONLY, ST_VALID, FsStats
from kernel_model.fsinfo import AT_STATX_SYNC_TYPE, STATX__RESERVED, _pack_statfs
from kernel_model.fsnodes import host_call
from kernel_model.linux_errno import Errno
from kernel_model.paths import _dirent, _dirent64, read_path, resolve_at
from kernel_model.registry import DirFd, Fd, Int, Mode, Off, Path, Ptr, UInt, ULong
from kernel_model.seam import KernelError, SyscallRequest
from kernel_model.structs import STATX_FIELDS, StructLayout
from kernel_model.vfs import split_path

if TYPE_CHECKING:
    from kernel_model.host.backend import HostBackend
    from kernel_model.host.tree import HostFdHandle

# -- open ----------------------------------------------------------------------------------


def host_open(b: "HostBackend", req: SyscallRequest, dirfd: int, raw: bytes, flags: int, mode: int) -> int:
    """open(2) with canonical flags: in a grant, the host opens it; elsewhere the model does."""
    k = b.kernel
    k.fds.check_free()
    tmpfile = flags & O_TMPFILE == O_TMPFILE
    creating = bool(flags & O_CREAT) and not flags & O_PATH and not tmpfile
    follow = not flags & O_NOFOLLOW and not (creating and flags & O_EXCL)
    loc = resolve_at(k, dirfd, raw, follow=follow, allow_missing=creating)
    place = host_place(k, loc)
    if place is None or (loc.stat is not None and mounts_below(k, loc.path)) or (flags & O_PATH and not hasattr(os, "O_PATH")):
        return b.model(req)
    if loc.stat is None and loc.trailing_slash:
        raise KernelError(Errno.EISDIR)
    changes = (
        flags & O_ACCMODE != O_RDONLY or flags & O_TRUNC or tmpfile or (creating and loc.stat is None)
    ) and not flags & O_PATH
    if changes:
        place.writable()
    with host_umask(k.umask):
        handle = place.tree.open_host(place.rel, open_flags_to_host(flags & ~O_CLOEXEC), mode & 0o7777)
    if flags & O_PATH:
        flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW
    of = OpenFile(handle, flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC), loc.text)
    return k.fds.install(of, cloexec=bool(flags & O_CLOEXEC))


@host_syscall("openat")
def host_openat(b: "HostBackend", req: SyscallRequest, dirfd: DirFd, pathname: Path, flags: Int, mode: Mode) -> int:
    k = b.kernel
    return host_open(b, req, dirfd, read_path(k, pathname), k.abi.open_flags_in(flags & 0xFFFFFFFF), mode)


@host_syscall("open")
def host_open_legacy(b: "HostBackend", req: SyscallRequest, pathname: Path, flags: Int, mode: Mode) -> int:
    return host_openat(b, req, AT_FDCWD, pathname, flags, mode)


@host_syscall("creat")
def host_creat(b: "HostBackend", req: SyscallRequest, pathname: Path, mode: Mode) -> int:
    return host_open(b, req, AT_FDCWD, read_path(b.kernel, pathname), O_CREAT | O_WRONLY | O_TRUNC, mode)


# -- positions and directories -------------------------------------------------------------


@host_syscall("lseek")
def host_lseek(b: "HostBackend", req: SyscallRequest, fd: Fd, offset: Off, whence: UInt) -> int:
    of = b.kernel.fds.get(fd)
    handle = host_file(of)
    if handle is None:
        return b.model(req)
    hfd = handle.host_fd()
    host_whence = whence_to_host(whence)
    if handle.seekable:
        # The guest's offset lives in its open file; the host's is set from it for the call.
        host_call(os.lseek, hfd, of.pos, os.SEEK_SET)
    new = host_call(os.lseek, hfd, offset, host_whence)
    if new != of.pos:
        of.dir_cursor = None
    of.pos = new
    return new


# struct linux_dirent64 as the host kernel writes it: d_ino, d_off, d_reclen, d_type, d_name.
_HOST_DIRENT64 = struct.Struct("=QqHB")
_DIRENT_READ = 1 << 16


def _host_directory(
    b: "HostBackend", req: SyscallRequest, fd: int, dirp: int, count: int, pack: Callable[..., bytes]
) -> int:
    """getdents64/getdents from the host's own getdents64: its order and its d_off cookies.

    Each host record is repacked in the guest's layout (and left out when hidden); the guest's
    offset is the cookie after the last record it got.
    """
    k = b.kernel
    of = k.fds.get_io(fd)
    handle = host_file(of)
    if handle is None or not LINUX_HOST or mounts_below(k, split_path(of.path)):
        return b.model(req)
    if not handle.is_directory:
        raise KernelError(Errno.ENOTDIR)
    hfd = handle.host_fd()
    dev = handle.stat().dev
    buf = ctypes.create_string_buffer(max(min(count, _DIRENT_READ), 1024))
    out = bytearray()
    pos = of.pos
    host_call(os.lseek, hfd, pos, os.SEEK_SET)
    full = False
    while not out and not full:
        n = host_call(raw_syscall, "getdents64", ctypes.c_int(hfd), buf, ctypes.c_uint(len(buf)))
        if n == 0:
            break
        data = buf.raw[:n]
        at = 0
        while at < n:
            ino, d_off, reclen, dtype = _HOST_DIRENT64.unpack_from(data, at)
            name = data[at + _HOST_DIRENT64.size : at + reclen].split(b"\0", 1)[0]
            at += reclen
            if not handle.tree.visible(handle.rel + (os.fsdecode(name),), ino, dev):
                pos = d_off
                continue
            record = pack(k, name, ino, d_off, dtype)
            if len(out) + len(record) > count:
                full = True
                break
            out += record
            pos = d_off
    if not out and full:
        raise KernelError(Errno.EINVAL)
    k.memory.write(dirp, bytes(out))
    of.pos = pos
    return len(out)


@host_syscall("getdents64")
def host_getdents64(b: "HostBackend", req: SyscallRequest, fd: Fd, dirp: Ptr, count: UInt) -> int:
    return _host_directory(b, req, fd, dirp, count, _dirent64)


@host_syscall("getdents")
def host_getdents(b: "HostBackend", req: SyscallRequest, fd: Fd, dirp: Ptr, count: UInt) -> int:
    return _host_directory(b, req, fd, dirp, count, _dirent)


# -- fcntl: status flags and record locks --------------------------------------------------

F_GETFL, F_SETFL = 3, 4
_LOCK_COMMANDS = {5: "F_GETLK", 6: "F_SETLK", 7: "F_SETLKW", 36: "F_OFD_GETLK", 37: "F_OFD_SETLK", 38: "F_OFD_SETLKW"}
_GET_LOCK = {5, 36}
_LOCK_TYPES = {0: "F_RDLCK", 1: "F_WRLCK", 2: "F_UNLCK"}
# struct flock: the guest's by word size (Linux's field order on every arch), the host's by platform.
_GUEST_FLOCK = ("l_type", "l_whence", "l_start", "l_len", "l_pid")
_GUEST_FLOCK_FORMAT = {64: "hh4xqqi4x", 32: "hhiii"}
_HOST_FLOCK = {
    "linux": ("hh4xqqi4x", ("l_type", "l_whence", "l_start", "l_len", "l_pid")),
    "darwin": ("qqihh", ("l_start", "l_len", "l_pid", "l_type", "l_whence")),
}


def _host_flock() -> tuple[struct.Struct, tuple[str, ...]] | None:
    if struct.calcsize("P") != 8:
        return None  # a 32-bit host's fcntl wants struct flock64 under another command number
    entry = _HOST_FLOCK.get("linux" if LINUX_HOST else sys.platform)
    return (struct.Struct("=" + entry[0]), entry[1]) if entry else None


def _lock(b: "HostBackend", req: SyscallRequest, handle: "HostFdHandle", cmd: int, arg: int) -> int:
    """F_GETLK/F_SETLK/F_SETLKW (and the OFD forms) on the host descriptor."""
    import fcntl

    k = b.kernel
    host = _host_flock()
    host_cmd = getattr(fcntl, _LOCK_COMMANDS[cmd], None)
    if host is None or host_cmd is None:
        return b.model(req)
    layout, host_fields = host
    guest = struct.Struct(k.structs.endian + _GUEST_FLOCK_FORMAT[k.arch.bits])
    values = dict(zip(_GUEST_FLOCK, guest.unpack(k.memory.read(arg, guest.size))))
    type_name = _LOCK_TYPES.get(values["l_type"])
    whence = {0: os.SEEK_SET, 1: os.SEEK_CUR, 2: os.SEEK_END}.get(values["l_whence"])
    if type_name is None or whence is None:
        raise KernelError(Errno.EINVAL)
    values["l_type"] = getattr(fcntl, type_name)
    values["l_whence"] = whence
    if cmd not in _GET_LOCK:
        values["l_pid"] = 0
    result = host_call(fcntl.fcntl, handle.host_fd(), host_cmd, layout.pack(*(values[f] for f in host_fields)))
    if cmd in _GET_LOCK:
        got = dict(zip(host_fields, layout.unpack(result)))
        back = {getattr(fcntl, name): linux for linux, name in _LOCK_TYPES.items()}
        got["l_type"] = back.get(got["l_type"], 2)
        got["l_whence"] = {os.SEEK_SET: 0, os.SEEK_CUR: 1, os.SEEK_END: 2}.get(got["l_whence"], 0)
        k.memory.write(arg, guest.pack(*(got[f] for f in _GUEST_FLOCK)))
    return 0


def _sync_status_flags(hfd: int, flags: int) -> None:
    """Give a host descriptor the guest's O_NONBLOCK and O_APPEND (O_ASYNC never: SIGIO)."""
    import fcntl

    current = host_call(fcntl.fcntl, hfd, fcntl.F_GETFL)
    wanted = current & ~(os.O_NONBLOCK | os.O_APPEND)
    if flags & O_NONBLOCK:
        wanted |= os.O_NONBLOCK
    if flags & O_APPEND:
        wanted |= os.O_APPEND
    if wanted != current:
        host_call(fcntl.fcntl, hfd, fcntl.F_SETFL, wanted)


@host_syscall("fcntl", partial="record locks and status flags are the host's; descriptor flags and dup are the guest table's")
def host_fcntl(b: "HostBackend", req: SyscallRequest, fd: Fd, cmd: UInt, arg: ULong) -> int:
    of = b.kernel.fds.get(fd)
    handle = host_file(of)
    if handle is not None and cmd in _LOCK_COMMANDS:
        return _lock(b, req, handle, cmd, arg)
    result = b.model(req)
    hfd = opened_for_guest(of)
    if cmd == F_SETFL and hfd is not None:
        _sync_status_flags(hfd, of.flags)
    return result


# -- ioctl ---------------------------------------------------------------------------------

_GUEST_SIDE = {FIOCLEX, FIONCLEX, FIONBIO, FIOASYNC}  # the guest's descriptor and open file
# Terminal requests that would change the host's terminal: answered by the model, not applied.
_NOT_APPLIED = {0x5402, 0x5403, 0x5404, 0x5414, 0x540F, 0x5410}  # TCSETS* TIOCSWINSZ TIOCGPGRP TIOCSPGRP
IOCTL_RULE = "only terminal queries (TCGETS, TIOCGWINSZ) and FIONREAD reach a host descriptor"


@host_syscall("ioctl", partial="TCGETS, TIOCGWINSZ and FIONREAD are asked of the host; changes to a terminal are not applied; other requests to a host descriptor are refused")
def host_ioctl(b: "HostBackend", req: SyscallRequest, fd: Fd, request: UInt, arg: ULong) -> int:
    import fcntl
    import termios

    k = b.kernel
    of = k.fds.get_io(fd)
    hfd = of.handle.host_fd()
    if hfd is None or request in _GUEST_SIDE or request in _NOT_APPLIED:
        result = b.model(req)
        opened = opened_for_guest(of)
        if request == FIONBIO and opened is not None:
            _sync_status_flags(opened, of.flags)
        return result
    order = k.structs.byteorder
    if request == TIOCGWINSZ:
        raw = host_call(fcntl.ioctl, hfd, termios.TIOCGWINSZ, bytes(8))
        row, col, xpixel, ypixel = struct.unpack("=HHHH", raw[:8])
        k.memory.write(arg, k.structs.winsize.pack(ws_row=row, ws_col=col, ws_xpixel=xpixel, ws_ypixel=ypixel))
        return 0
    if request == FIONREAD:
        if of.handle.seekable:
            return b.model(req)  # what is left to read depends on the guest's offset
        raw = host_call(fcntl.ioctl, hfd, termios.FIONREAD, bytes(4))
        k.memory.write(arg, struct.unpack("=i", raw[:4])[0].to_bytes(4, order, signed=True))
        return 0
    if request == TCGETS:
        if not LINUX_HOST:
            return b.model(req)  # the host's termios bits are not Linux's
        raw = host_call(fcntl.ioctl, hfd, termios.TCGETS, bytes(64))
        host_termios = StructLayout("termios", k.structs.termios.fields, sys.byteorder == "big")
        k.memory.write(arg, k.structs.termios.pack(host_termios.unpack(raw[: host_termios.size])))
        return 0
    raise b.log.deny(Errno.ENOTTY, f"ioctl {request:#x} on a host descriptor", IOCTL_RULE)


# -- statx and statfs ----------------------------------------------------------------------

_HOST_STATX = StructLayout("statx", STATX_FIELDS, sys.byteorder == "big")


@host_syscall("statx")
def host_statx(b: "HostBackend", req: SyscallRequest, dirfd: DirFd, pathname: Path, flags: Int, mask: UInt, statxbuf: Ptr) -> int:
    k = b.kernel
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE):
        raise KernelError(Errno.EINVAL)
    if flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE or mask & STATX__RESERVED:
        raise KernelError(Errno.EINVAL)
    if not LINUX_HOST:
        return b.model(req)  # the model fills struct statx from the host's stat
    raw = read_path(k, pathname)
    buf = ctypes.create_string_buffer(_HOST_STATX.size)
    # Linux's own flag values: the host is Linux here.
    sync = flags & AT_STATX_SYNC_TYPE

    def statx(fd: int, name: str, at_flags: int) -> None:
        raw_syscall("statx", ctypes.c_int(fd), os.fsencode(name), ctypes.c_int(at_flags), ctypes.c_uint(mask), buf)

    if not raw and flags & AT_EMPTY_PATH:
        handle = host_file(k.fds.get(dirfd)) if dirfd != AT_FDCWD else None
        if handle is None:
            return b.model(req)
        host_call(statx, handle.host_fd(), "", AT_EMPTY_PATH | sync)
    else:
        place = host_place(k, resolve_at(k, dirfd, raw, follow=not flags & AT_SYMLINK_NOFOLLOW))
        if place is None:
            return b.model(req)
        place.at(lambda fd, name: statx(fd, name, AT_SYMLINK_NOFOLLOW | sync))
    k.memory.write(statxbuf, k.structs.statx.pack(_HOST_STATX.unpack(buf.raw)))
    return 0


# Linux's statfs f_flags bits by the host's statvfs names.
_ST_FLAGS = (
    ("ST_RDONLY", 0x1), ("ST_NOSUID", 0x2), ("ST_NODEV", 0x4), ("ST_NOEXEC", 0x8), ("ST_SYNCHRONOUS", 0x10),
    ("ST_MANDLOCK", 0x40), ("ST_NOATIME", 0x400), ("ST_NODIRATIME", 0x800), ("ST_RELATIME", 0x1000),
)


def _host_fs_stats(fd: int, read_only_grant: bool) -> FsStats:
    st = host_call(os.statvfs, fd)
    flags = ST_VALID | sum(bit for name, bit in _ST_FLAGS if st.f_flag & getattr(os, name, 0))
    if read_only_grant:
        flags |= ST_RDONLY
    return FsStats(
        filesystem_type(fd) or EXT4_SUPER_MAGIC, bsize=st.f_bsize, blocks=st.f_blocks, bfree=st.f_bfree,
        bavail=st.f_bavail, files=st.f_files, ffree=st.f_ffree, namelen=st.f_namemax, flags=flags,
        fsid=(st.f_fsid & 0xFFFFFFFF, st.f_fsid >> 32 & 0xFFFFFFFF),
    )


@host_syscall("statfs")
def host_statfs(b: "HostBackend", req: SyscallRequest, pathname: Path, buf: Ptr) -> int:
    k = b.kernel
    place = host_place(k, resolve_at(k, AT_FDCWD, read_path(k, pathname)))
    if place is None:
        return b.model(req)
    fd = place.tree.beneath.open(place.rel, O_PATH_OR_RDONLY)
    try:
        stats = _host_fs_stats(fd, place.tree.read_only)
    finally:
        os.close(fd)
    k.memory.write(buf, _pack_statfs(k, stats))
    return 0


@host_syscall("fstatfs")
def host_fstatfs(b: "HostBackend", req: SyscallRequest, fd: Fd, buf: Ptr) -> int:
    k = b.kernel
    handle = host_file(k.fds.get(fd))
    if handle is None:
        return b.model(req)
    k.memory.write(buf, _pack_statfs(k, _host_fs_stats(handle.host_fd(), handle.tree.read_only)))
    return 0
