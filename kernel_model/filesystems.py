"""The filesystems a guest path can land on, and the model's own: an in-memory tree and /dev.

Each works on paths relative to its own root, as tuples of names, and never follows a
symbolic link itself: the namespace (:mod:`kernel_model.vfs`) resolves links one component at
a time in the guest's view, so a link can never lead outside what is mounted. A host directory
(:mod:`kernel_model.host.tree`) is one more filesystem under the same interface.

A path walk carries what it reached as a :class:`Node`, as the kernel's namei carries a
dentry: ``lookup(parent, name)`` goes one step from a node, and the operation at the end of a
walk gets the parent node (``at=``) so that a filesystem that keeps something per node (a host
directory's descriptor) need not walk again.
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass
from typing import Callable

from kernel_model.abi import O_ACCMODE, O_CREAT, O_RDWR, O_TRUNC, O_WRONLY
from kernel_model.fsnodes import (
    S_IFCHR,
    S_IFDIR,
    S_IFLNK,
    S_IFREG,
    BytesHandle,
    DirEntry,
    Handle,
    StatInfo,
    dtype_of,
    makedev,
    now_ns,
    s_isdir,
)
from kernel_model.linux_errno import Errno
from kernel_model.seam import KernelError

Rel = tuple[str, ...]

# renameat2's flags (Linux's uapi/linux/fs.h).
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4


def wants_write(flags: int) -> bool:
    """Whether open flags ask for write access."""
    return flags & O_ACCMODE in (O_WRONLY, O_RDWR)


# f_type values of statfs(2), from the kernel's magic.h.
TMPFS_MAGIC = 0x01021994
RAMFS_MAGIC = 0x858458F6
PROC_SUPER_MAGIC = 0x9FA0
PIPEFS_MAGIC = 0x50495045
EXT4_SUPER_MAGIC = 0xEF53
ST_RDONLY, ST_NOSUID, ST_NODEV, ST_NOEXEC, ST_VALID = 0x1, 0x2, 0x4, 0x8, 0x20


@dataclass(frozen=True)
class FsStats:
    """What statfs(2) says about a filesystem."""

    magic: int
    bsize: int = 4096
    blocks: int = 0
    bfree: int = 0
    bavail: int = 0
    files: int = 0
    ffree: int = 0
    namelen: int = 255
    flags: int = 0
    fsid: tuple[int, int] = (0, 0)


class Node:
    """One place a path walk reached: its filesystem, the path inside it, and its metadata.

    ``ref`` is the filesystem's own (a host directory's descriptor, opened when the walk goes
    below it); ``up`` is the node the walk came from, when it has one. A node lives for one
    system call: it is a way to the object, not a name that stays true. ``fs`` is None for a
    directory of the namespace's own (the way to a mount point).
    """

    __slots__ = ("fs", "rel", "stat", "ref", "up")

    def __init__(self, fs: "Filesystem", rel: Rel, stat: StatInfo, ref: object = None, up: "Node | None" = None) -> None:
        self.fs = fs
        self.rel = rel
        self.stat = stat
        self.ref = ref
        self.up = up

    def __repr__(self) -> str:
        return f"Node({type(self.fs).__name__}, {'/'.join(self.rel) or '.'})"


class Filesystem:
    """Base class: a read-only filesystem that supports nothing but look-ups.

    Every operation takes the path inside the filesystem; ``at`` is the node of the parent
    directory when the caller's walk has it (a filesystem may ignore it).
    """

    read_only = True
    dev = 0

    def statfs(self) -> FsStats:
        """Sizes and type for statfs(2) (an empty read-only ramfs unless overridden)."""
        return FsStats(RAMFS_MAGIC, flags=ST_VALID | ST_RDONLY)

    # -- the walk ----------------------------------------------------------------------------

    def root(self) -> Node:
        """The node of the filesystem's own root."""
        return Node(self, (), self.lstat(()))

    def lookup(self, parent: Node, name: str) -> Node:
        """One step of a walk: the node of ``name`` in the directory ``parent`` (ENOENT)."""
        rel = parent.rel + (name,)
        return Node(self, rel, self.lstat(rel), up=parent)

    def walk(self, rel: Rel) -> Node | None:
        """The node of the directory ``rel`` in one step, or None when that cannot be done.

        Only for a path with no symlink on the way (the guest's view of a link is the
        namespace's to work out): a filesystem that can walk a whole path at once, and say
        when it met a link, answers; None sends the caller one component at a time.
        """
        return None

    def magic_link(self, rel: Rel) -> StatInfo | None:
        """For a /proc-style magic link: the metadata of the object it leads to (else None)."""
        return None

    def open_magic(self, rel: Rel, flags: int) -> Handle:
        """Open the object a magic link leads to."""
        raise KernelError(Errno.ENOENT)

    def lstat(self, rel: Rel) -> StatInfo:
        """Metadata of ``rel`` without following a final symlink; ENOENT when absent."""
        raise NotImplementedError

    def readlink(self, rel: Rel, at: Node | None = None) -> bytes:
        """The target of the symlink ``rel``."""
        raise KernelError(Errno.EINVAL)

    def open(self, rel: Rel, flags: int, mode: int, exists: bool, at: Node | None = None) -> Handle:
        """Open (and with ``O_CREAT`` create) ``rel``; ``exists`` says whether it was found.

        ``mode`` is final (the guest's umask is already applied).
        """
        raise NotImplementedError

    def mkdir(self, rel: Rel, mode: int, at: Node | None = None) -> None:
        """Create a directory."""
        raise KernelError(Errno.EROFS)

    def rmdir(self, rel: Rel, at: Node | None = None) -> None:
        """Remove an empty directory."""
        raise KernelError(Errno.EROFS)

    def unlink(self, rel: Rel, at: Node | None = None) -> None:
        """Remove a non-directory."""
        raise KernelError(Errno.EROFS)

    def rename(self, old: Rel, new: Rel, flags: int = 0, at_old: Node | None = None, at_new: Node | None = None) -> None:
        """Move ``old`` to ``new`` within this filesystem (renameat2's ``flags``)."""
        raise KernelError(Errno.EROFS)

    def symlink(self, target: bytes, rel: Rel, at: Node | None = None) -> None:
        """Create a symlink."""
        raise KernelError(Errno.EROFS)

    def link(self, old: Rel, new: Rel, at_old: Node | None = None, at_new: Node | None = None) -> None:
        """Create a hard link."""
        raise KernelError(Errno.EROFS)

    def chmod(self, rel: Rel, mode: int, at: Node | None = None) -> None:
        """Change permission bits."""
        raise KernelError(Errno.EROFS)

    def chown(self, rel: Rel, uid: int, gid: int, at: Node | None = None) -> None:
        """Change owner and group (-1 leaves one unchanged), not following a symlink."""
        raise KernelError(Errno.EROFS)

    def truncate(self, rel: Rel, length: int, at: Node | None = None) -> None:
        """Set a file's size by path."""
        raise KernelError(Errno.EROFS)

    def utimens(self, rel: Rel, atime_ns: int | None, mtime_ns: int | None, at: Node | None = None) -> None:
        """Set a file's times (None leaves one unchanged)."""
        raise KernelError(Errno.EROFS)

    def close(self) -> None:
        """Release what the filesystem holds on the host (nothing, unless it has host files)."""


