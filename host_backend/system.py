"""Host answers about the machine: uname (the host's name and kernel) and getrandom.

``uname`` describes the guest's machine (its arch) on the host's node; the release and version
are the host kernel's only when that kernel is Linux (a guest is told it runs on Linux).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from host_backend.registry import host_syscall
from host_backend.translate import GRND_INSECURE, GRND_NONBLOCK, GRND_RANDOM, LINUX_HOST, getrandom_flags_to_host
from kernel_model.fsnodes import host_call
from kernel_model.linux_errno import Errno
from kernel_model.registry import Ptr, Size, UInt
from kernel_model.seam import PROT_WRITE, KernelError, SyscallRequest

if TYPE_CHECKING:
    from host_backend.backend import HostBackend

_GETRANDOM_MAX = 33554431  # the kernel hands out at most this much in one call


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
    k = b.kernel
    if flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) or flags & GRND_RANDOM and flags & GRND_INSECURE:
        raise KernelError(Errno.EINVAL)
    n = min(buflen, _GETRANDOM_MAX)
    if n == 0:
        return 0
    room = k.memory.accessible(buf, n, PROT_WRITE)
    if room == 0:
        raise KernelError(Errno.EFAULT)
    if hasattr(os, "getrandom"):
        data = host_call(os.getrandom, room, getrandom_flags_to_host(flags))
    else:
        data = os.urandom(room)
    k.memory.write(buf, data)
    return len(data)
