"""The kernel model: one process's kernel state and the dispatcher that serves its calls."""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

# Importing the handler modules registers their system calls.
from kernel_model import attrs as _attr_calls  # noqa: F401
from kernel_model import clock as _clock_calls  # noqa: F401
from kernel_model import compat as _compat_calls  # noqa: F401
from kernel_model import epoll as _epoll_calls  # noqa: F401
from kernel_model import eventfiles as _event_file_calls  # noqa: F401
from kernel_model import files as _file_calls  # noqa: F401
from kernel_model import itimers as _itimer_calls  # noqa: F401
from kernel_model import fsinfo as _fsinfo_calls  # noqa: F401
from kernel_model import lifecycle as _lifecycle_calls  # noqa: F401
from kernel_model import limits as _limit_calls  # noqa: F401
from kernel_model import mm as _mm_calls  # noqa: F401
from kernel_model import paths as _path_calls  # noqa: F401
from kernel_model import pipes as _pipe_calls  # noqa: F401
from kernel_model import poll as _poll_calls  # noqa: F401
from kernel_model import process as _process_calls  # noqa: F401
from kernel_model import signals as _signal_calls  # noqa: F401
from kernel_model import sockets as _socket_calls  # noqa: F401
from kernel_model import threads as _thread_calls  # noqa: F401
from kernel_model import xattr as _xattr_calls  # noqa: F401
from kernel_model.abi import O_RDONLY, O_WRONLY, abi_for
from kernel_model.clock import Clock
from kernel_model.fdtable import FdTable, OpenFile
from kernel_model.denials import DenialLog
from kernel_model.filesystems import DeviceFilesystem, FileOfItsOwn
from kernel_model.fsnodes import Handle, LimitedOutputHandle, OutputLimit, StreamHandle
from kernel_model.limits import RLIMIT_AS, RLIMIT_NOFILE, RLIMIT_NPROC, ResourceLimits, default_limits
from kernel_model.linux_errno import Errno
from kernel_model.mm import AddressSpace, MemoryPool
from kernel_model.procfs import Executable, ProcFilesystem
from kernel_model.process import Identity, PrctlState
from kernel_model.registry import REGISTRY, CallingConvention
from kernel_model.seam import GuestFault, GuestMemory, KernelArch, KernelError, ProcessExit, SyscallRequest
from kernel_model.signals import SignalState
from kernel_model.structs import structs_for
from kernel_model.threads import ThreadState
from kernel_model.vfs import Credentials, GuestPath, Namespace, split_path
from kernel_model.world import World
from kernel_model.waits import HostWaits
from kernel_model.clock import CLOCK_MONOTONIC
from kernel_model.sched import Blocked, Scheduler, Wait, WaitQueue
from kernel_model.tasks import FsState, Process, ProcessTable, Task


@dataclass(frozen=True)
class UnameInfo:
    """What uname(2) reports besides the machine, which comes from the arch."""

    nodename: str = "sandbox"
    release: str = "6.8.0-sandbox"
    version: str = "#1 SMP PREEMPT_DYNAMIC"

    @staticmethod
    def of_host() -> "UnameInfo":
        """The host's name; its kernel's release and version when the host is Linux (a guest is
        told it runs on Linux, so another host's release would mean nothing to it)."""
        host = os.uname()
        if os.uname().sysname == "Linux":
            return UnameInfo(host.nodename, host.release, host.version)
        return UnameInfo(nodename=host.nodename)


@dataclass
class Mount:
    """A host directory shown to the guest: ``host`` at ``guest``, read-only unless ``writable``."""

    host: str
    guest: str
    writable: bool = False

    @staticmethod
    def parse(spec: str) -> "Mount":
        """Parse ``HOST:GUEST[:rw|:ro]`` (the CLI's ``--mount``); GUEST defaults to HOST."""
        parts = spec.split(":")
        mode = ""
        if len(parts) >= 2 and parts[-1] in ("rw", "ro"):
            mode = parts.pop()
        if len(parts) > 2 or not parts[0]:
            raise ValueError(f"bad mount {spec!r}: expected HOST:GUEST[:rw]")
        host = parts[0]
        guest = parts[1] if len(parts) == 2 and parts[1] else os.path.realpath(host)
        if not guest.startswith("/"):
            raise ValueError(f"bad mount {spec!r}: the guest path must be absolute")
        return Mount(host, guest, mode == "rw")