# --------------------------------------------------------------------------------------------
# An in-memory tree (the guest's /tmp)

_inode_numbers = itertools.count(1000)


class MemNode:
    """A node of an in-memory filesystem."""

    def __init__(self, mode: int, uid: int, gid: int) -> None:
        self.ino = next(_inode_numbers)
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.nlink = 2 if s_isdir(mode) else 1
        self.atime_ns = self.mtime_ns = self.ctime_ns = now_ns()
        self.data = bytearray()
        self.entries: dict[str, MemNode] = {}
        self.target = b""

    def stat(self, dev: int) -> StatInfo:
        """This node's metadata."""
        size = len(self.data) if not s_isdir(self.mode) else 4096
        if self.mode & 0o170000 == S_IFLNK:
            size = len(self.target)
        return StatInfo(
            mode=self.mode, size=size, ino=self.ino, dev=dev, nlink=self.nlink, uid=self.uid, gid=self.gid,
            blocks=(size + 511) // 512, atime_ns=self.atime_ns, mtime_ns=self.mtime_ns, ctime_ns=self.ctime_ns,
        )

    def touch(self) -> None:
        """Mark the node modified now."""
        self.mtime_ns = self.ctime_ns = now_ns()


class MemorySpace:
    """The bytes a memory filesystem may hold, as tmpfs's ``size=``: what its files take
    counts until they are gone (unlinked and closed), and more is ENOSPC. Files are not
    sparse here, so extending one takes its space."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.used = 0

    def room(self) -> int:
        """Bytes still free."""
        return max(self.size - self.used, 0)

    def track(self, node: MemNode) -> None:
        """Count ``node``'s data until the node goes."""
        weakref.finalize(node, self._release, node.data)

    def _release(self, data: bytearray) -> None:
        self.used -= len(data)


