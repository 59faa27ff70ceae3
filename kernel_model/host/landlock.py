"""The second wall: the host kernel confines the process that makes host calls to the policy.

In ``--kernel host`` mode the kernel model's checks (the mount table, read-only grants, hidden
paths) are the first wall. A bug in them must still not reach outside the grants, so before
the first guest instruction the process that will make the host calls confines itself with
Landlock (Linux 5.13 and later): read-only grants readable, writable grants writable, nothing
else reachable but the sandbox's own code; TCP ``bind``/``connect`` only if the policy opens
the network (Landlock ABI 4); no signal to, and no abstract Unix socket of, any process
outside (ABI 6).

Landlock only adds rights, and a right on a directory holds for everything below it, so it
cannot take back a read-only or hidden path inside a writable grant. Those are made so by the
host kernel too, in a mount namespace of the process's own where it may have one (as root):
a read-only bind mount over each read-only path, an empty read-only tmpfs over each hidden
directory, ``/dev/null`` over each hidden file. Where that is not possible, :func:`plan`
says which nested rules only the first wall holds.
"""

from __future__ import annotations

import ctypes
import errno
import importlib.util
import os
import struct
from dataclasses import dataclass, field
from typing import Callable

from kernel_model.host.beneath import host_syscall_number, raw_syscall

# Access rights (include/uapi/linux/landlock.h), with the ABI that brought each.
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
READ_ONLY = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# mount(2) flags and unshare(2)'s.
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
CLONE_NEWNS = 0x00020000


