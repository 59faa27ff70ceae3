"""System calls that take a path: open, stat, mkdir, unlink, rename, readlink, access, chdir,
getcwd, getdents64, and the legacy x86_64 spellings of the ``*at`` calls as thin aliases.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from kernel_model.abi import (
    AT_EACCESS,
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_NO_AUTOMOUNT,
    AT_REMOVEDIR,
    AT_SYMLINK_FOLLOW,
    AT_SYMLINK_NOFOLLOW,
    O_ACCMODE,
    O_CLOEXEC,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_LARGEFILE,
    O_NOFOLLOW,
    O_PATH,
    O_RDONLY,
    O_TMPFILE,
    O_TRUNC,
    O_WRONLY,
)
from kernel_model.fdtable import OpenFile
from kernel_model.filesystems import RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT
from kernel_model.files import pack_stat
from kernel_model.fsnodes import Handle, StatInfo, s_isdir, s_islnk
from kernel_model.linux_errno import Errno
from kernel_model.registry import DirFd, Fd, Int, Mode, Path, Ptr, Size, UInt, syscall
from kernel_model.seam import KernelError, SyscallRequest
from kernel_model.vfs import _DEVICE_TYPES, PATH_MAX, R_OK, W_OK, X_OK, GuestPath, Location, encode_name, split_path

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel



def read_path(k: "Kernel", ptr: int) -> bytes:
    """A path argument from guest memory: EFAULT when unreadable, ENAMETOOLONG past PATH_MAX."""
    raw = k.memory.read_cstr(ptr, PATH_MAX)
    if len(raw) >= PATH_MAX:
        raise KernelError(Errno.ENAMETOOLONG)
    return raw


def base_dir(k: "Kernel", dirfd: int, raw: bytes) -> GuestPath:
    """The directory a relative path starts from: the cwd, or the directory open at ``dirfd``."""
    if raw.startswith(b"/") or dirfd == AT_FDCWD:
        return k.cwd
    of = k.fds.get(dirfd)
    if not s_isdir(of.handle.stat().mode):
        raise KernelError(Errno.ENOTDIR)
    return split_path(of.path)


def resolve_at(
    k: "Kernel", dirfd: int, raw: bytes, *, follow: bool = True, allow_missing: bool = False
) -> Location:
    """Resolve a guest path relative to ``dirfd``, the way every ``*at`` call does."""
    return k.ns.resolve(raw, base_dir(k, dirfd, raw), follow=follow, allow_missing=allow_missing)


def _fd_location(k: "Kernel", dirfd: int) -> Location:
    if dirfd == AT_FDCWD:
        return Location(k.cwd, k.ns.lstat(k.cwd))
    of = k.fds.get(dirfd)
    return Location(split_path(of.path), of.handle.stat())


class PathHandle(Handle):
    """What an ``O_PATH`` descriptor holds: a place in the tree, not an open file."""

    def __init__(self, k: "Kernel", loc: Location) -> None:
        self._k = k
        self._path = loc.path
        assert loc.stat is not None
        self.is_directory = s_isdir(loc.stat.mode)

    def pread(self, size: int, offset: int) -> bytes:
        raise KernelError(Errno.EBADF)

    def pwrite(self, data: bytes, offset: int) -> int:
        raise KernelError(Errno.EBADF)

    def stat(self) -> StatInfo:
        return self._k.ns.lstat(self._path)

    def listdir(self) -> list:
        raise KernelError(Errno.EBADF)


# -- open ----------------------------------------------------------------------------------


def do_open(k: "Kernel", dirfd: int, raw: bytes, flags: int, mode: int) -> int:
    """openat's body once the flags are canonical: open, then install the lowest free fd."""
    if k.arch.bits == 64:
        flags |= O_LARGEFILE  # force_o_largefile(): F_GETFL shows it, as on Linux
    k.fds.check_free()
    of = open_file(k, dirfd, raw, flags, mode)
    return k.fds.install(of, cloexec=bool(flags & O_CLOEXEC))


