"""Seeing every system call: strace lines, the register-level view, and JSON.

    from sandbox import Sandbox
    from sandbox.trace import strace_lines

    r = Sandbox("aarch64", trace=True).run_file("prog")
    print("\\n".join(strace_lines(r)))          # openat(AT_FDCWD, "data.txt", O_RDONLY) = 3 ...

A :class:`Tracer` observes a machine's trap path and keeps :class:`~sandbox.records.SyscallRecord`
objects whose ``captured`` holds the memory behind each argument as it was at the call. The
formats only render records: :class:`StraceFormat`, :class:`RegsFormat`, :class:`JsonFormat`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Iterable

FORMATS = ("strace", "regs", "json")

# Each name from its module, imported when first asked for: the command line reads FORMATS
# to build its options and loads the tracer only for a traced run.
_HOMES = {
    "JsonFormat": "jsonl", "RegsFormat": "regs", "StraceFormat": "strace", "TraceFilter": "filter",
    "TraceFormat": "tracer", "Tracer": "tracer", "signal_info": "tracer",
}

if TYPE_CHECKING:
    from sandbox.arch import Arch
    from sandbox.records import SyscallRecord
    from sandbox.terminal import Palette
    from sandbox.trace.filter import TraceFilter
    from sandbox.trace.jsonl import JsonFormat
    from sandbox.trace.regs import RegsFormat
    from sandbox.trace.strace import StraceFormat
    from sandbox.trace.tracer import TraceFormat, Tracer, signal_info


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def make_format(name: str, arch: Arch, palette: Palette | None = None, read_register: Any = None) -> TraceFormat:
    """The format called ``name`` (``strace``, ``regs`` or ``json``) for ``arch``."""
    from sandbox.trace.jsonl import JsonFormat
    from sandbox.trace.regs import RegsFormat
    from sandbox.trace.strace import StraceFormat

    if name == "strace":
        return StraceFormat(arch.name, arch.bits, palette)
    if name == "regs":
        return RegsFormat(arch, palette, read_register)
    if name == "json":
        return JsonFormat(arch.name, arch.bits)
    raise ValueError(f"unknown trace format {name!r}; choose from {', '.join(FORMATS)}")


def trace_lines(records: Iterable[SyscallRecord], format: str = "strace", arch: str | Arch | None = None,
                filter: TraceFilter | None = None) -> list[str]:
    """Each record as a line of ``format`` (records of a traced run show memory contents)."""
    from sandbox.arch import get_arch
    from sandbox.trace.filter import TraceFilter

    records = list(records)
    if not records:
        return []
    fmt = make_format(format, get_arch(arch or records[0].arch))
    flt = filter or TraceFilter()
    return [fmt.line(r) for r in records if flt.accepts(r.name)]


def strace_lines(result: Any, filter: TraceFilter | None = None) -> list[str]:
    """A run's calls as strace would print them, ending with ``+++ exited with N +++``.

    ``result`` is a :class:`~sandbox.api.RunResult` (run with ``trace=True`` to see strings
    and structs rather than addresses).
    """
    from sandbox.trace.strace import StraceFormat
    from sandbox.trace.tracer import signal_info

    lines = trace_lines(result.syscalls, "strace", result.arch, filter)
    fmt = StraceFormat(result.arch)
    ending = fmt.finish(result.exit_status, result.signal, signal_info(None, result.signal, result.fault))
    return lines + ending.splitlines()


__all__ = ["FORMATS", "JsonFormat", "RegsFormat", "StraceFormat", "TraceFilter", "TraceFormat", "Tracer",
           "make_format", "signal_info", "strace_lines", "trace_lines"]
