"""The Python API: :class:`Sandbox` runs guest code, :class:`RunResult` says what happened."""

from __future__ import annotations

import os
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from kernel_model.clock import Clock
from kernel_model.fsnodes import BytesHandle, Handle, HostStreamHandle, StatInfo, StreamHandle
from kernel_model.kernel import KernelConfig, Mount, stream_reader
from kernel_model.procfs import Executable
from kernel_model.process import Identity
from kernel_model.linux_errno import Errno
from kernel_model.seam import PROT_EXEC, PROT_READ, PROT_WRITE, KernelError
from kernel_model.signals import signal_name, signal_number
from kernel_model.waits import HostWaits
from sandbox.arch import Arch, get_arch
from sandbox.assembler import Assembled, assemble
from sandbox.debug.api import DebuggingMethods
from sandbox.elf import load_program
from sandbox.engine import FaultReport, Machine, Stop
from sandbox.errors import AssemblyError, ExecFormatError, LocatedError, SandboxError
from sandbox.limits import API_DEFAULTS, Limits, checked, format_size, timeout_exit
from sandbox.program import read_program
from sandbox.records import DEFAULT_RECORDS, CallLog, SyscallRecord, build_records
from sandbox.startup import ProgramImage, build_stack
from sandbox.stubs import StubArg, syscall_stub
from sandbox.watchdog import guard

if TYPE_CHECKING:
    from kernel_model.host import Policy
    from sandbox.trace.tracer import Tracer

RWX = PROT_READ | PROT_WRITE | PROT_EXEC
# The device a program from outside the guest's view is on (the namespace's own, 0:1).
SANDBOX_DEVICE = 1
SIGXFSZ = signal_number("SIGXFSZ")


class _Default:
    """The type of :data:`DEFAULT`."""

    def __repr__(self) -> str:
        return "DEFAULT"


# ``max_output``'s default: the API's limit for captured output, none for the host's streams.
DEFAULT = _Default()


def _code_executable(arch: Arch, code: bytes, base: int, entry: int, name: str) -> Executable | None:
    """What ``/proc/self/exe`` is for machine code run as it is: the code as a static ELF file,
    the one ``build_elf`` makes (built when first opened), so that a program can ``execve``
    itself as a compiled one would."""
    from sandbox.elfwriter import build_elf

    if base < 0x1000 or base % 0x1000:
        return None  # not where an ELF file can put it
    built: list[bytes] = []

    def image() -> bytes:
        if not built:
            program = Assembled(code, base, {"_start": entry})
            built.append(build_elf(arch, program, thumb=bool(entry & 1) and arch.name == "arm"))
        return built[0]

    def stat() -> StatInfo:
        return StatInfo(mode=0o100755, size=len(image()), dev=SANDBOX_DEVICE, ino=zlib.crc32(name.encode()) | 1)

    return Executable(path=name, open=lambda: BytesHandle(image(), stat()), stat=stat, name=os.path.basename(name))