def open_file(k: "Kernel", dirfd: int, raw: bytes, flags: int, mode: int) -> OpenFile:
    """Resolve and open a path with canonical flags, as open(2) does, without giving it an fd."""
    if flags & O_TMPFILE == O_TMPFILE:
        raise KernelError(Errno.EOPNOTSUPP)
    if flags & O_CREAT and flags & O_DIRECTORY:
        raise KernelError(Errno.EINVAL)
    creating = bool(flags & O_CREAT) and not flags & O_PATH
    follow = not flags & O_NOFOLLOW and not (creating and flags & O_EXCL)
    loc = resolve_at(k, dirfd, raw, follow=follow, allow_missing=creating)
    st = loc.stat
    if st is not None:
        if creating and flags & O_EXCL:
            raise KernelError(Errno.EEXIST)
        if s_islnk(st.mode) and not flags & O_PATH:
            raise KernelError(Errno.ELOOP)
        if flags & O_DIRECTORY and not s_isdir(st.mode):
            raise KernelError(Errno.ENOTDIR)
        if s_isdir(st.mode) and not flags & O_PATH and (flags & O_ACCMODE != O_RDONLY or creating):
            raise KernelError(Errno.EISDIR)
    handle: Handle
    if flags & O_PATH:
        handle = PathHandle(k, loc)
        flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
    else:
        handle = k.ns.open(loc, flags, mode & ~k.umask & 0o7777)
    return OpenFile(handle, flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC), loc.text)


@syscall("openat", partial="O_TMPFILE is not supported (EOPNOTSUPP)")
def sys_openat(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, flags: Int, mode: Mode) -> int:
    return do_open(k, dirfd, read_path(k, pathname), k.abi.open_flags_in(flags & 0xFFFFFFFF), mode)


@syscall("open", partial="as openat")
def sys_open(k: "Kernel", req: SyscallRequest, pathname: Path, flags: Int, mode: Mode) -> int:
    return sys_openat(k, req, AT_FDCWD, pathname, flags, mode)


@syscall("creat")
def sys_creat(k: "Kernel", req: SyscallRequest, pathname: Path, mode: Mode) -> int:
    return do_open(k, AT_FDCWD, read_path(k, pathname), O_CREAT | O_WRONLY | O_TRUNC, mode)


# -- stat ----------------------------------------------------------------------------------


def stat_at(k: "Kernel", dirfd: int, pathname: int, flags: int) -> StatInfo:
    """The metadata an ``fstatat``-style call asks for."""
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | 0x6000):
        raise KernelError(Errno.EINVAL)
    raw = read_path(k, pathname)
    if not raw:
        if not flags & AT_EMPTY_PATH:
            raise KernelError(Errno.ENOENT)
        return _fd_location(k, dirfd).stat  # type: ignore[return-value]
    loc = resolve_at(k, dirfd, raw, follow=not flags & AT_SYMLINK_NOFOLLOW)
    assert loc.stat is not None
    return loc.stat


@syscall("newfstatat")
def sys_newfstatat(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, statbuf: Ptr, flags: Int) -> int:
    st = stat_at(k, dirfd, pathname, flags)
    k.memory.write(statbuf, pack_stat(k, st))
    return 0


@syscall("stat")
def sys_stat(k: "Kernel", req: SyscallRequest, pathname: Path, statbuf: Ptr) -> int:
    return sys_newfstatat(k, req, AT_FDCWD, pathname, statbuf, 0)


@syscall("lstat")
def sys_lstat(k: "Kernel", req: SyscallRequest, pathname: Path, statbuf: Ptr) -> int:
    return sys_newfstatat(k, req, AT_FDCWD, pathname, statbuf, AT_SYMLINK_NOFOLLOW)


# -- the working directory -----------------------------------------------------------------


