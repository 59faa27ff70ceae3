"""Host system calls that change or check something at a path: mkdir, unlink, rename, link,
symlink, chmod, chown, utimensat, truncate, access.

Each resolves its path(s) in the guest's view, checks the grant is ``rw``, and makes the host
call from the grant's descriptor; the host kernel checks permissions and answers. A path that
lands outside the granted directories is served by the kernel model.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from kernel_model.host.places import HostPlace, changeable_file, host_place, same_tree
from kernel_model.host.registry import host_syscall
from kernel_model.host.translate import LINUX_HOST, access_mode_to_host, host_umask
from kernel_model.abi import AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW
from kernel_model.attrs import UTIME_NOW, UTIME_OMIT, _read_timespecs, _read_timevals
from kernel_model.beneath import raw_syscall
from kernel_model.fsnodes import host_call, s_isdir, s_islnk
from kernel_model.linux_errno import Errno
from kernel_model.paths import RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, read_path, resolve_at, unlink_target
from kernel_model.registry import DirFd, Fd, Int, Long, Mode, Path, Ptr, UInt
from kernel_model.seam import KernelError, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.host.backend import HostBackend


def _place(b: "HostBackend", dirfd: int, raw: bytes, *, follow: bool, allow_missing: bool = False) -> HostPlace | None:
    return host_place(b.kernel, resolve_at(b.kernel, dirfd, raw, follow=follow, allow_missing=allow_missing))


def _creatable(b: "HostBackend", dirfd: int, pathname: int) -> HostPlace | None:
    """The place for a new name: it must not exist yet (EEXIST) and the grant must be rw."""
    place = _place(b, dirfd, read_path(b.kernel, pathname), follow=False, allow_missing=True)
    if place is not None:
        if place.loc.stat is not None:
            raise KernelError(Errno.EEXIST)
        place.writable()
    return place


# -- creating ------------------------------------------------------------------------------


@host_syscall("mkdirat")
def host_mkdirat(b: "HostBackend", req: SyscallRequest, dirfd: DirFd, pathname: Path, mode: Mode) -> int:
    place = _creatable(b, dirfd, pathname)
    if place is None:
        return b.model(req)
    with host_umask(b.kernel.umask):
        place.at(lambda fd, name: os.mkdir(name, mode & 0o7777, dir_fd=fd))
    return 0


@host_syscall("mkdir")
def host_mkdir(b: "HostBackend", req: SyscallRequest, pathname: Path, mode: Mode) -> int:
    return host_mkdirat(b, req, AT_FDCWD, pathname, mode)


@host_syscall("symlinkat")
def host_symlinkat(b: "HostBackend", req: SyscallRequest, target: Path, newdirfd: DirFd, linkpath: Path) -> int:
    text = read_path(b.kernel, target)
    if not text:
        raise KernelError(Errno.ENOENT)
    place = _creatable(b, newdirfd, linkpath)
    if place is None:
        return b.model(req)
    # The target is stored as it is; the sandbox reads it in the guest's view when it is used.
    place.at(lambda fd, name: os.symlink(os.fsdecode(text), name, dir_fd=fd))
    return 0


@host_syscall("symlink")
def host_symlink(b: "HostBackend", req: SyscallRequest, target: Path, linkpath: Path) -> int:
    return host_symlinkat(b, req, target, AT_FDCWD, linkpath)


@host_syscall("linkat")
def host_linkat(
    b: "HostBackend", req: SyscallRequest, olddirfd: DirFd, oldpath: Path, newdirfd: DirFd, newpath: Path, flags: Int
) -> int:
    k = b.kernel
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        raise KernelError(Errno.EINVAL)
    raw = read_path(k, oldpath)
    if not raw:
        raise KernelError(Errno.ENOENT)  # AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, which the guest has not
    old = _place(b, olddirfd, raw, follow=bool(flags & AT_SYMLINK_FOLLOW))
    new = _place(b, newdirfd, read_path(k, newpath), follow=False, allow_missing=True)
    if not same_tree(old, new):
        return b.model(req)
    assert old is not None and new is not None
    if new.loc.stat is not None:
        raise KernelError(Errno.EEXIST)
    new.writable()
    with old.tree.beneath.parent(old.rel) as (old_fd, old_name), new.tree.beneath.parent(new.rel) as (new_fd, new_name):
        host_call(os.link, old_name, new_name, src_dir_fd=old_fd, dst_dir_fd=new_fd, follow_symlinks=False)
    return 0


@host_syscall("link")
def host_link(b: "HostBackend", req: SyscallRequest, oldpath: Path, newpath: Path) -> int:
    return host_linkat(b, req, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


# -- removing and renaming -----------------------------------------------------------------


@host_syscall("unlinkat")
def host_unlinkat(b: "HostBackend", req: SyscallRequest, dirfd: DirFd, pathname: Path, flags: Int) -> int:
    place = host_place(b.kernel, unlink_target(b.kernel, dirfd, pathname, flags))
    if place is None:
        return b.model(req)
    if place.is_grant_root:
        raise KernelError(Errno.EBUSY)
    place.writable()
    remove = os.rmdir if flags & AT_REMOVEDIR else os.unlink
    place.at(lambda fd, name: remove(name, dir_fd=fd))
    return 0


@host_syscall("unlink")
def host_unlink(b: "HostBackend", req: SyscallRequest, pathname: Path) -> int:
    return host_unlinkat(b, req, AT_FDCWD, pathname, 0)


@host_syscall("rmdir")
def host_rmdir(b: "HostBackend", req: SyscallRequest, pathname: Path) -> int:
    return host_unlinkat(b, req, AT_FDCWD, pathname, AT_REMOVEDIR)


@host_syscall("renameat2", partial="RENAME_NOREPLACE, RENAME_EXCHANGE and RENAME_WHITEOUT only on a Linux host")
def host_renameat2(
    b: "HostBackend", req: SyscallRequest, olddirfd: DirFd, oldpath: Path, newdirfd: DirFd, newpath: Path, flags: UInt
) -> int:
    k = b.kernel
    if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) or (
        flags & RENAME_EXCHANGE and flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)
    ):
        raise KernelError(Errno.EINVAL)
    old = _place(b, olddirfd, read_path(k, oldpath), follow=False)
    new = _place(b, newdirfd, read_path(k, newpath), follow=False, allow_missing=not flags & RENAME_EXCHANGE)
    if not same_tree(old, new):
        return b.model(req)
    assert old is not None and new is not None
    if old.is_grant_root or new.is_grant_root:
        raise KernelError(Errno.EBUSY)
    new.writable()
    with old.tree.beneath.parent(old.rel) as (old_fd, old_name), new.tree.beneath.parent(new.rel) as (new_fd, new_name):
        if not flags:
            host_call(os.rename, old_name, new_name, src_dir_fd=old_fd, dst_dir_fd=new_fd)
        elif LINUX_HOST:  # the flags are Linux's, and so are the host's
            import ctypes

            host_call(raw_syscall, "renameat2", ctypes.c_int(old_fd), os.fsencode(old_name), ctypes.c_int(new_fd),
                      os.fsencode(new_name), ctypes.c_uint(flags))
        else:
            raise KernelError(Errno.EINVAL, "the host has no renameat2")
    return 0


@host_syscall("renameat")
def host_renameat(
    b: "HostBackend", req: SyscallRequest, olddirfd: DirFd, oldpath: Path, newdirfd: DirFd, newpath: Path
) -> int:
    return host_renameat2(b, req, olddirfd, oldpath, newdirfd, newpath, 0)


@host_syscall("rename")
def host_rename(b: "HostBackend", req: SyscallRequest, oldpath: Path, newpath: Path) -> int:
    return host_renameat2(b, req, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


# -- attributes ----------------------------------------------------------------------------


def _attr_place(b: "HostBackend", dirfd: int, pathname: int, flags: int, allowed: int) -> HostPlace | None | int:
    """The place an fchmodat-style call changes, or the guest descriptor when the path is empty."""
    if flags & ~allowed:
        raise KernelError(Errno.EINVAL)
    raw = read_path(b.kernel, pathname)
    if not raw:
        if not flags & AT_EMPTY_PATH:
            raise KernelError(Errno.ENOENT)
        return dirfd
    place = _place(b, dirfd, raw, follow=not flags & AT_SYMLINK_NOFOLLOW)
    if place is not None:
        place.writable()
    return place


def _changeable_fd(b: "HostBackend", fd: int) -> int | None:
    """The host descriptor of a guest one whose grant may be changed, or None (the model's)."""
    handle = changeable_file(b.kernel.fds.get(fd))
    return None if handle is None else handle.host_fd()


@host_syscall("fchmodat2")
def host_fchmodat2(b: "HostBackend", req: SyscallRequest, dirfd: DirFd, pathname: Path, mode: Mode, flags: UInt) -> int:
    place = _attr_place(b, dirfd, pathname, flags, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)
    if isinstance(place, int):
        return host_fchmod(b, req, place, mode)
    if place is None:
        return b.model(req)
    place.tree.beneath.chmod(place.rel, mode & 0o7777)
    return 0


@host_syscall("fchmodat")
def host_fchmodat(b: "HostBackend", req: SyscallRequest, dirfd: DirFd, pathname: Path, mode: Mode) -> int:
    return host_fchmodat2(b, req, dirfd, pathname, mode, 0)


@host_syscall("chmod")
def host_chmod(b: "HostBackend", req: SyscallRequest, pathname: Path, mode: Mode) -> int:
    return host_fchmodat2(b, req, AT_FDCWD, pathname, mode, 0)


@host_syscall("fchmod")
def host_fchmod(b: "HostBackend", req: SyscallRequest, fd: Fd, mode: Mode) -> int:
    hfd = _changeable_fd(b, fd)
    if hfd is None:
        return b.model(req)
    host_call(os.fchmod, hfd, mode & 0o7777)
    return 0


def _id(value: int) -> int:
    return -1 if value in (-1, 0xFFFFFFFF) else value


@host_syscall("fchownat")
def host_fchownat(
    b: "HostBackend", req: SyscallRequest, dirfd: DirFd, pathname: Path, owner: UInt, group: UInt, flags: Int
) -> int:
    place = _attr_place(b, dirfd, pathname, flags, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)
    if isinstance(place, int):
        return host_fchown(b, req, place, owner, group)
    if place is None:
        return b.model(req)
    place.at(lambda fd, name: os.chown(name, _id(owner), _id(group), dir_fd=fd, follow_symlinks=False))
    return 0


@host_syscall("chown")
def host_chown(b: "HostBackend", req: SyscallRequest, pathname: Path, owner: UInt, group: UInt) -> int:
    return host_fchownat(b, req, AT_FDCWD, pathname, owner, group, 0)


@host_syscall("lchown")
def host_lchown(b: "HostBackend", req: SyscallRequest, pathname: Path, owner: UInt, group: UInt) -> int:
    return host_fchownat(b, req, AT_FDCWD, pathname, owner, group, AT_SYMLINK_NOFOLLOW)


@host_syscall("fchown")
def host_fchown(b: "HostBackend", req: SyscallRequest, fd: Fd, owner: UInt, group: UInt) -> int:
    hfd = _changeable_fd(b, fd)
    if hfd is None:
        return b.model(req)
    host_call(os.fchown, hfd, _id(owner), _id(group))
    return 0


def _host_times(times: tuple[int, int] | None, current: os.stat_result | None) -> tuple[int, int] | None:
    """utimensat's times (with UTIME_NOW/UTIME_OMIT) as what ``os.utime(ns=...)`` takes.

    None (both "now") is passed as None, which the host takes with its own rule for "now":
    write permission is enough.
    """
    if times is None:
        return None
    now = time.time_ns()
    out = []
    for value, kept in zip(times, (current.st_atime_ns, current.st_mtime_ns) if current else (0, 0)):
        out.append(kept if value == UTIME_OMIT else now if value == UTIME_NOW else value)
    return out[0], out[1]


def _set_times(b: "HostBackend", req: SyscallRequest, place: HostPlace | None | int, times: tuple[int, int] | None) -> int:
    if times is not None and times == (UTIME_OMIT, UTIME_OMIT):
        return 0
    if isinstance(place, int):
        hfd = _changeable_fd(b, place)
        if hfd is None:
            return b.model(req)
        if times is None:
            host_call(os.utime, hfd)
        else:
            host_call(os.utime, hfd, ns=_host_times(times, host_call(os.fstat, hfd)))
        return 0
    if place is None:
        return b.model(req)

    def change(fd: int, name: str) -> None:
        if times is None:
            os.utime(name, dir_fd=fd, follow_symlinks=False)
        else:
            current = os.stat(name, dir_fd=fd, follow_symlinks=False)
            os.utime(name, ns=_host_times(times, current), dir_fd=fd, follow_symlinks=False)

    place.at(change)
    return 0


@host_syscall("utimensat")
def host_utimensat(b: "HostBackend", req: SyscallRequest, dirfd: DirFd, pathname: Ptr, times: Ptr, flags: Int) -> int:
    ts = _read_timespecs(b.kernel, times)
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise KernelError(Errno.EINVAL)
    if not pathname and dirfd != AT_FDCWD:
        if flags & AT_SYMLINK_NOFOLLOW:
            raise KernelError(Errno.EINVAL)
        return _set_times(b, req, dirfd, ts)  # futimens
    if not pathname:
        raise KernelError(Errno.EFAULT)
    return _set_times(b, req, _attr_place(b, dirfd, pathname, flags, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH), ts)


@host_syscall("futimesat")
def host_futimesat(b: "HostBackend", req: SyscallRequest, dirfd: DirFd, pathname: Path, times: Ptr) -> int:
    tv = _read_timevals(b.kernel, times)
    return _set_times(b, req, _attr_place(b, dirfd, pathname, 0, 0), tv)


@host_syscall("utimes")
def host_utimes(b: "HostBackend", req: SyscallRequest, pathname: Path, times: Ptr) -> int:
    return host_futimesat(b, req, AT_FDCWD, pathname, times)


@host_syscall("utime")
def host_utime(b: "HostBackend", req: SyscallRequest, pathname: Path, times: Ptr) -> int:
    ts = None
    if times:  # struct utimbuf: two longs of whole seconds
        k = b.kernel
        word = k.arch.word_size
        raw = k.memory.read(times, 2 * word)
        a, m = (int.from_bytes(raw[i * word : (i + 1) * word], k.structs.byteorder, signed=True) for i in range(2))
        ts = (a * 10**9, m * 10**9)
    return _set_times(b, req, _attr_place(b, AT_FDCWD, pathname, 0, 0), ts)


@host_syscall("truncate")
def host_truncate(b: "HostBackend", req: SyscallRequest, path: Path, length: Long) -> int:
    if length < 0:
        raise KernelError(Errno.EINVAL)
    place = _place(b, AT_FDCWD, read_path(b.kernel, path), follow=True)
    if place is None:
        return b.model(req)
    assert place.loc.stat is not None
    if s_isdir(place.loc.stat.mode):
        raise KernelError(Errno.EISDIR)
    place.writable()
    fd = place.tree.beneath.open(place.rel, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        host_call(os.ftruncate, fd, length)
    finally:
        os.close(fd)
    return 0


# -- access --------------------------------------------------------------------------------


@host_syscall("faccessat2")
def host_faccessat2(b: "HostBackend", req: SyscallRequest, dirfd: DirFd, pathname: Path, mode: Int, flags: Int) -> int:
    k = b.kernel
    if mode & ~7 or flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise KernelError(Errno.EINVAL)
    raw = read_path(k, pathname)
    if not raw and flags & AT_EMPTY_PATH:
        return b.model(req)  # a question about an open descriptor: the model answers from it
    place = _place(b, dirfd, raw, follow=not flags & AT_SYMLINK_NOFOLLOW)
    if place is None:
        return b.model(req)
    st = place.loc.stat
    assert st is not None
    if mode & 2 and place.tree.read_only and not s_islnk(st.mode):
        raise place.tree.refuse_write(place.rel)
    if mode == 0:
        return 0
    effective = bool(flags & AT_EACCESS) and os.access in os.supports_effective_ids
    host_mode = access_mode_to_host(mode)
    ok = place.at(lambda fd, name: os.access(name, host_mode, dir_fd=fd, effective_ids=effective, follow_symlinks=False))
    if ok:
        return 0
    if mode & 2 and _host_read_only(place):
        raise KernelError(Errno.EROFS)
    raise KernelError(Errno.EACCES)


def _host_read_only(place: HostPlace) -> bool:
    """Whether the host filesystem under the place is mounted read-only."""
    with place.tree.beneath.directory(place.rel[:-1]) as fd:
        st = host_call(os.statvfs, fd)
    return bool(st.f_flag & getattr(os, "ST_RDONLY", 1))


@host_syscall("faccessat")
def host_faccessat(b: "HostBackend", req: SyscallRequest, dirfd: DirFd, pathname: Path, mode: Int) -> int:
    return host_faccessat2(b, req, dirfd, pathname, mode, 0)


@host_syscall("access")
def host_access(b: "HostBackend", req: SyscallRequest, pathname: Path, mode: Int) -> int:
    return host_faccessat2(b, req, AT_FDCWD, pathname, mode, 0)