@dataclass
class RunResult:
    """The outcome of running a guest to its end.

    ``exit_status`` is what a shell shows: the exit code, or 128 + the signal number when a
    signal ended the guest (``signal`` then names it and ``fault`` says where it happened).
    ``stdout``/``stderr`` are the captured bytes (None when passed through).
    """

    arch: str
    exit_status: int
    signal: str | None
    stdout: bytes | None
    stderr: bytes | None
    fault: FaultReport | None = None
    unimplemented: dict[str, int] = field(default_factory=dict)
    reason: str = ""  # how a signal ended it, in words ("SIGABRT (Aborted), sent by tgkill")
    # The sandbox limit that ended the guest ("timeout", "max_insns", "max_output"), and how
    # many requests each limit refused ({"max_memory": 3}: three mmaps got ENOMEM).
    limit: str | None = None
    refused: dict[str, int] = field(default_factory=dict)
    _arch: Arch | None = field(default=None, repr=False, compare=False)
    _log: CallLog = field(default_factory=CallLog, repr=False, compare=False)

    def __getstate__(self) -> dict:
        # An arch description holds functions; it travels by name (a confined child's result).
        state = dict(self.__dict__)
        state["_arch"] = self._arch.name if self._arch is not None else None
        return state

    def __setstate__(self, state: dict) -> None:
        arch = state.get("_arch")
        state["_arch"] = get_arch(arch) if isinstance(arch, str) else arch
        self.__dict__.update(state)

    @cached_property
    def syscalls(self) -> list[SyscallRecord]:
        """The system calls the guest made, in order (with ``captured`` memory when traced):
        every call, or the last ``max_records`` of them (see :attr:`dropped_calls`)."""
        assert self._arch is not None
        self._log.trim()  # the trap path lets it run an eighth over before it trims
        return build_records(self._arch, self._log)

    @property
    def dropped_calls(self) -> int:
        """How many of the first calls :attr:`syscalls` does not hold (``max_records``)."""
        self._log.trim()
        return self._log.base

    @property
    def exited(self) -> bool:
        """Whether the guest ended by exit/exit_group (not by a signal)."""
        return self.signal is None

    def names(self) -> list[str]:
        """The names of the system calls made, in order (those :attr:`syscalls` holds)."""
        self._log.trim()
        return [entry[2] for entry in self._log]

    def calls(self, name: str) -> list[SyscallRecord]:
        """The records of every call to ``name``."""
        return [r for r in self.syscalls if r.name == name]