@syscall("getcwd")
def sys_getcwd(k: "Kernel", req: SyscallRequest, buf: Ptr, size: Size) -> int:
    k.ns.lstat(k.cwd)  # ENOENT once the directory is gone
    text = encode_name("/" + "/".join(k.cwd)) + b"\0"
    if size < len(text):
        raise KernelError(Errno.ERANGE)
    k.memory.write(buf, text)
    return len(text)


def _enter(k: "Kernel", loc: Location) -> int:
    assert loc.stat is not None
    if not s_isdir(loc.stat.mode):
        raise KernelError(Errno.ENOTDIR)
    if not k.ns.creds.permits(loc.stat, X_OK):
        raise KernelError(Errno.EACCES)
    k.cwd = loc.path
    return 0


@syscall("chdir")
def sys_chdir(k: "Kernel", req: SyscallRequest, path: Path) -> int:
    return _enter(k, resolve_at(k, AT_FDCWD, read_path(k, path)))


@syscall("fchdir")
def sys_fchdir(k: "Kernel", req: SyscallRequest, fd: Fd) -> int:
    return _enter(k, _fd_location(k, fd))


@syscall("umask")
def sys_umask(k: "Kernel", req: SyscallRequest, mask: Mode) -> int:
    old, k.umask = k.umask, mask & 0o777
    return old


# -- creating, removing, renaming ----------------------------------------------------------


@syscall("mkdirat")
def sys_mkdirat(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, mode: Mode) -> int:
    loc = resolve_at(k, dirfd, read_path(k, pathname), follow=False, allow_missing=True)
    k.ns.mkdir(loc, mode & ~k.umask & 0o7777)
    return 0


@syscall("mkdir")
def sys_mkdir(k: "Kernel", req: SyscallRequest, pathname: Path, mode: Mode) -> int:
    return sys_mkdirat(k, req, AT_FDCWD, pathname, mode)


def unlink_target(k: "Kernel", dirfd: int, pathname: int, flags: int) -> Location:
    """What unlinkat removes, after Linux's checks of its flags and of the path's last name."""
    if flags & ~AT_REMOVEDIR:
        raise KernelError(Errno.EINVAL)
    raw = read_path(k, pathname)
    if flags & AT_REMOVEDIR:
        last = raw.rstrip(b"/").rsplit(b"/", 1)[-1]
        if last == b".":
            raise KernelError(Errno.EINVAL)
        if last == b"..":
            raise KernelError(Errno.ENOTEMPTY)
        return resolve_at(k, dirfd, raw, follow=False)
    loc = resolve_at(k, dirfd, raw.rstrip(b"/") or raw, follow=False)
    if raw.endswith(b"/") and loc.stat is not None and not s_isdir(loc.stat.mode):
        raise KernelError(Errno.ENOTDIR)
    return loc


@syscall("unlinkat")
def sys_unlinkat(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, flags: Int) -> int:
    loc = unlink_target(k, dirfd, pathname, flags)
    if flags & AT_REMOVEDIR:
        k.ns.rmdir(loc)
    else:
        k.ns.unlink(loc)
    return 0


@syscall("unlink")
def sys_unlink(k: "Kernel", req: SyscallRequest, pathname: Path) -> int:
    return sys_unlinkat(k, req, AT_FDCWD, pathname, 0)


@syscall("rmdir")
def sys_rmdir(k: "Kernel", req: SyscallRequest, pathname: Path) -> int:
    return sys_unlinkat(k, req, AT_FDCWD, pathname, AT_REMOVEDIR)