class MemFileHandle(Handle):
    """An open in-memory file or directory."""

    def __init__(self, node: MemNode, dev: int, space: MemorySpace | None = None) -> None:
        self.node = node
        self.dev = dev
        self.is_directory = s_isdir(node.mode)
        self.space = space

    def pread(self, size: int, offset: int) -> bytes:
        if self.is_directory:
            raise KernelError(Errno.EISDIR)
        return bytes(self.node.data[offset : offset + size])

    def pwrite(self, data: bytes, offset: int) -> int:
        buf = self.node.data
        if self.space is not None:
            grow = offset + len(data) - len(buf)
            if grow > self.space.room():
                # what fits is written, as a write that meets a full tmpfs does
                fits = len(buf) + self.space.room() - offset
                if fits <= 0:
                    raise KernelError(Errno.ENOSPC)
                data = data[:fits]
                grow = offset + len(data) - len(buf)
            self.space.used += max(grow, 0)
        if offset > len(buf):
            buf.extend(bytes(offset - len(buf)))
        buf[offset : offset + len(data)] = data
        self.node.touch()
        return len(data)

    def stat(self) -> StatInfo:
        return self.node.stat(self.dev)

    def truncate(self, length: int) -> None:
        buf = self.node.data
        if self.space is not None:
            if length - len(buf) > self.space.room():
                raise KernelError(Errno.ENOSPC)
            self.space.used += length - len(buf)
        if length < len(buf):
            del buf[length:]
        else:
            buf.extend(bytes(length - len(buf)))
        self.node.touch()

    def listdir(self) -> list[DirEntry]:
        if not self.is_directory:
            raise KernelError(Errno.ENOTDIR)
        return [DirEntry(n, c.ino, dtype_of(c.mode)) for n, c in self.node.entries.items()]


