"""What a guest's kernel is built from: its mount table, its services and its call rules.

One builder serves both kernel modes. A :class:`~kernel_model.policy.Policy` (a file, the
command line's flags, or the default of a mode) becomes a :class:`World`:

- each ``ro``/``rw`` grant a :class:`~kernel_model.host.tree.HostDirectory` mounted at its
  guest path, each ``tmpfs`` an in-memory directory, each ``hidden`` path a hole in the mount
  table (nested as deep as the rules are written: a grant inside a hidden path inside a grant
  is reached by the way to it, and nothing else there exists);
- the files under a hidden path that another name could reach (the hidden directory itself,
  and its files with more than one link) hidden by identity too;
- the services the mode picks: the host's clocks and name, or the sandbox's own;
- the call rules: a denied call fails with its errno before any handler runs.

Nothing here serves a system call: the kernel model does, the same way whatever the world.
"""

from __future__ import annotations

import os
import stat as host_stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from kernel_model.filesystems import Filesystem, MemoryFilesystem
from kernel_model.fsnodes import StatInfo
from kernel_model.linux_errno import Errno
from kernel_model.policy import STREAMS, PathRule, Policy, PolicyError, default_policy
from kernel_model.seam import KernelError

if TYPE_CHECKING:
    from kernel_model.kernel import Mount
    from kernel_model.waits import HostWaits

UNGRANTED_RULE = "no path rule grants it (what no rule grants does not exist for the guest)"
NETWORK_RULE = "network.allow = false (the default: no network)"

# The calls whose answer comes from a service the configuration picks, by service. A policy's
# "host" or "model" for one of them picks the host's service or the sandbox's own.
SERVICE_CALLS: dict[str, tuple[str, ...]] = {
    "clock": ("clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep",
              "clock_gettime64", "clock_getres_time64", "clock_nanosleep_time64"),
    "uname": ("uname", "newuname", "olduname"),
    "random": ("getrandom",),
}
_SERVICE_OF = {call: service for service, calls in SERVICE_CALLS.items() for call in calls}


@dataclass(frozen=True)
class Services:
    """Which answers come from the host: its clocks (``host_clock``), its name and kernel
    release (``host_uname``), and its randomness even with a seed (``host_random``)."""

    host_clock: bool = False
    host_uname: bool = False
    host_random: bool = False


@dataclass
class World:
    """The guest's filesystems, hidden paths, services and call rules, ready for a kernel."""

    mounts: list[tuple[str, Filesystem, str]] = field(default_factory=list)  # guest path, fs, rule
    hidden: list[tuple[str, str]] = field(default_factory=list)  # guest path, rule
    hidden_inodes: list[tuple[int, int, str, str, bool]] = field(default_factory=list)  # dev, ino, guest, rule, dir
    denied: dict[str, tuple[Errno, str]] = field(default_factory=dict)  # call -> errno, rule
    services: Services = field(default_factory=Services)
    network: bool = False
    stdio: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(STREAMS, True))
    record_denials: bool = False  # write each refusal and its rule into the call's record
    ungranted_rule: str | None = None

    def close(self) -> None:
        """Release the host directories (when no kernel took them over)."""
        for _, fs, _ in self.mounts:
            fs.close()


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


def _inside(path: str, base: str) -> bool:
    return base == "/" or path == base or path.startswith(base.rstrip("/") + "/")


def build_world(
    policy: Policy,
    mode: str = "model",
    *,
    uid: int = 0,
    gid: int = 0,
    tmp_size: int = 1 << 30,
    waits: "HostWaits | None" = None,
    record_denials: bool | None = None,
) -> World:
    """Open every grant of ``policy`` (PolicyError, one line, when one cannot be opened).

    ``mode`` is ``"model"`` or ``"host"``: host mode's services are the host's. Refusals are
    recorded (``record_denials``) by default when a policy was given or in host mode.
    """
    from kernel_model.host.tree import HostDirectory

    world = World()
    world.record_denials = mode == "host" or policy.source != "default" if record_denials is None else record_denials
    rules = policy.path_rules()
    if world.record_denials and not any(r.guest == "/" and r.access != "hidden" for r in rules):
        world.ungranted_rule = UNGRANTED_RULE
    try:
        for rule in rules:
            if rule.access == "tmpfs":
                world.mounts.append((rule.guest, MemoryFilesystem(uid, gid, size=tmp_size), rule.describe()))
            elif rule.access in ("ro", "rw"):
                try:
                    fs = HostDirectory(rule.host_path, writable=rule.access == "rw", waits=waits)
                except (ValueError, KernelError) as e:
                    raise PolicyError(f"{rule.describe()}: {e}") from None
                world.mounts.append((rule.guest, fs, rule.describe()))
            elif rule.access == "hidden":
                world.hidden.append((rule.guest, rule.describe()))
                _hide_existing(world, rule, rules)
    except BaseException:
        world.close()
        raise
    world.denied = {
        name: (rule.errno or Errno.EPERM, rule.describe()) for name, rule in policy.calls.items() if rule.action == "deny"
    }
    if policy.default_call.action == "deny":
        world.denied["*"] = (policy.default_call.errno or Errno.EPERM, policy.default_call.describe())
    world.services = _services(policy, mode)
    world.network = policy.network
    world.stdio = dict(policy.stdio)
    return world


def _services(policy: Policy, mode: str) -> Services:
    chosen = {"clock": mode == "host", "uname": mode == "host", "random": False}
    for name, rule in policy.calls.items():
        service = _SERVICE_OF.get(name)
        if rule.action in ("host", "model"):
            if service is None:
                where = f"{rule.source} {name}" if rule.source.startswith("--") else (
                    f'{rule.source}: syscalls.{name} = "{rule.action}"')
                raise PolicyError(
                    f"{where}: {name} has no host service to choose: the kernel model serves it in both "
                    f"kernels (only the clocks, uname and getrandom have one; files reach the host through "
                    f"[paths] grants, sockets through [network])"
                )
            chosen[service] = rule.action == "host"
    return Services(host_clock=chosen["clock"], host_uname=chosen["uname"], host_random=chosen["random"])


def check_call_rules(policy: Policy) -> None:
    """PolicyError (one line) for a rule that asks for something no kernel has."""
    _services(policy, "model")


def _hide_existing(world: World, rule: PathRule, rules: list[PathRule]) -> None:
    """Hide by identity what a hidden rule covers that another name could reach.

    A hidden directory can be reached by another name if something outside the sandbox moves
    it, and a file under it by any other hard link: both are remembered by ``(dev, ino)``,
    found from the deepest grant that shows the hidden path (what does not exist yet is
    hidden by name only).
    """
    grants = [r for r in rules if r.access in ("ro", "rw") and _inside(rule.guest, r.guest)]
    if not grants:
        return
    grant = max(grants, key=lambda r: len(r.guest))
    rel = os.path.relpath(rule.guest, grant.guest)
    host = os.path.join(grant.host_path, rel) if rel != "." else grant.host_path
    try:
        st = os.lstat(host)
    except OSError:
        return  # hidden by name only: it does not exist (yet)
    info = StatInfo.from_host(st)
    is_dir = host_stat.S_ISDIR(st.st_mode)
    world.hidden_inodes.append((info.dev, info.ino, rule.guest, rule.describe(), is_dir))
    if not is_dir:
        return
    for dirpath, _, filenames in os.walk(host, followlinks=False):
        for name in filenames:
            try:
                sub_st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if sub_st.st_nlink > 1:
                sub = StatInfo.from_host(sub_st)
                world.hidden_inodes.append((sub.dev, sub.ino, rule.guest, rule.describe(), False))
