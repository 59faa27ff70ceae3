"""A model of the Linux kernel for one guest process, in plain Python.

It serves system calls trapped by :mod:`sandbox` (or by anything that builds a
:class:`SyscallRequest`) and never imports Unicorn: its tests drive it with a fake memory.
"""

from kernel_model.kernel import Kernel, KernelConfig, Mount, UnameInfo, stream_reader
from kernel_model.linux_errno import Errno
from kernel_model.process import Identity
from kernel_model.registry import REGISTRY, Completeness, HandlerSpec, syscall
from kernel_model.seam import (
    Backend,
    CpuControl,
    GuestFault,
    GuestMemory,
    KernelArch,
    KernelError,
    ProcessExit,
    SyscallRequest,
)

__all__ = [
    "Backend", "Completeness", "CpuControl", "Errno", "GuestFault", "GuestMemory", "HandlerSpec", "Identity", "Kernel",
    "KernelArch", "KernelConfig", "KernelError", "Mount", "ProcessExit", "REGISTRY", "SyscallRequest",
    "UnameInfo", "stream_reader", "syscall",
]