@syscall("renameat2", partial="RENAME_WHITEOUT needs CAP_MKNOD: EINVAL except on a host directory")
def sys_renameat2(
    k: "Kernel", req: SyscallRequest, olddirfd: DirFd, oldpath: Path, newdirfd: DirFd, newpath: Path, flags: UInt
) -> int:
    if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) or (
        flags & RENAME_EXCHANGE and flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)
    ):
        raise KernelError(Errno.EINVAL)
    old = resolve_at(k, olddirfd, read_path(k, oldpath), follow=False)
    exchange = bool(flags & RENAME_EXCHANGE)
    new = resolve_at(k, newdirfd, read_path(k, newpath), follow=False, allow_missing=not exchange)
    if new.stat is not None and flags & RENAME_NOREPLACE:
        raise KernelError(Errno.EEXIST)
    if old.path == new.path:
        return 0
    if new.path[: len(old.path)] == old.path or (exchange and old.path[: len(new.path)] == new.path):
        raise KernelError(Errno.EINVAL)
    k.ns.rename(old, new, flags)
    return 0


@syscall("renameat")
def sys_renameat(k: "Kernel", req: SyscallRequest, olddirfd: DirFd, oldpath: Path, newdirfd: DirFd, newpath: Path) -> int:
    return sys_renameat2(k, req, olddirfd, oldpath, newdirfd, newpath, 0)


