"""The sandbox's resource limits: what each one means, its defaults, and how it reads on the CLI.

Each limit ends or constrains the guest the way Linux would:

- ``timeout``: seconds of wall-clock time. The guest is killed as SIGKILL kills (status 137),
  even inside a long sleep or a read of a terminal;
- ``max_insns``: an instruction budget, like RLIMIT_CPU counted in instructions rather than
  seconds; when it is used up the guest gets SIGXCPU (status 152). Counting costs: Unicorn
  then calls a counter (in C) before every instruction, which makes generated code several
  times slower, so it is off unless asked for;
- ``max_memory``: bytes of address space (RLIMIT_AS, soft and hard): an ``mmap`` or ``brk``
  beyond it fails with ENOMEM, and the guest decides what to do about it. It holds for every
  process together: a ``fork`` whose copy would pass it fails with ENOMEM too;
- ``max_fds``: open descriptors (RLIMIT_NOFILE, soft and hard): beyond it, EMFILE;
- ``max_processes``: processes alive at once, the first included (RLIMIT_NPROC, soft and
  hard): a ``fork`` or ``clone`` beyond it fails with EAGAIN, so a fork loop ends there.
  Threads do not count, as on Linux, where RLIMIT_NPROC counts them: a thread costs the
  host little here, while each process has an engine of its own (about 3 MB);
- ``max_output``: bytes the guest may write to stdout and stderr together. Linux has no
  limit on a pipe, so this one behaves as RLIMIT_FSIZE does for a file: the write that
  reaches the limit is cut short, the next one raises SIGXFSZ (status 153) and, if the
  guest ignores or handles it, fails with EFBIG.

None of ``max_memory``, ``max_fds`` and ``max_processes`` can be raised by the guest, not even as root: the
sandbox's limits are a ceiling, as a container's are to the root inside it.

The Python API defaults (:data:`API_DEFAULTS`) suit untrusted code in a test suite; the
command line (:data:`UNLIMITED`) behaves like a shell, with no limit unless asked for.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from fractions import Fraction

from kernel_model.seam import ProcessExit
from kernel_model.signals import DESCRIPTIONS, signal_number
from sandbox.errors import SandboxError


@dataclass(frozen=True)
class Limits:
    """The six limits of a sandbox; None means unlimited."""

    timeout: float | None = None
    max_insns: int | None = None
    max_memory: int | None = None
    max_fds: int | None = None
    max_output: int | None = None
    max_processes: int | None = None


# The Python API: a runaway test ends in half a minute, and neither its memory, its
# descriptors nor its captured output can take the host's. No instruction budget: counting
# slows guest code several times, and the timeout already ends an endless loop.
API_DEFAULTS = Limits(timeout=30.0, max_insns=None, max_memory=1 << 30, max_fds=1024, max_output=64 << 20,
                      max_processes=256)
# The command line: like running the program in a shell.
UNLIMITED = Limits()

_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_COUNT_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_TIME_UNITS = {"": 1.0, "s": 1.0, "ms": 0.001, "m": 60.0, "min": 60.0, "h": 3600.0}
_NUMBER = r"\s*(\d+(?:\.\d*)?|\.\d+)\s*"


def parse_size(text: str) -> int:
    """Bytes from ``"4096"``, ``"64K"``, ``"64M"``, ``"1.5G"`` (binary units, as ``ulimit`` and
    ``docker -m`` read them; ``MB``, ``MiB`` and lower case are accepted too)."""
    m = re.fullmatch(_NUMBER + r"([kKmMgGtT]?)(?:i?[bB])?\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not a size: expected bytes, or a number with K, M, G or T (64M, 1.5G)")
    # Exactly what was written, however long: a float would read 10**23 as 99999999999999991611392.
    value = Fraction(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]
    if value.denominator != 1:
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return int(value)


def parse_count(text: str) -> int:
    """A count from ``"1000000"``, ``"1_000_000"``, ``"10M"``, ``"2.5G"`` (decimal units)."""
    m = re.fullmatch(_NUMBER + r"([kKmMgGtT]?)\s*", text.replace("_", ""))
    if not m:
        raise ValueError(f"{text!r} is not a count: expected a whole number, or one with K, M or G (10M)")
    value = Fraction(m.group(1)) * _COUNT_UNITS[m.group(2).upper()]  # exact, as in parse_size
    if value.denominator != 1:
        raise ValueError(f"{text!r} is not a whole number")
    return int(value)


def parse_duration(text: str) -> float:
    """Seconds from ``"2"``, ``"0.5"``, ``"500ms"``, ``"2s"``, ``"1m"``, ``"1h"``."""
    m = re.fullmatch(_NUMBER + r"(ms|s|min|m|h)?\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not a duration: expected seconds (2, 0.5), or 500ms, 2s, 1m, 1h")
    return float(m.group(1)) * _TIME_UNITS[m.group(2) or ""]


def checked(limits: Limits) -> Limits:
    """``limits`` if every value makes sense; SandboxError naming the first that does not."""
    if limits.timeout is not None and not limits.timeout > 0:
        raise SandboxError(f"timeout {limits.timeout:g}: must be more than 0 seconds")
    for name in ("max_insns", "max_memory", "max_output"):
        value = getattr(limits, name)
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise SandboxError(f"{name} {value!r}: must be a whole number more than 0")
    if limits.max_fds is not None and (not isinstance(limits.max_fds, int) or not 0 <= limits.max_fds <= 1 << 20):
        raise SandboxError(f"max_fds {limits.max_fds!r}: must be a whole number from 0 to 1048576")
    value = limits.max_processes
    if value is not None and (not isinstance(value, int) or not 1 <= value <= 1 << 22):
        raise SandboxError(f"max_processes {value!r}: must be a whole number from 1 to 4194304")
    return limits


# -- how a limit ends the guest --------------------------------------------------------------


def _killed(signal: str, what: str) -> ProcessExit:
    return ProcessExit(signal=signal_number(signal), reason=f"{signal} ({DESCRIPTIONS[signal]}): {what}")


def timeout_exit(seconds: float) -> ProcessExit:
    """The end of a guest whose wall-clock time is up: SIGKILL, as ``timeout -s KILL`` does."""
    return _killed("SIGKILL", f"wall-clock timeout of {format_seconds(seconds)} reached")


def budget_exit(instructions: int) -> ProcessExit:
    """The end of a guest whose instruction budget is used up: SIGXCPU, as RLIMIT_CPU sends."""
    return _killed("SIGXCPU", f"instruction budget of {instructions:,} used up")


def format_seconds(seconds: float) -> str:
    """``2s``, ``0.5s``, ``90s``."""
    return f"{seconds:g}s"


def format_size(size: int) -> str:
    """``64M``, ``1.5G``, ``4097`` (the shortest exact form in binary units)."""
    for unit in ("T", "G", "M", "K"):
        scale = _SIZE_UNITS[unit]
        if size >= scale and (size * 10) % scale == 0:
            return f"{size / scale:g}{unit}"
    return str(size)


# -- the command line ------------------------------------------------------------------------


class _LimitOption(argparse.Action):
    """A limit's option: read as its unit says, exactly, and checked at once, so that an error
    shows the value as the user typed it (``--max-fds 99999999999999999999999: ...``)."""

    def __init__(self, option_strings: list[str], dest: str, *, parse, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(option_strings, dest, **kw)
        self.parse = parse

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[no-untyped-def]
        text = str(values)
        try:
            value = self.parse(text)
        except ValueError as e:
            parser.error(f"{option_string}: {e}")
        try:
            checked(Limits(**{self.dest: value}))
        except SandboxError as e:
            parser.error(f"{option_string} {text}: {str(e).split(': ', 1)[-1]}")
        setattr(namespace, self.dest, value)


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """``--timeout``, ``--max-insns``, ``--max-memory``, ``--max-fds``, ``--max-processes``, ``--max-output``."""
    group = parser.add_argument_group("limits (none unless given)")
    group.add_argument(
        "--timeout", action=_LimitOption, parse=parse_duration, metavar="SECONDS",
        help="kill the guest (SIGKILL, status 137) after this much wall-clock time: 10, 0.5, 500ms, 2m",
    )
    group.add_argument(
        "--max-insns", action=_LimitOption, parse=parse_count, metavar="N",
        help="an instruction budget; when used up the guest gets SIGXCPU (status 152). Counting makes "
        "guest code several times slower",
    )
    group.add_argument(
        "--max-memory", action=_LimitOption, parse=parse_size, metavar="BYTES",
        help="address space of all processes together (RLIMIT_AS): mmap, brk and fork beyond it get ENOMEM; 64M, 1G",
    )
    group.add_argument(
        "--max-fds", action=_LimitOption, parse=parse_count, metavar="N",
        help="open descriptors (RLIMIT_NOFILE): beyond it, EMFILE",
    )
    group.add_argument(
        "--max-processes", action=_LimitOption, parse=parse_count, metavar="N",
        help="processes alive at once, the first included (RLIMIT_NPROC): fork and clone beyond it get EAGAIN",
    )
    group.add_argument(
        "--max-output", action=_LimitOption, parse=parse_size, metavar="BYTES",
        help="bytes of stdout and stderr together; then SIGXFSZ (status 153), as RLIMIT_FSIZE does for a file",
    )


def limits_from_args(args: argparse.Namespace) -> Limits:
    """The limits the command line asked for (unlimited where it said nothing)."""
    given = {name: getattr(args, name, None) for name in ("timeout", "max_insns", "max_memory", "max_fds", "max_output",
                                                   "max_processes")}
    try:
        return checked(Limits(**given))
    except SandboxError as e:
        name, _, rest = str(e).partition(" ")
        raise SandboxError(f"--{name.replace('_', '-')} {rest}") from None


_REFUSALS = {
    "max_memory": ("--max-memory", "memory request", "ENOMEM"),
    "max_fds": ("--max-fds", "new descriptor", "EMFILE"),
    "max_processes": ("--max-processes", "fork", "EAGAIN"),
    "max_output": ("--max-output", "write", "cut short or EFBIG"),
}


def refusal_notes(result: "RunResult") -> list[str]:  # noqa: F821 - sandbox.api.RunResult
    """One line per limit that refused the guest something, so that a failure it caused is
    not a mystery: ``--max-memory refused 3 memory requests (ENOMEM)``."""
    notes = []
    for name, count in result.refused.items():
        if name == result.limit:
            continue  # the line that says how the guest ended names it already
        option, what, errno = _REFUSALS[name]
        notes.append(f"{option} refused {count} {what}{'s' if count != 1 else ''} ({errno})")
    return notes
