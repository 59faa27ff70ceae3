"""The debugger behind the Python API, ``sandbox debug`` and the gdb stub.

A :class:`Debugger` drives the machines of one run (one :class:`~sandbox.engine.Machine`
per address space: the first process's, and those forks and execs made): it steps,
continues and runs until an address or a system call; keeps breakpoints (a code hook on
exactly one address each, in every machine), syscall catchpoints (the engines' entry/exit
predicates), and watchpoints (a memory hook over the watched bytes only, present only while
the watchpoint exists); reads and writes registers and memory by name; takes and restores
snapshots; and, when recording, steps and continues backwards (see
:mod:`sandbox.debug.history`).

With several tasks (threads, processes) the debugger looks at one of them, the *selected*
task: the one that stopped last, or one picked with :meth:`Debugger.select`. Selecting a task
makes it the one the CPU holds (the others' registers stay saved in their contexts), so
registers, memory, disassembly and the kernel's views are that task's. Steps are the
selected task's: while it waits in a system call the others run, and the step ends when its
call returns. A continue runs every task, the one that stopped first (as if nobody had looked
at another). A breakpoint, catchpoint or watchpoint stops whichever task hits it.

None of this costs anything until it is used: a machine with no breakpoint, watchpoint or
catchpoint runs exactly as without a debugger.
"""

from __future__ import annotations

import contextlib
import itertools
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator

from kernel_model.sched import Yield
from kernel_model.seam import Exec, GuestFault, ProcessExit, SyscallRequest
from kernel_model.signals import signal_name
from sandbox.arch.base import capstone_constant
from sandbox.arch.syscalls import unknown_name
from sandbox.debug import DEFAULT_HISTORY
from sandbox.debug.expressions import SymbolTable, evaluate
from sandbox.debug.history import History, HistoryError, Position
from sandbox.debug.points import WATCH_KINDS, Breakpoint, StopEvent, SyscallCatch, Watchpoint, WatchHit
from sandbox.debug.snapshot import Snapshot, Snapshotter
from sandbox.engine import Machine, Stop, _capstone
from sandbox.errors import SandboxError
from sandbox.watchdog import guard
from sandbox.records import to_signed

if TYPE_CHECKING:
    from kernel_model.tasks import Process, Task
    from sandbox.system import System

_MAX_ACCESS = 64  # the widest single memory access (AVX-512): a hook starts this far before a watch
# The calls that make a task, and those that start a program.
FORK_CALLS = frozenset({"fork", "vfork", "clone", "clone3"})
EXEC_CALLS = frozenset({"execve", "execveat"})
_CLONE_VFORK = 0x4000
_CLONE_THREAD = 0x10000
# What the debugger can stop at besides breakpoints and catchpoints (gdb's fork, vfork and
# exec events; ``process-exit``: the end of a process other than the first).
EVENTS = ("fork", "vfork", "exec", "process-exit")
FOLLOW_FORK_MODES = ("parent", "child")


@dataclass(frozen=True)
class Instruction:
    """One disassembled instruction."""

    address: int
    size: int
    bytes: bytes
    mnemonic: str
    operands: str
    symbol: str = ""

    @property
    def text(self) -> str:
        """``mnemonic operands``."""
        return f"{self.mnemonic} {self.operands}".strip()

    def __repr__(self) -> str:
        return f"Instruction(address={self.address:#x}, text={self.text!r}, symbol={self.symbol!r})"


def is_vfork(req: SyscallRequest) -> bool:
    """Whether a call that makes a task is a vfork (the parent waits for the child's exec or exit)."""
    return req.name == "vfork" or (req.name == "clone" and bool(req.args[0] & _CLONE_VFORK))


