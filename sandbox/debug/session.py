"""The debugger behind the Python API, ``sandbox debug`` and the gdb stub.

A :class:`Debugger` drives one :class:`~sandbox.engine.Machine`: it steps, continues and runs
until an address or a system call; keeps breakpoints (a code hook on exactly one address
each), syscall catchpoints (the engine's entry/exit predicates), and watchpoints (a memory
hook over the watched bytes only, present only while the watchpoint exists); reads and writes
registers and memory by name; takes and restores snapshots; and, when recording, steps and
continues backwards (see :mod:`sandbox.debug.history`).

None of this costs anything until it is used: a machine with no breakpoint, watchpoint or
catchpoint runs exactly as without a debugger.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from typing import Iterable, Iterator

from kernel_model.seam import GuestFault, SyscallRequest
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

_MAX_ACCESS = 64  # the widest single memory access (AVX-512): a hook starts this far before a watch


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


class Debugger:
    """Step, break, watch, inspect and rewind one guest process."""

    def __init__(self, machine: Machine, *, record: bool = False, history_limit: int = DEFAULT_HISTORY) -> None:
        self.machine = machine
        self.arch = machine.arch
        self.snapshots = Snapshotter(machine)
        self.symbols = SymbolTable(machine.symbols, machine.symbol_spans, self._mapping_of)
        self.breakpoints: dict[int, Breakpoint] = {}
        self.catchpoints: dict[int, SyscallCatch] = {}
        self.watchpoints: dict[int, Watchpoint] = {}
        self.history: History | None = None
        self.last_stop: StopEvent | None = None
        self._numbers = itertools.count(1)
        self._internal_numbers = itertools.count(-1, -1)
        self._bp_hooks: dict[int, int] = {}  # address -> hook handle (one per address)
        self._muted = False  # replaying history: hooks do nothing, every trap stops
        self._watch_muted = False
        self._skip_at: int | None = None
        self._bp_hit: int | None = None
        self._accesses: list[tuple[Watchpoint, bool, int, int, bytes]] = []
        self._kernel_watch: WatchHit | None = None
        self._until_syscalls: frozenset[int] | None = None
        self._until_any_syscall = False
        self._stepped_over_access = False
        if record:
            self.record(history_limit)

    # -- names, registers, memory ----------------------------------------------------------

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

    def break_at(self, where: int | str, *, temporary: bool = False, _internal: bool = False) -> Breakpoint:
        """A breakpoint at an address or symbol; the guest stops before that instruction runs.

        A ``temporary`` breakpoint is deleted the first time it is hit (gdb's ``tbreak``).
        """
        address = self.address(where)
        number = next(self._internal_numbers) if _internal else next(self._numbers)
        bp = Breakpoint(number, address, where if isinstance(where, str) else f"{address:#x}",
                        temporary=temporary, internal=_internal)
        self.breakpoints[bp.number] = bp
        if address not in self._bp_hooks:
            self._bp_hooks[address] = self.machine.add_code_hook(self._on_breakpoint, address, address)
        return bp

    def catch_syscall(self, *which: str | int, entry: bool = True, exit: bool = True) -> SyscallCatch:
        """Stop at the entry and/or return of the named (or numbered) calls; every call when none is named."""
        numbers = [self.syscall_number(w) for w in which]
        names = tuple(self.machine.table.name(n) or unknown_name(n) for n in numbers)
        catch = SyscallCatch(next(self._numbers), frozenset(numbers) if numbers else None, names, entry, exit)
        self.catchpoints[catch.number] = catch
        self._sync_predicates()
        return catch

    def watch(self, where: int | str, length: int | None = None, kind: str = "write") -> Watchpoint:
        """Watch ``length`` bytes (a word by default) for writes that change them, reads, or any access."""
        if kind not in WATCH_KINDS:
            raise SandboxError(f"a watchpoint watches one of: {', '.join(WATCH_KINDS)}")
        address = self.address(where)
        length = length or self.arch.word_size
        if length <= 0:
            raise SandboxError("a watchpoint needs a positive length")
        wp = Watchpoint(next(self._numbers), address, length, kind,
                        where if isinstance(where, str) else f"{address:#x}")
        wp.value = self._peek(address, length)
        # Only the watched bytes (and accesses that start just before them) are hooked, and only
        # while the watchpoint exists: any memory hook slows Unicorn's generated code.
        wp.handle = self.machine.add_memory_hook(
            lambda is_write, a, size, value, wp=wp: self._on_memory(wp, is_write, a, size),
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
                    self.machine.remove_hook(self._bp_hooks.pop(bp.address))
            elif n in self.catchpoints:
                del self.catchpoints[n]
            elif n in self.watchpoints:
                wp = self.watchpoints.pop(n)
                if wp.handle is not None:
                    self.machine.remove_hook(wp.handle)
            else:
                raise SandboxError(f"no breakpoint, catchpoint or watchpoint number {n}")
        self._sync_predicates()

    def close(self) -> None:
        """Remove every hook and predicate; the machine runs as if never debugged."""
        self.delete()
        self.history = None
        self.machine.stop_at_syscall_entry = None
        self.machine.stop_at_syscall_exit = None

    # -- the hooks -------------------------------------------------------------------------

    def _on_breakpoint(self, address: int) -> None:
        if self._muted:
            return
        if address == self._skip_at:
            self._skip_at = None  # resuming from this very address: let it run once
            return
        self._bp_hit = address
        self.machine.request_stop()

    def _on_memory(self, wp: Watchpoint, is_write: bool, address: int, size: int) -> None:
        if self._muted or self._watch_muted:
            return
        if address + size <= wp.address or address >= wp.address + wp.length:
            return  # an access near the watched bytes, not to them
        old = self._peek(address, size) if is_write else b""
        self._accesses.append((wp, is_write, address, size, old))
        self.machine.request_stop()

    def _on_syscall_entry(self, req: SyscallRequest) -> bool:
        if self._muted or (self.history is not None and self.history.in_past):
            return True
        if self._until_any_syscall or (self._until_syscalls is not None and req.nr in self._until_syscalls):
            return True
        return any(c.entry and c.matches(req.nr) for c in self.catchpoints.values())

    def _on_syscall_exit(self, req: SyscallRequest) -> bool:
        if self._muted:
            return False
        if self.history is not None:
            self.history.on_syscall_served(req)
        stop = any(c.exit and c.matches(req.nr) for c in self.catchpoints.values())
        for wp in self.watchpoints.values():
            if wp.kind == "read":
                continue
            now = self._peek(wp.address, wp.length)
            if now != wp.value:
                if self._kernel_watch is None:
                    self._kernel_watch = WatchHit(wp, wp.address, wp.length, True, wp.value, now, req.pc, req.name)
                wp.value = now
                stop = True
        return stop

    def _sync_predicates(self) -> None:
        # The predicates are consulted on every system call, so they are installed only when
        # something needs them.
        m = self.machine
        h = self.history
        wants_entry = (
            any(c.entry for c in self.catchpoints.values()) or self._until_syscalls is not None
            or self._until_any_syscall or (h is not None and h.in_past)
        )
        wants_exit = (
            any(c.exit for c in self.catchpoints.values()) or h is not None
            or any(w.kind != "read" for w in self.watchpoints.values())
        )
        m.stop_at_syscall_entry = self._on_syscall_entry if wants_entry else None
        m.stop_at_syscall_exit = self._on_syscall_exit if wants_exit else None

    @contextlib.contextmanager
    def replaying(self) -> Iterator[None]:
        """While history replays instructions: no hook reports, and every trap stops unserved."""
        m = self.machine
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
        """Run ``n`` instructions (a syscall instruction is one, and is served); stop early at a
        breakpoint, watchpoint, catchpoint, or the end."""
        if n < 1:
            raise SandboxError("the number of instructions to step must be positive")
        return self._go(count=n)

    def next(self, n: int = 1) -> StopEvent:
        """Like :meth:`step`, but a call instruction runs until it returns."""
        event = None
        for _ in range(n):
            m = self.machine
            call = self.is_call(m.pc) if m.pending is None and m.exit is None else None
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
        """Run until the pc reaches ``pc``, the entry of ``syscall`` (a name, a number, or
        ``"any"``), or ``count`` instructions ran, whichever comes first (breakpoints and
        catchpoints still stop it)."""
        if pc is None and syscall is None and count is None:
            raise SandboxError("run_until needs pc=, syscall= or count=")
        if syscall is not None:
            if syscall == "any":
                self._until_any_syscall = True
            else:
                self._until_syscalls = frozenset({self.syscall_number(syscall)})
        try:
            return self._go(count=count, until=None if pc is None else self.address(pc))
        finally:
            self._until_syscalls = None
            self._until_any_syscall = False
            self._sync_predicates()

    def interrupt(self) -> None:
        """Stop a running guest at the next instruction boundary (safe from another thread)."""
        self.machine.request_stop()

    def _go(self, *, count: int | None = None, until: int | None = None) -> StopEvent:
        temp = self.break_at(until, _internal=True) if until is not None else None
        self._sync_predicates()
        try:
            event = self._forward(count)
        finally:
            if temp is not None and temp.number in self.breakpoints:
                self.delete(temp.number)
            self._refresh_watch_values()
        self.last_stop = event
        return event

    def _forward(self, count: int | None) -> StopEvent:
        m = self.machine
        h = self.history
        done = 0
        first = True
        while True:
            if m.exit is not None:
                return self._end_event()
            if m.pending is not None:
                event = self._leave_syscall_entry()
                done += 1
                if event is not None:
                    return event
                if count is not None and done >= count:
                    return self._event("step")
                continue
            # One instruction at a time when a stop can come back without reporting (a write
            # that did not change a watched value, a system call replayed from history), so
            # that ``count`` stays exact.
            single = count is not None and (bool(self.watchpoints) or (h is not None and h.in_past))
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
            if m.exit is not None:  # a fault ends a run whatever stop it reports
                return self._end_event()
            if stop is Stop.COUNT:
                done += n
                if count is not None and done >= count:
                    return self._event("step")
                if single:
                    bp = self._breakpoint_at(m.pc)
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
        m = self.machine
        self._bp_hit = None
        self._accesses = []
        self._kernel_watch = None
        self._stepped_over_access = False
        if skip_breakpoint and self._bp_hooks:
            pc = m.pc
            self._skip_at = pc if pc in self._bp_hooks else None
        try:
            # Watched, so that Ctrl-C stops a guest that loops without system calls (Unicorn
            # holds Python's signal handling off inside emu_start): it is then an interruption,
            # as in gdb, and the session goes on.
            if count:  # a few instructions: over at once
                return m.run(count=count)
            with guard(m):
                return m.run(count=count)
        except KeyboardInterrupt:
            m.forget_stop()  # the watchdog's requests to stop, now answered
            return Stop.STOPPED
        finally:
            self._skip_at = None

    def _interpret(self, stop: Stop) -> StopEvent | None:
        """The event a machine stop means to the user, or None to keep going."""
        m = self.machine
        if stop is Stop.EXITED:
            return self._end_event()
        if stop is Stop.SYSCALL_ENTRY:
            req = m.pending
            assert req is not None
            catch = next((c for c in self.catchpoints.values() if c.entry and c.matches(req.nr)), None)
            wanted = self._until_any_syscall or (self._until_syscalls is not None and req.nr in self._until_syscalls)
            if catch is None and not wanted:
                return None  # a trap in the past, to be replayed from history
            if catch is not None:
                catch.hits += 1
            return self._event("syscall-entry", catch=catch, syscall=req)
        if stop is Stop.SYSCALL_EXIT:
            return self._return_event(m.last_request)
        if self._accesses:
            return self._finish_access()
        if self._bp_hit is not None:
            bp = self._breakpoint_at(self._bp_hit)
            if bp is not None:
                return self._breakpoint_event(bp)
        return StopEvent("interrupted", m.pc, signal="SIGINT")

    def _leave_syscall_entry(self) -> StopEvent | None:
        """Serve the pending system call (or, in the past, move to its recorded result)."""
        m = self.machine
        req = m.pending
        assert req is not None
        h = self.history
        self._kernel_watch = None
        if h is not None and h.in_past:
            if h.replay_syscall(req):
                self._sync_predicates()
                self._refresh_watch_values(report=req)
                if self._kernel_watch is not None:
                    return self._watch_event(self._kernel_watch)
                if any(c.exit and c.matches(req.nr) for c in self.catchpoints.values()):
                    return self._return_event(req)
                return None
            self._sync_predicates()
        stop = m.serve_pending()
        if stop is Stop.EXITED:
            return self._end_event()
        if stop is Stop.SYSCALL_EXIT:
            return self._return_event(req)
        return None

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
        self._watch_muted = True
        self._skip_at = pc
        try:
            stop = m.run(count=1)
        finally:
            self._watch_muted = False
            self._skip_at = None
        self._stepped_over_access = True
        if stop is Stop.EXITED:
            return self._end_event()
        hit = None
        for wp, is_write, address, size, _ in accesses:
            now = self._peek(wp.address, wp.length)
            changed = now != wp.value
            if hit is None and (wp.kind == "access" or (wp.kind == "read" and not is_write) or changed):
                hit = WatchHit(wp, address, size, is_write, wp.value, now, pc)
            wp.value = now
        if stop is Stop.SYSCALL_ENTRY:
            return self._interpret(stop)
        return self._watch_event(hit) if hit is not None else None

    # -- events ----------------------------------------------------------------------------

    def _event(self, reason: str, **kw: object) -> StopEvent:
        # Every stop reports the pc the registers hold. At a system call's entry that is the
        # address after the trap instruction, as Linux reports it to ptrace (and so to gdb);
        # the trap's own address is the request's pc.
        return StopEvent(reason, self.machine.pc, **kw)  # type: ignore[arg-type]

    def _breakpoint_at(self, address: int) -> Breakpoint | None:
        found = [b for b in self.breakpoints.values() if b.address == address]
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
        m = self.machine
        ex = m.exit
        assert ex is not None
        if ex.signal:
            return self._event("signal", signal=signal_name(ex.signal), exit_status=ex.wait_status, fault=m.fault)
        return self._event("exited", exit_status=ex.wait_status)

    # -- watch values ----------------------------------------------------------------------

    def _peek(self, address: int, length: int) -> bytes:
        mem = self.machine.memory
        return mem.peek(address, length) if mem.accessible(address, length, 0) == length else b""

    def _refresh_watch_values(self, report: SyscallRequest | None = None) -> None:
        for wp in self.watchpoints.values():
            now = self._peek(wp.address, wp.length)
            if report is not None and wp.kind != "read" and now != wp.value and self._kernel_watch is None:
                self._kernel_watch = WatchHit(wp, wp.address, wp.length, True, wp.value, now, report.pc, report.name)
            wp.value = now

    # -- snapshots and history -------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The whole process state now: CPU, memory, kernel model, output so far."""
        return self.snapshots.take()

    def restore(self, snap: Snapshot) -> None:
        """Go back (or forward) to a snapshot. A recorded history starts again from it."""
        self.snapshots.restore(snap)
        self._refresh_watch_values()
        if self.history is not None:
            self.history.restart()
        self._sync_predicates()

    def record(self, limit: int = DEFAULT_HISTORY) -> None:
        """Start recording (a checkpoint at each system call) so that the guest can run backwards."""
        if self.history is None:
            self.history = History(self, limit)
        self._sync_predicates()

    def _edit(self) -> None:
        # A change to the guest's state by hand: the recorded past no longer leads here.
        m = self.machine
        if m.pending is not None:
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
