"""Which calls a trace shows: strace's ``-e trace=SET`` expressions.

``SET`` is a comma-separated list of system call names, ``%class`` names (``%file``,
``%desc``, ``%memory``...), ``/regex`` patterns, ``all`` or ``none``; a leading ``!`` shows
everything but the set. ``%file`` and ``%desc`` come from the prototype table (calls with a
path argument; calls with a descriptor argument or result), the other classes are listed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from kernel_model.prototypes import all_prototypes
from sandbox.errors import SandboxError

_LISTED: dict[str, frozenset[str]] = {
    "memory": frozenset({
        "brk", "mmap", "mmap2", "munmap", "mprotect", "pkey_mprotect", "mremap", "madvise", "process_madvise",
        "msync", "mlock", "mlock2", "munlock", "mlockall", "munlockall", "mincore", "remap_file_pages", "mbind",
        "get_mempolicy", "set_mempolicy", "set_mempolicy_home_node", "migrate_pages", "move_pages",
        "map_shadow_stack", "mseal", "shmat", "shmdt"}),
    "process": frozenset({
        "clone", "clone3", "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
        "waitpid", "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open",
        "pidfd_send_signal", "unshare", "arch_prctl"}),
    "signal": frozenset({
        "kill", "tkill", "tgkill", "pause", "rt_sigaction", "rt_sigprocmask", "rt_sigpending", "rt_sigsuspend",
        "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigreturn",
        "sigreturn", "sigaltstack", "sigaction", "sigprocmask", "sigpending", "sigsuspend", "signal", "sgetmask",
        "ssetmask", "signalfd", "signalfd4", "pidfd_send_signal"}),
    "network": frozenset({
        "socket", "socketpair", "bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername",
        "sendto", "recvfrom", "send", "recv", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "recvmmsg_time64",
        "shutdown", "setsockopt", "getsockopt", "socketcall"}),
    "ipc": frozenset({
        "ipc", "semget", "semop", "semtimedop", "semtimedop_time64", "semctl", "shmget", "shmat", "shmdt",
        "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl"}),
    "clock": frozenset({
        "time", "stime", "gettimeofday", "settimeofday", "adjtimex", "clock_gettime", "clock_settime",
        "clock_getres", "clock_adjtime", "clock_gettime64", "clock_settime64", "clock_getres_time64",
        "clock_adjtime64"}),
    "creds": frozenset({
        "getuid", "geteuid", "getgid", "getegid", "setuid", "setgid", "setreuid", "setregid", "setresuid",
        "setresgid", "getresuid", "getresgid", "setfsuid", "setfsgid", "getgroups", "setgroups", "capget",
        "capset", "prctl", "getuid32", "geteuid32", "getgid32", "getegid32", "setuid32", "setgid32",
        "setreuid32", "setregid32", "setresuid32", "setresgid32", "getresuid32", "getresgid32", "setfsuid32",
        "setfsgid32", "getgroups32", "setgroups32"}),
    "stat": frozenset({"stat", "stat64", "oldstat", "newfstatat", "fstatat64", "statx"}),
    "lstat": frozenset({"lstat", "lstat64", "oldlstat", "newfstatat", "fstatat64", "statx"}),
    "fstat": frozenset({"fstat", "fstat64", "oldfstat", "newfstatat", "fstatat64", "statx"}),
    "statfs": frozenset({"statfs", "statfs64"}),
    "fstatfs": frozenset({"fstatfs", "fstatfs64"}),
    "pure": frozenset({"getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getpgrp",
                       "getuid32", "geteuid32", "getgid32", "getegid32", "sgetmask"}),
}


@lru_cache(maxsize=None)
def syscall_class(name: str) -> frozenset[str]:
    """The calls in ``%name`` (ValueError for a class that does not exist)."""
    protos = all_prototypes()
    if name == "file":
        return frozenset(n for n, p in protos.items() if any(q.kind == "path" for q in p.params))
    if name == "desc":
        return frozenset(n for n, p in protos.items()
                         if any(q.kind in ("fd", "dirfd") for q in p.params) or p.ret_kind == "fd")
    if name == "%stat":  # written %%stat: every stat variant
        return _LISTED["stat"] | _LISTED["lstat"] | _LISTED["fstat"]
    if name == "%statfs":
        return _LISTED["statfs"] | _LISTED["fstatfs"]
    if name in _LISTED:
        return _LISTED[name]
    raise ValueError(name)


def class_names() -> list[str]:
    """The ``%class`` names understood."""
    return sorted(["file", "desc", *_LISTED, "%stat", "%statfs"])


@dataclass(frozen=True)
class TraceFilter:
    """A set of call names to show (``negated``: to hide); ``accepts`` is checked once per call."""

    names: frozenset[str] = frozenset()
    patterns: tuple[re.Pattern[str], ...] = ()
    negated: bool = True  # the default filter: hide nothing

    def accepts(self, name: str) -> bool:
        """Whether a call named ``name`` is shown."""
        hit = name in self.names or any(p.search(name) for p in self.patterns)
        return hit != self.negated

    @staticmethod
    def parse(expressions: list[str] | None) -> "TraceFilter":
        """Parse ``-e`` arguments (``trace=open,read``, ``trace=%file``, ``!write``...)."""
        if not expressions:
            return TraceFilter()
        names: set[str] = set()
        patterns: list[re.Pattern[str]] = []
        negated = False
        known = set(all_prototypes())
        for expr in expressions:
            qualifier, sep, spec = expr.partition("=")
            if not sep:
                qualifier, spec = "trace", expr
            if qualifier not in ("trace", "t"):
                raise SandboxError(f"-e {expr}: only trace= is supported")
            if spec.startswith("!"):
                negated, spec = True, spec[1:]
            for item in filter(None, (s.strip() for s in spec.split(","))):
                optional = item.startswith("?")
                item = item.lstrip("?")
                if item == "all":
                    names |= known
                    continue
                if item == "none":
                    continue
                if item.startswith("/"):
                    try:
                        patterns.append(re.compile(item[1:]))
                    except re.error as e:
                        raise SandboxError(f"-e {expr}: bad regular expression {item[1:]!r}: {e}") from None
                    continue
                if item.startswith("%"):
                    try:
                        names |= syscall_class(item[1:])
                    except ValueError:
                        raise SandboxError(f"-e {expr}: unknown class {item!r}; known: "
                                         + ", ".join("%" + c for c in class_names())) from None
                    continue
                if item not in known and not optional:
                    raise SandboxError(f"-e {expr}: invalid system call {item!r}")
                names.add(item)
        return TraceFilter(frozenset(names), tuple(patterns), negated)