class MemoryFilesystem(Filesystem):
    """A writable filesystem held in Python objects, gone when the sandbox ends."""

    read_only = False

    def __init__(
        self, uid: int = 0, gid: int = 0, dev: int = makedev(0, 0x1F), root_mode: int = 0o1777, size: int = 1 << 30
    ) -> None:
        self.dev = dev
        self.uid = uid
        self.gid = gid
        self.top = MemNode(S_IFDIR | root_mode, 0, 0)
        # tmpfs's size limit: half the RAM by default; the kernel passes half its memory limit
        self.space = MemorySpace(size)

    def statfs(self) -> FsStats:
        blocks = self.space.size // 4096
        free = self.space.room() // 4096
        return FsStats(TMPFS_MAGIC, blocks=blocks, bfree=free, bavail=free, files=262144,
                       ffree=262144 - self._count(self.top), flags=ST_VALID | ST_NOSUID | ST_NODEV)

    def _count(self, node: MemNode) -> int:
        # iterative: a guest may nest directories deeper than Python's recursion limit
        count, todo = 0, [node]
        while todo:
            n = todo.pop()
            count += 1
            todo.extend(n.entries.values())
        return count

    def _node(self, rel: Rel) -> MemNode:
        node = self.top
        for name in rel:
            if not s_isdir(node.mode):
                raise KernelError(Errno.ENOTDIR)
            child = node.entries.get(name)
            if child is None:
                raise KernelError(Errno.ENOENT)
            node = child
        return node

    def _parent(self, rel: Rel) -> tuple[MemNode, str]:
        parent = self._node(rel[:-1])
        if not s_isdir(parent.mode):
            raise KernelError(Errno.ENOTDIR)
        return parent, rel[-1]

    def _add(self, rel: Rel, node: MemNode) -> None:
        parent, name = self._parent(rel)
        if name in parent.entries:
            raise KernelError(Errno.EEXIST)
        parent.entries[name] = node
        if s_isdir(node.mode):
            parent.nlink += 1
        parent.touch()

    def lstat(self, rel: Rel) -> StatInfo:
        return self._node(rel).stat(self.dev)

    def readlink(self, rel: Rel, at: Node | None = None) -> bytes:
        node = self._node(rel)
        if node.mode & 0o170000 != S_IFLNK:
            raise KernelError(Errno.EINVAL)
        return node.target

    def open(self, rel: Rel, flags: int, mode: int, exists: bool, at: Node | None = None) -> Handle:
        if not exists:
            node = MemNode(S_IFREG | (mode & 0o7777), self.uid, self.gid)
            self._add(rel, node)
            self.space.track(node)
        else:
            node = self._node(rel)
            if s_isdir(node.mode) and wants_write(flags):
                raise KernelError(Errno.EISDIR)
            if flags & O_TRUNC and not s_isdir(node.mode) and wants_write(flags):
                self.space.used -= len(node.data)
                node.data.clear()
                node.touch()
        return MemFileHandle(node, self.dev, self.space)

    def mkdir(self, rel: Rel, mode: int, at: Node | None = None) -> None:
        self._add(rel, MemNode(S_IFDIR | (mode & 0o7777), self.uid, self.gid))

    def rmdir(self, rel: Rel, at: Node | None = None) -> None:
        if not rel:
            raise KernelError(Errno.EBUSY)
        parent, name = self._parent(rel)
        node = self._node(rel)
        if not s_isdir(node.mode):
            raise KernelError(Errno.ENOTDIR)
        if node.entries:
            raise KernelError(Errno.ENOTEMPTY)
        del parent.entries[name]
        parent.nlink -= 1
        parent.touch()

    def unlink(self, rel: Rel, at: Node | None = None) -> None:
        parent, name = self._parent(rel)
        node = self._node(rel)
        if s_isdir(node.mode):
            raise KernelError(Errno.EISDIR)
        del parent.entries[name]
        node.nlink -= 1
        parent.touch()

    def rename(self, old: Rel, new: Rel, flags: int = 0, at_old: Node | None = None, at_new: Node | None = None) -> None:
        if flags & RENAME_WHITEOUT:
            raise KernelError(Errno.EINVAL)  # tmpfs has it for overlayfs; the guest has no CAP_MKNOD
        if new[: len(old)] == old and len(new) > len(old):
            raise KernelError(Errno.EINVAL)  # a directory into itself
        src_parent, src_name = self._parent(old)
        node = self._node(old)
        dst_parent, dst_name = self._parent(new)
        existing = dst_parent.entries.get(dst_name)
        if flags & RENAME_EXCHANGE:
            if existing is None:
                raise KernelError(Errno.ENOENT)
            if old[: len(new)] == new and len(old) > len(new):
                raise KernelError(Errno.EINVAL)
            src_parent.entries[src_name], dst_parent.entries[dst_name] = existing, node
            if s_isdir(node.mode) != s_isdir(existing.mode) and src_parent is not dst_parent:
                step = 1 if s_isdir(node.mode) else -1
                dst_parent.nlink += step
                src_parent.nlink -= step
            src_parent.touch()
            dst_parent.touch()
            return
        if existing is node:
            return
        if existing is not None:
            if flags & RENAME_NOREPLACE:
                raise KernelError(Errno.EEXIST)
            if s_isdir(node.mode) and not s_isdir(existing.mode):
                raise KernelError(Errno.ENOTDIR)
            if not s_isdir(node.mode) and s_isdir(existing.mode):
                raise KernelError(Errno.EISDIR)
            if s_isdir(existing.mode) and existing.entries:
                raise KernelError(Errno.ENOTEMPTY)
        del src_parent.entries[src_name]
        dst_parent.entries[dst_name] = node
        if s_isdir(node.mode) and src_parent is not dst_parent:
            src_parent.nlink -= 1
            if existing is None:
                dst_parent.nlink += 1
        src_parent.touch()
        dst_parent.touch()

    def symlink(self, target: bytes, rel: Rel, at: Node | None = None) -> None:
        node = MemNode(S_IFLNK | 0o777, self.uid, self.gid)
        node.target = target
        self._add(rel, node)

    def link(self, old: Rel, new: Rel, at_old: Node | None = None, at_new: Node | None = None) -> None:
        node = self._node(old)
        if s_isdir(node.mode):
            raise KernelError(Errno.EPERM)
        self._add(new, node)
        node.nlink += 1

    def chmod(self, rel: Rel, mode: int, at: Node | None = None) -> None:
        node = self._node(rel)
        node.mode = (node.mode & 0o170000) | (mode & 0o7777)
        node.ctime_ns = now_ns()

    def chown(self, rel: Rel, uid: int, gid: int, at: Node | None = None) -> None:
        node = self._node(rel)
        if uid != -1:
            node.uid = uid
        if gid != -1:
            node.gid = gid
        node.ctime_ns = now_ns()

    def truncate(self, rel: Rel, length: int, at: Node | None = None) -> None:
        node = self._node(rel)
        if s_isdir(node.mode):
            raise KernelError(Errno.EISDIR)
        MemFileHandle(node, self.dev, self.space).truncate(length)

    def utimens(self, rel: Rel, atime_ns: int | None, mtime_ns: int | None, at: Node | None = None) -> None:
        node = self._node(rel)
        if atime_ns is not None:
            node.atime_ns = atime_ns
        if mtime_ns is not None:
            node.mtime_ns = mtime_ns
        node.ctime_ns = now_ns()


