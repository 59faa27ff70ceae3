"""Changing a file's attributes: ``chmod``/``fchmod``/``fchmodat``, the ``chown`` family,
``utimensat`` (and x86_64's ``utimes``/``utime``/``futimesat``), and ``truncate``.

Linux's order of checks is kept: the path is looked up first, then a read-only filesystem
answers ``EROFS``, and only then ownership (``EPERM``) or permission (``EACCES``) is checked.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from kernel_model.abi import AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW
from kernel_model.filesystems import Filesystem, Node
from kernel_model.fsnodes import StatInfo, s_isdir, s_islnk
from kernel_model.linux_errno import Errno
from kernel_model.paths import read_path, resolve_at
from kernel_model.registry import DirFd, Fd, Int, Long, Mode, Path, Ptr, UInt, syscall
from kernel_model.seam import KernelError, SyscallRequest
from kernel_model.vfs import W_OK, GuestPath, Location, split_path

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


def _changeable(k: "Kernel", loc: Location) -> tuple[Filesystem, GuestPath, StatInfo, Node | None]:
    """The filesystem, inner path, metadata and parent node of an existing location, after the
    EROFS check."""
    assert loc.stat is not None
    fs, rel, at = k.ns.filesystem_for_change(loc)
    return fs, rel, loc.stat, at


def _owner_or_root(k: "Kernel", st: StatInfo) -> None:
    creds = k.ns.creds
    if creds.uid != 0 and st.uid != creds.uid:
        raise KernelError(Errno.EPERM)


def _fd_location(k: "Kernel", fd: int, io: bool = False) -> Location:
    # ``io``: the call works on the open file itself (fchmod, fchown), which an O_PATH
    # descriptor is not (EBADF); an *at call with AT_EMPTY_PATH takes the place it names.
    of = k.fds.get_io(fd) if io else k.fds.get(fd)
    if not of.path.startswith("/"):
        raise KernelError(Errno.EROFS)  # a pipe or a stream: nothing on a filesystem to change
    return Location(split_path(of.path), of.handle.stat())


def _at(k: "Kernel", dirfd: int, pathname: int, flags: int, allowed: int) -> Location:
    if flags & ~allowed:
        raise KernelError(Errno.EINVAL)
    raw = read_path(k, pathname)
    if not raw:
        if not flags & AT_EMPTY_PATH:
            raise KernelError(Errno.ENOENT)
        return _fd_location(k, dirfd) if dirfd != AT_FDCWD else Location(k.cwd, k.ns.lstat(k.cwd))
    return resolve_at(k, dirfd, raw, follow=not flags & AT_SYMLINK_NOFOLLOW)


# -- mode ----------------------------------------------------------------------------------


def _chmod(k: "Kernel", loc: Location, mode: int) -> int:
    fs, rel, st, at = _changeable(k, loc)
    if s_islnk(st.mode):
        raise KernelError(Errno.EOPNOTSUPP)  # a link's own mode cannot change
    _owner_or_root(k, st)
    if k.ns.creds.uid != 0 and st.gid != k.ns.creds.gid and st.gid not in k.ns.creds.groups:
        mode &= ~0o2000  # setgid is dropped for a group the caller is not in
    fs.chmod(rel, mode & 0o7777, at=at)
    return 0


@syscall("fchmodat2")
def sys_fchmodat2(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, mode: Mode, flags: UInt) -> int:
    return _chmod(k, _at(k, dirfd, pathname, flags, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH), mode)


@syscall("fchmodat")
def sys_fchmodat(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, mode: Mode) -> int:
    return _chmod(k, _at(k, dirfd, pathname, 0, 0), mode)


@syscall("chmod")
def sys_chmod(k: "Kernel", req: SyscallRequest, pathname: Path, mode: Mode) -> int:
    return sys_fchmodat(k, req, AT_FDCWD, pathname, mode)


@syscall("fchmod")
def sys_fchmod(k: "Kernel", req: SyscallRequest, fd: Fd, mode: Mode) -> int:
    return _chmod(k, _fd_location(k, fd, io=True), mode)


# -- owner ---------------------------------------------------------------------------------


def _chown(k: "Kernel", loc: Location, uid: int, gid: int) -> int:
    fs, rel, st, at = _changeable(k, loc)
    creds = k.ns.creds
    uid = -1 if uid == 0xFFFFFFFF or uid == -1 else uid
    gid = -1 if gid == 0xFFFFFFFF or gid == -1 else gid
    if creds.uid != 0:
        # Without privilege: only the owner, only to the same owner, only to one's own groups.
        if st.uid != creds.uid or (uid != -1 and uid != st.uid):
            raise KernelError(Errno.EPERM)
        if gid != -1 and gid != st.gid and gid != creds.gid and gid not in creds.groups:
            raise KernelError(Errno.EPERM)
    if (uid == -1 or uid == st.uid) and (gid == -1 or gid == st.gid):
        return 0
    fs.chown(rel, uid, gid, at=at)
    return 0


@syscall("fchownat")
def sys_fchownat(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, owner: UInt, group: UInt, flags: Int) -> int:
    return _chown(k, _at(k, dirfd, pathname, flags, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH), owner, group)


@syscall("chown")
def sys_chown(k: "Kernel", req: SyscallRequest, pathname: Path, owner: UInt, group: UInt) -> int:
    return sys_fchownat(k, req, AT_FDCWD, pathname, owner, group, 0)


@syscall("lchown")
def sys_lchown(k: "Kernel", req: SyscallRequest, pathname: Path, owner: UInt, group: UInt) -> int:
    return sys_fchownat(k, req, AT_FDCWD, pathname, owner, group, AT_SYMLINK_NOFOLLOW)


@syscall("fchown")
def sys_fchown(k: "Kernel", req: SyscallRequest, fd: Fd, owner: UInt, group: UInt) -> int:
    return _chown(k, _fd_location(k, fd, io=True), owner, group)


# -- times ---------------------------------------------------------------------------------


def _set_times(k: "Kernel", loc: Location, times: tuple[int, int] | None) -> int:
    """Set (atime, mtime) in ns, UTIME_NOW/UTIME_OMIT allowed; None means both now."""
    if times is not None and times[0] == UTIME_OMIT and times[1] == UTIME_OMIT:
        return 0
    fs, rel, st, at = _changeable(k, loc)
    creds = k.ns.creds
    explicit = times is not None and any(t not in (UTIME_NOW, UTIME_OMIT) for t in times)
    if creds.uid != 0 and st.uid != creds.uid:
        if explicit:
            raise KernelError(Errno.EPERM)
        if not creds.permits(st, W_OK):
            raise KernelError(Errno.EACCES)
    now = time.time_ns()
    if times is None:
        fs.utimens(rel, now, now, at=at)
        return 0
    a, m = (None if t == UTIME_OMIT else now if t == UTIME_NOW else t for t in times)
    fs.utimens(rel, a, m, at=at)
    return 0


def _read_timespecs(k: "Kernel", ptr: int) -> tuple[int, int] | None:
    if not ptr:
        return None
    layout = k.structs.timespec
    raw = k.memory.read(ptr, layout.size * 2)
    out = []
    for i in range(2):
        ts = layout.unpack(raw[i * layout.size : (i + 1) * layout.size])
        nsec = ts["tv_nsec"]
        if nsec in (UTIME_NOW, UTIME_OMIT):
            out.append(nsec)
        elif not 0 <= nsec < 10**9:
            raise KernelError(Errno.EINVAL)
        else:
            out.append(ts["tv_sec"] * 10**9 + nsec)
    if out == [UTIME_NOW, UTIME_NOW]:
        return None
    return out[0], out[1]


@syscall("utimensat")
def sys_utimensat(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Ptr, times: Ptr, flags: Int) -> int:
    ts = _read_timespecs(k, times)
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise KernelError(Errno.EINVAL)
    if not pathname and dirfd != AT_FDCWD:
        if flags & AT_SYMLINK_NOFOLLOW:
            raise KernelError(Errno.EINVAL)
        return _set_times(k, _fd_location(k, dirfd), ts)  # futimens
    if not pathname:
        raise KernelError(Errno.EFAULT)
    return _set_times(k, _at(k, dirfd, pathname, flags, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH), ts)


def _read_timevals(k: "Kernel", ptr: int) -> tuple[int, int] | None:
    if not ptr:
        return None
    layout = k.structs.timeval
    raw = k.memory.read(ptr, layout.size * 2)
    out = []
    for i in range(2):
        tv = layout.unpack(raw[i * layout.size : (i + 1) * layout.size])
        if not 0 <= tv["tv_usec"] < 1_000_000:
            raise KernelError(Errno.EINVAL)
        out.append(tv["tv_sec"] * 10**9 + tv["tv_usec"] * 1000)
    return out[0], out[1]


@syscall("futimesat")
def sys_futimesat(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, times: Ptr) -> int:
    tv = _read_timevals(k, times)
    return _set_times(k, _at(k, dirfd, pathname, 0, 0), tv)


@syscall("utimes")
def sys_utimes(k: "Kernel", req: SyscallRequest, pathname: Path, times: Ptr) -> int:
    return sys_futimesat(k, req, AT_FDCWD, pathname, times)


@syscall("utime")
def sys_utime(k: "Kernel", req: SyscallRequest, pathname: Path, times: Ptr) -> int:
    # struct utimbuf: two longs of whole seconds
    ts = None
    if times:
        word = k.arch.word_size
        raw = k.memory.read(times, 2 * word)
        a, m = (int.from_bytes(raw[i * word : (i + 1) * word], k.structs.byteorder, signed=True) for i in range(2))
        ts = (a * 10**9, m * 10**9)
    return _set_times(k, _at(k, AT_FDCWD, pathname, 0, 0), ts)


# -- size ----------------------------------------------------------------------------------


@syscall("truncate")
def sys_truncate(k: "Kernel", req: SyscallRequest, path: Path, length: Long) -> int:
    if length < 0:
        raise KernelError(Errno.EINVAL)
    loc = resolve_at(k, AT_FDCWD, read_path(k, path))
    assert loc.stat is not None
    if s_isdir(loc.stat.mode):
        raise KernelError(Errno.EISDIR)
    fs, rel, st, at = _changeable(k, loc)
    if not k.ns.creds.permits(st, W_OK):
        raise KernelError(Errno.EACCES)
    fs.truncate(rel, length, at=at)
    return 0