@dataclass
class KernelConfig:
    """Everything a kernel is started with. The defaults suit a one-off run in a test."""

    cwd: str | None = None  # host directory shown read-only at its own path and used as cwd
    mounts: list[Mount] = field(default_factory=list)
    rootfs: str | None = None  # host directory shown read-only as the guest's "/", under the rest
    tmp: bool = True  # an in-memory writable /tmp
    stdin: Handle | None = None
    stdout: Handle | None = None
    stderr: Handle | None = None
    identity: Identity = field(default_factory=Identity.of_host)
    uname: UnameInfo = field(default_factory=UnameInfo)
    clock: Clock = field(default_factory=Clock)
    random_seed: int | None = None  # fix getrandom and /dev/urandom for reproducible runs
    max_fds: int | None = 1024  # RLIMIT_NOFILE, soft and hard (None: the host process's, within nr_open)
    max_memory: int | None = None  # RLIMIT_AS: mappings beyond it are ENOMEM
    max_output: int | None = None  # bytes stdout and stderr may take together (then EFBIG, SIGXFSZ)
    waits: HostWaits = field(default_factory=HostWaits)  # how the sandbox ends a guest waiting on the host
    umask: int = 0o022
    terminal_size: tuple[int, int] = (24, 80)
    cpus: int = 1  # processors the guest sees (sched_getaffinity, /proc)
    # The mount table, services and call rules (a policy's: see kernel_model.world). None:
    # the kernel model's default world, from cwd, mounts, rootfs and tmp above.
    world: World | None = None
    schedule_seed: int | None = None  # None: the deterministic round robin; a seed: a seeded random schedule
    max_processes: int | None = 4096  # processes alive at once (a fork bomb ends at EAGAIN); None: no limit


