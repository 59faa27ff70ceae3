"""syscall-sandbox: run real Linux machine code in Unicorn and serve its system calls from
a Python model of the kernel.

    >>> from sandbox import Sandbox
    >>> r = Sandbox("aarch64").run_asm("mov x8, #93; mov x0, #3; svc #0")
    >>> r.exit_status
    3
"""

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
