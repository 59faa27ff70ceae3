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


def _rlimit(arch: KernelArch) -> list[tuple[str, str]]:
    _, ulong = _word(arch)
    return [("rlim_cur", ulong), ("rlim_max", ulong)]


def _sigaction(arch: KernelArch) -> list[tuple[str, str]]:
    # The kernel's struct sigaction (not glibc's): handler, flags, restorer, then the mask.
    _, ulong = _word(arch)
    return [("sa_handler", ulong), ("sa_flags", ulong), ("sa_restorer", ulong), ("sa_mask", "Q")]


def _stack(arch: KernelArch) -> list[tuple[str, str]]:
    _, ulong = _word(arch)
    pad = [("_pad", "i")] if arch.bits == 64 else []
    return [("ss_sp", ulong), ("ss_flags", "i"), *pad, ("ss_size", ulong)]


def _itimer(inner: str) -> Callable[[KernelArch], list[tuple[str, str]]]:
    def fields(arch: KernelArch) -> list[tuple[str, str]]:
        long_, _ = _word(arch)
        second = "tv_nsec" if inner == "timespec" else "tv_usec"
        return [("it_interval.tv_sec", long_), (f"it_interval.{second}", long_),
                ("it_value.tv_sec", long_), (f"it_value.{second}", long_)]

    return fields


_EXTRA: dict[str, Callable[[KernelArch], list[tuple[str, str]]]] = {
    "tms": _tms,
    "timezone": lambda arch: [("tz_minuteswest", "i"), ("tz_dsttime", "i")],
    "rlimit": _rlimit,
    "rlimit64": lambda arch: [("rlim_cur", "Q"), ("rlim_max", "Q")],
    "sigaction": _sigaction,
    "stack_t": _stack,
    "sched_param": lambda arch: [("sched_priority", "i")],
    "itimerspec": _itimer("timespec"),
    "itimerval": _itimer("timeval"),
    "utimbuf": lambda arch: [("actime", _word(arch)[0]), ("modtime", _word(arch)[0])],
    "pollfd": lambda arch: [("fd", "i"), ("events", "h"), ("revents", "h")],
}
# Names the prototype table uses for structs kernel_model.structs defines.
_SHARED = {"stat": "stat", "timespec": "timespec", "timeval": "timeval", "iovec": "iovec",
           "utsname": "utsname", "winsize": "winsize", "termios": "termios"}

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
