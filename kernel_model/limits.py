"""Resource limits and what the process can learn about the machine: ``prlimit64``,
``getrlimit``/``setrlimit``, ``sysinfo``, and the scheduler calls a single thread makes
(``sched_getaffinity``, ``sched_yield``, ``getcpu``...).

The machine the guest sees is the sandbox's, not the host's: ``cpus`` processors (one by
default), and as much memory as the sandbox allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel_model.linux_errno import Errno
from kernel_model.registry import Int, Pid, Ptr, UInt, syscall
from kernel_model.seam import KernelError, SyscallRequest

if TYPE_CHECKING:
    from kernel_model.kernel import Kernel
    from kernel_model.tasks import Process

RLIM_INFINITY = (1 << 64) - 1
(RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_DATA, RLIMIT_STACK, RLIMIT_CORE, RLIMIT_RSS, RLIMIT_NPROC, RLIMIT_NOFILE,
 RLIMIT_MEMLOCK, RLIMIT_AS, RLIMIT_LOCKS, RLIMIT_SIGPENDING, RLIMIT_MSGQUEUE, RLIMIT_NICE, RLIMIT_RTPRIO,
 RLIMIT_RTTIME) = range(16)
RLIM_NLIMITS = 16
NR_OPEN = 1 << 20  # fs.nr_open: no RLIMIT_NOFILE may go above it
DEFAULT_MEMORY = 4 << 30  # what sysinfo reports as RAM when the sandbox sets no memory limit

RESOURCE_NAMES = (
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS", "RLIMIT_NPROC",
    "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
)


def default_limits(max_fds: int | None, max_memory: int | None, max_processes: int | None = None) -> list[tuple[int, int]]:
    """(soft, hard) per resource, as a freshly logged-in Linux user has them.

    The descriptor, address-space and process limits are the sandbox's own when it sets them (both
    soft and hard, as ``prlimit`` sets them), so what the guest reads is what it will meet.
    Without a descriptor limit the guest inherits the host process's, as a program started
    from the same shell would (at most fs.nr_open).
    """
    inf = (RLIM_INFINITY, RLIM_INFINITY)
    limits = [inf] * RLIM_NLIMITS
    limits[RLIMIT_STACK] = (8 << 20, RLIM_INFINITY)
    limits[RLIMIT_CORE] = (0, RLIM_INFINITY)
    limits[RLIMIT_NPROC] = (max_processes, max_processes) if max_processes is not None else (63455, 63455)
    limits[RLIMIT_NOFILE] = (max_fds, max_fds) if max_fds is not None else _host_nofile()
    limits[RLIMIT_MEMLOCK] = (8 << 20, 8 << 20)
    limits[RLIMIT_SIGPENDING] = (63455, 63455)
    limits[RLIMIT_MSGQUEUE] = (819200, 819200)
    limits[RLIMIT_NICE] = (0, 0)
    limits[RLIMIT_RTPRIO] = (0, 0)
    if max_memory is not None:
        limits[RLIMIT_AS] = (max_memory, max_memory)
    return limits


def _host_nofile() -> tuple[int, int]:
    """The host process's RLIMIT_NOFILE (soft, hard), within fs.nr_open."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 1024, NR_OPEN
    hard = NR_OPEN if hard == resource.RLIM_INFINITY or hard > NR_OPEN else hard
    soft = hard if soft == resource.RLIM_INFINITY else min(soft, hard)
    return soft, hard


class ResourceLimits:
    """The process's limits. RLIMIT_NOFILE and RLIMIT_AS take effect; the rest are kept.

    ``ceilings`` are hard limits no process may raise, not even root's: the sandbox's own
    limits (like a container's process, the guest has no CAP_SYS_RESOURCE over them), and
    fs.nr_open for RLIMIT_NOFILE, which binds root on Linux too.
    """

    def __init__(self, k: "Kernel", limits: list[tuple[int, int]], ceilings: dict[int, int] | None = None) -> None:
        self._k = k
        self._limits = list(limits)
        self._ceilings = {RLIMIT_NOFILE: NR_OPEN, **(ceilings or {})}
        self._apply(RLIMIT_NOFILE)
        self._apply(RLIMIT_AS)

    def get(self, resource: int) -> tuple[int, int]:
        """(soft, hard) for ``resource``."""
        return self._limits[resource]

    def copy(self) -> "ResourceLimits":
        """The same limits, for a new process (a fork inherits them)."""
        twin = ResourceLimits.__new__(ResourceLimits)
        twin._k = self._k
        twin._limits = list(self._limits)
        twin._ceilings = dict(self._ceilings)
        return twin

    def set(self, resource: int, soft: int, hard: int) -> None:
        """Change a limit with Linux's checks (EINVAL, EPERM for raising a hard limit unprivileged)."""
        if soft > hard:
            raise KernelError(Errno.EINVAL)
        if hard > self._ceilings.get(resource, RLIM_INFINITY):
            raise KernelError(Errno.EPERM)
        if hard > self._limits[resource][1] and self._k.identity.effective_uid != 0:
            raise KernelError(Errno.EPERM)
        self._limits[resource] = (soft, hard)
        self._apply(resource)

    def _apply(self, resource: int) -> None:
        soft = self._limits[resource][0]
        if resource == RLIMIT_NOFILE:
            self._k.fds.limit = min(soft, NR_OPEN)
        elif resource == RLIMIT_AS:
            self._k.mm.limit = None if soft == RLIM_INFINITY else soft


