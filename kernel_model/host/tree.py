"""The guest's filesystem under a policy: granted host directories, hidden paths, and a root
that refuses (and records) everything nothing grants.

A :class:`HostTree` is a granted host directory (a :class:`~kernel_model.filesystems.HostDirectory`,
so every access stays beneath it) that also hides the policy's ``hidden`` paths inside it, by
name and, for those that exist when the sandbox starts, by inode (so another hard link to a
hidden file is hidden too), and records each refusal in the :class:`DenialLog`.

:class:`UngrantedRoot` stands at ``/`` when no rule grants ``/``: every path under it that is
not on the way to a grant does not exist for the guest, and saying so is a recorded denial.
"""

from __future__ import annotations

import os
import stat as host_stat
from typing import Callable

from kernel_model.host.denials import DenialLog
from kernel_model.host.policy import PathRule
from kernel_model.filesystems import (
    RAMFS_MAGIC,
    ST_RDONLY,
    ST_VALID,
    Filesystem,
    FsStats,
    HostDirectory,
    HostFileHandle,
    listing_handle,
)
from kernel_model.fsnodes import READABLE, S_IFDIR, WRITABLE, DirEntry, Handle, StatInfo, host_call, host_poll, s_isdir
from kernel_model.linux_errno import Errno
from kernel_model.seam import KernelError

Rel = tuple[str, ...]
UNGRANTED_RULE = "no path rule grants it (what no rule grants does not exist for the guest)"


def join_guest(base: str, rel: Rel) -> str:
    """The guest path of ``rel`` under the guest directory ``base``."""
    return "/" + "/".join([p for p in base.split("/") if p] + list(rel))


class HostFdHandle(HostFileHandle):
    """A host descriptor opened for the guest in a granted directory.

    Reads and writes are the host's own: at the open file's offset for a seekable file, and
    plain read(2)/write(2) for a terminal, a FIFO or a device. ``tree`` and ``rel`` say where
    it was opened (whether it may be changed through its descriptor, what its listing hides).
    """

    def __init__(self, fd: int, tree: "HostTree", rel: Rel) -> None:
        st = os.fstat(fd)
        super().__init__(fd, host_stat.S_ISDIR(st.st_mode))
        kind = st.st_mode
        self.seekable = not (host_stat.S_ISCHR(kind) or host_stat.S_ISFIFO(kind) or host_stat.S_ISSOCK(kind))
        self.is_tty = host_stat.S_ISCHR(kind) and os.isatty(fd)
        self.tree = tree
        self.rel = rel

    def pread(self, size: int, offset: int) -> bytes:
        if self.is_directory:
            raise KernelError(Errno.EISDIR)
        if not self.seekable:
            return host_call(os.read, self._fd, size)
        return host_call(os.pread, self._fd, size, offset)

    def pwrite(self, data: bytes, offset: int) -> int:
        if not self.seekable:
            return host_call(os.write, self._fd, data)
        return host_call(os.pwrite, self._fd, data, offset)

    def poll(self) -> int:
        if self.seekable:
            return READABLE | WRITABLE
        return host_poll({self._fd: READABLE | WRITABLE}, 0).get(self._fd, 0)

    def wait_fd(self) -> int | None:
        return None if self.seekable else self._fd

    def listdir(self) -> list[DirEntry]:
        dev = self.stat().dev
        return [e for e in super().listdir() if self.tree.visible(self.rel + (e.name,), e.ino, dev)]

    @property
    def where(self) -> str:
        """The guest path it was opened by."""
        return self.tree.where(self.rel)


