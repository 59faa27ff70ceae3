"""The guest's filesystem namespace: mounts, and path resolution one component at a time.

Resolution is done here, in the guest's view, for every filesystem: ``..`` stops at the
guest's root, an absolute symlink target starts again from the guest's root, and a path
that is not under a mount does not exist. The filesystems below never follow a link, so
nothing outside the mounts is reachable whatever the guest writes.

Directories that exist only because something is mounted below them (``/`` and, say,
``/home`` when ``/home/me/project`` is mounted) are read-only and list the mounts under them.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass

from kernel_model.abi import O_ACCMODE, O_CREAT, O_RDONLY, O_WRONLY
from kernel_model.filesystems import Filesystem, listing_handle
from kernel_model.fsnodes import S_IFDIR, DirEntry, Handle, StatInfo, dtype_of, makedev, s_isdir, s_islnk
from kernel_model.linux_errno import Errno
from kernel_model.seam import KernelError

GuestPath = tuple[str, ...]

PATH_MAX = 4096
NAME_MAX = 255
MAX_SYMLINKS = 40
_SYNTHETIC_DEV = makedev(0, 1)

R_OK, W_OK, X_OK = 4, 2, 1
_DEVICE_TYPES = (0o020000, 0o060000, 0o010000, 0o140000)  # chr, blk, fifo, socket: writable on a RO fs


def split_path(path: str) -> GuestPath:
    """An absolute guest path string as a tuple of names (``"/a/b"`` -> ``("a", "b")``)."""
    return tuple(p for p in path.split("/") if p and p != ".")


def join_path(path: GuestPath) -> str:
    """The string form of a guest path tuple."""
    return "/" + "/".join(path)


def decode_name(raw: bytes) -> str:
    """A guest path as a ``str`` that round-trips any byte (surrogateescape, as ``os`` does)."""
    return raw.decode("utf-8", "surrogateescape")


def encode_name(name: str) -> bytes:
    """The bytes of a guest path string."""
    return name.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Credentials:
    """Who the guest is, for permission checks."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    def permits(self, st: StatInfo, want: int) -> bool:
        """Whether the classic owner/group/other bits of ``st`` grant ``want`` (R_OK|W_OK|X_OK)."""
        if self.uid == 0:
            # root may do anything, except execute a file with no x bit anywhere
            return not (want & X_OK) or s_isdir(st.mode) or bool(st.mode & 0o111)
        if st.uid == self.uid:
            bits = (st.mode >> 6) & 7
        elif st.gid == self.gid or st.gid in self.groups:
            bits = (st.mode >> 3) & 7
        else:
            bits = st.mode & 7
        return bits & want == want


@dataclass(frozen=True)
class Location:
    """Where a path resolved to. ``stat`` is None when the last name does not exist (yet)."""

    path: GuestPath
    stat: StatInfo | None
    trailing_slash: bool = False
    magic: bool = False  # a /proc magic link, followed to the object itself (``stat`` is its)

    @property
    def text(self) -> str:
        """The canonical guest path as a string."""
        return join_path(self.path)


