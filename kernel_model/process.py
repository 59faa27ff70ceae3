"""Process identity and lifetime: exit, the ids, uname, getrandom."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kernel_model.linux_errno import Errno
from kernel_model.registry import Int, Ptr, Size, UInt, syscall
from kernel_model.seam import PROT_WRITE, KernelError, ProcessExit, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel


@dataclass(frozen=True)
class Identity:
    """Who the guest process is. The defaults are fixed numbers so runs are reproducible."""

    pid: int = 1000
    ppid: int = 999
    uid: int = 1000
    gid: int = 1000
    euid: int | None = None
    egid: int | None = None
    groups: tuple[int, ...] = ()

    @property
    def effective_uid(self) -> int:
        """The effective uid (the real one unless set)."""
        return self.uid if self.euid is None else self.euid

    @property
    def effective_gid(self) -> int:
        """The effective gid (the real one unless set)."""
        return self.gid if self.egid is None else self.egid

    @staticmethod
    def of_host() -> "Identity":
        """The ids of the user running the sandbox (pids stay virtual)."""
        import os

        getuid = getattr(os, "getuid", lambda: 1000)
        getgid = getattr(os, "getgid", lambda: 1000)
        return Identity(uid=getuid(), gid=getgid())


@syscall("exit")
def sys_exit(k: "Kernel", req: SyscallRequest, status: Int) -> int:
    # The process has one thread, so the thread's exit is the process's.
    raise ProcessExit(status & 0xFF)


@syscall("exit_group")
def sys_exit_group(k: "Kernel", req: SyscallRequest, status: Int) -> int:
    raise ProcessExit(status & 0xFF)


@syscall("getpid")
def sys_getpid(k: "Kernel", req: SyscallRequest) -> int:
    return k.identity.pid


@syscall("gettid")
def sys_gettid(k: "Kernel", req: SyscallRequest) -> int:
    return k.identity.pid


@syscall("getppid")
def sys_getppid(k: "Kernel", req: SyscallRequest) -> int:
    return k.identity.ppid


@syscall("getuid")
def sys_getuid(k: "Kernel", req: SyscallRequest) -> int:
    return k.identity.uid


@syscall("geteuid")
def sys_geteuid(k: "Kernel", req: SyscallRequest) -> int:
    return k.identity.effective_uid


@syscall("getgid")
def sys_getgid(k: "Kernel", req: SyscallRequest) -> int:
    return k.identity.gid


@syscall("getegid")
def sys_getegid(k: "Kernel", req: SyscallRequest) -> int:
    return k.identity.effective_gid


@syscall("uname")
def sys_uname(k: "Kernel", req: SyscallRequest, buf: Ptr) -> int:
    u = k.uname
    k.memory.write(
        buf,
        k.structs.utsname.pack(
            sysname=b"Linux", nodename=u.nodename.encode(), release=u.release.encode(),
            version=u.version.encode(), machine=k.arch.uname_machine.encode(), domainname=b"(none)",
        ),
    )
    return 0


GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE = 1, 2, 4
_GETRANDOM_MAX = 0x7FFFF000  # MAX_RW_COUNT: the most one call returns


@syscall("getrandom")
def sys_getrandom(k: "Kernel", req: SyscallRequest, buf: Ptr, buflen: Size, flags: UInt) -> int:
    if flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) or flags & GRND_RANDOM and flags & GRND_INSECURE:
        raise KernelError(Errno.EINVAL)
    n = min(buflen, _GETRANDOM_MAX)
    if n == 0:
        return 0
    room = k.memory.accessible(buf, n, PROT_WRITE)
    if room == 0:
        raise KernelError(Errno.EFAULT)
    k.memory.write(buf, k.random_bytes(room))
    return room
