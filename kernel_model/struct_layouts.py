"""The layout of each struct a system call argument points to, by the prototype table's name.

``struct_layout("stat", arch)`` is what a tracer reads to show ``{st_mode=..., st_size=...}``
and what a backend copies in or out for that argument. Structs the kernel model already uses
come from :mod:`kernel_model.structs` (one definition each); the others, which only need to be
read, are listed here. A struct not known here is shown as its address.
"""

from __future__ import annotations

from typing import Callable

from kernel_model.seam import KernelArch
from kernel_model.structs import StructLayout, structs_for


def _word(arch: KernelArch) -> tuple[str, str]:
    return ("q", "Q") if arch.bits == 64 else ("i", "I")


def _tms(arch: KernelArch) -> list[tuple[str, str]]:
    long_, _ = _word(arch)
    return [("tms_utime", long_), ("tms_stime", long_), ("tms_cutime", long_), ("tms_cstime", long_)]


def _itimer(inner: str) -> Callable[[KernelArch], list[tuple[str, str]]]:
    def fields(arch: KernelArch) -> list[tuple[str, str]]:
        long_, _ = _word(arch)
        second = "tv_nsec" if inner == "timespec" else "tv_usec"
        return [("it_interval.tv_sec", long_), (f"it_interval.{second}", long_),
                ("it_value.tv_sec", long_), (f"it_value.{second}", long_)]

    return fields


def _siginfo(arch: KernelArch) -> list[tuple[str, str]]:
    # The kernel's 128-byte siginfo_t: signo, errno, code, then (aligned to a word) the union,
    # read as its SIGCHLD member (pid, uid, status, utime, stime); the other members alias it
    # (si_addr is the word at si_pid, si_int is si_status, si_ptr the word there).
    long_, _ = _word(arch)
    head = [("si_signo", "i"), ("si_errno", "i"), ("si_code", "i")]
    if arch.bits == 64:
        return head + [("_pad", "i"), ("si_pid", "i"), ("si_uid", "I"), ("si_status", "i"), ("si_status_next", "i"),
                       ("si_utime", long_), ("si_stime", long_), ("_rest", "80s")]
    return head + [("si_pid", "i"), ("si_uid", "I"), ("si_status", "i"), ("si_utime", long_), ("si_stime", long_),
                   ("_rest", "96s")]


_EXTRA: dict[str, Callable[[KernelArch], list[tuple[str, str]]]] = {
    "siginfo": _siginfo,
    "wait_status": lambda arch: [("status", "i")],  # the int wait4 fills in, decoded as strace does
    # clone3's struct clone_args as of Linux 5.3 (CLONE_ARGS_SIZE_VER0, 64 bytes); set_tid and
    # cgroup came later and are read only when the size says so (strace shows them when set)
    "clone_args": lambda arch: [(n, "Q") for n in ("flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack",
                                                   "stack_size", "tls")],
    "tms": _tms,
    "timezone": lambda arch: [("tz_minuteswest", "i"), ("tz_dsttime", "i")],
    "sched_param": lambda arch: [("sched_priority", "i")],
    "itimerspec": _itimer("timespec"),
    "itimerval": _itimer("timeval"),
    # packed on x86_64 (and i386, whose u64 aligns to 4): 12 bytes; a padded u64 elsewhere
    "epoll_event": lambda arch: [("events", "I"), ("data", "Q")] if arch.name in ("x86_64", "i386")
    else [("events", "I"), ("_pad", "I"), ("data", "Q")],
    "utimbuf": lambda arch: [("actime", _word(arch)[0]), ("modtime", _word(arch)[0])],
    "rusage": lambda arch: [(f"ru_{t}.{f}", _word(arch)[0]) for t in ("utime", "stime") for f in ("tv_sec", "tv_usec")]
    + [(f"ru_{n}", _word(arch)[0]) for n in ("maxrss", "ixrss", "idrss", "isrss", "minflt", "majflt", "nswap",
                                                "inblock", "oublock", "msgsnd", "msgrcv", "nsignals", "nvcsw", "nivcsw")],
}
# Structs kernel_model.structs defines, by the name the prototype table uses.
_SHARED = {name: name for name in (
    "stat", "timespec", "timeval", "iovec", "utsname", "winsize", "termios", "sigaction", "stack_t", "sysinfo",
    "rlimit", "rlimit64", "pollfd", "statx", "statfs")}

_CACHE: dict[tuple[str, KernelArch], StructLayout | None] = {}


def struct_layout(name: str, arch: KernelArch) -> StructLayout | None:
    """The layout of ``struct name`` on ``arch``, or None when it is not described."""
    key = (name, arch)
    if key in _CACHE:
        return _CACHE[key]
    layout: StructLayout | None = None
    if name in _SHARED:
        try:
            layout = getattr(structs_for(arch), _SHARED[name])
        except KeyError:
            layout = None  # an arch the kernel model has no layouts for yet
    elif name in _EXTRA:
        layout = StructLayout(name, _EXTRA[name](arch), arch.big_endian)
    _CACHE[key] = layout
    return layout


def known_structs() -> list[str]:
    """Every struct name :func:`struct_layout` can describe."""
    return sorted([*_SHARED, *_EXTRA])
