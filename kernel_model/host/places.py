"""Where a host handler's path or descriptor lands: in a granted host directory, or not.

A host handler resolves its path in the guest's view (the kernel model's namespace: ``..``
stops at the guest's root, links are read and followed in the guest's view, the policy's
refusals are recorded on the way), then asks :func:`host_place` whether the result lies in a
granted host directory. If it does, the handler makes the host call there, from the grant's
own descriptor; if not (``/proc``, ``/dev``, a ``tmpfs``, a pipe), the object is the model's and
the handler lets the model serve the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, TypeVar

from kernel_model.host.tree import HostFdHandle, HostTree
from kernel_model.fdtable import OpenFile
from kernel_model.fsnodes import host_call
from kernel_model.linux_errno import Errno
from kernel_model.seam import KernelError
from kernel_model.vfs import GuestPath, Location, split_path

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel

T = TypeVar("T")
Rel = tuple[str, ...]


@dataclass(frozen=True)
class HostPlace:
    """A resolved guest path inside a granted host directory."""

    tree: HostTree
    rel: Rel
    loc: Location

    @property
    def is_grant_root(self) -> bool:
        """Whether it is the granted directory itself (a mount point: it cannot be removed)."""
        return not self.rel

    def writable(self) -> None:
        """EROFS, recorded with the rule, unless the grant is ``rw``."""
        if self.tree.read_only:
            raise self.tree.refuse_write(self.rel)

    def at(self, call: Callable[[int, str], T]) -> T:
        """``call(directory_fd, name)`` for the last component, host errors as Linux errnos."""
        with self.tree.beneath.parent(self.rel) as (fd, name):
            return host_call(call, fd, name)


def mounts_below(k: "Kernel", path: GuestPath) -> bool:
    """Whether something is mounted below ``path`` (its listing is the namespace's to make)."""
    n = len(path)
    for guest, _ in k.ns.mounts():
        mount = split_path(guest)
        if len(mount) > n and mount[:n] == path:
            return True
    return False


def host_place(k: "Kernel", loc: Location) -> HostPlace | None:
    """The host place of a resolved location, or None when the model owns what is there."""
    if loc.magic:
        return None
    fs, rel = k.ns.filesystem_of(loc.path)
    if not isinstance(fs, HostTree):
        return None
    fs.check_visible(rel)  # a hidden name cannot be created either
    return HostPlace(fs, rel, loc)


def host_file(of: OpenFile) -> HostFdHandle | None:
    """The host descriptor behind an open file the host backend opened, or None."""
    handle = of.handle
    return handle if isinstance(handle, HostFdHandle) else None


def opened_for_guest(of: OpenFile) -> int | None:
    """The host descriptor of a file or socket the host backend opened for the guest, or None.

    The sandbox's own stdio are host descriptors too, but shared with whoever started it:
    their status flags are left alone.
    """
    from kernel_model.host.network import HostSocketHandle

    handle = of.handle
    return handle.host_fd() if isinstance(handle, (HostFdHandle, HostSocketHandle)) else None


def changeable_file(of: OpenFile) -> HostFdHandle | None:
    """Like :func:`host_file`, after the EROFS check of its grant (fchmod, fchown, futimens)."""
    handle = host_file(of)
    if handle is not None and handle.tree.read_only:
        raise handle.tree.refuse_write(handle.rel)
    return handle


def same_tree(a: HostPlace | None, b: HostPlace | None) -> bool:
    """Whether two places are in one grant (EXDEV when only one of them is a host place)."""
    if a is None and b is None:
        return False
    if a is None or b is None or a.tree is not b.tree:
        raise KernelError(Errno.EXDEV)
    return True
