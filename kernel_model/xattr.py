"""Extended attributes: ``getxattr``, ``listxattr``, ``setxattr`` and ``removexattr``, each on a
path, on a path without following a last symlink (``l...``) and on a descriptor (``f...``).

The model keeps no extended attributes, and shows none of a host file's (they would tell the
guest about the host: SELinux labels, capabilities, whatever a host tool left there). Every
file has none: ``getxattr`` answers ``ENODATA``, ``listxattr`` an empty list, ``removexattr``
``ENODATA``, and ``setxattr`` ``EOPNOTSUPP``, as a filesystem without extended attributes does.

Linux's order of checks is kept. ``setxattr`` copies its flags, name and value before it looks
the path up (``EINVAL``, ``ERANGE``, ``E2BIG``, ``EFAULT``); the others look the path up first
(``ENOENT``, ``ENOTDIR``, ``ELOOP``, ``EFAULT``...), then read the name. A change on a read-only
mount is ``EROFS``. Then ``xattr_permission``: ``trusted.`` needs privilege (``ENODATA`` for a
read, ``EPERM`` for a change without it), ``user.`` exists only on regular files and
directories, and outside ``security.`` and ``system.`` the file's permission bits apply
(``EACCES``). A name in no namespace Linux knows is ``EOPNOTSUPP``, and so is any name on a
pipe or a socket (their filesystems have no handlers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_model.abi import AT_FDCWD
from kernel_model.fsnodes import StatInfo, s_isdir, s_isreg
from kernel_model.linux_errno import Errno
from kernel_model.paths import read_path, resolve_at
from kernel_model.registry import Fd, Int, Path, Ptr, Size, syscall
from kernel_model.seam import KernelError, SyscallRequest
from kernel_model.vfs import R_OK, W_OK, Location, split_path

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_CREATE, XATTR_REPLACE = 1, 2
S_ISVTX = 0o1000
# The namespaces a filesystem of the model would have handlers for (tmpfs's and ext4's);
# of system., only the POSIX ACLs.
_NAMESPACES = (b"security.", b"trusted.", b"user.")
_SYSTEM_NAMES = (b"system.posix_acl_access", b"system.posix_acl_default")
_NOTE = "the model keeps no extended attributes and shows no host file's: every file has none"


def _name(k: "Kernel", ptr: int) -> bytes:
    """The attribute's name: ERANGE when empty or longer than XATTR_NAME_MAX, EFAULT when unreadable."""
    raw = k.memory.read_cstr(ptr, XATTR_NAME_MAX + 1)
    if not raw or len(raw) > XATTR_NAME_MAX:
        raise KernelError(Errno.ERANGE)
    return raw


def _path(k: "Kernel", pathname: int, follow: bool) -> Location:
    raw = read_path(k, pathname)
    if not raw:
        raise KernelError(Errno.ENOENT)
    return resolve_at(k, AT_FDCWD, raw, follow=follow)


def _fd(k: "Kernel", fd: int) -> Location | StatInfo:
    """The file open at ``fd`` (not an O_PATH one: EBADF): its location, or just its metadata
    for a pipe or a socket, which live on no filesystem of the guest's tree."""
    of = k.fds.get_io(fd)
    st = of.handle.stat()
    if not of.path.startswith("/"):
        return st
    return Location(split_path(of.path), st)


def _permission(k: "Kernel", st: StatInfo, name: bytes, write: bool) -> None:
    """Linux's xattr_permission for ``name`` on a file with metadata ``st``."""
    if name.startswith((b"security.", b"system.")):
        return
    creds = k.ns.creds
    if name.startswith(b"trusted."):
        if creds.uid != 0:
            raise KernelError(Errno.EPERM if write else Errno.ENODATA)
        return
    if name.startswith(b"user."):
        if not (s_isreg(st.mode) or s_isdir(st.mode)):
            raise KernelError(Errno.EPERM if write else Errno.ENODATA)
        if write and s_isdir(st.mode) and st.mode & S_ISVTX and creds.uid not in (0, st.uid):
            raise KernelError(Errno.EPERM)
    if not creds.permits(st, W_OK if write else R_OK):
        raise KernelError(Errno.EACCES)


def _known(name: bytes) -> bool:
    """Whether a filesystem of the model would have a handler for ``name``."""
    return name.startswith(_NAMESPACES) or name in _SYSTEM_NAMES


def _stat(target: Location | StatInfo) -> StatInfo:
    if isinstance(target, Location):
        assert target.stat is not None
        return target.stat
    return target


def _get(k: "Kernel", target: Location | StatInfo, name: bytes) -> int:
    _permission(k, _stat(target), name, write=False)
    if not isinstance(target, Location) or not _known(name):
        raise KernelError(Errno.EOPNOTSUPP)
    raise KernelError(Errno.ENODATA)