class Sandbox(DebuggingMethods):
    """A Linux machine for one arch, running one guest process at a time.

    ``run_code``/``run_asm``/``run_file`` each start a fresh process and run it to its end.
    ``syscall`` makes one call in the current process (starting a blank one if needed).
    By default the guest's stdio is captured (``stdin`` is the bytes it reads); with
    ``capture=False`` it is the host's own stdin/stdout/stderr.

    The guest sees the host's current directory (or ``cwd``) read-only at its own path, an
    in-memory writable ``/tmp``, ``/dev/null``, ``/dev/zero``, ``/dev/urandom``, a ``/proc``
    of its own, and each ``mounts`` entry (``"HOST:GUEST[:rw]"`` or a :class:`Mount`); with
    ``rootfs``, that host directory is its read-only ``/`` underneath all of these (where a
    dynamically linked program's interpreter and libraries come from).

    A loaded process can be debugged: ``step``, ``cont``, ``run_until``, ``break_at``,
    ``catch_syscall``, ``watch``, ``reg``/``set_reg``, ``read_memory``/``write_memory``,
    ``disasm``, ``snapshot``/``restore``, ``record`` and ``reverse_step``/``reverse_continue``
    (see :class:`sandbox.debug.api.DebuggingMethods`).

    With ``trace=True`` each process is traced (:mod:`sandbox.trace`): its records also hold
    the memory behind each argument at the time of the call, up to ``string_limit`` bytes.

    A result keeps the records of the last ``max_records`` calls (100 000 by default, about
    300 bytes each), so that a guest making millions of calls runs in constant memory; None
    keeps every call, 0 none (a run that only wants the exit status and the output).

    Limits (see :mod:`sandbox.limits`; None means unlimited): ``timeout`` seconds of wall-clock
    time per run (30), ``max_insns`` instructions (no budget: counting slows guest code),
    ``max_memory`` bytes of address space of all processes together (1 GiB), ``max_fds``
    descriptors (1024), ``max_processes`` processes alive at once (256) and
    ``max_output`` bytes of stdout and stderr (64 MiB of captured output; unlimited when the
    output goes to the host's own streams, unless given).

    A sandbox holds its current process's engine until the next process starts, ``close()``
    is called, the ``with`` block ends, or the sandbox itself goes.
    """

    def __init__(
        self,
        arch: str | Arch = "x86_64",
        *,
        stdin: bytes = b"",
        capture: bool = True,
        cwd: str | None = None,
        mounts: Iterable[str | Mount] = (),
        env: dict[str, str] | None = None,
        identity: Identity | None = None,
        virtual_time: bool = False,
        seed: int | None = None,
        max_fds: int | None = API_DEFAULTS.max_fds,
        max_memory: int | None = API_DEFAULTS.max_memory,
        tmp: bool = True,
        rootfs: str | None = None,
        trace: bool = False,
        string_limit: int = 32,
        kernel: str | None = None,
        policy: "Policy | str | None" = None,
        forward: Iterable[str] = (),
        timeout: float | None = API_DEFAULTS.timeout,
        max_insns: int | None = API_DEFAULTS.max_insns,
        max_output: int | None | _Default = DEFAULT,
        wall: str | None = None,
        require_landlock: bool = False,
        max_records: int | None = DEFAULT_RECORDS,
        max_processes: int | None = API_DEFAULTS.max_processes,
    ) -> None:
        self.arch = get_arch(arch)
        if isinstance(max_output, _Default):
            max_output = API_DEFAULTS.max_output if capture else None
        self.limits = checked(Limits(timeout, max_insns, max_memory, max_fds, max_output, max_processes))
        self.stdin = stdin
        self.capture = capture
        self.cwd = cwd
        self.mounts = [m if isinstance(m, Mount) else _parse_mount(m) for m in mounts]
        self.env = dict(env or {})
        self.identity = identity or Identity.of_host()
        self.virtual_time = virtual_time
        self.seed = seed
        self.tmp = tmp
        if rootfs is not None and not os.path.isdir(rootfs):
            raise SandboxError(f"rootfs {rootfs}: not a directory")
        self.rootfs = rootfs
        self.trace = trace
        self.string_limit = string_limit
        if max_records is not None and max_records < 0:
            raise SandboxError(f"max_records must not be negative, not {max_records}")
        self.max_records = max_records
        self.tracer: "Tracer | None" = None
        self.policy, self.kernel, self.call_rules = _policy_and_kernel(policy, kernel, forward)
        self.machine: Machine | None = None
        self._out = bytearray()
        self._err = bytearray()
        self._waits = HostWaits()
        self._timed_out = False
        if wall not in (None, "child", "process", "none"):
            raise SandboxError(f"wall {wall!r}: expected child, process or none")
        # Host mode's kernel wall (sandbox.wall): "child" runs each guest in a confined child
        # process, "process" confines this process at the first run, "none" puts up none.
        self.wall = wall or ("child" if self.kernel == "host" else "none")
        self.require_landlock = require_landlock
        self.wall_report: object | None = None  # what the wall was (kernel_model.host.landlock.WallReport)
        self._confined = False
        self._child_result: RunResult | None = None

    @property
    def max_fds(self) -> int | None:
        """The descriptor limit (RLIMIT_NOFILE) of each process."""
        return self.limits.max_fds

    @property
    def max_memory(self) -> int | None:
        """The address-space limit (RLIMIT_AS) of all processes together, in bytes."""
        return self.limits.max_memory

    @property
    def max_processes(self) -> int | None:
        """How many processes may be alive at once (RLIMIT_NPROC), the first included."""
        return self.limits.max_processes

    def close(self) -> None:
        """Release the current process's engine and host files now (results stay readable)."""
        if self.machine is not None:
            self.machine.close()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the current process ---------------------------------------------------------------

    @property
    def stdout(self) -> bytes:
        """What the current (or last) process wrote to stdout, when captured."""
        return bytes(self._out)

    @property
    def stderr(self) -> bytes:
        """What the current (or last) process wrote to stderr, when captured."""
        return bytes(self._err)

    def _stdio(self, stdin: bytes | None) -> tuple[Handle, Handle, Handle]:
        if not self.capture:
            waits = self._waits
            return HostStreamHandle(0, waits), HostStreamHandle(1, waits), HostStreamHandle(2, waits)
        self._out = out = bytearray()
        self._err = err = bytearray()

        def write_out(data: bytes) -> int:
            out.extend(data)
            return len(data)

        def write_err(data: bytes) -> int:
            err.extend(data)
            return len(data)

        data = self.stdin if stdin is None else stdin
        return (
            StreamHandle(stream_reader(data), None, ino=1),
            StreamHandle(None, write_out, ino=2),
            StreamHandle(None, write_err, ino=3),
        )

    def new_process(self, stdin: bytes | None = None) -> Machine:
        """Start a fresh, empty process (no code yet) and make it the current one."""
        if self.machine is not None:
            self.machine.close()
        self._child_result = None
        self._waits = HostWaits()
        self._timed_out = False
        sin, sout, serr = self._stdio(stdin)
        limits = self.limits
        config = KernelConfig(
            cwd=self.cwd, mounts=list(self.mounts), tmp=self.tmp, stdin=sin, stdout=sout, stderr=serr,
            identity=self.identity, clock=Clock(virtual=self.virtual_time), random_seed=self.seed,
            max_fds=limits.max_fds, max_memory=limits.max_memory, max_output=limits.max_output,
            rootfs=self.rootfs, waits=self._waits, schedule_seed=self.seed, max_processes=limits.max_processes,
        )
        if self.kernel == "model" and self.policy is None and not self.call_rules:
            self.machine = Machine(self.arch, config)
        else:
            self.machine = self._policy_machine(config)
        self.machine.set_insn_budget(limits.max_insns)
        if self.machine.system is not None:
            self.machine.system.seed_slices(self.seed)  # --seed changes who runs when, reproducibly
        if self.max_records != 0:
            self.machine.log = CallLog(self.max_records)
        if self.capture:
            self.machine.captured = [self._out, self._err]
        self.tracer = None
        if self.trace:
            from sandbox.trace.tracer import Tracer  # only a traced run loads the tracer

            # the records, with the memory the tracer reads, are the log's: the tracer keeps none
            self.tracer = Tracer(self.machine, string_limit=self.string_limit, keep=0).attach()
        return self.machine

    def _model_choices(self) -> list:
        """Rules keeping in the model what the user chose the model's behaviour for."""
        from kernel_model.host import CallRule

        rules = []
        if self.virtual_time:
            rules.append(CallRule("clock_gettime", "model", None, "--virtual-time"))
        if self.seed is not None:
            rules.append(CallRule("getrandom", "model", None, "--seed"))
        return rules

    def world(self):  # type: ignore[no-untyped-def]
        """The guest's world under this sandbox's policy (mounts, services, call rules).

        A :class:`kernel_model.world.World`; SandboxError (one line) when the policy cannot
        be used (a grant that is not a directory, say).
        """
        from kernel_model.host import PolicyError, build_world
        from sandbox.wall import first_wall_off

        try:
            policy = self.run_policy()
            if self.kernel == "host" and first_wall_off():
                # The escape tests' switch: no checks of the model's, the host's whole tree.
                from kernel_model.policy import PathRule

                policy = replace(policy, paths=(PathRule("/", "rw", "/", "test-only: the kernel wall alone"),), network=True)
            limit = self.limits.max_memory
            return build_world(
                policy, self.kernel, uid=self.identity.uid, gid=self.identity.gid, waits=self._waits,
                tmp_size=limit // 2 if limit is not None else 1 << 30,
            )
        except PolicyError as e:
            raise SandboxError(str(e)) from None

    def run_policy(self):  # type: ignore[no-untyped-def]
        """The whole policy of a run: the given one (or the mode's default), the run's mounts,
        and the rules the options add (a :class:`kernel_model.policy.Policy`)."""
        from kernel_model.host import PolicyError, run_policy

        try:
            return run_policy(
                self.kernel, self.policy, cwd=self.cwd, mounts=self.mounts, rootfs=self.rootfs, tmp=self.tmp
            ).with_calls(self.call_rules + self._model_choices())
        except PolicyError as e:
            raise SandboxError(str(e)) from None

    def confine(self) -> object:
        """Confine this very process to the run's policy, for good (host mode's kernel wall).

        The command line does this before the first guest instruction; once confined, the
        process reaches nothing on the host but the policy's grants and the sandbox's own
        code. Returns the :class:`kernel_model.host.landlock.WallReport`; SandboxError (one
        line) if ``require_landlock`` and the wall falls short.
        """
        from sandbox.wall import confine_process

        if not self._confined:
            self.wall_report = confine_process(self, require=self.require_landlock)
            self._confined = True
        return self.wall_report

    def _policy_machine(self, config: KernelConfig) -> Machine:
        """A process whose world is the policy's (host mode, or --policy)."""
        config.world = world = self.world()
        try:
            return Machine(self.arch, config)
        except BaseException:
            world.close()
            raise

    def _start(self, machine: Machine, image: ProgramImage, argv: Sequence[str | bytes], env: dict[str, str] | None) -> None:
        argv_b = [a if isinstance(a, bytes) else os.fsencode(a) for a in argv]
        envp = [f"{k}={v}".encode() for k, v in (self.env if env is None else env).items()]
        build_stack(machine, image, argv_b, envp, argv_b[0] if argv_b else b"")
        machine.pc = image.entry
        machine.program_path = argv_b[0].decode("utf-8", "replace") if argv_b else ""

    # -- loading ---------------------------------------------------------------------------

    def load_code(
        self,
        code: bytes,
        *,
        base: int | None = None,
        entry: int | None = None,
        symbols: dict[str, int] | None = None,
        argv: Sequence[str | bytes] = ("stub",),
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
        name: str = "[stub]",
    ) -> Machine:
        """Start a process whose memory holds ``code`` (mapped read-write-execute at ``base``)."""
        if not code:
            raise SandboxError("no code to run")
        machine = self.new_process(stdin)
        base = self.arch.code_base if base is None else base
        mm = machine.kernel.mm
        size = mm.round_up(len(code))
        with self._loading(name):
            mm.map(base, size, RWX, name=name)
            machine.memory.load(base, code)
            mm.set_brk(base + size)
            machine.symbols = dict(symbols or {})
            # The code is one section: a label names the addresses from it to the code's end.
            machine.symbol_spans = {name: (addr, base + len(code)) for name, addr in machine.symbols.items()}
            start = base if entry is None else entry
            machine.kernel.executable = _code_executable(self.arch, code, base, start, name)
            self._start(machine, ProgramImage(entry=start, program_entry=start), argv, env)
        return machine

    def load_asm(self, text: str, *, base: int | None = None, **kw: object) -> Machine:
        """Assemble ``text`` with Keystone and load it like :meth:`load_code`."""
        asm: Assembled = assemble(self.arch, text, base)
        return self.load_code(asm.code, base=asm.base, entry=asm.entry, symbols=asm.symbols, **kw)  # type: ignore[arg-type]

    def load_file(
        self,
        path: str,
        argv: Sequence[str | bytes] | None = None,
        *,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> Machine:
        """Load an ELF executable, an assembly file (``.s``) or raw code (``.bin``) from ``path``."""
        prog = read_program(path, self.arch)
        argv = list(argv) if argv is not None else [path]
        if prog.kind == "asm":
            try:
                return self.load_asm(prog.text, argv=argv, env=env, stdin=stdin, name=os.path.abspath(path))  # type: ignore[arg-type]
            except AssemblyError as e:
                raise e.in_file(path) from None  # FILE:LINE: message, as compilers say it
        if prog.kind == "raw":
            if not prog.data:
                raise LocatedError(f"{path}: the file is empty: no code to run")
            return self.load_code(prog.data, argv=argv, env=env, stdin=stdin, name=os.path.abspath(path))
        machine = self.new_process(stdin)
        kernel = machine.kernel
        visible = kernel.guest_path_of(path)
        shown = visible or os.path.abspath(path)
        st = StatInfo.from_host(os.stat(path))
        if visible is None:
            # A program from outside the guest's view is an object of the sandbox's own: the
            # guest sees the name it was run by, never the host's device and inode numbers.
            st = st.with_(dev=SANDBOX_DEVICE, ino=zlib.crc32(shown.encode()) | 1)
        image_file = BytesHandle(prog.data, st)
        kernel.executable = Executable(
            path=shown, open=lambda: BytesHandle(prog.data, st), stat=lambda: st,
            name=os.path.basename(os.fsdecode(argv[0]) if argv else path),
        )
        with self._loading(path):
            image = load_program(machine, prog.data, path, prog.elf, guest_path=shown, file=image_file)
            self._start(machine, image, argv, env)
        return machine

    @contextmanager
    def _loading(self, what: str) -> Iterator[None]:
        # What execve would fail with, said in one line: a program that does not fit.
        try:
            yield
        except KernelError as e:
            limit = self.limits.max_memory
            if e.errno is Errno.ENOMEM and limit is not None:
                raise ExecFormatError(f"{what}: does not fit in the memory limit ({format_size(limit)})") from None
            raise ExecFormatError(f"{what}: cannot be loaded ({e.errno.name}: {e.errno.message})") from None

    # -- running ---------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Run the current process to its end and describe the outcome.

        The run is watched (:mod:`sandbox.watchdog`): it ends at the ``timeout``, and a host
        signal (Ctrl-C) stops the guest at once so that Python can handle it.
        """
        machine = self.machine
        if machine is None:
            raise SandboxError("nothing is loaded: use run_code, run_asm or run_file")
        if self.kernel == "host" and not self._confined:
            if self.wall == "process":
                self.confine()
            elif self.wall == "child":
                from sandbox.wall import run_in_confined_child

                result = run_in_confined_child(self, self._run_here)
                self._child_result = result
                if self.capture:
                    self._out[:] = result.stdout or b""
                    self._err[:] = result.stderr or b""
                machine.close()
                return result
        return self._run_here()

    def _run_here(self) -> RunResult:
        machine = self.machine
        assert machine is not None
        timeout = self.limits.timeout
        with guard(machine, timeout, lambda: timeout_exit(timeout or 0)) as watched:
            while True:
                stop = machine.run()
                watched.resumed()
                if stop is Stop.EXITED:
                    break
                if stop is Stop.STOPPED and machine.exit is None and not watched.interruptions:
                    raise SandboxError(f"the guest stopped unexpectedly at pc={machine.pc:#x}")
                # Stopped so that Python could run a host signal's handler, which returned.
        self._timed_out = watched.expired
        return self.result()

    def result(self) -> RunResult:
        """The outcome of the current process so far (it need not have ended)."""
        if self._child_result is not None:
            return self._child_result  # it ran in a confined child (host mode)
        machine = self.machine
        assert machine is not None
        ex = machine.exit
        status = ex.wait_status if ex is not None else 0
        return RunResult(
            arch=self.arch.name,
            exit_status=status,
            signal=signal_name(ex.signal) if ex is not None and ex.signal else None,
            stdout=bytes(self._out) if self.capture else None,
            stderr=bytes(self._err) if self.capture else None,
            fault=machine.fault,
            unimplemented=dict(machine.kernel.unimplemented),
            reason=ex.reason if ex is not None else "",
            limit=self._limit_that_ended(machine),
            refused=self._refusals(machine),
            _arch=self.arch,
            _log=machine.log if machine.log is not None else CallLog(),
        )

    def _limit_that_ended(self, machine: Machine) -> str | None:
        ex = machine.exit
        if ex is None:
            return None
        if self._timed_out:
            return "timeout"
        if machine.budget_used_up:
            return "max_insns"
        output = machine.kernel.output_limit
        if ex.signal == SIGXFSZ and output is not None and output.refused:
            return "max_output"
        return None

    @staticmethod
    def _refusals(machine: Machine) -> dict[str, int]:
        kernel = machine.kernel
        output = kernel.output_limit
        counts = {
            "max_memory": kernel.mm.pool.refusals,
            "max_fds": kernel.fds.limit_refusals,
            "max_processes": kernel.processes.limit_refusals,
            "max_output": output.refused if output is not None else 0,
        }
        return {name: n for name, n in counts.items() if n}

    def run_code(self, code: bytes, **kw: object) -> RunResult:
        """Run machine code (see :meth:`load_code` for the options) to its end."""
        self.load_code(code, **kw)  # type: ignore[arg-type]
        return self.run()

    def run_asm(self, text: str, **kw: object) -> RunResult:
        """Assemble and run ``text`` to its end."""
        self.load_asm(text, **kw)  # type: ignore[arg-type]
        return self.run()

    def run_file(self, path: str, argv: Sequence[str | bytes] | None = None, **kw: object) -> RunResult:
        """Run a program file (ELF, ``.s`` or ``.bin``) to its end."""
        self.load_file(path, argv, **kw)  # type: ignore[arg-type]
        return self.run()

    # -- one system call -------------------------------------------------------------------

    def stub(self, name: str | int, *args: StubArg) -> str:
        """The assembly for one ``name(*args)`` call followed by ``exit(0)``."""
        return syscall_stub(self.arch, name, args).text

    def syscall(self, name: str | int, *args: StubArg) -> SyscallRecord:
        """Make ONE real system call in the current process, through a generated stub.

        The call goes through the same trap path as any guest's. ``bytes``/``str`` arguments
        are placed in memory and passed by address; a ``bytearray`` is an output buffer whose
        contents are filled in after the call. Registers are restored afterwards, so this can
        be used in the middle of debugging a loaded program.
        """
        machine = self.machine
        if machine is None or machine.exit is not None:
            machine = self.new_process()
            self._start(machine, ProgramImage(entry=0, program_entry=0), ["syscall"], None)
        stub = syscall_stub(self.arch, name, args, exit_after=False, exit_beyond_end=True)
        mm = machine.kernel.mm
        draft = assemble(self.arch, stub.text, self.arch.code_base)
        size = mm.round_up(len(draft.code))
        base = mm.find_free(size)
        code = assemble(self.arch, stub.text, base)
        mm.map(base, size, RWX, name="[syscall stub]")
        machine.memory.load(base, code.code)
        saved = machine.uc.context_save()
        log = machine.log
        if log is None:  # the process keeps no records: keep this call's own
            log = machine.log = CallLog(1)
        logged = log.total
        try:
            machine.pc = code.entry
            stop = machine.run_until(code.symbols["stub_end"])
            if machine.exit is None and stop is not Stop.REACHED:
                raise SandboxError(f"the {stub.name} stub stopped unexpectedly ({stop.value})")
            for index, (label, length) in stub.buffers.items():
                buffer = args[index]
                assert isinstance(buffer, bytearray)
                buffer[:] = machine.memory.peek(code.symbols[label], length)
        finally:
            if machine.exit is None:
                machine.uc.context_restore(saved)
                mm.unmap(base, size)
        records = build_records(self.arch, log.since(logged), {}, logged)
        if not records:
            raise SandboxError(f"the {stub.name} stub made no system call")
        return records[-1]


def _policy_and_kernel(
    policy: "Policy | str | None", kernel: str | None, forward: Iterable[str]
) -> tuple["Policy | None", str, list]:
    """The run's policy (a file is loaded), kernel mode (the argument, else the policy's) and
    the rules ``forward`` adds."""
    if kernel is not None and kernel not in ("model", "host"):
        raise SandboxError(f"kernel {kernel!r}: expected model or host")
    forward = list(forward)
    if policy is None and not forward:
        return None, kernel or "model", []
    from kernel_model.host import Policy, PolicyError, load_policy
    from kernel_model.policy import flag_call_rules
    from kernel_model.world import check_call_rules

    try:
        if isinstance(policy, str):
            policy = load_policy(policy)
        rules = flag_call_rules(forward, "host", "--forward")
        check_call_rules((policy or Policy()).with_calls(rules))
    except PolicyError as e:
        raise SandboxError(str(e)) from None
    return policy, kernel or (policy.kernel if policy is not None else None) or "model", rules


def _parse_mount(spec: str) -> Mount:
    try:
        return Mount.parse(spec)
    except ValueError as e:
        raise SandboxError(str(e)) from None
