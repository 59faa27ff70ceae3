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
from kernel_model import files as _file_calls  # noqa: F401
from kernel_model import fsinfo as _fsinfo_calls  # noqa: F401
from kernel_model import limits as _limit_calls  # noqa: F401
from kernel_model import mm as _mm_calls  # noqa: F401
from kernel_model import paths as _path_calls  # noqa: F401
from kernel_model import pipes as _pipe_calls  # noqa: F401
from kernel_model import poll as _poll_calls  # noqa: F401
from kernel_model import process as _process_calls  # noqa: F401
from kernel_model import signals as _signal_calls  # noqa: F401
from kernel_model import sockets as _socket_calls  # noqa: F401
from kernel_model import threads as _thread_calls  # noqa: F401
from kernel_model.abi import O_RDONLY, O_WRONLY, abi_for
from kernel_model.clock import Clock
from kernel_model.fdtable import FdTable, OpenFile
from kernel_model.denials import DenialLog
from kernel_model.filesystems import DeviceFilesystem
from kernel_model.fsnodes import Handle, LimitedOutputHandle, OutputLimit, StreamHandle
from kernel_model.limits import RLIMIT_AS, RLIMIT_NOFILE, ResourceLimits, default_limits
from kernel_model.linux_errno import Errno
from kernel_model.mm import AddressSpace
from kernel_model.procfs import Executable, ProcFilesystem
from kernel_model.process import Identity, PrctlState
from kernel_model.registry import REGISTRY, CallingConvention
from kernel_model.seam import GuestFault, GuestMemory, KernelArch, KernelError, SyscallRequest
from kernel_model.signals import SignalState
from kernel_model.structs import structs_for
from kernel_model.threads import ThreadState
from kernel_model.vfs import Credentials, GuestPath, Namespace, split_path
from kernel_model.world import World
from kernel_model.waits import HostWaits


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
        self.umask = config.umask
        seed = None if services.host_random else config.random_seed
        self._rng = random.Random(seed) if seed is not None else None
        # Refusals are written into the call's record when the world asks for it.
        self.denials: DenialLog | None = DenialLog() if world.record_denials else None
        self.ns = Namespace(
            Credentials(self.identity.effective_uid, self.identity.effective_gid, self.identity.groups),
            self.denials,
        )
        self.cwd: GuestPath = ()
        self._build_namespace(config, world)
        self.fds = FdTable()
        self.output_limit = OutputLimit(config.max_output) if config.max_output is not None else None
        self._install_stdio(config)
        self.mm = AddressSpace(memory, mmap_top=mmap_top, task_size=task_size, limit=config.max_memory)
        ceilings = {RLIMIT_NOFILE: config.max_fds} if config.max_fds is not None else {}
        if config.max_memory is not None:
            ceilings[RLIMIT_AS] = config.max_memory
        self.limits = ResourceLimits(self, default_limits(config.max_fds, config.max_memory), ceilings)
        self.thread = ThreadState()
        self.signals = SignalState(pid=self.identity.pid, uid=self.identity.uid)
        self.prctl = PrctlState()
        self.executable: Executable | None = None  # set by the loader; /proc/self/exe
        self.unimplemented: Counter[str] = Counter()
        convention = CallingConvention.of(arch)
        self._handlers = {name: spec.invoker(convention) for name, spec in REGISTRY.items()}
        for name, model in self.abi.served_by.items():
            self._handlers[name] = REGISTRY[model].invoker(convention)
        self._deny_calls(world)
        if self.denials is not None:
            self.dispatch = self._dispatch_recorded  # type: ignore[method-assign]

    # -- set-up ----------------------------------------------------------------------------

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

    def _build_namespace(self, config: KernelConfig, world: World) -> None:
        for guest, fs, rule in world.mounts:
            self.ns.mount(guest, fs, rule)
        for guest, rule in world.hidden:
            self.ns.hide(guest, rule)
        for dev, ino, guest, rule, is_dir in world.hidden_inodes:
            self.ns.hide_inode(dev, ino, guest, rule, is_dir)
        self.ns.ungranted_rule = world.ungranted_rule
        self.ns.mount("/dev", DeviceFilesystem(self.random_bytes, self._open_tty))
        self.ns.mount("/proc", ProcFilesystem(self))
        self.cwd = split_path(os.path.realpath(config.cwd or os.getcwd()))

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

    def sleep(self, ns: int) -> None:
        """Let ``ns`` nanoseconds pass on the process's clock (a real wait ends early if the
        sandbox ends the process meanwhile)."""
        self.clock.sleep(ns, self.waits.sleep)

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