def _check_pid(k: "Kernel", pid: int) -> None:
    _process_of(k, pid)


def _process_of(k: "Kernel", pid: int) -> "Process":
    """The live process ``pid`` names (0: the caller's; a thread's tid: its process), or ESRCH."""
    if pid == 0:
        return k.process
    task = k.processes.tasks.get(pid)
    if task is not None and task.state != "dead" and task.process.alive:
        return task.process
    raise KernelError(Errno.ESRCH)


@syscall("prlimit64", partial="RLIMIT_NOFILE and RLIMIT_AS are enforced; the other limits are only remembered")
def sys_prlimit64(k: "Kernel", req: SyscallRequest, pid: Pid, resource: UInt, new_limit: Ptr, old_limit: Ptr) -> int:
    layout = k.structs.rlimit64
    new = layout.unpack(k.memory.read(new_limit, layout.size)) if new_limit else None
    target = _process_of(k, pid)
    if resource >= RLIM_NLIMITS:
        raise KernelError(Errno.EINVAL)
    if target is not k.process and target.identity.uid != k.identity.effective_uid and k.identity.effective_uid != 0:
        raise KernelError(Errno.EPERM)  # another user's process
    limits = target.limits
    old = limits.get(resource)
    if new is not None:
        limits.set(resource, new["rlim_cur"], new["rlim_max"])
    if old_limit:
        k.memory.write(old_limit, layout.pack(rlim_cur=old[0], rlim_max=old[1]))
    return 0


def _to_word(k: "Kernel", value: int) -> int:
    # A 32-bit rlimit cannot say more than RLIM_INFINITY of its own width.
    return min(value, k.arch.word_mask)


def _from_word(k: "Kernel", value: int) -> int:
    return RLIM_INFINITY if value == k.arch.word_mask else value


@syscall("getrlimit")
def sys_getrlimit(k: "Kernel", req: SyscallRequest, resource: UInt, rlim: Ptr) -> int:
    if resource >= RLIM_NLIMITS:
        raise KernelError(Errno.EINVAL)
    soft, hard = k.limits.get(resource)
    k.memory.write(rlim, k.structs.rlimit.pack(rlim_cur=_to_word(k, soft), rlim_max=_to_word(k, hard)))
    return 0


@syscall("setrlimit", partial="as prlimit64")
def sys_setrlimit(k: "Kernel", req: SyscallRequest, resource: UInt, rlim: Ptr) -> int:
    layout = k.structs.rlimit
    new = layout.unpack(k.memory.read(rlim, layout.size))
    if resource >= RLIM_NLIMITS:
        raise KernelError(Errno.EINVAL)
    k.limits.set(resource, _from_word(k, new["rlim_cur"]), _from_word(k, new["rlim_max"]))
    return 0


@syscall("sysinfo")
def sys_sysinfo(k: "Kernel", req: SyscallRequest, info: Ptr) -> int:
    from kernel_model.clock import CLOCK_BOOTTIME, NSEC

    total = k.config.max_memory or DEFAULT_MEMORY
    used = k.mm.mapped_bytes
    k.memory.write(
        info,
        k.structs.sysinfo.pack(
            uptime=k.clock.now(CLOCK_BOOTTIME) // NSEC, totalram=total, freeram=max(total - used, 0),
            procs=1, mem_unit=1,
        ),
    )
    return 0


# -- the scheduler -------------------------------------------------------------------------


def _cpumask_size(k: "Kernel") -> int:
    # cpumask_size(): whole longs covering nr_cpu_ids bits
    word_bits = k.arch.bits
    return (k.config.cpus + word_bits - 1) // word_bits * k.arch.word_size