class Debugger:
    """Step, break, watch, inspect and rewind a guest's processes and threads."""

    def __init__(self, machine: Machine, *, record: bool = False, history_limit: int = DEFAULT_HISTORY) -> None:
        self.first = machine  # the run's first machine: the program's process, and the run itself
        self.arch = machine.arch
        self.snapshots = Snapshotter(machine)
        self._symbol_tables: dict[int, tuple[object, object, SymbolTable]] = {}
        self.breakpoints: dict[int, Breakpoint] = {}
        self.catchpoints: dict[int, SyscallCatch] = {}
        self.watchpoints: dict[int, Watchpoint] = {}
        self.history: History | None = None
        self.last_stop: StopEvent | None = None
        # After a fork, whether a step goes on in the parent or the child (gdb's follow-fork-mode).
        self.follow_fork = "parent"
        self.stop_events: set[str] = set()  # of EVENTS: stop at these too
        self.ignored: set[int] = set()  # pids detached from: their tasks (and children) never stop
        self.ended_tasks: list[tuple[int, ProcessExit]] = []  # tasks that ended since the caller last looked
        self._numbers = itertools.count(1)
        self._internal_numbers = itertools.count(-1, -1)
        # machine -> address -> hook handle (one per address in each machine)
        self._bp_hooks: "weakref.WeakKeyDictionary[Machine, dict[int, int]]" = weakref.WeakKeyDictionary()
        self._thread_numbers: dict[int, int] = {}  # tid -> the number `info threads` shows
        self._next_thread = itertools.count(1)
        self._inferior_numbers: dict[int, int] = {}  # pid -> the number `info inferiors` shows
        self._ignored_pids: dict[int, bool] = {}  # pid -> whether it descends from an ignored one
        self._muted = False  # replaying history: hooks do nothing, every trap stops
        self._watch_muted = False
        self._skip_at: dict[int, int] = {}  # tid -> the breakpoint address it resumes from
        self._bp_hit: int | None = None
        self._accesses: list[tuple[Watchpoint, bool, int, int, bytes]] = []
        self._kernel_watch: WatchHit | None = None
        self._until_syscalls: frozenset[int] | None = None
        self._until_any_syscall = False
        self._stepped_over_access = False
        # the tid of the task a step is of (a tid: a restored snapshot makes new Task objects)
        self._step_tid: int | None = None
        self._stopped_tid: int | None = None  # the task the last stop was of
        self._step_rule = False  # this run is one instruction of it: its call's return ends it
        self._step_exit = False  # ... and that is what stopped the run
        self._vforkdone = False
        self._exit_event: tuple[int, ProcessExit] | None = None
        system = machine.system
        if system is not None:
            system.on_new_machine = self._hook_machine
            system.on_task_end = self._task_ended
        if record:
            self.record(history_limit)

    # -- tasks -----------------------------------------------------------------------------

    @property
    def system(self) -> "System | None":
        """The run's machines and tasks (None for a machine that runs no system of tasks)."""
        return self.first.system

    @property
    def task(self) -> "Task":
        """The selected task: the one that stopped last, or the one :meth:`select` picked."""
        system = self.system
        return system.running if system is not None else self.first.kernel.current

    @property
    def machine(self) -> Machine:
        """The machine (address space) of the selected task; the first one once the run is over."""
        system = self.system
        if system is None or system.ended:
            return self.first
        ctx = system.running.cpu
        m = ctx._machine() if ctx is not None else None
        return m if m is not None and not m._closed else self.first

    def machines(self) -> list[Machine]:
        """Every machine of the run that is still open, the first one first."""
        system = self.system
        others = system.machines if system is not None else []
        return [m for m in (self.first, *others) if not m._closed]

    def live_tasks(self) -> "list[Task]":
        """Every task that has not ended, in tid order (detached processes' too)."""
        tasks = self.first.kernel.processes.tasks.values()
        return sorted((t for t in tasks if t.state != "dead"), key=lambda t: t.tid)

    def tasks(self) -> "list[Task]":
        """The tasks the debugger shows: the live ones, without those of detached processes."""
        return [t for t in self.live_tasks() if not self.is_ignored(t)]

    @property
    def multitask(self) -> bool:
        """Whether the guest has more than one task now."""
        return len(self.first.kernel.processes.tasks) > 1

    def thread_number(self, task: "Task") -> int:
        """The small number ``info threads`` and ``thread N`` use for a task (1 for the first)."""
        number = self._thread_numbers.get(task.tid)
        if number is None:
            for t in self.live_tasks():  # in tid order, so that numbers follow creation
                if t.tid not in self._thread_numbers:
                    self._thread_numbers[t.tid] = next(self._next_thread)
            number = self._thread_numbers.get(task.tid)
            if number is None:
                number = self._thread_numbers[task.tid] = next(self._next_thread)
        return number

    def task_by_number(self, number: int) -> "Task":
        """The live task ``info threads`` numbers ``number`` (or, failing that, whose tid it is)."""
        tasks = self.tasks()
        for t in tasks:
            if self.thread_number(t) == number:
                return t
        for t in tasks:
            if t.tid == number:
                return t
        raise SandboxError(f"no thread {number} (info threads lists them)")

    def select(self, task: "Task") -> None:
        """Make ``task`` the selected one: what registers, memory and steps are of."""
        system = self.system
        if system is None or task is system.running:
            return
        if task.state == "dead" or self.first.kernel.processes.tasks.get(task.tid) is not task:
            raise SandboxError(f"{task.name()} has ended")
        change = self.machine.task_change
        if change is not None and not isinstance(change, Yield):
            raise SandboxError(f"{system.running.name()} is between a system call and what it does to the task "
                               "(an exec, an exit): step or continue first")
        system.switch_to(task)

    def task_pc(self, task: "Task") -> int | None:
        """A task's pc: the CPU's for the selected one, its saved registers' for the others."""
        if task is self.task:
            return self.machine.pc
        ctx = task.cpu
        if ctx is None:
            return None
        if ctx.start_pc is not None:
            return ctx.start_pc  # a new task that has not run yet
        if ctx.registers is None:
            return None
        return ctx.registers.reg_read(self.arch.reg_id(self.arch.pc))

    def task_call(self, task: "Task") -> SyscallRequest | None:
        """The system call a task is in (entered and not returned: stopped at, or waiting in)."""
        if task is self.task:
            return self.machine.pending
        ctx = task.cpu
        return ctx.pending if ctx is not None else None

    def inferior_number(self, pid: int) -> int:
        """The small number ``info inferiors`` shows for a process (1 for the first)."""
        number = self._inferior_numbers.get(pid)
        if number is None:
            for p in sorted(self.first.kernel.processes.processes):
                if p not in self._inferior_numbers:
                    self._inferior_numbers[p] = len(self._inferior_numbers) + 1
            number = self._inferior_numbers.setdefault(pid, len(self._inferior_numbers) + 1)
        return number

    def is_ignored(self, task: "Task") -> bool:
        """Whether a task belongs to a process the debugger detached from (or to a child one made since)."""
        return bool(self.ignored) and self.process_ignored(task.process)

    def process_ignored(self, proc: "Process") -> bool:
        """Whether the debugger detached from a process (or it descends from one made since)."""
        if not self.ignored:
            return False
        known = self._ignored_pids.get(proc.pid)
        if known is not None:
            return known
        found = False
        p: "Process | None" = proc
        while p is not None:
            known = self._ignored_pids.get(p.pid)
            if known is not None or p.pid in self.ignored:
                found = bool(known) or p.pid in self.ignored
                break
            p = p.parent
        self._ignored_pids[proc.pid] = found
        return found

    def detach_process(self, pid: int) -> None:
        """Stop debugging one process (gdb's detach of an inferior): it and the processes it
        makes run on, and nothing of theirs stops."""
        # the processes there are now keep what they were: a child the debugger already knew
        # of stays debugged; those the detached one makes later are detached with it
        for task in self.live_tasks():
            self._ignored_pids[task.process.pid] = self.is_ignored(task)
        self.ignored.add(pid)
        self._ignored_pids[pid] = True
        for bp in self.breakpoints.values():
            if bp.processes is not None:
                bp.processes.discard(pid)

    def kill_process(self, pid: int) -> None:
        """End one process other than the first as SIGKILL does (gdb's kill of one inferior)."""
        from kernel_model.lifecycle import post_signal
        from kernel_model.signals import SIGKILL

        kernel = self.first.kernel
        proc = kernel.processes.processes.get(pid)
        if proc is None or not proc.alive or pid == kernel.processes.first_pid:
            raise SandboxError(f"no process {pid} to kill apart from the run itself")
        if self.task.process is proc:
            self.select(next(t for t in self.live_tasks() if t.process is not proc))
        post_signal(kernel, proc, SIGKILL, 0, 0, 0, "the debugger")
        self.ended_tasks.append((pid, ProcessExit(signal=SIGKILL)))

    def _task_ended(self, tid: int, ex: ProcessExit) -> None:
        # System.on_task_end: a thread or a process other than the first ended
        self.ended_tasks.append((tid, ex))
        if "process-exit" not in self.stop_events or self._muted:
            return
        proc = self.first.kernel.processes.processes.get(tid)
        known = self._ignored_pids.get(tid)
        ignored = known if known is not None else (proc is not None and self.process_ignored(proc))
        if proc is not None and proc.exit is not None and not ignored and self._exit_event is None:
            self._exit_event = (tid, ex)
            system = self.system
            if system is not None:
                system.stop_requested = True

    def _hook_machine(self, machine: Machine) -> None:
        # System.on_new_machine: a fork's or an exec's new address space gets the breakpoints
        # and the system call predicates (its watchpoints are its parent's business)
        for address in {bp.address for bp in self.breakpoints.values()}:
            self._add_bp_hook(machine, address)
        self._sync_predicates()

    # -- names, registers, memory ----------------------------------------------------------

    @property
    def symbols(self) -> SymbolTable:
        """The selected task's program's symbols."""
        m = self.machine
        key = id(m)
        got = self._symbol_tables.get(key)
        if got is None or got[0] is not m.symbols or got[1] is not m.symbol_spans:
            table = SymbolTable(m.symbols, m.symbol_spans, self._mapping_of)
            got = (m.symbols, m.symbol_spans, table)
            self._symbol_tables[key] = got
        return got[2]

    def register_name(self, name: str) -> str:
        """The arch's name for a register a user typed (``$pc``, ``PC``, ``sp`` and ``x1`` all work)."""
        key = name.strip().lstrip("$").lower()
        key = {"pc": self.arch.pc, "sp": self.arch.sp}.get(key, key)
        if key not in self.arch.registers:
            raise SandboxError(f"no register {name.strip()!r} on {self.arch.name}")
        return key

    def reg(self, name: str) -> int:
        """A register's value by name."""
        value = self.machine.reg(self.register_name(name))
        if isinstance(value, tuple):  # x87 registers come as (mantissa, exponent)
            mantissa, exponent = value
            return mantissa | (exponent << 64)
        return value

    def set_reg(self, name: str, value: int) -> None:
        """Set a register by name (this starts a new recorded history, see :meth:`record`)."""
        key = self.register_name(name)
        current = self.machine.reg(key)
        if isinstance(current, tuple):  # an x87 register: 64-bit mantissa and 16-bit exponent
            new: object = (value & ((1 << 64) - 1), (value >> 64) & 0xFFFF)
        else:
            new = value & self.arch.word_mask if value < 0 else value
        if new == current:
            return
        self._edit()
        self.machine.uc.reg_write(self.arch.reg_id(key), new)

    def registers(self, names: Iterable[str] | None = None) -> dict[str, int]:
        """Register values by name (the arch's debugger set by default)."""
        return {n: self.reg(n) for n in (names or self.arch.debugger_registers)}

    def read_memory(self, address: int, size: int) -> bytes:
        """Guest memory, whatever its protection (as ptrace reads it)."""
        try:
            return self.machine.memory.peek(address, size)
        except GuestFault:
            raise SandboxError(f"cannot access memory at {address:#x}") from None

    def write_memory(self, address: int, data: bytes) -> None:
        """Write guest memory, whatever its protection (as ptrace writes it)."""
        if not data:
            return
        if not self.machine.memory.accessible(address, len(data), 0) == len(data):
            raise SandboxError(f"cannot access memory at {address:#x}")
        self._edit()
        self.machine.memory.load(address, bytes(data))
        self._refresh_watch_values()

    def address(self, expr: str | int) -> int:
        """An address from a number, a symbol, ``$reg``, or a sum of those (``msg+4``)."""
        if isinstance(expr, int):
            return expr
        return evaluate(expr, self.symbols, self.reg)

    def _mapping_of(self, address: int) -> tuple[int, int] | None:
        vma = self.machine.kernel.mm.find(address)
        return (vma.start, vma.end) if vma is not None else None

    def describe(self, address: int) -> str:
        """``<_start+4>`` for an address inside a known symbol, else ""."""
        name = self.symbols.symbolize(address)
        return f"<{name}>" if name else ""

    def disasm(self, address: int | str | None = None, count: int = 10) -> list[Instruction]:
        """Up to ``count`` instructions from ``address`` (by default the pc, or the trap
        instruction when stopped at a system call's entry), with Capstone."""
        m = self.machine
        if address is None:
            pos = m.pending.pc if m.pending is not None else m.pc
        else:
            pos = self.address(address)
        cs = _capstone(self.arch)
        out = []
        for _ in range(count):
            code = b""
            for size in (16, 8, 4, 2, 1):
                if self.machine.memory.accessible(pos, size, 0) == size:
                    code = self.machine.memory.peek(pos, size)
                    break
            insn = next(cs.disasm(code, pos, 1), None)
            if insn is None:
                break
            out.append(
                Instruction(insn.address, insn.size, bytes(insn.bytes), insn.mnemonic, insn.op_str,
                            self.symbols.symbolize(insn.address))
            )
            pos += insn.size
        return out

    def is_call(self, address: int) -> Instruction | None:
        """The instruction at ``address`` if it is a call (for ``next``), else None."""
        got = self.disasm(address, 1)
        if not got:
            return None
        cs = _capstone(self.arch)
        cs.detail = True
        try:
            insn = next(cs.disasm(got[0].bytes, address, 1))
            return got[0] if capstone_constant("CS_GRP_CALL") in insn.groups else None
        finally:
            cs.detail = False

    def at_trap(self) -> bool:
        """Whether the next instruction is the arch's syscall instruction."""
        got = self.disasm(None, 1)
        return bool(got) and got[0].text == self.arch.trap.mnemonic

    def pending_syscall(self) -> SyscallRequest | None:
        """The system call the guest is stopped in (entry stop) or about to make (at the trap)."""
        m = self.machine
        if m.pending is not None:
            return m.pending
        if m.exit is None and self.at_trap():
            nr = m.reg(self.arch.number_reg)
            name = m.table.name(nr) or unknown_name(nr)
            args = tuple(m.reg(r) for r in self.arch.arg_regs)
            return SyscallRequest(self.arch.name, nr, name, args, m.memory, m.pc)
        return None

    def syscall_number(self, name_or_number: str | int) -> int:
        """The number of a system call on this arch, by name or number."""
        if isinstance(name_or_number, int):
            return name_or_number
        text = name_or_number.strip()
        if text.lstrip("-").isdigit() or text.startswith("0x"):
            return int(text, 0)
        nr = self.machine.table.number(text)
        if nr is None:
            raise SandboxError(f"{self.arch.name} has no system call named {text!r}")
        return nr


    # -- breakpoints, catchpoints, watchpoints ---------------------------------------------

    def break_at(self, where: int | str, *, temporary: bool = False, _internal: bool = False,
                 processes: Iterable[int] | None = None, task: "Task | None" = None) -> Breakpoint:
        """A breakpoint at an address or symbol; the guest stops before that instruction runs.

        A ``temporary`` breakpoint is deleted the first time it is hit (gdb's ``tbreak``). It
        stops every process unless ``processes`` names some (pids), and only ``task`` when given.
        """
        address = self.address(where)
        number = next(self._internal_numbers) if _internal else next(self._numbers)
        bp = Breakpoint(number, address, where if isinstance(where, str) else f"{address:#x}",
                        temporary=temporary, internal=_internal,
                        processes=set(processes) if processes is not None else None,
                        tid=task.tid if task is not None else None)
        self.breakpoints[bp.number] = bp
        for m in self.machines():
            self._add_bp_hook(m, address)
        return bp

    def _add_bp_hook(self, machine: Machine, address: int) -> None:
        hooks = self._bp_hooks.setdefault(machine, {})
        if address in hooks:
            return
        ref = weakref.ref(machine)
        hooks[address] = machine.add_code_hook(lambda a: self._on_breakpoint(a, ref), address, address)

    def catch_syscall(self, *which: str | int, entry: bool = True, exit: bool = True) -> SyscallCatch:
        """Stop at the entry and/or return of the named (or numbered) calls; every call when none is named."""
        numbers = [self.syscall_number(w) for w in which]
        names = tuple(self.machine.table.name(n) or unknown_name(n) for n in numbers)
        catch = SyscallCatch(next(self._numbers), frozenset(numbers) if numbers else None, names, entry, exit)
        self.catchpoints[catch.number] = catch
        self._sync_predicates()
        return catch

    def watch(self, where: int | str, length: int | None = None, kind: str = "write") -> Watchpoint:
        """Watch ``length`` bytes (a word by default) of the selected task's address space for
        writes that change them, reads, or any access."""
        if kind not in WATCH_KINDS:
            raise SandboxError(f"a watchpoint watches one of: {', '.join(WATCH_KINDS)}")
        address = self.address(where)
        length = length or self.arch.word_size
        if length <= 0:
            raise SandboxError("a watchpoint needs a positive length")
        machine = self.machine
        wp = Watchpoint(next(self._numbers), address, length, kind,
                        where if isinstance(where, str) else f"{address:#x}", machine=weakref.ref(machine))
        wp.value = self._peek(address, length, machine)
        ref = weakref.ref(machine)
        # Only the watched bytes (and accesses that start just before them) are hooked, and only
        # while the watchpoint exists: any memory hook slows Unicorn's generated code.
        wp.handle = machine.add_memory_hook(
            lambda is_write, a, size, value, wp=wp: self._on_memory(wp, is_write, a, size, ref),
            max(address - _MAX_ACCESS + 1, 0), address + length - 1, kind,
        )
        self.watchpoints[wp.number] = wp
        self._sync_predicates()
        return wp

    def delete(self, number: int | None = None) -> None:
        """Delete one breakpoint, catchpoint or watchpoint by number, or all of them."""
        numbers = list(self.breakpoints) + list(self.catchpoints) + list(self.watchpoints) if number is None else [number]
        for n in numbers:
            if n in self.breakpoints:
                bp = self.breakpoints.pop(n)
                if not any(b.address == bp.address for b in self.breakpoints.values()):
                    for m, hooks in list(self._bp_hooks.items()):
                        handle = hooks.pop(bp.address, None)
                        if handle is not None and not m._closed:
                            m.remove_hook(handle)
            elif n in self.catchpoints:
                del self.catchpoints[n]
            elif n in self.watchpoints:
                wp = self.watchpoints.pop(n)
                m = wp.machine() if wp.machine is not None else None
                if wp.handle is not None and m is not None and not m._closed:
                    m.remove_hook(wp.handle)
            else:
                raise SandboxError(f"no breakpoint, catchpoint or watchpoint number {n}")
        self._sync_predicates()

    def close(self) -> None:
        """Remove every hook and predicate; the machines run as if never debugged."""
        self.delete()
        self.history = None
        self.stop_events.clear()
        for m in self.machines():
            m.stop_at_syscall_entry = None
            m.stop_at_syscall_exit = None
        system = self.system
        if system is not None:
            if system.on_new_machine == self._hook_machine:
                system.on_new_machine = None
            if system.on_task_end == self._task_ended:
                system.on_task_end = None

    # -- the hooks -------------------------------------------------------------------------

    def _applies(self, bp: Breakpoint, task: "Task") -> bool:
        if bp.tid is not None:
            return task.tid == bp.tid
        if bp.processes is not None:
            return task.process.pid in bp.processes
        return not self.is_ignored(task)

    def _on_breakpoint(self, address: int, machine: "weakref.ref[Machine]") -> None:
        if self._muted:
            return
        task = self.task
        if self._skip_at and self._skip_at.get(task.tid) == address:
            del self._skip_at[task.tid]  # resuming from this very address: let it run once
            return
        if not any(b.address == address and self._applies(b, task) for b in self.breakpoints.values()):
            return  # another process's or task's breakpoint
        m = machine()
        if m is None:
            return
        self._bp_hit = address
        m.request_stop()

    def _on_memory(self, wp: Watchpoint, is_write: bool, address: int, size: int,
                   machine: "weakref.ref[Machine]") -> None:
        if self._muted or self._watch_muted:
            return
        if address + size <= wp.address or address >= wp.address + wp.length:
            return  # an access near the watched bytes, not to them
        if self.ignored and self.is_ignored(self.task):
            return
        m = machine()
        if m is None:
            return
        old = self._peek(address, size, m) if is_write else b""
        self._accesses.append((wp, is_write, address, size, old))
        m.request_stop()

    def _wants_event(self, req: SyscallRequest, task: "Task") -> bool:
        # stop at the entry of this call, to serve it and report what it did (a fork, an exec)
        if req.name in FORK_CALLS:
            if req.name == "clone" and req.args[0] & _CLONE_THREAD:
                return False  # a thread: no new process
            return bool({"fork", "vfork"} & self.stop_events) or (
                self.follow_fork == "child" and task.tid == self._step_tid)
        return req.name in EXEC_CALLS and "exec" in self.stop_events

    def _on_syscall_entry(self, req: SyscallRequest) -> bool:
        if self._muted or (self.history is not None and self.history.in_past):
            return True
        task = self.task
        if self.ignored and self.is_ignored(task):
            return False
        if self._until_any_syscall or (self._until_syscalls is not None and req.nr in self._until_syscalls):
            if self._step_tid is None or task.tid == self._step_tid:
                return True
        if (self.stop_events or self.follow_fork == "child") and self._wants_event(req, task):
            return True
        return any(c.entry and c.matches(req.nr) for c in self.catchpoints.values())

    def _on_syscall_exit(self, req: SyscallRequest) -> bool:
        if self._muted:
            return False
        task = self.task
        if self.ignored and self.is_ignored(task):
            return False
        if self.history is not None:
            self.history.on_syscall_served(req)
        stop = any(c.exit and c.matches(req.nr) for c in self.catchpoints.values())
        running = self.machine
        for wp in self.watchpoints.values():
            if wp.kind == "read" or (wp.machine is not None and wp.machine() is not running):
                continue
            now = self._peek(wp.address, wp.length, running)
            if now != wp.value:
                if self._kernel_watch is None:
                    self._kernel_watch = WatchHit(wp, wp.address, wp.length, True, wp.value, now, req.pc, req.name)
                wp.value = now
                stop = True
        if "vfork" in self.stop_events and req.name in FORK_CALLS and is_vfork(req) and not stop \
                and to_signed(self.machine.reg(self.arch.ret_reg), self.arch.bits) > 0:
            self._vforkdone = True  # the vfork's wait is over (the child exec'd or exited)
            stop = True
        if self._step_rule and task.tid == self._step_tid:
            # the stepped instruction was this call (it may have waited while others ran)
            if not stop:
                self._step_exit = True
            stop = True
        return stop

    def _sync_predicates(self) -> None:
        # The predicates are consulted on every system call, so they are installed only when
        # something needs them.
        h = self.history
        wants_entry = (
            any(c.entry for c in self.catchpoints.values()) or self._until_syscalls is not None
            or self._until_any_syscall or (h is not None and h.in_past)
            or bool(self.stop_events & {"fork", "vfork", "exec"}) or self.follow_fork == "child"
        )
        wants_exit = (
            any(c.exit for c in self.catchpoints.values()) or h is not None
            or any(w.kind != "read" for w in self.watchpoints.values())
            or self._step_tid is not None or "vfork" in self.stop_events
        )
        for m in self.machines():
            m.stop_at_syscall_entry = self._on_syscall_entry if wants_entry else None
            m.stop_at_syscall_exit = self._on_syscall_exit if wants_exit else None

    @contextlib.contextmanager
    def replaying(self) -> Iterator[None]:
        """While history replays instructions: no hook reports, and every trap stops unserved."""
        m = self.first
        saved = (m.stop_at_syscall_entry, m.stop_at_syscall_exit, self._muted)
        self._muted = True
        m.stop_at_syscall_entry = self._on_syscall_entry
        m.stop_at_syscall_exit = None
        try:
            yield
        finally:
            m.stop_at_syscall_entry, m.stop_at_syscall_exit, self._muted = saved

    # -- running forward -------------------------------------------------------------------

    def step(self, n: int = 1) -> StopEvent:
        """Run ``n`` instructions of the selected task (a syscall instruction is one, and is
        served); stop early at a breakpoint, watchpoint, catchpoint, or the end."""
        if n < 1:
            raise SandboxError("the number of instructions to step must be positive")
        return self._go(count=n)

    def next(self, n: int = 1) -> StopEvent:
        """Like :meth:`step`, but a call instruction runs until it returns."""
        event = None
        for _ in range(n):
            m = self.machine
            call = self.is_call(m.pc) if m.pending is None and self.first.exit is None else None
            if call is None:
                event = self._go(count=1)
            else:
                event = self._go(until=call.address + call.size)
            if event.reason == "until":
                event.reason, event.breakpoint = "step", None
            if event.reason != "step":
                return event
        assert event is not None
        return event

    def cont(self) -> StopEvent:
        """Run until a breakpoint, watchpoint, catchpoint, the end, or :meth:`interrupt`."""
        return self._go()

    def run_until(self, pc: int | str | None = None, syscall: str | int | None = None,
                  count: int | None = None) -> StopEvent:
        """Run until the selected task's pc reaches ``pc``, it enters ``syscall`` (a name, a
        number, or ``"any"``), or ``count`` instructions of it ran, whichever comes first
        (breakpoints and catchpoints still stop it)."""
        if pc is None and syscall is None and count is None:
            raise SandboxError("run_until needs pc=, syscall= or count=")
        if syscall is not None:
            if syscall == "any":
                self._until_any_syscall = True
            else:
                self._until_syscalls = frozenset({self.syscall_number(syscall)})
        try:
            return self._go(count=count, until=None if pc is None else self.address(pc), of_task=True)
        finally:
            self._until_syscalls = None
            self._until_any_syscall = False
            self._sync_predicates()

    def interrupt(self) -> None:
        """Stop a running guest at the next instruction boundary (safe from another thread)."""
        self.first.request_stop()

    def _go(self, *, count: int | None = None, until: int | None = None, of_task: bool = False) -> StopEvent:
        if count is None and until is None and not of_task:
            self._back_to_stopped()
        task = self.task
        self._step_tid = task.tid if (count is not None or until is not None or of_task) else None
        temp = self.break_at(until, _internal=True, task=task) if until is not None else None
        self._sync_predicates()
        try:
            event = self._forward(count)
        finally:
            self._step_tid = None
            if temp is not None and temp.number in self.breakpoints:
                self.delete(temp.number)
            self._refresh_watch_values()
            self._sync_predicates()
            self._stopped_tid = self.task.tid
        self.last_stop = event
        return event

    def _back_to_stopped(self) -> None:
        # A continue runs every task: the one that stopped goes on first, as if nobody had
        # looked at another meanwhile (selecting one does not change the order tasks run in)
        stopped = self.first.kernel.processes.tasks.get(self._stopped_tid) if self._stopped_tid is not None else None
        if stopped is not None and stopped is not self.task and stopped.state != "dead" and not self._ended():
            with contextlib.suppress(SandboxError):
                self.select(stopped)

    def _ended(self) -> bool:
        return self.first.exit is not None

    def _forward(self, count: int | None) -> StopEvent:
        h = self.history
        done = 0
        first = True
        while True:
            if self._ended():
                return self._end_event()
            m = self.machine
            task = self.task
            if m.pending is not None and task.state == "runnable":
                event, completed = self._leave_syscall_entry()
                if event is not None:
                    return event
                if completed and (self._step_tid is None or task.tid == self._step_tid
                                  or self.task.tid == self._step_tid):
                    done += 1
                    if count is not None and done >= count:
                        return self._event("step")
                if completed:
                    continue
            # One instruction at a time when a stop can come back without reporting (a write
            # that did not change a watched value, a system call replayed from history, a fork
            # or exec served to see what it did), so that ``count`` stays exact; and with
            # several tasks, so that the step's own instruction is known to be over when its
            # call returns (it may wait meanwhile).
            single = count is not None and (
                bool(self.watchpoints) or (h is not None and h.in_past) or self.multitask
                or self.follow_fork == "child" or bool(self.stop_events & {"fork", "vfork", "exec"}))
            n = 0 if count is None else (1 if single else count - done)
            checkpoints = len(h.checkpoints) if h is not None else 0
            # A breakpoint at the pc the guest stopped at is not hit again by resuming (gdb's rule).
            stop = self._run(n, skip_breakpoint=first)
            first = False
            if h is not None:
                grew = len(h.checkpoints) != checkpoints
                if stop is Stop.COUNT and not grew and h.count is not None:
                    h.count += n
                elif not (stop is Stop.SYSCALL_EXIT and grew):
                    h.count = None
            if self._ended():  # a fault ends a run whatever stop it reports
                return self._end_event()
            if stop is Stop.SYSCALL_EXIT and self._step_exit:
                stop = Stop.COUNT  # the stepped instruction was a system call, and it returned
            if stop is Stop.COUNT:
                done += n
                if count is not None and done >= count:
                    return self._event("step")
                if single:
                    bp = self._breakpoint_at(self.machine.pc)
                    if bp is not None:
                        return self._breakpoint_event(bp)
                continue
            event = self._interpret(stop)
            if event is not None:
                return event
            if self._stepped_over_access:
                done += 1
                if count is not None and done >= count:
                    return self._event("step")

    def _run(self, count: int, skip_breakpoint: bool) -> Stop:
        first = self.first
        self._bp_hit = None
        self._accesses = []
        self._kernel_watch = None
        self._stepped_over_access = False
        self._step_exit = self._vforkdone = False
        self._exit_event = None
        if skip_breakpoint and self.breakpoints:
            # every task resumes from where it stopped: one at a breakpoint goes past it (gdb
            # steps each such thread over its breakpoint first)
            addresses = {b.address for b in self.breakpoints.values()}
            tasks = self.live_tasks() if self.system is not None else [self.task]
            for t in tasks:
                pc = self.task_pc(t)
                if pc in addresses:
                    self._skip_at[t.tid] = pc
        self._step_rule = count == 1 and self._step_tid is not None
        try:
            # Watched, so that Ctrl-C stops a guest that loops without system calls (Unicorn
            # holds Python's signal handling off inside emu_start): it is then an interruption,
            # as in gdb, and the session goes on.
            if count:  # a few instructions: over at once
                return first.run(count=count)
            with guard(first):
                return first.run(count=count)
        except KeyboardInterrupt:
            first.forget_stop()  # the watchdog's requests to stop, now answered
            return Stop.STOPPED
        finally:
            self._skip_at.clear()
            self._step_rule = False
            first.forget_stop()  # a request (an interrupt) that machines which did not run left
            system = self.system
            if system is not None:
                system.stop_requested = False

    def _interpret(self, stop: Stop) -> StopEvent | None:
        """The event a machine stop means to the user, or None to keep going."""
        m = self.machine
        if stop is Stop.EXITED:
            return self._end_event()
        if self._exit_event is not None:
            pid, ex = self._exit_event
            self._exit_event = None
            return self._event("process-exited", ended_pid=pid, exit_status=ex.wait_status,
                               signal=signal_name(ex.signal) if ex.signal else None)
        if stop is Stop.SYSCALL_ENTRY:
            req = m.pending
            assert req is not None
            catch = next((c for c in self.catchpoints.values() if c.entry and c.matches(req.nr)), None)
            wanted = self._until_any_syscall or (self._until_syscalls is not None and req.nr in self._until_syscalls)
            wanted = wanted and (self._step_tid is None or self.task.tid == self._step_tid)
            if catch is None and not wanted:
                return None  # a trap in the past to be replayed from history, or a fork or exec to report
            if catch is not None:
                catch.hits += 1
            return self._event("syscall-entry", catch=catch, syscall=req)
        if stop is Stop.SYSCALL_EXIT:
            if self._vforkdone and self._kernel_watch is None and not any(
                    c.exit and c.matches(m.last_request.nr) for c in self.catchpoints.values() if m.last_request):
                return self._event("vforkdone")
            return self._return_event(m.last_request)
        if self._accesses:
            return self._finish_access()
        if self._bp_hit is not None:
            bp = self._breakpoint_at(self._bp_hit)
            if bp is not None:
                return self._breakpoint_event(bp)
        if self.ignored and self.is_ignored(self.task):
            # interrupted while a detached process ran: the stop is shown in one still debugged
            visible = self.tasks()
            if visible:
                with contextlib.suppress(SandboxError):
                    self.select(visible[0])
            m = self.machine
        return StopEvent("interrupted", m.pc, signal="SIGINT", **self._ids())

    def _leave_syscall_entry(self) -> tuple[StopEvent | None, bool]:
        """Serve the pending system call (or, in the past, move to its recorded result).

        Returns the event to report (or None) and whether the call is over (False: it waits,
        and its task goes on once woken).
        """
        m = self.machine
        req = m.pending
        assert req is not None
        task = self.task
        h = self.history
        self._kernel_watch = None
        if h is not None and h.in_past:
            if h.replay_syscall(req):
                self._sync_predicates()
                self._refresh_watch_values(report=req)
                if self._kernel_watch is not None:
                    return self._watch_event(self._kernel_watch), True
                if any(c.exit and c.matches(req.nr) for c in self.catchpoints.values()):
                    return self._return_event(req), True
                return None, True
            self._sync_predicates()
        processes = self.first.kernel.processes.processes
        before = set(processes) if req.name in FORK_CALLS else None
        self._step_exit = self._vforkdone = False
        self._exit_event = None
        stop = m.serve_pending()
        execed = isinstance(m.task_change, Exec)
        stop = self._settle(stop)
        if self._ended():
            return self._end_event(), True
        if self._exit_event is not None:
            return self._interpret(Stop.STOPPED), True
        if before is not None:
            child = next((p for pid, p in processes.items() if pid not in before and p.parent is task.process), None)
            if child is not None:
                event = self._forked(task, req, child)
                if event is not None:
                    return event, True
        if execed:
            for bp in self.breakpoints.values():  # the old program's memory is gone, and its breakpoints
                if bp.processes is not None:
                    bp.processes.discard(task.process.pid)
            if "exec" in self.stop_events and self.task is task:
                executable = task.process.executable
                path = executable.path if executable is not None else self.machine.program_path
                return self._event("exec", path=path), True
            return None, True
        if stop is Stop.SYSCALL_EXIT:
            if self._vforkdone:
                return self._event("vforkdone"), True
            return self._return_event(req), True
        return None, not (stop is Stop.SWITCH and task.state != "runnable" and self.task is task)

    def _forked(self, parent: "Task", req: SyscallRequest, child: "Process") -> StopEvent | None:
        """A fork the debugger served: report it (fork events), or follow the child."""
        child_task = child.main_thread()
        if child_task is None:
            return None
        vfork = is_vfork(req)
        kind = "vfork" if vfork and "vfork" in self.stop_events else "fork"
        if kind in self.stop_events:
            for bp in self.breakpoints.values():  # the child's memory is a copy: so are its breakpoints
                if bp.processes is not None and parent.process.pid in bp.processes:
                    bp.processes.add(child.pid)
            return self._event(kind, syscall=req, child=(child.pid, child_task.tid))
        if self.follow_fork == "child" and parent.tid == self._step_tid:
            self.select(child_task)
            self._step_tid = child_task.tid
            for bp in self.breakpoints.values():
                if bp.internal and bp.tid == parent.tid:
                    bp.tid = child_task.tid
        return None

    def _settle(self, stop: Stop | None) -> Stop | None:
        """After a call served outside a run: let the system carry out what the call did to
        its task (an exit, an exec, a stop) before anything else runs."""
        system = self.system
        if system is None:
            return stop
        m = self.machine
        if stop is Stop.EXITED:
            return self.first.run(count=1)  # the system ends the process; the count ends with it
        change = m.task_change
        if change is None or isinstance(change, Yield):
            return stop  # a yield is the next run's business
        system.stop_requested = True
        try:
            return self.first.run()  # the stop comes once the change is carried out
        finally:
            system.stop_requested = False

    def _finish_access(self) -> StopEvent | None:
        """A watched access stopped the guest inside an instruction: finish that instruction
        exactly once, then report the watchpoint if it should stop."""
        m = self.machine
        accesses, self._accesses = self._accesses, []
        # Unicorn stops after the watched store happened but before the instruction retired,
        # and resuming would run the instruction again: undo the stores, then run it once
        # with the watchpoints quiet.
        for _, is_write, address, _, old in reversed(accesses):
            if is_write:
                m.memory.load(address, old)
        pc = m.pc
        task = self.task
        self._watch_muted = True
        self._skip_at[task.tid] = pc
        try:
            stop = self.first.run(count=1)
        finally:
            self._watch_muted = False
            self._skip_at.clear()
        self._stepped_over_access = True
        if stop is Stop.EXITED or self._ended():
            return self._end_event()
        hit = None
        for wp, is_write, address, size, _ in accesses:
            now = self._peek(wp.address, wp.length, m)
            changed = now != wp.value
            if hit is None and (wp.kind == "access" or (wp.kind == "read" and not is_write) or changed):
                hit = WatchHit(wp, address, size, is_write, wp.value, now, pc)
            wp.value = now
        if stop is Stop.SYSCALL_ENTRY:
            return self._interpret(stop)
        return self._watch_event(hit) if hit is not None else None

    # -- events ----------------------------------------------------------------------------

    def _ids(self) -> dict[str, int]:
        system = self.system
        if system is None:
            return {}
        task = system.running
        return {"pid": task.process.pid, "tid": task.tid}

    def _event(self, reason: str, **kw: object) -> StopEvent:
        # Every stop reports the pc the registers hold. At a system call's entry that is the
        # address after the trap instruction, as Linux reports it to ptrace (and so to gdb);
        # the trap's own address is the request's pc.
        return StopEvent(reason, self.machine.pc, **self._ids(), **kw)  # type: ignore[arg-type]

    def _breakpoint_at(self, address: int) -> Breakpoint | None:
        task = self.task
        found = [b for b in self.breakpoints.values() if b.address == address and self._applies(b, task)]
        found.sort(key=lambda b: b.internal)  # a user's breakpoint before the debugger's own
        return found[0] if found else None

    def _breakpoint_event(self, bp: Breakpoint) -> StopEvent:
        bp.hits += 1
        if bp.temporary and bp.number in self.breakpoints:
            self.delete(bp.number)
        return self._event("until" if bp.internal else "breakpoint", breakpoint=bp)

    def _watch_event(self, hit: WatchHit) -> StopEvent:
        hit.watchpoint.hits += 1
        return self._event("watchpoint", watch=hit)

    def _return_event(self, req: SyscallRequest | None) -> StopEvent:
        m = self.machine
        if self._kernel_watch is not None:
            hit, self._kernel_watch = self._kernel_watch, None
            return self._watch_event(hit)
        catch = None
        if req is not None:
            catch = next((c for c in self.catchpoints.values() if c.exit and c.matches(req.nr)), None)
        if catch is not None:
            catch.hits += 1
        value, err = (m.log[-1][4], m.log[-1][5]) if m.log else (None, None)
        return self._event(
            "syscall-return", catch=catch, syscall=req,
            result=None if value is None else to_signed(value, self.arch.bits),
            errno=err.name if err is not None else None,
        )

    def _end_event(self) -> StopEvent:
        m = self.first
        ex = m.exit
        assert ex is not None
        ids = {"pid": self.first.kernel.processes.first_pid} if self.system is not None else {}
        if ex.signal:
            return StopEvent("signal", m.pc, signal=signal_name(ex.signal), exit_status=ex.wait_status, fault=m.fault,
                             **ids)  # type: ignore[arg-type]
        return StopEvent("exited", m.pc, exit_status=ex.wait_status, **ids)  # type: ignore[arg-type]

    # -- watch values ----------------------------------------------------------------------

    def _peek(self, address: int, length: int, machine: Machine | None = None) -> bytes:
        m = machine if machine is not None else self.machine
        if m._closed:
            return b""
        mem = m.memory
        return mem.peek(address, length) if mem.accessible(address, length, 0) == length else b""

    def _refresh_watch_values(self, report: SyscallRequest | None = None) -> None:
        for wp in self.watchpoints.values():
            m = wp.machine() if wp.machine is not None else self.first
            if m is None:
                continue
            now = self._peek(wp.address, wp.length, m)
            if report is not None and wp.kind != "read" and now != wp.value and self._kernel_watch is None:
                self._kernel_watch = WatchHit(wp, wp.address, wp.length, True, wp.value, now, report.pc, report.name)
            wp.value = now

    # -- snapshots and history -------------------------------------------------------------

    def _one_task(self, what: str) -> None:
        if self.multitask:
            names = ", ".join(t.name() for t in self.live_tasks())
            raise SandboxError(f"{what} cover one task, and the guest has {len(self.live_tasks())} now ({names})")

    def snapshot(self) -> Snapshot:
        """The whole process state now: CPU, memory, kernel model, output so far (one task only)."""
        self._one_task("snapshots")
        return self.snapshots.take()

    def restore(self, snap: Snapshot) -> None:
        """Go back (or forward) to a snapshot. A recorded history starts again from it."""
        self._one_task("snapshots")
        self.snapshots.restore(snap)
        self._refresh_watch_values()
        if self.history is not None:
            self.history.restart()
        self._sync_predicates()

    def record(self, limit: int = DEFAULT_HISTORY) -> None:
        """Start recording (a checkpoint at each system call) so that the guest can run backwards.

        The recording covers the guest while it has one task: a fork or a new thread ends it,
        and it starts again once one task is left.
        """
        if self.history is None:
            self.history = History(self, limit)
        self._sync_predicates()

    def _edit(self) -> None:
        # A change to the guest's state by hand: the recorded past no longer leads here.
        m = self.machine
        if m.pending is not None and self.task.state == "runnable" and m._restarting is not m.pending:
            # At a syscall-entry stop, go back to just before the trap so that the changed
            # registers are what the system call is made with when the guest resumes.
            req, m.pending = m.pending, None
            m.pc = req.pc
        if self.history is not None:
            self.history.restart()
            self._sync_predicates()

    def _require_history(self) -> History:
        if self.history is None:
            raise SandboxError("reverse execution needs a recording: record() from Python; sandbox debug and "
                               "gdbserver record unless --history 0")
        refusal = self.history.refusal()
        if refusal is not None:
            raise HistoryError(refusal)
        return self.history

    def reverse_step(self) -> StopEvent:
        """Go back one instruction."""
        h = self._require_history()
        here = self.snapshots.take()
        try:
            pos = h.position()
            target = h.previous(pos)
            if target is None:
                self.snapshots.restore(here)
                event = self._event("history-start", reverse=True)
            else:
                h.goto(target.segment, target.count)
                event = self._event("step", reverse=True)
        except HistoryError:
            self.snapshots.restore(here)
            raise
        self._after_reverse()
        self.last_stop = event
        return event

    def reverse_continue(self, *, syscall_entries: bool | None = None, syscall_returns: bool = False) -> StopEvent:
        """Go back to the latest breakpoint arrival or system call before now (or the start).

        By default every system call's entry is a stop, as ``rc`` in the terminal debugger;
        ``syscall_entries=None`` with catchpoints set stops only at caught calls (gdb's
        ``reverse-continue`` with ``catch syscall``), ``syscall_returns`` also at their returns.
        """
        h = self._require_history()
        m = self.machine
        if syscall_entries is None:
            entry = lambda nr: any(c.entry and c.matches(nr) for c in self.catchpoints.values())  # noqa: E731
            ret = lambda nr: any(c.exit and c.matches(nr) for c in self.catchpoints.values())  # noqa: E731
        else:
            entry = (lambda nr: True) if syscall_entries else (lambda nr: False)  # noqa: E731
            ret = (lambda nr: True) if syscall_returns else (lambda nr: False)  # noqa: E731
        here = self.snapshots.take()
        at_return = self.last_stop is not None and self.last_stop.reason == "syscall-return"
        exited_by_call = m.exit is not None and m.fault is None
        last_nr = m.log[-1][1] if exited_by_call and m.log else None
        try:
            pos = h.position()  # may replay: the machine's state is only valid again after a goto
            if exited_by_call and last_nr is not None and entry(last_nr):
                # the exit call's own entry is the latest stop before the end
                kind, target = "syscall-entry", Position(pos.segment, pos.count, at_entry=True)
            else:
                addresses = [b.address for b in self.breakpoints.values() if not b.internal]
                kind, target = h.latest_event(pos, addresses, entry, ret, at_return)
            if kind == "syscall-entry":
                h.goto_entry(target.segment)
            else:
                h.goto(target.segment, target.count)
        except HistoryError:
            self.snapshots.restore(here)
            raise
        self._after_reverse()
        if kind == "breakpoint":
            bp = self._breakpoint_at(m.pc)
            event = self._breakpoint_event(bp) if bp is not None else self._event("step")
        elif kind == "syscall-entry":
            req = m.pending
            assert req is not None
            catch = next((c for c in self.catchpoints.values() if c.entry and c.matches(req.nr)), None)
            event = self._event("syscall-entry", catch=catch, syscall=req)
        elif kind == "syscall-return":
            event = self._return_event(m.last_request)
        else:
            event = self._event("history-start")
        event.reverse = True
        self.last_stop = event
        return event

    def _after_reverse(self) -> None:
        self._refresh_watch_values()
        self._sync_predicates()
