"""What a debugger can stop on: breakpoints, syscall catchpoints, watchpoints, and the stop itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kernel_model.seam import SyscallRequest
from sandbox.engine import FaultReport

WATCH_KINDS = ("write", "read", "access")


@dataclass(eq=False)
class Breakpoint:
    """Stop before the instruction at ``address`` runs. ``location`` is how the user named it.

    A ``temporary`` one (``tbreak``) is deleted when first hit; an ``internal`` one is the
    debugger's own (``until``, ``next``) and is not numbered for the user.
    """

    number: int
    address: int
    location: str
    hits: int = 0
    temporary: bool = False
    internal: bool = False
    # The processes (pids) it stops; None: every one. ``tid`` (the debugger's own, for
    # ``until`` and ``next``): only that task.
    processes: set[int] | None = None
    tid: int | None = None


@dataclass(eq=False)
class SyscallCatch:
    """Stop at the entry and/or return of the named system calls (all of them when ``numbers`` is None)."""

    number: int
    numbers: frozenset[int] | None
    names: tuple[str, ...]
    entry: bool = True
    exit: bool = True
    hits: int = 0

    def matches(self, nr: int) -> bool:
        """Whether this catchpoint covers system call number ``nr``."""
        return self.numbers is None or nr in self.numbers

    @property
    def label(self) -> str:
        """What it catches, for listings: ``syscall write, read`` or ``any syscall``."""
        return "syscall " + ", ".join(self.names) if self.names else "any syscall"


@dataclass(eq=False)
class Watchpoint:
    """Stop when the guest writes (and the bytes change), reads, or accesses ``[address, address+length)``.

    ``value`` is the watched bytes as last seen. Writes by the kernel model (a ``read()`` into
    the buffer) are noticed at the system call's return.
    """

    number: int
    address: int
    length: int
    kind: str
    expression: str
    value: bytes = b""
    hits: int = 0
    handle: int | None = field(default=None, repr=False)
    machine: Any = field(default=None, repr=False)  # a weak reference to the address space it watches


@dataclass
class WatchHit:
    """A watchpoint that fired: the access, and the watched bytes before and after it."""

    watchpoint: Watchpoint
    address: int
    size: int
    is_write: bool
    old: bytes
    new: bytes
    pc: int
    by_syscall: str | None = None  # the system call whose kernel side wrote the bytes


@dataclass
class StopEvent:
    """Why the guest stopped and where.

    ``reason`` is one of ``step``, ``breakpoint``, ``watchpoint``, ``syscall-entry``,
    ``syscall-return``, ``exited``, ``signal``, ``interrupted``, ``history-start``, and for
    a guest of several processes ``fork``, ``vfork``, ``vforkdone``, ``exec`` and
    ``process-exited`` (a process other than the first ended), when asked for.
    ``pc`` is the program counter's value, as gdb shows it: at a system call's entry and
    return, the address after the trap instruction (``syscall.pc`` is the trap's address).
    ``pid`` and ``tid`` name the task that stopped; ``child`` is a fork's new task (pid,
    tid), ``path`` the program an exec started, ``ended_pid`` the process that ended.
    """

    reason: str
    pc: int
    breakpoint: Breakpoint | None = None
    watch: WatchHit | None = None
    catch: SyscallCatch | None = None
    syscall: SyscallRequest | None = None
    result: int | None = None
    errno: str | None = None
    exit_status: int | None = None
    signal: str | None = None
    fault: FaultReport | None = None
    reverse: bool = False
    pid: int | None = None
    tid: int | None = None
    child: tuple[int, int] | None = None
    path: str | None = None
    ended_pid: int | None = None

    @property
    def ended(self) -> bool:
        """Whether the process is gone (exited or killed by a signal)."""
        return self.reason in ("exited", "signal")

    def __repr__(self) -> str:
        parts = [f"reason={self.reason!r}", f"pc={self.pc:#x}"]
        if self.breakpoint is not None:
            parts.append(f"breakpoint={self.breakpoint.number}")
        if self.watch is not None:
            parts.append(f"watch={self.watch.watchpoint.number}")
        if self.syscall is not None:
            parts.append(f"syscall={self.syscall.name!r}")
        for name in ("result", "errno", "exit_status", "signal", "child", "path", "ended_pid"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value!r}")
        if self.reverse:
            parts.append("reverse=True")
        return f"StopEvent({', '.join(parts)})"
