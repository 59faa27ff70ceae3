"""The guest's world under a policy: its filesystems, its stdio, and the backend serving it.

:func:`run_policy` folds the run's options (the current directory, ``--mount``, ``--rootfs``)
into a policy; :func:`build_world` turns the policy's path rules into the filesystems the
kernel model mounts (a :class:`HostTree` per grant, an in-memory directory per ``tmpfs``, an
:class:`UngrantedRoot` at ``/`` unless ``/`` is granted); :func:`confine` puts the backend in
front of the kernel and closes the streams the policy does not give the guest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from kernel_model.host.backend import HostBackend
from kernel_model.host.denials import DenialLog
from kernel_model.host.policy import STREAMS, PathRule, Policy, PolicyError, default_policy
from kernel_model.host.tree import HostTree, UngrantedRoot
from kernel_model.filesystems import Filesystem, MemoryFilesystem
from kernel_model.seam import KernelError

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel, Mount


def run_policy(
    mode: str,
    policy: Policy | None,
    *,
    cwd: str | None = None,
    mounts: Iterable["Mount"] = (),
    rootfs: str | None = None,
    tmp: bool = True,
) -> Policy:
    """The policy of one run: the given one (or the default for ``mode``) with the run's mounts.

    Without a policy the kernel model's default world is the current directory read-only and
    an in-memory ``/tmp``; host mode's is the current directory read-only and nothing else.
    """
    base = policy if policy is not None else default_policy(cwd, tmp=mode == "model" and tmp)
    extra = []
    if rootfs is not None:
        extra.append(PathRule("/", "ro", rootfs, "--rootfs"))
    for m in mounts:
        extra.append(PathRule(m.guest, "rw" if m.writable else "ro", m.host, "--mount"))
    return base.with_paths(extra)


@dataclass
class World:
    """The filesystems of one guest process and the log its refusals go to."""

    filesystems: dict[str, Filesystem] = field(default_factory=dict)
    log: DenialLog = field(default_factory=DenialLog)

    def close(self) -> None:
        """Release the host directories (when the kernel never took them over)."""
        for fs in self.filesystems.values():
            fs.close()


def _inside(path: str, base: str) -> bool:
    return base == "/" or path == base or path.startswith(base.rstrip("/") + "/")


def build_world(policy: Policy, uid: int = 0, gid: int = 0) -> World:
    """Open every grant of ``policy`` (PolicyError, one line, when one cannot be opened)."""
    world = World()
    rules = policy.path_rules()
    mount_points = [r.guest for r in rules if r.access != "hidden"]

    def leads_to_grant(guest: str) -> bool:
        return any(m != guest and _inside(m, guest) for m in mount_points)

    if "/" not in mount_points:
        world.filesystems["/"] = UngrantedRoot(world.log, leads_to_grant)
    try:
        for rule in rules:
            if rule.access == "tmpfs":
                world.filesystems[rule.guest] = MemoryFilesystem(uid, gid)
            elif rule.access in ("ro", "rw"):
                hidden = [
                    h for h in rules
                    if h.access == "hidden" and _inside(h.guest, rule.guest) and h.guest != rule.guest
                    and _deepest_mount(h.guest, mount_points) == rule.guest
                ]
                try:
                    world.filesystems[rule.guest] = HostTree(rule, hidden, world.log, leads_to_grant)
                except (ValueError, KernelError) as e:
                    raise PolicyError(f"{rule.describe()}: {e}") from None
    except BaseException:
        world.close()
        raise
    return world


def _deepest_mount(path: str, mount_points: list[str]) -> str | None:
    inside = [m for m in mount_points if _inside(path, m)]
    return max(inside, key=len) if inside else None


def confine(kernel: "Kernel", policy: Policy, mode: str, world: World) -> HostBackend:
    """Put a :class:`HostBackend` in front of ``kernel``; close the stdio the policy withholds."""
    backend = HostBackend(kernel, policy, mode, world.log)
    for fd, stream in enumerate(STREAMS):
        if not policy.stdio.get(stream, True) and fd in kernel.fds:
            kernel.fds.close(fd)
    return backend
