"""A host directory as a filesystem of the guest: the one place files of the host are reached.

Both kernel modes mount host directories through this (the current directory, ``--mount``,
``--rootfs``, a policy's grants); every system call on them is the kernel model's, decoded and
checked once, and only the last step, the host operation itself, is made here.

Every access is made beneath the directory's own descriptor, one component at a time and never
following a host symlink (:class:`kernel_model.host.beneath.Beneath`), so nothing done to the
tree meanwhile (a component renamed or swapped for a link) can lead outside it. A walk keeps
the descriptor of each directory it passes in its :class:`~kernel_model.filesystems.Node`, so
the operation at its end starts from the parent's descriptor instead of walking again; where
``openat2`` is available, a path with no link on the way takes a single host call.
"""

from __future__ import annotations

import ctypes
import os
import stat as host_stat
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from kernel_model.abi import O_ACCMODE, O_CLOEXEC, O_CREAT, O_TRUNC
from kernel_model.filesystems import (
    EXT4_SUPER_MAGIC,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    RENAME_WHITEOUT,
    ST_RDONLY,
    ST_VALID,
    Filesystem,
    FsStats,
    Node,
    wants_write,
)
from kernel_model.fsnodes import (
    READABLE,
    WRITABLE,
    DirEntry,
    Handle,
    StatInfo,
    WouldBlock,
    dtype_of,
    host_bytes_available,
    host_call,
    host_poll,
)
from kernel_model.host.beneath import _DIR_FLAGS, Beneath, check_filesystem, chmod_at, filesystem_type, raw_syscall
from kernel_model.host.translate import LINUX_HOST, host_umask, open_flags_to_host
from kernel_model.linux_errno import Errno
from kernel_model.seam import KernelError

if TYPE_CHECKING:
    from kernel_model.waits import HostWaits

Rel = tuple[str, ...]


