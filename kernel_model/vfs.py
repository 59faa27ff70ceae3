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
from dataclasses import dataclass, field

from kernel_model.abi import O_ACCMODE, O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY
from kernel_model.denials import DenialLog
from kernel_model.filesystems import Filesystem, Node, listing_handle
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
    """Where a path resolved to. ``stat`` is None when the last name does not exist (yet).

    ``node`` is what the walk reached there and ``parent`` the directory it reached it from
    (None where the walk did not go through one, as after a trailing ``..``): an operation on
    the location hands ``parent`` to the filesystem, which then need not walk again.
    """

    path: GuestPath
    stat: StatInfo | None
    trailing_slash: bool = False
    magic: bool = False  # a /proc magic link, followed to the object itself (``stat`` is its)
    node: Node | None = field(default=None, compare=False, repr=False)
    parent: Node | None = field(default=None, compare=False, repr=False)

    @property
    def text(self) -> str:
        """The canonical guest path as a string."""
        return join_path(self.path)


# The host's user: a walk the host makes for the guest checks this user's search permission,
# the same check the model makes only when the guest is the same user.
_HOST_EUID = os.geteuid() if hasattr(os, "geteuid") else -1


class Namespace:
    """The mount table and every path operation that has to walk it.

    Besides filesystems mounted at guest paths, the table holds hidden paths (nothing there
    exists for the guest, unless something is mounted below it, which then shows as the way
    there) and hidden files by identity (``(dev, ino)``: a hidden file reached by another
    name). With a :class:`~kernel_model.denials.DenialLog`, each refusal these make is
    recorded with the rule that made it, for the call's record.
    """

    def __init__(self, creds: Credentials, log: DenialLog | None = None) -> None:
        self.creds = creds
        self.log = log
        self._mounts: dict[GuestPath, Filesystem] = {}
        self._rules: dict[GuestPath, str] = {}
        self._hidden: dict[GuestPath, str] = {}
        self._hidden_inodes: dict[tuple[int, int], tuple[str, str]] = {}
        self._hidden_directories = False
        # What a refusal of a path nothing grants says (None: such paths just do not exist).
        self.ungranted_rule: str | None = None

    # -- mounts ----------------------------------------------------------------------------

    def mount(self, guest_path: str, fs: Filesystem, rule: str = "") -> None:
        """Mount ``fs`` at the absolute guest path (replacing what was mounted there).

        ``rule`` says where the mount came from, for the record of a change it refuses.
        """
        if not guest_path.startswith("/"):
            raise ValueError(f"mount point {guest_path!r} must be absolute")
        path = split_path(guest_path)
        self._mounts[path] = fs
        if rule:
            self._rules[path] = rule

    def hide(self, guest_path: str, rule: str) -> None:
        """Make ``guest_path`` and everything under it not exist (a mount below stays reachable)."""
        self._hidden[split_path(guest_path)] = rule

    def hide_inode(self, dev: int, ino: int, guest: str, rule: str, directory: bool = False) -> None:
        """Hide the file ``(dev, ino)`` by whatever name it is reached (it was at ``guest``)."""
        self._hidden_inodes[(dev, ino)] = (guest, rule)
        self._hidden_directories |= directory

    def provides(self, guest_path: str) -> bool:
        """Whether something is at ``guest_path`` (a link counts), or a rule of the world speaks
        for it (hidden, or outside every grant where what no rule grants does not exist).
        Asked quietly: nothing is recorded as a denial."""
        path = split_path(guest_path)
        if self._hidden_rule(path) is not None or self.ungranted_rule is not None and self._covering(path) is None:
            return True
        log, self.log = self.log, None
        try:
            self.resolve(guest_path, (), follow=False)
            return True
        except KernelError:
            return False
        finally:
            self.log = log

    def mounts(self) -> list[tuple[str, Filesystem]]:
        """The mount table, shortest path first."""
        return [(join_path(p), fs) for p, fs in sorted(self._mounts.items(), key=lambda kv: len(kv[0]))]

    def _covering(self, path: GuestPath) -> tuple[Filesystem, GuestPath] | None:
        for n in range(len(path), -1, -1):
            fs = self._mounts.get(path[:n])
            if fs is not None:
                return fs, path[n:]
        return None

    def _mount_point(self, path: GuestPath) -> GuestPath:
        for n in range(len(path), -1, -1):
            if path[:n] in self._mounts:
                return path[:n]
        return ()

    def filesystem_of(self, path: GuestPath) -> tuple[Filesystem | None, GuestPath]:
        """The filesystem holding ``path`` and the path inside it (None: a synthetic directory)."""
        cov = self._covering(path)
        return (None, path) if cov is None else cov

    def _mount_children(self, path: GuestPath) -> list[str]:
        n = len(path)
        return sorted({m[n] for m in self._mounts if len(m) > n and m[:n] == path})

    def _hidden_rule(self, path: GuestPath) -> tuple[GuestPath, str] | None:
        for n in range(1, len(path) + 1):
            rule = self._hidden.get(path[:n])
            if rule is not None:
                return path[:n], rule
        return None

    def _synthetic(self, path: GuestPath) -> Node:
        st = StatInfo(
            mode=S_IFDIR | 0o555, ino=zlib.crc32(join_path(path).encode()) | 1, dev=_SYNTHETIC_DEV,
            nlink=2 + len(self._mount_children(path)),
        )
        return Node(None, path, st)  # type: ignore[arg-type]

    def _synthetic_stat(self, path: GuestPath) -> StatInfo:
        return self._synthetic(path).stat

    # -- refusals --------------------------------------------------------------------------

    def _deny(self, errno: Errno, what: GuestPath | str, rule: str) -> KernelError:
        where = what if isinstance(what, str) else join_path(what)
        if self.log is None:
            return KernelError(errno)
        return self.log.deny(errno, where, rule)

    def _read_only(self, path: GuestPath, fs: Filesystem | None) -> KernelError:
        """EROFS for a change at ``path``, recorded with the rule of its mount when it has one."""
        rule = self._rules.get(self._mount_point(path)) if fs is not None else self.ungranted_rule
        if rule is None or self.log is None:
            return KernelError(Errno.EROFS)
        return self.log.deny(Errno.EROFS, f"a change to {join_path(path)}", rule)

    def _note_read_only(self, path: GuestPath, fs: Filesystem) -> None:
        # A write the model refuses with EROFS later in the call is put down to this mount.
        if self.log is not None and fs.read_only:
            rule = self._rules.get(self._mount_point(path))
            if rule is not None:
                self.log.last_read_only = (f"a change to {join_path(path)}", rule)

    def _check_inode(self, node: Node, path: GuestPath) -> None:
        hidden = self._hidden_inodes.get((node.stat.dev, node.stat.ino))
        if hidden is not None and not (s_isdir(node.stat.mode) and self._mount_children(path)):
            guest, rule = hidden
            raise self._deny(Errno.ENOENT, path, f"the same file as {guest}: {rule}")

    # -- nodes of resolved paths -----------------------------------------------------------

    def _mount_root(self, path: GuestPath) -> Node:
        return self._mounts[path].root()

    def node_at(self, path: GuestPath) -> Node:
        """The node of an already-resolved (canonical) path, walking to it again."""
        if path in self._mounts:
            try:
                return self._mount_root(path)
            except KernelError as e:
                if e.errno is Errno.ENOENT and self._mount_children(path):
                    return self._synthetic(path)
                raise
        cov = self._covering(path)
        if cov is None:
            if not path or self._mount_children(path):
                return self._synthetic(path)
            raise KernelError(Errno.ENOENT)
        fs, rel = cov
        node = fs.walk(rel) if rel else None
        if node is None:
            node = fs.root()
            for name in rel:
                try:
                    node = fs.lookup(node, name)
                except KernelError as e:
                    # a mount point below a directory that lacks the name itself still exists
                    if e.errno is Errno.ENOENT and self._mount_children(path):
                        return self._synthetic(path)
                    raise
        return node

    def lstat(self, path: GuestPath) -> StatInfo:
        """Metadata of an already-resolved path, not following a final symlink."""
        return self.node_at(path).stat

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

    def _step(self, node: Node, child: GuestPath) -> Node | None:
        """One component: the node of ``child`` (whose parent's node is ``node``), or None."""
        hidden = self._hidden.get(child)
        if hidden is not None:
            if self._mount_children(child):
                return self._synthetic(child)  # hidden, but the way to a mount below
            raise self._deny(Errno.ENOENT, child, hidden)
        if child in self._mounts:
            return self.node_at(child)
        if node.fs is None:  # a synthetic directory: only the way to the mounts below
            return self._synthetic(child) if self._mount_children(child) else None
        try:
            found = node.fs.lookup(node, child[-1])
        except KernelError as e:
            if e.errno is Errno.ENOENT:
                return self._synthetic(child) if self._mount_children(child) else None
            raise
        if self._hidden_inodes:
            self._check_inode(found, child)
        return found

    def _fast_start(self, start: GuestPath, names: list[str]) -> tuple[GuestPath, Node] | None:
        """The walk's first steps in one filesystem call, when nothing on the way needs a look.

        Taken for the directories before the last name when no ``..``, mount point or hidden
        path is among them, no hidden directory is known by identity, and the host's search
        permission is the guest's; the filesystem itself gives up when it meets a symlink.
        """
        if len(names) < 2 or ".." in names or self.creds.uid != _HOST_EUID or self._hidden_directories:
            return None
        target = start + tuple(names[:-1])
        cov = self._covering(target)
        if cov is None:
            return None
        fs, rel = cov
        if not rel or any(len(m) > len(target) - len(rel) and m[: len(target)] == target[: len(m)] for m in self._mounts):
            return None
        if self._hidden and self._hidden_rule(target) is not None:
            return None
        if any(len(n.encode("utf-8", "surrogateescape")) > NAME_MAX for n in names):
            return None
        node = fs.walk(rel)
        return None if node is None else (target, node)

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
        names = [p for p in text.split("/") if p and p != "."]
        fast = self._fast_start(cur, names)
        if fast is not None:
            cur, node = fast
            names = names[-1:]
        else:
            node = self.node_at(cur)
        pending = names[::-1]
        links = 0
        parent: Node | None = None
        while pending:
            name = pending.pop()
            last = not pending
            if name == "..":
                cur = cur[:-1]
                node = self.node_at(cur)
                parent = None
                continue
            if len(encode_name(name)) > NAME_MAX:
                raise KernelError(Errno.ENAMETOOLONG)
            self._check_search(node)
            child = cur + (name,)
            found = self._step(node, child)
            if found is None:
                if last and allow_missing:
                    if node.fs is not None:
                        self._note_read_only(child, node.fs)
                    return Location(child, None, trailing, parent=node)
                if node.fs is None and self.ungranted_rule is not None:
                    raise self._deny(Errno.ENOENT, child, self.ungranted_rule)
                raise KernelError(Errno.ENOENT)
            st = found.stat
            if s_islnk(st.mode) and (not last or follow or trailing):
                links += 1
                if links > MAX_SYMLINKS:
                    raise KernelError(Errno.ELOOP)
                fs = found.fs
                if last:
                    magic = fs.magic_link(found.rel)
                    if magic is not None:
                        # Like /proc/self/exe: the link leads to the object, not to its name.
                        if trailing and not s_isdir(magic.mode):
                            raise KernelError(Errno.ENOTDIR)
                        return Location(child, magic, trailing, magic=True, node=found, parent=node)
                target = decode_name(fs.readlink(found.rel, at=node))
                if not target:
                    raise KernelError(Errno.ENOENT)
                if target.startswith("/"):
                    cur = ()
                    node = self.node_at(cur)
                pending.extend(p for p in reversed(target.split("/")) if p and p != ".")
                parent = None
                continue
            if not last and not s_isdir(st.mode):
                raise KernelError(Errno.ENOTDIR)
            parent, node, cur = node, found, child
        if trailing and not s_isdir(node.stat.mode):
            raise KernelError(Errno.ENOTDIR)
        if node.fs is not None:
            self._note_read_only(cur, node.fs)
        return Location(cur, node.stat, trailing, node=node, parent=parent)

    def _check_search(self, node: Node) -> None:
        st = node.stat
        if not s_isdir(st.mode):
            raise KernelError(Errno.ENOTDIR)
        if not self.creds.permits(st, X_OK):
            raise KernelError(Errno.EACCES)

    # -- operations on resolved locations --------------------------------------------------

    @staticmethod
    def _at(loc: Location, fs: Filesystem) -> Node | None:
        parent = loc.parent
        return parent if parent is not None and parent.fs is fs else None

    def open(self, loc: Location, flags: int, mode: int) -> Handle:
        """Open a resolved location (creating it when ``loc.stat`` is None and O_CREAT is set)."""
        path = loc.path
        if loc.stat is None:
            if not flags & O_CREAT:
                raise KernelError(Errno.ENOENT)
            if loc.trailing_slash:
                raise KernelError(Errno.EISDIR)
            fs, rel = self._writable_parent(loc)
            return fs.open(rel, flags, mode, exists=False, at=self._at(loc, fs))
        want = {O_RDONLY: R_OK, O_WRONLY: W_OK}.get(flags & O_ACCMODE, R_OK | W_OK)
        fs, rel = self.filesystem_of(path)
        if loc.magic and fs is not None:
            # The object a magic link leads to lives elsewhere; its own file system decides.
            if not self.creds.permits(loc.stat, want):
                raise KernelError(Errno.EACCES)
            return fs.open_magic(rel, flags)
        writes = bool(want & W_OK or flags & O_TRUNC)
        if writes and (fs is None or fs.read_only) and (loc.stat.mode & 0o170000) not in _DEVICE_TYPES:
            # like the kernel's sb_permission: a read-only filesystem answers before the bits
            if fs is None:
                raise KernelError(Errno.EISDIR)
            raise self._read_only(path, fs)
        if not self.creds.permits(loc.stat, want):
            raise KernelError(Errno.EACCES)
        if fs is None:
            if flags & O_ACCMODE != O_RDONLY:
                raise KernelError(Errno.EISDIR)
            return listing_handle(self._synthetic_stat(path), self.listdir(path))
        handle = fs.open(rel, flags, mode, exists=True, at=self._at(loc, fs))
        if handle.is_directory and (self._mount_children(path) or self._hidden or self._hidden_inodes):
            return listing_handle(handle.stat(), self.listdir(path, handle))
        return handle

    def listdir(self, path: GuestPath, handle: Handle | None = None) -> list[DirEntry]:
        """The entries of a directory, with the mount points below it, without what is hidden."""
        entries: dict[str, DirEntry] = {}
        if handle is not None:
            for e in handle.listdir():
                child = path + (e.name,)
                if child in self._hidden:
                    continue
                if self._hidden_inodes and e.ino and self._hides(child, e.ino):
                    continue
                entries[e.name] = e
        for name in self._mount_children(path):
            child = path + (name,)
            entries[name] = DirEntry(name, self.lstat(child).ino, dtype_of(S_IFDIR))
        if handle is None or not handle_keeps_order(handle):
            return [entries[n] for n in sorted(entries)]
        return list(entries.values())

    def _hides(self, child: GuestPath, ino: int) -> bool:
        if not any(key[1] == ino for key in self._hidden_inodes):
            return False
        try:
            st = self.lstat(child)
        except KernelError:
            return True
        return (st.dev, st.ino) in self._hidden_inodes

    def _writable_parent(self, loc: Location) -> tuple[Filesystem, GuestPath]:
        """The filesystem to create ``loc`` in, after the parent's write permission check."""
        path = loc.path
        parent = loc.parent.stat if loc.parent is not None else self.lstat(path[:-1])
        fs, rel = self.filesystem_of(path)
        if fs is None:
            # Only the way to the mounts exists here: nothing may be made (what no rule grants).
            if self.ungranted_rule is not None:
                raise self._deny(Errno.EACCES, path, self.ungranted_rule)
            raise KernelError(Errno.EACCES)
        if path in self._mounts:
            raise KernelError(Errno.EEXIST)
        if fs.read_only:
            raise self._read_only(path, fs)
        if not self.creds.permits(parent, W_OK | X_OK):
            raise KernelError(Errno.EACCES)
        return fs, rel

    def _existing(self, path: GuestPath) -> tuple[Filesystem, GuestPath]:
        fs, rel = self.filesystem_of(path)
        if fs is None:
            raise self._read_only(path, None)
        if path in self._mounts or self._mount_children(path) or self._hides_below(path):
            raise KernelError(Errno.EBUSY)
        if fs.read_only:
            raise self._read_only(path, fs)
        return fs, rel

    def _hides_below(self, path: GuestPath) -> bool:
        n = len(path)
        return any(len(h) > n and h[:n] == path for h in self._hidden)

    def mkdir(self, loc: Location, mode: int) -> None:
        """Create a directory at a location that does not exist yet."""
        if loc.stat is not None:
            raise KernelError(Errno.EEXIST)
        fs, rel = self._writable_parent(loc)
        fs.mkdir(rel, mode, at=self._at(loc, fs))

    def symlink(self, target: bytes, loc: Location) -> None:
        """Create a symlink at a location that does not exist yet."""
        if loc.stat is not None:
            raise KernelError(Errno.EEXIST)
        fs, rel = self._writable_parent(loc)
        fs.symlink(target, rel, at=self._at(loc, fs))

    def unlink(self, loc: Location) -> None:
        """Remove a non-directory."""
        assert loc.stat is not None
        if s_isdir(loc.stat.mode):
            raise KernelError(Errno.EISDIR)
        fs, rel = self._existing(loc.path)
        fs.unlink(rel, at=self._at(loc, fs))

    def rmdir(self, loc: Location) -> None:
        """Remove an empty directory."""
        assert loc.stat is not None
        if not s_isdir(loc.stat.mode):
            raise KernelError(Errno.ENOTDIR)
        if not loc.path:
            raise KernelError(Errno.EBUSY)
        fs, rel = self._existing(loc.path)
        fs.rmdir(rel, at=self._at(loc, fs))

    def rename(self, old: Location, new: Location, flags: int = 0) -> None:
        """Move ``old`` to ``new`` (both in one filesystem, else EXDEV); renameat2's ``flags``.

        Neither a mount point nor a directory with a mount or a hidden path below it moves
        (EBUSY): what the policy grants or hides is named by its path.
        """
        assert old.stat is not None
        fs_old, rel_old = self._existing(old.path)
        fs_new, rel_new = self.filesystem_of(new.path)
        if fs_new is None:
            raise self._read_only(new.path, None)
        if new.path in self._mounts or (new.stat is not None and (self._mount_children(new.path) or self._hides_below(new.path))):
            raise KernelError(Errno.EBUSY)
        if fs_new is not fs_old:
            raise KernelError(Errno.EXDEV)
        fs_old.rename(rel_old, rel_new, flags, at_old=self._at(old, fs_old), at_new=self._at(new, fs_new))

    def link(self, old: Location, new: Location) -> None:
        """Create a hard link ``new`` to ``old``."""
        assert old.stat is not None
        if new.stat is not None:
            raise KernelError(Errno.EEXIST)
        fs_old, rel_old = self.filesystem_of(old.path)
        if fs_old is None or old.path in self._mounts:
            raise KernelError(Errno.EXDEV if fs_old is not None else Errno.EPERM)
        fs_new, rel_new = self._writable_parent(new)
        if fs_new is not fs_old:
            raise KernelError(Errno.EXDEV)
        fs_old.link(rel_old, rel_new, at_old=self._at(old, fs_old), at_new=self._at(new, fs_new))

    def filesystem_for_change(self, loc: Location) -> tuple[Filesystem, GuestPath, Node | None]:
        """The filesystem, inner path and parent node to change metadata of an existing location."""
        fs, rel = self.filesystem_of(loc.path)
        if fs is None:
            raise self._read_only(loc.path, None)
        if fs.read_only:
            raise self._read_only(loc.path, fs)
        return fs, rel, self._at(loc, fs)


def handle_keeps_order(handle: Handle) -> bool:
    """Whether a directory handle lists in an order of its own (the host's), kept as it is."""
    return getattr(handle, "ordered", False)


def host_directory_guest_path(host_dir: str) -> str:
    """The guest path a host directory is shown at by default: its own absolute path."""
    return os.path.realpath(host_dir)
