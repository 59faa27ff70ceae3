"""Text views of a debugged process, shared by ``sandbox debug`` and the gdb stub's ``monitor``.

Each returns lines: the open descriptors, the memory map, the system calls made so far, the
registers, and a stop described in one line followed by the next instructions.
"""

from __future__ import annotations

from kernel_model.abi import O_ACCMODE, O_RDONLY, O_RDWR, O_WRONLY
from kernel_model.prototypes import prototype
from sandbox.debug.card import syscall_card
from sandbox.debug.points import StopEvent
from sandbox.debug.session import Debugger
from sandbox.records import SyscallRecord, build_records
from sandbox.trace.render import Renderer

_ACCESS = {O_RDONLY: "r", O_WRONLY: "w", O_RDWR: "rw"}


def fd_lines(dbg: Debugger) -> list[str]:
    """The descriptor table: fd, access, offset, flags, what it is."""
    if dbg.machine.exit is not None:
        # Linux closes every descriptor when a process ends; the model's table is only left over
        return ["no open descriptors: the process has ended, and its descriptors were closed with it"]
    kernel = dbg.machine.kernel
    lines = [f"{'fd':>3}  {'mode':<4} {'offset':>8}  {'flags':<8} file"]
    for fd, slot in kernel.fds.items():
        of = slot.file
        mode = _ACCESS.get(of.flags & O_ACCMODE, "?")
        offset = str(of.pos) if of.handle.seekable else "-"
        flags = f"{of.flags:#o}" + (" cloexec" if slot.cloexec else "")
        lines.append(f"{fd:>3}  {mode:<4} {offset:>8}  {flags:<8} {of.path}")
    return lines


def map_lines(dbg: Debugger) -> list[str]:
    """The memory map as ``/proc/self/maps`` shows it, then the program break."""
    mm = dbg.machine.kernel.mm
    lines = [v.maps_line() for v in mm.vmas]
    if mm.brk_start:
        lines.append(f"brk: {mm.brk_start:#x}-{mm.brk_end:#x}")
    return lines


def call_text(dbg: Debugger, record: SyscallRecord) -> str:
    """``write(fd=1, buf=0x400021, count=12) = 12``: each argument named, and shown as the trace
    shows it (numbers in decimal, addresses in hex, flags and modes by name), with its result."""
    renderer = Renderer(dbg.arch.name, dbg.arch.bits)
    proto = prototype(record.name, dbg.arch.name)
    values = renderer.values(record, proto)
    args = ", ".join(f"{p.name}={renderer.arg(p, eff, values[p.name], record)}" for p, eff in renderer.shown(record))
    return f"{record.name}({args}) = {renderer.result(record)}"


def syscall_lines(dbg: Debugger, last: int | None = None) -> list[str]:
    """The system calls made so far (the last ``last`` of them), one per line."""
    records = build_records(dbg.arch, dbg.machine.log)
    start = 0 if last is None else max(len(records) - last, 0)
    return [f"{i:>4}  {records[i].pc:#x}  {call_text(dbg, records[i])}" for i in range(start, len(records))]


def register_lines(dbg: Debugger, names: list[str] | None = None) -> list[str]:
    """``name  0xhex  decimal`` per register."""
    regs = dbg.registers(names)
    width = max((len(n) for n in regs), default=0)
    return [f"{n:<{width}}  {v:#018x}  {v}" for n, v in regs.items()]


def where_line(dbg: Debugger) -> str:
    """The pc with its symbol, and the last system call made."""
    m = dbg.machine
    text = f"pc {m.pc:#x} {dbg.describe(m.pc)}".rstrip()
    if m.pending is not None:
        text += f", {_after_trap(dbg, m.pending.pc)}, in the system call {m.pending.name} (entered, not yet served)"
    records = build_records(dbg.arch, m.log[-1:]) if m.log else []
    text += f"; last system call: {call_text(dbg, records[0])}" if records else "; no system call made yet"
    return text


def frame_lines(dbg: Debugger) -> list[str]:
    """gdb's ``info frame`` as far as the sandbox knows it: the innermost frame's pc and sp.
    It keeps no unwinding information, so it names no caller frames rather than guess them."""
    m = dbg.machine
    if m.exit is not None:
        return ["no frame: the process has ended"]
    sp = dbg.reg("sp")
    lines = [f"Stack level 0: pc {m.pc:#x} {dbg.describe(m.pc)}".rstrip() + f", sp {sp:#x}"]
    if m.pending is not None:
        lines.append(f"  in the system call {m.pending.name} (entered, not yet served), {_after_trap(dbg, m.pending.pc)}")
    lines.append("  caller frames are not known (the sandbox does not unwind the stack); x/8a $sp shows the stack")
    return lines


