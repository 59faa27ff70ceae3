"""Debugging guest code: stepping, breakpoints, watchpoints, snapshots and reverse execution.

:class:`Debugger` is the engine-side controller; :class:`DebuggingMethods` puts it on
:class:`sandbox.Sandbox` (``sb.step()``, ``sb.break_at("_start")``...); ``sandbox debug`` is
the terminal debugger and ``sandbox gdbserver`` the gdb remote stub.
"""

from sandbox.debug.api import DebuggingMethods
from sandbox.debug.history import HistoryError
from sandbox.debug.points import Breakpoint, StopEvent, SyscallCatch, Watchpoint, WatchHit
from sandbox.debug.session import Debugger, Instruction
from sandbox.debug.snapshot import Snapshot

__all__ = [
    "Breakpoint", "Debugger", "DebuggingMethods", "HistoryError", "Instruction", "Snapshot", "StopEvent",
    "SyscallCatch", "WatchHit", "Watchpoint",
]