def _change(k: "Kernel", target: Location | StatInfo, name: bytes, remove: bool) -> int:
    if isinstance(target, Location):
        k.ns.filesystem_for_change(target)  # EROFS on a read-only mount
    _permission(k, _stat(target), name, write=True)
    if remove and isinstance(target, Location) and _known(name):
        raise KernelError(Errno.ENODATA)
    raise KernelError(Errno.EOPNOTSUPP)


def _copy_set(k: "Kernel", name: int, value: int, size: int, flags: int) -> bytes:
    """What setxattr reads before it looks at the file: the flags, the name and the value."""
    if flags & ~(XATTR_CREATE | XATTR_REPLACE):
        raise KernelError(Errno.EINVAL)
    raw = _name(k, name)
    if size:
        if size > XATTR_SIZE_MAX:
            raise KernelError(Errno.E2BIG)
        k.memory.read(value, size)  # EFAULT when unreadable
    return raw


# -- get -----------------------------------------------------------------------------------


@syscall("getxattr", partial=_NOTE)
def sys_getxattr(k: "Kernel", req: SyscallRequest, path: Path, name: Ptr, value: Ptr, size: Size) -> int:
    loc = _path(k, path, follow=True)
    return _get(k, loc, _name(k, name))


@syscall("lgetxattr", partial=_NOTE)
def sys_lgetxattr(k: "Kernel", req: SyscallRequest, path: Path, name: Ptr, value: Ptr, size: Size) -> int:
    loc = _path(k, path, follow=False)
    return _get(k, loc, _name(k, name))


@syscall("fgetxattr", partial=_NOTE)
def sys_fgetxattr(k: "Kernel", req: SyscallRequest, fd: Fd, name: Ptr, value: Ptr, size: Size) -> int:
    target = _fd(k, fd)
    return _get(k, target, _name(k, name))


# -- list ----------------------------------------------------------------------------------


@syscall("listxattr", partial=_NOTE)
def sys_listxattr(k: "Kernel", req: SyscallRequest, path: Path, list: Ptr, size: Size) -> int:
    _path(k, path, follow=True)
    return 0


@syscall("llistxattr", partial=_NOTE)
def sys_llistxattr(k: "Kernel", req: SyscallRequest, path: Path, list: Ptr, size: Size) -> int:
    _path(k, path, follow=False)
    return 0


@syscall("flistxattr", partial=_NOTE)
def sys_flistxattr(k: "Kernel", req: SyscallRequest, fd: Fd, list: Ptr, size: Size) -> int:
    _fd(k, fd)
    return 0


# -- set -----------------------------------------------------------------------------------


@syscall("setxattr", partial=_NOTE)
def sys_setxattr(
    k: "Kernel", req: SyscallRequest, path: Path, name: Ptr, value: Ptr, size: Size, flags: Int
) -> int:
    raw = _copy_set(k, name, value, size, flags)
    return _change(k, _path(k, path, follow=True), raw, remove=False)


@syscall("lsetxattr", partial=_NOTE)
def sys_lsetxattr(
    k: "Kernel", req: SyscallRequest, path: Path, name: Ptr, value: Ptr, size: Size, flags: Int
) -> int:
    raw = _copy_set(k, name, value, size, flags)
    return _change(k, _path(k, path, follow=False), raw, remove=False)


@syscall("fsetxattr", partial=_NOTE)
def sys_fsetxattr(k: "Kernel", req: SyscallRequest, fd: Fd, name: Ptr, value: Ptr, size: Size, flags: Int) -> int:
    target = _fd(k, fd)
    return _change(k, target, _copy_set(k, name, value, size, flags), remove=False)


# -- remove --------------------------------------------------------------------------------


@syscall("removexattr", partial=_NOTE)
def sys_removexattr(k: "Kernel", req: SyscallRequest, path: Path, name: Ptr) -> int:
    loc = _path(k, path, follow=True)
    k.ns.filesystem_for_change(loc)  # EROFS before the name is read
    return _change(k, loc, _name(k, name), remove=True)


@syscall("lremovexattr", partial=_NOTE)
def sys_lremovexattr(k: "Kernel", req: SyscallRequest, path: Path, name: Ptr) -> int:
    loc = _path(k, path, follow=False)
    k.ns.filesystem_for_change(loc)
    return _change(k, loc, _name(k, name), remove=True)


@syscall("fremovexattr", partial=_NOTE)
def sys_fremovexattr(k: "Kernel", req: SyscallRequest, fd: Fd, name: Ptr) -> int:
    target = _fd(k, fd)
    return _change(k, target, _name(k, name), remove=True)  # the name before EROFS, as Linux
