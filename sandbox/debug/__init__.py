"""Debugging guest code: stepping, breakpoints, watchpoints, snapshots and reverse execution.

:class:`Debugger` is the engine-side controller; :class:`DebuggingMethods` puts it on
:class:`sandbox.Sandbox` (``sb.step()``, ``sb.break_at("_start")``...); ``sandbox debug`` is
the terminal debugger and ``sandbox gdbserver`` the gdb remote stub.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# System calls remembered for reverse execution unless told otherwise (checkpoints of ~20-50 KB
# each): here, so that the command line can show it without loading the debugger.
DEFAULT_HISTORY = 2_000

# Each name from the module that defines it, imported when first asked for: the Sandbox API
# (which has the debugging methods) must not load the debugger for a run that never uses it.
_HOMES = {
    "DebuggingMethods": "api", "HistoryError": "history", "Breakpoint": "points", "StopEvent": "points",
    "SyscallCatch": "points", "Watchpoint": "points", "WatchHit": "points", "Debugger": "session",
    "Instruction": "session", "Snapshot": "snapshot",
}

if TYPE_CHECKING:
    from sandbox.debug.api import DebuggingMethods
    from sandbox.debug.history import HistoryError
    from sandbox.debug.points import Breakpoint, StopEvent, SyscallCatch, Watchpoint, WatchHit
    from sandbox.debug.session import Debugger, Instruction
    from sandbox.debug.snapshot import Snapshot


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value

__all__ = [
    "Breakpoint", "Debugger", "DebuggingMethods", "HistoryError", "Instruction", "Snapshot", "StopEvent",
    "SyscallCatch", "WatchHit", "Watchpoint",
]