def abi_version() -> int:
    """The Landlock ABI of the host kernel (0: none, or not Linux, or turned off)."""
    if host_syscall_number("landlock_create_ruleset") is None:
        return 0
    try:
        return raw_syscall("landlock_create_ruleset", None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except OSError:
        return 0


@dataclass(frozen=True)
class Grant:
    """One host directory (or file) the wall lets the process reach, and how."""

    host: str
    writable: bool
    why: str  # the rule, for messages


@dataclass(frozen=True)
class Cover:
    """A path inside a wider rule that the wall makes ``ro``, ``rw`` again, or ``hidden``.

    ``ways`` are the directories between the wider rule and it: each becomes a mount point
    too, so that none of them can be renamed or removed (EBUSY), which would carry the
    covered path out from under its name.
    """

    host: str
    mode: str  # "ro", "rw" or "hidden"
    why: str
    ways: tuple[str, ...] = ()

    @property
    def hidden(self) -> bool:
        """Whether nothing of it may be reached."""
        return self.mode == "hidden"


@dataclass
class WallPlan:
    """What the wall will do: the grants, what is covered inside them, and what it cannot hold."""

    grants: list[Grant] = field(default_factory=list)
    covers: list[Cover] = field(default_factory=list)
    network: bool = False

    def needs_mounts(self) -> bool:
        """Whether some rule is nested in a wider grant, which only a mount namespace holds."""
        return bool(self.covers)


def plan(rules: list, network: bool) -> WallPlan:
    """The wall for a policy's path rules (:class:`kernel_model.policy.PathRule`, shortest first).

    Every ``ro``/``rw`` rule is a grant; a rule whose access differs from the one of the rule
    around it (read-only inside writable, writable again inside that, hidden anywhere inside
    a grant) is also a cover.
    """
    out = WallPlan(network=network)
    granted = [r for r in rules if r.access in ("ro", "rw")]
    placed = [r for r in rules if r.access in ("ro", "rw", "hidden")]
    for rule in placed:
        host = _host_of(rule, granted)
        if host is None:
            continue  # a hidden path no grant shows: nothing to cover
        around = [r for r in placed if r is not rule and r.guest != rule.guest and _inside(rule.guest, r.guest)]
        outer = max(around, key=lambda r: len(r.guest)) if around else None
        if outer is not None and outer.access != rule.access:
            outer_host = _host_of(outer, granted) or host
            out.covers.append(Cover(host, rule.access, rule.describe(), _ways(outer_host, host)))
        if rule.access in ("ro", "rw"):
            out.grants.append(Grant(host, rule.access == "rw", rule.describe()))
    out.covers.sort(key=lambda c: c.host.count(os.sep))
    return out


def _ways(root: str, target: str) -> tuple[str, ...]:
    """The directories strictly between ``root`` and ``target`` (a path below it), outermost first."""
    rel = os.path.relpath(target, root)
    parts = [p for p in rel.split(os.sep) if p and p != "."]
    return tuple(os.path.join(root, *parts[:n]) for n in range(1, len(parts)))


def _inside(path: str, base: str) -> bool:
    return base == "/" or path == base or path.startswith(base.rstrip("/") + "/")


def _host_of(rule, granted: list) -> str | None:  # type: ignore[no-untyped-def]
    if rule.access in ("ro", "rw"):
        return rule.host_path
    holders = [g for g in granted if _inside(rule.guest, g.guest)]
    if not holders:
        return None
    grant = max(holders, key=lambda g: len(g.guest))
    rel = os.path.relpath(rule.guest, grant.guest)
    return grant.host_path if rel == "." else os.path.join(grant.host_path, rel)


def runtime_paths() -> list[str]:
    """The directories of the sandbox's own code (Python's library and the packages it uses),
    which the process still reads after it is confined: read-only, never writable."""
    paths = {os.path.dirname(os.__file__)}
    import _ctypes

    paths.add(os.path.dirname(_ctypes.__file__))  # lib-dynload
    for name in ("sandbox", "kernel_model", "unicorn", "capstone", "keystone", "elftools", "system_calls", "tomli"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None:
            for location in spec.submodule_search_locations or ([os.path.dirname(spec.origin)] if spec.origin else []):
                paths.add(location)
    return sorted(p for p in paths if os.path.isdir(p))


class WallError(Exception):
    """The wall could not be put up as asked (one line)."""


@dataclass
class WallReport:
    """What was put up: the Landlock ABI (0: none) and whether the nested rules hold in the kernel."""

    abi: int
    mounts: bool
    unheld: list[str] = field(default_factory=list)  # rules only the first wall holds

    def line(self) -> str | None:
        """One line for the user when the wall is less than the whole policy (else None)."""
        if self.abi == 0:
            return ("the host kernel has no Landlock: host mode is confined by the policy's own checks only "
                    "(--require-landlock refuses to run so)")
        if self.unheld:
            return (f"the kernel wall cannot hold {self.unheld[0]}{' and ' + str(len(self.unheld) - 1) + ' more' if len(self.unheld) > 1 else ''} "
                    "inside a wider grant without a mount namespace (root's): the policy's own checks hold it")
        return None


def confine(wall: WallPlan, *, require: bool = False, after_mounts: Callable[[], None] | None = None) -> WallReport:
    """Confine this process (and its later threads) to ``wall``. Call it single-threaded,
    before any guest instruction runs. WallError (one line) when ``require`` and it falls short.

    A directory descriptor opened before the mount namespace sees the old mounts: with covers,
    ``after_mounts`` is called once they are up, to open such descriptors again.
    """
    abi = abi_version()
    if abi == 0:
        if require:
            raise WallError("--require-landlock: the host kernel has no Landlock (Linux 5.13+, enabled in the LSM list)")
        return WallReport(0, False)
    mounts = False
    unheld: list[str] = []
    if wall.needs_mounts():
        mounts = _cover_with_mounts(wall.covers)
        if mounts and after_mounts is not None:
            after_mounts()
        if not mounts:
            unheld = [c.why for c in wall.covers]
            if require:
                raise WallError(f"--require-landlock: the kernel wall cannot hold {unheld[0]} (a rule inside a wider "
                                "grant needs a mount namespace, which only root may make here)")
    _restrict(wall, abi)
    return WallReport(abi, mounts, unheld)


def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(None, use_errno=True)
    return lib


def _cover_with_mounts(covers: list[Cover]) -> bool:
    """Make each cover so in a mount namespace of this process's own; False if it cannot.

    Covers go on outermost first. What is covered later by a hidden directory (an empty tmpfs)
    is reached through a descriptor taken before; the way to a grant inside a hidden path is
    made in that tmpfs, which becomes read-only last.
    """
    if os.geteuid() != 0:
        return False
    lib = _libc()
    if lib.unshare(CLONE_NEWNS) != 0:
        return False
    if lib.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False

    def fail(what: str, why: str) -> WallError:
        return WallError(f"the kernel wall could not {what} for {why}: {os.strerror(ctypes.get_errno())}")

    held = {}
    for cover in covers:
        if os.path.lexists(cover.host):
            held[cover.host] = os.open(cover.host, getattr(os, "O_PATH", os.O_RDONLY) | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        hidden_dirs = [c.host for c in covers if c.hidden and os.path.isdir(c.host)]
        pinned: set[str] = set()
        for cover in covers:
            for way in cover.ways:
                if way in pinned or any(_inside(way, h) for h in hidden_dirs) or not os.path.isdir(way):
                    continue
                if lib.mount(os.fsencode(way), os.fsencode(way), None, MS_BIND, None) != 0:
                    raise fail(f"pin {way}", cover.why)
                pinned.add(way)
        tmpfs: list[str] = []
        for cover in covers:
            fd = held.get(cover.host)
            if fd is None:
                continue  # hidden by name only (the first wall); nothing there yet to cover
            target = os.fsencode(cover.host)
            inside_tmpfs = any(_inside(cover.host, t) and cover.host != t for t in tmpfs)
            if inside_tmpfs:  # the way to it, made in the tmpfs that hides what is around it
                if os.path.isdir(f"/proc/self/fd/{fd}"):
                    os.makedirs(cover.host, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(cover.host), exist_ok=True)
                    open(cover.host, "a").close()
            if cover.hidden:
                if os.path.isdir(f"/proc/self/fd/{fd}"):
                    if lib.mount(b"none", target, b"tmpfs", 0, b"size=64k,mode=0755") != 0:
                        raise fail(f"hide {cover.host}", cover.why)
                    tmpfs.append(cover.host)
                elif lib.mount(b"/dev/null", target, None, MS_BIND, None) != 0:
                    raise fail(f"hide {cover.host}", cover.why)
                continue
            source = os.fsencode(f"/proc/self/fd/{fd}")
            flags = MS_BIND | MS_REMOUNT | (MS_RDONLY if cover.mode == "ro" else 0)
            if lib.mount(source, target, None, MS_BIND | MS_REC, None) != 0 or lib.mount(None, target, None, flags, None) != 0:
                raise fail(f"make {cover.host} {cover.mode}", cover.why)
        for path in tmpfs:
            if lib.mount(None, os.fsencode(path), None, MS_REMOUNT | MS_RDONLY, b"size=64k,mode=0755") != 0:
                raise fail(f"seal {path}", path)
    finally:
        for fd in held.values():
            os.close(fd)
    return True


def _restrict(wall: WallPlan, abi: int) -> None:
    handled_fs = _FS_BY_ABI.get(abi, _FS_BY_ABI[5])
    handled_net = 0 if wall.network or abi < 4 else NET_BIND_TCP | NET_CONNECT_TCP
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    if abi >= 6:
        attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    elif abi >= 4:
        attr = struct.pack("=QQ", handled_fs, handled_net)
    else:
        attr = struct.pack("=Q", handled_fs)
    buf = ctypes.create_string_buffer(attr, len(attr))
    try:
        ruleset = raw_syscall("landlock_create_ruleset", buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    except OSError as e:
        raise WallError(f"Landlock refused the ruleset: {e.strerror}") from None
    try:
        for path in runtime_paths():
            _add(ruleset, path, READ_ONLY & handled_fs)
        for grant in wall.grants:
            _add(ruleset, grant.host, (handled_fs if grant.writable else READ_ONLY) & handled_fs, grant.why)
        if _libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise WallError(f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(ctypes.get_errno())}")
        try:
            raw_syscall("landlock_restrict_self", ctypes.c_int(ruleset), ctypes.c_uint32(0))
        except OSError as e:
            raise WallError(f"Landlock refused to confine the process: {e.strerror}") from None
    finally:
        os.close(ruleset)


def _add(ruleset: int, path: str, access: int, why: str = "") -> None:
    try:
        fd = os.open(path, getattr(os, "O_PATH", os.O_RDONLY) | os.O_CLOEXEC)
    except OSError as e:
        raise WallError(f"{why or path}: {e.strerror}") from None
    try:
        if not os.path.isdir(path):
            # a file takes only the rights a file has (no directory rights)
            access &= FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
        attr = ctypes.create_string_buffer(struct.pack("=Qi", access, fd), 12)
        raw_syscall("landlock_add_rule", ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), attr,
                    ctypes.c_uint32(0))
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise WallError(f"{why or path}: Landlock refused the rule: {e.strerror}") from None
    finally:
        os.close(fd)


def wall_for(policy) -> WallPlan:  # type: ignore[no-untyped-def]
    """The wall for a :class:`kernel_model.policy.Policy`."""
    return plan(policy.path_rules(), policy.network)