class SharedHostFd:
    """A host descriptor that stays open while any handle or node holding it exists.

    A debugger's snapshot copies the kernel state, handles included; the copies share this
    object rather than the bare number, so a descriptor the guest closes after a snapshot
    stays open for the snapshot, and closes when the last holder is gone.
    """

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __deepcopy__(self, memo: dict) -> "SharedHostFd":
        return self

    def __del__(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


class HostFileHandle(Handle):
    """A host file descriptor opened for the guest.

    A regular file is read and written at the guest's own offsets (``pread``/``pwrite``). A
    FIFO, a terminal or a device is a stream: the host descriptor is non-blocking, and a
    transfer that would block raises :class:`WouldBlock` with a way to wait for the host
    descriptor, which the kernel's waits can end (a timeout, Ctrl-C).
    """

    # A directory lists in the host's own order, the order getdents64 gives natively.
    ordered = True

    def __init__(self, fd: int, waits: "HostWaits | None" = None, st: os.stat_result | None = None) -> None:
        self._fd = fd
        self._owner: SharedHostFd | None = SharedHostFd(fd)
        st = st or os.fstat(fd)
        kind = st.st_mode
        self.is_directory = host_stat.S_ISDIR(kind)
        self.seekable = not (host_stat.S_ISCHR(kind) or host_stat.S_ISFIFO(kind) or host_stat.S_ISSOCK(kind))
        self.is_tty = host_stat.S_ISCHR(kind) and os.isatty(fd)
        self._waits = waits

    def __deepcopy__(self, memo: dict) -> "HostFileHandle":
        # The host's file, not the guest's state: a snapshot shares the descriptor.
        twin = HostFileHandle.__new__(HostFileHandle)
        twin.__dict__.update(self.__dict__)
        return twin

    def pread(self, size: int, offset: int) -> bytes:
        if self.is_directory:
            raise KernelError(Errno.EISDIR)
        if self.seekable:
            return host_call(os.pread, self._fd, size, offset)
        try:
            return os.read(self._fd, min(size, 1 << 20))
        except BlockingIOError:
            raise WouldBlock("a read of a host stream", host={self._fd: READABLE}) from None
        except OSError as e:
            raise KernelError(_errno(e), str(e)) from None

    def pwrite(self, data: bytes, offset: int) -> int:
        if self.seekable:
            return host_call(os.pwrite, self._fd, data, offset)
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            raise WouldBlock("a write to a host stream", host={self._fd: WRITABLE}) from None
        except OSError as e:
            raise KernelError(_errno(e), str(e)) from None

    def stat(self) -> StatInfo:
        return StatInfo.from_host(host_call(os.fstat, self._fd))

    def truncate(self, length: int) -> None:
        host_call(os.ftruncate, self._fd, length)

    def listdir(self) -> list[DirEntry]:
        """The entries in the host's own order (the order getdents64 gives natively)."""
        if not self.is_directory:
            raise KernelError(Errno.ENOTDIR)
        out = []
        with host_call(os.scandir, self._fd) as it:
            for e in it:
                try:
                    mode = StatInfo.from_host(e.stat(follow_symlinks=False)).mode
                except OSError:
                    continue  # gone since the listing was read
                out.append(DirEntry(e.name, e.inode(), dtype_of(mode)))
        return out

    def sync(self) -> None:
        host_call(os.fsync, self._fd)

    def seek_data(self, offset: int, data: bool) -> int:
        """Where the next data (``data``) or hole at or after ``offset`` is, as the host knows it."""
        whence = getattr(os, "SEEK_DATA" if data else "SEEK_HOLE", None)
        if whence is None:
            return offset if data else self.stat().size
        return host_call(os.lseek, self._fd, offset, whence)

    def poll(self) -> int:
        if self.seekable:
            return READABLE | WRITABLE
        return host_poll({self._fd: READABLE | WRITABLE}, 0).get(self._fd, 0)

    def wait_fd(self) -> int | None:
        return None if self.seekable else self._fd

    def bytes_available(self) -> int | None:
        return None if self.seekable else host_bytes_available(self._fd)

    def lock(self, command: str, lock_type: str, whence: int, start: int, length: int) -> tuple[str, int, int, int, int] | None:
        """A record lock on the host file (F_GETLK/F_SETLK/F_SETLKW, OFD forms too).

        ``command`` and ``lock_type`` are the names (``"F_SETLK"``, ``"F_WRLCK"``); returns,
        for a GETLK, the conflicting lock as (type, whence, start, length, pid), else None.
        None is also the answer when the host cannot take locks (no fcntl, a 32-bit host).
        """
        return host_lock(self._fd, command, lock_type, whence, start, length)

    def close(self) -> None:
        # Dropping the last reference closes the host descriptor (see SharedHostFd).
        self._fd = -1
        self._owner = None

    def host_fd(self) -> int | None:
        return self._fd


def _errno(e: OSError) -> Errno:
    from kernel_model.fsnodes import host_errno

    return host_errno(e)


# struct flock on a 64-bit Linux host: l_type, l_whence, l_start, l_len, l_pid.
_HOST_FLOCK = "hh4xqqi4x"


def host_lock(fd: int, command: str, lock_type: str, whence: int, start: int, length: int) -> tuple[str, int, int, int, int] | None:
    """fcntl record locks on a host descriptor; see :meth:`HostFileHandle.lock`."""
    import struct

    try:
        import fcntl
    except ImportError:  # pragma: no cover - no fcntl on this host
        return None
    if not LINUX_HOST or struct.calcsize("P") != 8:
        return None  # other layouts (macOS, a 32-bit host's flock64) are not translated
    host_cmd = getattr(fcntl, command, None)
    if host_cmd is None:
        return None
    layout = struct.Struct("=" + _HOST_FLOCK)
    packed = layout.pack(getattr(fcntl, lock_type), whence, start, length, 0)
    result = host_call(fcntl.fcntl, fd, host_cmd, packed)
    if command not in ("F_GETLK", "F_OFD_GETLK"):
        return None
    got_type, got_whence, got_start, got_len, got_pid = layout.unpack(result)
    names = {getattr(fcntl, n): n for n in ("F_RDLCK", "F_WRLCK", "F_UNLCK")}
    return names.get(got_type, "F_UNLCK"), got_whence, got_start, got_len, got_pid


class HostDirectory(Filesystem):
    """A host directory shown to the guest, read-only unless ``writable``.

    ``waits`` is how the kernel ends a wait on a host stream opened here (a FIFO).
    """

    def __init__(self, root: str, writable: bool = False, *, waits: "HostWaits | None" = None) -> None:
        self.root_path = os.path.realpath(root)
        if not os.path.isdir(self.root_path):
            raise ValueError(f"{root}: not a directory")
        self.read_only = not writable
        try:
            self.beneath = Beneath(self.root_path)
        except KernelError as e:
            raise ValueError(f"{root}: {e.detail or e.errno.message}") from None
        self.dev = self.beneath.dev
        self.waits = waits

    @property
    def root_dir(self) -> str:
        """The host directory shown (resolved)."""
        return self.root_path

    def reopen(self) -> None:
        """Hold the directory by a new descriptor (after this process's mounts changed, say).

        ValueError if the path no longer leads to the same directory.
        """
        fresh = Beneath(self.root_path)
        old = os.fstat(self.beneath.fd)
        new = os.fstat(fresh.fd)
        if (old.st_ino, old.st_dev) != (new.st_ino, new.st_dev):
            fresh.close()
            raise ValueError(f"{self.root_path}: no longer the directory that was granted")
        self.beneath.close()
        self.beneath = fresh

    def close(self) -> None:
        self.beneath.close()

    def __deepcopy__(self, memo: dict) -> "HostDirectory":
        # Nothing in it is the guest's state (the files are the host's): copies share it.
        return self

    def _check_writable(self) -> None:
        if self.read_only:
            raise KernelError(Errno.EROFS)

    def statfs(self) -> FsStats:
        st = host_call(os.statvfs, self.beneath.fd)
        return FsStats(
            filesystem_type(self.beneath.fd) or EXT4_SUPER_MAGIC, bsize=st.f_bsize, blocks=st.f_blocks,
            bfree=st.f_bfree, bavail=st.f_bavail, files=st.f_files, ffree=st.f_ffree, namelen=st.f_namemax,
            flags=ST_VALID | (ST_RDONLY if self.read_only else 0),
            fsid=(st.f_fsid & 0xFFFFFFFF, st.f_fsid >> 32 & 0xFFFFFFFF),
        )

    # -- the walk ----------------------------------------------------------------------------

    def root(self) -> Node:
        return Node(self, (), StatInfo.from_host(host_call(os.fstat, self.beneath.fd)), SharedDirFd.held(self))

    def _directory_fd(self, node: Node) -> int:
        """The host descriptor of the directory ``node``, opened from its parent's the first time."""
        ref = node.ref
        if isinstance(ref, (SharedHostFd, SharedDirFd)):
            return ref.fd
        if not node.rel:
            return self.beneath.fd
        if node.up is not None and node.up.fs is self:
            parent_fd = self._directory_fd(node.up)
            fd = host_call(os.open, node.rel[-1], _DIR_FLAGS, dir_fd=parent_fd)
        else:
            fd = self.beneath._open_directory(node.rel)
        holder = SharedHostFd(fd)
        st = os.fstat(fd)
        if (st.st_ino, StatInfo.from_host(st).dev) != (node.stat.ino, node.stat.dev):
            raise KernelError(Errno.ENOENT, "the directory changed during the walk")
        if st.st_dev != self.beneath.dev:
            check_filesystem(fd)  # a mount inside the directory: never the host's /proc
        node.ref = holder
        return fd

    def lookup(self, parent: Node, name: str) -> Node:
        fd = self._directory_fd(parent)
        st = host_call(os.stat, name, dir_fd=fd, follow_symlinks=False)
        return Node(self, parent.rel + (name,), StatInfo.from_host(st), up=parent)

    def walk(self, rel: Rel) -> Node | None:
        if not rel:
            return self.root()
        fd = self.beneath.fast_directory(rel)
        if fd is None:
            return None
        holder = SharedHostFd(fd)
        return Node(self, rel, StatInfo.from_host(host_call(os.fstat, fd)), holder)

    @contextmanager
    def _parent(self, rel: Rel, at: Node | None) -> Iterator[tuple[int, str]]:
        """``(directory descriptor, last name)``: from the walk's parent node when it is there."""
        if rel and at is not None and at.fs is self and at.rel == rel[:-1]:
            yield self._directory_fd(at), rel[-1]
            return
        with self.beneath.parent(rel) as pair:
            yield pair

    def _at(self, rel: Rel, at: Node | None, call, *args, **kw):  # type: ignore[no-untyped-def]
        with self._parent(rel, at) as (fd, name):
            return host_call(call, name, *args, dir_fd=fd, **kw)

    # -- the operations --------------------------------------------------------------------

    def lstat(self, rel: Rel) -> StatInfo:
        with self.beneath.parent(rel) as (fd, name):
            return StatInfo.from_host(host_call(os.stat, name, dir_fd=fd, follow_symlinks=False))

    def readlink(self, rel: Rel, at: Node | None = None) -> bytes:
        return os.fsencode(self._at(rel, at, os.readlink))

    def open(self, rel: Rel, flags: int, mode: int, exists: bool, at: Node | None = None) -> Handle:
        if (wants_write(flags) or flags & O_TRUNC or (flags & O_CREAT and not exists)) and self.read_only:
            raise KernelError(Errno.EROFS)
        host_flags = open_flags_to_host(flags & ~O_CLOEXEC)
        if exists:
            host_flags &= ~os.O_CREAT
        # O_NONBLOCK always: opening a FIFO must not hang the sandbox, and a stream's waits are
        # the kernel's (which a timeout can end), not the host call's.
        host_flags |= os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        with self._parent(rel, at) as (dir_fd, name):
            if host_flags & os.O_CREAT:
                with host_umask(0):  # the mode is final: the guest's umask is applied already
                    fd = host_call(os.open, name, host_flags, mode & 0o7777, dir_fd=dir_fd)
            else:
                fd = host_call(os.open, name, host_flags, dir_fd=dir_fd)
        try:
            st = os.fstat(fd)
            if st.st_dev != self.dev and host_stat.S_ISDIR(st.st_mode):
                check_filesystem(fd)
            handle = HostFileHandle(fd, self.waits, st)
        except BaseException:
            os.close(fd)
            raise
        if handle.is_directory and flags & O_ACCMODE:
            handle.close()
            raise KernelError(Errno.EISDIR)
        return handle

    def mkdir(self, rel: Rel, mode: int, at: Node | None = None) -> None:
        self._check_writable()
        with host_umask(0):
            self._at(rel, at, os.mkdir, mode & 0o7777)

    def rmdir(self, rel: Rel, at: Node | None = None) -> None:
        self._check_writable()
        self._at(rel, at, os.rmdir)

    def unlink(self, rel: Rel, at: Node | None = None) -> None:
        self._check_writable()
        self._at(rel, at, os.unlink)

    def rename(self, old: Rel, new: Rel, flags: int = 0, at_old: Node | None = None, at_new: Node | None = None) -> None:
        self._check_writable()
        with self._parent(old, at_old) as (old_fd, old_name), self._parent(new, at_new) as (new_fd, new_name):
            if not flags:
                host_call(os.rename, old_name, new_name, src_dir_fd=old_fd, dst_dir_fd=new_fd)
            elif LINUX_HOST and not flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT):
                host_call(raw_syscall, "renameat2", ctypes.c_int(old_fd), os.fsencode(old_name),
                          ctypes.c_int(new_fd), os.fsencode(new_name), ctypes.c_uint(flags))
            else:
                raise KernelError(Errno.EINVAL, "the host has no renameat2")

    def symlink(self, target: bytes, rel: Rel, at: Node | None = None) -> None:
        self._check_writable()
        with self._parent(rel, at) as (fd, name):
            host_call(os.symlink, os.fsdecode(target), name, dir_fd=fd)

    def link(self, old: Rel, new: Rel, at_old: Node | None = None, at_new: Node | None = None) -> None:
        self._check_writable()
        with self._parent(old, at_old) as (old_fd, old_name), self._parent(new, at_new) as (new_fd, new_name):
            host_call(os.link, old_name, new_name, src_dir_fd=old_fd, dst_dir_fd=new_fd, follow_symlinks=False)

    def chmod(self, rel: Rel, mode: int, at: Node | None = None) -> None:
        self._check_writable()
        with self._parent(rel, at) as (fd, name):
            chmod_at(fd, name, mode & 0o7777)

    def chown(self, rel: Rel, uid: int, gid: int, at: Node | None = None) -> None:
        self._check_writable()
        self._at(rel, at, os.chown, uid, gid, follow_symlinks=False)

    def truncate(self, rel: Rel, length: int, at: Node | None = None) -> None:
        self._check_writable()
        with self._parent(rel, at) as (dir_fd, name):
            fd = host_call(os.open, name, os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                           dir_fd=dir_fd)
        try:
            host_call(os.ftruncate, fd, length)
        finally:
            os.close(fd)

    def utimens(self, rel: Rel, atime_ns: int | None, mtime_ns: int | None, at: Node | None = None) -> None:
        self._check_writable()
        with self._parent(rel, at) as (fd, name):
            st = host_call(os.stat, name, dir_fd=fd, follow_symlinks=False)
            times = (st.st_atime_ns if atime_ns is None else atime_ns, st.st_mtime_ns if mtime_ns is None else mtime_ns)
            host_call(os.utime, name, ns=times, dir_fd=fd, follow_symlinks=False)


class SharedDirFd:
    """A node's reference to the directory descriptor its filesystem holds for good (the root)."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @staticmethod
    def held(fs: HostDirectory) -> "SharedDirFd":
        """The root descriptor of ``fs``, not to be closed with the node."""
        return SharedDirFd(fs.beneath.fd)