# --------------------------------------------------------------------------------------------
# /dev


class DeviceHandle(Handle):
    """A character device with fixed behaviour (null, zero, full, random)."""

    seekable = True
    maps_as_zeros = False  # whether mmap of it gives fresh zero pages (/dev/zero's mmap)

    def __init__(self, st: StatInfo, reader: Callable[[int], bytes], writer: Callable[[bytes], int]) -> None:
        self._st = st
        self._reader = reader
        self._writer = writer

    def pread(self, size: int, offset: int) -> bytes:
        return self._reader(size)

    def pwrite(self, data: bytes, offset: int) -> int:
        return self._writer(data)

    def stat(self) -> StatInfo:
        return self._st


def _no_space(data: bytes) -> int:
    raise KernelError(Errno.ENOSPC)


class DeviceFilesystem(Filesystem):
    """The guest's ``/dev``: null, zero, full, random and urandom; ``tty`` only on a terminal."""

    read_only = True

    def __init__(self, random_bytes: Callable[[int], bytes], open_tty: Callable[[], Handle | None]) -> None:
        self.dev = makedev(0, 5)
        self._random = random_bytes
        self._open_tty = open_tty
        self._born = now_ns()
        zero: Callable[[int], bytes] = lambda n: bytes(n)  # noqa: E731
        empty: Callable[[int], bytes] = lambda n: b""  # noqa: E731
        sink: Callable[[bytes], int] = len
        self._devices: dict[str, tuple[int, int, Callable[[int], bytes], Callable[[bytes], int]]] = {
            "null": (1, 3, empty, sink),
            "zero": (1, 5, zero, sink),
            "full": (1, 7, zero, _no_space),
            "random": (1, 8, self._random, sink),
            "urandom": (1, 9, self._random, sink),
        }
        self._inos = {name: 10 + i for i, name in enumerate(self._devices)}
        # The links every Linux /dev has into the process's own descriptors.
        self._links = {"fd": b"/proc/self/fd", "stdin": b"/proc/self/fd/0", "stdout": b"/proc/self/fd/1",
                       "stderr": b"/proc/self/fd/2"}
        self._inos.update({name: 30 + i for i, name in enumerate(self._links)})

    def statfs(self) -> FsStats:
        return FsStats(TMPFS_MAGIC, blocks=2048, bfree=2048, bavail=2048, files=1024, ffree=1000,
                       flags=ST_VALID | ST_NOSUID)

    def _device_stat(self, name: str) -> StatInfo:
        major, minor, _, _ = self._devices[name]
        return StatInfo(
            mode=S_IFCHR | 0o666, ino=self._inos[name], dev=self.dev, rdev=makedev(major, minor),
            atime_ns=self._born, mtime_ns=self._born, ctime_ns=self._born, blksize=4096,
        )

    def lstat(self, rel: Rel) -> StatInfo:
        if not rel:
            return StatInfo(mode=S_IFDIR | 0o755, ino=2, dev=self.dev, nlink=2, mtime_ns=self._born)
        if len(rel) == 1 and rel[0] in self._devices:
            return self._device_stat(rel[0])
        if len(rel) == 1 and rel[0] == "tty":
            return StatInfo(mode=S_IFCHR | 0o666, ino=9, dev=self.dev, rdev=makedev(5, 0))
        if len(rel) == 1 and rel[0] in self._links:
            return StatInfo(mode=S_IFLNK | 0o777, ino=self._inos[rel[0]], dev=self.dev, size=len(self._links[rel[0]]),
                            atime_ns=self._born, mtime_ns=self._born, ctime_ns=self._born)
        raise KernelError(Errno.ENOENT if len(rel) == 1 else Errno.ENOTDIR)

    def readlink(self, rel: Rel, at: Node | None = None) -> bytes:
        if len(rel) == 1 and rel[0] in self._links:
            return self._links[rel[0]]
        self.lstat(rel)
        raise KernelError(Errno.EINVAL)

    def open(self, rel: Rel, flags: int, mode: int, exists: bool, at: Node | None = None) -> Handle:
        if not rel:
            return _ListingHandle(
                self.lstat(()),
                sorted(
                    [DirEntry(n, self._inos[n], dtype_of(S_IFCHR)) for n in self._devices]
                    + [DirEntry(n, self._inos[n], dtype_of(S_IFLNK)) for n in self._links]
                    + [DirEntry("tty", 9, dtype_of(S_IFCHR))],
                    key=lambda e: e.name,
                ),
            )
        if not exists:
            raise KernelError(Errno.EROFS)
        if rel == ("tty",):
            tty = self._open_tty()
            if tty is None:
                # What Linux answers to a process without a controlling terminal.
                raise KernelError(Errno.ENXIO)
            return tty
        _, _, reader, writer = self._devices[rel[0]]
        handle = DeviceHandle(self._device_stat(rel[0]), reader, writer)
        handle.maps_as_zeros = rel[0] == "zero"  # the one device here with an mmap
        return handle