def card_lines(dbg: Debugger, event: StopEvent | None = None) -> list[str]:
    """The register card of the system call at hand: at its entry, about to be made, or returned."""
    m = dbg.machine
    if event is not None and event.reason == "syscall-return" and event.syscall is not None:
        req = event.syscall
        return syscall_card(dbg.arch, req.nr, req.name, req.args, m.memory, result=event.result, errno=event.errno)
    req = dbg.pending_syscall()
    if req is None:
        return []
    return syscall_card(dbg.arch, req.nr, req.name, req.args, m.memory)


def _after_trap(dbg: Debugger, trap_pc: int) -> str:
    """``after the syscall at 0x400016 <_start+22>``: where a system call was entered from."""
    return f"after the {dbg.arch.trap.mnemonic} at {trap_pc:#x} {dbg.describe(trap_pc)}".rstrip()


def listing_lines(dbg: Debugger, count: int = 4) -> list[str]:
    """The next instructions, the current one marked ``=>``; in a system call, from the trap
    instruction that entered it (the pc is the instruction after it, as on Linux)."""
    m = dbg.machine
    pc = m.pc
    insns = dbg.disasm(m.pending.pc if m.pending is not None else pc, count)
    width = max((len(i.symbol) for i in insns), default=0) + 2
    out = []
    for insn in insns:
        marker = "=>" if insn.address == pc else "  "
        sym = f"<{insn.symbol}>" if insn.symbol else ""
        out.append(f"{marker} {insn.address:#x} {sym:<{width}}  {insn.mnemonic:<7} {insn.operands}".rstrip())
    if not insns:
        out.append(f"=> {pc:#x}: <cannot read memory>")
    return out


def stop_lines(dbg: Debugger, event: StopEvent) -> list[str]:
    """How ``sandbox debug`` shows a stop: a line saying why, then code and, at a system call, its card."""
    head = _headline(dbg, event)
    lines = [head] if head else []
    if event.ended:
        return lines
    if event.reason == "syscall-return":
        lines += card_lines(dbg, event)
        lines += listing_lines(dbg)
        return lines
    lines += listing_lines(dbg)
    lines += card_lines(dbg)
    return lines


def _headline(dbg: Debugger, event: StopEvent) -> str:
    where = f"{event.pc:#x} {dbg.describe(event.pc)}".rstrip()
    back = "(backwards) " if event.reverse else ""
    reason = event.reason
    if reason == "breakpoint" and event.breakpoint is not None:
        return f"{back}Breakpoint {event.breakpoint.number}, {where}"
    if reason == "until":
        return f"{back}Reached {where}"
    if reason == "syscall-entry" and event.syscall is not None:
        by = f" (catchpoint {event.catch.number})" if event.catch is not None else ""
        return f"{back}Entering system call {event.syscall.name}{by}, at {where}, {_after_trap(dbg, event.syscall.pc)}"
    if reason == "syscall-return" and event.syscall is not None:
        by = f" (catchpoint {event.catch.number})" if event.catch is not None else ""
        return f"{back}Returned from system call {event.syscall.name}{by}, at {where}"
    if reason == "watchpoint" and event.watch is not None:
        hit = event.watch
        wp = hit.watchpoint
        who = f"the kernel, in {hit.by_syscall}()" if hit.by_syscall else f"the instruction at {hit.pc:#x}"
        verb = "written" if hit.is_write else "read"
        text = f"{back}Watchpoint {wp.number} ({wp.expression}) {verb} by {who}"
        if hit.is_write:
            text += f": old {hit.old.hex() or '-'}, new {hit.new.hex() or '-'}"
        else:
            text += f": value {hit.new.hex()}"
        return text
    if reason == "exited":
        return f"[the process exited with status {event.exit_status}]"
    if reason == "signal":
        what = event.fault.line() if event.fault is not None else f"killed by {event.signal}"
        return f"[the process was killed: {what}]"
    if reason == "interrupted":
        return f"Interrupted at {where}"
    if reason == "history-start":
        return f"No more reverse-execution history: at the start of the recording, {where}"
    return ""
