"""Reaching host files strictly beneath a directory, whatever happens to the tree meanwhile.

A :class:`Beneath` holds one host directory open (a grant, a mount) and reaches every path
under it from that descriptor, never by a path string the host would resolve from ``/``. No
component is ever followed as a symbolic link by the host: the guest's view of a link (where
``..`` stops and where an absolute target starts again) is worked out by the kernel model one
name at a time, and each host call then names one component relative to a directory
descriptor, with ``O_NOFOLLOW``/``AT_SYMLINK_NOFOLLOW``.

Intermediate directories are opened with ``openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`` where the host has it (Linux 5.6 and later, through
``ctypes``), and otherwise by an equivalent walk: one ``openat(O_PATH | O_DIRECTORY |
O_NOFOLLOW)`` per component from the held descriptor. Either way a component swapped for a
symlink by a concurrent rename makes the call fail (``ELOOP``/``ENOTDIR``) instead of leading
out, and ``..`` never reaches the host at all. Crossing into another host mount inside the
directory is checked: a host ``/proc`` there (the sandbox's own process) is refused.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat as host_stat
import struct
import sys
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

from kernel_model.fsnodes import host_call, host_errno
from kernel_model.linux_errno import Errno
from kernel_model.seam import KernelError

Rel = tuple[str, ...]

# A descriptor that names a place without opening it for reading (Linux's O_PATH). Hosts
# without it use O_RDONLY, which also needs read permission on the directories walked.
O_PATH_OR_RDONLY = getattr(os, "O_PATH", 0) or os.O_RDONLY
_DIR_FLAGS = O_PATH_OR_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

# openat2(2)'s resolve flags (Linux's uapi/linux/openat2.h).
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
_RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV

PROC_SUPER_MAGIC = 0x9FA0
# Filesystems a grant never reaches into, even when one is mounted inside it: a host procfs is
# the sandbox's own process (/proc/self/mem, /proc/self/fd/N of the host).
_REFUSED_FILESYSTEMS = {PROC_SUPER_MAGIC: "the host's /proc"}

# The names the system-calls package gives each host machine's table.
_HOST_TABLES = {
    "x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64", "riscv64": "riscv64",
    "i386": "i386", "i686": "i386", "armv7l": "arm", "armv6l": "arm",
}


@lru_cache(maxsize=None)
def host_syscall_number(name: str) -> int | None:
    """The host's number for the Linux system call ``name`` (None off Linux or when unknown)."""
    if not sys.platform.startswith("linux"):
        return None
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64") and struct.calcsize("P") == 4:
        machine = "i386"
    table = _HOST_TABLES.get(machine)
    if table is None:
        return None
    try:
        import system_calls

        return dict(system_calls.syscalls().load_arch_table(table)).get(name)
    except Exception:  # noqa: BLE001 - no table for this host: the callers fall back
        return None


@lru_cache(maxsize=None)
def _libc() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.syscall.restype = ctypes.c_long
        return lib
    except (OSError, AttributeError):
        return None


def raw_syscall(name: str, *args: object) -> int:
    """Make one host Linux system call through libc's ``syscall()``; OSError on failure.

    Raises ``OSError(ENOSYS)`` when the host has no such call (or is not Linux).
    """
    nr = host_syscall_number(name)
    lib = _libc()
    if nr is None or lib is None:
        raise OSError(errno.ENOSYS, f"{name}: not a system call of this host")
    ret = lib.syscall(ctypes.c_long(nr), *args)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class Openat2:
    """Whether to use openat2: tried once, then given up for good if the host refuses it."""

    available = host_syscall_number("openat2") is not None


def _openat2_directory(dirfd: int, path: str, *, quiet: bool = False) -> int | None:
    """Open a directory below ``dirfd`` with openat2; None when openat2 cannot answer here.

    None means: the host has no openat2 (or a seccomp filter refuses it), the path crosses a
    mount (RESOLVE_NO_XDEV), or a rename raced the resolution: the walk then decides. With
    ``quiet`` every failure is None (a fast path that the component walk backs up).
    """
    if not Openat2.available:
        return None
    how = _OpenHow(_DIR_FLAGS, 0, _RESOLVE)
    try:
        return raw_syscall("openat2", ctypes.c_int(dirfd), os.fsencode(path), ctypes.byref(how),
                           ctypes.c_size_t(ctypes.sizeof(how)))
    except OSError as e:
        if e.errno in (errno.ENOSYS, errno.EPERM, errno.E2BIG, errno.EINVAL):
            Openat2.available = False
            return None
        if quiet or e.errno in (errno.EXDEV, errno.EAGAIN):
            return None
        raise KernelError(host_errno(e), str(e)) from None


def filesystem_type(fd: int) -> int | None:
    """The host statfs ``f_type`` of the filesystem holding ``fd`` (None where unknown)."""
    lib = _libc()
    if lib is None or not sys.platform.startswith("linux"):
        return None
    buf = ctypes.create_string_buffer(256)  # larger than any arch's struct statfs
    if lib.fstatfs(ctypes.c_int(fd), buf) != 0:
        return None
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF  # f_type comes first


def check_filesystem(fd: int) -> None:
    """Refuse a descriptor on a filesystem no grant may reach (EACCES)."""
    refused = _REFUSED_FILESYSTEMS.get(filesystem_type(fd) or 0)
    if refused is not None:
        raise KernelError(Errno.EACCES, f"{refused} is never reachable from a granted directory")