class Kernel:
    """The Linux model for one guest process: its files, memory map, identity and time.

    ``dispatch`` is the backend entry point the trap hook calls.
    """

    def __init__(
        self,
        arch: KernelArch,
        memory: GuestMemory,
        config: KernelConfig | None = None,
        *,
        mmap_top: int,
        task_size: int,
    ) -> None:
        config = config or KernelConfig()
        self.arch = arch
        self.memory = memory
        self.config = config
        self.structs = structs_for(arch)
        self.abi = abi_for(arch.name)
        self.identity = config.identity
        self.waits = config.waits
        world = config.world if config.world is not None else self._default_world(config)
        self.world = world
        services = world.services
        self.uname = UnameInfo.of_host() if services.host_uname else config.uname
        self.clock = config.clock
        if services.host_clock and not self.clock.virtual:
            self.clock.host = True
        seed = None if services.host_random else config.random_seed
        self._rng = random.Random(seed) if seed is not None else None
        # Refusals are written into the call's record when the world asks for it.
        self.denials: DenialLog | None = DenialLog() if world.record_denials else None
        self.ns = Namespace(
            Credentials(self.identity.effective_uid, self.identity.effective_gid, self.identity.groups),
            self.denials,
        )
        self._build_namespace(config, world)
        self.output_limit = OutputLimit(config.max_output) if config.max_output is not None else None
        self.unimplemented: Counter[str] = Counter()
        self._mmap_top, self._task_size = mmap_top, task_size
        # The processes and threads, and who runs: the first process is made here; clone
        # adds the others (kernel_model.lifecycle).
        self.processes = ProcessTable(first_pid=self.identity.pid)
        self.scheduler = Scheduler(
            now=lambda: self.clock.now(CLOCK_MONOTONIC), poll=self.waits.poll, sleep=self.waits.sleep,
            advance=self.clock.advance_to if self.clock.virtual else None, seed=config.schedule_seed,
        )
        self.scheduler.timers = _itimer_calls.Timers(self)
        self._futexes: dict[tuple[int, int], WaitQueue] = {}
        # Asks the CPU side to stop the running task after the call it is in (the first process
        # ended under another's hand, an interval timer was armed); the CPU side sets it, nothing
        # happens without one.
        self.preempt: Callable[[], None] = _nothing
        first = self._first_process(config, memory)
        self.switch_to(first.threads[0])
        self._install_stdio(config)
        convention = CallingConvention.of(arch)
        self._handlers = {name: spec.invoker(convention) for name, spec in REGISTRY.items()}
        for name, model in self.abi.served_by.items():
            self._handlers[name] = REGISTRY[model].invoker(convention)
        self._deny_calls(world)
        if self.denials is not None:
            self.dispatch = self._dispatch_recorded  # type: ignore[method-assign]

    # -- set-up ----------------------------------------------------------------------------

    def _first_process(self, config: KernelConfig, memory: GuestMemory) -> Process:
        ident = self.identity
        mm = AddressSpace(memory, mmap_top=self._mmap_top, task_size=self._task_size, limit=config.max_memory,
                          pool=MemoryPool(config.max_memory))
        fs = FsState(split_path(os.path.realpath(config.cwd or os.getcwd())), config.umask)
        proc = Process(ident.pid, ident, memory, mm, FdTable(), fs, {}, None, PrctlState())  # type: ignore[arg-type]
        self.processes.processes[proc.pid] = proc
        task = Task(ident.pid, proc, SignalState(actions=proc.handlers, pid=ident.pid, uid=ident.uid), ThreadState())
        proc.threads.append(task)
        self.processes.tasks[task.tid] = task
        self.scheduler.add(task)
        self._process = proc
        self.fds = proc.fds
        self.mm = proc.mm
        ceilings = {RLIMIT_NOFILE: config.max_fds} if config.max_fds is not None else {}
        if config.max_processes is not None:
            ceilings[RLIMIT_NPROC] = config.max_processes
        if config.max_memory is not None:
            ceilings[RLIMIT_AS] = config.max_memory
        proc.limits = ResourceLimits(self, default_limits(config.max_fds, config.max_memory, config.max_processes), ceilings)
        return proc

    # -- the current task --------------------------------------------------------------------

    def switch_to(self, task: Task) -> None:
        """Make ``task`` the one the next system call is made by (what handlers see as ``k``)."""
        proc = task.process
        self.current = task
        self._process = proc
        self.memory = proc.memory
        self.mm = proc.mm
        self.fds = proc.fds
        self.identity = proc.identity
        self.limits = proc.limits
        self.prctl = proc.prctl
        self.signals = task.signals
        self.thread = task.thread

    @property
    def process(self) -> Process:
        """The process of the current task."""
        return self._process

    @property
    def cwd(self) -> GuestPath:
        """The working directory of the current process (shared with CLONE_FS)."""
        return self._process.fs.cwd

    @cwd.setter
    def cwd(self, path: GuestPath) -> None:
        self._process.fs.cwd = path

    @property
    def umask(self) -> int:
        """The umask of the current process (shared with CLONE_FS)."""
        return self._process.fs.umask

    @umask.setter
    def umask(self, mask: int) -> None:
        self._process.fs.umask = mask

    @property
    def executable(self) -> "Executable | None":
        """The program the current process runs (/proc/self/exe)."""
        return self._process.executable

    @executable.setter
    def executable(self, exe: "Executable | None") -> None:
        self._process.executable = exe

    def monotonic(self) -> int:
        """The kernel's monotonic clock, in ns (what deadlines are counted on)."""
        return self.clock.now(CLOCK_MONOTONIC)

    def resumed(self) -> str | None:
        """Why the current call's last wait ended (``"event"``, ``"timeout"``), when the call is
        being made again after one; None on a first attempt. Asking consumes the answer."""
        task = self.current
        reason, task.wake_reason = task.wake_reason, None
        return reason

    def wait_for(self, what: str, queues: tuple = (), timeout_ns: int | None = None,
                 host: dict[int, int] | None = None) -> str:
        """Wait in the current call: raises :class:`~kernel_model.sched.Blocked`, unless the call
        is being made again after its wait ended; then says how (``"event"``, ``"timeout"``).

        A call that waits is made again from its start when the wait ends, so it must change
        nothing before it calls this. The deadline is counted once, from the first attempt.
        """
        task = self.current
        reason = task.wake_reason
        if reason is not None:
            task.wake_reason = None
            return reason
        deadline = task.call_state.get("deadline")
        if deadline is None and timeout_ns is not None:
            deadline = task.call_state["deadline"] = self.monotonic() + max(timeout_ns, 0)
        raise Blocked(Wait(tuple(queues), deadline, dict(host or {}), what))

    def futex_queue(self, uaddr: int, create: bool = True, mm: AddressSpace | None = None) -> WaitQueue | None:
        """The wait queue of the futex word at ``uaddr`` in the current address space (or ``mm``'s)."""
        key = (id(mm or self.mm), uaddr)
        queue = self._futexes.get(key)
        if queue is None and create:
            queue = self._futexes[key] = WaitQueue(f"the futex at {uaddr:#x}")
        elif queue is not None and not queue.waiters and not create:
            del self._futexes[key]
            return None
        return queue

    def end_task(self, task: Task) -> None:
        """A thread ends (see :func:`kernel_model.lifecycle.end_task`)."""
        from kernel_model.lifecycle import end_task

        end_task(self, task)

    def end_process(self, proc: Process, ex: ProcessExit) -> None:
        """A process ends (see :func:`kernel_model.lifecycle.end_process`)."""
        from kernel_model.lifecycle import end_process

        end_process(self, proc, ex)

    def max_processes(self) -> int:
        """How many processes may live at once (RLIMIT_NPROC, and the sandbox's own limit)."""
        from kernel_model.limits import RLIM_INFINITY, RLIMIT_NPROC

        soft = self.limits.get(RLIMIT_NPROC)[0]
        limit = self.config.max_processes
        if soft != RLIM_INFINITY:
            limit = min(limit, soft) if limit is not None else soft
        return limit if limit is not None else 1 << 30

    def _default_world(self, config: KernelConfig) -> World:
        """The kernel model's own world: the cwd read-only, /tmp in memory, the given mounts."""
        from kernel_model.world import build_world, run_policy

        policy = run_policy("model", None, cwd=config.cwd, mounts=config.mounts, rootfs=config.rootfs, tmp=config.tmp)
        return build_world(
            policy, "model", uid=self.identity.uid, gid=self.identity.gid, tmp_size=self._tmp_size(config),
            waits=config.waits, record_denials=False,
        )

    @staticmethod
    def _tmp_size(config: KernelConfig) -> int:
        # tmpfs's default size is half the RAM; the RAM the guest sees is the memory limit
        return config.max_memory // 2 if config.max_memory is not None else 1 << 30

    def _build_namespace(self, config: KernelConfig, world: World) -> None:  # noqa: ARG002 - config: the cwd
        for guest, fs, rule in world.mounts:
            self.ns.mount(guest, fs, rule)
        for guest, rule in world.hidden:
            self.ns.hide(guest, rule)
        for dev, ino, guest, rule, is_dir in world.hidden_inodes:
            self.ns.hide_inode(dev, ino, guest, rule, is_dir)
        self.ns.ungranted_rule = world.ungranted_rule
        self.ns.mount("/dev", DeviceFilesystem(self.random_bytes, self._open_tty))
        self.ns.mount("/proc", ProcFilesystem(self))
        # /etc/passwd and /etc/group, unless the rootfs, a mount or a rule of the world has them
        for ino, (name, text) in enumerate(accounts(self.identity).items(), start=2):
            path = "/etc/" + name
            if not self.ns.provides(path):
                self.ns.mount(path, FileOfItsOwn(text, ino=ino))

    def _deny_calls(self, world: World) -> None:
        """Put each call the rules deny in front of its handler: it fails before any runs."""
        denials = self.denials
        for name, (errno, rule) in world.denied.items():
            def refuse(k: "Kernel", req: SyscallRequest, a: tuple[int, ...], errno: Errno = errno, rule: str = rule) -> int:
                if denials is not None:
                    raise denials.deny(errno, req.name, rule)
                raise KernelError(errno, rule)

            if name == "*":
                self._refuse_unnamed = refuse
                named = {n for n in world.denied if n != "*"}
                for call in list(self._handlers):
                    if call not in named:
                        self._handlers[call] = refuse
            else:
                self._handlers[name] = refuse

    def _install_stdio(self, config: KernelConfig) -> None:
        empty = StreamHandle(lambda n: b"", None)
        sink = StreamHandle(None, len)
        out, err = config.stdout or sink, config.stderr or sink
        if self.output_limit is not None:
            out, err = LimitedOutputHandle(out, self.output_limit), LimitedOutputHandle(err, self.output_limit)
        granted = self.world.stdio
        for fd, (stream, handle, flags) in enumerate(
            (("stdin", config.stdin or empty, O_RDONLY), ("stdout", out, O_WRONLY), ("stderr", err, O_WRONLY))
        ):
            if granted.get(stream, True):
                self.fds.install_at(fd, OpenFile(handle, flags, f"/dev/fd/{fd}"))

    def _open_tty(self) -> Handle | None:
        handle = self.config.stdin
        if handle is not None and handle.is_tty:
            return handle
        return None

    # -- services handlers use -------------------------------------------------------------

    def random_bytes(self, n: int) -> bytes:
        """Random bytes for getrandom and /dev/urandom (seeded when the config says so)."""
        if self._rng is not None:
            return self._rng.randbytes(n)
        return os.urandom(n)

    def sleep(self, ns: int, what: str = "a sleep") -> None:
        """Let ``ns`` nanoseconds pass for the current task: it waits (other tasks run meanwhile)
        and the call is made again when the time has passed, which this then returns from."""
        if ns <= 0:
            return
        self.wait_for(what, timeout_ns=ns)

    def terminal_size(self) -> tuple[int, int]:
        """Rows and columns a TIOCGWINSZ reports."""
        return self.config.terminal_size

    def guest_path_of(self, host_path: str) -> str | None:
        """Where a host file appears in the guest's view (the deepest mount showing it), or None."""
        real = os.path.realpath(host_path)
        for guest, fs in reversed(self.ns.mounts()):
            root = getattr(fs, "root_path", None)
            if isinstance(root, str) and (real == root or real.startswith(root.rstrip("/") + "/")):
                rel = os.path.relpath(real, root)
                return guest if rel == "." else os.path.join(guest, rel)
        return None

    def open_file(self, path: str, flags: int = O_RDONLY) -> OpenFile:
        """Open a guest path from the sandbox side (the loader reading an interpreter, say)."""
        from kernel_model.paths import open_file

        return open_file(self, -100, path.encode("utf-8", "surrogateescape"), flags, 0)

    # -- the backend entry point -----------------------------------------------------------

    def dispatch(self, request: SyscallRequest) -> int:
        """Serve one call: return its value, or raise KernelError / ProcessExit."""
        handler = self._handlers.get(request.name)
        if handler is None:
            refuse = getattr(self, "_refuse_unnamed", None)
            if refuse is not None:
                return refuse(self, request, request.args)
            self.unimplemented[request.name] += 1
            request.note = "unimplemented"
            raise KernelError(Errno.ENOSYS)
        try:
            return handler(self, request, request.args)
        except GuestFault:
            raise KernelError(Errno.EFAULT) from None

    def _dispatch_recorded(self, request: SyscallRequest) -> int:
        """:meth:`dispatch`, writing the refusals the call met (and their rules) into its note."""
        log = self.denials
        assert log is not None
        log.begin()
        try:
            value = Kernel.dispatch(self, request)
        except KernelError as e:
            self._annotate(request, e.errno)
            raise
        except BaseException:
            self._annotate(request, None)
            raise
        if log.entries:
            self._annotate(request, None)
        return value

    def _annotate(self, request: SyscallRequest, errno: Errno | None) -> None:
        assert self.denials is not None
        note = self.denials.note(errno)
        if note:
            request.note = note if request.note is None else f"{request.note}; {note}"

    def implements(self, name: str) -> bool:
        """Whether the model has a handler for the system call ``name``."""
        return name in self._handlers

    def close(self) -> None:
        """Release host resources (open host files, mounted host directories) held for the guest."""
        self.fds.close_all()
        for _, fs in self.ns.mounts():
            fs.close()

    @property
    def network(self) -> bool:
        """Whether sockets may reach the host's network (the policy's ``[network] allow``)."""
        return self.world.network