class HostTree(HostDirectory):
    """A granted host directory (``ro`` or ``rw``) with the hidden paths inside it."""

    def __init__(
        self, rule: PathRule, hidden: list[PathRule], log: DenialLog, leads_to_grant: Callable[[str], bool]
    ) -> None:
        super().__init__(rule.host_path, writable=rule.access == "rw")
        self.rule = rule
        self.guest = rule.guest
        self.log = log
        self._leads_to_grant = leads_to_grant
        self._hidden: dict[Rel, PathRule] = {}
        self._hidden_inodes: dict[tuple[int, int], PathRule] = {}
        for h in hidden:
            rel = tuple(p for p in os.path.relpath(h.guest, rule.guest).split("/") if p and p != ".")
            self._hidden[rel] = h
            try:
                st = super().lstat(rel)
            except KernelError:
                continue  # hidden by name only: it does not exist (yet)
            self._hidden_inodes[(st.dev, st.ino)] = h
            if s_isdir(st.mode):
                self._hide_linked_files(os.path.join(self.root, *rel), h)

    def _hide_linked_files(self, host_dir: str, rule: PathRule) -> None:
        """Hide by inode the files under a hidden directory that have another name somewhere.

        Only a file with more than one link can be reached by another name, so only those
        are remembered; the walk does not follow symlinks.
        """
        for dirpath, _, filenames in os.walk(host_dir, followlinks=False):
            for name in filenames:
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                if st.st_nlink > 1 and not host_stat.S_ISDIR(st.st_mode):
                    info = StatInfo.from_host(st)
                    self._hidden_inodes[(info.dev, info.ino)] = rule

    def where(self, rel: Rel) -> str:
        """The guest path of ``rel``."""
        return join_guest(self.guest, rel)

    # -- hiding ------------------------------------------------------------------------------

    def _hidden_rule(self, rel: Rel) -> PathRule | None:
        for n in range(1, len(rel) + 1):
            rule = self._hidden.get(rel[:n])
            if rule is not None:
                return rule
        return None

    def visible(self, rel: Rel, ino: int, dev: int) -> bool:
        """Whether a directory entry may be listed (not hidden by name, nor a hidden file's inode)."""
        return self._hidden_rule(rel) is None and (dev, ino) not in self._hidden_inodes

    def check_visible(self, rel: Rel) -> None:
        """ENOENT, recorded, when ``rel`` is under a hidden path."""
        rule = self._hidden_rule(rel)
        if rule is not None:
            where = self.where(rel)
            if self._leads_to_grant(where):
                raise KernelError(Errno.ENOENT)  # the namespace shows it as the way to a grant
            raise self.log.deny(Errno.ENOENT, where, rule.describe())

    def check_inode(self, rel: Rel, st: StatInfo) -> None:
        """ENOENT, recorded, when ``st`` is a hidden file reached by another name."""
        rule = self._hidden_inodes.get((st.dev, st.ino))
        if rule is not None and self._hidden_rule(rel) is None:
            raise self.log.deny(Errno.ENOENT, self.where(rel), f"the same file as {rule.guest}: {rule.describe()}")

    # -- read-only -----------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self.read_only:
            raise self.log.deny(Errno.EROFS, f"a change under {self.guest}", self.rule.describe())

    def refuse_write(self, rel: Rel) -> KernelError:
        """The recorded EROFS for a change to ``rel`` in a read-only grant."""
        return self.log.deny(Errno.EROFS, f"a change to {self.where(rel)}", self.rule.describe())

    # -- the Filesystem interface, with hiding ----------------------------------------------

    def lstat(self, rel: Rel) -> StatInfo:
        self.check_visible(rel)
        st = super().lstat(rel)
        self.check_inode(rel, st)
        if self.read_only:
            self.log.last_read_only = (f"a change to {self.where(rel)}", self.rule.describe())
        return st

    def readlink(self, rel: Rel) -> bytes:
        self.check_visible(rel)
        return super().readlink(rel)

    def open(self, rel: Rel, flags: int, mode: int, exists: bool) -> Handle:
        self.check_visible(rel)
        if not exists and self.read_only:
            raise self.refuse_write(rel)
        return super().open(rel, flags, mode, exists)

    def mkdir(self, rel: Rel, mode: int) -> None:
        self.check_visible(rel)
        super().mkdir(rel, mode)

    def symlink(self, target: bytes, rel: Rel) -> None:
        self.check_visible(rel)
        super().symlink(target, rel)

    def link(self, old: Rel, new: Rel) -> None:
        self.check_visible(new)
        super().link(old, new)

    def rename(self, old: Rel, new: Rel) -> None:
        self.check_visible(new)
        super().rename(old, new)

    def handle_for(self, fd: int, rel: Rel) -> HostFdHandle:
        try:
            handle = HostFdHandle(fd, self, rel)
        except BaseException:
            os.close(fd)
            raise
        try:
            self.check_inode(rel, handle.stat())
        except KernelError:
            handle.close()
            raise
        return handle

    def open_host(self, rel: Rel, host_flags: int, mode: int) -> HostFdHandle:
        """Open ``rel`` with host open flags as they are (the host backend's open)."""
        self.check_visible(rel)
        return self.handle_for(self.beneath.open(rel, host_flags, mode), rel)


class UngrantedRoot(Filesystem):
    """``/`` when no rule grants it: only the way to each grant exists; the rest is refused."""

    read_only = True

    def __init__(self, log: DenialLog, leads_to_grant: Callable[[str], bool]) -> None:
        self.log = log
        self._leads_to_grant = leads_to_grant
        self._stat = StatInfo(mode=S_IFDIR | 0o555, ino=2, dev=0, nlink=2)

    def _refuse(self, rel: Rel, errno: Errno = Errno.ENOENT) -> KernelError:
        where = join_guest("/", rel)
        if self._leads_to_grant(where):
            # Not a denial: the namespace shows the way to a grant as a directory of its own.
            return KernelError(Errno.ENOENT)
        return self.log.deny(errno, where, UNGRANTED_RULE)

    def __deepcopy__(self, memo: dict) -> "UngrantedRoot":
        return self  # no state of the guest's: a snapshot shares it (and its denial log)

    def statfs(self) -> FsStats:
        return FsStats(RAMFS_MAGIC, flags=ST_VALID | ST_RDONLY)

    def lstat(self, rel: Rel) -> StatInfo:
        if not rel:
            return self._stat
        raise self._refuse(rel)

    def readlink(self, rel: Rel) -> bytes:
        raise self._refuse(rel) if rel else KernelError(Errno.EINVAL)

    def open(self, rel: Rel, flags: int, mode: int, exists: bool) -> Handle:
        if not rel or (exists and self._leads_to_grant(join_guest("/", rel))):
            return listing_handle(self._stat, [])
        raise self._refuse(rel, Errno.ENOENT if exists else Errno.EACCES)

    def mkdir(self, rel: Rel, mode: int) -> None:
        raise self._refuse(rel, Errno.EACCES)

    def symlink(self, target: bytes, rel: Rel) -> None:
        raise self._refuse(rel, Errno.EACCES)

    def link(self, old: Rel, new: Rel) -> None:
        raise self._refuse(new, Errno.EACCES)

    def rename(self, old: Rel, new: Rel) -> None:
        raise self._refuse(new, Errno.EACCES)
