"""Host answers about the machine: uname (the host's name and kernel) and getrandom.

``uname`` describes the guest's machine (its arch) on the host's node; the release and version
are the host kernel's only when that kernel is Linux (a guest is told it runs on Linux).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kernel_model.host.registry import host_syscall
from kernel_model.host.translate import LINUX_HOST, getrandom_flags_to_host
from kernel_model.fsnodes import host_call
from kernel_model.process import fill_random
from kernel_model.registry import Ptr, Size, UInt
from kernel_model.seam import SyscallRequest

if TYPE_CHECKING:
    from kernel_model.host.backend import HostBackend


@host_syscall("uname")
def host_uname(b: "HostBackend", req: SyscallRequest, buf: Ptr) -> int:
    k = b.kernel
    host = os.uname()
    release, version = (host.release, host.version) if LINUX_HOST else (k.uname.release, k.uname.version)
    k.memory.write(
        buf,
        k.structs.utsname.pack(
            sysname=b"Linux", nodename=host.nodename.encode()[:64], release=release.encode()[:64],
            version=version.encode()[:64], machine=k.arch.uname_machine.encode(), domainname=b"(none)",
        ),
    )
    return 0


@host_syscall("getrandom")
def host_getrandom(b: "HostBackend", req: SyscallRequest, buf: Ptr, buflen: Size, flags: UInt) -> int:
    host_flags = getrandom_flags_to_host(flags)

    def host_random(n: int) -> bytes:
        if hasattr(os, "getrandom"):
            return host_call(os.getrandom, n, host_flags)
        return os.urandom(n)

    return fill_random(b.kernel, buf, buflen, flags, host_random)
