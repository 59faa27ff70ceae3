"""Process identity and lifetime: exit, the ids, uname, getrandom."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from kernel_model.linux_errno import Errno
from kernel_model.registry import Int, Pid, Ptr, Size, UInt, ULong, syscall
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


from kernel_model.sched import Deadlock  # noqa: E402,F401 - where it was first


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


def fill_random(k: "Kernel", buf: int, buflen: int, flags: int, source: Callable[[int], bytes]) -> int:
    """getrandom's checks, then as many bytes of ``source`` as fit where the guest can write."""
    if flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) or flags & GRND_RANDOM and flags & GRND_INSECURE:
        raise KernelError(Errno.EINVAL)
    n = min(buflen, _GETRANDOM_MAX)
    if n == 0:
        return 0
    room = k.memory.accessible(buf, n, PROT_WRITE)
    if room == 0:
        raise KernelError(Errno.EFAULT)
    data = source(room)
    k.memory.write(buf, data)
    return len(data)


@syscall("getrandom")
def sys_getrandom(k: "Kernel", req: SyscallRequest, buf: Ptr, buflen: Size, flags: UInt) -> int:
    return fill_random(k, buf, buflen, flags, k.random_bytes)


# -- prctl -----------------------------------------------------------------------------------

PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE = 1, 2, 3, 4
PR_GET_KEEPCAPS, PR_SET_KEEPCAPS, PR_SET_NAME, PR_GET_NAME = 7, 8, 15, 16
PR_CAPBSET_READ = 23
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
_CAP_LAST_CAP = 40


@dataclass
class PrctlState:
    """What prctl(2) sets and reads back, besides the name (which /proc shows)."""

    pdeathsig: int = 0
    dumpable: int = 1
    keepcaps: int = 0
    no_new_privs: int = 0


@syscall("prctl", partial="names, dumpable, parent-death signal, keepcaps, no_new_privs and the capability bounding set; other options are EINVAL")
def sys_prctl(k: "Kernel", req: SyscallRequest, option: Int, arg2: ULong, arg3: ULong, arg4: ULong, arg5: ULong) -> int:
    from kernel_model.procfs import comm_of

    st = k.prctl
    if option == PR_SET_NAME:
        raw = k.memory.read_cstr(arg2, 16)[:15]
        k.thread.comm = raw.decode("utf-8", "surrogateescape")
        return 0
    if option == PR_GET_NAME:
        k.memory.write(arg2, comm_of(k).encode("utf-8", "surrogateescape").ljust(16, b"\0"))
        return 0
    if option == PR_SET_PDEATHSIG:
        if not 0 <= arg2 <= 64:
            raise KernelError(Errno.EINVAL)
        st.pdeathsig = arg2
        return 0
    if option == PR_GET_PDEATHSIG:
        k.memory.write(arg2, st.pdeathsig.to_bytes(4, k.structs.byteorder))
        return 0
    if option == PR_GET_DUMPABLE:
        return st.dumpable
    if option == PR_SET_DUMPABLE:
        if arg2 not in (0, 1):
            raise KernelError(Errno.EINVAL)
        st.dumpable = arg2
        return 0
    if option == PR_GET_KEEPCAPS:
        return st.keepcaps
    if option == PR_SET_KEEPCAPS:
        if arg2 not in (0, 1):
            raise KernelError(Errno.EINVAL)
        st.keepcaps = arg2
        return 0
    if option == PR_CAPBSET_READ:
        if arg2 > _CAP_LAST_CAP:
            raise KernelError(Errno.EINVAL)
        return 1
    if option == PR_SET_NO_NEW_PRIVS:
        if arg2 != 1 or arg3 or arg4 or arg5:
            raise KernelError(Errno.EINVAL)
        st.no_new_privs = 1
        return 0
    if option == PR_GET_NO_NEW_PRIVS:
        if arg2 or arg3 or arg4 or arg5:
            raise KernelError(Errno.EINVAL)
        return st.no_new_privs
    raise KernelError(Errno.EINVAL)


# -- groups, sessions ------------------------------------------------------------------------

NGROUPS_MAX = 65536


@syscall("getgroups")
def sys_getgroups(k: "Kernel", req: SyscallRequest, size: Int, list: Ptr) -> int:
    groups = groups_to_list(k, size)
    if groups is not None:
        k.memory.write(list, b"".join(g.to_bytes(4, k.structs.byteorder) for g in groups))
    return len(k.identity.groups)


def groups_to_list(k: "Kernel", size: int) -> tuple[int, ...] | None:
    """getgroups' checks (it has a 16-bit form too): the groups to copy out, None for a count."""
    groups = k.identity.groups
    if size < 0:
        raise KernelError(Errno.EINVAL)
    if size == 0:
        return None
    if size < len(groups):
        raise KernelError(Errno.EINVAL)
    return groups


@syscall("setgroups")
def sys_setgroups(k: "Kernel", req: SyscallRequest, size: Int, list: Ptr) -> int:
    if not 0 <= size <= NGROUPS_MAX:
        raise KernelError(Errno.EINVAL)
    k.memory.read(list, 4 * size)
    # Changing the groups needs CAP_SETGID, which a sandboxed process never has.
    raise KernelError(Errno.EPERM)


RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD = 0, -1, 1


@syscall("getrusage", partial="user time and maximum size; the other counters are zero")
def sys_getrusage(k: "Kernel", req: SyscallRequest, who: Int, usage: Ptr) -> int:
    from kernel_model.clock import CLOCK_PROCESS_CPUTIME_ID

    if who not in (RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD):
        raise KernelError(Errno.EINVAL)
    word = k.arch.word_size
    fields = [0] * 18  # two timevals (4 longs), then 14 longs
    if who != RUSAGE_CHILDREN:
        ns = k.clock.now(CLOCK_PROCESS_CPUTIME_ID)
        fields[0], fields[1] = ns // 10**9, ns % 10**9 // 1000
        fields[4] = k.mm.mapped_bytes // 1024  # ru_maxrss in kB
    else:
        ns = k.process.children_cpu_ns
        fields[0], fields[1] = ns // 10**9, ns % 10**9 // 1000
    k.memory.write(usage, b"".join(f.to_bytes(word, k.structs.byteorder, signed=True) for f in fields))
    return 0