class Namespace:
    """The mount table and every path operation that has to walk it."""

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        self._mounts: dict[GuestPath, Filesystem] = {}

    # -- mounts ----------------------------------------------------------------------------

    def mount(self, guest_path: str, fs: Filesystem) -> None:
        """Mount ``fs`` at the absolute guest path (replacing what was mounted there)."""
        if not guest_path.startswith("/"):
            raise ValueError(f"mount point {guest_path!r} must be absolute")
        self._mounts[split_path(guest_path)] = fs

    def mounts(self) -> list[tuple[str, Filesystem]]:
        """The mount table, shortest path first."""
        return [(join_path(p), fs) for p, fs in sorted(self._mounts.items(), key=lambda kv: len(kv[0]))]

    def _covering(self, path: GuestPath) -> tuple[Filesystem, GuestPath] | None:
        for n in range(len(path), -1, -1):
            fs = self._mounts.get(path[:n])
            if fs is not None:
                return fs, path[n:]
        return None

    def filesystem_of(self, path: GuestPath) -> tuple[Filesystem | None, GuestPath]:
        """The filesystem holding ``path`` and the path inside it (None: a synthetic directory)."""
        cov = self._covering(path)
        return (None, path) if cov is None else cov

    def _mount_children(self, path: GuestPath) -> list[str]:
        n = len(path)
        return sorted({m[n] for m in self._mounts if len(m) > n and m[:n] == path})

    def _is_synthetic(self, path: GuestPath) -> bool:
        return self._covering(path) is None and (not path or bool(self._mount_children(path)))

    def _synthetic_stat(self, path: GuestPath) -> StatInfo:
        return StatInfo(
            mode=S_IFDIR | 0o555, ino=zlib.crc32(join_path(path).encode()) | 1, dev=_SYNTHETIC_DEV,
            nlink=2 + len(self._mount_children(path)),
        )

    # -- metadata of one resolved path -----------------------------------------------------

    def lstat(self, path: GuestPath) -> StatInfo:
        """Metadata of an already-resolved path, not following a final symlink."""
        if path in self._mounts:
            return self._mounts[path].lstat(())
        cov = self._covering(path)
        if cov is None:
            if self._is_synthetic(path):
                return self._synthetic_stat(path)
            raise KernelError(Errno.ENOENT)
        fs, rel = cov
        try:
            return fs.lstat(rel)
        except KernelError as e:
            # a mount point below a directory that lacks the name itself still exists
            if e.errno is Errno.ENOENT and self._mount_children(path):
                return self._synthetic_stat(path)
            raise

    def _lookup(self, path: GuestPath) -> StatInfo | None:
        try:
            return self.lstat(path)
        except KernelError as e:
            if e.errno is Errno.ENOENT:
                return None
            raise

    def readlink(self, path: GuestPath) -> bytes:
        """The target of the symlink at a resolved path."""
        fs, rel = self.filesystem_of(path)
        if fs is None or path in self._mounts:
            raise KernelError(Errno.EINVAL)
        return fs.readlink(rel)

    # -- resolution ------------------------------------------------------------------------

    def resolve(
        self,
        raw: bytes | str,
        cwd: GuestPath,
        *,
        follow: bool = True,
        allow_missing: bool = False,
    ) -> Location:
        """Resolve a guest path against ``cwd`` the way the kernel's path walk does.

        ``follow`` says whether a symlink as the last component is followed. With
        ``allow_missing`` the last component may be absent (for creating it); its parent
        must exist. Raises ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EACCES like Linux.
        """
        text = raw if isinstance(raw, str) else decode_name(raw)
        if text == "":
            raise KernelError(Errno.ENOENT)
        if len(encode_name(text)) >= PATH_MAX:
            raise KernelError(Errno.ENAMETOOLONG)
        trailing = text.endswith("/")
        cur: GuestPath = () if text.startswith("/") else cwd
        pending = [p for p in reversed(text.split("/")) if p and p != "."]
        links = 0
        final: StatInfo | None = self.lstat(cur) if not pending else None
        while pending:
            name = pending.pop()
            last = not pending
            if name == "..":
                cur = cur[:-1]
                if last:
                    final = self.lstat(cur)
                continue
            if len(encode_name(name)) > NAME_MAX:
                raise KernelError(Errno.ENAMETOOLONG)
            self._check_search(cur)
            child = cur + (name,)
            st = self._lookup(child)
            if st is None:
                if last and allow_missing:
                    return Location(child, None, trailing)
                raise KernelError(Errno.ENOENT)
            if s_islnk(st.mode) and (not last or follow or trailing):
                links += 1
                if links > MAX_SYMLINKS:
                    raise KernelError(Errno.ELOOP)
                if last:
                    magic = self._magic_target(child)
                    if magic is not None:
                        # Like /proc/self/exe: the link leads to the object, not to its name.
                        if trailing and not s_isdir(magic.mode):
                            raise KernelError(Errno.ENOTDIR)
                        return Location(child, magic, trailing, magic=True)
                target = decode_name(self.readlink(child))
                if not target:
                    raise KernelError(Errno.ENOENT)
                if target.startswith("/"):
                    cur = ()
                pending.extend(p for p in reversed(target.split("/")) if p and p != ".")
                if not pending:  # a link to "/"
                    final = self.lstat(cur)
                continue
            if not last and not s_isdir(st.mode):
                raise KernelError(Errno.ENOTDIR)
            cur = child
            final = st
        assert final is not None
        if trailing and not s_isdir(final.mode):
            raise KernelError(Errno.ENOTDIR)
        return Location(cur, final, trailing)

    def _magic_target(self, path: GuestPath) -> StatInfo | None:
        fs, rel = self.filesystem_of(path)
        return fs.magic_link(rel) if fs is not None and path not in self._mounts else None

    def _check_search(self, directory: GuestPath) -> None:
        st = self.lstat(directory)
        if not s_isdir(st.mode):
            raise KernelError(Errno.ENOTDIR)
        if not self.creds.permits(st, X_OK):
            raise KernelError(Errno.EACCES)

    # -- operations on resolved locations --------------------------------------------------

    def open(self, loc: Location, flags: int, mode: int) -> Handle:
        """Open a resolved location (creating it when ``loc.stat`` is None and O_CREAT is set)."""
        path = loc.path
        if loc.stat is None:
            if not flags & O_CREAT:
                raise KernelError(Errno.ENOENT)
            if loc.trailing_slash:
                raise KernelError(Errno.EISDIR)
            fs, rel = self._writable_parent(path)
            return fs.open(rel, flags, mode, exists=False)
        want = {O_RDONLY: R_OK, O_WRONLY: W_OK}.get(flags & O_ACCMODE, R_OK | W_OK)
        fs, rel = self.filesystem_of(path)
        if loc.magic and fs is not None:
            # The object a magic link leads to lives elsewhere; its own file system decides.
            if not self.creds.permits(loc.stat, want):
                raise KernelError(Errno.EACCES)
            return fs.open_magic(rel, flags)
        if want & W_OK and (fs is None or fs.read_only) and (loc.stat.mode & 0o170000) not in _DEVICE_TYPES:
            # like the kernel's sb_permission: a read-only filesystem answers before the bits
            raise KernelError(Errno.EROFS if fs is not None else Errno.EISDIR)
        if not self.creds.permits(loc.stat, want):
            raise KernelError(Errno.EACCES)
        if fs is None:
            if flags & O_ACCMODE != O_RDONLY:
                raise KernelError(Errno.EISDIR)
            return listing_handle(self._synthetic_stat(path), self.listdir(path))
        handle = fs.open(rel, flags, mode, exists=True)
        if handle.is_directory and self._mount_children(path):
            return listing_handle(handle.stat(), self.listdir(path, handle))
        return handle

    def listdir(self, path: GuestPath, handle: Handle | None = None) -> list[DirEntry]:
        """The entries of a directory, with the mount points below it (no ``.``/``..``)."""
        entries: dict[str, DirEntry] = {}
        if handle is not None:
            entries.update((e.name, e) for e in handle.listdir())
        for name in self._mount_children(path):
            child = path + (name,)
            entries[name] = DirEntry(name, self.lstat(child).ino, dtype_of(S_IFDIR))
        return [entries[n] for n in sorted(entries)]

    def _writable_parent(self, path: GuestPath) -> tuple[Filesystem, GuestPath]:
        """The filesystem to create ``path`` in, after the parent's write permission check."""
        parent = self.lstat(path[:-1])
        fs, rel = self.filesystem_of(path)
        if fs is None or path in self._mounts:
            raise KernelError(Errno.EROFS if fs is None else Errno.EEXIST)
        if not self.creds.permits(parent, W_OK | X_OK) and not fs.read_only:
            raise KernelError(Errno.EACCES)
        return fs, rel

    def _existing(self, path: GuestPath) -> tuple[Filesystem, GuestPath]:
        fs, rel = self.filesystem_of(path)
        if fs is None:
            raise KernelError(Errno.EROFS)
        if path in self._mounts or self._mount_children(path):
            raise KernelError(Errno.EBUSY)
        return fs, rel

    def mkdir(self, loc: Location, mode: int) -> None:
        """Create a directory at a location that does not exist yet."""
        if loc.stat is not None:
            raise KernelError(Errno.EEXIST)
        fs, rel = self._writable_parent(loc.path)
        fs.mkdir(rel, mode)

    def symlink(self, target: bytes, loc: Location) -> None:
        """Create a symlink at a location that does not exist yet."""
        if loc.stat is not None:
            raise KernelError(Errno.EEXIST)
        fs, rel = self._writable_parent(loc.path)
        fs.symlink(target, rel)

    def unlink(self, loc: Location) -> None:
        """Remove a non-directory."""
        assert loc.stat is not None
        if s_isdir(loc.stat.mode):
            raise KernelError(Errno.EISDIR)
        fs, rel = self._existing(loc.path)
        fs.unlink(rel)

    def rmdir(self, loc: Location) -> None:
        """Remove an empty directory."""
        assert loc.stat is not None
        if not s_isdir(loc.stat.mode):
            raise KernelError(Errno.ENOTDIR)
        if not loc.path:
            raise KernelError(Errno.EBUSY)
        fs, rel = self._existing(loc.path)
        fs.rmdir(rel)

    def rename(self, old: Location, new: Location) -> None:
        """Move ``old`` to ``new`` (both in one filesystem, else EXDEV)."""
        assert old.stat is not None
        fs_old, rel_old = self._existing(old.path)
        fs_new, rel_new = self.filesystem_of(new.path)
        if fs_new is None or new.path in self._mounts:
            raise KernelError(Errno.EROFS if fs_new is None else Errno.EBUSY)
        if fs_new is not fs_old:
            raise KernelError(Errno.EXDEV)
        fs_old.rename(rel_old, rel_new)

    def link(self, old: Location, new: Location) -> None:
        """Create a hard link ``new`` to ``old``."""
        assert old.stat is not None
        if new.stat is not None:
            raise KernelError(Errno.EEXIST)
        fs_old, rel_old = self._existing(old.path)
        fs_new, rel_new = self._writable_parent(new.path)
        if fs_new is not fs_old:
            raise KernelError(Errno.EXDEV)
        fs_old.link(rel_old, rel_new)

    def filesystem_for_change(self, loc: Location) -> tuple[Filesystem, GuestPath]:
        """The filesystem and inner path to change metadata of an existing location."""
        fs, rel = self.filesystem_of(loc.path)
        if fs is None:
            raise KernelError(Errno.EROFS)
        return fs, rel


def host_directory_guest_path(host_dir: str) -> str:
    """The guest path a host directory is shown at by default: its own absolute path."""
    return os.path.realpath(host_dir)
