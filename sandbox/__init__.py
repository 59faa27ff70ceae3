"""syscall-sandbox: run real Linux machine code in Unicorn and serve its system calls from
a Python model of the kernel.

    >>> from sandbox import Sandbox
    >>> r = Sandbox("aarch64").run_asm("mov x8, #93; mov x0, #3; svc #0")
    >>> r.exit_status
    3
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Each name from its module, imported when first asked for, so that the command line starts
# by loading only what its command needs.
_HOMES = {
    "RunResult": "api", "Sandbox": "api", "ARCHES": "arch", "Arch": "arch", "get_arch": "arch",
    "FaultReport": "engine", "Machine": "engine", "Stop": "engine", "AssemblyError": "errors",
    "ExecFormatError": "errors", "ProgramNotFoundError": "errors", "SandboxError": "errors",
    "UnknownArchError": "errors", "SyscallRecord": "records",
}

if TYPE_CHECKING:
    from sandbox.api import RunResult, Sandbox
    from sandbox.arch import ARCHES, Arch, get_arch
    from sandbox.engine import FaultReport, Machine, Stop
    from sandbox.errors import AssemblyError, ExecFormatError, ProgramNotFoundError, SandboxError, UnknownArchError
    from sandbox.records import SyscallRecord

__all__ = [
    "ARCHES", "Arch", "AssemblyError", "ExecFormatError", "FaultReport", "Machine", "ProgramNotFoundError",
    "RunResult", "Sandbox", "SandboxError", "Stop", "SyscallRecord", "UnknownArchError", "get_arch",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