@syscall("sched_getaffinity")
def sys_sched_getaffinity(k: "Kernel", req: SyscallRequest, pid: Pid, cpusetsize: UInt, mask: Ptr) -> int:
    if cpusetsize * 8 < k.config.cpus or cpusetsize & (k.arch.word_size - 1):
        raise KernelError(Errno.EINVAL)
    _check_pid(k, pid)
    size = min(cpusetsize, _cpumask_size(k))
    bits = (1 << k.config.cpus) - 1
    k.memory.write(mask, bits.to_bytes(size, k.structs.byteorder))
    return size


@syscall("sched_setaffinity")
def sys_sched_setaffinity(k: "Kernel", req: SyscallRequest, pid: Pid, cpusetsize: UInt, mask: Ptr) -> int:
    raw = k.memory.read(mask, min(cpusetsize, _cpumask_size(k)))
    _check_pid(k, pid)
    if not int.from_bytes(raw, k.structs.byteorder) & ((1 << k.config.cpus) - 1):
        raise KernelError(Errno.EINVAL)  # no CPU of the machine in the mask
    return 0


@syscall("sched_yield")
def sys_sched_yield(k: "Kernel", req: SyscallRequest) -> int:
    from kernel_model.sched import Yield

    if any(t is not k.current for t in k.scheduler.runnable()):
        raise Yield(0)  # another task runs next; this one goes on after it
    return 0


@syscall("getcpu")
def sys_getcpu(k: "Kernel", req: SyscallRequest, cpu: Ptr, node: Ptr, tcache: Ptr) -> int:
    if cpu:
        k.memory.write(cpu, bytes(4))
    if node:
        k.memory.write(node, bytes(4))
    return 0


SCHED_OTHER = 0


@syscall("sched_getscheduler")
def sys_sched_getscheduler(k: "Kernel", req: SyscallRequest, pid: Pid) -> int:
    if pid < 0:
        raise KernelError(Errno.EINVAL)
    _check_pid(k, pid)
    return SCHED_OTHER


@syscall("sched_getparam")
def sys_sched_getparam(k: "Kernel", req: SyscallRequest, pid: Pid, param: Ptr) -> int:
    if pid < 0 or not param:
        raise KernelError(Errno.EINVAL)
    _check_pid(k, pid)
    k.memory.write(param, bytes(4))  # sched_priority 0: the only one SCHED_OTHER has
    return 0


PRIO_PROCESS, PRIO_PGRP, PRIO_USER = 0, 1, 2


def _priority_targets(k: "Kernel", which: int, who: int) -> "list[Process]":
    """The processes getpriority/setpriority mean: a process, a process group, a user's."""
    if which == PRIO_PROCESS:
        return [_process_of(k, who)]
    if which == PRIO_PGRP:
        group = k.processes.group(who or k.process.pgid)
        if not group:
            raise KernelError(Errno.ESRCH)
        return group
    if which == PRIO_USER:
        uid = who or k.identity.uid
        mine = [p for p in k.processes.live() if p.identity.uid == uid]
        if not mine:
            raise KernelError(Errno.ESRCH)
        return mine
    raise KernelError(Errno.EINVAL)


@syscall("getpriority")
def sys_getpriority(k: "Kernel", req: SyscallRequest, which: Int, who: Int) -> int:
    # the kernel returns 20 - nice, so that it is never negative; the best of the targets
    return 20 - min(p.nice for p in _priority_targets(k, which, who))


def _set_nice(k: "Kernel", proc: "Process", nice: int) -> None:
    nice = max(-20, min(19, nice))
    ident = k.identity
    if proc.identity.uid != ident.effective_uid and ident.effective_uid != 0:
        raise KernelError(Errno.EPERM)  # another user's process
    if nice < proc.nice and ident.effective_uid != 0:
        raise KernelError(Errno.EACCES)  # lowering it takes CAP_SYS_NICE (RLIMIT_NICE is 0)
    proc.nice = nice


@syscall("setpriority")
def sys_setpriority(k: "Kernel", req: SyscallRequest, which: Int, who: Int, prio: Int) -> int:
    for proc in _priority_targets(k, which, who):
        _set_nice(k, proc, prio)
    return 0


@syscall("nice")
def sys_nice(k: "Kernel", req: SyscallRequest, inc: Int) -> int:
    # i386 and arm: the older call; 0 on success (the C library reads the new value back)
    inc = max(-40, min(40, inc))
    try:
        _set_nice(k, k.process, k.process.nice + inc)
    except KernelError as e:
        raise KernelError(Errno.EPERM if e.errno is Errno.EACCES else e.errno) from None
    return 0
