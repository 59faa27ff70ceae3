"""The debugging methods of :class:`sandbox.Sandbox`: a thin layer over :class:`Debugger`.

    sb = Sandbox("x86_64")
    sb.load_file("examples/hello/hello.x86_64.s")
    sb.break_at("_start")
    sb.cont()                       # StopEvent(reason='breakpoint', pc=0x400000, ...)
    sb.step(3)
    sb.run_until(syscall="write")   # stopped at the entry of write(1, ...)
    sb.reg("rdx")                   # 12
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from sandbox.debug import DEFAULT_HISTORY
from sandbox.errors import SandboxError

if TYPE_CHECKING:
    # the debugger is imported when first used: a Sandbox that only runs never loads it
    from sandbox.debug.points import Breakpoint, StopEvent, SyscallCatch, Watchpoint
    from sandbox.debug.session import Debugger, Instruction
    from sandbox.debug.snapshot import Snapshot
    from sandbox.engine import Machine


class DebuggingMethods:
    """Stepping, breakpoints, watchpoints, inspection, snapshots and reverse execution for
    the current process. Each process gets its own :class:`Debugger`, made on first use."""

    machine: "Machine | None"
    _debugger: "Debugger | None" = None

    @property
    def debugger(self) -> Debugger:
        """The debugger of the current process (made on first use)."""
        machine = self.machine
        if machine is None:
            raise SandboxError("nothing is loaded: use load_code, load_asm or load_file first")
        if self._debugger is None or self._debugger.first is not machine:
            from sandbox.debug.session import Debugger

            self._debugger = Debugger(machine)
        return self._debugger

    # running
    def step(self, n: int = 1) -> StopEvent:
        """Run ``n`` instructions; a syscall instruction counts as one and is served."""
        return self.debugger.step(n)

    def next(self, n: int = 1) -> StopEvent:
        """Like :meth:`step`, but run each call instruction until it returns."""
        return self.debugger.next(n)

    def cont(self) -> StopEvent:
        """Run until a breakpoint, watchpoint, catchpoint, or the end of the process."""
        return self.debugger.cont()

    def run_until(self, pc: int | str | None = None, syscall: str | int | None = None,
                  count: int | None = None) -> StopEvent:
        """Run until ``pc``, the entry of ``syscall``, or ``count`` instructions, whichever is first."""
        return self.debugger.run_until(pc=pc, syscall=syscall, count=count)

    # stops
    def break_at(self, where: int | str) -> Breakpoint:
        """A breakpoint at an address or a symbol (``"_start"``, ``"loop+4"``)."""
        return self.debugger.break_at(where)

    def catch_syscall(self, *which: str | int, entry: bool = True, exit: bool = True) -> SyscallCatch:
        """Stop at the entry and/or return of these system calls (all of them when none is named)."""
        return self.debugger.catch_syscall(*which, entry=entry, exit=exit)

    def watch(self, where: int | str, length: int | None = None, kind: str = "write") -> Watchpoint:
        """A watchpoint on ``length`` bytes: ``kind`` is ``write`` (a change), ``read`` or ``access``."""
        return self.debugger.watch(where, length, kind)

    def delete(self, number: int | None = None) -> None:
        """Delete a breakpoint, catchpoint or watchpoint by number (all of them with None)."""
        self.debugger.delete(number)

    # state
    def reg(self, name: str) -> int:
        """A register by name (``"rax"``, ``"x0"``, ``"pc"``, ``"sp"``)."""
        return self.debugger.reg(name)

    def set_reg(self, name: str, value: int) -> None:
        """Set a register by name."""
        self.debugger.set_reg(name, value)

    def registers(self, names: Iterable[str] | None = None) -> dict[str, int]:
        """Several registers by name (the arch's usual set by default)."""
        return self.debugger.registers(names)

    def read_memory(self, address: int | str, size: int) -> bytes:
        """``size`` bytes of guest memory at an address or symbol."""
        return self.debugger.read_memory(self.debugger.address(address), size)

    def write_memory(self, address: int | str, data: bytes) -> None:
        """Write guest memory at an address or symbol."""
        self.debugger.write_memory(self.debugger.address(address), data)

    def disasm(self, pc: int | str | None = None, n: int = 10) -> list[Instruction]:
        """``n`` instructions from ``pc`` (the current pc by default), disassembled by Capstone."""
        return self.debugger.disasm(pc, n)

    # snapshots and reverse execution
    def snapshot(self) -> Snapshot:
        """The whole process state: registers, memory, and the kernel model's state."""
        return self.debugger.snapshot()

    def restore(self, snap: Snapshot) -> None:
        """Put the process back as it was at ``snap``."""
        self.debugger.restore(snap)

    def record(self, limit: int = DEFAULT_HISTORY) -> None:
        """Record from now on (a checkpoint per system call), so that the guest can run backwards."""
        self.debugger.record(limit)

    def reverse_step(self) -> StopEvent:
        """Go back one instruction (needs :meth:`record`)."""
        return self.debugger.reverse_step()

    def reverse_continue(self) -> StopEvent:
        """Go back to the previous breakpoint or system call (needs :meth:`record`)."""
        return self.debugger.reverse_continue(syscall_entries=True)