@syscall("rename")
def sys_rename(k: "Kernel", req: SyscallRequest, oldpath: Path, newpath: Path) -> int:
    return sys_renameat2(k, req, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


@syscall("symlinkat")
def sys_symlinkat(k: "Kernel", req: SyscallRequest, target: Path, newdirfd: DirFd, linkpath: Path) -> int:
    text = read_path(k, target)
    if not text:
        raise KernelError(Errno.ENOENT)
    loc = resolve_at(k, newdirfd, read_path(k, linkpath), follow=False, allow_missing=True)
    k.ns.symlink(text, loc)
    return 0


@syscall("symlink")
def sys_symlink(k: "Kernel", req: SyscallRequest, target: Path, linkpath: Path) -> int:
    return sys_symlinkat(k, req, target, AT_FDCWD, linkpath)


@syscall("linkat")
def sys_linkat(
    k: "Kernel", req: SyscallRequest, olddirfd: DirFd, oldpath: Path, newdirfd: DirFd, newpath: Path, flags: Int
) -> int:
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        raise KernelError(Errno.EINVAL)
    old = resolve_at(k, olddirfd, read_path(k, oldpath), follow=bool(flags & AT_SYMLINK_FOLLOW))
    assert old.stat is not None
    if s_isdir(old.stat.mode):
        raise KernelError(Errno.EPERM)
    new = resolve_at(k, newdirfd, read_path(k, newpath), follow=False, allow_missing=True)
    k.ns.link(old, new)
    return 0


@syscall("link")
def sys_link(k: "Kernel", req: SyscallRequest, oldpath: Path, newpath: Path) -> int:
    return sys_linkat(k, req, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


# -- reading links and checking access -----------------------------------------------------


@syscall("readlinkat")
def sys_readlinkat(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, buf: Ptr, bufsiz: Int) -> int:
    if bufsiz <= 0:
        raise KernelError(Errno.EINVAL)
    raw = read_path(k, pathname)
    if not raw:
        raise KernelError(Errno.ENOENT)
    loc = resolve_at(k, dirfd, raw, follow=False)
    assert loc.stat is not None
    if not s_islnk(loc.stat.mode):
        raise KernelError(Errno.EINVAL)
    target = k.ns.readlink(loc.path)[:bufsiz]
    k.memory.write(buf, target)
    return len(target)


@syscall("readlink")
def sys_readlink(k: "Kernel", req: SyscallRequest, pathname: Path, buf: Ptr, bufsiz: Int) -> int:
    return sys_readlinkat(k, req, AT_FDCWD, pathname, buf, bufsiz)


@syscall("faccessat2")
def sys_faccessat2(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, mode: Int, flags: Int) -> int:
    if mode & ~7 or flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise KernelError(Errno.EINVAL)
    raw = read_path(k, pathname)
    if not raw and flags & AT_EMPTY_PATH:
        loc = _fd_location(k, dirfd)
    else:
        loc = resolve_at(k, dirfd, raw, follow=not flags & AT_SYMLINK_NOFOLLOW)
    assert loc.stat is not None
    if mode == 0:
        return 0
    if mode & W_OK and not s_islnk(loc.stat.mode) and (loc.stat.mode & 0o170000) not in _DEVICE_TYPES:
        k.ns.filesystem_for_change(loc)  # EROFS on a read-only filesystem, with its rule
    if not k.ns.creds.permits(loc.stat, mode & (R_OK | W_OK | X_OK)):
        raise KernelError(Errno.EACCES)
    return 0


@syscall("faccessat")
def sys_faccessat(k: "Kernel", req: SyscallRequest, dirfd: DirFd, pathname: Path, mode: Int) -> int:
    return sys_faccessat2(k, req, dirfd, pathname, mode, 0)


@syscall("access")
def sys_access(k: "Kernel", req: SyscallRequest, pathname: Path, mode: Int) -> int:
    return sys_faccessat2(k, req, AT_FDCWD, pathname, mode, 0)


# -- directories ---------------------------------------------------------------------------


def _dirent64(k: "Kernel", name: bytes, ino: int, offset: int, dtype: int) -> bytes:
    """One ``struct linux_dirent64``: d_ino, d_off, d_reclen, d_type, d_name, padded to 8."""
    reclen = (19 + len(name) + 1 + 7) & ~7
    return struct.pack(k.structs.endian + "QqHB", ino, offset, reclen, dtype) + name.ljust(reclen - 19, b"\0")


def _dirent(k: "Kernel", name: bytes, ino: int, offset: int, dtype: int) -> bytes:
    """One legacy ``struct linux_dirent``: d_ino, d_off, d_reclen, d_name, then d_type last."""
    word = k.arch.word_size
    head = 2 * word + 2
    reclen = (head + len(name) + 2 + word - 1) & ~(word - 1)
    fmt = k.structs.endian + ("QqH" if word == 8 else "IiH")
    return struct.pack(fmt, ino, offset, reclen) + name.ljust(reclen - head - 1, b"\0") + bytes([dtype])


def read_directory(k: "Kernel", fd: int, dirp: int, count: int, pack) -> int:  # type: ignore[no-untyped-def]
    """getdents64/getdents: as many whole records as fit in ``count`` bytes, from the offset on."""
    of = k.fds.get_io(fd)
    if not of.handle.is_directory:
        raise KernelError(Errno.ENOTDIR)
    if of.dir_cursor is None or of.pos == 0:
        here = split_path(of.path)
        dot = of.handle.stat().ino
        dotdot = k.ns.lstat(here[:-1]).ino if here else dot
        listing = [(".", dot, 4), ("..", dotdot, 4)]
        listing += [(e.name, e.ino, e.dtype) for e in k.ns.listdir(here, of.handle)]
        of.dir_cursor = listing
    listing = of.dir_cursor
    out = bytearray()
    index = of.pos
    while index < len(listing):
        name, ino, dtype = listing[index]
        record = pack(k, encode_name(name), ino, index + 1, dtype)
        if len(out) + len(record) > count:
            break
        out += record
        index += 1
    if not out and index < len(listing):
        raise KernelError(Errno.EINVAL)
    k.memory.write(dirp, bytes(out))
    of.pos = index
    return len(out)


@syscall("getdents64")
def sys_getdents64(k: "Kernel", req: SyscallRequest, fd: Fd, dirp: Ptr, count: UInt) -> int:
    return read_directory(k, fd, dirp, count, _dirent64)


@syscall("getdents")
def sys_getdents(k: "Kernel", req: SyscallRequest, fd: Fd, dirp: Ptr, count: UInt) -> int:
    return read_directory(k, fd, dirp, count, _dirent)