class ByteSource:
    """A reader that hands out ``data`` and then end-of-file; ``remaining`` says how much is left."""

    def __init__(self, data: bytes) -> None:
        self._view = memoryview(bytes(data))
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Bytes not read yet."""
        return len(self._view) - self._pos

    def __call__(self, n: int) -> bytes:
        chunk = bytes(self._view[self._pos : self._pos + n])
        self._pos += len(chunk)
        return chunk

    def __deepcopy__(self, memo: dict) -> "ByteSource":
        # The bytes never change: a copy (a debugger's snapshot of the kernel state) shares
        # them and keeps its own position, so restoring the snapshot rewinds stdin.
        twin = ByteSource.__new__(ByteSource)
        twin._view, twin._pos = self._view, self._pos
        return twin


def stream_reader(data: bytes) -> Callable[[int], bytes]:
    """A reader that hands out ``data`` and then end-of-file."""
    return ByteSource(data)


def _nothing() -> None:
    """The preemption of a kernel with no CPU side: there is nothing to stop."""


ACCOUNT_NAME = "sandbox"  # the name of a non-root guest user: the host user's own is host information


def accounts(identity: Identity) -> dict[str, bytes]:
    """The guest's ``/etc/passwd`` and ``/etc/group`` (where neither the rootfs nor a mount
    has them): root, and the guest's own user and group as ``sandbox``, so that ``id``,
    ``ls -l`` and ``tar tv`` show names as on a Linux system."""
    uid, gid = identity.uid, identity.gid
    passwd = "root:x:0:0:root:/root:/bin/sh\n"
    if uid != 0:
        passwd += f"{ACCOUNT_NAME}:x:{uid}:{gid}:{ACCOUNT_NAME}:/home/{ACCOUNT_NAME}:/bin/sh\n"
    group = "root:x:0:\n"
    if gid != 0:
        group += f"{ACCOUNT_NAME}:x:{gid}:\n"
    return {"passwd": passwd.encode(), "group": group.encode()}