def _check_name(name: str) -> None:
    # The kernel model splits guest paths on "/" and resolves "." and ".." itself; anything
    # else here is a bug, refused rather than passed to the host.
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise KernelError(Errno.EACCES, f"refusing path component {name!r}")


class Beneath:
    """A host directory held open; every path below it is reached from that descriptor."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self.fd = host_call(os.open, self.root, _DIR_FLAGS)
        try:
            self.dev = os.fstat(self.fd).st_dev
            check_filesystem(self.fd)
        except BaseException:
            os.close(self.fd)
            raise

    def close(self) -> None:
        """Release the held descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __deepcopy__(self, memo: dict) -> "Beneath":
        # A copy of the kernel's state (a debugger's snapshot) shares the held directory; a
        # copy of its own would close it when dropped.
        return self

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # -- directories -----------------------------------------------------------------------

    def _open_directory(self, rel: Rel) -> int:
        """A new descriptor for the directory ``rel`` (which must not be empty)."""
        for name in rel:
            _check_name(name)
        fd = _openat2_directory(self.fd, "/".join(rel))
        if fd is not None:
            return fd
        return self._walk(rel)

    def _walk(self, rel: Rel) -> int:
        """The portable resolution: one O_NOFOLLOW|O_DIRECTORY open per component."""
        fd, dev = self.fd, self.dev
        try:
            for name in rel:
                child = host_call(os.open, name, _DIR_FLAGS, dir_fd=fd)
                if fd != self.fd:
                    os.close(fd)
                fd = child
                child_dev = os.fstat(fd).st_dev
                if child_dev != dev:  # a mount point inside the directory
                    check_filesystem(fd)
                    dev = child_dev
        except BaseException:
            if fd != self.fd:
                os.close(fd)
            raise
        return fd

    @contextmanager
    def directory(self, rel: Rel) -> Iterator[int]:
        """A descriptor of the directory ``rel`` (the held one for ``()``), closed afterwards."""
        if not rel:
            yield self.fd
            return
        fd = self._open_directory(rel)
        try:
            yield fd
        finally:
            os.close(fd)

    @contextmanager
    def parent(self, rel: Rel) -> Iterator[tuple[int, str]]:
        """``(directory descriptor, last name)`` for a call taking ``dir_fd``.

        For ``()`` (the directory itself) the name is ``"."``. The caller must not let the
        host follow a symlink at the last name (``follow_symlinks=False``, ``O_NOFOLLOW``).
        """
        if not rel:
            yield self.fd, "."
            return
        _check_name(rel[-1])
        with self.directory(rel[:-1]) as fd:
            yield fd, rel[-1]

    def fast_directory(self, rel: Rel) -> int | None:
        """A new descriptor of the directory ``rel`` in one host call, or None.

        None whenever one ``openat2`` cannot say it alone: no openat2, a symlink or a mount
        on the way, a component missing or not a directory. The caller then walks one
        component at a time, which gives the exact answer (and the guest's view of a link).
        """
        for name in rel:
            _check_name(name)
        return _openat2_directory(self.fd, "/".join(rel), quiet=True)

    # -- files -----------------------------------------------------------------------------

    def open(self, rel: Rel, flags: int, mode: int = 0o666) -> int:
        """Open ``rel`` with host ``flags``; the last component is never followed either."""
        flags |= os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        with self.parent(rel) as (fd, name):
            opened = host_call(os.open, name, flags, mode, dir_fd=fd)
        try:
            st = os.fstat(opened)
            if st.st_dev != self.dev and host_stat.S_ISDIR(st.st_mode):
                check_filesystem(opened)
        except BaseException:
            os.close(opened)
            raise
        return opened

    def chmod(self, rel: Rel, mode: int) -> None:
        """Change the mode bits of ``rel`` without following a symlink there (EOPNOTSUPP on one)."""
        with self.parent(rel) as (fd, name):
            chmod_at(fd, name, mode)


def chmod_at(fd: int, name: str, mode: int) -> None:
    """Change the mode bits of ``name`` in the directory ``fd``, never following a symlink there."""
    if os.chmod in os.supports_follow_symlinks:  # lchmod exists (BSD, macOS)
        host_call(os.chmod, name, mode, dir_fd=fd, follow_symlinks=False)
        return
    try:  # fchmodat2 (Linux 6.6) takes AT_SYMLINK_NOFOLLOW and refuses a symlink itself
        raw_syscall("fchmodat2", ctypes.c_int(fd), os.fsencode(name), ctypes.c_uint(mode), ctypes.c_uint(0x100))
        return
    except OSError as e:
        if e.errno != errno.ENOSYS:
            raise KernelError(host_errno(e)) from None
    # Older Linux: pin the object with O_PATH, then change it through its descriptor.
    pinned = host_call(os.open, name, O_PATH_OR_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), dir_fd=fd)
    try:
        if host_stat.S_ISLNK(os.fstat(pinned).st_mode):
            raise KernelError(Errno.EOPNOTSUPP)
        try:
            os.fchmod(pinned, mode)
        except OSError:
            host_call(os.chmod, f"/proc/self/fd/{pinned}", mode)
    finally:
        os.close(pinned)
