"""Syscall records: what the guest asked, what it got back, as plain data.

A machine that records (see :class:`CallLog`) only appends a tuple per call on its trap path;
records are built from those tuples the first time someone looks. The log keeps the last
calls only, so a guest making millions of calls runs in constant memory.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from kernel_model.linux_errno import Errno
from kernel_model.registry import CallingConvention
from sandbox.arch import Arch


# The raw form of one served call, as the trap path appends it:
# (pc, nr, name, args, value, errno or None, note, seconds since the run started, (pid, tid))
LogEntry = tuple

# How many calls a log keeps unless told otherwise (about 300 bytes each).
DEFAULT_RECORDS = 100_000


class CallLog(list):  # type: ignore[type-arg]
    """The raw entries of one process's served calls, oldest first: at most about ``limit``
    of the latest (None: all of them).

    A plain list underneath, so that the trap path appends at C speed. When it has grown an
    eighth past ``limit``, the trap path calls :meth:`trim`, which drops the oldest: ``base``
    counts the dropped ones, so an entry's number in the whole run is ``base`` + its index.
    ``captured`` holds, by that number, the memory a tracer read for the call.
    """

    def __init__(self, limit: int | None = DEFAULT_RECORDS) -> None:
        super().__init__()
        self.base = 0
        self.captured: dict[int, Mapping[str, Any] | None] = {}
        self.limit = limit

    @property
    def limit(self) -> int | None:
        """The number of calls kept (None: every call)."""
        return self._limit

    @limit.setter
    def limit(self, value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError("a call log keeps at least one call")
        self._limit = value
        # the trap path tests len(log) > high after each append: trimming is rare
        self.high = sys.maxsize if value is None else value + max(value // 8, 1)
        if len(self) > self.high:
            self.trim()

    @property
    def total(self) -> int:
        """How many calls were logged since the process started, dropped ones included."""
        return self.base + len(self)

    def trim(self) -> None:
        """Drop the oldest entries beyond ``limit``."""
        if self._limit is None or len(self) <= self._limit:
            return
        drop = len(self) - self._limit
        del self[:drop]
        self.base += drop
        if self.captured:
            self.captured = {n: c for n, c in self.captured.items() if n >= self.base}

    def since(self, number: int) -> list[LogEntry]:
        """The entries numbered ``number`` and after that are still kept."""
        return self[max(number - self.base, 0):]


@dataclass(frozen=True)
class SyscallRecord:
    """One system call as the guest made it and as the kernel answered it.

    ``args`` are the six raw argument registers; ``decoded`` maps each of the call's
    parameters (named as in the prototype table, :mod:`kernel_model.prototypes`) to its value
    as the kernel reads it (fd and int as signed 32-bit, pointers unsigned...), for every call,
    implemented or not (a 64-bit argument a 32-bit arch passes in two registers is one value).
    ``ret`` is the value written back to the return register: ``-errno`` for an error (``-9``
    for EBADF), the call's (non-negative) result otherwise, None when the call did not return
    (exit). ``errno`` is the error's name or None.
    ``captured`` is the memory behind the arguments as it was at the call (a path, the bytes
    ``read`` filled in), present when the run was traced (see :mod:`sandbox.trace`).
    ``pid`` and ``tid`` say which process and thread made the call (the first process is
    pid 1000; its children and threads count up from there).
    """

    arch: str
    nr: int
    name: str
    args: tuple[int, ...]
    decoded: dict[str, int]
    ret: int | None
    errno: str | None
    pc: int
    note: str | None = None
    time: float = 0.0
    implemented: bool = field(default=True, compare=False)
    captured: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    pid: int = field(default=0, compare=False)
    tid: int = field(default=0, compare=False)

    @classmethod
    def _of(cls, arch: str, nr: int, name: str, args: tuple[int, ...], decoded: dict[str, int], ret: int | None,
            errno: str | None, pc: int, note: str | None, time: float, implemented: bool,
            captured: Mapping[str, Any] | None, pid: int = 0, tid: int = 0) -> "SyscallRecord":
        # The same record without the frozen dataclass's __setattr__ per field, which costs
        # more than the rest of a traced call's bookkeeping (the fields in order, checked by
        # a test against the generated __init__).
        record = object.__new__(cls)
        record.__dict__.update(
            arch=arch, nr=nr, name=name, args=args, decoded=decoded, ret=ret, errno=errno, pc=pc, note=note,
            time=time, implemented=implemented, captured=captured, pid=pid, tid=tid,
        )
        return record

    @property
    def failed(self) -> bool:
        """Whether the call returned an error."""
        return self.errno is not None

    @property
    def error_message(self) -> str | None:
        """The errno's text (``Bad file descriptor``) or None."""
        return Errno[self.errno].message if self.errno else None

    def arg(self, name_or_index: str | int) -> int:
        """One decoded argument by parameter name, or a raw argument by index."""
        if isinstance(name_or_index, int):
            return self.args[name_or_index]
        return self.decoded[name_or_index]

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:#x}" if v > 9 else f"{k}={v}" for k, v in self.decoded.items())
        result = "?" if self.ret is None else (f"-1 {self.errno}" if self.errno else str(self.ret))
        return f"{self.name}({args}) = {result}"


def to_signed(value: int, bits: int) -> int:
    """``value`` read as a ``bits``-wide two's complement number."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def calling_convention(arch: Arch) -> CallingConvention:
    """How ``arch`` places system call arguments in registers (64-bit ones on 32-bit arches)."""
    return CallingConvention.of(arch)


def build_records(arch: Arch, log: Iterable[LogEntry], captured: Mapping[int, Mapping[str, Any] | None] | None = None,
                  first: int | None = None) -> list[SyscallRecord]:
    """Records from the engine's raw log entries (and, for a traced run, the memory each call's
    arguments pointed to, by entry number: ``first`` is the number of the first entry, the
    log's own ``base`` for a :class:`CallLog`, else 0)."""
    from kernel_model.prototypes import prototype  # the table is parsed when records are first built

    out = []
    if isinstance(log, CallLog):
        memory = log.captured if captured is None else captured
        first = log.base if first is None else first
    else:
        memory = captured or {}
    convention = calling_convention(arch)
    for index, (pc, nr, name, args, value, err, note, t, ids) in enumerate(log, first or 0):
        decoded = prototype(name, arch.name).decode(args, convention)
        out.append(
            SyscallRecord._of(
                arch.name, nr, name, args, decoded,
                # A success is the value as the handler gave it (a 32-bit arch's high addresses
                # stay positive); an error is the negative errno.
                None if value is None else (value if err is None else to_signed(value, arch.bits)),
                err.name if err is not None else None, pc, note, t, note != "unimplemented", memory.get(index), *ids,
            )
        )
    return out