class FileOfItsOwn(Filesystem):
    """One read-only file, mounted at a path of its own (a filesystem whose root is the file):
    the guest's ``/etc/passwd`` and ``/etc/group`` where nothing else provides them."""

    read_only = True

    def __init__(self, data: bytes, ino: int) -> None:
        self.dev = makedev(0, 6)
        self._data = data
        self._born = now_ns()
        self._st = StatInfo(mode=S_IFREG | 0o644, ino=ino, dev=self.dev, size=len(data), atime_ns=self._born,
                            mtime_ns=self._born, ctime_ns=self._born, blksize=4096, blocks=(len(data) + 511) // 512)

    def lstat(self, rel: Rel) -> StatInfo:
        if rel:
            raise KernelError(Errno.ENOTDIR)
        return self._st

    def readlink(self, rel: Rel, at: Node | None = None) -> bytes:
        self.lstat(rel)
        raise KernelError(Errno.EINVAL)

    def open(self, rel: Rel, flags: int, mode: int, exists: bool, at: Node | None = None) -> Handle:
        self.lstat(rel)
        if wants_write(flags) or flags & O_TRUNC:
            raise KernelError(Errno.EROFS)
        return BytesHandle(self._data, self._st)


class _ListingHandle(Handle):
    """A directory that only lists (for filesystems with a fixed set of entries)."""

    is_directory = True

    def __init__(self, st: StatInfo, entries: list[DirEntry]) -> None:
        self._st = st
        self._entries = entries

    def pread(self, size: int, offset: int) -> bytes:
        raise KernelError(Errno.EISDIR)

    def stat(self) -> StatInfo:
        return self._st

    def listdir(self) -> list[DirEntry]:
        return list(self._entries)


def listing_handle(st: StatInfo, entries: list[DirEntry]) -> Handle:
    """A read-only directory handle listing ``entries``."""
    return _ListingHandle(st, entries)
